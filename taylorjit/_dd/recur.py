"""Taylor-coefficient recurrences in double-double arithmetic.

The same recurrences as the double kernels of the registry
(``taylorjit/_funcs/*.py``: each kernel's docstring states its formula), with
every coefficient a dd stored in two tables ``H`` (heads) and ``L`` (tails) of
shape ``(n_slots, order + 1)``: ``H[u, k] + L[u, k]`` is the normalised
coefficient ``u^(k)(t0)/k!`` of slot ``u``.  A kernel writes coefficient ``k``
of its outputs from coefficients ``0..k`` of its inputs and ``0..k-1`` of its
outputs; order 0 calls the dd value routines of :mod:`taylorjit._dd.funcs` and
:mod:`taylorjit._dd.special`.

Sums of products (:func:`conv`, :func:`wconv`) accumulate the heads of the
exact products with a two-sum and everything below (the products' low parts
and the two-sums' errors) in one double: the error of a sum of ``n`` terms is
about ``n u^2`` times the sum of the terms' magnitudes (the *envelope*),
``u = 2^-53``, i.e. a few units of ``2^-106`` of the envelope at the orders of
an integrator.  The summation order is plain (j ascending): dd results are not
meant to match the double kernels bit for bit.
"""
import mpmath
import numpy as np
from numba import njit

from .._funcs._common import fma
from .._symbolic.registry import no_refcount_opts
from . import funcs as F
from . import special as S
from .arith import add, add_d, div, div_d, mul, mul_d, sqr, sub, two_sum

_J = dict(nogil=True, error_model="numpy", **no_refcount_opts())


def _reciprocals(n):
    out = np.zeros((n, 2))
    with mpmath.workprec(200):
        for k in range(1, n):
            q = mpmath.mpf(1) / k
            out[k, 0] = float(q)
            out[k, 1] = float(q - out[k, 0])
    return out


#: 1/k as dd pairs (k < 1024): the divisions by k of the recurrences become products
#: (a division costs ~4x a multiplication and sits on the recurrences' dependency chain)
INV_K = _reciprocals(1024)


@njit(**_J)
def div_k(h, l, k):
    """(h, l) / k for an integer k >= 1 (error <= 5u^2 below 1024, else 3u^2)."""
    if k < 1024:
        return mul(h, l, INV_K[k, 0], INV_K[k, 1])
    return div_d(h, l, float(k))


# --------------------------------------------------------------------------- sums of products
@njit(**_J)
def conv(Ha, La, Hb, Lb, k, lo, hi):
    """sum_{j=lo}^{hi-1} a_j b_{k-j} (dd)."""
    sh = 0.0
    sl = 0.0
    for j in range(lo, hi):
        ah = Ha[j]
        bh = Hb[k - j]
        ph = ah * bh
        pe = fma(ah, bh, -ph)
        pl = fma(ah, Lb[k - j], fma(La[j], bh, pe))
        s = sh + ph
        bb = s - sh
        sl += ((sh - (s - bb)) + (ph - bb)) + pl
        sh = s
    return two_sum(sh, sl)


@njit(**_J)
def wconv(Ha, La, Hb, Lb, k, lo, hi):
    """sum_{j=lo}^{hi-1} j a_j b_{k-j} (dd)."""
    sh = 0.0
    sl = 0.0
    for j in range(lo, hi):
        ah = Ha[j]
        bh = Hb[k - j]
        ph = ah * bh
        pe = fma(ah, bh, -ph)
        pl = fma(ah, Lb[k - j], fma(La[j], bh, pe))
        fj = float(j)
        qh = fj * ph
        ql = fma(fj, pl, fma(fj, ph, -qh))
        s = sh + qh
        bb = s - sh
        sl += ((sh - (s - bb)) + (qh - bb)) + ql
        sh = s
    return two_sum(sh, sl)


