"""Double-double values of the elementary functions (order 0 of the recurrences):
exp, log, the trigonometric and hyperbolic functions and their inverses, with
the dd constants they use.  :mod:`.special` builds the powers, ``erf``, the
sigmoid and the Kepler solvers on these.

Each function takes dd arguments as pairs of doubles and returns ``(hi, lo)``
(sincos/sinhcosh: two pairs).  Measured accuracy (``tests/test_dd.py`` and
``docs/extended-precision.md``): a few units of ``2^-106`` relative, except
where stated.  Methods:

* ``exp``/``expm1``: ``x = k ln2 + r`` (ln 2 in three parts, the products
  exact), ``expm1(r / 32)`` by its Taylor series to degree 12 in dd, five
  doublings ``p <- p (p + 2)``; ``expm1`` keeps relative accuracy near 0.
* ``log``/``log1p``: ``x = 2^e m`` with ``m`` in ``[sqrt(1/2), sqrt(2))``, then one
  Newton correction of the double ``y0 = log1p(m - 1)``:
  ``z = (1 + f) e^(-y0) - 1 = f + em + f em`` with ``em = expm1(-y0)`` in dd,
  ``log1p(f) = y0 + z - z^2/2`` (no cancellation near 1).
* ``sincos``: ``x = k pi/2 + r`` (pi/2 in four parts, products exact),
  ``r = j pi/16 + t`` with a table of ``sin, cos(j pi/16)``, Taylor series of
  ``sin t`` and ``cos t`` (``|t| <= pi/32``) to degree 17/16.  Accurate for
  ``|x| < 2^40`` (no Payne-Hanek reduction beyond).
* ``atan2`` (and ``atan``, ``asin``, ``acos``): one Newton correction of the
  double angle ``z0``: ``z = z0 + (y cos z0 - x sin z0) / (x cos z0 + y sin z0)``
  (the tangent of the residual angle).
* hyperbolic functions from ``expm1``/``exp``, their inverses from ``log1p``.
"""
import math

import mpmath
import numpy as np
from numba import njit

from .._symbolic.registry import no_refcount_opts
from .arith import add, add_d, div, mul, mul_d, sqr, sqrt, sub, two_prod, two_sum

_J = dict(nogil=True, error_model="numpy", **no_refcount_opts())


# --------------------------------------------------------------------------- constants
def _parts(x, n):
    """The first ``n`` doubles of the expansion of the mpmath number ``x`` (each the
    nearest double of the remainder)."""
    with mpmath.workprec(400):
        r = mpmath.mpf(x)
        out = []
        for _ in range(n):
            h = float(r)
            out.append(h)
            r = r - h
    return out


with mpmath.workprec(400):
    _LN2_1, _LN2_2, _LN2_3 = _parts(mpmath.log(2), 3)
    _INV_LN2 = float(1 / mpmath.log(2))
    _PIO2_1, _PIO2_2, _PIO2_3, _PIO2_4 = _parts(mpmath.pi / 2, 4)
    _TWO_OVER_PI = float(2 / mpmath.pi)
    _PIO16_1, _PIO16_2, _PIO16_3 = _parts(mpmath.pi / 16, 3)
    _SIXTEEN_OVER_PI = float(16 / mpmath.pi)
    _SIN_T = np.array([_parts(mpmath.sin(j * mpmath.pi / 16), 2) for j in range(5)])
    _COS_T = np.array([_parts(mpmath.cos(j * mpmath.pi / 16), 2) for j in range(5)])
    # 1/n! (n = 0..12), (-1)^n/(2n+1)! and (-1)^n/(2n)! (n = 0..8)
    _INV_FACT = np.array([_parts(1 / mpmath.factorial(n), 2) for n in range(13)])
    _SIN_C = np.array([_parts((-1) ** n / mpmath.factorial(2 * n + 1), 2) for n in range(9)])
    _COS_C = np.array([_parts((-1) ** n / mpmath.factorial(2 * n), 2) for n in range(9)])
    _TWO_OVER_SQRT_PI_1, _TWO_OVER_SQRT_PI_2 = _parts(2 / mpmath.sqrt(mpmath.pi), 2)
    _INV_SQRT_PI_1, _INV_SQRT_PI_2 = _parts(1 / mpmath.sqrt(mpmath.pi), 2)

_NAN2 = (math.nan, math.nan)


@njit(**_J)
def isfinite(h, l):
    return math.isfinite(h) and math.isfinite(l)


