"""``taylor_coefficients(..., precision=<bits>)``: normalised Taylor coefficients at
arbitrary precision (the Python VM of :mod:`taylorjit._mp` over the expression's
decomposition)."""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from .._mp.values import check_precision, mp_array, mp_scalar, out_array

__all__ = ["taylor_coefficients_mp", "mp_pars"]

_PLANS: "OrderedDict[tuple, tuple]" = OrderedDict()
_LOCK = threading.Lock()

MAX_ORDER = 10000


def _plan(fs, variables, p):
    """``(program, outs, n_pars, time_par, keep, lock)`` of ``fs`` in ``variables`` at ``p``
    bits (cached by the objects' identities and ``p``; the lock guards the program's
    parameters during a call)."""
    from .._mp.vm import MPProgram
    from .._symbolic.guards import has_select
    from .jet import decompose_front

    key = (tuple(map(id, fs)), tuple(map(id, variables)), p)
    with _LOCK:
        hit = _PLANS.get(key)
        if hit is not None:
            _PLANS.move_to_end(key)
            return hit
    if has_select(fs):
        raise NotImplementedError("piecewise expressions (tj.select, abs, min, max, np.where) "
                                  "are not supported at arbitrary precision yet: use double "
                                  "precision, or expand each branch separately")
    d, n_pars, time_par = decompose_front(fs, variables)
    plan = (MPProgram(d, p, ode=False), list(d.outputs), n_pars, time_par, (fs, variables),
            threading.Lock())
    with _LOCK:
        _PLANS[key] = plan
        while len(_PLANS) > 256:
            _PLANS.popitem(last=False)
    return plan


def mp_pars(n_pars, time_par, pars, time, p):
    """The parameter vector ``par[0..n-1]`` as pairs (then the time, when the expression
    uses it and does not expand in it)."""
    out = []
    if n_pars:
        if pars is None:
            raise ValueError(f"the expression uses runtime parameters par[0..{n_pars - 1}]: "
                             f"pass pars=[...] with {n_pars} values")
        vals, _ = mp_array(list(pars) if isinstance(pars, tuple) else pars, p, "pars")
        if len(vals) < n_pars:
            raise ValueError(f"the expression uses par[{n_pars - 1}] but pars has only "
                             f"{len(vals)} values")
        out = vals[:n_pars]
    if time_par >= 0:
        if time is None:
            raise ValueError("the expression uses tj.time: pass time=<value> (or list tj.time "
                             "among the variables to expand in it)")
        out.append(mp_scalar(time, p, "time"))
    return out


def _points(point, n, what, p):
    """(rows, single): the points as a list of rows of n pairs."""
    if isinstance(point, tuple) and n != 1:
        point = list(point)
    vals, shape = mp_array(point, p, what)
    single = len(shape) <= 1
    if len(shape) == 0:
        shape = (1, 1)
    elif len(shape) == 1:
        if n == 1 and shape[0] != 1:            # many points of one variable
            shape = (shape[0], 1)
            single = False
        else:
            shape = (1, shape[0])
    if len(shape) != 2 or shape[1] != n:
        raise ValueError(f"{what} has shape {shape} but there are {n} variables: pass {n} "
                         f"values (or an array of shape (npoints, {n}) / a list of such lists; "
                         "a (hi, lo) pair is a tuple)")
    return [vals[r * n:(r + 1) * n] for r in range(shape[0])], single


def taylor_coefficients_mp(f, variables, point, direction=None, order=10, *, pars=None,
                           time=None, precision=256):
    """Normalised Taylor coefficients of ``f(point + h * direction)`` in ``h`` at
    ``precision`` bits: ``taylor_coefficients(..., precision=<bits>)``.

    Points, directions, parameters and the time are converted without loss and
    rounded once to ``precision`` bits (floats, decimal strings such as ``"0.1"``
    read exactly, Fraction, Decimal, mpmath numbers, ``(hi, lo)`` tuples, DDArray).
    Numeric constants inside ``f`` are doubles (write ``x / 10``, not ``0.1 * x``,
    or use a runtime parameter for an exact decimal).

    Returns a numpy object array of mpmath numbers (``mpf`` whose ``str()`` prints
    every digit) with the shape of the double version's result.  A point where a
    coefficient is not finite or not real (a division by zero, ``log`` of a
    negative number...) raises ValueError.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x = tj.var("x")
    >>> c = tj.taylor_coefficients(tj.exp(x), [x], ["0.1"], order=2, precision=128)
    >>> print(c[2])           # exp(1/10) / 2
    0.552585459037823812405853913245123334112
    """
    from .args import _as_exprs, _as_vars, _check_order

    p = check_precision(precision)
    order = _check_order(order, MAX_ORDER)
    fs, scalar = _as_exprs(f)
    variables = _as_vars(variables)
    prog, outs, n_pars, time_par, _, lock = _plan(fs, variables, p)
    n = len(variables)
    P, single = _points(point, n, "point", p)
    if direction is None:
        if n != 1:
            raise ValueError(f"direction is required with {n} variables (e.g. direction=[1.0] + "
                             f"[0.0]*{n - 1} to expand along the first one)")
        one = mp_scalar(1, p)
        D = [[one] for _ in P]
    else:
        D, _ = _points(direction, n, "direction", p)
        if len(D) == 1 and len(P) > 1:
            D = D * len(P)
        elif len(D) > 1 and len(P) == 1:
            P = P * len(D)
            single = False
        elif len(D) != len(P):
            raise ValueError(f"{len(P)} points but {len(D)} directions")
    pv = mp_pars(n_pars, time_par, pars, time, p)
    try:
        with lock:
            prog.env.pars = pv
            res = prog.points(P, D, order, outs)
    except (ZeroDivisionError, ValueError) as exc:
        raise ValueError(f"a Taylor coefficient is not finite or not real at this point "
                         f"({exc})") from None
    flat = [c for pt in res for row in pt for c in row]
    out = out_array(flat, (len(P), len(outs), order + 1), p)
    if scalar:
        out = out[:, 0, :]
    return out[0] if single else out
