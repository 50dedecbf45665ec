"""One chunk of an unrolled jet as LLVM IR text.

The straight-line code of an unrolled jet (:mod:`.unroll_ir`) is cut into
functions of about ``unroll_ir.CHUNK`` nodes.  :class:`ChunkText` writes the
body of one such function as IR text, into a :func:`text_function_class`
function (its prototype, attributes and calls stay llvmlite's): formatted
directly, over ten times faster than llvmlite's per-instruction objects, and
numbered as llvmlite numbers instructions, so the module is the one its
builder would make.  Each node becomes the instructions of
``unroll_ir.emit_scalar`` (the same IEEE operations; constants exactly:
:func:`_hex`), a blocked sum (``vsum`` node) four ``<4 x double>`` partial
sums where its coefficients are consecutive in memory.  Where each value
lives (stored, reloaded, recomputed) is decided beforehand by
``unroll_ir._Plan``.  Imports nothing of the package; only :mod:`.unroll_ir`
uses it.
"""
from __future__ import annotations

import struct

__all__ = ["ChunkText", "text_function_class"]

_FBINOP = {"+": "fadd", "-": "fsub", "*": "fmul", "/": "fdiv"}
_REV4 = "<4 x i32> <i32 3, i32 2, i32 1, i32 0>"    # shufflevector mask: lanes reversed


def _hex(x: float) -> str:
    """A double constant in LLVM IR text, exactly (its IEEE bits in hex, as llvmlite
    prints it)."""
    return format(struct.unpack("<Q", struct.pack("<d", x))[0], "#16x")


_TEXT_FN = []


def text_function_class():
    """``llvmlite.ir.Function`` whose body is IR text (its attribute ``body``, the
    entry block's label and instructions): the chunks' straight-line code is
    formatted directly, over ten times faster than llvmlite's per-instruction
    objects (the outer solar system's chunks hold ~10^5 instructions).  Its
    prototype, attributes and the calls of it stay llvmlite's."""
    if _TEXT_FN:
        return _TEXT_FN[0]
    import llvmlite.ir as ir

    class TextFunction(ir.Function):
        body = ""

        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            self.append_basic_block("entry")    # a definition, not a declaration

        def descr_body(self, buf):
            buf.append(self.body)

    _TEXT_FN.append(TextFunction)
    return TextFunction



