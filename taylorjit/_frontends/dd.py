"""``taylor_coefficients(..., precision="dd")``: normalised Taylor coefficients in
double-double arithmetic (the dd VM over the expression's decomposition)."""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from .._dd.values import DDArray, dd_array, dd_scalar

__all__ = ["taylor_coefficients_dd"]

_PLANS: "OrderedDict[tuple, tuple]" = OrderedDict()
_LOCK = threading.Lock()

MAX_ORDER = 10000
_NO_UPD = np.zeros((0, 2), dtype=np.int64)


class _DDPlan:
    __slots__ = ("prog", "cv", "outs", "n_in", "n_pars", "time_par", "n_slots", "keep")

    def __init__(self, prog, cv, outs, n_in, n_pars, time_par, n_slots, keep):
        self.prog = prog
        self.cv = cv
        self.outs = outs
        self.n_in = n_in
        self.n_pars = n_pars
        self.time_par = time_par
        self.n_slots = n_slots
        self.keep = keep


def _plan(fs, variables) -> _DDPlan:
    """The dd program of ``fs`` in ``variables`` (cached by the objects' identities;
    parameters or the time listed among the variables become private variables, as
    in the double front end)."""
    from .._symbolic.guards import has_select
    from .jet import decompose_front
    from .._dd._build import program

    key = (tuple(map(id, fs)), tuple(map(id, variables)))
    with _LOCK:
        hit = _PLANS.get(key)
        if hit is not None:
            _PLANS.move_to_end(key)
            return hit
    if has_select(fs):
        raise NotImplementedError("piecewise expressions (tj.select, abs, min, max, np.where) "
                                  "are not supported with precision='dd' yet: use double "
                                  "precision, or expand each branch separately")
    d, n_pars, time_par = decompose_front(fs, variables)
    prog, cv, _ = program(d, ode=False)
    plan = _DDPlan(prog, cv, np.array(d.outputs, dtype=np.int64), len(variables), n_pars, time_par,
                   d.n_slots, (fs, variables))
    with _LOCK:
        _PLANS[key] = plan
        while len(_PLANS) > 256:
            _PLANS.popitem(last=False)
    return plan


def dd_pars(plan_n_pars, time_par, pars, time):
    """The dd parameter vector ``par[0..n-1]`` (then the time, when the expression
    uses it and does not expand in it)."""
    n = plan_n_pars + (1 if time_par >= 0 else 0)
    pH = np.zeros(n)
    pL = np.zeros(n)
    if plan_n_pars:
        if pars is None:
            raise ValueError(f"the expression uses runtime parameters par[0..{plan_n_pars - 1}]: "
                             f"pass pars=[...] with {plan_n_pars} values")
        h, l = dd_array(pars, "pars")
        h = h.reshape(-1)
        l = l.reshape(-1)
        if h.size < plan_n_pars:
            raise ValueError(f"the expression uses par[{plan_n_pars - 1}] but pars has only "
                             f"{h.size} values")
        pH[:plan_n_pars] = h[:plan_n_pars]
        pL[:plan_n_pars] = l[:plan_n_pars]
    if time_par >= 0:
        if time is None:
            raise ValueError("the expression uses tj.time: pass time=<value> (or list tj.time "
                             "among the variables to expand in it)")
        pH[time_par], pL[time_par] = dd_scalar(time, "time")
    return pH, pL


def _points(point, n, what):
    """(PH, PL, single): the points as (npoints, n) dd arrays.  A top-level tuple is
    the list of the n values (with one variable, a tuple of two numbers is one
    (hi, lo) pair)."""
    if isinstance(point, tuple) and n != 1:
        point = list(point)
    h, l = dd_array(point, what)
    single = h.ndim <= 1
    if h.ndim == 0:
        h = h.reshape(1, 1)
        l = l.reshape(1, 1)
    elif h.ndim == 1:
        if n == 1 and h.shape[0] != 1:         # many points of one variable
            h = h.reshape(-1, 1)
            l = l.reshape(-1, 1)
            single = False
        else:
            h = h.reshape(1, -1)
            l = l.reshape(1, -1)
    if h.ndim != 2 or h.shape[1] != n:
        raise ValueError(f"{what} has shape {h.shape if h.ndim != 2 else np.shape(point)} but "
                         f"there are {n} variables: pass {n} values (or an array of shape "
                         f"(npoints, {n}) / a list of such lists; a (hi, lo) pair is a tuple)")
    return np.ascontiguousarray(h), np.ascontiguousarray(l), single


