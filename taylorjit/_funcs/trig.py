"""sin, cos, tan, asin, acos, atan, atan2.

sin and cos are one kernel operation with two outputs (each needs the other):
s' = a' c, c' = -a' s (Jorba & Zou 2005, eq. (10)).  tan carries its square as
a companion: t' = (1 + t^2) a'.  The inverse functions carry the algebraic
factor of their derivative as a companion slot built from ordinary operations
(sqrt(1 - a^2), 1 + a^2, x^2 + y^2) and use the quotient recurrence
``quot_rec``.
"""
import math

import mpmath

from .._symbolic.expr import add as _add, div as _div, neg as _neg, sub as _sub
from .._symbolic.registry import kernel_op, register_function
from ._common import dsum, fma, pwsum, quot_rec, square_rec
from .arith import sqrt, square


# --- sin / cos ------------------------------------------------------------------------------
@kernel_op("sincos", n_out=2, n_in=1)
def sincos_coeff(tc, k, s, c, a):
    """s = sin(a), c = cos(a): s_k = (1/k) sum j a_j c_{k-j}, c_k = -(1/k) sum j a_j s_{k-j}."""
    r_s, r_c, r_a = tc[s], tc[c], tc[a]
    if k == 0:
        r_s[0] = math.sin(r_a[0])
        r_c[0] = math.cos(r_a[0])
    else:
        ss = fma(k * r_a[k], r_c[0], pwsum(r_a, r_c, k, 1, k))     # newest last (_common)
        cc = fma(k * r_a[k], r_s[0], pwsum(r_a, r_s, k, 1, k))
        r_s[k] = ss / k
        r_c[k] = -cc / k


sin = register_function(
    "sin", 1, value=math.sin,
    derivative=lambda a: [cos(a)],
    decompose=lambda b, a: b.op("sincos", a)[0],
    mp=mpmath.sin, domain=[(-4.0, 4.0)],
    sympy=lambda sp, a: sp.sin(a), numpy="sin", doc="Sine.")

cos = register_function(
    "cos", 1, value=math.cos,
    derivative=lambda a: [_neg(sin(a))],
    decompose=lambda b, a: b.op("sincos", a)[1],
    mp=mpmath.cos, domain=[(-4.0, 4.0)],
    sympy=lambda sp, a: sp.cos(a), numpy="cos", doc="Cosine.")


# --- tan ------------------------------------------------------------------------------------
@kernel_op("tan", n_out=2, n_in=1)
def tan_coeff(tc, k, t, w, a):
    """t = tan(a), companion w = t^2: t' = (1 + w) a',
    t_k = a_k + (1/k) sum_{j=1}^{k} j a_j w_{k-j}; then w_k as a symmetric square."""
    r_t, r_w, r_a = tc[t], tc[w], tc[a]
    if k == 0:
        r_t[0] = math.tan(r_a[0])
    else:
        r_t[k] = r_a[k] + dsum(r_a, r_w, k)
    r_w[k] = square_rec(r_t, k)


def _tan_decompose(b, a):
    t, w = b.op("tan", a)
    b.alias("square", (t,), (w,))
    return t


tan = register_function(
    "tan", 1, value=math.tan,
    derivative=lambda a: [_add(1.0, square(tan(a)))],
    decompose=_tan_decompose,
    mp=mpmath.tan, domain=[(-1.3, 1.3)],
    sympy=lambda sp, a: sp.tan(a), numpy="tan", doc="Tangent.")


# --- asin / acos ------------------------------------------------------------------------------
@kernel_op("asin", n_out=1, n_in=2)
def asin_coeff(tc, k, o, a, s):
    """b = asin(a) with companion s = sqrt(1 - a^2): b' s = a'."""
    r_o, r_a, r_s = tc[o], tc[a], tc[s]
    if k == 0:
        r_o[0] = math.asin(r_a[0]) if abs(r_a[0]) <= 1.0 else math.nan
    else:
        quot_rec(r_o, r_s, k, r_a[k])


