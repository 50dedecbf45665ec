"""The numbers of the arbitrary-precision VM: ``(m, e)`` pairs of Python integers.

A value is ``m * 2**e`` with the signed mantissa ``m`` normalised to exactly
``p`` bits (``2**(p-1) <= |m| < 2**p``), ``p`` the precision in bits; zero is
``(0, ZE)``.  Products of two values are exact integer products (``2p`` bits),
so a sum of products -- the convolutions of the Taylor recurrences -- is
accumulated exactly in fixed point below the largest term (:func:`dot`: every
product shifted to one exponent ``p + 64`` bits below the largest, a floor
error below ``2**-(p+64)`` of the largest term each) and rounded once.  The
single operations round to nearest (ties away from zero).

mpmath's own numbers (``mpf``, with their ``_mpf_`` tuples) are used for the
values of the elementary functions at order 0 (:func:`to_ctx`, :func:`from_ctx`
with a private mpmath context per precision, :func:`context`), where mpmath is
correctly rounded or nearly so; everything else is integer arithmetic here,
several times faster than mpmath's ``mpf`` arithmetic (no normalisation of
each product, no object per operation).  Arithmetic raises ZeroDivisionError
for a division by zero and ValueError for a non-real result (the callers map
both to "not finite").
"""
from __future__ import annotations

import math
from itertools import repeat
from operator import add as _iadd, mul as _imul, rshift as _rshift, sub as _isub

__all__ = ["ZE", "ZERO", "norm", "add", "sub", "mul", "div", "div_int", "sqrt", "dot", "wdot",
           "from_int", "from_float", "from_tuple", "to_tuple", "to_float", "log2_abs", "neg",
           "twice", "context", "to_ctx", "from_ctx", "MIN_PREC", "MAX_PREC", "fdot", "powers",
           "xadd", "cmp"]

#: the exponent of zero: far below any value, so that it never wins a maximum and
#: shifts a (zero) product out of any accumulator
ZE = -(1 << 62)
ZERO = (0, ZE)
MIN_PREC = 24
MAX_PREC = 1 << 20


def norm(m, e, p):
    """``m * 2**e`` rounded to nearest (ties away) with a ``p``-bit mantissa."""
    if m == 0:
        return ZERO
    bc = m.bit_length()
    d = bc - p
    if d > 0:
        if m > 0:
            m = (m + (1 << (d - 1))) >> d
            if m >> p:
                m >>= 1
                d += 1
        else:
            m = -((-m + (1 << (d - 1))) >> d)
            if (-m) >> p:
                m = -((-m) >> 1)
                d += 1
        return m, e + d
    if d < 0:
        return m << -d, e + d
    return m, e


def neg(a):
    return -a[0], a[1]


def twice(a):
    """2a (exact)."""
    return (a[0], a[1] + 1) if a[0] else ZERO


def add(am, ae, bm, be, p):
    if bm == 0:
        return am, ae
    if am == 0:
        return bm, be
    d = ae - be
    if d >= 0:
        if d > p + 2:
            return am, ae
        return norm((am << d) + bm, be, p)
    if d < -(p + 2):
        return bm, be
    return norm(am + (bm << -d), ae, p)


def sub(am, ae, bm, be, p):
    return add(am, ae, -bm, be, p)


def mul(am, ae, bm, be, p):
    if am == 0 or bm == 0:
        return ZERO
    return norm(am * bm, ae + be, p)


def div(am, ae, bm, be, p):
    if bm == 0:
        raise ZeroDivisionError("division by zero")
    if am == 0:
        return ZERO
    q = (abs(am) << (p + 3)) // abs(bm)
    return norm(q if (am < 0) == (bm < 0) else -q, ae - be - p - 3, p)


def div_int(am, ae, k, p):
    """``a / k`` for an integer ``k >= 1``."""
    if am == 0:
        return ZERO
    s = 3 + k.bit_length() + max(0, p - am.bit_length())
    q = (abs(am) << s) // k
    return norm(q if am > 0 else -q, ae - s, p)


