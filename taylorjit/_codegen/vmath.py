"""SIMD vector math as LLVM IR text.

:func:`ir_functions` returns an IR fragment defining, for each requested name,
``define internal <W x double> @tj_vm_<name>_w<W>(<W x double> %x)``: a
branch-free SIMD implementation for the names in :data:`VECTOR_FUNCS`, else a
per-lane call of the scalar C libm function of that name.  The pair functions
:data:`PAIR_FUNCS` return two results of one argument,
``define internal {<W x double>, <W x double>} @tj_vm_<name>_w<W>(<W x double> %x)``
(take them apart with ``extractvalue``): ``sincos`` gives (sin x, cos x) from
one argument reduction and one evaluation of each kernel, ``sinhcosh`` gives
(sinh x, cosh x) from one e^|x|; each component is bit for bit the result of
the unary function (:data:`PAIR_COMPONENTS`) for every input, width and
``fma`` (the same operations, including the libm branch of sin and cos), so a
caller may use either.

Accuracy: every vector function is within 1 ulp of the exact result over the
whole double domain (the fdlibm/musl error bounds, measured < 0.6 ulp, see
``tests/test_vmath.py``) and gives the C libm special values (NaN, infinities,
signed zeros, overflow and underflow, subnormal results).  No fast-math flags
are used: the only fused operations are explicit ``llvm.fma`` calls when
``fma=True`` (exactly rounded, hence deterministic); ``fma=False`` gives plain
multiply-adds with the same accuracy bound.  The algorithms:

* exp: Cody-Waite reduction ``x = k ln2 + hi - lo`` (``k ln2_hi`` exact),
  ``e^r - 1 - r = r^2 (1/2 + r q3(r))`` with a degree-9 minimax polynomial q3
  (our Remez fit, error 2^-60 of e^r; Estrin's scheme with FMA, Horner's
  without) and a compensated sum ``1 + hi - lo + r^2 q(r)``; ``2^k`` applied
  in two factors (overflow to inf), subnormal results rounded once (musl's
  trick, in a branch taken only by vectors with such a lane).
* expm1: the same kernel with ``r^2`` as a double-double, ``2^k s - 1`` and
  ``2^k r^2/2`` added by TwoSums; ``x + x^2/2 + x^3/6`` for ``|x| < 2^-20``.
* sinh, cosh, tanh: ``e^|x|/2`` and ``e^-|x|/2`` as double-doubles from that
  kernel (their sum, difference, double-double quotient); Taylor series for
  ``|x| < 0.25`` (sinh, tanh).
* log, log1p: fdlibm's ``e_log.c`` / ``s_log1p.c`` (``x = 2^k (1+f)``,
  ``s = f/(2+f)``, the Lg1..Lg7 minimax kernel), subnormals scaled by 2^54.
* sin, cos, tan: fdlibm's ``__rem_pio2`` medium case (up to three Cody-Waite
  rounds chosen by selects, as fdlibm's branches) and the fdlibm kernels
  ``__sin``/``__cos``/``__tan`` with the reduced argument's tail; lanes with
  ``|x| > TRIG_FAST_MAX = 1.5e6`` (and infinities) take a branch, rarely taken,
  that calls the scalar libm function on the vector's lanes (Payne-Hanek
  reduction there: the result is libm's).
* atan: fdlibm's ``s_atan.c``, its five argument ranges chosen by selects.

Measured maximum errors (200k points per function over the whole domain,
``tests/test_vmath.py`` with ``TJ_VMATH_POINTS=200000``): exp 0.57 (0.59
without FMA), expm1 0.56, log 0.78, log1p 0.82, sin 0.78, cos 0.75, tan 0.81,
atan 0.81, sinh 0.55, cosh 0.52, tanh 0.55 ulp.

The functions are ``internal`` and small enough for LLVM to inline them; each
lane's result does not depend on the width (``fma`` changes few roundings).

Symbol clashes: the fragment declares the libm functions it calls (e.g.
``declare double @sin(double)``) and the LLVM intrinsics it uses, and it may
define internal helpers.  Pass ``declared``, the set of global names already
declared or defined in the module the fragment goes into (without ``@``): those
are not declared again, and every name the fragment declares or defines is
added to the set, so several fragments for one module (other widths, other
functions) can share one set.  :func:`symbols` lists them beforehand.
"""

from __future__ import annotations

import math
import struct

