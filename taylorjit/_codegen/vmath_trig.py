"""Vector sin, cos, tan and atan (see :mod:`.vmath` for the algorithms and their
measured accuracy).

Each routine takes the builder (:class:`taylorjit._codegen.vmath_ir.VectorFn`)
and the argument's operand and ends the function with a ``ret``: fdlibm's
argument reduction (:func:`_rem_pio2`, medium case; lanes above
:data:`TRIG_FAST_MAX` call the C library) and kernels ``__sin``, ``__cos``,
``__tan`` (:func:`_sincos` also gives the pair), and fdlibm's ``s_atan.c``
(:func:`_atan`).  :mod:`.vmath` lists them in its function table
(``vmath._KERNELS``).
"""
from __future__ import annotations

from .vmath_ir import SHIFT, VectorFn, from_bits as _d     # _d: short, for the tables


# ----------------------------------------------------------------------------
# constants (hex bit patterns as in fdlibm)

# fdlibm __rem_pio2
_INVPIO2 = _d(0x3FE45F306DC9C883)
_PIO2_1 = _d(0x3FF921FB54400000)       # first 33 bits of pi/2
_PIO2_1T = _d(0x3DD0B4611A626331)      # pi/2 - pio2_1
_PIO2_2 = _d(0x3DD0B4611A600000)       # second 33 bits
_PIO2_2T = _d(0x3BA3198A2E037073)      # pi/2 - (pio2_1 + pio2_2)
_PIO2_3 = _d(0x3BA3198A2E000000)       # third 33 bits
_PIO2_3T = _d(0x397B839A252049C1)      # pi/2 - (pio2_1 + pio2_2 + pio2_3)
TRIG_FAST_MAX = 1.5e6                      # fast reduction for |x| <= this (< 2^20 pi/2)

# fdlibm __sin / __cos kernels on [-pi/4, pi/4]
_S = [_d(0xBFC5555555555549), _d(0x3F8111111110F8A6), _d(0xBF2A01A019C161D5),
      _d(0x3EC71DE357B1FE7D), _d(0xBE5AE5E68A2B9CEB), _d(0x3DE5D93A5ACFD57C)]
_C = [_d(0x3FA555555555554C), _d(0xBF56C16C16C15177), _d(0x3EFA01A019CB1590),
      _d(0xBE927E4F809C52AD), _d(0x3E21EE9EBDB4B1C4), _d(0xBDA8FAE9BE8838D4)]

# fdlibm __tan kernel (T[0..12]) and pi/4 as hi + lo
_T = [_d(v) for v in (
    0x3FD5555555555563, 0x3FC111111110FE7A, 0x3FABA1BA1BB341FE, 0x3F9664F48406D637,
    0x3F8226E3E96E8493, 0x3F6D6D22C9560328, 0x3F57DBC8FEE08315, 0x3F4344D8F2F26501,
    0x3F3026F71A8D1068, 0x3F147E88A03792A6, 0x3F12B80F32F0A7E9, 0xBEF375CBDB605373,
    0x3EFB2A7074BF7AD4)]
_PIO4 = _d(0x3FE921FB54442D18)
_PIO4LO = _d(0x3C81A62633145C07)

# fdlibm s_atan.c: atan(0.5), atan(1), atan(1.5), atan(inf) as hi + lo; aT[0..10]
_ATANHI = [_d(0x3FDDAC670561BB4F), _d(0x3FE921FB54442D18), _d(0x3FEF730BD281F69B),
           _d(0x3FF921FB54442D18)]
_ATANLO = [_d(0x3C7A2B7F222F65E2), _d(0x3C81A62633145C07), _d(0x3C7007887AF0CBBD),
           _d(0x3C91A62633145C07)]
_AT = [_d(v) for v in (
    0x3FD555555555550D, 0xBFC999999998EBC4, 0x3FC24924920083FF, 0xBFBC71C6FE231671,
    0x3FB745CDC54C206E, 0xBFB3B0F2AF749A6D, 0x3FB10D66A0D03D51, 0xBFADDE2D52DEFD9A,
    0x3FA97B4B24760DEB, 0xBFA2B4442C6A6C2F, 0x3F90AD3AE322DA11)]


# ----------------------------------------------------------------------------
# kernels: each takes (builder, x) and ends the function with a ret


