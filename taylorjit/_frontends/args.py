"""Argument checks of the derivative front ends: expressions, variables, points,
directions, orders, parameters and time, turned into the types the compiled code
takes, with messages that say what to pass.

The bottom of the front ends: :mod:`.jet` (plans, drivers) and the entry points
(:mod:`.coefficients`, :mod:`.derivatives`, :mod:`.cfunc`, :mod:`.taylor_jet`)
import from here; :mod:`.dd` reuses the checks of expressions, variables and orders.
"""
from __future__ import annotations

import math
import numbers
import operator

import numpy as np

from .._symbolic.expr import Expr, expr, var as _var


def _as_exprs(f):
    if isinstance(f, np.ndarray):
        if f.ndim > 1:
            raise ValueError(f"expected a scalar expression or a 1-D list of expressions, got an "
                             f"array of shape {f.shape}: pass f.ravel() and reshape the result")
        return [expr(x) for x in f], False
    if isinstance(f, (list, tuple)):
        if not f:
            raise ValueError("empty list of expressions")
        return [expr(x) for x in f], False
    return [expr(f)], True


def _as_vars(variables):
    if isinstance(variables, (Expr, str)):
        variables = [variables]
    out = []
    for v in variables:
        v = _var(v) if isinstance(v, str) else v
        if not isinstance(v, Expr) or v.op not in ("var", "par", "time"):
            raise TypeError(f"variables must be variables (tj.make_vars), tj.par[i] or tj.time, "
                            f"got {v!r}")
        out.append(v)
    if len(set(map(id, out))) != len(out):
        raise ValueError("a variable is listed twice")
    return out


def _pars_array(plan, pars, time):
    """The parameter vector of one jet call: ``par[0..n_pars-1]`` then the time."""
    p = np.zeros(plan.n_pars + (1 if plan.time_par >= 0 else 0))
    if plan.n_pars:
        if pars is None:
            raise ValueError(f"the expression uses runtime parameters par[0..{plan.n_pars - 1}]: "
                             f"pass pars=[...] with {plan.n_pars} values")
        pv = _float_array(pars, "pars")
        if pv.ndim > 1 and sorted(pv.shape)[-2] > 1:
            raise ValueError(f"pars has shape {pv.shape}: one value per parameter is expected "
                             f"(shape ({plan.n_pars},)); per-point parameters are supported by "
                             "tj.cfunc (shape (npars, npoints)), else loop over the points")
        pv = pv.ravel()
        if pv.size < plan.n_pars:
            raise ValueError(f"the expression uses par[{plan.n_pars - 1}] but pars has only "
                             f"{pv.size} values")
        if not np.all(np.isfinite(pv[:plan.n_pars])):
            raise ValueError("pars contains NaN or infinity")
        p[:plan.n_pars] = pv[:plan.n_pars]
    if plan.time_par >= 0:
        if time is None:
            raise ValueError("the expression uses tj.time: pass time=<value> (or list tj.time "
                             "among the variables to expand in it)")
        p[plan.time_par] = _float_scalar(time, "time")
    return p


_COMPLEX = (complex, np.complexfloating)


def _complex_error(what, value):
    return TypeError(f"{what} has a complex value ({value!r}): taylorjit computes with real "
                     "numbers; pass the real part (np.real(...)) if the imaginary parts are 0, "
                     "or make the real and imaginary parts separate variables")


