"""SIMD evaluators: values of a decomposition on W points at a time (``cfunc``).

A :func:`taylorjit.cfunc` evaluates only order 0 of every slot.  The scalar
kernels do it one point per jet call, with the C library's elementary
functions; heyoka's cfunc instead runs W points per instruction (SIMD) with
SLEEF's vector functions.  This module does the same:

1. **Trace** order 0 of the decomposition with the unrolled kernels' tracer
   (:func:`taylorjit._codegen.trace.trace_program`): the same IEEE operations as every
   other kind.  Operations whose order 0 depends on a value (the VM groups of
   the tracer: the domain branches of log, log1p, asin, acos, acosh, atanh, the
   real power, atan2) become calls of the C function they reproduce
   (:data:`AS_CALL`; equality with the VM is tested bit for bit on their whole
   domain); anything else (kepE) makes the decomposition unsupported here and
   cfunc keeps the scalar kernels.
2. **Emit** LLVM IR where every value is a ``<W x double>`` (W = 8 with
   AVX-512, 4 with AVX2): arithmetic and ``sqrt`` are the same correctly
   rounded operations lane by lane; exp, log, sin, cos, tan, expm1, log1p,
   atan, sinh, cosh, tanh are :mod:`taylorjit._codegen.vmath`'s vector functions
   (within 1 ulp, like SLEEF's); the other C functions (asin, erf, pow, ...)
   are called lane by lane.  So results agree with the other kinds to the last
   bit except where a vector function rounds differently from the C library
   (at most 1 ulp of that function's value; ``cfunc(..., simd=False)`` gives
   the C library's values).
3. **Compile** with llvmlite for the host CPU (no fast-math flags), cache the
   object code on disk, and call it through ctypes (which releases the GIL, so
   threads evaluate chunks of points in parallel).

The generated function reads the points row-major (``(npoints, n_in)``, the
layout cfunc takes) and writes row-major ``(npoints, n_out)``; a last partial
block is evaluated on a padded copy (its spare lanes repeat the last point).
"""
from __future__ import annotations

import ctypes
import threading

from . import unroll as _unroll, vmath as _vmath, vmath_exp, vmath_ir, vmath_trig
from .decompose import Decomposition
from .trace import UnsupportedUnroll, trace_program

__all__ = ["AS_CALL", "UnsupportedSIMD", "simd_cfunc", "simd_width", "simd_supported"]

# operations run by the VM at order 0 whose order-0 value is exactly the C function of
# the same name (the kernels' domain branches reproduce C's NaN / inf results)
AS_CALL = frozenset(["log", "log1p", "asin", "acos", "acosh", "atanh"])
_LAYOUT = 3        # bump when the generated code changes (part of the cache key)


class UnsupportedSIMD(ValueError):
    """The decomposition has an operation the SIMD evaluator cannot express."""


def vm_row_call(op: str, ins, c):
    """An operation the tracer leaves to the VM at order 0, as the C function it
    reproduces: ``(function, input slots, constant last argument or None)``
    (shared by the SIMD and direct kernels)."""
    if op in AS_CALL:
        return op, [ins[0]], None
    if op == "pow":
        return "pow", [ins[0]], float(c)
    if op == "atan2":
        return "atan2", [ins[0], ins[1]], None
    raise UnsupportedSIMD(f"operation {op!r} at order 0")


def simd_width() -> int:
    """Doubles per SIMD vector on this CPU (8 with AVX-512F, 4 with AVX2, else 2)."""
    return _vmath.host_width()