__all__ = ["VECTOR_FUNCS", "PAIR_FUNCS", "PAIR_COMPONENTS", "host_width", "has_fma", "ir_functions", "symbols",
           "driver_ir"]

VECTOR_FUNCS: frozenset[str] = frozenset({"exp", "log", "sin", "cos", "tan", "expm1",
                                          "log1p", "atan", "sinh", "cosh", "tanh"})

#: The pair functions (returning ``{<W x double>, <W x double>}``) and their
#: components: each component is bit for bit the unary function of that name.
PAIR_COMPONENTS: dict[str, tuple[str, str]] = {"sincos": ("sin", "cos"),
                                                "sinhcosh": ("sinh", "cosh")}
PAIR_FUNCS: frozenset[str] = frozenset(PAIR_COMPONENTS)


def _features():
    import llvmlite.binding as llb

    return llb.get_host_cpu_features()


def host_width() -> int:
    """SIMD width in doubles of the host: 8 with AVX-512F, 4 with AVX/AVX2, else 2."""
    f = _features()
    if f.get("avx512f"):
        return 8
    if f.get("avx2") or f.get("avx"):
        return 4
    return 2


def has_fma() -> bool:
    """Whether the host has fused multiply-add instructions."""
    return bool(_features().get("fma"))


# ----------------------------------------------------------------------------
# IR builder


def _hex(v: float) -> str:
    return f"0x{struct.unpack('<Q', struct.pack('<d', float(v)))[0]:016X}"


def _d(bits: int) -> float:
    """The double with these bits."""
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


