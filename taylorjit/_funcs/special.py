"""erf, sigmoid and kepE (the eccentric anomaly).

* erf: b' = (2/sqrt(pi)) exp(-a^2) a', companion e = exp(-a^2).
* sigmoid: s = 1/(1 + exp(-a)), s' = (s - s^2) a', companion w = s^2.
* kepE(e, M): the solution E of Kepler's equation E - e sin E = M.  Its
  derivative E' (1 - e cos E) = M' + e' sin E gives (with w = e cos E)
  E_k = [k M_k + sum_{j=1}^{k} j e_j s_{k-j} + sum_{j=1}^{k-1} j E_j w_{k-j}] / (k (1 - w_0)),
  then sin E, cos E (companions, shared with any sin(E)/cos(E) in the
  expression) and w follow at the same order.  Same construction as heyoka's
  kepE (Biscani & Izzo, heyoka AD notes).
"""
import math

import mpmath
from numba import njit

from .._symbolic.expr import div as _div, mul as _mul, neg as _neg, sub as _sub
from .._symbolic.registry import kernel_op, register_function
from ._common import dsum, square_rec
from .arith import square
from .explog import exp
from .trig import cos, sin

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_TWO_PI = 2.0 * math.pi


# --- erf --------------------------------------------------------------------------------------
@kernel_op("erf", n_out=1, n_in=2)
def erf_coeff(tc, k, o, a, e):
    """b = erf(a) with companion e = exp(-a^2): b_k = (2/sqrt(pi)) (1/k) sum_{j=1}^{k} j a_j e_{k-j}."""
    r_o, r_a, r_e = tc[o], tc[a], tc[e]
    if k == 0:
        r_o[0] = math.erf(r_a[0])
    else:
        r_o[k] = _TWO_OVER_SQRT_PI * dsum(r_a, r_e, k)


def _erf_decompose(b, a):
    e = b.op("exp", b.op("neg", b.op("square", a)[0])[0])[0]
    return b.op("erf", a, e)[0]


erf = register_function(
    "erf", 1, value=math.erf,
    derivative=lambda a: [_mul(_TWO_OVER_SQRT_PI, exp(_neg(square(a))))],
    decompose=_erf_decompose,
    mp=mpmath.erf, domain=[(-2.5, 2.5)],
    sympy=lambda sp, a: sp.erf(a), numpy=None, doc="Error function.")


# --- sigmoid ------------------------------------------------------------------------------------
@kernel_op("sigmoid", n_out=2, n_in=1)
def sigmoid_coeff(tc, k, s, w, a):
    """s = 1/(1 + exp(-a)), companion w = s^2: s_k = (1/k) sum_{j=1}^{k} j a_j (s - w)_{k-j}."""
    r_s, r_w, r_a = tc[s], tc[w], tc[a]
    if k == 0:
        r_s[0] = 1.0 / (1.0 + math.exp(-r_a[0]))
    else:
        acc = 0.0
        for j in range(1, k + 1):
            acc += j * r_a[j] * (r_s[k - j] - r_w[k - j])
        r_s[k] = acc / k
    r_w[k] = square_rec(r_s, k)


def _sigmoid_decompose(b, a):
    s, w = b.op("sigmoid", a)
    b.alias("square", (s,), (w,))
    return s


def _sympy_sigmoid(sp, a):
    from .._symbolic.sympy_bridge import sigmoid as _s

    return _s(a)


sigmoid = register_function(
    "sigmoid", 1, value=lambda x: 1.0 / (1.0 + math.exp(-x)),
    derivative=lambda a: [_sub(sigmoid(a), square(sigmoid(a)))],
    decompose=_sigmoid_decompose,
    mp=lambda x: 1 / (1 + mpmath.exp(-x)), domain=[(-4.0, 4.0)],
    sympy=_sympy_sigmoid, numpy=None, doc="Logistic sigmoid 1/(1 + exp(-x)).")


