"""The vector jet of a SIMD batch kernel: the IR text of ``<name>_bstep``.

:func:`_ir` writes the fused step of W lanes at once (see
:mod:`taylorjit._integrate.simdbatch`, which builds and caches the kernels): the traced
jet with every value a ``<W x double>`` (C library calls made lane by lane), the
step-size rule and the Horner update per lane.  Large jets are written as chunk
functions on a table in memory (:data:`SMALL_NODES`).  The loop that calls the step
is :mod:`taylorjit._integrate.simdloop`.
"""
from __future__ import annotations

import math

__all__ = ["SMALL_NODES"]

# up to SMALL_NODES traced nodes of the jet: one straight-line function on a table in
# registers (an alloca), above it functions of CHUNK
# nodes (LLVM's code generation grows faster than linearly with a function's size) on a
# table in memory, values used by later chunks passed through a spill area
SMALL_NODES = 3000


def _hex(x):
    from .._codegen.unroll import _hex as h

    return h(float(x))


def _operands(nd):
    kind = nd[0]
    if kind in ("+", "-", "*", "/", "powc"):
        return nd[1:3]
    if kind == "fma":
        return nd[1:4]
    if kind == "neg":
        return (nd[1],)
    if kind == "call":
        return (nd[2],)
    if kind == "st":
        return (nd[3],)
    return ()


