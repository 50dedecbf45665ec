"""Powers and elementary functions of complex symbolic values, and the numpy ufunc table.

The functions of :class:`~taylorjit._symbolic.complex.CExpr` (``z**w``, ``exp``,
``log``, ``sqrt``, the trigonometric and hyperbolic functions and their
inverses) through the standard real formulas, principal branches, written to
avoid cancellation (``expm1``, ``log1p``, polar ``sqrt``); ``_ufunc`` maps a
numpy ufunc name to one of them (or explains why it does not apply to complex
values).  Built on the arithmetic of :mod:`.complex`, which imports this module
once ``CExpr`` is defined and binds these names for its methods: import them
through :mod:`.complex`.
"""
from __future__ import annotations

import cmath
import math

from .complex import (CExpr, ZERO, _add, _c, _div, _is_zero, _mul, _no_order, _parts, _scale,
    _square, _sub, arith)
from .expr import TracingError, _call, add, div, mul, neg, power, sub

_MAX_INT_POWER = 64   # z**k by repeated squaring up to this |k|; polar form beyond


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
