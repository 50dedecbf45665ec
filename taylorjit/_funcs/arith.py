"""Arithmetic kernel operations: leaves, + - * /, square, sqrt, real powers.

Notation (all kernels): ``tc[u, k]`` is the normalised Taylor coefficient
``u^(k)(t0)/k!`` of slot ``u``; a kernel writes coefficient ``k`` of its
outputs given coefficients ``0..k`` of its inputs and ``0..k-1`` of its outputs.
``s`` slots are *scalars* (constants, parameters): only ``tc[s, 0]`` is
non-zero.  Recurrences: Griewank & Walther, *Evaluating Derivatives*, 2nd ed.,
Table 13.1/13.2; Jorba & Zou, Exp. Math. 14 (2005), section 3.
"""
import math

import mpmath
from numba import njit

from .._symbolic.registry import kernel_op, register_function
from ._common import fma, psum, square_rec
from .._symbolic.expr import mul as _mul, div as _div


# --- leaves -------------------------------------------------------------------
@kernel_op("const", n_out=1, n_in=0, has_c=True)
def const_coeff(tc, k, o, c):
    """A numeric constant: ``c`` at k = 0, zero above."""
    r_o = tc[o]
    r_o[k] = c if k == 0 else 0.0


@kernel_op("par", n_out=1, n_in=1, uses_pars=True, int_in=True)
def par_coeff(tc, k, o, i, pars):
    """Runtime parameter ``pars[i]`` (constant in time)."""
    r_o = tc[o]
    r_o[k] = pars[i] if k == 0 else 0.0


@kernel_op("time", n_out=1, n_in=0, uses_t=True)
def time_coeff(tc, k, o, t):
    """The independent variable expanded at ``t``: ``t + 1*h``."""
    r_o = tc[o]
    if k == 0:
        r_o[0] = t
    elif k == 1:
        r_o[1] = 1.0
    else:
        r_o[k] = 0.0


# --- + - * / ----------------------------------------------------------------------
@kernel_op("add", n_out=1, n_in=2)
def add_coeff(tc, k, o, a, b):
    """c_k = a_k + b_k."""
    r_o, r_a, r_b = tc[o], tc[a], tc[b]
    r_o[k] = r_a[k] + r_b[k]


@kernel_op("sub", n_out=1, n_in=2)
def sub_coeff(tc, k, o, a, b):
    """c_k = a_k - b_k."""
    r_o, r_a, r_b = tc[o], tc[a], tc[b]
    r_o[k] = r_a[k] - r_b[k]


@kernel_op("neg", n_out=1, n_in=1)
def neg_coeff(tc, k, o, a):
    """c_k = -a_k."""
    r_o, r_a = tc[o], tc[a]
    r_o[k] = -r_a[k]


@kernel_op("add_s", n_out=1, n_in=2)
def add_s_coeff(tc, k, o, a, s):
    """c = a + s, s scalar: c_0 = a_0 + s_0, c_k = a_k."""
    r_o, r_a, r_s = tc[o], tc[a], tc[s]
    r_o[k] = r_a[0] + r_s[0] if k == 0 else r_a[k]


@kernel_op("sub_us", n_out=1, n_in=2)
def sub_us_coeff(tc, k, o, a, s):
    """c = a - s, s scalar."""
    r_o, r_a, r_s = tc[o], tc[a], tc[s]
    r_o[k] = r_a[0] - r_s[0] if k == 0 else r_a[k]


@kernel_op("sub_su", n_out=1, n_in=2)
def sub_su_coeff(tc, k, o, s, a):
    """c = s - a, s scalar."""
    r_o, r_s, r_a = tc[o], tc[s], tc[a]
    r_o[k] = r_s[0] - r_a[0] if k == 0 else -r_a[k]


@kernel_op("mul", n_out=1, n_in=2)
def mul_coeff(tc, k, o, a, b):
    """Cauchy product: c_k = sum_{j=0}^{k} a_j b_{k-j}.

    Summation order: the terms with the newest coefficients (a_0 b_k, a_k b_0)
    come last, so the sum of the older terms does not wait for them: in
    straight-line code this cut the latency chain per order (Lorenz jet ~1.3x)."""
    r_o, r_a, r_b = tc[o], tc[a], tc[b]
    if k == 0:
        r_o[0] = r_a[0] * r_b[0]
    else:
        r_o[k] = fma(r_a[k], r_b[0], fma(r_a[0], r_b[k], psum(r_a, r_b, k, 1, k)))


@kernel_op("mul_s", n_out=1, n_in=2)
def mul_s_coeff(tc, k, o, a, s):
    """c = a * s, s scalar: c_k = a_k s_0."""
    r_o, r_a, r_s = tc[o], tc[a], tc[s]
    r_o[k] = r_a[k] * r_s[0]


@kernel_op("div", n_out=1, n_in=2)
def div_coeff(tc, k, o, a, b):
    """c = a / b: c_k = (a_k - sum_{j=1}^{k} b_j c_{k-j}) / b_0."""
    r_o, r_a, r_b = tc[o], tc[a], tc[b]
    if k == 0:
        r_o[0] = r_a[0] / r_b[0]
    else:
        # the newest inputs (b_k, then a_k) last; see _common
        r_o[k] = (r_a[k] - fma(r_b[k], r_o[0], psum(r_b, r_o, k, 1, k))) / r_b[0]


@kernel_op("div_us", n_out=1, n_in=2)
def div_us_coeff(tc, k, o, a, s):
    """c = a / s, s scalar: c_k = a_k / s_0."""
    r_o, r_a, r_s = tc[o], tc[a], tc[s]
    r_o[k] = r_a[k] / r_s[0]


