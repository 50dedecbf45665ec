"""Vector exp, expm1, sinh, cosh, tanh, log and log1p (see :mod:`.vmath` for
the algorithms and their measured accuracy).

Each routine takes the builder (:class:`taylorjit._codegen.vmath_ir.VectorFn`)
and the argument's operand and ends the function with a ``ret``:
:func:`_exp`, :func:`_expm1`, :func:`_sinh`, :func:`_cosh`, :func:`_tanh`,
:func:`_sinhcosh` (the pair) share the reduction and polynomial of
:func:`_exp_parts` and the double-double helpers; :func:`_log` and
:func:`_log1p` are fdlibm's.  :mod:`.vmath` lists them in its function table
(``vmath._KERNELS``).
"""
from __future__ import annotations

import math

from .vmath_ir import SHIFT, VectorFn, from_bits as _d     # _d: short, for the tables


# ----------------------------------------------------------------------------
# constants (hex bit patterns as in fdlibm / musl)

_INF = math.inf
_NAN = _d(0x7FF8000000000000)
_LN2_HI = _d(0x3FE62E42FEE00000)      # 32 significant bits: k*LN2_HI exact for |k| < 2^21
_LN2_LO = _d(0x3DEA39EF35793C76)
_INVLN2 = _d(0x3FF71547652B82FE)

# exp: e^r - 1 - r = r^2 (1/2 + r q3(r)), q3 of degree 9 approximating
# (e^r - 1 - r - r^2/2)/r^3 on |r| <= 0.3466 with a minimax relative error of
# 4.7e-17 (Remez exchange at 60 digits); with these double coefficients the
# error of e^r is 8.6e-19 (2^-60; 2^-60.5 with the degree-14 Taylor polynomial
# used before)
_EXP_Q3 = [_d(v) for v in (
    0x3FC5555555555556, 0x3FA5555555555554, 0x3F811111111109B8, 0x3F56C16C16C1811E,
    0x3F2A01A01A7C0F31, 0x3EFA01A0198A8499, 0x3EC71DE0DB915C3B, 0x3E927E502C6348B3,
    0x3E5AF38931B60EB4, 0x3E21F2A253136517)]

# fdlibm e_log.c
_LG = [_d(0x3FE5555555555593), _d(0x3FD999999997FA04), _d(0x3FD2492494229359),
       _d(0x3FCC71C51D8E78AF), _d(0x3FC7466496CB03DE), _d(0x3FC39A09D078C69F),
       _d(0x3FC2F112DF3E5244)]


# ----------------------------------------------------------------------------
# kernels: each takes (builder, x) and ends the function with a ret


def _exp_parts(b: VectorFn, x, lo_clamp=-750.0, hi_clamp=710.0, parts=None):
    """``(s, tail, ki)`` with e^x ~= (s + tail) 2^ki, s = 1 + hi (|tail| < 0.1),
    the sum s + tail accurate to ~2^-60 relative; x clamped to the given range
    (NaN passes).  ``parts``: a dict receiving r and small (tail = r^2 q(r) +
    small)."""
    xc = b.select(b.fcmp("ogt", x, hi_clamp), hi_clamp, x)
    xc = b.select(b.fcmp("olt", xc, lo_clamp), lo_clamp, xc)
    t = b.fma(xc, _INVLN2, SHIFT)
    kd = b.sub(t, SHIFT)                       # k = round(x/ln2), |k| <= 1083
    ki = b.isub(b.bits(t), b.bits(SHIFT))      # k as an integer
    hi = b.sub(xc, b.mul(kd, _LN2_HI))          # exact
    lo = b.mul(kd, _LN2_LO)
    r = b.sub(hi, lo)                           # |r| <= 0.3466
    rl = b.sub(b.sub(hi, r), lo)                # r + rl = hi - lo (to 2^-100)
    r2 = b.mul(r, r)
    # Estrin's scheme (shorter dependency chains) with FMA; without FMA its
    # extra roundings cost a little accuracy (measured max 0.62 vs 0.59 ulp)
    q3 = b.estrin(r, _EXP_Q3, r2) if b.use_fma else b.horner(r, _EXP_Q3)
    q = b.fma(r, q3, 0.5)
    # 1 + (hi - lo) + (r + rl)^2 q ~= s + e1 - lo + r^2 q + r rl (q ~ 1/2):
    # s + e1 = 1 + hi exactly (Fast2Sum, |hi| < 1)
    s = b.add(1.0, hi)
    e1 = b.add(b.sub(1.0, s), hi)
    small = b.fma(r, rl, b.sub(e1, lo))
    tail = b.fma(r2, q, small)
    if parts is not None:
        parts.update(r=r, small=small, q3=q3)
    return s, tail, ki


