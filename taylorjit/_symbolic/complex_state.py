"""The complex state of a traced function: the layout of :mod:`.complex` as real variables.

:func:`complex_state` makes the :class:`~taylorjit._symbolic.complex.ComplexArray`
``y`` over the ``2n`` real variables (real parts first, then imaginary parts),
:func:`complex_args` turns complex arguments into pairs of runtime parameters,
:func:`split_result` splits the ``n`` complex outputs into ``2n`` real ones and
:func:`complex_call` wraps a user function for the tracer (:mod:`.tracing`)
with both.
"""
from __future__ import annotations

import numbers

import numpy as np

from .complex import CExpr, ComplexArray, _is_zero
from .expr import Expr, TracingError

__all__ = ["complex_call", "complex_state"]


def complex_state(z, n):
    """The complex state ``y`` (a :class:`ComplexArray` of ``n`` :class:`CExpr`) over the
    real variables ``z`` (real parts first, then imaginary parts)."""
    y = np.empty(n, dtype=object)
    for i in range(n):
        y[i] = CExpr(z[i], z[n + i])
    return y.view(ComplexArray)


def complex_args(value, first):
    """A complex argument as runtime parameters: (symbolic value, number of parameters).
    A scalar is ``CExpr(par[first], par[first + 1])``; an array of size m uses
    ``par[first .. first + m)`` for the real parts and the next m for the imaginary parts."""
    from .expr import par

    if not isinstance(value, np.ndarray):
        return CExpr(par[first], par[first + 1]), 2
    m = value.size
    out = np.empty(value.shape, dtype=object)
    for i, idx in enumerate(np.ndindex(value.shape)):
        out[idx] = CExpr(par[first + i], par[first + m + i])
    return out.view(ComplexArray), 2 * m


def complex_arg_values(value):
    """The parameter values of a complex argument (the layout of :func:`complex_args`)."""
    v = np.asarray(value, dtype=complex).ravel()
    return np.concatenate([v.real, v.imag])


def _split_scalar(res):
    v = res
    if isinstance(v, np.ndarray) and v.size == 1:
        v = v.reshape(-1)[0]
    elif isinstance(v, (list, tuple)) and len(v) == 1:
        v = v[0]
    if isinstance(v, CExpr) or (isinstance(v, numbers.Complex) and not isinstance(v, numbers.Real)):
        if isinstance(v, CExpr):
            im = v.im
            zero = _is_zero(im)
        else:
            zero = v.imag == 0
        if not zero:
            raise TracingError(
                f"the event function returned the complex value {v!r:.80}: an event function "
                "must return a real value (its sign changes are the events). Return e.g. "
                "y[0].real, y[0].imag or abs(y[0]) - r")
        return v.re if isinstance(v, CExpr) else float(v.real)
    return res


def split_result(res, n, scalar):
    """The ``2n`` real outputs (real parts, then imaginary parts) of a function of a complex
    state that returned ``res`` (``n`` complex derivatives), or its real scalar if ``scalar``."""
    if scalar:
        return _split_scalar(res)
    if isinstance(res, (CExpr, Expr, numbers.Number)):
        arr = [res]
    else:
        try:
            arr = list(np.asarray(res, dtype=object).reshape(-1))
        except ValueError as e:
            raise TracingError(f"the function returned a ragged sequence ({e}): return a flat "
                               "list or np.array of its components") from None
    if any(isinstance(a, (np.ndarray, list, tuple)) for a in arr):
        raise TracingError("the function returned nested sequences: return a flat list or "
                           "np.array of its components")
    if len(arr) != n:
        raise TracingError(f"the function returned {len(arr)} components but the complex state "
                           f"has {n}: return one derivative per state component (y0 has length "
                           f"{n})")
    re, im = [], []
    for i, a in enumerate(arr):
        if a is None:
            raise TracingError(f"component {i} returned is None (was it created with "
                               "np.empty_like(y) and never assigned?): assign every component "
                               "or build the result with np.array([...])")
        if isinstance(a, CExpr):
            re.append(a.re)
            im.append(a.im)
        elif isinstance(a, numbers.Complex) and not isinstance(a, bool):
            re.append(float(a.real))
            im.append(float(a.imag))
        else:
            re.append(a)        # an Expr (or something the real checks will refuse)
            im.append(0.0)
    return re + im


def complex_call(call, n, scalar):
    """``call(t, y, *args)`` of a complex state ``y`` (``n`` components) as a function of the
    ``2n`` real variables ``z`` (see :func:`complex_state`) returning real outputs."""

    def traced_complex(t, z, *args):
        return split_result(call(t, complex_state(z, n), *args), n, scalar)

    traced_complex._tj_traced_fun = call
    return traced_complex