@kernel_op("div_su", n_out=1, n_in=2)
def div_su_coeff(tc, k, o, s, a):
    """c = s / a, s scalar: c_0 = s_0/a_0, c_k = -(sum_{j=1}^{k} a_j c_{k-j}) / a_0."""
    r_o, r_s, r_a = tc[o], tc[s], tc[a]
    if k == 0:
        r_o[0] = r_s[0] / r_a[0]
    else:
        r_o[k] = -fma(r_a[k], r_o[0], psum(r_a, r_o, k, 1, k)) / r_a[0]


# --- square --------------------------------------------------------------------------
@kernel_op("square", n_out=1, n_in=1)
def square_coeff(tc, k, o, a):
    """c = a^2: the Cauchy product folded by symmetry,
    c_k = 2 sum_{j=0}^{(k-1)//2} a_j a_{k-j} (+ a_{k/2}^2 when k is even)."""
    r_o, r_a = tc[o], tc[a]
    r_o[k] = square_rec(r_a, k)


square = register_function(
    "square", 1,
    value=lambda a: a * a,
    derivative=lambda a: [_mul(2.0, a)],
    decompose=lambda b, a: b.op("square", a)[0],
    mp=lambda a: a * a,
    domain=[(-3.0, 3.0)],
    sympy=lambda sp, a: a ** 2,
    numpy="square",
    doc="square(x) = x*x (one symmetric Cauchy product per coefficient).",
)


# --- sqrt ------------------------------------------------------------------------------
@kernel_op("sqrt", n_out=1, n_in=1)
def sqrt_coeff(tc, k, o, a):
    """b = sqrt(a), from b^2 = a:
    b_k = (a_k - sum_{j=1}^{k-1} b_j b_{k-j}) / (2 b_0), the sum folded by symmetry."""
    r_o, r_a = tc[o], tc[a]
    if k == 0:
        r_o[0] = math.sqrt(r_a[0])
    else:
        acc = 2.0 * psum(r_o, r_o, k, 1, (k + 1) // 2)
        if k % 2 == 0:
            acc = fma(r_o[k // 2], r_o[k // 2], acc)
        r_o[k] = (r_a[k] - acc) / (2.0 * r_o[0])


sqrt = register_function(
    "sqrt", 1,
    value=math.sqrt,
    derivative=lambda a: [_div(0.5, sqrt(a))],
    decompose=lambda b, a: b.op("sqrt", a)[0],
    mp=mpmath.sqrt,
    domain=[(0.2, 4.0)],
    sympy=lambda sp, a: sp.sqrt(a),
    numpy="sqrt",
    doc="Square root; NaN (IEEE) for negative arguments.",
)


# --- real power with a constant exponent --------------------------------------------------
@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _pow_sum(a, b, k, c):
    """sum_{j=1}^{k-1} (k c - j (c + 1)) a_{k-j} b_j in the blocked order of
    :func:`taylorjit._funcs._common.psum` (k >= 1)."""
    n = k - 1
    if n <= 0:
        return 0.0
    kc = k * c
    c1 = c + 1.0
    if n == 1:
        return (kc - c1) * a[k - 1] * b[1]
    if n == 2:
        return fma((kc - (k - 1) * c1) * a[1], b[k - 1], (kc - c1) * a[k - 1] * b[1])
    j = 2
    end = k - 1
    if n < 6:
        acc = (kc - j * c1) * a[k - j] * b[j]
        j += 1
        while j < end:
            acc = fma((kc - j * c1) * a[k - j], b[j], acc)
            j += 1
    else:
        s0 = (kc - j * c1) * a[k - j] * b[j]
        s1 = (kc - (j + 1) * c1) * a[k - j - 1] * b[j + 1]
        s2 = (kc - (j + 2) * c1) * a[k - j - 2] * b[j + 2]
        s3 = (kc - (j + 3) * c1) * a[k - j - 3] * b[j + 3]
        j += 4
        while j + 3 < end:
            s0 = fma((kc - j * c1) * a[k - j], b[j], s0)
            s1 = fma((kc - (j + 1) * c1) * a[k - j - 1], b[j + 1], s1)
            s2 = fma((kc - (j + 2) * c1) * a[k - j - 2], b[j + 2], s2)
            s3 = fma((kc - (j + 3) * c1) * a[k - j - 3], b[j + 3], s3)
            j += 4
        while j < end:
            s0 = fma((kc - j * c1) * a[k - j], b[j], s0)
            j += 1
        acc = (s0 + s1) + (s2 + s3)
    return fma((kc - (k - 1) * c1) * a[1], b[k - 1], fma((kc - c1) * a[k - 1], b[1], acc))


@kernel_op("pow", n_out=1, n_in=1, has_c=True)
def pow_coeff(tc, k, o, a, c):
    """b = a^c for a constant real c (Griewank & Walther Table 13.2):
    b_k = 1/(k a_0) sum_{j=0}^{k-1} (k c - j (c + 1)) a_{k-j} b_j."""
    r_o, r_a = tc[o], tc[a]
    if k == 0:
        r_o[0] = r_a[0] ** c
    else:
        # sum_{j=1}^{k-1} (k c - j (c+1)) a_{k-j} b_j in the blocked order of
        # _common.psum, then the newest input term (j = 0) last
        acc = fma((k * c) * r_a[k], r_o[0], _pow_sum(r_a, r_o, k, c))
        r_o[k] = acc / (k * r_a[0])