# --------------------------------------------------------------------------- program
def _program(d: Decomposition):
    """``(nodes, outs)``: the order-0 program as vector operations.

    nodes: ``("in", i)``, ``("c", x)``, ``("par", i)``, ``(op, a, b)`` for
    ``+ - * /``, ``("neg", a)``, ``("call", name, a)``, ``("call2", name, a, b)``
    (two arguments, lane by lane), ``("powc", a, c)`` (``a ** c``, lane by lane);
    outs: the node of every output."""
    try:
        p = trace_program(d, ode=False, order=0, full=1)
    except UnsupportedUnroll as exc:    # pragma: no cover - no registry op refuses
        raise UnsupportedSIMD(str(exc)) from None
    nodes, memo, remap = [], {}, {}

    def node(*key):
        i = memo.get(key)
        if i is None:
            i = memo[key] = len(nodes)
            nodes.append(key)
        return i

    slot = {i: node("in", i) for i in range(d.n_in)}
    for idx, nd in enumerate(p.nodes):
        kind = nd[0]
        if kind == "c":
            remap[idx] = node("c", nd[1])
        elif kind == "par":
            remap[idx] = node("par", nd[1])
        elif kind == "t":       # cfunc's jets run at t = 0 (tj.time is a parameter there)
            remap[idx] = node("c", 0.0)
        elif kind == "ld":
            if nd[2] != 0 or nd[1] not in slot:   # pragma: no cover - order 0 only
                raise UnsupportedSIMD(f"load of tc[{nd[1]}, {nd[2]}]")
            remap[idx] = slot[nd[1]]
        elif kind in ("+", "-", "*", "/"):
            remap[idx] = node(kind, remap[nd[1]], remap[nd[2]])
        elif kind == "neg":
            remap[idx] = node("neg", remap[nd[1]])
        elif kind == "call":
            remap[idx] = node("call", nd[1], remap[nd[2]])
        elif kind == "st":
            if nd[2] == 0:
                slot[nd[1]] = remap[nd[3]]
        elif kind == "vm":
            for name, outs, ins, c in p.groups[nd[1]]:
                fname, args, extra = vm_row_call(name, ins, c)
                if extra is not None:
                    v = node("powc", slot[args[0]], extra)
                elif len(args) == 2:
                    v = node("call2", fname, slot[args[0]], slot[args[1]])
                else:
                    v = node("call", fname, slot[args[0]])
                slot[outs[0]] = v
        else:   # pragma: no cover
            raise UnsupportedSIMD(f"node {kind!r}")
    outs = []
    for s in d.outputs:
        if s not in slot:   # pragma: no cover - every output is computed at order 0
            raise UnsupportedSIMD(f"output slot {s} has no value")
        outs.append(slot[s])
    return nodes, outs


def simd_supported(d: Decomposition) -> bool:
    """Whether :func:`simd_cfunc` can evaluate ``d``."""
    try:
        _program(d)
    except UnsupportedSIMD:
        return False
    return True


# --------------------------------------------------------------------------- LLVM IR
def _hexd(x: float) -> str:
    import struct

    return f"0x{struct.unpack('<Q', struct.pack('<d', float(x)))[0]:016X}"


