"""sinh, cosh, tanh, asinh, acosh, atanh.

sinh/cosh are one two-output operation (s' = a' c, c' = a' s); tanh carries its
square (t' = (1 - t^2) a'); the inverse functions carry sqrt(1 + a^2),
sqrt(a^2 - 1) and 1 - a^2 and use the quotient recurrence ``quot_rec``.
"""
import math

import mpmath

from .._symbolic.expr import div as _div, sub as _sub, add as _add
from .._symbolic.registry import kernel_op, register_function
from ._common import dsum, quot_rec, square_rec
from .arith import sqrt, square


# --- sinh / cosh ---------------------------------------------------------------------------
@kernel_op("sinhcosh", n_out=2, n_in=1)
def sinhcosh_coeff(tc, k, s, c, a):
    """s = sinh(a), c = cosh(a): s_k = (1/k) sum j a_j c_{k-j}, c_k = (1/k) sum j a_j s_{k-j}."""
    r_s, r_c, r_a = tc[s], tc[c], tc[a]
    if k == 0:
        r_s[0] = math.sinh(r_a[0])
        r_c[0] = math.cosh(r_a[0])
    else:
        r_s[k] = dsum(r_a, r_c, k)
        r_c[k] = dsum(r_a, r_s, k)


sinh = register_function(
    "sinh", 1, value=math.sinh,
    derivative=lambda a: [cosh(a)],
    decompose=lambda b, a: b.op("sinhcosh", a)[0],
    mp=mpmath.sinh, domain=[(-3.0, 3.0)],
    sympy=lambda sp, a: sp.sinh(a), numpy="sinh", doc="Hyperbolic sine.")

cosh = register_function(
    "cosh", 1, value=math.cosh,
    derivative=lambda a: [sinh(a)],
    decompose=lambda b, a: b.op("sinhcosh", a)[1],
    mp=mpmath.cosh, domain=[(-3.0, 3.0)],
    sympy=lambda sp, a: sp.cosh(a), numpy="cosh", doc="Hyperbolic cosine.")


# --- tanh -------------------------------------------------------------------------------------
@kernel_op("tanh", n_out=2, n_in=1)
def tanh_coeff(tc, k, t, w, a):
    """t = tanh(a), companion w = t^2: t' = (1 - w) a',
    t_k = a_k - (1/k) sum_{j=1}^{k} j a_j w_{k-j}; then w_k as a symmetric square."""
    r_t, r_w, r_a = tc[t], tc[w], tc[a]
    if k == 0:
        r_t[0] = math.tanh(r_a[0])
    else:
        r_t[k] = r_a[k] - dsum(r_a, r_w, k)
    r_w[k] = square_rec(r_t, k)


def _tanh_decompose(b, a):
    t, w = b.op("tanh", a)
    b.alias("square", (t,), (w,))
    return t


tanh = register_function(
    "tanh", 1, value=math.tanh,
    derivative=lambda a: [_sub(1.0, square(tanh(a)))],
    decompose=_tanh_decompose,
    mp=mpmath.tanh, domain=[(-3.0, 3.0)],
    sympy=lambda sp, a: sp.tanh(a), numpy="tanh", doc="Hyperbolic tangent.")


# --- asinh / acosh ------------------------------------------------------------------------------
@kernel_op("asinh", n_out=1, n_in=2)
def asinh_coeff(tc, k, o, a, s):
    """b = asinh(a) with companion s = sqrt(1 + a^2): b' s = a'."""
    r_o, r_a, r_s = tc[o], tc[a], tc[s]
    if k == 0:
        r_o[0] = math.asinh(r_a[0])
    else:
        quot_rec(r_o, r_s, k, r_a[k])


@kernel_op("acosh", n_out=1, n_in=2)
def acosh_coeff(tc, k, o, a, s):
    """b = acosh(a) with companion s = sqrt(a^2 - 1): b' s = a'."""
    r_o, r_a, r_s = tc[o], tc[a], tc[s]
    if k == 0:
        r_o[0] = math.acosh(r_a[0]) if r_a[0] >= 1.0 else math.nan
    else:
        quot_rec(r_o, r_s, k, r_a[k])


asinh = register_function(
    "asinh", 1, value=math.asinh,
    derivative=lambda a: [_div(1.0, sqrt(_add(1.0, square(a))))],
    decompose=lambda b, a: b.op("asinh", a, b.op("sqrt", b.add(1.0, b.op("square", a)[0]))[0])[0],
    mp=mpmath.asinh, domain=[(-3.0, 3.0)],
    sympy=lambda sp, a: sp.asinh(a), numpy="arcsinh", doc="Inverse hyperbolic sine.")

acosh = register_function(
    "acosh", 1, value=math.acosh,
    derivative=lambda a: [_div(1.0, sqrt(_sub(square(a), 1.0)))],
    decompose=lambda b, a: b.op("acosh", a, b.op("sqrt", b.sub(b.op("square", a)[0], 1.0))[0])[0],
    mp=mpmath.acosh, domain=[(1.1, 4.0)],
    sympy=lambda sp, a: sp.acosh(a), numpy="arccosh", doc="Inverse hyperbolic cosine.")


# --- atanh ----------------------------------------------------------------------------------------
@kernel_op("atanh", n_out=1, n_in=2)
def atanh_coeff(tc, k, o, a, d):
    """b = atanh(a) with companion d = 1 - a^2: b' d = a'."""
    r_o, r_a, r_d = tc[o], tc[a], tc[d]
    if k == 0:
        x = r_a[0]
        r_o[0] = math.atanh(x) if abs(x) < 1.0 else (math.copysign(math.inf, x) if abs(x) == 1.0
                                                       else math.nan)
    else:
        quot_rec(r_o, r_d, k, r_a[k])


atanh = register_function(
    "atanh", 1, value=math.atanh,
    derivative=lambda a: [_div(1.0, _sub(1.0, square(a)))],
    decompose=lambda b, a: b.op("atanh", a, b.sub(1.0, b.op("square", a)[0]))[0],
    mp=mpmath.atanh, domain=[(-0.9, 0.9)],
    sympy=lambda sp, a: sp.atanh(a), numpy="arctanh", doc="Inverse hyperbolic tangent.")
