"""``cfunc``: compiled evaluators of expressions at many points (:class:`CFunc`,
and :class:`PiecewiseCFunc` for expressions with ``tj.select`` branches).

The scalar kernels run through the point loop of :mod:`.jet` (order 0); the
SIMD evaluators come from :mod:`taylorjit._codegen.vcfunc`.  Large batches are
split over a thread pool; heyoka's column layout and per-point parameters are
handled here (:func:`_layout_call`, :func:`_per_point_columns`).
"""
from __future__ import annotations

import os

import numpy as np

from .._symbolic.expr import par as _par, time as _time
from .args import _EMPTY, _as_exprs, _as_vars, _float_array, _pars_array, _points
from .jet import _BG_LOCK, _PiecewisePlan, _plan, _run, default_kind


class CFunc:
    """A compiled evaluator of a list of expressions (see :func:`cfunc`)."""

    def __init__(self, plan, fs, variables, scalar, parallel, simd, kind=None):
        self._plan = plan
        self.functions = list(fs)
        self.variables = list(variables)
        self._scalar = scalar
        self.parallel = parallel
        self.simd = simd
        self._kind = kind
        self._simd_fn = None
        self._pp = None         # (plan, SIMD evaluator) with per-point parameters as inputs

    @property
    def n_in(self):
        return self._plan.n_in

    @property
    def n_out(self):
        return self._plan.outs.shape[0]

    def __reduce__(self):
        # rebuilt from the expressions (compiled code reloads from the disk cache)
        f = self.functions[0] if self._scalar else self.functions
        return (_rebuild_cfunc, (f, self.variables, self._kind, self.parallel, self.simd))

    def _simd_of(self, plan):
        """The SIMD evaluator of ``plan``, compiled (or loaded from the disk cache)
        on first use; None when this evaluator uses the scalar kernels."""
        if self.simd is False:
            return None
        from .._codegen.vcfunc import UnsupportedSIMD, simd_cfunc

        d = plan.kernel.decomposition
        try:
            if self.simd is None and len(d.ops) > _SIMD_AUTO_MAX_OPS:
                raise UnsupportedSIMD("too large for an automatic compilation")
            return simd_cfunc(d)
        except UnsupportedSIMD as exc:
            if self.simd:
                raise ValueError(f"simd=True: {exc}; use simd=False (scalar kernels)") from None
            self.simd = False
        return None

    def _simd(self):
        if self._simd_fn is None and self.simd is not False:
            self._simd_fn = self._simd_of(self._plan)
        return self._simd_fn

    def _per_point_plan(self):
        """The plan with the parameters (and time) as extra inputs after the
        variables, and its SIMD evaluator: ``(plan, simd, param indices)``."""
        if self._pp is None:
            plan = self._plan
            listed = {id(v) for v in self.variables}
            idx = [i for i in range(plan.n_pars) if id(_par[i]) not in listed]
            extra = [_par[i] for i in idx] + ([_time] if plan.time_par >= 0 else [])
            pplan = _plan(self.functions, self.variables + extra, plan.kind)
            self._pp = (pplan, self._simd_of(pplan), idx)
        return self._pp

    def __call__(self, x, *, pars=None, time=None, parallel=None, layout=None, outputs=None):
        """Evaluate at one point (shape (n,)) or many (shape (npoints, n)).

        ``pars``: shape (npars,), the same parameters for every point, or
        (npars, npoints), one column per point (heyoka's layout); ``time``: a
        number, or one per point (shape (npoints,)).  ``parallel`` overrides
        the evaluator's setting for this call.  ``layout="columns"`` (or
        ``"heyoka"``): heyoka's layout, inputs ``(n, npoints)`` and results
        ``(nouts, npoints)``, one column per point; ``outputs``: an array to
        write the results into (and return), as heyoka's ``outputs=``."""
        if layout is not None or outputs is not None:
            return _layout_call(self, x, layout, outputs, pars=pars, time=time,
                                parallel=parallel)
        plan = self._plan
        X, single = _points(x, plan.n_in, "input")
        cols = None
        if (plan.n_pars and pars is not None) or (plan.time_par >= 0 and time is not None):
            cols = _per_point_columns(plan, pars, time, X.shape[0])
        if cols is None:
            res = self._eval(plan, self._simd(), X, _pars_array(plan, pars, time), parallel)
        else:
            pplan, g, idx = self._per_point_plan()
            keep = idx + ([plan.n_pars] if plan.time_par >= 0 else [])
            XP = np.empty((X.shape[0], X.shape[1] + len(keep)))    # C-contiguous
            XP[:, :X.shape[1]] = X
            XP[:, X.shape[1]:] = cols[:, keep]
            res = self._eval(pplan, g, XP, _EMPTY, parallel)
        if self._scalar:
            res = res[:, 0]
        return res[0] if single else res

    def _eval(self, plan, g, X, p, parallel):
        """Values (npoints, n_out) of ``plan`` at the rows of ``X``."""
        parallel = self.parallel if parallel is None else parallel
        npts = X.shape[0]
        nthreads = min(os.cpu_count() or 1, 64)
        if parallel is None:
            parallel = npts >= PARALLEL_MIN_POINTS
        chunks = None
        if parallel and nthreads > 1 and npts >= 2 * nthreads * 64:
            # contiguous chunks of whole SIMD blocks, one per core
            step = -(-npts // nthreads)
            step = -(-step // 64) * 64
            chunks = [(a, min(a + step, npts)) for a in range(0, npts, step)]
        if g is not None:
            res = np.empty((npts, plan.outs.shape[0]))
            pp = p if p.size else _ONE
            if chunks is None:
                g(X, res, pp)
            else:       # ctypes releases the GIL
                list(_pool().map(lambda c: g(X[c[0]:c[1]], res[c[0]:c[1]], pp), chunks))
            return res
        if chunks is None:
            res = _run(plan, X, X, 0, p)
        else:
            parts = list(_pool().map(lambda c: _run(plan, X[c[0]:c[1]], X[c[0]:c[1]], 0, p),
                                     chunks))
            res = np.concatenate(parts)
        return res[:, :, 0]

    def __repr__(self):
        how = "SIMD" if self._simd_fn is not None else f"kernel={self._plan.kernel.kind}"
        return f"<CFunc {self.n_out} output(s) of {self.n_in} variable(s), {how}>"


class PiecewiseCFunc:
    """A compiled evaluator of expressions with ``tj.select`` branches: the points are
    grouped by their active branch, each branch a compiled :class:`CFunc` (built on
    first use)."""

    def __init__(self, plan, fs, variables, scalar, parallel, simd, kind):
        self._plan = plan
        self.functions = list(fs)
        self.variables = list(variables)
        self._scalar = scalar
        self._opts = (parallel, simd, kind)
        self._parts = {}

    n_in = property(lambda self: len(self.variables))
    n_out = property(lambda self: len(self.functions))

    def __reduce__(self):
        f = self.functions[0] if self._scalar else self.functions
        parallel, simd, kind = self._opts
        return (_rebuild_cfunc, (f, self.variables, kind, parallel, simd))

    def __call__(self, x, *, pars=None, time=None, parallel=None, layout=None, outputs=None):
        if layout is not None or outputs is not None:
            return _layout_call(self, x, layout, outputs, pars=pars, time=time,
                                parallel=parallel)
        X, single = _points(x, self.n_in, "input")
        per_point = (pars is not None and np.ndim(pars) == 2) or \
            (time is not None and np.ndim(time) == 1)
        res = np.empty((X.shape[0], self.n_out))
        p_par, simd, kind = self._opts
        for idx, fs in self._plan.front.groups(X, pars, time, per_point):
            key = tuple(map(id, fs))
            g = self._parts.get(key)
            if g is None:
                g = self._parts[key] = cfunc(fs, self.variables, kind=kind, parallel=p_par,
                                             simd=simd)
            p = pars
            if pars is not None and np.ndim(pars) == 2:
                p = np.asarray(pars, dtype=float)[:, idx]
            t = time
            if time is not None and np.ndim(time) == 1:
                t = np.asarray(time, dtype=float)[idx]
            res[idx] = np.asarray(g(X[idx], pars=p, time=t, parallel=parallel)).reshape(
                idx.shape[0], self.n_out)
        if self._scalar:
            res = res[:, 0]
        return res[0] if single else res

    def __repr__(self):
        return (f"<CFunc {self.n_out} output(s) of {self.n_in} variable(s), piecewise: "
                f"{len(self._plan.front.guards)} condition(s)>")


_ROWS = ("rows", "points")
_COLUMNS = ("columns", "heyoka")


def _layout_call(g, x, layout, outputs, **kw):
    """``g(x, **kw)`` with heyoka's layout (``layout="columns"``: inputs ``(nvars,
    npoints)``, results ``(nouts, npoints)``) and/or heyoka's ``outputs=`` array."""
    if layout is None or layout in _ROWS:
        res = g(x, **kw)
    elif layout in _COLUMNS:
        a = _float_array(x, "input")
        if a.ndim == 1:             # one point: the same in both layouts
            if a.shape[0] != g.n_in:
                raise ValueError(f"input has shape {a.shape} but there are {g.n_in} variables: "
                                 f"with layout='columns' pass {g.n_in} values (one point) or "
                                 f"an array of shape ({g.n_in}, npoints)")
            res = g(a, **kw)
        elif a.ndim == 2:
            if a.shape[0] != g.n_in:
                raise ValueError(f"input has shape {a.shape}: with layout='columns' (heyoka's) "
                                 f"pass shape ({g.n_in}, npoints), one column per point "
                                 "(layout='rows', the default, takes (npoints, nvars))")
            res = g(np.ascontiguousarray(a.T), **kw)
            res = np.ascontiguousarray(res.T) if res.ndim == 2 else res
        else:
            raise ValueError(f"input has shape {a.shape}: with layout='columns' pass "
                             f"({g.n_in},) or ({g.n_in}, npoints)")
    else:
        raise ValueError(f"layout must be 'rows' (one row per point, (npoints, nvars): "
                         "taylorjit's default) or 'columns' (one column per point, (nvars, "
                         f"npoints): heyoka's), got {layout!r}")
    if outputs is None:
        return res
    if not isinstance(outputs, np.ndarray) or outputs.dtype != np.float64:
        raise TypeError(f"outputs must be a float64 numpy array of shape {np.shape(res)}, "
                        f"got {type(outputs).__name__}")
    if outputs.shape != np.shape(res):
        raise ValueError(f"outputs has shape {outputs.shape}; the results have shape "
                         f"{np.shape(res)}")
    outputs[...] = res
    return outputs


def _per_point_columns(plan, pars, time, npts):
    """Per-point parameters and time as columns ``(npts, n_pars + (1 if time))``,
    or None when every point shares them (then :func:`_pars_array` applies).

    Per-point ``pars`` have shape (npars, npoints) (heyoka's layout: one column
    per point); an array of shape (npoints, npars) is refused (unless square,
    which is read as heyoka's layout), as is any other 2-D shape; per-point
    ``time`` has shape (npoints,)."""
    npar = plan.n_pars
    pv = tv = None
    if npar and pars is not None:
        pv = _float_array(pars, "pars")
        if pv.ndim > 2:
            raise ValueError(f"pars has shape {pv.shape}: pass shape ({npar},) (the same "
                             f"parameters for every point) or ({npar}, {npts}) (one column per "
                             "point)")
        if pv.ndim == 2 and npts == 1 and 1 in pv.shape:
            pv = None       # one point: a row or a column is its parameters
        elif pv.ndim == 2:
            if pv.shape[1] == npts and pv.shape[0] >= npar:
                pv = pv[:npar]
            elif pv.shape[0] == npts and pv.shape[1] >= npar:
                raise ValueError(
                    f"pars has shape {pv.shape} for {npts} points and {npar} parameters: "
                    f"per-point parameters are one column per point (heyoka's layout), shape "
                    f"({npar}, {npts}): pass pars.T")
            else:
                raise ValueError(
                    f"pars has shape {pv.shape} for {npts} point(s) and {npar} parameter(s): "
                    f"pass shape ({npar},) (the same parameters for every point) or "
                    f"({npar}, {npts}) (one column per point)")
            if not np.all(np.isfinite(pv)):
                raise ValueError("pars contains NaN or infinity")
        else:
            pv = None
    if plan.time_par >= 0 and time is not None and not isinstance(time, (float, int)):
        tv = _float_array(time, "time")
        if tv.ndim > 1 or (tv.ndim == 1 and tv.size != npts and tv.size != 1):
            raise ValueError(f"time has shape {tv.shape} for {npts} point(s): pass one number "
                             f"or one per point (shape ({npts},))")
        tv = tv.ravel() if tv.ndim == 1 and tv.size == npts and npts > 1 else None
    if pv is None and tv is None:
        return None
    shared = _pars_array(plan, pars if pv is None else np.zeros(npar),
                         0.0 if tv is not None else time)
    cols = np.empty((npts, shared.size))
    cols[:] = shared
    if pv is not None:
        cols[:, :npar] = pv.T
    if tv is not None:
        cols[:, npar] = tv
    return cols


_ONE = np.zeros(1)
PARALLEL_MIN_POINTS = 65536     # parallel=None: threads from this many points on
_POOL = []


def _pool():
    """The process's evaluation threads (one per core, created once)."""
    if not _POOL:
        with _BG_LOCK:
            if not _POOL:
                from concurrent.futures import ThreadPoolExecutor

                _POOL.append(ThreadPoolExecutor(min(os.cpu_count() or 1, 64),
                                                thread_name_prefix="taylorjit-cfunc"))
    return _POOL[0]
# above this many operations simd=None keeps the scalar kernels (LLVM compile time)
_SIMD_AUTO_MAX_OPS = 5000


def cfunc(f=None, variables=None, *, kind=None, parallel=None, simd=None, vars=None,  # noqa: A002
          fn=None, outputs=None, precision=None) -> CFunc:
    """Compile expressions into a fast evaluator.

    Parameters
    ----------
    f : Expr or list of Expr
        (heyoka's keywords ``fn=`` and ``outputs=`` are accepted too)
    variables : list of variables (order of the inputs; heyoka's ``vars=``)
    kind : {"unrolled", "spec", "compact", "python"}, optional
        Kernel kind of the scalar evaluation (as in :func:`taylor_coefficients`).
    parallel : bool, optional
        Evaluate batches on all cores (threads; the compiled code releases the
        GIL).  ``None`` (default): for batches of at least 65536 points (as
        heyoka's cfunc does); ``False``: one thread.  Values do not depend on it.
    simd : bool, optional
        Evaluate W points at a time with SIMD instructions (W = 8 with AVX-512,
        4 with AVX2), compiled with LLVM on the first
        call (~0.1 s for a small expression, then cached on disk).  exp, log,
        sin, cos, tan, expm1, log1p, atan, sinh, cosh and tanh are then
        taylorjit's vector functions, within 1 ulp like heyoka's (SLEEF), so a
        value may differ in its last bit from the C library's; every other
        operation is the same IEEE operation as in the scalar kernels.
        ``None`` (default): SIMD unless ``kind`` is given, the expression has
        an operation SIMD does not cover (kepE) or more than 5000 operations;
        ``False``: the scalar kernels (C library values, bit-identical to
        :func:`taylor_coefficients`); ``True``: SIMD or an error.
    precision : {None, "double", "dd"}, optional
        ``"dd"``: a double-double evaluator (~32 significant digits, see
        docs/extended-precision.md): inputs, ``pars`` and ``time`` read without
        loss (decimal strings exactly, mpmath numbers, ``(hi, lo)`` tuples), results
        as DDArrays; ``kind`` and ``simd`` are ignored.

    Notes
    -----
    The evaluator takes ``g(x, pars=None, time=None)``: ``x`` of shape (n,) or
    (npoints, n); ``pars`` of shape (npars,), the same parameters for every
    point, or (npars, npoints), one column per point as in heyoka (an array of
    shape (npoints, npars) is refused with a hint to transpose it; a square
    one is read in heyoka's layout); ``time`` a number or one per point, shape
    (npoints,).  Per-point parameters and time are evaluated as extra inputs
    (a second compiled evaluator, built on first use), with the same values
    as evaluating point by point.  Evaluators pickle and copy (the copy reloads
    its compiled code from the disk cache).  Inputs hold one row per point;
    ``g(x, layout="columns")`` takes heyoka's ``(nvars, npoints)`` and returns
    ``(nouts, npoints)``, and ``outputs=`` (heyoka's keyword) is an array to write
    the results into.

    Examples
    --------
    >>> import numpy as np, taylorjit as tj
    >>> x, y = tj.make_vars("x", "y")
    >>> g = tj.cfunc([x * y, tj.sin(x) + y], [x, y])
    >>> g(np.array([2.0, 3.0]))
    array([6.        , 3.90929743])
    >>> g(np.ones((4, 2))).shape
    (4, 2)
    >>> h = tj.cfunc(tj.par[0] * x + tj.par[1], [x])
    >>> h(np.array([[1.0], [2.0], [3.0]]), pars=[[1.0, 2.0, 3.0], [0.0, 0.5, 1.0]])
    array([ 1. ,  4.5, 10. ])
    """
    given = [(nm, v) for nm, v in (("f", f), ("fn", fn), ("outputs", outputs)) if v is not None]
    if len(given) != 1:
        raise TypeError("cfunc needs the expressions once: cfunc(f, variables) (heyoka's "
                        f"keywords fn= or outputs= work too); got {[nm for nm, _ in given] or 'none'}")
    if (variables is None) == (vars is None):
        raise TypeError("cfunc needs the variables once: cfunc(f, variables) or heyoka's "
                        "cfunc(fn, vars=[...])")
    f = given[0][1]
    variables = vars if variables is None else variables
    fs, scalar = _as_exprs(f)
    variables = _as_vars(variables)
    if precision is not None and precision != "double":
        if precision == "dd":
            from .dd_cfunc import cfunc_dd

            return cfunc_dd(fs, variables, scalar, parallel)
        raise ValueError(f"precision={precision!r}: use None or 'double' (double precision) or "
                         "'dd' (double-double, ~32 digits)")
    if simd is None and kind is not None:
        simd = False
    plan = _plan(fs, variables, kind or default_kind())
    if plan.__class__ is _PiecewisePlan:
        return PiecewiseCFunc(plan, fs, variables, scalar, parallel, simd, kind)
    return CFunc(plan, fs, variables, scalar, parallel, simd, kind)


def _rebuild_cfunc(f, variables, kind, parallel, simd):
    return cfunc(f, variables, kind=kind, parallel=parallel, simd=simd)