def build_ir(d: Decomposition, name: str, width: int, fma: bool, vector_math: bool = True) -> str:
    """IR text of ``void @<name>(ptr X, ptr OUT, ptr PARS, i64 n)``."""
    nodes, outs = _program(d)
    W, n_in, m = width, d.n_in, len(outs)
    VT = f"<{W} x double>"
    lines = []
    emit = lines.append
    declared = set()
    names = sorted({nd[1] for nd in nodes if nd[0] == "call" and nd[1] != "sqrt"})
    vec_names = [f for f in names if vector_math and f in _vmath.VECTOR_FUNCS]
    # sin and cos (sinh and cosh) of one argument: one pair function (one argument
    # reduction; each component bit-identical to the unary function)
    pair = {}                                   # node -> (pair function, component)
    if vector_math:
        calls = {(nd[1], nd[2]): i for i, nd in enumerate(nodes) if nd[0] == "call"}
        for pf, (c0, c1) in _vmath.PAIR_COMPONENTS.items():
            for (fname, a), i in calls.items():
                if fname == c0 and (c1, a) in calls:
                    pair[i] = (pf, 0)
                    pair[calls[(c1, a)]] = (pf, 1)
    pair_names = sorted({pf for pf, _ in pair.values()})
    lane_names = [f for f in names if f not in vec_names]
    used = vec_names + pair_names
    head = [_vmath.ir_functions(used, W, fma, declared)] if used else []
    lane_fns = {}
    for f in lane_names + [nd[1] for nd in nodes if nd[0] == "call2"]:
        if f not in declared and f not in lane_fns:
            argc = 2 if f == "atan2" else 1
            lane_fns[f] = argc
            head.append(f"declare double @{f}({', '.join(['double'] * argc)})")
            declared.add(f)
    if any(nd[0] == "powc" for nd in nodes) and "pow" not in declared:
        head.append("declare double @pow(double, double)")
        declared.add("pow")
    if any(nd[0] == "call" and nd[1] == "sqrt" for nd in nodes):
        head.append(f"declare {VT} @llvm.sqrt.v{W}f64({VT})")
    head.append("declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)")

    counter = [0]

    def tmp():
        counter[0] += 1
        return f"%v{counter[0]}"

    def lanes(args, fn):
        """Lane-by-lane scalar calls ``fn(*lane args)``: returns the vector register."""
        acc = "undef"
        for lane in range(W):
            xs = []
            for a in args:
                t = tmp()
                emit(f"  {t} = extractelement {VT} {a}, i64 {lane}")
                xs.append(f"double {t}")
            r = tmp()
            emit(f"  {r} = {fn(', '.join(xs))}")
            nxt = tmp()
            emit(f"  {nxt} = insertelement {VT} {acc}, double {r}, i64 {lane}")
            acc = nxt
        return acc

    # block body: W rows of X (row-major) -> W rows of OUT
    # whole-block loads and stores with shuffles for narrow rows (LLVM lowers them to a
    # few permutes), element by element for wide ones
    block_in = W * n_in <= 64
    block_out = W * m <= 64
    emit(f"define internal void @{name}_blk(ptr noalias %x, ptr noalias %o, ptr noalias %p) {{")
    emit("entry:")
    reg = {}
    xblk = []                   # whether the block of inputs is loaded

    def bare(j):
        if nodes[j][0] == "c":
            return "<" + ", ".join([f"double {_hexd(nodes[j][1])}"] * W) + ">"
        return reg[j]

    def val(j):
        return f"{VT} {bare(j)}"

    for i, nd in enumerate(nodes):
        kind = nd[0]
        if kind == "c":
            reg[i] = None             # constants are written inline
            continue
        r = tmp()
        if kind == "in":
            if block_in:
                # one load of the W x n_in block, then a stride-n_in deinterleave
                if not xblk:
                    emit(f"  %xblk = load <{W * n_in} x double>, ptr %x, align 8")
                    xblk.append(True)
                mask = ", ".join(f"i32 {lane * n_in + nd[1]}" for lane in range(W))
                emit(f"  {r} = shufflevector <{W * n_in} x double> %xblk, "
                     f"<{W * n_in} x double> poison, <{W} x i32> <{mask}>")
                reg[i] = r
                continue
            acc = "undef"
            for lane in range(W):
                a, v = tmp(), tmp()
                emit(f"  {a} = getelementptr inbounds double, ptr %x, i64 {lane * n_in + nd[1]}")
                emit(f"  {v} = load double, ptr {a}, align 8")
                nxt = tmp()
                emit(f"  {nxt} = insertelement {VT} {acc}, double {v}, i64 {lane}")
                acc = nxt
            reg[i] = acc
            continue
        if kind == "par":
            a, v, one = tmp(), tmp(), tmp()
            emit(f"  {a} = getelementptr inbounds double, ptr %p, i64 {nd[1]}")
            emit(f"  {v} = load double, ptr {a}, align 8")
            emit(f"  {one} = insertelement {VT} undef, double {v}, i64 0")
            emit(f"  {r} = shufflevector {VT} {one}, {VT} undef, <{W} x i32> zeroinitializer")
            reg[i] = r
            continue

        if kind in ("+", "-", "*", "/"):
            op = {"+": "fadd", "-": "fsub", "*": "fmul", "/": "fdiv"}[kind]
            emit(f"  {r} = {op} {val(nd[1])}, {bare(nd[2])}")
        elif kind == "neg":
            emit(f"  {r} = fneg {val(nd[1])}")
        elif kind == "call":
            f = nd[1]
            if i in pair:
                if i not in reg:        # the first component: call the pair function
                    pf, _ = pair[i]
                    both = tmp()
                    emit(f"  {both} = call {{{VT}, {VT}}} @{_vmath.func_name(pf, W)}"
                         f"({val(nd[2])})")
                    for j, (pf2, comp) in pair.items():
                        if pf2 == pf and nodes[j][2] == nd[2]:
                            rj = tmp()
                            emit(f"  {rj} = extractvalue {{{VT}, {VT}}} {both}, {comp}")
                            reg[j] = rj
                continue
            if f == "sqrt":
                emit(f"  {r} = call {VT} @llvm.sqrt.v{W}f64({val(nd[2])})")
            elif f in vec_names:
                emit(f"  {r} = call {VT} @{_vmath.func_name(f, W)}({val(nd[2])})")
            else:
                r = lanes([bare(nd[2])], lambda xs, f=f: f"call double @{f}({xs})")
        elif kind == "call2":
            r = lanes([bare(nd[2]), bare(nd[3])], lambda xs, f=nd[1]: f"call double @{f}({xs})")
        elif kind == "powc":
            r = lanes([bare(nd[1])],
                      lambda xs, c=nd[2]: f"call double @pow({xs}, double {_hexd(c)})")
        else:   # pragma: no cover
            raise UnsupportedSIMD(kind)
        reg[i] = r
    if block_out and m > 1:
        # interleave the m output vectors into one W x m block and store it at once:
        # concatenate them (padding to a power of two), then one permutation
        vecs = [bare(o) for o in outs]
        width = W
        while len(vecs) > 1:
            if len(vecs) % 2:
                vecs.append("zeroinitializer")
            nxt = []
            for a, b2 in zip(vecs[0::2], vecs[1::2]):
                r = tmp()
                cat = ", ".join(f"i32 {q}" for q in range(2 * width))
                emit(f"  {r} = shufflevector <{width} x double> {a}, <{width} x double> {b2}, "
                     f"<{2 * width} x i32> <{cat}>")
                nxt.append(r)
            vecs, width = nxt, 2 * width
        r = tmp()
        mask = ", ".join(f"i32 {j * W + lane}" for lane in range(W) for j in range(m))
        emit(f"  {r} = shufflevector <{width} x double> {vecs[0]}, <{width} x double> poison, "
             f"<{W * m} x i32> <{mask}>")
        emit(f"  store <{W * m} x double> {r}, ptr %o, align 8")
        outs = []
    elif block_out:
        emit(f"  store {VT} {bare(outs[0])}, ptr %o, align 8")
        outs = []
    for j, o in enumerate(outs):
        vec = bare(o)
        for lane in range(W):
            e, a = tmp(), tmp()
            emit(f"  {e} = extractelement {VT} {vec}, i64 {lane}")
            emit(f"  {a} = getelementptr inbounds double, ptr %o, i64 {lane * m + j}")
            emit(f"  store double {e}, ptr {a}, align 8")
    emit("  ret void")
    emit("}")

    rowx, rowo = 8 * n_in, 8 * m
    emit(f"""
define void @{name}(ptr %X, ptr %O, ptr %P, i64 %n) {{
entry:
  %xb = alloca [{W * n_in} x double], align 64
  %ob = alloca [{W * m} x double], align 64
  %nb = udiv i64 %n, {W}
  %has = icmp ugt i64 %nb, 0
  br i1 %has, label %loop, label %tail
loop:
  %b = phi i64 [ 0, %entry ], [ %b2, %loop ]
  %xo = mul i64 %b, {W * n_in}
  %oo = mul i64 %b, {W * m}
  %xp = getelementptr inbounds double, ptr %X, i64 %xo
  %op = getelementptr inbounds double, ptr %O, i64 %oo
  call void @{name}_blk(ptr %xp, ptr %op, ptr %P)
  %b2 = add i64 %b, 1
  %more = icmp ult i64 %b2, %nb
  br i1 %more, label %loop, label %tail
tail:
  %done = mul i64 %nb, {W}
  %rem = sub i64 %n, %done
  %any = icmp ugt i64 %rem, 0
  br i1 %any, label %pad, label %exit
pad:
  %xs = mul i64 %done, {n_in}
  %xsrc = getelementptr inbounds double, ptr %X, i64 %xs
  %bytes = mul i64 %rem, {rowx}
  call void @llvm.memcpy.p0.p0.i64(ptr %xb, ptr %xsrc, i64 %bytes, i1 false)
  %lastoff = sub i64 %bytes, {rowx}
  %last = getelementptr inbounds i8, ptr %xb, i64 %lastoff
  br label %fill
fill:
  %r = phi i64 [ %rem, %pad ], [ %r2, %fill ]
  %dsto = mul i64 %r, {rowx}
  %dst = getelementptr inbounds i8, ptr %xb, i64 %dsto
  call void @llvm.memcpy.p0.p0.i64(ptr %dst, ptr %last, i64 {rowx}, i1 false)
  %r2 = add i64 %r, 1
  %fmore = icmp ult i64 %r2, {W}
  br i1 %fmore, label %fill, label %run
run:
  call void @{name}_blk(ptr %xb, ptr %ob, ptr %P)
  %os = mul i64 %done, {m}
  %odst = getelementptr inbounds double, ptr %O, i64 %os
  %obytes = mul i64 %rem, {rowo}
  call void @llvm.memcpy.p0.p0.i64(ptr %odst, ptr %ob, i64 %obytes, i1 false)
  br label %exit
exit:
  ret void
}}
""")
    return "\n".join(head) + "\n" + "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- compile and load