# --------------------------------------------------------------------------- exp family
@njit(**_J)
def _expm1_core(rh, rl):
    """expm1(r) for |r| <= 0.35 (relative accuracy kept near 0)."""
    sh = rh * 0.03125
    sl = rl * 0.03125
    ph = _INV_FACT[12, 0]
    pl = _INV_FACT[12, 1]
    for n in range(11, 0, -1):
        ph, pl = mul(ph, pl, sh, sl)
        ph, pl = add(ph, pl, _INV_FACT[n, 0], _INV_FACT[n, 1])
    ph, pl = mul(ph, pl, sh, sl)
    for _ in range(5):
        th, tl = add_d(ph, pl, 2.0)
        ph, pl = mul(ph, pl, th, tl)
    return ph, pl


@njit(**_J)
def _reduce_ln2(xh, xl, k):
    """x - k ln 2 (k an integral double, |k| < 2^11): products exact, three parts."""
    ph, pl = two_prod(k, _LN2_1)
    rh, rl = add(xh, xl, -ph, -pl)
    ph, pl = two_prod(k, _LN2_2)
    rh, rl = add(rh, rl, -ph, -pl)
    return add_d(rh, rl, -k * _LN2_3)


@njit(**_J)
def _scale2(h, l, k):
    """(h, l) * 2^k for integral k up to +-2200 (two steps so that neither factor
    over- or underflows on its own)."""
    if k > 1000 or k < -1000:
        k1 = k // 2
        h = math.ldexp(h, k1)
        l = math.ldexp(l, k1)
        k = k - k1
    return math.ldexp(h, k), math.ldexp(l, k)


@njit(**_J)
def exp(xh, xl):
    if xh != xh:
        return _NAN2
    if xh > 709.79:
        return math.inf, 0.0
    if xh < -745.2:
        return 0.0, 0.0
    k = math.floor(xh * _INV_LN2 + 0.5)
    if k == 0.0:
        rh, rl = xh, xl
    else:
        rh, rl = _reduce_ln2(xh, xl, k)
    ph, pl = _expm1_core(rh, rl)
    ph, pl = add_d(ph, pl, 1.0)
    return _scale2(ph, pl, int(k))


@njit(**_J)
def expm1(xh, xl):
    if abs(xh) < 0.3465:
        return _expm1_core(xh, xl)
    if xh != xh:
        return _NAN2
    if xh < -80.0:                  # exp(x) < 2^-115: -1 + exp(x) exactly as a dd
        return -1.0, exp(xh, xl)[0]
    eh, el = exp(xh, xl)
    if eh == math.inf:
        return math.inf, 0.0
    return add_d(eh, el, -1.0)


# --------------------------------------------------------------------------- log family
@njit(**_J)
def _log1p_core(fh, fl):
    """log(1 + f) for |f| <= 0.42 (relative accuracy kept near 0)."""
    if fh == 0.0:
        return fh, 0.0
    y0 = math.log1p(fh)
    eh, el = _expm1_core(-y0, 0.0)
    ah, al = add(fh, fl, eh, el)            # f + em
    bh, bl = mul(fh, fl, eh, el)            # f em
    zh, zl = add(ah, al, bh, bl)            # z = (1 + f) e^(-y0) - 1, |z| ~ u |y0|
    zh, zl = add_d(zh, zl, -0.5 * zh * zh)  # log(1 + z), to z^2
    return add_d(zh, zl, y0)


_SQRT_HALF = math.sqrt(0.5)


@njit(**_J)
def log(xh, xl):
    if not (xh > 0.0):
        if xh == 0.0:
            return -math.inf, 0.0
        return _NAN2
    if xh == math.inf:
        return math.inf, 0.0
    m, e = math.frexp(xh)
    if m < _SQRT_HALF:
        e -= 1
    mh = math.ldexp(xh, -e)
    ml = math.ldexp(xl, -e)
    fh, fl = two_sum(mh - 1.0, ml)          # m - 1 (exact: Sterbenz, then a two-sum)
    yh, yl = _log1p_core(fh, fl)
    if e == 0:
        return yh, yl
    ef = float(e)
    ph, pl = two_prod(ef, _LN2_1)
    qh, ql = two_prod(ef, _LN2_2)
    sh, sl = add(ph, pl, qh, ql)
    sh, sl = add_d(sh, sl, ef * _LN2_3)
    return add(sh, sl, yh, yl)


@njit(**_J)
def log1p(xh, xl):
    if xh > -0.2929 and xh < 0.4142:
        return _log1p_core(xh, xl)
    if xh != xh:
        return _NAN2
    sh, sl = add_d(xh, xl, 1.0)
    return log(sh, sl)


# --------------------------------------------------------------------------- sin, cos, tan
@njit(**_J)
def _sincos_small(th, tl):
    """sin t, cos t for |t| <= ~pi/32."""
    t2h, t2l = sqr(th, tl)
    sh = _SIN_C[8, 0]
    sl = _SIN_C[8, 1]
    ch = _COS_C[8, 0]
    cl = _COS_C[8, 1]
    for n in range(7, -1, -1):
        sh, sl = mul(sh, sl, t2h, t2l)
        sh, sl = add(sh, sl, _SIN_C[n, 0], _SIN_C[n, 1])
        ch, cl = mul(ch, cl, t2h, t2l)
        ch, cl = add(ch, cl, _COS_C[n, 0], _COS_C[n, 1])
    sh, sl = mul(sh, sl, th, tl)
    return sh, sl, ch, cl


