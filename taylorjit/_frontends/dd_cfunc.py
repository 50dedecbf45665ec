"""``cfunc(..., precision="dd")``: an evaluator of expressions at many points in
double-double arithmetic (:class:`DDCFunc`).

The values come from the dd VM at order 0 (the compiled ``dd_points`` of
``taylorjit._dd``, the value routines of the dd elementary functions); inputs are
read without loss (:meth:`~taylorjit.DDArray.from_values`), results are DDArrays.
Per-point parameters and time become extra inputs of a second plan, as in the
double :class:`~taylorjit._frontends.cfunc.CFunc`; large batches are split over
the evaluation threads (the compiled code releases the GIL).
"""
from __future__ import annotations

import os

import numpy as np

from .._dd.values import DDArray, dd_array
from .._symbolic.expr import par as _par, time as _time
from .args import _as_exprs, _as_vars
from .dd import _plan, _points, dd_pars

__all__ = ["DDCFunc", "cfunc_dd"]

_NO_UPD = np.zeros((0, 2), dtype=np.int64)
# parallel=None: threads from this many points on (a dd value costs ~20-50x a double one)
DD_PARALLEL_MIN_POINTS = 4096


class DDCFunc:
    """A compiled evaluator of a list of expressions in double-double (see
    :func:`taylorjit.cfunc` with ``precision="dd"``).

    ``g(x, pars=None, time=None)``: ``x`` one point (n values) or many (shape
    (npoints, n), a list of lists), any inputs :meth:`DDArray.from_values` accepts
    (floats, decimal strings read exactly, mpmath numbers, ``(hi, lo)`` tuples, a
    DDArray); ``pars`` shape (npars,) for every point or (npars, npoints), one
    column per point (heyoka's layout); ``time`` a number or one per point.
    Returns a DDArray of shape (n_out,) for one point, (npoints, n_out) for many
    (without the last axis for a single expression).  ``layout="columns"``:
    heyoka's ``(n, npoints)`` inputs and ``(n_out, npoints)`` results.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x, y = tj.make_vars("x", "y")
    >>> g = tj.cfunc([x * y, tj.exp(x) + y], [x, y], precision="dd")
    >>> print(g(["0.1", "1/3"]))      # 1/30 and e^(1/10) + 1/3, to ~1e-33
    [0.0333333333333333333333333333333332 1.43850425140898095814504115982357]
    >>> g([["1", "2"], ["3", "4"]]).shape
    (2, 2)
    """

    def __init__(self, fs, variables, scalar, parallel=None):
        self._plan = _plan(fs, variables)
        self.functions = list(fs)
        self.variables = list(variables)
        self._scalar = scalar
        self.parallel = parallel
        self._pp = None

    @property
    def n_in(self):
        return self._plan.n_in

    @property
    def n_out(self):
        return self._plan.outs.shape[0]

    precision = property(lambda self: "dd")

    def __reduce__(self):
        f = self.functions[0] if self._scalar else self.functions
        return (_rebuild, (f, self.variables, self.parallel))

    def _per_point_plan(self):
        """The plan with the parameters (and time) as inputs after the variables, and
        the indices of the parameters it takes."""
        if self._pp is None:
            plan = self._plan
            listed = {id(v) for v in self.variables}
            idx = [i for i in range(plan.n_pars) if id(_par[i]) not in listed]
            extra = [_par[i] for i in idx] + ([_time] if plan.time_par >= 0 else [])
            self._pp = (_plan(self.functions, self.variables + extra), idx)
        return self._pp

    def __call__(self, x, *, pars=None, time=None, parallel=None, layout=None, outputs=None):
        if outputs is not None:
            raise TypeError("outputs= is not supported with precision='dd': the evaluator "
                            "returns a new DDArray")
        if layout is not None and layout not in ("rows", "points"):
            if layout not in ("columns", "heyoka"):
                raise ValueError("layout must be 'rows' (one row per point: taylorjit's "
                                 f"default) or 'columns' (heyoka's), got {layout!r}")
            h, l = dd_array(list(x) if isinstance(x, tuple) else x, "input")
            if h.ndim == 2:
                if h.shape[0] != self.n_in:
                    raise ValueError(f"input has shape {h.shape}: with layout='columns' pass "
                                     f"shape ({self.n_in}, npoints), one column per point")
                res = self(DDArray(np.ascontiguousarray(h.T), np.ascontiguousarray(l.T)),
                           pars=pars, time=time, parallel=parallel)
                return DDArray(np.ascontiguousarray(res.hi.T), np.ascontiguousarray(res.lo.T))
            return self(DDArray(h, l), pars=pars, time=time, parallel=parallel)
        plan = self._plan
        XH, XL, single = _points(x, plan.n_in, "input")
        npts = XH.shape[0]
        cols = _per_point(plan, pars, time, npts)
        if cols is None:
            pH, pL = dd_pars(plan.n_pars, plan.time_par, pars, time)
            RH, RL = self._eval(plan, XH, XL, pH, pL, parallel)
        else:
            pplan, idx = self._per_point_plan()
            keep = idx + ([plan.n_pars] if plan.time_par >= 0 else [])
            CH, CL = cols
            XH = np.ascontiguousarray(np.concatenate([XH, CH[:, keep]], axis=1))
            XL = np.ascontiguousarray(np.concatenate([XL, CL[:, keep]], axis=1))
            RH, RL = self._eval(pplan, XH, XL, np.zeros(0), np.zeros(0), parallel)
        if self._scalar:
            RH = RH[:, 0]
            RL = RL[:, 0]
        if single:
            RH = RH[0]
            RL = RL[0]
        return DDArray(RH, RL)

    def _eval(self, plan, XH, XL, pH, pL, parallel):
        """Values (npoints, n_out) of ``plan`` at the rows of (XH, XL)."""
        from .._dd._build import entry_points

        ep = entry_points()
        npts = XH.shape[0]
        m = plan.outs.shape[0]
        RH = np.empty((npts, m, 1))
        RL = np.empty((npts, m, 1))

        def run(a, b):
            H = np.zeros((plan.n_slots, 1))
            L = np.zeros((plan.n_slots, 1))
            ep.dd_points(plan.prog, plan.cv, _NO_UPD, H, L, 0, pH, pL, 0.0, 0.0, XH[a:b],
                         XL[a:b], XH[a:b], XL[a:b], plan.outs, RH[a:b], RL[a:b])

        parallel = self.parallel if parallel is None else parallel
        nthreads = min(os.cpu_count() or 1, 64)
        if parallel is None:
            parallel = npts >= DD_PARALLEL_MIN_POINTS
        if parallel and nthreads > 1 and npts >= 2 * nthreads:
            from .cfunc import _pool

            step = -(-npts // nthreads)
            list(_pool().map(lambda a: run(a, min(a + step, npts)), range(0, npts, step)))
        else:
            run(0, npts)
        return RH[:, :, 0], RL[:, :, 0]

    def __repr__(self):
        return (f"<CFunc {self.n_out} output(s) of {self.n_in} variable(s), "
                "double-double (dd VM)>")


def _per_point(plan, pars, time, npts):
    """Per-point parameters and time as dd columns ``(CH, CL)`` of shape ``(npts,
    n_pars + (1 if time))``, or None when every point shares them (then
    :func:`~taylorjit._frontends.dd.dd_pars` applies).  Per-point ``pars`` have shape
    (npars, npoints); per-point ``time`` shape (npoints,)."""
    npar = plan.n_pars
    pv = tv = None
    if npar and pars is not None:
        h, l = dd_array(list(pars) if isinstance(pars, tuple) else pars, "pars")
        if h.ndim > 2:
            raise ValueError(f"pars has shape {h.shape}: pass shape ({npar},) (the same "
                             f"parameters for every point) or ({npar}, {npts}) (one column per "
                             "point)")
        if h.ndim == 2 and not (npts == 1 and 1 in h.shape):
            if h.shape[1] == npts and h.shape[0] >= npar:
                pv = (h[:npar], l[:npar])
            elif h.shape[0] == npts and h.shape[1] >= npar:
                raise ValueError(
                    f"pars has shape {h.shape} for {npts} points and {npar} parameters: "
                    f"per-point parameters are one column per point (heyoka's layout), shape "
                    f"({npar}, {npts}): pass the transpose")
            else:
                raise ValueError(f"pars has shape {h.shape} for {npts} point(s) and {npar} "
                                 f"parameter(s): pass shape ({npar},) or ({npar}, {npts})")
    if plan.time_par >= 0 and time is not None and isinstance(time, (list, np.ndarray, DDArray)):
        h, l = dd_array(time, "time")
        if h.ndim > 1 or (h.ndim == 1 and h.size not in (npts, 1)):
            raise ValueError(f"time has shape {h.shape} for {npts} point(s): pass one number "
                             f"or one per point (shape ({npts},))")
        if h.ndim == 1 and h.size == npts and npts > 1:
            tv = (h, l)
        else:
            time = DDArray(h.reshape(()), l.reshape(()))
    if pv is None and tv is None:
        return None
    sh, sl = dd_pars(npar, plan.time_par, np.zeros(npar) if pv is not None else pars,
                     0.0 if tv is not None else time)
    CH = np.empty((npts, sh.size))
    CL = np.empty((npts, sh.size))
    CH[:] = sh
    CL[:] = sl
    if pv is not None:
        CH[:, :npar] = pv[0].T
        CL[:, :npar] = pv[1].T
    if tv is not None:
        CH[:, npar] = tv[0]
        CL[:, npar] = tv[1]
    return CH, CL


def cfunc_dd(fs, variables, scalar, parallel=None) -> DDCFunc:
    """``cfunc(f, variables, precision="dd")`` (expressions and variables checked)."""
    return DDCFunc(fs, variables, scalar, parallel)


def _rebuild(f, variables, parallel):
    fs, scalar = _as_exprs(f)
    return DDCFunc(fs, _as_vars(variables), scalar, parallel)