class _Fn:
    """Emits the body of one vector function: values are IR operand strings of
    ``<W x double>`` (``vd``), ``<W x i64>`` (``vi``) or ``<W x i1>`` type;
    Python floats and ints passed as operands become splat constants."""

    def __init__(self, width: int, fma: bool):
        self.W, self.use_fma = width, fma
        self.vd, self.vi, self.vb = (f"<{width} x double>", f"<{width} x i64>",
                                     f"<{width} x i1>")
        self.ret_type = self.vd                 # {vd, vd} for the pair functions
        self.lines: list[str] = []
        self.n = 0
        self.intrinsics: dict[str, str] = {}   # name -> declaration
        self.libm: set[str] = set()

    # operands
    def d(self, v):
        if isinstance(v, (int, float)):
            h = _hex(v)
            return "<" + ", ".join([f"double {h}"] * self.W) + ">"
        return v

    def i(self, v):
        if isinstance(v, int):
            return "<" + ", ".join([f"i64 {v}"] * self.W) + ">"
        return v

    def emit(self, text: str) -> str:
        self.n += 1
        t = f"%v{self.n}"
        self.lines.append(f"  {t} = {text}")
        return t

    def label(self, name: str):
        self.lines.append(f"{name}:")

    def raw(self, text: str):
        self.lines.append("  " + text)

    # floating point
    def _fbin(self, op, a, b):
        return self.emit(f"{op} {self.vd} {self.d(a)}, {self.d(b)}")

    def add(self, a, b):
        return self._fbin("fadd", a, b)

    def sub(self, a, b):
        return self._fbin("fsub", a, b)

    def mul(self, a, b):
        return self._fbin("fmul", a, b)

    def div(self, a, b):
        return self._fbin("fdiv", a, b)

    def neg(self, a):
        return self.emit(f"fneg {self.vd} {self.d(a)}")

    def _intr(self, base, ty, nargs, ret=None):
        name = f"llvm.{base}.v{self.W}{ty}"
        vt = {"f64": self.vd, "i1": self.vb}[ty]
        ret = ret or vt
        self.intrinsics[name] = f"declare {ret} @{name}({', '.join([vt] * nargs)})"
        return name

    def fma(self, a, b, c):
        """``a*b + c``: one rounding with ``fma=True``, two otherwise."""
        if not self.use_fma:
            return self.add(self.mul(a, b), c)
        f = self._intr("fma", "f64", 3)
        vd = self.vd
        return self.emit(f"call {vd} @{f}({vd} {self.d(a)}, {vd} {self.d(b)}, {vd} {self.d(c)})")

    def horner(self, x, coeffs):
        """``c0 + x*(c1 + x*(c2 + ...))``."""
        acc = coeffs[-1]
        for c in reversed(coeffs[:-1]):
            acc = self.fma(acc, x, c)
        return acc

    def estrin(self, x, coeffs, x2=None):
        """``c0 + c1 x + ... + cn x^n`` by Estrin's scheme (pairs ``c_2i +
        c_2i+1 x``, then pairs of those with x^2, x^4, ...); ``x2``: x*x if
        already computed."""
        terms = [self.fma(coeffs[i + 1], x, coeffs[i]) if i + 1 < len(coeffs) else coeffs[i]
                 for i in range(0, len(coeffs), 2)]
        p = x2 or self.mul(x, x)
        while len(terms) > 1:
            terms = [self.fma(terms[i + 1], p, terms[i]) if i + 1 < len(terms) else terms[i]
                     for i in range(0, len(terms), 2)]
            if len(terms) > 1:
                p = self.mul(p, p)
        return terms[0]

    def fabs(self, a):
        f = self._intr("fabs", "f64", 1)
        return self.emit(f"call {self.vd} @{f}({self.vd} {self.d(a)})")

    def fcmp(self, pred, a, b):
        return self.emit(f"fcmp {pred} {self.vd} {self.d(a)}, {self.d(b)}")

    def select(self, m, a, b):
        return self.emit(f"select {self.vb} {m}, {self.vd} {self.d(a)}, {self.vd} {self.d(b)}")

    def any(self, m):
        f = self._intr("vector.reduce.or", "i1", 1, ret="i1")
        return self.emit(f"call i1 @{f}({self.vb} {m})")

    # integers
    def bits(self, a):
        return self.emit(f"bitcast {self.vd} {self.d(a)} to {self.vi}")

    def float(self, a):
        return self.emit(f"bitcast {self.vi} {a} to {self.vd}")

    def _ibin(self, op, a, b):
        return self.emit(f"{op} {self.vi} {self.i(a)}, {self.i(b)}")

    def iadd(self, a, b):
        return self._ibin("add", a, b)

    def isub(self, a, b):
        return self._ibin("sub", a, b)

    def iand(self, a, b):
        return self._ibin("and", a, b)

    def ixor(self, a, b):
        return self._ibin("xor", a, b)

    def shl(self, a, b):
        return self._ibin("shl", a, b)

    def ashr(self, a, b):
        return self._ibin("ashr", a, b)

    def icmp(self, pred, a, b):
        return self.emit(f"icmp {pred} {self.vi} {self.i(a)}, {self.i(b)}")

    def sitofp(self, a):
        return self.emit(f"sitofp {self.vi} {a} to {self.vd}")

    def iselect(self, m, a, b):
        return self.emit(f"select {self.vb} {m}, {self.vi} {self.i(a)}, {self.vi} {self.i(b)}")

    # helpers
    def lanes_libm(self, fname, x):
        """The vector of ``fname(x[i])`` (scalar libm calls)."""
        self.libm.add(fname)
        v = "poison"
        for lane in range(self.W):
            xi = self.emit(f"extractelement {self.vd} {x}, i32 {lane}")
            yi = self.emit(f"call double @{fname}(double {xi})")
            v = self.emit(f"insertelement {self.vd} {v}, double {yi}, i32 {lane}")
        return v

    def ret_with_fallback(self, fname, x, fast, mask):
        """Return ``fast``, except lanes in ``mask``: ``fname`` of libm (a
        branch taken only if some lane is in ``mask``).  ``fname`` and ``fast``
        may be tuples (a pair function): one libm function per component."""
        pair = isinstance(fname, tuple)
        fnames, fasts = (fname, fast) if pair else ((fname,), (fast,))
        anyl = self.any(mask)
        self.raw(f"br i1 {anyl}, label %slow, label %done")
        self.label("slow")
        slows = [self.select(mask, self.lanes_libm(f, x), v) for f, v in zip(fnames, fasts)]
        self.raw("br label %done")
        self.label("done")
        rs = [self.emit(f"phi {self.vd} [ {v}, %entry ], [ {sv}, %slow ]")
              for v, sv in zip(fasts, slows)]
        if pair:
            self.ret_pair(*rs)
        else:
            self.raw(f"ret {self.vd} {rs[0]}")

    def ret(self, v):
        self.raw(f"ret {self.vd} {self.d(v)}")

    def ret_pair(self, a, c):
        """Return the pair ``{a, c}`` (the function's return type is set)."""
        self.ret_type = t = f"{{{self.vd}, {self.vd}}}"
        v = self.emit(f"insertvalue {t} poison, {self.vd} {self.d(a)}, 0")
        v = self.emit(f"insertvalue {t} {v}, {self.vd} {self.d(c)}, 1")
        self.raw(f"ret {t} {v}")