def _ir(p, name: str, n: int, n_slots: int, npar: int, order: int, W: int):
    """``(IR text of the step, vectors of its work buffer)`` (see the module doc): the
    work buffer of a chunked kernel holds the table and the spill area (0: none, the
    table is an alloca)."""
    ncol = order + 1
    V = f"<{W} x double>"
    VI = f"<{W} x i64>"
    VB = f"<{W} x i1>"
    decls = {}
    out = []

    def splat(x):
        return "<" + ", ".join([f"double {_hex(x)}"] * W) + ">"

    def isplat(x):
        return "<" + ", ".join([f"i64 {x}"] * W) + ">"

    # ---------------------------------------------------------------- emitters
    cur = [[], 0]               # the body being written and its value counter

    def emit(instr):
        cur[1] += 1
        r = f"%v{cur[1]}"
        cur[0].append(f"  {r} = {instr}")
        return r

    def emit_void(instr):
        cur[0].append("  " + instr)

    def label(nm):
        cur[0].append(f"{nm}:")

    def gep(base, i, ty=V):
        return emit(f"getelementptr inbounds {ty}, ptr {base}, i64 {i}")

    def lanewise(fn, args):
        """A C library call lane by lane."""
        res = "undef"
        for lane in range(W):
            xs = [emit(f"extractelement {V} {a}, i32 {lane}") for a in args]
            arglist = ", ".join(f"double {x}" for x in xs)
            r = emit(f"call double @{fn}({arglist})")
            res = emit(f"insertelement {V} {res}, double {r}, i32 {lane}")
        return res

    def libm(fname):
        decls.setdefault(fname, f"declare double @{fname}(double)")
        return fname

    fma_v = f"@llvm.fma.v{W}f64"
    decls["fma"] = f"declare {V} {fma_v}({V}, {V}, {V})"
    ops = {"+": "fadd", "-": "fsub", "*": "fmul", "/": "fdiv"}
    nodes = p.nodes
    chunked = len(nodes) > SMALL_NODES
    spill = {}                  # node -> its slot in the spill area (chunked kernels)
    al = 64     # the table: an alloca, or the work buffer (chunked), 64-byte aligned both
    if chunked:
        from .._codegen.unroll import CHUNK, _chunks

        ranges = _chunks(p, CHUNK)
        chunk_of = [0] * len(nodes)
        for ci, (lo, hi) in enumerate(ranges):
            chunk_of[lo:hi] = [ci] * (hi - lo)
        for i, nd in enumerate(nodes):
            for a in _operands(nd):
                if chunk_of[a] < chunk_of[i] and nodes[a][0] not in ("c", "t", "par"):
                    spill.setdefault(a, len(spill))
    else:
        ranges = [(0, len(nodes))]

    def emit_nodes(lo, hi, tbl, sp):
        """The nodes ``lo..hi`` of the traced program on the vector table ``tbl``
        (values of earlier chunks from the spill area ``sp``)."""
        vals = {}

        def get(i):
            v = vals.get(i)
            if v is None:       # a value of an earlier chunk
                nd = nodes[i]
                if nd[0] == "c":
                    return splat(nd[1])
                if nd[0] == "t":
                    return "%t"
                if nd[0] == "par":
                    v = emit(f"load {V}, ptr {gep('%pars', nd[1])}, align 8")
                else:
                    v = emit(f"load {V}, ptr {gep(sp, spill[i])}, align {al}")
                vals[i] = v
            return v

        for idx in range(lo, hi):
            nd = nodes[idx]
            kind = nd[0]
            if kind == "st":
                # only the state rows are read (the step-size rule, Horner, the order-0
                # loads); the others pass between chunks through the spill area, and the
                # scalar table is recomputed on exit (the light entry)
                if nd[1] < n:
                    emit_void(f"store {V} {get(nd[3])}, ptr {gep(tbl, nd[1] * ncol + nd[2])}, "
                              f"align {al}")
                continue
            if kind in ops:
                v = emit(f"{ops[kind]} {V} {get(nd[1])}, {get(nd[2])}")
            elif kind == "c":
                v = splat(nd[1])
            elif kind == "ld":
                v = emit(f"load {V}, ptr {gep(tbl, nd[1] * ncol + nd[2])}, align {al}")
            elif kind == "fma":
                v = emit(f"call {V} {fma_v}({V} {get(nd[1])}, {V} {get(nd[2])}, "
                         f"{V} {get(nd[3])})")
            elif kind == "t":
                v = "%t"
            elif kind == "par":
                v = emit(f"load {V}, ptr {gep('%pars', nd[1])}, align 8")
            elif kind == "neg":
                v = emit(f"fneg {V} {get(nd[1])}")
            elif kind == "call":
                v = lanewise(libm(nd[1]), [get(nd[2])])
            elif kind == "powc":
                decls["pow"] = "declare double @pow(double, double) nobuiltin"
                v = lanewise("pow", [get(nd[1]), get(nd[2])])
            else:       # "vm", "vsum": not built for these programs (batch_kernel checks)
                raise AssertionError(f"node {nd!r} in a SIMD batch kernel")
            vals[idx] = v
            if idx in spill:
                emit_void(f"store {V} {v}, ptr {gep(sp, spill[idx])}, align {al}")

    if chunked:
        for ci, (lo, hi) in enumerate(ranges):
            cur[:] = [["entry:"], 0]
            emit_nodes(lo, hi, "%tbl", "%sp")
            emit_void("ret void")
            out.append(f"define internal void @{name}_c{ci}(ptr noalias %tbl, ptr noalias %pars, "
                       f"{V} %t, ptr noalias %sp) noinline {{")
            out.extend(cur[0])
            out.append("}")

    # ---------------------------------------------------------------- bstep
    cur[:] = [["entry:"], 0]
    if chunked:
        tbl = "%work"
        sp = gep("%work", n_slots * ncol)
    else:
        tbl = "%tbl"
        cur[0].append(f"  {tbl} = alloca {V}, i64 {n_slots * ncol}, align 64")
    for i in range(n):
        s = emit(f"load {V}, ptr {gep('%state', i)}, align 8")
        emit_void(f"store {V} {s}, ptr {gep(tbl, i * ncol)}, align {al}")
    if chunked:
        for ci in range(len(ranges)):
            emit_void(f"call void @{name}_c{ci}(ptr {tbl}, ptr %pars, {V} %t, ptr {sp})")
    else:
        emit_nodes(0, len(nodes), tbl, None)

    def coef(i, j):
        return emit(f"load {V}, ptr {gep(tbl, i * ncol + j)}, align {al}")

    decls["fabs"] = f"declare {V} @llvm.fabs.v{W}f64({V})"

    def fabs(x):
        return emit(f"call {V} @llvm.fabs.v{W}f64({V} {x})")

    def vmax(j):
        m = None
        for i in range(n):
            v = fabs(coef(i, j))
            if m is None:
                m = v
            else:
                lt = emit(f"fcmp olt {V} {m}, {v}")
                m = emit(f"select {VB} {lt}, {V} {v}, {V} {m}")
        return m

    a, mo, mom1 = vmax(0), vmax(order), vmax(order - 1)
    le1 = emit(f"fcmp ole {V} {a}, {splat(1.0)}")
    num = emit(f"select {VB} {le1}, {V} {splat(1.0)}, {V} {a}")
    ra = emit(f"fdiv {V} {num}, {mo}")
    rb = emit(f"fdiv {V} {num}, {mom1}")

    def log2_rough(x):
        return emit_log2_rough(emit, splat, isplat, V, VI, VB, x)

    io = emit(f"insertelement {V} undef, double %inv_o, i32 0")
    io = emit(f"shufflevector {V} {io}, {V} undef, <{W} x i32> zeroinitializer")
    io1 = emit(f"insertelement {V} undef, double %inv_om1, i32 0")
    io1 = emit(f"shufflevector {V} {io1}, {V} undef, <{W} x i32> zeroinitializer")
    la = emit(f"fmul {V} {log2_rough(ra)}, {io}")
    lb = emit(f"fmul {V} {log2_rough(rb)}, {io1}")
    a_small = emit(f"fcmp olt {V} {la}, {emit(f'fsub {V} {lb}, {splat(1e-4)}')}")
    b_small = emit(f"fcmp olt {V} {lb}, {emit(f'fsub {V} {la}, {splat(1e-4)}')}")
    decls["pow"] = "declare double @pow(double, double) nobuiltin"
    # the pows lane by lane, branching as the scalar step does (only the ones it needs)
    rho = "undef"
    for lane in range(W):
        ral = emit(f"extractelement {V} {ra}, i32 {lane}")
        rbl = emit(f"extractelement {V} {rb}, i32 {lane}")
        asl = emit(f"extractelement {VB} {a_small}, i32 {lane}")
        bsl = emit(f"extractelement {VB} {b_small}, i32 {lane}")
        L = f"l{lane}"
        emit_void(f"br i1 {asl}, label %{L}a, label %{L}na")
        label(f"{L}a")
        r_a = emit(f"call double @pow(double {ral}, double %inv_o)")
        emit_void(f"br label %{L}h")
        label(f"{L}na")
        emit_void(f"br i1 {bsl}, label %{L}b, label %{L}both")
        label(f"{L}b")
        r_b = emit(f"call double @pow(double {rbl}, double %inv_om1)")
        emit_void(f"br label %{L}h")
        label(f"{L}both")
        r_o = emit(f"call double @pow(double {ral}, double %inv_o)")
        r_om1 = emit(f"call double @pow(double {rbl}, double %inv_om1)")
        lt = emit(f"fcmp olt double {r_om1}, {r_o}")
        r_ab = emit(f"select i1 {lt}, double {r_om1}, double {r_o}")
        emit_void(f"br label %{L}h")
        label(f"{L}h")
        rl = emit(f"phi double [ {r_a}, %{L}a ], [ {r_b}, %{L}b ], [ {r_ab}, %{L}both ]")
        rho = emit(f"insertelement {V} {rho}, double {rl}, i32 {lane}")
    rf = emit(f"insertelement {V} undef, double %rhofac, i32 0")
    rf = emit(f"shufflevector {V} {rf}, {V} undef, <{W} x i32> zeroinitializer")
    h = emit(f"fmul {V} {rho}, {rf}")
    amh = fabs("%max_h")
    h = emit(f"select {VB} {emit(f'fcmp olt {V} {amh}, {h}')}, {V} {amh}, {V} {h}")
    negm = emit(f"fcmp olt {V} %max_h, {splat(0.0)}")
    h = emit(f"select {VB} {negm}, {V} {emit(f'fneg {V} {h}')}, {V} {h}")
    for i in range(n):
        acc = coef(i, order)
        for k in range(order - 1, -1, -1):
            acc = emit(f"call {V} {fma_v}({V} {acc}, {V} {h}, {V} {coef(i, k)})")
        emit_void(f"store {V} {acc}, ptr {gep('%xnew', i)}, align 8")
    emit_void(f"ret {V} {h}")
    out.append(f"define {V} @{name}_bstep(ptr noalias %state, ptr noalias %pars, {V} %t, "
               f"{V} %max_h, ptr noalias %xnew, double %rhofac, double %inv_o, "
               f"double %inv_om1, ptr noalias %work) {{")
    out.extend(cur[0])
    out.append("}")
    head = list(decls.values())
    work = n_slots * ncol + len(spill) if chunked else 0
    return "\n".join(head + out) + "\n", work