def _rem_pio2(b: VectorFn, x):
    """``(n, y0, y1)``: x = n pi/2 + y0 + y1, |y0| <~ pi/4 (fdlibm's medium case,
    all three rounds; valid for |x| < 2^20 pi/2); n as an integer vector (its
    low bits are those of the quadrant)."""
    t = b.fma(x, _INVPIO2, SHIFT)
    fn = b.sub(t, SHIFT)
    n = b.bits(t)                               # low bits: n mod 2^51
    def expo(v):
        return b.iand(b.ashr(b.bits(v), 52), 0x7FF)

    # fdlibm: each further round replaces the previous one when the previous
    # result lost more than 16 (49) bits to cancellation; it drops the previous
    # round's rounding error, which is zero only then: rounds chosen by selects
    j = expo(x)
    r = b.sub(x, b.mul(fn, _PIO2_1))            # exact
    w = b.mul(fn, _PIO2_1T)                     # 1st round, good to 85 bits
    y0 = b.sub(r, w)
    for c, ct, bits in ((_PIO2_2, _PIO2_2T, 16), (_PIO2_3, _PIO2_3T, 49)):
        more = b.icmp("sgt", b.isub(j, expo(y0)), bits)
        tt = r
        wn = b.mul(fn, c)                       # exact
        rn = b.sub(tt, wn)
        wn = b.sub(b.mul(fn, ct), b.sub(b.sub(tt, rn), wn))
        r = b.select(more, rn, r)
        w = b.select(more, wn, w)
        y0 = b.select(more, b.sub(rn, wn), y0)
    y1 = b.sub(b.sub(r, y0), w)
    return n, y0, y1


def _ksin(b: VectorFn, x, y):
    """fdlibm __sin(x, y, 1)."""
    z = b.mul(x, x)
    w = b.mul(z, z)
    r = b.fma(b.mul(z, w), b.fma(z, _S[5], _S[4]), b.fma(z, b.fma(z, _S[3], _S[2]), _S[1]))
    v = b.mul(z, x)
    # x - ((z*(half*y - v*r) - y) - v*S1)
    inner = b.sub(b.mul(z, b.sub(b.mul(0.5, y), b.mul(v, r))), y)
    return b.sub(x, b.sub(inner, b.mul(v, _S[0])))


def _kcos(b: VectorFn, x, y):
    """fdlibm __cos(x, y)."""
    z = b.mul(x, x)
    w = b.mul(z, z)
    r1 = b.mul(z, b.fma(z, b.fma(z, _C[2], _C[1]), _C[0]))
    r = b.fma(b.mul(w, w), b.fma(z, b.fma(z, _C[5], _C[4]), _C[3]), r1)
    hz = b.mul(0.5, z)
    w = b.sub(1.0, hz)
    # w + (((1-w)-hz) + (z*r - x*y))
    return b.add(w, b.add(b.sub(b.sub(1.0, w), hz), b.sub(b.mul(z, r), b.mul(x, y))))


def _quadrant(b: VectorFn, x, n, s, c, cos: bool):
    """sin x (cos x) from the kernels s = sin y, c = cos y, x = n pi/2 + y."""
    if cos:
        n = b.iadd(n, 1)                        # cos x = sin(x + pi/2)
    odd = b.icmp("ne", b.iand(n, 1), 0)
    neg = b.icmp("ne", b.iand(n, 2), 0)
    res = b.select(odd, c, s)
    res = b.select(neg, b.neg(res), res)
    if not cos:                                 # sin x = x for |x| < 2^-26 (and -0)
        res = b.select(b.fcmp("olt", b.fabs(x), 2.0**-26), x, res)
    return res


def _sincos(b: VectorFn, x, cos: bool | None):
    """sin (cos: False), cos (True) or the pair (sin, cos) (None): one reduction
    and both kernels in every case, so the pair's components are bit for bit
    the single functions' results."""
    n, y0, y1 = _rem_pio2(b, x)
    s = _ksin(b, y0, y1)
    c = _kcos(b, y0, y1)
    ax = b.fabs(x)
    slow = b.fcmp("ugt", ax, TRIG_FAST_MAX)
    if cos is None:
        b.ret_with_fallback(("sin", "cos"), x, (_quadrant(b, x, n, s, c, False),
                                                _quadrant(b, x, n, s, c, True)), slow)
    else:
        b.ret_with_fallback("cos" if cos else "sin", x, _quadrant(b, x, n, s, c, cos), slow)