# ----------------------------------------------------------------------------
# constants (hex bit patterns as in fdlibm / musl)

_INF = math.inf
_NAN = _d(0x7FF8000000000000)
_SHIFT = 1.5 * 2.0**52                    # x + SHIFT - SHIFT rounds x to an integer
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


def _exp_parts(b: _Fn, x, lo_clamp=-750.0, hi_clamp=710.0, parts=None):
    """``(s, tail, ki)`` with e^x ~= (s + tail) 2^ki, s = 1 + hi (|tail| < 0.1),
    the sum s + tail accurate to ~2^-60 relative; x clamped to the given range
    (NaN passes).  ``parts``: a dict receiving r and small (tail = r^2 q(r) +
    small)."""
    xc = b.select(b.fcmp("ogt", x, hi_clamp), hi_clamp, x)
    xc = b.select(b.fcmp("olt", xc, lo_clamp), lo_clamp, xc)
    t = b.fma(xc, _INVLN2, _SHIFT)
    kd = b.sub(t, _SHIFT)                       # k = round(x/ln2), |k| <= 1083
    ki = b.isub(b.bits(t), b.bits(_SHIFT))      # k as an integer
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


def _scale(b: _Fn, v, ki):
    """v 2^ki for ki in [-1083, 1024]: two factors 2^k1, 2^k2 (normal numbers),
    one rounding for subnormal results, overflow to inf."""
    k1 = b.ashr(ki, 1)
    k2 = b.isub(ki, k1)
    s1 = b.float(b.shl(b.iadd(k1, 1023), 52))
    s2 = b.float(b.shl(b.iadd(k2, 1023), 52))
    return b.mul(b.mul(v, s1), s2)


def _exp(b: _Fn, x):
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


def _two_sum(b: _Fn, a, c):
    """(s, e): s + e = a + c exactly, s = fl(a + c) (Knuth)."""
    s = b.add(a, c)
    bb = b.sub(s, a)
    e = b.add(b.sub(a, b.sub(s, bb)), b.sub(c, bb))
    return s, e


def _fast_two_sum(b: _Fn, a, c):
    """(s, e): s + e = a + c exactly, s = fl(a + c), if |a| >= |c| (Dekker)."""
    s = b.add(a, c)
    return s, b.add(b.sub(a, s), c)


def _two_prod(b: _Fn, a, c):
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


def _dd_div(b: _Fn, nh, nl, dh, dl):
    """(nh + nl)/(dh + dl) to ~0.5 ulp (|nl| <= ulp(nh), |dl| <= ulp(dh)): q =
    nh/dh corrected by the remainder."""
    q = b.div(nh, dh)
    p, e = _two_prod(b, q, dh)
    rem = b.sub(b.add(b.sub(b.sub(nh, p), e), nl), b.mul(q, dl))
    return b.add(q, b.div(rem, dh))


def _half_exps(b: _Fn, ax):
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


def _sign_of(b: _Fn, x, v):
    """v with the sign of x (v >= 0 or NaN)."""
    return b.select(b.icmp("slt", b.bits(x), 0), b.neg(v), v)


def _sinh_val(b: _Fn, x, ax, halves):
    hh, hl, ih, il = halves
    sh, sl = _two_sum(b, hh, b.neg(ih))
    big = b.add(sh, b.add(sl, b.sub(hl, il)))
    big = b.select(b.fcmp("oeq", hh, _INF), _INF, big)
    z = b.mul(ax, ax)
    small = b.fma(b.mul(ax, z), b.horner(z, _SINH_P), ax)     # |x| < 0.25: Taylor
    res = b.select(b.fcmp("olt", ax, 0.25), small, big)
    res = _sign_of(b, x, res)
    return b.select(b.fcmp("olt", ax, 2.0**-27), x, res)


def _cosh_val(b: _Fn, halves):
    hh, hl, ih, il = halves
    sh, sl = _two_sum(b, hh, ih)
    res = b.add(sh, b.add(sl, b.add(hl, il)))
    return b.select(b.fcmp("oeq", hh, _INF), _INF, res)


def _sinh(b: _Fn, x):
    ax = b.fabs(x)
    b.ret(_sinh_val(b, x, ax, _half_exps(b, ax)))