def emit_log2_rough(emit, splat, isplat, V, VI, VB, x):
    """``stepphases._log2_rough`` lane-wise, as IR text: the same operations in the same
    order, so every lane's step size is the scalar one (used by the vector step of the
    plain SIMD loop and by the vector jet of the batch event loop)."""
    bits = emit(f"bitcast {V} {x} to {VI}")
    e = emit(f"and {VI} {emit(f'ashr {VI} {bits}, {isplat(52)}')}, {isplat(0x7FF)}")
    neg = emit(f"icmp slt {VI} {bits}, {isplat(0)}")
    e0 = emit(f"icmp eq {VI} {e}, {isplat(0)}")
    e1 = emit(f"icmp eq {VI} {e}, {isplat(0x7FF)}")
    bad = emit(f"or {VB} {neg}, {emit(f'or {VB} {e0}, {e1}')}")
    mb = emit(f"or {VI} {emit(f'and {VI} {bits}, {isplat(0xFFFFFFFFFFFFF)}')}, "
              f"{isplat(0x3FF0000000000000)}")
    m = emit(f"bitcast {VI} {mb} to {V}")
    s = emit(f"fdiv {V} {emit(f'fsub {V} {m}, {splat(1.0)}')}, "
             f"{emit(f'fadd {V} {m}, {splat(1.0)}')}")
    s2 = emit(f"fmul {V} {s}, {s}")
    poly = emit(f"fadd {V} {splat(0.5770780163555854)}, "
                f"{emit(f'fmul {V} {s2}, {splat(0.4121985831111324)}')}")
    poly = emit(f"fadd {V} {splat(0.9617966939259756)}, {emit(f'fmul {V} {s2}, {poly}')}")
    poly = emit(f"fadd {V} {splat(2.8853900817779268)}, {emit(f'fmul {V} {s2}, {poly}')}")
    ef = emit(f"sitofp {VI} {emit(f'sub {VI} {e}, {isplat(1023)}')} to {V}")
    r = emit(f"fadd {V} {ef}, {emit(f'fmul {V} {s}, {poly}')}")
    return emit(f"select {VB} {bad}, {V} {splat(math.nan)}, {V} {r}")