def _ktan(b: VectorFn, x, y, odd):
    """fdlibm __tan(x, y, iy): tan(x+y), or -1/tan(x+y) in the lanes ``odd``."""
    hx = b.bits(x)
    neg = b.icmp("slt", hx, 0)
    big = b.fcmp("oge", b.fabs(x), _d(0x3FE5942800000000))       # |x| >= 0.6744
    flip = b.emit(f"and {b.vb} {big}, {neg}")
    xa = b.select(flip, b.neg(x), x)
    ya = b.select(flip, b.neg(y), y)
    # tan(pi/4 - t) = (1 - tan t)/(1 + tan t): argument pi/4 - |x|
    x = b.select(big, b.add(b.sub(_PIO4, xa), b.sub(_PIO4LO, ya)), x)
    y = b.select(big, 0.0, y)
    z = b.mul(x, x)
    w = b.mul(z, z)
    r = b.horner(w, _T[1::2])                   # T1 + w*(T3 + ... + w*T11)
    v = b.mul(z, b.horner(w, _T[2::2]))         # z*(T2 + w*(T4 + ... + w*T12))
    s = b.mul(z, x)
    r = b.add(y, b.mul(z, b.add(b.mul(s, b.add(r, v)), y)))
    r = b.add(r, b.mul(_T[0], s))
    w = b.add(x, r)
    # big: sign * (v - 2*(x - (w*w/(w+v) - r))), v = iy
    iy = b.select(odd, -1.0, 1.0)
    rb = b.sub(iy, b.mul(2.0, b.sub(x, b.sub(b.div(b.mul(w, w), b.add(w, iy)), r))))
    rb = b.select(neg, b.neg(rb), rb)
    # odd: -1/(x+r) accurately: z+v = x+r with z's low word cleared, t ~ a = -1/w
    zz = b.float(b.iand(b.bits(w), -(1 << 32)))
    vv = b.sub(r, b.sub(zz, x))
    a = b.div(-1.0, w)
    t = b.float(b.iand(b.bits(a), -(1 << 32)))
    ss = b.fma(t, zz, 1.0)
    ro = b.add(t, b.mul(a, b.fma(t, vv, ss)))
    return b.select(big, rb, b.select(odd, ro, w))


def _tan(b: VectorFn, x):
    n, y0, y1 = _rem_pio2(b, x)
    odd = b.icmp("ne", b.iand(n, 1), 0)
    res = _ktan(b, y0, y1, odd)
    res = b.select(b.fcmp("olt", b.fabs(x), 2.0**-27), x, res)
    b.ret_with_fallback("tan", x, res, b.fcmp("ugt", b.fabs(x), TRIG_FAST_MAX))


def _atan(b: VectorFn, x):
    # fdlibm s_atan.c: atan|x| = atan(c_id) + atan(t), t = (|x| - c)/(1 + c|x|)
    ax = b.fabs(x)
    lt = [b.fcmp("olt", ax, v) for v in (0.4375, 0.6875, 1.1875, 2.4375)]

    def pick(vals):          # vals for id -1, 0, 1, 2, 3 (|x| in increasing ranges)
        out = vals[4]
        for m, v in zip(reversed(lt), reversed(vals[:4])):
            out = b.select(m, v, out)
        return out

    num = pick([x, b.sub(b.mul(2.0, ax), 1.0), b.sub(ax, 1.0), b.sub(ax, 1.5), -1.0])
    den = pick([1.0, b.add(2.0, ax), b.add(ax, 1.0), b.fma(1.5, ax, 1.0), ax])
    t = b.div(num, den)
    z = b.mul(t, t)
    w = b.mul(z, z)
    s1 = b.mul(z, b.horner(w, _AT[0::2]))
    s2 = b.mul(w, b.horner(w, _AT[1::2]))
    ts = b.mul(t, b.add(s1, s2))
    small = b.sub(t, ts)                        # id -1: t = x
    hi = pick([0.0] + _ATANHI)
    lo = pick([0.0] + _ATANLO)
    res = b.sub(hi, b.sub(b.sub(ts, lo), t))
    res = b.select(b.icmp("slt", b.bits(x), 0), b.neg(res), res)
    res = b.select(lt[0], small, res)
    res = b.select(b.fcmp("olt", ax, 2.0**-27), x, res)
    b.ret(res)


#: the routines of this module by vector function name (``vmath._KERNELS``)
ROUTINES = {
    "sin": lambda b, x: _sincos(b, x, False),
    "cos": lambda b, x: _sincos(b, x, True),
    "tan": _tan,
    "atan": _atan,
    "sincos": lambda b, x: _sincos(b, x, None),
}
