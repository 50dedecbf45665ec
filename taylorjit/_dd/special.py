"""Double-double values of the functions built on the elementary ones of
:mod:`.funcs` (order 0 of the recurrences): powers by a constant, ``erf``, the
sigmoid and the Kepler solvers.  Same conventions as :mod:`.funcs` (dd
arguments as pairs of doubles, ``(hi, lo)`` results; the Kepler solvers return
the root with its sine and cosine).  Methods:

* ``pow_c(a, c)``: binary powering to the integer n nearest to c, times
  ``sqrt(a)^(+-1)`` or ``exp((c - n) log a)`` for the rest (|c| <= 1024; beyond,
  ``exp(c log a)``, whose error grows as ``|c log a|`` units of ``2^-106``).
* ``erf``: the series ``2/sqrt(pi) e^(-x^2) sum 2^n x^(2n+1) / (2n+1)!!``
  (positive terms) for ``|x| < 3``, Laplace's continued fraction of erfc (80
  terms) up to 9.5, 1 beyond.
* ``kepE``, ``kepF``, ``kepDE``: Newton's method in dd from the double root.
"""
import math

from numba import njit

from .._funcs.kepler import kepDE_solve, kepF_solve
from .._funcs.special import kepE_solve
from .._symbolic.registry import no_refcount_opts
from .arith import add, add_d, div, div_d, mul, mul_d, sqr, sqrt, sub
from .funcs import (_INV_SQRT_PI_1, _INV_SQRT_PI_2, _NAN2, _TWO_OVER_SQRT_PI_1, _TWO_OVER_SQRT_PI_2,
                    exp, log, sincos)

_J = dict(nogil=True, error_model="numpy", **no_refcount_opts())


# --------------------------------------------------------------------------- powers
@njit(**_J)
def _recip(h, l):
    if h == math.inf or h == -math.inf:
        return 0.0, 0.0
    return div(1.0, 0.0, h, l)


@njit(**_J)
def _pow_int(ah, al, n):
    """a^n for an integer n >= 0 (binary powering)."""
    rh, rl = 1.0, 0.0
    bh, bl = ah, al
    m = n
    while m > 0:
        if m & 1:
            rh, rl = mul(rh, rl, bh, bl)
        m >>= 1
        if m > 0:
            bh, bl = sqr(bh, bl)
    return rh, rl


@njit(**_J)
def pow_c(ah, al, c):
    """a^c for a constant double c (C ``pow`` conventions for special values).

    ``|c| <= 1024``: ``a^n`` by binary powering (n the integer nearest to c) times
    ``a^f`` for the rest ``f = c - n`` (exact, |f| <= 1/2): ``sqrt(a)`` for
    ``f = +-1/2``, else ``exp(f log a)``, whose error grows as ``|f log a|`` units of
    2^-106 (small for moderate a).  Larger |c|: ``exp(c log a)``."""
    if c == 0.0:
        return 1.0, 0.0
    if ah != ah or c != c:
        return _NAN2
    if ah == 0.0:
        if c > 0.0:
            return 0.0, 0.0
        return math.inf, 0.0
    integral = c == math.floor(c)
    sign = 1.0
    if ah < 0.0:
        if not integral:
            return _NAN2
        if math.floor(0.5 * c) != 0.5 * c:
            sign = -1.0
        ah, al = -ah, -al
    if abs(c) <= 1024.0:
        nf = math.floor(c + 0.5)
        f = c - nf
        rh, rl = _pow_int(ah, al, int(abs(nf)))
        if nf < 0.0:
            rh, rl = _recip(rh, rl)
        if f != 0.0:
            if abs(f) == 0.5:
                qh, ql = sqrt(ah, al)
                if f < 0.0:
                    qh, ql = _recip(qh, ql)
            else:
                lh, ll = log(ah, al)
                yh, yl = mul_d(lh, ll, f)
                qh, ql = exp(yh, yl)
            rh, rl = mul(rh, rl, qh, ql)
    else:
        lh, ll = log(ah, al)
        yh, yl = mul_d(lh, ll, c)
        rh, rl = exp(yh, yl)
    return sign * rh, sign * rl


# --------------------------------------------------------------------------- erf
@njit(**_J)
def erf(xh, xl):
    if xh != xh:
        return _NAN2
    neg = xh < 0.0
    ah, al = (-xh, -xl) if neg else (xh, xl)
    if ah >= 9.5:
        rh, rl = 1.0, 0.0
    elif ah < 3.0:
        if ah == 0.0:
            return xh, 0.0
        qh, ql = sqr(ah, al)                    # x^2
        q2h, q2l = 2.0 * qh, 2.0 * ql
        th, tl = ah, al
        sh, sl = ah, al
        for n in range(1, 200):
            th, tl = mul(th, tl, q2h, q2l)
            th, tl = div_d(th, tl, 2.0 * n + 1.0)
            sh, sl = add(sh, sl, th, tl)
            if th < sh * 5e-34:
                break
        eh, el = exp(-qh, -ql)
        rh, rl = mul(sh, sl, eh, el)
        rh, rl = mul(rh, rl, _TWO_OVER_SQRT_PI_1, _TWO_OVER_SQRT_PI_2)
    else:
        fh, fl = ah, al                          # Laplace's continued fraction of erfc
        for n in range(80, 0, -1):
            qh, ql = div(0.5 * n, 0.0, fh, fl)
            fh, fl = add(ah, al, qh, ql)
        qh, ql = sqr(ah, al)
        eh, el = exp(-qh, -ql)
        ch, cl = div(eh, el, fh, fl)
        ch, cl = mul(ch, cl, _INV_SQRT_PI_1, _INV_SQRT_PI_2)
        rh, rl = add_d(-ch, -cl, 1.0)
    if neg:
        return -rh, -rl
    return rh, rl