_lock = threading.RLock()
_LOADED: dict = {}
_FN_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                            ctypes.c_int64)


class SIMDFunc:
    """A loaded SIMD evaluator: ``fn(X, OUT, pars)`` for C-contiguous float64
    arrays ``X`` (npoints, n_in), ``OUT`` (npoints, n_out), ``pars`` (>= 1 value)."""

    __slots__ = ("fn", "width", "keep", "n_in", "n_out")

    def __init__(self, fn, width, keep, n_in, n_out):
        self.fn, self.width, self.keep, self.n_in, self.n_out = fn, width, keep, n_in, n_out

    def __call__(self, X, OUT, pars):
        self.fn(X.ctypes.data, OUT.ctypes.data, pars.ctypes.data, X.shape[0])


def _name(d: Decomposition, width: int, fma: bool, vector_math: bool) -> str:
    import hashlib
    import inspect

    # the vector math's source (the tables and the routines) is part of the key
    src = "".join(inspect.getsource(m) for m in (_vmath, vmath_ir, vmath_exp, vmath_trig))
    vm_src = hashlib.sha256(src.encode()).hexdigest()[:8]
    key = _unroll.target_machine()[1]
    return (f"tj_simd_{d.key()}_w{width}{'f' if fma else ''}{'v' if vector_math else 'l'}"
            f"_{vm_src}_{_LAYOUT}_{key}")


def simd_cfunc(d: Decomposition, vector_math: bool = True) -> SIMDFunc:
    """The SIMD evaluator of ``d`` (loaded from the disk cache, else compiled and
    cached).  ``vector_math=False`` calls the C library's functions lane by lane
    (values identical to the other kinds).  Raises :class:`UnsupportedSIMD`."""
    width, fma = _vmath.host_width(), _vmath.has_fma()
    with _lock:
        name = _name(d, width, fma, vector_math)
        hit = _LOADED.get(name)
        if hit is not None:
            return hit
        addr, ee = _unroll.load_module(name, lambda: build_ir(d, name, width, fma, vector_math))
        f = SIMDFunc(_FN_TYPE(addr), width, ee, d.n_in, len(d.outputs))
        _LOADED[name] = f
        return f