# --- kepE -----------------------------------------------------------------------------------------
@njit(cache=True, nogil=True, error_model="numpy")
def kepE_solve(e, M):
    """Solve E - e sin E = M for 0 <= e < 1 (NaN otherwise): M is reduced to
    [-pi, pi] (so that small |M| keeps full relative accuracy: no cancellation
    when the reduction is added back), Newton's method runs inside the bracket
    [-pi, pi] (bisection when a Newton step leaves it), and the reduction is
    added back."""
    if not (e >= 0.0 and e < 1.0) or not math.isfinite(M):
        return math.nan
    n = round(M / _TWO_PI)
    Mr = M - n * _TWO_PI
    lo = -math.pi
    hi = math.pi
    if e < 0.8:
        E = Mr + e * math.sin(Mr)
    else:
        E = Mr + 0.85 * e * (1.0 if Mr >= 0.0 else -1.0)
    E = min(max(E, lo), hi)
    for _ in range(100):
        f = E - e * math.sin(E) - Mr
        if f > 0.0:
            hi = E
        elif f < 0.0:
            lo = E
        step = f / (1.0 - e * math.cos(E))
        En = E - step
        if En < lo or En > hi:
            En = 0.5 * (lo + hi)
        if abs(En - E) <= 2.0 * 2.220446049250313e-16 * abs(En):
            E = En
            break
        E = En
    return E + n * _TWO_PI if n != 0 else E


@kernel_op("kepE", n_out=4, n_in=2)
def kepE_coeff(tc, k, E, s, c, w, e, M):
    """E = kepE(e, M) with companions s = sin E, c = cos E, w = e cos E (see module doc)."""
    r_E, r_s, r_c, r_w, r_e, r_M = tc[E], tc[s], tc[c], tc[w], tc[e], tc[M]
    if k == 0:
        r_E[0] = kepE_solve(r_e[0], r_M[0])
        r_s[0] = math.sin(r_E[0])
        r_c[0] = math.cos(r_E[0])
    else:
        acc = k * r_M[k]
        for j in range(1, k + 1):
            acc += j * r_e[j] * r_s[k - j]
        for j in range(1, k):
            acc += j * r_E[j] * r_w[k - j]
        r_E[k] = acc / (k * (1.0 - r_w[0]))
        ss = 0.0
        cc = 0.0
        for j in range(1, k + 1):
            ss += j * r_E[j] * r_c[k - j]
            cc += j * r_E[j] * r_s[k - j]
        r_s[k] = ss / k
        r_c[k] = -cc / k
    acc = 0.0
    for j in range(k + 1):
        acc += r_e[j] * r_c[k - j]
    r_w[k] = acc


def _kepE_decompose(b, e, M):
    E, s, c, w = b.op("kepE", e, M)
    b.alias("sincos", (E,), (s, c))
    return E


def _kepE_partials(e, M):
    E = kepE(e, M)
    den = _sub(1.0, _mul(e, cos(E)))
    return [_div(sin(E), den), _div(1.0, den)]


def _mp_kepE(e, M):
    """mpmath reference: Newton's method from the double-precision root, the working
    precision doubled each step (quadratic convergence; the root is unique for
    0 <= e < 1 since E - e sin E is increasing).  ~5x faster than findroot at the
    thousands of bits that mpmath.taylor uses for high derivatives."""
    target = mpmath.mp.prec + 20
    E = mpmath.mpf(kepE_solve.py_func(float(e), float(M)))
    prec = 40
    while True:
        prec = min(2 * prec, target)
        with mpmath.workprec(prec):
            E = E - (E - e * mpmath.sin(E) - M) / (1 - e * mpmath.cos(E))
        if prec == target:
            break
    with mpmath.workprec(target):  # one more full-precision step for safety
        E = E - (E - e * mpmath.sin(E) - M) / (1 - e * mpmath.cos(E))
    return +E


def _sympy_kepE(sp, e, M):
    from .._symbolic.sympy_bridge import kepE as _k

    return _k(e, M)


kepE = register_function(
    "kepE", 2, value=kepE_solve.py_func,
    derivative=_kepE_partials,
    decompose=_kepE_decompose,
    mp=_mp_kepE, domain=[(0.05, 0.9), (-4.0, 8.0)],
    sympy=_sympy_kepE, numpy=None,
    doc="kepE(e, M): eccentric anomaly E solving E - e sin(E) = M (0 <= e < 1; NaN otherwise).")
