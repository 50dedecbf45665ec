"""Double-double ("dd") arithmetic: a value is the unevaluated sum ``hi + lo`` of two
doubles with ``|lo| <= ulp(hi)/2``, a 107-bit significand (unit roundoff ``u^2``
with ``u = 2^-53``).

Error-free transformations (Knuth's two-sum, Dekker's fast two-sum, the exact
product by a fused multiply-add) and the double-word algorithms analysed by
Joldes, Muller & Popescu, "Tight and rigorous error bounds for basic building
blocks of double-word arithmetic", ACM TOMS 44 (2017): relative errors
``add`` <= 3u^2, ``add_d`` <= 2u^2, ``mul`` <= 4u^2, ``mul_d`` <= 2u^2,
``div`` <= 15u^2, ``div_d`` <= 3u^2.

Every function takes and returns plain doubles (a dd is two arguments, results
are ``(hi, lo)`` tuples), so numba keeps them in registers.  The products use
``llvm.fma`` (:func:`taylorjit._funcs._common.fma`: one rounding, exact
``a*b - p``); no fastmath anywhere (the transformations rely on IEEE rounding).

These are numba functions without ``cache=True``: they are compiled into the
cached entry points of :mod:`taylorjit._dd._build`, whose cache key hashes this
file (numba's own cache key would not see a change here), and into the
integrators' compiled loops.

The integrators keep their time as a double-length pair too (heyoka's ``dfloat``:
``add``, ``sub``, ``add_d`` and :func:`lt` here are its operations, IEEE operation
for IEEE operation), and need the same operations in two more spellings, kept
beside the numba ones so that every loop gives the same bits: :func:`py_add`
(Python floats, for the drivers) and :class:`DDBuilder` (an llvmlite builder, for
the loops written as LLVM code).
"""
import math

from numba import njit

from .._funcs._common import fma
from .._symbolic.registry import no_refcount_opts

_J = dict(nogil=True, error_model="numpy", **no_refcount_opts())


@njit(**_J)
def two_sum(a, b):
    """``s + e = a + b`` exactly, ``s = fl(a + b)`` (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@njit(**_J)
def fast_two_sum(a, b):
    """``s + e = a + b`` exactly when ``|a| >= |b|`` (or a == 0) (Dekker)."""
    s = a + b
    return s, b - (s - a)


@njit(**_J)
def two_prod(a, b):
    """``p + e = a * b`` exactly (barring underflow), with one fma."""
    p = a * b
    return p, fma(a, b, -p)


@njit(**_J)
def add(ah, al, bh, bl):
    """dd + dd (Joldes et al. Algorithm 6, relative error <= 3u^2)."""
    sh, sl = two_sum(ah, bh)
    th, tl = two_sum(al, bl)
    c = sl + th
    vh, vl = fast_two_sum(sh, c)
    w = tl + vl
    return fast_two_sum(vh, w)


@njit(**_J)
def sub(ah, al, bh, bl):
    return add(ah, al, -bh, -bl)


@njit(**_J)
def add_d(ah, al, b):
    """dd + double (Algorithm 4, <= 2u^2)."""
    sh, sl = two_sum(ah, b)
    v = al + sl
    return fast_two_sum(sh, v)


@njit(**_J)
def mul(ah, al, bh, bl):
    """dd * dd (Algorithm 12, <= 4u^2)."""
    ch, cl1 = two_prod(ah, bh)
    tl0 = al * bl
    tl1 = fma(ah, bl, tl0)
    cl2 = fma(al, bh, tl1)
    return fast_two_sum(ch, cl1 + cl2)


@njit(**_J)
def mul_d(ah, al, b):
    """dd * double (Algorithm 9, <= 2u^2)."""
    ch, cl1 = two_prod(ah, b)
    cl3 = fma(al, b, cl1)
    return fast_two_sum(ch, cl3)


@njit(**_J)
def sqr(ah, al):
    """dd squared."""
    ch, cl1 = two_prod(ah, ah)
    cl2 = fma(2.0 * ah, al, al * al)
    return fast_two_sum(ch, cl1 + cl2)


@njit(**_J)
def div_d(ah, al, b):
    """dd / double (Algorithm 15, <= 3u^2)."""
    th = ah / b
    ph, pl = two_prod(th, b)
    dh = ah - ph
    dt = dh - pl
    d = dt + al
    tl = d / b
    return fast_two_sum(th, tl)


@njit(**_J)
def div(ah, al, bh, bl):
    """dd / dd (Algorithm 17, <= 15u^2): one correction of the quotient of the heads."""
    th = ah / bh
    rh, rl = mul_d(bh, bl, th)
    ph, pl = two_sum(ah, -rh)
    dh = pl - rl
    d = dh + al
    d = ph + d
    tl = d / bh
    return fast_two_sum(th, tl)


@njit(**_J)
def sqrt(ah, al):
    """Square root of a dd (one Newton correction of the double root; NaN for a < 0,
    0 for 0, inf for inf)."""
    if ah <= 0.0:
        if ah == 0.0:
            return 0.0, 0.0
        return math.nan, math.nan
    if ah == math.inf:
        return math.inf, 0.0
    s = math.sqrt(ah)
    ph, pl = two_prod(s, s)
    r = ((ah - ph) - pl) + al
    return fast_two_sum(s, r / (2.0 * s))


@njit(**_J)
def lt(ah, al, bh, bl):
    """``(ah, al) < (bh, bl)`` for normalised pairs."""
    return ah < bh or (ah == bh and al < bl)


# --------------------------------------------------------------------------- Python floats
def py_add(ah, al, bh, bl):
    """:func:`add` in Python floats (the same IEEE operations in the same order)."""
    sh = ah + bh
    bb = sh - ah
    sl = (ah - (sh - bb)) + (bh - bb)
    th = al + bl
    bb = th - al
    tl = (al - (th - bb)) + (bl - bb)
    c = sl + th
    vh = sh + c
    vl = c - (vh - sh)
    w = vl + tl
    r = vh + w
    return r, w - (r - vh)


# --------------------------------------------------------------------------- LLVM builder
class DDBuilder:
    """:func:`add`, :func:`sub` and :func:`lt` written with an llvmlite IR builder ``b``
    (the same IEEE operations in the same order: the loops written as LLVM code keep
    double-length times bit for bit as the numba loops do)."""

    def __init__(self, b):
        self.b = b

    def two_sum(self, x, y):
        b = self.b
        s = b.fadd(x, y)
        bb = b.fsub(s, x)
        return s, b.fadd(b.fsub(x, b.fsub(s, bb)), b.fsub(y, bb))

    def fast_two_sum(self, x, y):
        b = self.b
        s = b.fadd(x, y)
        return s, b.fsub(y, b.fsub(s, x))

    def add(self, ahi, alo, bhi, blo):
        b = self.b
        sh, sl = self.two_sum(ahi, bhi)
        th, tl = self.two_sum(alo, blo)
        vh, vl = self.fast_two_sum(sh, b.fadd(sl, th))
        return self.fast_two_sum(vh, b.fadd(vl, tl))

    def sub(self, ahi, alo, bhi, blo):
        return self.add(ahi, alo, self.b.fneg(bhi), self.b.fneg(blo))

    def lt(self, ahi, alo, bhi, blo):
        b = self.b
        return b.or_(b.fcmp_ordered("<", ahi, bhi),
                     b.and_(b.fcmp_ordered("==", ahi, bhi), b.fcmp_ordered("<", alo, blo)))
