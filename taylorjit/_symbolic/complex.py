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

import cmath
import math
import numbers

import numpy as np

from .expr import Expr, NotRealError, TracingError, _call, _short, add, div, expr, mul, neg, num, power, sub

__all__ = ["CExpr", "as_real", "complex_call", "complex_state"]

ZERO = num(0.0)
ONE = num(1.0)
_MAX_INT_POWER = 64   # z**k by repeated squaring up to this |k|; polar form beyond


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


def _int_power(a, k):
    if k < 0:
        return _div(_c(1.0), _int_power(a, -k))
    result, base = None, a
    while k:
        if k & 1:
            result = base if result is None else _mul(result, base)
        k >>= 1
        if k:
            base = _square(base)
    return _c(1.0) if result is None else result


def _pow(a, b):
    if _is_zero(b.im):
        p = b.re
        if p.op == "num":
            v = p.value
            if v.is_integer() and abs(v) <= _MAX_INT_POWER:
                return _int_power(a, int(v))
            if v == 0.5:
                return _sqrt(a)
        if _is_zero(a.im) and a.re.op == "num" and a.re.value > 0:
            return CExpr(power(a.re, p), ZERO)
        # polar form |a|^p (cos p*theta + i sin p*theta), principal argument theta
        mag = power(add(mul(a.re, a.re), mul(a.im, a.im)), mul(p, 0.5))
        th = mul(p, _call("atan2", a.im, a.re))
        return CExpr(mul(mag, _call("cos", th)), mul(mag, _call("sin", th)))
    if a.re.op == "num" and a.im.op == "num":       # constant base: exp(b * log(a))
        la = cmath.log(complex(a.re.value, a.im.value)) if (a.re.value or a.im.value) else None
        if la is None:
            raise ZeroDivisionError("0 raised to a complex symbolic power")
        return _exp(_mul(b, _c(la)))
    return _exp(_mul(b, _log(a)))


def _abs(a):
    if _is_zero(a.im):
        return abs(a.re)
    if _is_zero(a.re):
        return abs(a.im)
    return _call("sqrt", add(mul(a.re, a.re), mul(a.im, a.im)))


# ------------------------------------------------------------------ elementary functions
def _sin_cos(x):
    return _call("sin", x), _call("cos", x)


def _exp(a):
    e = _call("exp", a.re)
    if _is_zero(a.im):
        return CExpr(e, ZERO)
    s, c = _sin_cos(a.im)
    return CExpr(mul(e, c), mul(e, s))


def _expm1(a):
    # e^a cos b - 1 = expm1(a) cos b - 2 sin^2(b/2): no cancellation near 0
    if _is_zero(a.im):
        return CExpr(_call("expm1", a.re), ZERO)
    s, c = _sin_cos(a.im)
    h = _call("sin", mul(a.im, 0.5))
    return CExpr(sub(mul(_call("expm1", a.re), c), mul(2.0, mul(h, h))),
                 mul(_call("exp", a.re), s))


def _log(a):
    r2 = add(mul(a.re, a.re), mul(a.im, a.im))
    return CExpr(mul(0.5, _call("log", r2)), _call("atan2", a.im, a.re))


def _log1p(a):
    # log|1+z| = 0.5 log1p(2 re + re^2 + im^2): accurate near z = 0
    u = add(mul(2.0, a.re), add(mul(a.re, a.re), mul(a.im, a.im)))
    return CExpr(mul(0.5, _call("log1p", u)), _call("atan2", a.im, add(1.0, a.re)))


def _sqrt(a):
    # polar form sqrt|z| (cos th/2 + i sin th/2): no cancellation anywhere off the cut
    r = _call("sqrt", _call("sqrt", add(mul(a.re, a.re), mul(a.im, a.im))))
    h = mul(0.5, _call("atan2", a.im, a.re))
    return CExpr(mul(r, _call("cos", h)), mul(r, _call("sin", h)))


def _sin(a):
    s, c = _sin_cos(a.re)
    if _is_zero(a.im):
        return CExpr(s, ZERO)
    return CExpr(mul(s, _call("cosh", a.im)), mul(c, _call("sinh", a.im)))


def _cos(a):
    s, c = _sin_cos(a.re)
    if _is_zero(a.im):
        return CExpr(c, ZERO)
    return CExpr(mul(c, _call("cosh", a.im)), neg(mul(s, _call("sinh", a.im))))


def _sinh(a):
    if _is_zero(a.im):
        return CExpr(_call("sinh", a.re), ZERO)
    s, c = _sin_cos(a.im)
    return CExpr(mul(_call("sinh", a.re), c), mul(_call("cosh", a.re), s))