# --------------------------------------------------------------------------- Kepler
@njit(**_J)
def kepE(eh, el, Mh, Ml):
    """E solving E - e sin E = M, with (sin E, cos E): six doubles."""
    E0 = kepE_solve(eh, Mh)
    if E0 != E0 or not math.isfinite(Ml) or not math.isfinite(el):
        return math.nan, math.nan, math.nan, math.nan, math.nan, math.nan
    Eh, El = E0, 0.0
    for _ in range(4):
        sh, sl, ch, cl = sincos(Eh, El)
        ph, pl = mul(eh, el, sh, sl)
        fh, fl = sub(Eh, El, ph, pl)
        fh, fl = sub(fh, fl, Mh, Ml)                       # f = E - e sin E - M
        dh, dl = div_d(fh, fl, 1.0 - eh * ch)
        Eh, El = sub(Eh, El, dh, dl)
        if abs(dh) <= 1e-29 * abs(Eh) or dh == 0.0:
            break
    sh, sl, ch, cl = sincos(Eh, El)
    return Eh, El, sh, sl, ch, cl


@njit(**_J)
def kepF(hh, hl, kh, kl, lh, ll):
    """F solving F + h cos F - k sin F = lam, with (sin F, cos F)."""
    F0 = kepF_solve(hh, kh, lh)
    if F0 != F0 or not (math.isfinite(hl) and math.isfinite(kl) and math.isfinite(ll)):
        return math.nan, math.nan, math.nan, math.nan, math.nan, math.nan
    Fh, Fl = F0, 0.0
    for _ in range(4):
        sh, sl, ch, cl = sincos(Fh, Fl)
        ah, al = mul(hh, hl, ch, cl)
        bh, bl = mul(kh, kl, sh, sl)
        fh, fl = sub(ah, al, bh, bl)
        fh, fl = add(fh, fl, Fh, Fl)
        fh, fl = sub(fh, fl, lh, ll)
        dh, dl = div_d(fh, fl, 1.0 - hh * sh - kh * ch)
        Fh, Fl = sub(Fh, Fl, dh, dl)
        if abs(dh) <= 1e-29 * abs(Fh) or dh == 0.0:
            break
    sh, sl, ch, cl = sincos(Fh, Fl)
    return Fh, Fl, sh, sl, ch, cl


@njit(**_J)
def kepDE(s0h, s0l, c0h, c0l, Mh, Ml):
    """DE solving DE + s0 (1 - cos DE) - c0 sin DE = DM, with (sin DE, cos DE)."""
    D0 = kepDE_solve(s0h, c0h, Mh)
    if D0 != D0 or not (math.isfinite(s0l) and math.isfinite(c0l) and math.isfinite(Ml)):
        return math.nan, math.nan, math.nan, math.nan, math.nan, math.nan
    Dh, Dl = D0, 0.0
    for _ in range(4):
        hh, hl, gh, gl = sincos(0.5 * Dh, 0.5 * Dl)       # sin(D/2), cos(D/2)
        sh, sl = mul(hh, hl, gh, gl)
        sh, sl = 2.0 * sh, 2.0 * sl                        # sin D
        qh, ql = sqr(hh, hl)
        qh, ql = 2.0 * qh, 2.0 * ql                        # 1 - cos D
        ah, al = mul(s0h, s0l, qh, ql)
        bh, bl = mul(c0h, c0l, sh, sl)
        fh, fl = sub(ah, al, bh, bl)
        fh, fl = add(fh, fl, Dh, Dl)
        fh, fl = sub(fh, fl, Mh, Ml)
        dh, dl = div_d(fh, fl, 1.0 + s0h * sh - c0h * (1.0 - qh))
        Dh, Dl = sub(Dh, Dl, dh, dl)
        if abs(dh) <= 1e-29 * abs(Dh) or dh == 0.0:
            break
    sh, sl, ch, cl = sincos(Dh, Dl)
    return Dh, Dl, sh, sl, ch, cl


@njit(**_J)
def sigmoid(xh, xl):
    eh, el = exp(-xh, -xl)
    dh, dl = add_d(eh, el, 1.0)
    if dh == math.inf:
        return 0.0, 0.0
    return div(1.0, 0.0, dh, dl)
