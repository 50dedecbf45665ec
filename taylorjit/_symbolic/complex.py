"""Complex symbolic values: a complex state in ``tj.solve_ivp`` as pairs of real equations.

A :class:`CExpr` is ``re + 1j*im`` with ``re`` and ``im`` real expressions
(:class:`~taylorjit.Expr`).  Arithmetic with Python/numpy complex numbers,
floats, ``Expr`` and other ``CExpr`` works (``1j * x`` of a real expression is a
``CExpr``), as do ``.real``, ``.imag``, ``.conj()``/``.conjugate()``,
``abs()`` (``sqrt(re**2 + im**2)``, smooth away from 0) and the numpy ufuncs
``np.exp, expm1, exp2, log, log1p, log2, log10, sqrt, square, reciprocal, sin,
cos, tan, sinh, cosh, tanh, arcsin, arccos, arctan, arcsinh, arccosh, arctanh,
conj, absolute`` through the standard real formulas (principal branches, cut
along the negative real axis for ``log``/``sqrt``/non-integer powers, as
numpy).  Comparisons of complex values raise :class:`~taylorjit.TracingError`.

This module holds :class:`CExpr`, its arithmetic (``+ - * /``; the real
arithmetic of :mod:`.expr` calls it on a complex operand) and
:class:`ComplexArray`, the object array of ``CExpr`` with per-element
``.real``/``.imag``.  Its siblings: :mod:`.complex_funcs` (powers, the
elementary functions, the numpy ufunc table) and :mod:`.complex_state` (the
layout below: the traced complex state, complex arguments, splitting the
outputs).

Complex state layout
--------------------
A complex state ``y`` of ``n`` components is integrated as ``2n`` real
equations, **real parts first, then imaginary parts**: the real state is
``z = [Re y_0, ..., Re y_{n-1}, Im y_0, ..., Im y_{n-1}]`` (variables
``y0 .. y{2n-1}``).  While tracing, the user's function receives ``y`` as an
object array of ``CExpr(z[i], z[n + i])`` whose ``.real``/``.imag`` work per
element (also on arrays computed from it by numpy operations), and its ``n``
complex outputs are split back into ``2n`` real ones.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .expr import Expr, NotRealError, TracingError, _call, _short, add, div, expr, mul, neg, num, power, sub

__all__ = ["CExpr", "ComplexArray", "as_real"]

ZERO = num(0.0)
ONE = num(1.0)



def _is_zero(e):
    return e.op == "num" and e.value == 0.0


def _no_order(what="compare"):
    return TracingError(
        f"cannot {what} complex values: complex numbers have no order. Compare real "
        "quantities instead: z.real, z.imag or abs(z)")


class CExpr:
    """A complex symbolic value ``re + 1j*im`` (``re``, ``im``: real expressions).

    Made by arithmetic of expressions with complex numbers (``1j * x``) and by
    :func:`taylorjit.solve_ivp` for a complex state; not usually built directly.

    Examples
    --------
    >>> import numpy as np, taylorjit as tj
    >>> x = tj.var("x")
    >>> z = np.exp(1j * x)
    >>> z.real, z.imag
    (cos(x), sin(x))
    >>> (z * z.conj()).real
    cos(x)*cos(x) + sin(x)*sin(x)
    """

    __slots__ = ("re", "im")
    __array_priority__ = 1000
    _tj_complex = True

    def __init__(self, re, im=0.0):
        object.__setattr__(self, "re", expr(re))
        object.__setattr__(self, "im", expr(im))

    def __setattr__(self, name, value):
        raise AttributeError("CExpr objects are immutable")

    # -- parts -------------------------------------------------------------------
    @property
    def real(self):
        return self.re

    @property
    def imag(self):
        return self.im

    def conjugate(self):
        return CExpr(self.re, neg(self.im))

    conj = conjugate

    def __repr__(self):
        return f"({self.re}) + ({self.im})*1j"

    __str__ = __repr__

    def __hash__(self):
        return hash((self.re, self.im))

    def __eq__(self, other):
        p = _parts(other)
        if p is None:
            return NotImplemented
        return self.re is p[0] and self.im is p[1]

    def __ne__(self, other):
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    # -- Python conversions and control flow --------------------------------------
    def __bool__(self):
        if self.re.op == "num" and self.im.op == "num":
            return self.re.value != 0.0 or self.im.value != 0.0
        raise TracingError(
            f"the truth value of the complex symbolic value {_short_c(self)} is unknown at "
            "tracing time (Python `if`/`while`/`and`/`or` on a symbolic value); test real "
            "quantities (z.real, z.imag, abs(z))")

    def __lt__(self, other):
        raise _no_order()

    __le__ = __gt__ = __ge__ = __lt__

    def __float__(self):
        raise TracingError(
            f"cannot convert the complex symbolic value {_short_c(self)} to a float: take "
            "z.real, z.imag or abs(z). Writing a complex value into a float array "
            "(`out = np.empty(n); out[i] = z`) does this: build the result with np.array([...])")

    def __complex__(self):
        if self.re.op == "num" and self.im.op == "num":
            return complex(self.re.value, self.im.value)
        raise TracingError(
            f"cannot convert the complex symbolic value {_short_c(self)} to a Python complex "
            "number. This happens with in-place writes into a complex array (`out = "
            "np.zeros(n, dtype=complex); out[i] = z`), np.array([...], dtype=complex) and "
            "cmath functions: build the result with np.array([...]) or a list (no dtype) and "
            "use numpy's functions (np.exp ...)")

    def __int__(self):
        raise TracingError(f"cannot convert the complex symbolic value {_short_c(self)} to an int")

    __index__ = None

    # -- arithmetic ---------------------------------------------------------------
    def __add__(self, o):
        return _binary(_add, self, o)

    def __radd__(self, o):
        return _binary(_add, o, self)

    def __sub__(self, o):
        return _binary(_sub, self, o)

    def __rsub__(self, o):
        return _binary(_sub, o, self)

    def __mul__(self, o):
        return _binary(_mul, self, o)

    def __rmul__(self, o):
        return _binary(_mul, o, self)

    def __truediv__(self, o):
        return _binary(_div, self, o)

    def __rtruediv__(self, o):
        return _binary(_div, o, self)

    def __pow__(self, o):
        return _binary(_pow, self, o)

    def __rpow__(self, o):
        return _binary(_pow, o, self)

    def __neg__(self):
        return CExpr(neg(self.re), neg(self.im))

    def __pos__(self):
        return self

    def __abs__(self):
        return _abs(self)

    def __matmul__(self, o):
        raise TracingError("`@` needs arrays of expressions on both sides, not a scalar")

    __rmatmul__ = __matmul__

    # -- numpy protocol -----------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs.get("out") is not None:
            return NotImplemented
        fn = _ufunc(ufunc.__name__)
        if any(isinstance(a, np.ndarray) and a.ndim > 0 for a in inputs):
            arrs = []
            for a in inputs:
                o = np.empty((), dtype=object)
                o[()] = a
                arrs.append(np.asarray(a, dtype=object) if isinstance(a, np.ndarray) else o)
            return _wrap(np.frompyfunc(fn, len(inputs), 1)(*arrs))
        return fn(*inputs)

    # numpy's object loops call methods of these names (np.exp(array_of_cexprs) ...)
    def exp(self):
        return _exp(self)

    def expm1(self):
        return _expm1(self)

    def exp2(self):
        return _exp(_mul(self, _c(math.log(2.0))))

    def log(self):
        return _log(self)

    def log1p(self):
        return _log1p(self)

    def log2(self):
        return _scale(_log(self), 1.0 / math.log(2.0))

    def log10(self):
        return _scale(_log(self), 1.0 / math.log(10.0))

    def sqrt(self):
        return _sqrt(self)

    def square(self):
        return _square(self)

    def reciprocal(self):
        return _div(_c(1.0), self)

    def sin(self):
        return _sin(self)

    def cos(self):
        return _cos(self)

    def tan(self):
        return _tan(self)

    def sinh(self):
        return _sinh(self)

    def cosh(self):
        return _cosh(self)

    def tanh(self):
        return _tanh(self)

    def arcsin(self):
        return _arcsin(self)

    def arccos(self):
        return _arccos(self)

    def arctan(self):
        return _arctan(self)

    def arcsinh(self):
        return _arcsinh(self)

    def arccosh(self):
        return _arccosh(self)

    def arctanh(self):
        return _arctanh(self)

    def arctan2(self, other):
        raise TracingError("np.arctan2 is defined for real arguments only: use "
                           "np.arctan2(z.imag, z.real) for the argument of a complex z")

    def hypot(self, other):
        raise TracingError("np.hypot is defined for real arguments only: use abs(z) for the "
                           "modulus of a complex z")


def _short_c(z, limit=60):
    s = repr(z)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _c(value):
    """A constant CExpr."""
    value = complex(value)
    return CExpr(num(value.real), num(value.imag))


def _parts(o):
    """(re, im) expressions of an operand, or None if it is not a scalar number/expression."""
    if isinstance(o, CExpr):
        return o.re, o.im
    if isinstance(o, Expr):
        return o, ZERO
    if isinstance(o, (bool, np.bool_)):
        return None
    if isinstance(o, numbers.Real):
        return num(float(o)), ZERO
    if isinstance(o, numbers.Complex):
        return num(float(o.real)), num(float(o.imag))
    if isinstance(o, np.ndarray) and o.ndim == 0:
        return _parts(o[()])
    return None


def _binary(fn, a, b):
    if (isinstance(a, np.ndarray) and a.ndim > 0) or (isinstance(b, np.ndarray) and b.ndim > 0):
        return NotImplemented   # numpy applies the operation per element
    pa, pb = _parts(a), _parts(b)
    if pa is None or pb is None:
        return NotImplemented
    return fn(CExpr(*pa) if not isinstance(a, CExpr) else a,
              CExpr(*pb) if not isinstance(b, CExpr) else b)


def arith(op, a, b):
    """``a op b`` for ``op`` in add/sub/mul/div/pow when an operand is complex (called by the
    real arithmetic of :mod:`taylorjit._symbolic.expr` when it meets a complex operand)."""
    fn = {"add": _add, "sub": _sub, "mul": _mul, "div": _div, "pow": _pow}[op]
    r = _binary(fn, a, b)
    if r is NotImplemented:
        bad = b if _parts(a) is not None else a
        raise TypeError(f"cannot use an object of type {type(bad).__name__} ({bad!r:.60}) in a "
                        "complex expression")
    return r


def as_real(x):
    """The real expression of a complex value whose imaginary part is exactly zero; else
    :class:`~taylorjit._symbolic.expr.NotRealError` (used by :func:`taylorjit._symbolic.expr.expr`)."""
    if isinstance(x, CExpr):
        if _is_zero(x.im):
            return x.re
        raise NotRealError(
            f"complex value {_short_c(x)} where a real expression is needed. Take its real "
            "part, imaginary part or modulus (z.real, z.imag, abs(z)); taylorjit's own "
            "functions (tj.sin ...) are real: numpy's (np.sin ...) accept complex values; "
            "tj.solve_ivp integrates a complex state when y0 is complex")
    if x.imag == 0:
        return num(float(x.real))
    raise NotRealError(
        f"complex number {x!r} in a real expression: the result is complex. Take its real "
        "part, imaginary part or modulus (z.real, z.imag, abs(z)); tj.solve_ivp integrates a "
        "complex state when y0 is complex")


# ------------------------------------------------------------------ arithmetic
def _add(a, b):
    return CExpr(add(a.re, b.re), add(a.im, b.im))


def _sub(a, b):
    return CExpr(sub(a.re, b.re), sub(a.im, b.im))


def _mul(a, b):
    if _is_zero(a.im):
        return CExpr(mul(a.re, b.re), mul(a.re, b.im))
    if _is_zero(b.im):
        return CExpr(mul(a.re, b.re), mul(a.im, b.re))
    if a.re is b.re and b.im is neg(a.im):    # z * conj(z) = |z|^2, exactly real
        return CExpr(add(mul(a.re, a.re), mul(a.im, a.im)), ZERO)
    if a.re is b.re and a.im is b.im:
        return _square(a)
    return CExpr(sub(mul(a.re, b.re), mul(a.im, b.im)), add(mul(a.re, b.im), mul(a.im, b.re)))


def _square(a):
    if _is_zero(a.im):
        return CExpr(mul(a.re, a.re), ZERO)
    return CExpr(sub(mul(a.re, a.re), mul(a.im, a.im)), mul(2.0, mul(a.re, a.im)))


def _scale(a, s):
    return CExpr(mul(a.re, s), mul(a.im, s))


def _div(a, b):
    if _is_zero(b.im):
        return CExpr(div(a.re, b.re), div(a.im, b.re))
    if b.re.op == "num" and b.im.op == "num":     # a constant divisor: multiply by 1/b
        return _mul(a, _c(1.0 / complex(b.re.value, b.im.value)))
    den = add(mul(b.re, b.re), mul(b.im, b.im))
    if _is_zero(a.im):
        return CExpr(div(mul(a.re, b.re), den), neg(div(mul(a.re, b.im), den)))
    return CExpr(div(add(mul(a.re, b.re), mul(a.im, b.im)), den),
                 div(sub(mul(a.im, b.re), mul(a.re, b.im)), den))


def _abs(a):
    if _is_zero(a.im):
        return abs(a.re)
    if _is_zero(a.re):
        return abs(a.im)
    return _call("sqrt", add(mul(a.re, a.re), mul(a.im, a.im)))


# ------------------------------------------------------------------ arrays of complex values
def _re(x):
    if isinstance(x, CExpr):
        return x.re
    if isinstance(x, Expr):
        return x
    return x.real


def _im(x):
    if isinstance(x, CExpr):
        return x.im
    if isinstance(x, Expr):
        return ZERO
    return x.imag


def _wrap(res):
    if type(res) is np.ndarray and res.dtype == object:
        return res.view(ComplexArray)
    if isinstance(res, tuple):
        return tuple(_wrap(r) for r in res)
    if isinstance(res, list):
        return [_wrap(r) for r in res]
    return res


def as_complex_array(res):
    """An object array of complex values as a :class:`ComplexArray` (other results as they are)."""
    return _wrap(res)


def _abs2(v):
    return add(mul(_re(v), _re(v)), mul(_im(v), _im(v)))


def _norm(x, ord=None, axis=None, keepdims=False):   # noqa: A002 - numpy's signature
    """np.linalg.norm of complex values: the 2-norm as sqrt(sum |z|^2) (no sqrt per element,
    smooth where a component is 0); other norms from the moduli."""
    x = np.asarray(x, dtype=object)
    sq = np.frompyfunc(_abs2, 1, 1)(x)
    vector = x.ndim == 1 or isinstance(axis, (int, np.integer))
    if (ord is None or (ord == 2 and vector) or (ord == "fro" and not vector)):
        if axis is None:
            out = _call("sqrt", sum(sq.ravel(), ZERO))
            return np.full((1,) * x.ndim, out, dtype=object) if keepdims else out
        tot = np.sum(sq, axis=axis, keepdims=keepdims)
        return np.frompyfunc(lambda s: _call("sqrt", s), 1, 1)(tot)
    if (vector and isinstance(ord, numbers.Real) and math.isfinite(ord) and ord != 0
            and axis is None and not keepdims):
        # the p-norm (sum |z|^p)^(1/p), |z|^p = (|z|^2)^(p/2)
        return power(sum((power(v, ord / 2.0) for v in sq), ZERO), 1.0 / ord)
    mod = np.frompyfunc(lambda s: _call("sqrt", s), 1, 1)(sq)
    return np.linalg.norm(mod, ord, axis, keepdims)


class ComplexArray(np.ndarray):
    """The object array of :class:`CExpr` a traced function receives as a complex ``y``.

    numpy returns an object array itself for ``.real`` and zeros for ``.imag``;
    here both act per element, on ``y`` and on the arrays numpy computes from it
    (ufuncs, slicing, ``@``, ``np.dot``, ``np.concatenate`` ...).
    ``np.linalg.norm`` and ``np.angle`` use the complex modulus and argument."""

    @property
    def real(self):
        return _wrap(np.asarray(np.frompyfunc(_re, 1, 1)(self), dtype=object))

    @property
    def imag(self):
        return _wrap(np.asarray(np.frompyfunc(_im, 1, 1)(self), dtype=object))

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        if return_scalar:
            return arr[()]
        return arr.view(ComplexArray) if arr.dtype == object else arr

    def __array_function__(self, func, types, args, kwargs):
        if func is np.linalg.norm:
            return _norm(*args, **kwargs)
        if func is np.angle and len(args) == 1 and not kwargs:
            return _wrap(np.frompyfunc(lambda v: _call("atan2", _im(v), _re(v)), 1, 1)(
                np.asarray(args[0], dtype=object)))
        return _wrap(super().__array_function__(func, types, args, kwargs))


# The methods of CExpr and the arithmetic above dispatch to the elementary functions, which
# build CExpr with this arithmetic (a genuine cycle): bound once CExpr is defined.
from .complex_funcs import (_arccos, _arccosh, _arcsin, _arcsinh, _arctan,  # noqa: E402
    _arctanh, _cos, _cosh, _exp, _expm1, _log, _log1p, _pow, _sin, _sinh, _sqrt, _tan, _tanh, _ufunc)