@kernel_op("acos", n_out=1, n_in=2)
def acos_coeff(tc, k, o, a, s):
    """b = acos(a) with companion s = sqrt(1 - a^2): b' s = -a'."""
    r_o, r_a, r_s = tc[o], tc[a], tc[s]
    if k == 0:
        r_o[0] = math.acos(r_a[0]) if abs(r_a[0]) <= 1.0 else math.nan
    else:
        quot_rec(r_o, r_s, k, -r_a[k])


def _one_minus_sq_sqrt(b, a):
    return b.op("sqrt", b.sub(1.0, b.op("square", a)[0]))[0]


asin = register_function(
    "asin", 1, value=math.asin,
    derivative=lambda a: [_div(1.0, sqrt(_sub(1.0, square(a))))],
    decompose=lambda b, a: b.op("asin", a, _one_minus_sq_sqrt(b, a))[0],
    mp=mpmath.asin, domain=[(-0.9, 0.9)],
    sympy=lambda sp, a: sp.asin(a), numpy="arcsin", doc="Inverse sine.")

acos = register_function(
    "acos", 1, value=math.acos,
    derivative=lambda a: [_neg(_div(1.0, sqrt(_sub(1.0, square(a)))))],
    decompose=lambda b, a: b.op("acos", a, _one_minus_sq_sqrt(b, a))[0],
    mp=mpmath.acos, domain=[(-0.9, 0.9)],
    sympy=lambda sp, a: sp.acos(a), numpy="arccos", doc="Inverse cosine.")


# --- atan ---------------------------------------------------------------------------------------
@kernel_op("atan", n_out=1, n_in=2)
def atan_coeff(tc, k, o, a, d):
    """b = atan(a) with companion d = 1 + a^2: b' d = a'."""
    r_o, r_a, r_d = tc[o], tc[a], tc[d]
    if k == 0:
        r_o[0] = math.atan(r_a[0])
    else:
        quot_rec(r_o, r_d, k, r_a[k])


atan = register_function(
    "atan", 1, value=math.atan,
    derivative=lambda a: [_div(1.0, _add(1.0, square(a)))],
    decompose=lambda b, a: b.op("atan", a, b.add(1.0, b.op("square", a)[0]))[0],
    mp=mpmath.atan, domain=[(-3.0, 3.0)],
    sympy=lambda sp, a: sp.atan(a), numpy="arctan", doc="Inverse tangent.")


# --- atan2 ----------------------------------------------------------------------------------------
@kernel_op("atan2", n_out=1, n_in=3)
def atan2_coeff(tc, k, o, y, x, d):
    """b = atan2(y, x) with companion d = x^2 + y^2: b' d = x y' - y x', so
    b_k = ((1/k) sum_{j=1}^{k} j (x_{k-j} y_j - y_{k-j} x_j)
           - (1/k) sum_{j=1}^{k-1} j b_j d_{k-j}) / d_0."""
    r_o, r_y, r_x, r_d = tc[o], tc[y], tc[x], tc[d]
    if k == 0:
        r_o[0] = math.atan2(r_y[0], r_x[0])
    else:
        acc = 0.0
        for j in range(1, k + 1):
            acc += j * (r_x[k - j] * r_y[j] - r_y[k - j] * r_x[j])
        quot_rec(r_o, r_d, k, acc / k)


def _atan2_decompose(b, y, x):
    d = b.add(b.op("square", x)[0], b.op("square", y)[0])
    return b.op("atan2", y, x, d)[0]


def _atan2_partials(y, x):
    d = _add(square(x), square(y))
    return [_div(x, d), _neg(_div(y, d))]


atan2 = register_function(
    "atan2", 2, value=math.atan2,
    derivative=_atan2_partials,
    decompose=_atan2_decompose,
    mp=mpmath.atan2, domain=[(0.3, 2.0), (-2.0, 2.0)],
    sympy=lambda sp, y, x: sp.atan2(y, x), numpy="arctan2",
    doc="atan2(y, x): angle of the point (x, y), in (-pi, pi].")