@njit(**_J)
def sqconv(Ha, La, k):
    """Coefficient k of a^2: 2 sum_{j<k/2} a_j a_{k-j} (+ a_{k/2}^2 when k is even)."""
    if k == 0:
        return sqr(Ha[0], La[0])
    sh, sl = conv(Ha, La, Ha, La, k, 0, (k + 1) // 2)
    sh, sl = 2.0 * sh, 2.0 * sl
    if k % 2 == 0:
        qh, ql = sqr(Ha[k // 2], La[k // 2])
        sh, sl = add(sh, sl, qh, ql)
    return sh, sl


@njit(**_J)
def _dsum(Ha, La, Hb, Lb, k):
    """(1/k) sum_{j=1}^{k} j a_j b_{k-j}."""
    sh, sl = wconv(Ha, La, Hb, Lb, k, 1, k + 1)
    return div_k(sh, sl, k)


@njit(**_J)
def _quot(H, L, k, o, d, nh, nl):
    """o_k from o' d = n': (n_k - (1/k) sum_{j=1}^{k-1} j o_j d_{k-j}) / d_0."""
    sh, sl = wconv(H[o], L[o], H[d], L[d], k, 1, k)
    sh, sl = div_k(sh, sl, k)
    sh, sl = sub(nh, nl, sh, sl)
    H[o, k], L[o, k] = div(sh, sl, H[d, 0], L[d, 0])


# --------------------------------------------------------------------------- leaves
@njit(**_J)
def k_const(H, L, k, o, c):
    H[o, k] = c if k == 0 else 0.0
    L[o, k] = 0.0


@njit(**_J)
def k_par(H, L, k, o, i, pH, pL):
    if k == 0:
        H[o, 0] = pH[i]
        L[o, 0] = pL[i]
    else:
        H[o, k] = 0.0
        L[o, k] = 0.0


@njit(**_J)
def k_time(H, L, k, o, tH, tL):
    if k == 0:
        H[o, 0] = tH
        L[o, 0] = tL
    else:
        H[o, k] = 1.0 if k == 1 else 0.0
        L[o, k] = 0.0


# --------------------------------------------------------------------------- arithmetic
@njit(**_J)
def k_add(H, L, k, o, a, b):
    H[o, k], L[o, k] = add(H[a, k], L[a, k], H[b, k], L[b, k])


@njit(**_J)
def k_sub(H, L, k, o, a, b):
    H[o, k], L[o, k] = sub(H[a, k], L[a, k], H[b, k], L[b, k])


@njit(**_J)
def k_neg(H, L, k, o, a):
    H[o, k] = -H[a, k]
    L[o, k] = -L[a, k]


@njit(**_J)
def k_add_s(H, L, k, o, a, s):
    if k == 0:
        H[o, 0], L[o, 0] = add(H[a, 0], L[a, 0], H[s, 0], L[s, 0])
    else:
        H[o, k] = H[a, k]
        L[o, k] = L[a, k]


@njit(**_J)
def k_sub_us(H, L, k, o, a, s):
    if k == 0:
        H[o, 0], L[o, 0] = sub(H[a, 0], L[a, 0], H[s, 0], L[s, 0])
    else:
        H[o, k] = H[a, k]
        L[o, k] = L[a, k]


@njit(**_J)
def k_sub_su(H, L, k, o, s, a):
    if k == 0:
        H[o, 0], L[o, 0] = sub(H[s, 0], L[s, 0], H[a, 0], L[a, 0])
    else:
        H[o, k] = -H[a, k]
        L[o, k] = -L[a, k]


@njit(**_J)
def k_mul(H, L, k, o, a, b):
    H[o, k], L[o, k] = conv(H[a], L[a], H[b], L[b], k, 0, k + 1)


@njit(**_J)
def k_mul_s(H, L, k, o, a, s):
    H[o, k], L[o, k] = mul(H[a, k], L[a, k], H[s, 0], L[s, 0])


@njit(**_J)
def k_div(H, L, k, o, a, b):
    if k == 0:
        H[o, 0], L[o, 0] = div(H[a, 0], L[a, 0], H[b, 0], L[b, 0])
    else:
        sh, sl = conv(H[b], L[b], H[o], L[o], k, 1, k + 1)
        sh, sl = sub(H[a, k], L[a, k], sh, sl)
        H[o, k], L[o, k] = div(sh, sl, H[b, 0], L[b, 0])


@njit(**_J)
def k_div_us(H, L, k, o, a, s):
    H[o, k], L[o, k] = div(H[a, k], L[a, k], H[s, 0], L[s, 0])


@njit(**_J)
def k_div_su(H, L, k, o, s, a):
    if k == 0:
        H[o, 0], L[o, 0] = div(H[s, 0], L[s, 0], H[a, 0], L[a, 0])
    else:
        sh, sl = conv(H[a], L[a], H[o], L[o], k, 1, k + 1)
        H[o, k], L[o, k] = div(-sh, -sl, H[a, 0], L[a, 0])


@njit(**_J)
def k_square(H, L, k, o, a):
    H[o, k], L[o, k] = sqconv(H[a], L[a], k)


@njit(**_J)
def k_sqrt(H, L, k, o, a):
    if k == 0:
        H[o, 0], L[o, 0] = F.sqrt(H[a, 0], L[a, 0])
    else:
        sh, sl = conv(H[o], L[o], H[o], L[o], k, 1, (k + 1) // 2)
        sh, sl = 2.0 * sh, 2.0 * sl
        if k % 2 == 0:
            qh, ql = sqr(H[o, k // 2], L[o, k // 2])
            sh, sl = add(sh, sl, qh, ql)
        sh, sl = sub(H[a, k], L[a, k], sh, sl)
        H[o, k], L[o, k] = div(sh, sl, 2.0 * H[o, 0], 2.0 * L[o, 0])


@njit(**_J)
def _pow_sums(Ha, La, Hb, Lb, k):
    """(S1, T) = (sum_{i=1}^{k} i a_i b_{k-i}, sum_{i=1}^{k} a_i b_{k-i}) from one
    exact product per term."""
    sh = 0.0
    sl = 0.0
    th = 0.0
    tl = 0.0
    for i in range(1, k + 1):
        ah = Ha[i]
        bh = Hb[k - i]
        ph = ah * bh
        pl = fma(ah, Lb[k - i], fma(La[i], bh, fma(ah, bh, -ph)))
        u = th + ph
        bb = u - th
        tl += ((th - (u - bb)) + (ph - bb)) + pl
        th = u
        fi = float(i)
        qh = fi * ph
        ql = fma(fi, pl, fma(fi, ph, -qh))
        u = sh + qh
        bb = u - sh
        sl += ((sh - (u - bb)) + (qh - bb)) + ql
        sh = u
    s1h, s1l = two_sum(sh, sl)
    t1h, t1l = two_sum(th, tl)
    return s1h, s1l, t1h, t1l


@njit(**_J)
def k_pow(H, L, k, o, a, c):
    """b = a^c.  The double kernel's b_k = 1/(k a_0) sum_{j=0}^{k-1} (k c - j (c + 1))
    a_{k-j} b_j, with i = k - j, is ((c + 1)/k S1 - T) / a_0 where
    S1 = sum_{i=1}^{k} i a_i b_{k-i} and T = sum_{i=1}^{k} a_i b_{k-i}: integer
    weights (exact) and one product per term; c + 1 is an exact dd."""
    if k == 0:
        H[o, 0], L[o, 0] = S.pow_c(H[a, 0], L[a, 0], c)
    else:
        s1h, s1l, th, tl = _pow_sums(H[a], L[a], H[o], L[o], k)
        ch, cl = two_sum(c, 1.0)
        s1h, s1l = mul(s1h, s1l, ch, cl)
        s1h, s1l = div_k(s1h, s1l, k)
        sh, sl = sub(s1h, s1l, th, tl)
        H[o, k], L[o, k] = div(sh, sl, H[a, 0], L[a, 0])


# --------------------------------------------------------------------------- exp, log
@njit(**_J)
def k_exp(H, L, k, o, a):
    if k == 0:
        H[o, 0], L[o, 0] = F.exp(H[a, 0], L[a, 0])
    else:
        H[o, k], L[o, k] = _dsum(H[a], L[a], H[o], L[o], k)


@njit(**_J)
def k_expm1(H, L, k, o, a):
    if k == 0:
        H[o, 0], L[o, 0] = F.expm1(H[a, 0], L[a, 0])
    else:
        sh, sl = _dsum(H[a], L[a], H[o], L[o], k)
        H[o, k], L[o, k] = add(sh, sl, H[a, k], L[a, k])


@njit(**_J)
def k_log(H, L, k, o, a):
    if k == 0:
        H[o, 0], L[o, 0] = F.log(H[a, 0], L[a, 0])
    else:
        _quot(H, L, k, o, a, H[a, k], L[a, k])


@njit(**_J)
def k_log1p(H, L, k, o, a):
    if k == 0:
        H[o, 0], L[o, 0] = F.log1p(H[a, 0], L[a, 0])
    else:
        sh, sl = wconv(H[o], L[o], H[a], L[a], k, 1, k)
        sh, sl = div_k(sh, sl, k)
        sh, sl = sub(H[a, k], L[a, k], sh, sl)
        dh, dl = add_d(H[a, 0], L[a, 0], 1.0)
        H[o, k], L[o, k] = div(sh, sl, dh, dl)


# --------------------------------------------------------------------------- trigonometric
@njit(**_J)
def k_sincos(H, L, k, s, c, a):
    if k == 0:
        H[s, 0], L[s, 0], H[c, 0], L[c, 0] = F.sincos(H[a, 0], L[a, 0])
    else:
        H[s, k], L[s, k] = _dsum(H[a], L[a], H[c], L[c], k)
        ch, cl = _dsum(H[a], L[a], H[s], L[s], k)
        H[c, k] = -ch
        L[c, k] = -cl


@njit(**_J)
def k_tan(H, L, k, t, w, a):
    if k == 0:
        H[t, 0], L[t, 0] = F.tan(H[a, 0], L[a, 0])
    else:
        sh, sl = _dsum(H[a], L[a], H[w], L[w], k)
        H[t, k], L[t, k] = add(sh, sl, H[a, k], L[a, k])
    H[w, k], L[w, k] = sqconv(H[t], L[t], k)


@njit(**_J)
def k_asin(H, L, k, o, a, s):
    if k == 0:
        H[o, 0], L[o, 0] = F.asin(H[a, 0], L[a, 0])
    else:
        _quot(H, L, k, o, s, H[a, k], L[a, k])


@njit(**_J)
def k_acos(H, L, k, o, a, s):
    if k == 0:
        H[o, 0], L[o, 0] = F.acos(H[a, 0], L[a, 0])
    else:
        _quot(H, L, k, o, s, -H[a, k], -L[a, k])


@njit(**_J)
def k_atan(H, L, k, o, a, d):
    if k == 0:
        H[o, 0], L[o, 0] = F.atan(H[a, 0], L[a, 0])
    else:
        _quot(H, L, k, o, d, H[a, k], L[a, k])


@njit(**_J)
def k_atan2(H, L, k, o, y, x, d):
    if k == 0:
        H[o, 0], L[o, 0] = F.atan2(H[y, 0], L[y, 0], H[x, 0], L[x, 0])
    else:
        ah, al = wconv(H[y], L[y], H[x], L[x], k, 1, k + 1)     # sum j y_j x_{k-j}
        bh, bl = wconv(H[x], L[x], H[y], L[y], k, 1, k + 1)     # sum j x_j y_{k-j}
        nh, nl = sub(ah, al, bh, bl)
        nh, nl = div_k(nh, nl, k)
        _quot(H, L, k, o, d, nh, nl)


# --------------------------------------------------------------------------- hyperbolic
@njit(**_J)
def k_sinhcosh(H, L, k, s, c, a):
    if k == 0:
        H[s, 0], L[s, 0], H[c, 0], L[c, 0] = F.sinhcosh(H[a, 0], L[a, 0])
    else:
        H[s, k], L[s, k] = _dsum(H[a], L[a], H[c], L[c], k)
        H[c, k], L[c, k] = _dsum(H[a], L[a], H[s], L[s], k)


@njit(**_J)
def k_tanh(H, L, k, t, w, a):
    if k == 0:
        H[t, 0], L[t, 0] = F.tanh(H[a, 0], L[a, 0])
    else:
        sh, sl = _dsum(H[a], L[a], H[w], L[w], k)
        H[t, k], L[t, k] = sub(H[a, k], L[a, k], sh, sl)
    H[w, k], L[w, k] = sqconv(H[t], L[t], k)


@njit(**_J)
def k_asinh(H, L, k, o, a, s):
    if k == 0:
        H[o, 0], L[o, 0] = F.asinh(H[a, 0], L[a, 0])
    else:
        _quot(H, L, k, o, s, H[a, k], L[a, k])


@njit(**_J)
def k_acosh(H, L, k, o, a, s):
    if k == 0:
        H[o, 0], L[o, 0] = F.acosh(H[a, 0], L[a, 0])
    else:
        _quot(H, L, k, o, s, H[a, k], L[a, k])


@njit(**_J)
def k_atanh(H, L, k, o, a, d):
    if k == 0:
        H[o, 0], L[o, 0] = F.atanh(H[a, 0], L[a, 0])
    else:
        _quot(H, L, k, o, d, H[a, k], L[a, k])


# --------------------------------------------------------------------------- special
@njit(**_J)
def k_erf(H, L, k, o, a, e):
    if k == 0:
        H[o, 0], L[o, 0] = S.erf(H[a, 0], L[a, 0])
    else:
        sh, sl = _dsum(H[a], L[a], H[e], L[e], k)
        H[o, k], L[o, k] = mul(sh, sl, F._TWO_OVER_SQRT_PI_1, F._TWO_OVER_SQRT_PI_2)


@njit(**_J)
def k_sigmoid(H, L, k, s, w, a):
    if k == 0:
        H[s, 0], L[s, 0] = S.sigmoid(H[a, 0], L[a, 0])
    else:
        ah, al = wconv(H[a], L[a], H[s], L[s], k, 1, k + 1)
        bh, bl = wconv(H[a], L[a], H[w], L[w], k, 1, k + 1)
        sh, sl = sub(ah, al, bh, bl)
        H[s, k], L[s, k] = div_k(sh, sl, k)
    H[w, k], L[w, k] = sqconv(H[s], L[s], k)


@njit(**_J)
def _sincos_of(H, L, k, x, s, c):
    """Coefficient k >= 1 of s = sin x, c = cos x."""
    H[s, k], L[s, k] = _dsum(H[x], L[x], H[c], L[c], k)
    ch, cl = _dsum(H[x], L[x], H[s], L[s], k)
    H[c, k] = -ch
    L[c, k] = -cl


@njit(**_J)
def _kep_solve_k(H, L, k, X, w, ah, al):
    """X_k = (acc + sum_{j=1}^{k-1} j X_j w_{k-j}) / (k (1 - w_0))."""
    sh, sl = wconv(H[X], L[X], H[w], L[w], k, 1, k)
    sh, sl = add(sh, sl, ah, al)
    dh, dl = add_d(-H[w, 0], -L[w, 0], 1.0)
    dh, dl = mul_d(dh, dl, float(k))
    H[X, k], L[X, k] = div(sh, sl, dh, dl)


@njit(**_J)
def k_kepE(H, L, k, E, s, c, w, e, M):
    if k == 0:
        (H[E, 0], L[E, 0], H[s, 0], L[s, 0],
         H[c, 0], L[c, 0]) = S.kepE(H[e, 0], L[e, 0], H[M, 0], L[M, 0])
    else:
        ah, al = mul_d(H[M, k], L[M, k], float(k))
        bh, bl = wconv(H[e], L[e], H[s], L[s], k, 1, k + 1)
        ah, al = add(ah, al, bh, bl)
        _kep_solve_k(H, L, k, E, w, ah, al)
        _sincos_of(H, L, k, E, s, c)
    H[w, k], L[w, k] = conv(H[e], L[e], H[c], L[c], k, 0, k + 1)


@njit(**_J)
def k_kepF(H, L, k, Fo, s, c, w, h, kk, lam):
    if k == 0:
        (H[Fo, 0], L[Fo, 0], H[s, 0], L[s, 0],
         H[c, 0], L[c, 0]) = S.kepF(H[h, 0], L[h, 0], H[kk, 0], L[kk, 0], H[lam, 0], L[lam, 0])
    else:
        ah, al = mul_d(H[lam, k], L[lam, k], float(k))
        bh, bl = wconv(H[kk], L[kk], H[s], L[s], k, 1, k + 1)
        ah, al = add(ah, al, bh, bl)
        bh, bl = wconv(H[h], L[h], H[c], L[c], k, 1, k + 1)
        ah, al = sub(ah, al, bh, bl)
        _kep_solve_k(H, L, k, Fo, w, ah, al)
        _sincos_of(H, L, k, Fo, s, c)
    ah, al = conv(H[h], L[h], H[s], L[s], k, 0, k + 1)
    bh, bl = conv(H[kk], L[kk], H[c], L[c], k, 0, k + 1)
    H[w, k], L[w, k] = add(ah, al, bh, bl)


@njit(**_J)
def k_kepDE(H, L, k, D, s, c, w, s0, c0, M):
    if k == 0:
        (H[D, 0], L[D, 0], H[s, 0], L[s, 0],
         H[c, 0], L[c, 0]) = S.kepDE(H[s0, 0], L[s0, 0], H[c0, 0], L[c0, 0], H[M, 0], L[M, 0])
    else:
        ah, al = sub(H[M, k], L[M, k], H[s0, k], L[s0, k])
        ah, al = mul_d(ah, al, float(k))
        bh, bl = wconv(H[s0], L[s0], H[c], L[c], k, 1, k + 1)
        ah, al = add(ah, al, bh, bl)
        bh, bl = wconv(H[c0], L[c0], H[s], L[s], k, 1, k + 1)
        ah, al = add(ah, al, bh, bl)
        _kep_solve_k(H, L, k, D, w, ah, al)
        _sincos_of(H, L, k, D, s, c)
    ah, al = conv(H[c0], L[c0], H[c], L[c], k, 0, k + 1)
    bh, bl = conv(H[s0], L[s0], H[s], L[s], k, 0, k + 1)
    H[w, k], L[w, k] = sub(ah, al, bh, bl)


# --------------------------------------------------------------------------- relu
@njit(**_J)
def k_relup(H, L, k, o, a):
    H[o, k] = (1.0 if H[a, 0] > 0.0 else 0.0) if k == 0 else 0.0
    L[o, k] = 0.0


@njit(**_J)
def k_relu(H, L, k, o, a, m):
    if k == 0:
        pos = H[a, 0] > 0.0
        H[o, 0] = H[a, 0] if pos else 0.0
        L[o, 0] = L[a, 0] if pos else 0.0
    else:
        H[o, k] = H[m, 0] * H[a, k]
        L[o, k] = H[m, 0] * L[a, k]