class ChunkText:
    """The body of chunk ``ci`` (nodes ``lo:hi``) of a program, written as IR text
    into the :func:`text_function_class` function ``f``: instructions numbered
    as llvmlite numbers them, so the module is the one its builder would make."""

    __slots__ = ("p", "plan", "f", "ci", "lo", "hi", "light", "ncol", "vm_call", "lines", "n",
                 "vals", "data", "pdata", "t_a", "tc_a", "pars_a", "fma_s", "fma_v")

    def __init__(self, p, plan, f, ci, lo, hi, light, ncol, vm_call):
        self.p, self.plan, self.f = p, plan, f
        self.ci, self.lo, self.hi, self.light, self.ncol = ci, lo, hi, light, ncol
        self.vm_call = vm_call
        self.lines = ["entry:"]
        self.n = len(f.args) + 1    # llvmlite names the arguments and the return value first
        self.vals = {}

    def emit(self, instr):          # an instruction: its value's name
        self.n += 1
        r = f'%".{self.n}"'
        self.lines.append(f"  {r} = {instr}")
        return r

    def emit_void(self, instr):     # an instruction without a value (llvmlite numbers it too)
        self.n += 1
        self.lines.append("  " + instr)

    def addr(self, slot, j):
        return self.emit(f"getelementptr inbounds double, ptr {self.data}, "
                         f"i64 {slot * self.ncol + j}")

    def write(self):
        p, f, vm_call = self.p, self.f, self.vm_call
        args = [a.get_reference() for a in f.args]
        if self.light:
            self.data, self.pdata, self.t_a = args
        else:
            self.tc_a, self.pars_a, self.t_a = args[0], args[2], args[3]
            self.data = self.emit(f"extractvalue {vm_call[0]} {self.tc_a}, 4")
            self.pdata = self.emit(f"extractvalue {vm_call[1]} {self.pars_a}, 4")
        import llvmlite.ir as ir

        mod, f64 = f.module, ir.DoubleType()
        v4 = ir.VectorType(f64, 4)
        fma_s = mod.declare_intrinsic("llvm.fma", [f64], ir.FunctionType(f64, [f64] * 3))
        fma_v = mod.globals.get("llvm.fma.v4f64") or ir.Function(
            mod, ir.FunctionType(v4, [v4] * 3), name="llvm.fma.v4f64")
        self.fma_s, self.fma_v = fma_s.get_reference(), fma_v.get_reference()
        vec_ok = self.plan.vec_ok
        for idx in range(self.lo, self.hi):
            nd = p.nodes[idx]
            if nd[0] == "st":
                if idx in self.plan.stored:
                    v = self.get(nd[3])
                    a = self.addr(nd[1], nd[2])
                    self.emit_void(f"store double {v}, ptr {a}")
            elif nd[0] == "vm":
                assert not self.light
                fp = self.emit(vm_call[2])
                self.emit(f"call ptr {fp}({vm_call[0]} {self.tc_a}, i64 0, {vm_call[1]} "
                          f"{self.pars_a}, double {self.t_a}, i64 1, {vm_call[3][nd[1]]})")
            elif nd[0] == "ld" or idx in vec_ok:
                self.get(idx)    # loads happen where they were traced (after VM calls)
        self.emit_void("ret void" if self.light else "ret ptr null")
        self.lines.append("")
        f.body = "\n".join(self.lines)

    def get(self, i):
        v = self.vals.get(i)
        if v is not None:
            return v
        nd = self.p.nodes[i]
        plan, lo, ci = self.plan, self.lo, self.ci
        # a value of an earlier chunk: reloaded if an earlier chunk stored it.  A
        # hash-consed node may be stored only by a later chunk (a later order
        # reuses it): it is then stored early, where it is first computed, at its
        # final place (written once, read by nothing before), else recomputed
        if i < lo and nd[0] not in ("c", "t", "par") and (
                plan.loc_at.get(i, self.hi) < lo or plan.early.get(i, ci) < ci):
            v = self.emit(f"load double, ptr {self.addr(*plan.loc[i])}")   # an earlier chunk's
        else:
            v = self.value(nd, i)
            if (i in plan.loc and plan.loc_at[i] >= self.hi and plan.last_use[i] > ci
                    and i not in plan.early):
                a = self.addr(*plan.loc[i])
                self.emit_void(f"store double {v}, ptr {a}")
                plan.early[i] = ci
        self.vals[i] = v
        return v

    def fma(self, x, y, z):
        return self.emit(f"call double {self.fma_s}(double {x}, double {y}, double {z})")

    def scaled(self, c, x):
        xv = self.get(x)
        return xv if c is None else self.emit(f"fmul double {_hex(c)}, {xv}")

    def term(self, t):
        c, x, y = t
        xv = self.scaled(c, x)
        return self.emit(f"fmul double {xv}, {self.get(y)}")

    def fused(self, t, acc):
        c, x, y = t
        xv = self.scaled(c, x)
        return self.fma(xv, self.get(y), acc)

    def vload(self, slot, j0, rev):
        v = self.emit(f"load <4 x double>, ptr {self.addr(slot, j0)}, align 8")
        return (self.emit(f"shufflevector <4 x double> {v}, <4 x double> {v}, {_REV4}")
                if rev else v)

    def vsum(self, i, nd):
        # the blocked sum's four partial sums s0..s3 (lane i = s_i), the tail into s0
        emit = self.emit
        terms = nd[1]
        m = len(terms) // 4
        spec = self.plan.vec_ok.get(i)
        if spec is not None:
            acc = None
            for q, (xs, ys) in enumerate(spec):
                xv = self.vload(*xs)
                cs = [terms[4 * q + r][0] for r in range(4)]
                if cs[0] is not None:
                    cv = ", ".join(f"double {_hex(c)}" for c in cs)
                    xv = emit(f"fmul <4 x double> <{cv}>, {xv}")
                yv = self.vload(*ys)
                acc = (emit(f"fmul <4 x double> {xv}, {yv}") if acc is None else
                       emit(f"call <4 x double> {self.fma_v}(<4 x double> {xv}, "
                            f"<4 x double> {yv}, <4 x double> {acc})"))
            s = [emit(f"extractelement <4 x double> {acc}, i32 {r}") for r in range(4)]
        else:
            s = [self.term(terms[r]) for r in range(4)]
            for q in range(1, m):
                for r in range(4):
                    s[r] = self.fused(terms[4 * q + r], s[r])
        for t in terms[4 * m:]:
            s[0] = self.fused(t, s[0])
        s01 = emit(f"fadd double {s[0]}, {s[1]}")
        s23 = emit(f"fadd double {s[2]}, {s[3]}")
        return emit(f"fadd double {s01}, {s23}")

    def value(self, nd, i):
        # the operations of emit_scalar (and vsum), written as text
        get, emit = self.get, self.emit
        kind = nd[0]
        if kind in _FBINOP:
            x = get(nd[1])
            return emit(f"{_FBINOP[kind]} double {x}, {get(nd[2])}")
        if kind == "c":
            return _hex(nd[1])
        if kind == "ld":
            return emit(f"load double, ptr {self.addr(nd[1], nd[2])}")
        if kind == "fma":
            x, y = get(nd[1]), get(nd[2])
            return self.fma(x, y, get(nd[3]))
        if kind == "vsum":
            return self.vsum(i, nd)
        if kind == "t":
            return self.t_a
        if kind == "par":
            a = emit(f"getelementptr inbounds double, ptr {self.pdata}, i64 {nd[1]}")
            return emit(f"load double, ptr {a}")
        if kind == "neg":
            return emit(f"fneg double {get(nd[1])}")
        if kind == "call":
            fn = _libm(self.f.module, nd[1]).get_reference()
            return emit(f"call double {fn}(double {get(nd[2])})")
        if kind == "powc":
            fn = _pow_decl(self.f.module).get_reference()
            x = get(nd[1])
            return emit(f"call double {fn}(double {x}, double {get(nd[2])})")
        raise AssertionError(f"unknown node {nd!r}")  # pragma: no cover


def _libm(mod, fname):
    """The declaration of the C library function ``double fname(double)`` in ``mod``."""
    f = mod.globals.get(fname)
    if f is None:
        import llvmlite.ir as ir

        f64 = ir.DoubleType()
        f = ir.Function(mod, ir.FunctionType(f64, [f64]), name=fname)
    return f


def _pow_decl(mod):
    # the C library's pow, as numba's llvm.pow at run time; "nobuiltin": LLVM must not
    # rewrite pow of a constant exponent (numba's VM sees the exponent at run time)
    f = mod.globals.get("pow")
    if f is None:
        import llvmlite.ir as ir

        f64 = ir.DoubleType()
        f = ir.Function(mod, ir.FunctionType(f64, [f64, f64]), name="pow")
        f.attributes.add("nobuiltin")
    return f
