"""``taylor_jet(..., precision="dd")``: a ``point -> Taylor coefficients`` callable in
double-double arithmetic (:class:`DDTaylorJet`).

It computes what ``taylor_coefficients(..., precision="dd")`` computes (the same
values to the last bit: the same dd VM program), holding the program and its
buffers so that a call with one point costs the conversion of the inputs and one
compiled call; anything else (several points) takes ``taylor_coefficients``.
"""
from __future__ import annotations

import math
import threading

import numpy as np

from .._dd.values import DDArray
from .args import _as_exprs, _as_vars, _check_order
from .dd import MAX_ORDER, _plan, _points, dd_pars, taylor_coefficients_dd

__all__ = ["DDTaylorJet", "taylor_jet_dd", "float_row"]

_NO_UPD = np.zeros((0, 2), dtype=np.int64)


class DDTaylorJet:
    """A function ``point -> Taylor coefficients`` in double-double (see
    :func:`taylorjit.taylor_jet` with ``precision="dd"``).

    ``J(point, direction=None, *, pars=None, time=None)``: the normalised
    coefficients 0..order of the functions at ``point + h * direction`` as a
    DDArray, shape ``(order + 1,)`` for one function, ``(m, order + 1)`` for m;
    points, directions, ``pars`` and ``time`` read without loss (floats, decimal
    strings, mpmath numbers, ``(hi, lo)`` tuples, DDArray); several points (shape
    (npoints, n)) as in ``taylor_coefficients``.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x = tj.var("x")
    >>> J = tj.taylor_jet(tj.exp(x), [x], order=3, precision="dd")
    >>> print(J("0.1"))
    [1.10517091807564762481170782649024 1.10517091807564762481170782649024 0.55258545903782381240585391324512 0.184195153012607937468617971081705]
    """

    def __init__(self, fs, variables, scalar, order):
        from .._dd._build import entry_points

        self._plan = _plan(fs, variables)
        self.functions = list(fs)
        self.variables = list(variables)
        self.order = order
        self._scalar = scalar
        self._n = self._plan.n_in
        self._tls = threading.local()
        self._ep = entry_points()

    precision = property(lambda self: "dd")

    def _buffers(self):
        b = self._tls.__dict__.get("b")
        if b is None:
            plan, n, k = self._plan, self._n, self.order + 1
            m = plan.outs.shape[0]
            b = self._tls.b = (np.zeros((plan.n_slots, k)), np.zeros((plan.n_slots, k)),
                               np.zeros((1, n)), np.zeros((1, n)), np.ones((1, n)),
                               np.zeros((1, n)), np.empty((1, m, k)), np.empty((1, m, k)))
        return b

    def __call__(self, point, direction=None, *, pars=None, time=None):
        plan, n = self._plan, self._n
        H, L, PH, PL, DH, DL, RH, RL = self._buffers()
        cls = point.__class__
        if n == 1 and (cls is float or cls is int or cls is str):
            ph, pl = _one(point)
            if ph is None:
                PH1, PL1, _ = _points(point, 1, "point")
                ph, pl = PH1[0, 0], PL1[0, 0]
            PH[0, 0] = ph
            PL[0, 0] = pl
        elif not float_row(point, n, PH, PL):
            P1, P2, single = _points(point, n, "point")
            if not single:
                f = self.functions[0] if self._scalar else self.functions
                return taylor_coefficients_dd(f, self.variables, point, direction, self.order,
                                              pars=pars, time=time)
            PH[0] = P1[0]
            PL[0] = P2[0]
        if direction is None:
            if n != 1:
                raise ValueError(f"direction is required with {n} variables (e.g. "
                                 f"direction=[1.0] + [0.0]*{n - 1} to expand along the first "
                                 "one)")
            DH[0, 0] = 1.0
            DL[0, 0] = 0.0
        elif not float_row(direction, n, DH, DL):
            D1, D2, dsingle = _points(direction, n, "direction")
            if not dsingle:
                f = self.functions[0] if self._scalar else self.functions
                return taylor_coefficients_dd(f, self.variables, point, direction, self.order,
                                              pars=pars, time=time)
            DH[0] = D1[0]
            DL[0] = D2[0]
        if plan.n_pars or plan.time_par >= 0:
            pH, pL = dd_pars(plan.n_pars, plan.time_par, pars, time)
        else:
            pH = pL = _EMPTY
        self._ep.dd_points(plan.prog, plan.cv, _NO_UPD, H, L, self.order, pH, pL, 0.0, 0.0,
                           PH, PL, DH, DL, plan.outs, RH, RL)
        if self._scalar:
            return DDArray(RH[0, 0].copy(), RL[0, 0].copy())
        return DDArray(RH[0].copy(), RL[0].copy())

    def __reduce__(self):
        f = self.functions[0] if self._scalar else self.functions
        return (_rebuild, (f, self.variables, self.order))

    def __repr__(self):
        return (f"<TaylorJet order {self.order} of {len(self.functions)} function(s) of "
                f"{self._n} variable(s), double-double (dd VM)>")


_EMPTY = np.zeros(0)


def _one(v):
    """A float or small int as a dd pair without the general conversion, else (None, None)."""
    if v.__class__ is float:
        if math.isfinite(v):
            return v, 0.0
        return None, None
    if v.__class__ is int and -2 ** 53 <= v <= 2 ** 53:
        return float(v), 0.0
    return None, None


def float_row(v, n, BH, BL):
    """Write ``v`` into row 0 of (BH, BL) if it is n finite floats (a list, tuple or
    float64 array: the common case, without the general conversion); False otherwise."""
    if v.__class__ is np.ndarray:
        if v.dtype != np.float64 or v.shape != (n,):
            return False
        vals = v.tolist()
    elif v.__class__ is list or v.__class__ is tuple:
        if len(v) != n:
            return False
        vals = v
        for a in vals:
            if a.__class__ is not float:
                return False
    else:
        return False
    if not math.isfinite(sum(vals)):
        return False
    BH[0] = vals
    BL[0] = 0.0
    return True


def taylor_jet_dd(f, variables, order) -> DDTaylorJet:
    """``taylor_jet(f, variables, order, precision="dd")``."""
    order = _check_order(order, MAX_ORDER)
    fs, scalar = _as_exprs(f)
    return DDTaylorJet(fs, _as_vars(variables), scalar, order)


def _rebuild(f, variables, order):
    return taylor_jet_dd(f, variables, order)