def taylor_coefficients_dd(f, variables, point, direction=None, order=10, *, pars=None,
                           time=None) -> DDArray:
    """Normalised Taylor coefficients of ``f(point + h * direction)`` in ``h``, in
    double-double arithmetic (~32 significant digits): ``taylor_coefficients(...,
    precision="dd")``.

    Points, directions, parameters and the time are converted without loss
    (floats, decimal strings such as ``"0.1"`` read exactly, mpmath numbers,
    ``(hi, lo)`` tuples, :class:`~taylorjit._dd.DDArray`).  Numeric constants
    inside ``f`` are doubles (``0.1 * x`` is the double 0.1 times x; write
    ``x / 10`` or use a runtime parameter for an exact decimal).

    Returns a :class:`~taylorjit._dd.DDArray` with the shape of the double
    version's result: ``(order+1,)``, ``(m, order+1)`` for m functions, with a
    leading ``npoints`` axis for several points.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x = tj.var("x")
    >>> c = tj.taylor_coefficients(tj.exp(x), [x], ["0.1"], order=3, precision="dd")
    >>> print(c)          # exp(1/10) / k! = 1.10517091807564762481170782649024666...
    [1.10517091807564762481170782649024 1.10517091807564762481170782649024 0.55258545903782381240585391324512 0.184195153012607937468617971081705]
    """
    from .args import _as_exprs, _as_vars, _check_order
    from .._dd._build import entry_points

    order = _check_order(order, MAX_ORDER)
    fs, scalar = _as_exprs(f)
    variables = _as_vars(variables)
    plan = _plan(fs, variables)
    n = plan.n_in
    PH, PL, single = _points(point, n, "point")
    if direction is None:
        if n != 1:
            raise ValueError(f"direction is required with {n} variables (e.g. direction=[1.0] + "
                             f"[0.0]*{n - 1} to expand along the first one)")
        DH = np.ones_like(PH)
        DL = np.zeros_like(PH)
    else:
        DH, DL, _ = _points(direction, n, "direction")
        if DH.shape[0] == 1 and PH.shape[0] > 1:
            DH = np.ascontiguousarray(np.broadcast_to(DH, PH.shape))
            DL = np.ascontiguousarray(np.broadcast_to(DL, PH.shape))
        elif DH.shape[0] > 1 and PH.shape[0] == 1:
            PH = np.ascontiguousarray(np.broadcast_to(PH, DH.shape))
            PL = np.ascontiguousarray(np.broadcast_to(PL, DH.shape))
            single = False
        elif DH.shape[0] != PH.shape[0]:
            raise ValueError(f"{PH.shape[0]} points but {DH.shape[0]} directions")
    pH, pL = dd_pars(plan.n_pars, plan.time_par, pars, time)
    m = plan.outs.shape[0]
    npts = PH.shape[0]
    RH = np.empty((npts, m, order + 1))
    RL = np.empty((npts, m, order + 1))
    H = np.zeros((plan.n_slots, order + 1))
    L = np.zeros((plan.n_slots, order + 1))
    entry_points().dd_points(plan.prog, plan.cv, _NO_UPD, H, L, order, pH, pL, 0.0, 0.0, PH, PL, DH, DL,
                             plan.outs, RH, RL)
    if scalar:
        RH = RH[:, 0, :]
        RL = RL[:, 0, :]
    if single:
        RH = RH[0]
        RL = RL[0]
    return DDArray(RH, RL)
