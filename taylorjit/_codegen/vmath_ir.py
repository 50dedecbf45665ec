"""The text IR builder of the vector math: one ``<W x double>`` function at a time.

:class:`VectorFn` emits the body of one vector function of :mod:`.vmath` as
LLVM IR text: its methods take and return IR operand strings of
``<W x double>``, ``<W x i64>`` or ``<W x i1>`` type (Python numbers become
splat constants, written exactly as their IEEE bits), write one instruction
each and record the intrinsics and libm functions the body uses.  ``fma``
is an ``llvm.fma`` call only when the builder is made with ``fma=True``,
else a multiply and an add; no instruction carries fast-math flags.

The routines (:mod:`.vmath_exp`, :mod:`.vmath_trig`) are written against this
builder; :mod:`.vmath` assembles their functions into IR fragments.  This
module imports nothing of the package.
"""
from __future__ import annotations

import struct

__all__ = ["VectorFn", "from_bits", "SHIFT"]

def _hex(v: float) -> str:
    return f"0x{struct.unpack('<Q', struct.pack('<d', float(v)))[0]:016X}"


def from_bits(bits: int) -> float:
    """The double with these bits."""
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


class VectorFn:
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


SHIFT = 1.5 * 2.0**52                    # x + SHIFT - SHIFT rounds x to an integer