def _scale(b: VectorFn, v, ki):
    """v 2^ki for ki in [-1083, 1024]: two factors 2^k1, 2^k2 (normal numbers),
    one rounding for subnormal results, overflow to inf."""
    k1 = b.ashr(ki, 1)
    k2 = b.isub(ki, k1)
    s1 = b.float(b.shl(b.iadd(k1, 1023), 52))
    s2 = b.float(b.shl(b.iadd(k2, 1023), 52))
    return b.mul(b.mul(v, s1), s2)


def _exp(b: VectorFn, x):
    # clamped: exp(x) = inf above 709.78, 0 below -745.14; NaN passes (ordered compares)
    s, tail, ki = _exp_parts(b, x)
    res = _scale(b, b.add(s, tail), ki)
    # subnormal results (and 0), in a branch taken only if some lane has one:
    # one rounding (musl's trick): y = e^x 2^1022 < 1 as (s + tail) 2^(k+1022)
    # exactly, rounded at 2^-52 by adding 1
    tiny = b.fcmp("olt", res, 2.0**-1022)
    b.raw(f"br i1 {b.any(tiny)}, label %tiny, label %done")
    b.label("tiny")
    kk = b.iselect(b.icmp("slt", ki, -1021), b.iadd(ki, 1022), 0)
    sc = b.float(b.shl(b.iadd(kk, 1023), 52))
    yh = b.mul(s, sc)
    yl = b.mul(tail, sc)
    hi = b.add(1.0, yh)
    lo = b.add(b.add(b.sub(1.0, hi), yh), yl)
    y = b.mul(b.sub(b.add(hi, lo), 1.0), 2.0**-1022)
    y = b.select(tiny, y, res)
    b.raw("br label %done")
    b.label("done")
    b.ret(b.emit(f"phi {b.vd} [ {res}, %entry ], [ {y}, %tiny ]"))


def _two_sum(b: VectorFn, a, c):
    """(s, e): s + e = a + c exactly, s = fl(a + c) (Knuth)."""
    s = b.add(a, c)
    bb = b.sub(s, a)
    e = b.add(b.sub(a, b.sub(s, bb)), b.sub(c, bb))
    return s, e


def _fast_two_sum(b: VectorFn, a, c):
    """(s, e): s + e = a + c exactly, s = fl(a + c), if |a| >= |c| (Dekker)."""
    s = b.add(a, c)
    return s, b.add(b.sub(a, s), c)


def _two_prod(b: VectorFn, a, c):
    """(p, e): p + e = a c exactly, p = fl(a c): FMA, else Dekker's product
    (Veltkamp splits: |a|, |c| < 2^995)."""
    p = b.mul(a, c)
    if b.use_fma:
        return p, b.fma(a, c, b.neg(p))

    def split(v):
        t = b.mul(v, 134217729.0)               # 2^27 + 1
        hi = b.sub(t, b.sub(t, v))
        return hi, b.sub(v, hi)

    ah, al = split(a)
    ch, cl = split(c)
    e = b.add(b.add(b.add(b.sub(b.mul(ah, ch), p), b.mul(ah, cl)), b.mul(al, ch)), b.mul(al, cl))
    return p, e


def _dd_div(b: VectorFn, nh, nl, dh, dl):
    """(nh + nl)/(dh + dl) to ~0.5 ulp (|nl| <= ulp(nh), |dl| <= ulp(dh)): q =
    nh/dh corrected by the remainder."""
    q = b.div(nh, dh)
    p, e = _two_prod(b, q, dh)
    rem = b.sub(b.add(b.sub(b.sub(nh, p), e), nl), b.mul(q, dl))
    return b.add(q, b.div(rem, dh))


def _half_exps(b: VectorFn, ax):
    """e^ax/2 = hh + hl and e^-ax/2 ~= ih + il (double-doubles), ax >= 0; hh
    overflows to inf above 710.47."""
    s, h2, rest, ki, _ = _exp_split(b, ax, hi_clamp=712.0)
    a, ae = _two_sum(b, s, h2)
    eh, el = _fast_two_sum(b, a, b.add(ae, rest))
    k = b.isub(ki, 1)
    hh = _scale(b, eh, k)
    hl = _scale(b, el, k)
    big = b.fcmp("ogt", hh, 2.0**60)            # e^-ax negligible: no overflow below
    hc = b.select(big, 2.0**60, hh)
    lc = b.select(big, 0.0, hl)
    ih = b.div(0.25, hc)
    p, e = _two_prod(b, ih, hc)
    il = b.div(b.sub(b.sub(b.sub(0.25, p), e), b.mul(ih, lc)), hc)
    return hh, hl, ih, il