def _cosh(b: _Fn, x):
    b.ret(_cosh_val(b, _half_exps(b, b.fabs(x))))


def _sinhcosh(b: _Fn, x):
    # one e^|x| for both: the same operations as _sinh and _cosh
    ax = b.fabs(x)
    halves = _half_exps(b, ax)
    b.ret_pair(_sinh_val(b, x, ax, halves), _cosh_val(b, halves))


def _tanh(b: _Fn, x):
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


def _exp_split(b: _Fn, x, hi_clamp=710.0):
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


def _expm1(b: _Fn, x):
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


def _log_kernel(b: _Fn, f, dk, c):
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


def _log1p(b: _Fn, x):
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


def _log(b: _Fn, x):
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


def _rem_pio2(b: _Fn, x):
    """``(n, y0, y1)``: x = n pi/2 + y0 + y1, |y0| <~ pi/4 (fdlibm's medium case,
    all three rounds; valid for |x| < 2^20 pi/2); n as an integer vector (its
    low bits are those of the quadrant)."""
    t = b.fma(x, _INVPIO2, _SHIFT)
    fn = b.sub(t, _SHIFT)
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


def _ksin(b: _Fn, x, y):
    """fdlibm __sin(x, y, 1)."""
    z = b.mul(x, x)
    w = b.mul(z, z)
    r = b.fma(b.mul(z, w), b.fma(z, _S[5], _S[4]), b.fma(z, b.fma(z, _S[3], _S[2]), _S[1]))
    v = b.mul(z, x)
    # x - ((z*(half*y - v*r) - y) - v*S1)
    inner = b.sub(b.mul(z, b.sub(b.mul(0.5, y), b.mul(v, r))), y)
    return b.sub(x, b.sub(inner, b.mul(v, _S[0])))


def _kcos(b: _Fn, x, y):
    """fdlibm __cos(x, y)."""
    z = b.mul(x, x)
    w = b.mul(z, z)
    r1 = b.mul(z, b.fma(z, b.fma(z, _C[2], _C[1]), _C[0]))
    r = b.fma(b.mul(w, w), b.fma(z, b.fma(z, _C[5], _C[4]), _C[3]), r1)
    hz = b.mul(0.5, z)
    w = b.sub(1.0, hz)
    # w + (((1-w)-hz) + (z*r - x*y))
    return b.add(w, b.add(b.sub(b.sub(1.0, w), hz), b.sub(b.mul(z, r), b.mul(x, y))))


def _quadrant(b: _Fn, x, n, s, c, cos: bool):
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


def _sincos(b: _Fn, x, cos: bool | None):
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


def _ktan(b: _Fn, x, y, odd):
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


def _tan(b: _Fn, x):
    n, y0, y1 = _rem_pio2(b, x)
    odd = b.icmp("ne", b.iand(n, 1), 0)
    res = _ktan(b, y0, y1, odd)
    res = b.select(b.fcmp("olt", b.fabs(x), 2.0**-27), x, res)
    b.ret_with_fallback("tan", x, res, b.fcmp("ugt", b.fabs(x), TRIG_FAST_MAX))


def _atan(b: _Fn, x):
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


_KERNELS = {
    "exp": _exp,
    "log": _log,
    "sin": lambda b, x: _sincos(b, x, False),
    "cos": lambda b, x: _sincos(b, x, True),
    "tan": _tan,
    "expm1": _expm1,
    "log1p": _log1p,
    "atan": _atan,
    "sinh": _sinh,
    "cosh": _cosh,
    "tanh": _tanh,
    "sincos": lambda b, x: _sincos(b, x, None),
    "sinhcosh": _sinhcosh,
}
assert set(_KERNELS) == VECTOR_FUNCS | PAIR_FUNCS


def _fallback(b: _Fn, x, name):
    b.ret(b.lanes_libm(name, x))


# ----------------------------------------------------------------------------
# public entry points


def func_name(name: str, width: int) -> str:
    """The IR name (without ``@``) of the vector function ``name`` at ``width``."""
    return f"tj_vm_{name}_w{width}"


def _build(name: str, width: int, fma: bool) -> _Fn:
    if not name.isidentifier():
        raise ValueError(f"not a function name: {name!r}")
    b = _Fn(width, fma)
    b.label("entry")
    kern = _KERNELS.get(name)
    if kern is not None:
        kern(b, "%x")
    else:
        _fallback(b, "%x", name)
    return b