@njit(**_J)
def _reduce_pio2(xh, xl):
    """(k, r) with x = k pi/2 + r, |r| <= ~pi/4 (pi/2 in four parts, products exact)."""
    k = math.floor(xh * _TWO_OVER_PI + 0.5)
    ph, pl = two_prod(k, _PIO2_1)
    rh, rl = add(xh, xl, -ph, -pl)
    ph, pl = two_prod(k, _PIO2_2)
    rh, rl = add(rh, rl, -ph, -pl)
    ph, pl = two_prod(k, _PIO2_3)
    rh, rl = add(rh, rl, -ph, -pl)
    rh, rl = add_d(rh, rl, -k * _PIO2_4)
    return k, rh, rl


@njit(**_J)
def sincos(xh, xl):
    """(sin x, cos x) as two dd pairs: ``sh, sl, ch, cl``."""
    if not math.isfinite(xh):
        return math.nan, math.nan, math.nan, math.nan
    if abs(xh) <= 0.7853981633974483:
        k = 0.0
        rh, rl = xh, xl
    else:
        k, rh, rl = _reduce_pio2(xh, xl)
    j = math.floor(rh * _SIXTEEN_OVER_PI + 0.5)
    if j > 4.0:
        j = 4.0
    elif j < -4.0:
        j = -4.0
    if j == 0.0:
        sh, sl, ch, cl = _sincos_small(rh, rl)
    else:
        ph, pl = two_prod(j, _PIO16_1)
        th, tl = add(rh, rl, -ph, -pl)
        ph, pl = two_prod(j, _PIO16_2)
        th, tl = add(th, tl, -ph, -pl)
        th, tl = add_d(th, tl, -j * _PIO16_3)
        s1h, s1l, c1h, c1l = _sincos_small(th, tl)
        aj = int(abs(j))
        Sh = _SIN_T[aj, 0]
        Sl = _SIN_T[aj, 1]
        if j < 0.0:
            Sh = -Sh
            Sl = -Sl
        Ch = _COS_T[aj, 0]
        Cl = _COS_T[aj, 1]
        ah, al = mul(Sh, Sl, c1h, c1l)
        bh, bl = mul(Ch, Cl, s1h, s1l)
        sh, sl = add(ah, al, bh, bl)
        ah, al = mul(Ch, Cl, c1h, c1l)
        bh, bl = mul(Sh, Sl, s1h, s1l)
        ch, cl = sub(ah, al, bh, bl)
    q = int(k) & 3
    if q == 0:
        return sh, sl, ch, cl
    if q == 1:
        return ch, cl, -sh, -sl
    if q == 2:
        return -sh, -sl, -ch, -cl
    return -ch, -cl, sh, sl


@njit(**_J)
def tan(xh, xl):
    sh, sl, ch, cl = sincos(xh, xl)
    return div(sh, sl, ch, cl)


# --------------------------------------------------------------------------- inverse trig
@njit(**_J)
def atan2(yh, yl, xh, xl):
    z0 = math.atan2(yh, xh)
    if not (math.isfinite(xh) and math.isfinite(yh)) or (xh == 0.0 and yh == 0.0):
        return z0, 0.0
    sh, sl, ch, cl = sincos(z0, 0.0)
    ah, al = mul(yh, yl, ch, cl)
    bh, bl = mul(xh, xl, sh, sl)
    nh, nl = sub(ah, al, bh, bl)            # r sin(theta - z0)
    ah, al = mul(xh, xl, ch, cl)
    bh, bl = mul(yh, yl, sh, sl)
    dh, dl = add(ah, al, bh, bl)            # r cos(theta - z0)
    th, tl = div(nh, nl, dh, dl)            # tan(theta - z0) = theta - z0 + O(u^3)
    return add_d(th, tl, z0)


@njit(**_J)
def atan(xh, xl):
    return atan2(xh, xl, 1.0, 0.0)


@njit(**_J)
def _one_minus_sq_sqrt(xh, xl):
    """sqrt((1 - x)(1 + x))."""
    ah, al = add_d(-xh, -xl, 1.0)
    bh, bl = add_d(xh, xl, 1.0)
    ph, pl = mul(ah, al, bh, bl)
    return sqrt(ph, pl)


@njit(**_J)
def asin(xh, xl):
    if not (abs(xh) <= 1.0):
        return _NAN2
    if abs(xh) == 1.0 and xl != 0.0 and (xl > 0.0) == (xh > 0.0):
        return _NAN2
    sh, sl = _one_minus_sq_sqrt(xh, xl)
    return atan2(xh, xl, sh, sl)