def sqrt(am, ae, p):
    if am < 0:
        raise ValueError("square root of a negative number")
    if am == 0:
        return ZERO
    s = 2 * p + 4 - am.bit_length()
    if s < 0:
        s = 0
    if (ae - s) & 1:
        s += 1
    return norm(math.isqrt(am << s), (ae - s) // 2, p)


def dot(Ma, Ea, Mb, Eb, k, lo, hi, p):
    """``sum_{j=lo}^{hi-1} a_j b_{k-j}`` (rows ``(Ma, Ea)``, ``(Mb, Eb)``), rounded once."""
    if hi <= lo:
        return ZERO
    jb = k - hi + 1
    mb = Mb[jb:k - lo + 1]
    mb.reverse()
    eb = Eb[jb:k - lo + 1]
    eb.reverse()
    es = list(map(_iadd, Ea[lo:hi], eb))
    e0 = max(es) + (p - 64 if p > 64 else 0)
    acc = sum(map(_rshift, map(_imul, Ma[lo:hi], mb), map(_isub, repeat(e0), es)))
    return norm(acc, e0, p)


def wdot(Ma, Ea, Mb, Eb, k, lo, hi, p):
    """``sum_{j=lo}^{hi-1} j a_j b_{k-j}``, rounded once."""
    if hi <= lo:
        return ZERO
    jb = k - hi + 1
    mb = Mb[jb:k - lo + 1]
    mb.reverse()
    eb = Eb[jb:k - lo + 1]
    eb.reverse()
    es = list(map(_iadd, Ea[lo:hi], eb))
    e0 = max(es) + (p - 64 if p > 64 else 0)
    acc = sum(map(_rshift, map(_imul, map(_imul, Ma[lo:hi], range(lo, hi)), mb),
                  map(_isub, repeat(e0), es)))
    return norm(acc, e0, p)


def fdot(Ma, Ea, Mb, Eb, p):
    """``sum_j a_j b_j`` over the common length (polynomial values from powers), rounded once."""
    es = list(map(_iadd, Ea, Eb))
    if not es:
        return ZERO
    e0 = max(es) + (p - 64 if p > 64 else 0)
    acc = sum(map(_rshift, map(_imul, Ma, Mb), map(_isub, repeat(e0), es)))
    return norm(acc, e0, p)


def powers(h, n, p):
    """``(Hm, He)``: the rows of ``h^0 .. h^n`` (each power rounded to ``p`` bits)."""
    one = norm(1, 0, p)
    Hm = [one[0]]
    He = [one[1]]
    cur = one
    for _ in range(n):
        cur = mul(cur[0], cur[1], h[0], h[1], p)
        Hm.append(cur[0])
        He.append(cur[1])
    return Hm, He


def xadd(a, b):
    """The exact sum of two pairs (any mantissa lengths; trailing zero bits dropped)."""
    am, ae = a
    bm, be = b
    if bm == 0:
        return a
    if am == 0:
        return b
    if ae >= be:
        m, e = (am << (ae - be)) + bm, be
    else:
        m, e = am + (bm << (be - ae)), ae
    if m == 0:
        return ZERO
    tz = (m & -m).bit_length() - 1
    return m >> tz, e + tz


def cmp(a, b):
    """-1, 0, 1 as ``a < b``, ``a == b``, ``a > b`` (exact, any mantissa lengths)."""
    d = xadd(a, (-b[0], b[1]))[0]
    return (d > 0) - (d < 0)


def from_int(n, p):
    return norm(int(n), 0, p)


def from_float(x, p):
    if not math.isfinite(x):
        raise ValueError(f"not a finite number: {x!r}")
    num, den = float(x).as_integer_ratio()
    return norm(num, 1 - den.bit_length(), p)


def from_tuple(t, p):
    """From an mpmath ``_mpf_`` tuple (rounded to ``p`` bits); ValueError for inf/nan."""
    sign, man, exp, bc = t
    if not man:
        if exp or bc:
            raise ValueError("not a finite number")
        return ZERO
    return norm(-man if sign else man, exp, p)


def to_tuple(a):
    """The exact mpmath ``_mpf_`` tuple of a pair."""
    from mpmath.libmp import from_man_exp, fzero

    m, e = a
    return fzero if m == 0 else from_man_exp(m, e)


def to_float(m, e):
    """Nearest double (inf beyond the double range, 0 below)."""
    if m == 0:
        return 0.0
    s = m.bit_length() - 64
    if s > 0:
        m >>= s
        e += s
    try:
        return math.ldexp(float(m), e)
    except OverflowError:
        return math.inf if m > 0 else -math.inf


def log2_abs(m, e):
    """log2 |m 2^e| as a double (-inf for zero): no overflow at any exponent."""
    if m == 0:
        return -math.inf
    s = m.bit_length() - 64
    if s > 0:
        m >>= s
        e += s
    return math.log2(abs(float(m))) + e


_CTX: dict = {}


def context(p):
    """A private mpmath context at ``p`` bits (never the global ``mpmath.mp``, so
    nothing here depends on or changes the user's working precision)."""
    ctx = _CTX.get(p)
    if ctx is None:
        import mpmath

        ctx = mpmath.MPContext()
        ctx.prec = p
        _CTX[p] = ctx
    return ctx


def to_ctx(ctx, a):
    return ctx.make_mpf(to_tuple(a))


def from_ctx(v, p):
    """A pair from an mpmath value (ValueError for a complex, infinite or NaN value)."""
    t = getattr(v, "_mpf_", None)
    if t is None:
        raise ValueError("the value is not real")
    return from_tuple(t, p)