def symbols(names, width: int, fma: bool) -> set[str]:
    """The global names (without ``@``) that ``ir_functions(names, width, fma)``
    declares or defines: the vector functions, libm functions and intrinsics."""
    out = set()
    for name in dict.fromkeys(names):
        b = _build(name, width, fma)
        out |= {func_name(name, width)} | b.libm | set(b.intrinsics)
    return out


def ir_functions(names, width: int, fma: bool, declared: set | None = None) -> str:
    """LLVM IR text defining ``<W x double> @tj_vm_<name>_w<W>(<W x double>)``
    (internal linkage) for each name in ``names``: SIMD code for the names in
    :data:`VECTOR_FUNCS`, per-lane scalar libm calls for other names (any C libm
    unary ``double f(double)``, e.g. ``"erf"``); the names in :data:`PAIR_FUNCS`
    define ``{<W x double>, <W x double>} @tj_vm_<name>_w<W>(<W x double>)``.
    ``width``: 2, 4 or 8;
    ``fma``: use ``llvm.fma`` (only if the target has FMA, else it is a slow
    libcall).  ``declared``: the global names already declared or defined in the
    module (skipped here); updated in place with the names this fragment
    declares or defines."""
    if width not in (2, 4, 8):
        raise ValueError(f"width must be 2, 4 or 8, not {width}")
    declared = set() if declared is None else declared
    parts = []
    for name in dict.fromkeys(names):
        fname = func_name(name, width)
        if fname in declared:
            continue
        b = _build(name, width, fma)
        decls = []
        for lib in sorted(b.libm):
            if lib not in declared:
                decls.append(f"declare double @{lib}(double)")
                declared.add(lib)
        for intr, text in sorted(b.intrinsics.items()):
            if intr not in declared:
                decls.append(text)
                declared.add(intr)
        declared.add(fname)
        body = "\n".join(b.lines)
        parts.append("\n".join(decls)
                     + f"\ndefine internal {b.ret_type} @{fname}({b.vd} %x) {{\n{body}\n}}\n")
    return "\n".join(parts)


def driver_ir(name: str, width: int, driver: str | None = None, scalar: bool = False) -> str:
    """IR of ``void @<driver>(ptr %in, ptr %out, i64 %n)`` applying the vector
    function ``name`` to ``in[0:n]`` (``n`` a multiple of ``width``); with
    ``scalar``: a loop calling the libm function ``@name`` per element (for
    timings).  To be put in one module with ``ir_functions([name], ...)``.  A
    pair function (:data:`PAIR_FUNCS`) writes its components to ``out[0:n]``
    and ``out[n:2n]`` (``scalar``: the libm functions of the components, to be
    declared by the caller)."""
    driver = driver or f"drive_{name}_w{width}{'_libm' if scalar else ''}"
    pair = PAIR_COMPONENTS.get(name)
    if scalar:
        ty, step = "double", 1
        calls = [f"call double @{f}(double %a)" for f in (pair or (name,))]
    else:
        ty, step = f"<{width} x double>", width
        rt = f"{{{ty}, {ty}}}" if pair else ty
        calls = [f"call {rt} @{func_name(name, width)}({ty} %a)"]
    body = [f"  %r{j} = {c}" for j, c in enumerate(calls)]
    if pair and not scalar:
        body = [f"  %rr = {calls[0]}", "  %r0 = extractvalue " + f"{rt} %rr, 0",
                "  %r1 = extractvalue " + f"{rt} %rr, 1"]
    for j in range(2 if pair else 1):
        off = "%i" if j == 0 else "%in2"
        if j:
            body.append("  %in2 = add i64 %i, %n")
        body += [f"  %po{j} = getelementptr double, ptr %out, i64 {off}",
                 f"  store {ty} %r{j}, ptr %po{j}, align 8"]
    body = "\n".join(body)
    return f"""
define void @{driver}(ptr %in, ptr %out, i64 %n) {{
entry:
  %empty = icmp eq i64 %n, 0
  br i1 %empty, label %exit, label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i2, %loop ]
  %pi = getelementptr double, ptr %in, i64 %i
  %a = load {ty}, ptr %pi, align 8
{body}
  %i2 = add i64 %i, {step}
  %more = icmp ult i64 %i2, %n
  br i1 %more, label %loop, label %exit
exit:
  ret void
}}
"""