@njit(**_J)
def acos(xh, xl):
    if not (abs(xh) <= 1.0):
        return _NAN2
    if abs(xh) == 1.0 and xl != 0.0 and (xl > 0.0) == (xh > 0.0):
        return _NAN2
    sh, sl = _one_minus_sq_sqrt(xh, xl)
    return atan2(sh, sl, xh, xl)


# --------------------------------------------------------------------------- hyperbolic
@njit(**_J)
def sinhcosh(xh, xl):
    if xh != xh:
        return math.nan, math.nan, math.nan, math.nan
    neg = xh < 0.0
    ah, al = (-xh, -xl) if neg else (xh, xl)
    if ah < 0.5:
        mh, ml = expm1(ah, al)
        ph, pl = add_d(mh, ml, 1.0)             # e
        ph2, pl2 = mul_d(ph, pl, 2.0)           # 2e
        th, tl = add_d(mh, ml, 2.0)
        nh, nl = mul(mh, ml, th, tl)            # (e - 1)(e + 1)
        sh, sl = div(nh, nl, ph2, pl2)
        qh, ql = sqr(mh, ml)
        qh, ql = div(qh, ql, ph2, pl2)
        ch, cl = add_d(qh, ql, 1.0)
    elif ah < 700.0:
        eh, el = exp(ah, al)
        ih, il = div(1.0, 0.0, eh, el)
        sh, sl = sub(eh, el, ih, il)
        sh, sl = sh * 0.5, sl * 0.5
        ch, cl = add(eh, el, ih, il)
        ch, cl = ch * 0.5, cl * 0.5
    else:
        rh, rl = sub(ah, al, _LN2_1, _LN2_2)
        sh, sl = exp(rh, rl)
        ch, cl = sh, sl
    if neg:
        sh, sl = -sh, -sl
    return sh, sl, ch, cl


@njit(**_J)
def tanh(xh, xl):
    if xh != xh:
        return _NAN2
    neg = xh < 0.0
    ah, al = (-xh, -xl) if neg else (xh, xl)
    if ah < 0.55:
        mh, ml = expm1(2.0 * ah, 2.0 * al)
        dh, dl = add_d(mh, ml, 2.0)
        th, tl = div(mh, ml, dh, dl)
    else:
        eh, el = exp(2.0 * ah, 2.0 * al)
        if eh == math.inf:
            th, tl = 1.0, 0.0
        else:
            dh, dl = add_d(eh, el, 1.0)
            qh, ql = div(2.0, 0.0, dh, dl)
            th, tl = add_d(-qh, -ql, 1.0)
    if neg:
        return -th, -tl
    return th, tl


_BIG = 2.0 ** 60


@njit(**_J)
def asinh(xh, xl):
    if xh != xh:
        return _NAN2
    neg = xh < 0.0
    ah, al = (-xh, -xl) if neg else (xh, xl)
    if ah > _BIG:
        rh, rl = log(ah, al)
        rh, rl = add(rh, rl, _LN2_1, _LN2_2)
    else:
        qh, ql = sqr(ah, al)
        sh, sl = add_d(qh, ql, 1.0)
        sh, sl = sqrt(sh, sl)
        sh, sl = add_d(sh, sl, 1.0)
        qh, ql = div(qh, ql, sh, sl)
        th, tl = add(ah, al, qh, ql)
        rh, rl = log1p(th, tl)
    if neg:
        return -rh, -rl
    return rh, rl


@njit(**_J)
def acosh(xh, xl):
    if not (xh >= 1.0) or (xh == 1.0 and xl < 0.0):
        return _NAN2
    if xh > _BIG:
        rh, rl = log(xh, xl)
        return add(rh, rl, _LN2_1, _LN2_2)
    th, tl = add_d(xh, xl, -1.0)
    uh, ul = add_d(th, tl, 2.0)
    ph, pl = mul(th, tl, uh, ul)
    ph, pl = sqrt(ph, pl)
    ph, pl = add(th, tl, ph, pl)
    return log1p(ph, pl)


@njit(**_J)
def atanh(xh, xl):
    if xh != xh:
        return _NAN2
    neg = xh < 0.0
    ah, al = (-xh, -xl) if neg else (xh, xl)
    if ah > 1.0 or (ah == 1.0 and al > 0.0):
        return _NAN2
    if ah == 1.0 and al == 0.0:
        return (-math.inf, 0.0) if neg else (math.inf, 0.0)
    dh, dl = add_d(-ah, -al, 1.0)
    qh, ql = div(2.0 * ah, 2.0 * al, dh, dl)
    rh, rl = log1p(qh, ql)
    rh, rl = 0.5 * rh, 0.5 * rl
    if neg:
        return -rh, -rl
    return rh, rl