_SINH_P = [1.0 / math.factorial(2 * j + 1) for j in range(1, 9)]     # x^3/3! ... x^17/17!
_COSH_P = [1.0 / math.factorial(2 * j + 2) for j in range(0, 8)]     # x^2/2! ... x^16/16!


def _sign_of(b: VectorFn, x, v):
    """v with the sign of x (v >= 0 or NaN)."""
    return b.select(b.icmp("slt", b.bits(x), 0), b.neg(v), v)


def _sinh_val(b: VectorFn, x, ax, halves):
    hh, hl, ih, il = halves
    sh, sl = _two_sum(b, hh, b.neg(ih))
    big = b.add(sh, b.add(sl, b.sub(hl, il)))
    big = b.select(b.fcmp("oeq", hh, _INF), _INF, big)
    z = b.mul(ax, ax)
    small = b.fma(b.mul(ax, z), b.horner(z, _SINH_P), ax)     # |x| < 0.25: Taylor
    res = b.select(b.fcmp("olt", ax, 0.25), small, big)
    res = _sign_of(b, x, res)
    return b.select(b.fcmp("olt", ax, 2.0**-27), x, res)


def _cosh_val(b: VectorFn, halves):
    hh, hl, ih, il = halves
    sh, sl = _two_sum(b, hh, ih)
    res = b.add(sh, b.add(sl, b.add(hl, il)))
    return b.select(b.fcmp("oeq", hh, _INF), _INF, res)


def _sinh(b: VectorFn, x):
    ax = b.fabs(x)
    b.ret(_sinh_val(b, x, ax, _half_exps(b, ax)))


def _cosh(b: VectorFn, x):
    b.ret(_cosh_val(b, _half_exps(b, b.fabs(x))))


def _sinhcosh(b: VectorFn, x):
    # one e^|x| for both: the same operations as _sinh and _cosh
    ax = b.fabs(x)
    halves = _half_exps(b, ax)
    b.ret_pair(_sinh_val(b, x, ax, halves), _cosh_val(b, halves))


def _tanh(b: VectorFn, x):
    ax = b.fabs(x)
    ac = b.select(b.fcmp("ogt", ax, 22.0), 22.0, ax)     # tanh = 1 above 19.06
    # |x| >= 0.25: (e^x - e^-x)/(e^x + e^-x) in double-double
    hh, hl, ih, il = _half_exps(b, ac)
    nh, nl = _two_sum(b, hh, b.neg(ih))
    dh, dl = _two_sum(b, hh, ih)
    big = _dd_div(b, nh, b.add(nl, b.sub(hl, il)), dh, b.add(dl, b.add(hl, il)))
    # |x| < 0.25: sinh/cosh from Taylor series as (x + x^3 p) / (1 + x^2 q)
    z = b.mul(ac, ac)
    sl = b.mul(b.mul(ac, z), b.horner(z, _SINH_P))
    cl = b.mul(z, b.horner(z, _COSH_P))
    nh, nl = _fast_two_sum(b, ac, sl)
    dh, dl = _fast_two_sum(b, 1.0, cl)
    small = _dd_div(b, nh, nl, dh, dl)
    res = b.select(b.fcmp("olt", ax, 0.25), small, big)
    res = _sign_of(b, x, res)
    b.ret(b.select(b.fcmp("olt", ax, 2.0**-27), x, res))


def _exp_split(b: VectorFn, x, hi_clamp=710.0):
    """``(s, h2, rest, ki, tail)``: e^x = 2^ki (s + h2 + rest) to ~2^-62 relative,
    h2 = r^2/2 exactly (r^2 as a double-double), |rest| < 0.01; s + tail as in
    :func:`_exp_parts`."""
    parts = {}
    s, tail, ki = _exp_parts(b, x, hi_clamp=hi_clamp, parts=parts)
    r = parts["r"]
    r2h, r2l = _two_prod(b, r, r)
    q3 = parts["q3"]                            # q(r) = 1/2 + r q3(r)
    rest = b.fma(r2h, b.mul(r, q3), b.fma(0.5, r2l, parts["small"]))
    return s, b.mul(0.5, r2h), rest, ki, tail


def _expm1(b: VectorFn, x):
    # e^x - 1 = 2^k (s + r^2/2 + rest) - 1: (2^k s - 1) + 2^k r^2/2 by TwoSums,
    # the rest added once
    s, h2, rest, ki, tail = _exp_split(b, x)
    a = _scale(b, s, ki)             # may overflow for x > 700: those lanes are e^x
    sm, e = _two_sum(b, a, -1.0)
    u, ue = _two_sum(b, sm, _scale(b, h2, ki))
    res = b.add(u, b.add(b.add(ue, e), _scale(b, rest, ki)))
    # x > 700: e^x (-1 negligible, overflow to inf); |x| < 2^-20: x + x^2/2 + x^3/6
    # (one rounding; the sum above would round twice near |x| ~ 2^-53);
    # tiny, -0, subnormals: x
    res = b.select(b.fcmp("ogt", x, 700.0), _scale(b, b.add(s, tail), ki), res)
    near0 = b.fma(b.mul(x, x), b.fma(x, 1.0 / 6.0, 0.5), x)
    res = b.select(b.fcmp("olt", b.fabs(x), 2.0**-20), near0, res)
    res = b.select(b.fcmp("olt", b.fabs(x), 2.0**-54), x, res)
    b.ret(res)