def _float_array(value, what):
    """``value`` (numbers, nested sequences, an array) as a float64 array.

    Complex values, strings and other non-numbers raise a TypeError naming
    ``what``: numpy's own conversion would drop an imaginary part with only a
    ComplexWarning, and parse strings."""
    a = value if type(value) is np.ndarray else np.asarray(value)
    kind = a.dtype.kind
    if kind in "fiub":
        return a.astype(np.float64, copy=False)
    if kind == "c":
        bad = a.ravel()[np.flatnonzero(a.ravel().imag)[:1]]
        raise _complex_error(what, (bad if bad.size else a.ravel()[:1])[0].item())
    if kind == "O":
        for v in a.ravel():
            if isinstance(v, _COMPLEX) or (isinstance(v, numbers.Complex)
                                           and not isinstance(v, numbers.Real)):
                raise _complex_error(what, v)
        try:
            return a.astype(np.float64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise TypeError(f"{what} must be real numbers: {exc}") from None
    raise TypeError(f"{what} must be real numbers, got {type(value).__name__} of dtype "
                    f"{a.dtype} ({value!r:.60})")


def _float_scalar(value, what):
    """One real number (a Python or numpy scalar, a 0-d or one-element array)."""
    if value.__class__ is float:
        return value
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be a real number, got the boolean {value!r}")
    a = _float_array(value, what)
    if a.size != 1:
        raise ValueError(f"{what} must be one number, got an array of shape {a.shape}")
    return float(a.ravel()[0])


def _points(point, n, what="point"):
    P = _float_array(point, what)
    single = P.ndim <= 1
    P = np.atleast_2d(P) if P.ndim <= 1 else P
    if P.ndim == 2 and n == 1 and P.shape[1] != 1 and P.shape[0] == 1:
        P = P.reshape(-1, 1)
        single = P.shape[0] == 1
    if P.ndim != 2 or P.shape[1] != n:
        raise ValueError(f"{what} has shape {np.shape(point)} but there are {n} variables: pass "
                         f"{n} values (or an array of shape (npoints, {n}))")
    # a finite sum means every value is finite (one fast pass over big batches; a sum
    # that overflows falls through to the element check)
    if not math.isfinite(float(P.sum())) and not np.all(np.isfinite(P)):
        bad = np.argwhere(~np.isfinite(P))[0]
        raise ValueError(f"{what} contains a non-finite value at index {tuple(bad)}: "
                         f"{P[tuple(bad)]}")
    return np.ascontiguousarray(P), single


# highest order the front ends compute: the work grows as order**2 (0.1 s per point at
# order 10000 for a small expression, ~20 minutes at 10**6), each point in one compiled call
# that Ctrl-C cannot interrupt, and normalised coefficients that high are below or above the
# range of doubles unless the direction is scaled to the radius of convergence
MAX_ORDER = 10000


def _check_order(order, maximum=MAX_ORDER):
    """``order`` as a Python int in 0..``maximum``.  Integers of any kind (numpy's,
    0-d arrays) and integral floats (``3.0``) are accepted; booleans, fractions,
    NaN and non-numbers raise a TypeError."""
    if isinstance(order, np.ndarray) and order.ndim == 0:
        order = order[()]
    if isinstance(order, (bool, np.bool_)):
        raise TypeError(f"order must be a non-negative integer, got the boolean {order!r}")
    try:
        k = operator.index(order)
    except TypeError:
        k = None
        if isinstance(order, numbers.Real) and math.isfinite(order) and \
                float(order).is_integer():
            k = int(order)
        if k is None:
            raise TypeError(f"order must be a non-negative integer, got {order!r} "
                            f"({type(order).__name__})") from None
    if k < 0:
        raise ValueError(f"order must be >= 0, got {k}")
    if k > maximum:
        raise ValueError(
            f"order={k} is above the maximum of {maximum}: the work grows as order**2 (about "
            "0.1 s per point at order 10000 for a small expression, each point in one compiled "
            "call that cannot be interrupted), and normalised Taylor coefficients that high "
            "under- or "
            "overflow double precision unless the direction is scaled to the radius of "
            "convergence; ask for a lower order")
    return k


_EMPTY = np.zeros(0)
_ONE_DIR = (1.0,)


def _finite_values(point, n):
    """``point`` as a list of n finite numbers, or None (then ``_points`` checks it
    and explains).  A finite sum means all values are finite: numpy's reductions
    cost ~2 us on tiny arrays, a Python sum ~0.1 us."""
    vals = point.tolist() if type(point) is np.ndarray else point
    if type(vals) in (list, tuple) and len(vals) == n:
        try:
            s = sum(vals)       # complex if any value is (then _points explains)
            if (s.__class__ is float or not isinstance(s, _COMPLEX)) and math.isfinite(s):
                return vals
        except (TypeError, OverflowError):
            pass
    return None


def _point1(point, n, many=False):
    """One point of n values as a float array of shape (1, n) (``_points`` for a
    single point).  ``many``: return None instead of an error for anything else
    (the caller then uses ``_points``)."""
    vals = _finite_values(point, n)
    if vals is not None:
        return np.array(vals, dtype=np.float64).reshape(1, n)
    if many:
        return None
    P, single = _points(point, n)
    if not single:
        raise ValueError("derivatives() takes one point; loop over points or use "
                         "taylor_coefficients with many points")
    return P