def _cosh(a):
    if _is_zero(a.im):
        return CExpr(_call("cosh", a.re), ZERO)
    s, c = _sin_cos(a.im)
    return CExpr(mul(_call("cosh", a.re), c), mul(_call("sinh", a.re), s))


def _tan(a):
    # tan(x + iy) = (sin 2x + i sinh 2y) / (cos 2x + cosh 2y)
    if _is_zero(a.im):
        return CExpr(_call("tan", a.re), ZERO)
    x2, y2 = mul(2.0, a.re), mul(2.0, a.im)
    den = add(_call("cos", x2), _call("cosh", y2))
    return CExpr(div(_call("sin", x2), den), div(_call("sinh", y2), den))


def _tanh(a):
    # tanh(x + iy) = (sinh 2x + i sin 2y) / (cosh 2x + cos 2y)
    if _is_zero(a.im):
        return CExpr(_call("tanh", a.re), ZERO)
    x2, y2 = mul(2.0, a.re), mul(2.0, a.im)
    den = add(_call("cosh", x2), _call("cos", y2))
    return CExpr(div(_call("sinh", x2), den), div(_call("sin", y2), den))


_I = None


def _i():
    global _I
    if _I is None:
        _I = _c(1j)
    return _I


def _arcsin(a):
    # -i log(i z + sqrt(1 - z^2))
    w = _log(_add(_mul(_i(), a), _sqrt(_sub(_c(1.0), _square(a)))))
    return CExpr(w.im, neg(w.re))


def _arccos(a):
    s = _arcsin(a)
    return CExpr(sub(math.pi / 2, s.re), neg(s.im))


def _arctan(a):
    # (i/2) (log(1 - i z) - log(1 + i z))
    iz = _mul(_i(), a)
    d = _sub(_log(_sub(_c(1.0), iz)), _log(_add(_c(1.0), iz)))
    return CExpr(mul(-0.5, d.im), mul(0.5, d.re))


def _arcsinh(a):
    return _log(_add(a, _sqrt(_add(_square(a), _c(1.0)))))


def _arccosh(a):
    return _log(_add(a, _mul(_sqrt(_add(a, _c(1.0))), _sqrt(_sub(a, _c(1.0))))))


def _arctanh(a):
    return _scale(_sub(_log1p(a), _log1p(-a)), 0.5)


def _unary(fn):
    def f(x):
        p = _parts(x)
        if p is None:
            raise TypeError(f"cannot apply a complex function to {type(x).__name__} {x!r:.40}")
        return fn(x if isinstance(x, CExpr) else CExpr(*p))
    return f


def _bin(fn):
    def f(a, b):
        return arith(fn, a, b)
    return f


_UFUNCS = {
    "add": _bin("add"), "subtract": _bin("sub"), "multiply": _bin("mul"),
    "true_divide": _bin("div"), "divide": _bin("div"), "power": _bin("pow"),
    "float_power": _bin("pow"),
    "negative": lambda a: -a, "positive": lambda a: a,
    "conjugate": _unary(CExpr.conjugate), "absolute": lambda a: abs(a),
    "square": _unary(_square), "reciprocal": _unary(lambda a: _div(_c(1.0), a)),
    "exp": _unary(_exp), "expm1": _unary(_expm1), "exp2": _unary(CExpr.exp2),
    "log": _unary(_log), "log1p": _unary(_log1p), "log2": _unary(CExpr.log2),
    "log10": _unary(CExpr.log10), "sqrt": _unary(_sqrt),
    "sin": _unary(_sin), "cos": _unary(_cos), "tan": _unary(_tan),
    "sinh": _unary(_sinh), "cosh": _unary(_cosh), "tanh": _unary(_tanh),
    "arcsin": _unary(_arcsin), "arccos": _unary(_arccos), "arctan": _unary(_arctan),
    "arcsinh": _unary(_arcsinh), "arccosh": _unary(_arccosh), "arctanh": _unary(_arctanh),
}
_ORDERED = ("greater", "greater_equal", "less", "less_equal", "maximum", "minimum", "fmax",
            "fmin", "clip", "sign", "heaviside", "fabs", "floor", "ceil", "trunc", "rint")


def _ufunc(name):
    fn = _UFUNCS.get(name)
    if fn is not None:
        return fn
    if name in _ORDERED:
        raise _no_order(f"apply np.{name} to")
    if name in ("arctan2", "hypot"):
        raise TracingError(f"np.{name} is defined for real arguments only: use "
                           "np.arctan2(z.imag, z.real) or abs(z) for a complex z")
    raise TracingError(f"numpy function np.{name} is not supported on complex symbolic values; "
                       "supported: " + ", ".join(sorted(_UFUNCS)))


# ------------------------------------------------------------------ the complex state
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