def _log_kernel(b: VectorFn, f, dk, c):
    """fdlibm: log(2^k (1+f) + c'), sqrt(2)/2 - 1 < f < sqrt(2) - 1, c: the
    correction term c'/(1+f) (None: 0)."""
    hfsq = b.mul(b.mul(0.5, f), f)
    s = b.div(f, b.add(2.0, f))
    z = b.mul(s, s)
    w = b.mul(z, z)
    t1 = b.mul(w, b.horner(w, [_LG[1], _LG[3], _LG[5]]))
    t2 = b.mul(z, b.horner(w, [_LG[0], _LG[2], _LG[4], _LG[6]]))
    R = b.add(t2, t1)
    # dk*ln2_hi - ((hfsq - (s*(hfsq+R) + (dk*ln2_lo + c))) - f)
    lo = b.mul(dk, _LN2_LO)
    if c is not None:
        lo = b.add(lo, c)
    a = b.add(b.mul(s, b.add(hfsq, R)), lo)
    return b.sub(b.mul(dk, _LN2_HI), b.sub(b.sub(hfsq, a), f))


def _log1p(b: VectorFn, x):
    # musl/fdlibm log1p: 1+x = 2^k (1+f) with the rounding error of 1+x in c
    small = b.emit(f"and {b.vb} {b.fcmp('olt', x, _d(0x3FDA827A00000000))}, "
                   f"{b.fcmp('ogt', x, -_d(0x3FD2BEC500000000))}")   # sqrt(2)/2 <~ 1+x <~ sqrt(2)
    u = b.add(1.0, x)
    iu = b.iadd(b.bits(u), (0x3FF00000 - 0x3FE6A09E) << 32)
    k = b.isub(b.ashr(iu, 52), 1023)
    m = b.float(b.iadd(b.iand(iu, 0x000FFFFFFFFFFFFF), 0x3FE6A09E << 32))
    c = b.select(b.icmp("sge", k, 2), b.sub(1.0, b.sub(u, x)), b.sub(x, b.sub(u, 1.0)))
    c = b.select(b.icmp("slt", k, 54), b.div(c, u), 0.0)
    f = b.select(small, x, b.sub(m, 1.0))
    dk = b.select(small, 0.0, b.sitofp(k))
    c = b.select(small, 0.0, c)
    res = _log_kernel(b, f, dk, c)
    res = b.select(b.fcmp("oeq", x, _INF), _INF, res)
    res = b.select(b.fcmp("olt", x, -1.0), _NAN, res)
    res = b.select(b.fcmp("oeq", x, -1.0), -_INF, res)
    res = b.select(b.fcmp("olt", b.fabs(x), 2.0**-53), x, res)
    res = b.select(b.fcmp("uno", x, x), x, res)
    b.ret(res)


def _log(b: VectorFn, x):
    # subnormals: scale by 2^54
    sub = b.fcmp("olt", x, 2.0**-1022)
    xs = b.select(sub, b.mul(x, 2.0**54), x)
    kadj = b.iselect(sub, -54 - 1023, -1023)
    ix = b.iadd(b.bits(xs), (0x3FF00000 - 0x3FE6A09E) << 32)
    k = b.iadd(b.ashr(ix, 52), kadj)            # x = 2^k (1+f), sqrt(2)/2 < 1+f < sqrt(2)
    m = b.float(b.iadd(b.iand(ix, 0x000FFFFFFFFFFFFF), 0x3FE6A09E << 32))
    f = b.sub(m, 1.0)                           # exact
    res = _log_kernel(b, f, b.sitofp(k), None)
    res = b.select(b.fcmp("oeq", x, _INF), _INF, res)
    res = b.select(b.fcmp("olt", x, 0.0), _NAN, res)
    res = b.select(b.fcmp("oeq", x, 0.0), -_INF, res)
    res = b.select(b.fcmp("uno", x, x), x, res)
    b.ret(res)


#: the routines of this module by vector function name (``vmath._KERNELS``)
ROUTINES = {
    "exp": _exp,
    "log": _log,
    "expm1": _expm1,
    "log1p": _log1p,
    "sinh": _sinh,
    "cosh": _cosh,
    "tanh": _tanh,
    "sinhcosh": _sinhcosh,
}
