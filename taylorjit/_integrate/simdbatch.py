"""Batch propagation on SIMD lanes: W lanes of a batch integrator in ``<W x double>`` vectors.

A batch integrator without events, extra rows or compensated summation (and no
operation that runs in the VM at order 0) gets, in the background, an LLVM module of
its own with two functions:

``<name>_bstep(vstate, vpars, t, max_h, vxnew, rhofac, inv_o, inv_om1) -> h``
    The fused step of :func:`taylorjit._codegen.unroll._emit_step` on W lanes at once: the
    traced jet with every value a ``<W x double>`` (C library calls -- ``sin``,
    ``pow`` ... at order 0 -- made lane by lane), the step-size rule and the Horner
    update per lane.  Every lane performs exactly the IEEE operations of the scalar
    step, in the same order (vector operations are lane-wise, no fast-math), so
    each lane equals the scalar integration of its initial condition bit for bit.
``<name>_bprop(blk) -> 0``
    ``propagate_until`` of a group of up to W lanes to their ``tlim`` (a time per lane;
    ``fw[F_MAXDT]`` the step length limit of each lane): the bookkeeping of the scalar
    plain loop (:mod:`taylorjit._integrate.plainloop`) per lane, the state and the step's
    coefficients kept in vectors; lanes that are done stop committing.  On exit every
    lane's table is recomputed from the start of its last step with the scalar
    kernel's light entry, as the scalar plain loop does after its register step.

This is heyoka's batch mode (the lanes of a SIMD vector integrate independent
initial conditions with their own step sizes); the lane order of taylorjit's
storage (lane-major ``(batch, n)``) is gathered into vectors on entry and scattered
back on exit.
"""
from __future__ import annotations

import ctypes
import functools
import math
import threading

import numpy as np

from . import stepper as S

__all__ = ["simd_width", "batch_kernel", "MAX_NODES", "BLOCK"]

_LAYOUT = 6
# traced nodes of the jet up to which a SIMD batch kernel is built; up to SMALL_NODES one
# straight-line function on a table in registers (an alloca), above it functions of CHUNK
# nodes (LLVM's code generation grows faster than linearly with a function's size) on a
# table in memory, values used by later chunks passed through a spill area
SMALL_NODES = 3000
MAX_NODES = 200000
# the block of a group: addresses of lane l0's rows, then counts
B_STATE, B_PARS, B_TM, B_IW, B_FW, B_TC, B_TLIM, B_CODES, B_NL, B_MAXSTEPS, B_LIGHT, \
    B_PSTRIDE = range(12)
BLOCK = 12
_lock = threading.Lock()
_LOADED: dict = {}


@functools.lru_cache(maxsize=None)
def simd_width() -> int:
    """Doubles per SIMD register of this machine (8 with AVX-512, 4 with AVX, else 2):
    the batch size that fills the vectors of the SIMD batch kernels (heyoka's
    ``recommended_simd_size``).

    Examples
    --------
    >>> import taylorjit as tj
    >>> tj.recommended_simd_size() in (2, 4, 8)
    True
    """
    import llvmlite.binding as llb

    from .._codegen.unroll import _target_machine

    _target_machine()           # LLVM's native target initialised
    feats = llb.get_host_cpu_features()
    if feats.get("avx512f"):
        return 8
    if feats.get("avx"):
        return 4
    return 2


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

    def log2_rough(x):          # _stepper._log2_rough, lane-wise
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


def _loop_ir(name: str, n: int, n_slots: int, npar: int, order: int, W: int,
             work: int = 0) -> str:
    """``<name>_bprop`` (llvmlite's builder; see the module doc); ``work``: vectors of
    the work buffer the step needs (chunked kernels, see :func:`_ir`), allocated
    for the call (returns -1 if that fails)."""
    from llvmlite import ir

    f64, i64, i1, i32 = ir.DoubleType(), ir.IntType(64), ir.IntType(1), ir.IntType(32)
    vt = ir.VectorType(f64, W)
    ptr = ir.PointerType()
    ncol = order + 1
    mod = ir.Module(name=name + "_loop")
    bstep = ir.Function(mod, ir.FunctionType(vt, [ptr, ptr, vt, vt, ptr, f64, f64, f64, ptr]),
                        name=name + "_bstep")
    light_ty = ir.FunctionType(ir.VoidType(), [ptr, ptr, f64])
    fabs = mod.declare_intrinsic("llvm.fabs", [f64], ir.FunctionType(f64, [f64]))
    fn = ir.Function(mod, ir.FunctionType(i64, [ptr]), name=name + "_bprop")
    blk = fn.args[0]
    b = ir.IRBuilder(fn.append_basic_block("entry"))

    def c(x):
        return ir.Constant(f64, x)

    def ci(x):
        return ir.Constant(i64, x)

    def at(base, i, ty=f64):
        return b.gep(base, [i if isinstance(i, ir.Value) else ci(i)], inbounds=True,
                     source_etype=ty)

    def word(i):
        return b.load(at(blk, i, i64), typ=i64)

    def addr(i):
        return b.inttoptr(word(i), ptr)

    def var(ty, init):
        p = b.alloca(ty)
        b.store(init, p)
        return p

    def ld(base, i, ty=f64):
        return b.load(at(base, i, ty), typ=ty)

    from .plainloop import DD

    dd = DD(b)
    dd_add, dd_lt = dd.add, dd.lt

    def isfinite(v):
        return b.fcmp_ordered("<", b.call(fabs, [v]), c(math.inf))

    state, pars, tm, iw, fw, tc, tlim, codes = (addr(i) for i in range(B_CODES + 1))
    nl, max_steps = word(B_NL), word(B_MAXSTEPS)
    pstride = word(B_PSTRIDE)       # the length of a lane's row of parameters (>= npar)
    light = b.inttoptr(word(B_LIGHT), light_ty.as_pointer())
    NIW, NFW = S.NIW, S.NFW
    rhofac, inv_o, inv_om1 = ld(fw, S.F_RHOFAC), ld(fw, S.F_INVO), ld(fw, S.F_INVOM1)
    # vectors: the state, the new state, the state at the start of each lane's last step;
    # the parameters
    vstate = b.alloca(vt, size=ci(n))
    vxnew = b.alloca(vt, size=ci(n))
    vstart = b.alloca(vt, size=ci(n))
    vpars = b.alloca(vt, size=ci(max(npar, 1)))
    if work:
        malloc = ir.Function(mod, ir.FunctionType(ptr, [i64]), name="malloc")
        free = ir.Function(mod, ir.FunctionType(ir.VoidType(), [ptr]), name="free")
        # 64 bytes more than needed, the vectors from the first 64-byte boundary (a vector of
        # 8 doubles at malloc's 16-byte alignment would straddle two cache lines)
        wraw = b.call(malloc, [ci(work * W * 8 + 64)])
        ok_bb, oom_bb = fn.append_basic_block("alloc_ok"), fn.append_basic_block("oom")
        b.cbranch(b.icmp_unsigned("==", b.ptrtoint(wraw, i64), ci(0)), oom_bb, ok_bb)
        b.position_at_end(oom_bb)
        b.ret(ci(-1))
        b.position_at_end(ok_bb)
        waddr = b.and_(b.add(b.ptrtoint(wraw, i64), ci(63)), ci(-64))
        wbuf = b.inttoptr(waddr, ptr)
    else:
        wbuf = ir.Constant(ptr, None)
    lanes = []
    for lane in range(W):
        # padding lanes (lane >= nl) repeat lane 0 and are done from the start
        real = b.icmp_signed("<", ci(lane), nl)
        src = b.select(real, ci(lane), ci(0))
        L = {}
        L["real"] = real
        row_st = b.mul(src, ci(n))
        row_tm = b.mul(src, ci(2))
        row_iw = b.mul(src, ci(NIW))
        row_fw = b.mul(src, ci(NFW))
        L["src"] = src
        L["thi"] = var(f64, ld(tm, row_tm))
        L["tlo"] = var(f64, ld(tm, b.add(row_tm, ci(1))))
        L["tlhi"] = ld(tlim, row_tm)
        L["tllo"] = ld(tlim, b.add(row_tm, ci(1)))
        # init_run: the direction, the counters
        rhi0, _ = dd_add(L["tlhi"], c(0.0), b.fneg(b.load(L["thi"], typ=f64)),
                         b.fneg(b.load(L["tlo"], typ=f64)))
        L["fwd"] = b.fcmp_ordered(">=", rhi0, c(0.0))
        L["maxdt"] = ld(fw, b.add(row_fw, ci(S.F_MAXDT)))
        L["nsteps"] = var(i64, ci(0))
        L["minh"] = var(f64, c(math.inf))
        L["maxh"] = var(f64, c(0.0))
        L["lasth"] = var(f64, ld(fw, b.add(row_fw, ci(S.F_LASTH))))
        L["h"] = var(f64, ld(fw, b.add(row_fw, ci(S.F_H))))
        L["tshi"] = var(f64, ld(fw, b.add(row_fw, ci(S.F_TSHI))))
        L["tslo"] = var(f64, ld(fw, b.add(row_fw, ci(S.F_TSLO))))
        L["tlast"] = var(f64, ld(tm, row_tm))
        L["done"] = var(i1, b.not_(real))
        L["code"] = var(i64, ci(S.OC_SUCCESS))
        L["stepped"] = var(i1, ir.Constant(i1, 0))
        for i in range(n):
            x = ld(state, b.add(row_st, ci(i)))
            pv = at(vstate, i, vt)
            prev = b.load(pv, typ=vt) if lane else ir.Constant(vt, ir.Undefined)
            b.store(b.insert_element(prev, x, ir.Constant(i32, lane)), pv)
        for i in range(npar):
            x = ld(pars, b.add(b.mul(src, pstride), ci(i)))
            pv = at(vpars, i, vt)
            prev = b.load(pv, typ=vt) if lane else ir.Constant(vt, ir.Undefined)
            b.store(b.insert_element(prev, x, ir.Constant(i32, lane)), pv)
        lanes.append(L)
    for i in range(n):
        b.store(b.load(at(vstate, i, vt), typ=vt), at(vstart, i, vt))

    loop = fn.append_basic_block("loop")
    exit_bb = fn.append_basic_block("exit")
    b.branch(loop)
    b.position_at_end(loop)
    tvec = ir.Constant(vt, ir.Undefined)
    dvec = ir.Constant(vt, ir.Undefined)
    for lane, L in enumerate(lanes):
        thi, tlo = b.load(L["thi"], typ=f64), b.load(L["tlo"], typ=f64)
        rhi, rlo = dd_add(L["tlhi"], L["tllo"], b.fneg(thi), b.fneg(tlo))
        md = L["maxdt"]
        neg_max = b.fneg(md)
        lim_f = b.select(dd_lt(md, c(0.0), rhi, rlo), md, rhi)
        lim_b = b.select(dd_lt(rhi, rlo, neg_max, c(0.0)), neg_max, rhi)
        dtl = b.select(L["fwd"], lim_f, lim_b)
        dtl = b.select(b.load(L["done"], typ=i1), c(0.0), dtl)
        L["rhi"], L["dtl"], L["t0"] = rhi, dtl, (thi, tlo)
        tvec = b.insert_element(tvec, thi, ir.Constant(i32, lane))
        dvec = b.insert_element(dvec, dtl, ir.Constant(i32, lane))
    hvec = b.call(bstep, [vstate, vpars, tvec, dvec, vxnew, rhofac, inv_o, inv_om1, wbuf])
    xs = [b.load(at(vxnew, i, vt), typ=vt) for i in range(n)]
    olds = [b.load(at(vstate, i, vt), typ=vt) for i in range(n)]
    commit = ir.Constant(ir.VectorType(i1, W), ir.Undefined)
    for lane, L in enumerate(lanes):
        thi, tlo = L["t0"]
        h = b.extract_element(hvec, ir.Constant(i32, lane))
        active = b.not_(b.load(L["done"], typ=i1))
        nhi, nlo = dd_add(thi, tlo, h, c(0.0))
        ok = b.and_(isfinite(h), b.and_(isfinite(nhi), isfinite(nlo)))
        for i in range(n):
            ok = b.and_(ok, isfinite(b.extract_element(xs[i], ir.Constant(i32, lane))))
        go = b.and_(active, ok)
        fail = b.and_(active, b.not_(ok))
        commit = b.insert_element(commit, go, ir.Constant(i32, lane))

        def upd(key, val, when):
            b.store(b.select(when, val, b.load(L[key], typ=val.type)), L[key])

        upd("h", h, active)
        upd("lasth", h, go)
        upd("tshi", thi, go)
        upd("tslo", tlo, go)
        # the table of the lane's last step (or of the failed step) is recomputed on exit
        upd("tlast", thi, active)
        upd("stepped", ir.Constant(i1, 1), active)
        upd("thi", nhi, go)
        upd("tlo", nlo, go)
        ns = b.load(L["nsteps"], typ=i64)
        ns = b.select(b.and_(go, b.fcmp_unordered("!=", h, c(0.0))), b.add(ns, ci(1)), ns)
        b.store(ns, L["nsteps"])
        ah = b.call(fabs, [h])
        cut = b.fcmp_ordered("==", h, L["dtl"])
        keep = b.and_(go, b.not_(cut))
        minh, maxh = b.load(L["minh"], typ=f64), b.load(L["maxh"], typ=f64)
        b.store(b.select(b.and_(keep, b.fcmp_ordered("<", ah, minh)), ah, minh), L["minh"])
        b.store(b.select(b.and_(keep, b.fcmp_ordered(">", ah, maxh)), ah, maxh), L["maxh"])
        tl_hit = b.and_(go, b.fcmp_ordered("==", h, L["rhi"]))
        st_hit = b.and_(b.and_(go, b.not_(tl_hit)),
                        b.and_(b.icmp_signed("!=", max_steps, ci(0)),
                               b.icmp_signed(">=", ns, max_steps)))
        code = b.load(L["code"], typ=i64)
        code = b.select(fail, ci(S.OC_ERR_NF), code)
        code = b.select(tl_hit, ci(S.OC_TIME_LIMIT), code)
        code = b.select(st_hit, ci(S.OC_STEP_LIMIT), code)
        b.store(code, L["code"])
        b.store(b.or_(b.load(L["done"], typ=i1), b.or_(fail, b.or_(tl_hit, st_hit))),
                L["done"])
    for i in range(n):
        # the start of the step for the lanes that stepped (failed ones too: their table
        # is the failed step's), the new state for the lanes that committed
        stepped_any = ir.Constant(ir.VectorType(i1, W), ir.Undefined)
        for lane, L in enumerate(lanes):
            stepped_any = b.insert_element(stepped_any, b.load(L["stepped"], typ=i1),
                                           ir.Constant(i32, lane))
        b.store(b.select(stepped_any, olds[i], b.load(at(vstart, i, vt), typ=vt)),
                at(vstart, i, vt))
        b.store(b.select(commit, xs[i], olds[i]), at(vstate, i, vt))
    for L in lanes:
        b.store(ir.Constant(i1, 0), L["stepped"])
    alldone = ir.Constant(i1, 1)
    for L in lanes:
        alldone = b.and_(alldone, b.load(L["done"], typ=i1))
    b.cbranch(alldone, exit_bb, loop)

    # ---- exit: scatter the lanes back, recompute each lane's table with the light entry
    b.position_at_end(exit_bb)
    for lane, L in enumerate(lanes):
        wb, nxt = fn.append_basic_block(f"wb{lane}"), fn.append_basic_block(f"nx{lane}")
        b.cbranch(L["real"], wb, nxt)
        b.position_at_end(wb)
        src = L["src"]
        row_st, row_tm = b.mul(src, ci(n)), b.mul(src, ci(2))
        row_iw, row_fw = b.mul(src, ci(NIW)), b.mul(src, ci(NFW))
        tcl = b.gep(tc, [b.mul(src, ci(n_slots * ncol))], inbounds=True, source_etype=f64)
        for i in range(n):
            v = b.extract_element(b.load(at(vstate, i, vt), typ=vt), ir.Constant(i32, lane))
            b.store(v, at(state, b.add(row_st, ci(i))))
            s0 = b.extract_element(b.load(at(vstart, i, vt), typ=vt), ir.Constant(i32, lane))
            b.store(s0, at(tcl, i * ncol))
        parl = b.gep(pars, [b.mul(src, pstride)], inbounds=True, source_etype=f64)
        b.call(light, [tcl, parl, b.load(L["tlast"], typ=f64)])
        b.store(b.load(L["thi"], typ=f64), at(tm, row_tm))
        b.store(b.load(L["tlo"], typ=f64), at(tm, b.add(row_tm, ci(1))))
        for idx, key in ((S.F_H, "h"), (S.F_LASTH, "lasth"), (S.F_TSHI, "tshi"),
                         (S.F_TSLO, "tslo"), (S.F_MINH, "minh"), (S.F_MAXH, "maxh")):
            b.store(b.load(L[key], typ=f64), at(fw, b.add(row_fw, ci(idx))))
        b.store(b.load(L["nsteps"], typ=i64), at(iw, b.add(row_iw, ci(S.I_NSTEPS)), i64))
        b.store(b.zext(L["fwd"], i64), at(iw, b.add(row_iw, ci(S.I_FWD)), i64))
        b.store(b.load(L["code"], typ=i64), at(codes, src, i64))
        b.branch(nxt)
        b.position_at_end(nxt)
    if work:
        b.call(free, [wraw])
    b.ret(ci(0))
    return str(mod)


class BatchKernel:
    """The SIMD batch propagation of one system at one order (see the module doc):
    ``run(blocks)`` propagates the groups of lanes their blocks describe."""

    def __init__(self, fn, ee, W):
        self.fn = fn
        self.keep = ee
        self.width = W


def batch_kernel(d, order: int, W: int):
    """The :class:`BatchKernel` of the ODE decomposition ``d`` at ``order`` for
    ``W``-lane vectors (loaded from the disk cache, else traced and compiled), or
    None when the system does not qualify (VM groups at order 0, more than
    :data:`MAX_NODES` traced nodes)."""
    from .._codegen.unroll import _hash16, _target_machine, load_module, trace_program

    from .._codegen.unroll import CHUNK

    key = f"{d.key()}_o{order}_w{W}_{_target_machine()[1]}_{_LAYOUT}_{SMALL_NODES}_{CHUNK}"
    name = f"tj_simdbatch_{_hash16(key)}"
    hit = _LOADED.get(name)
    if hit is not None:
        return hit or None
    with _lock:
        hit = _LOADED.get(name)
        if hit is not None:
            return hit or None
    from .._codegen import cache as _cache

    def traced():
        p = trace_program(d, True, order, 0, vector_sums=False, trace_pow=True)
        if len(p.nodes) > MAX_NODES or any(nd[0] in ("vm", "vsum") for nd in p.nodes):
            return None
        return _ir(p, name, d.n_in, d.n_slots, d.n_pars, order, W) + (len(p.nodes),)

    # traced now unless the object code is cached (an entry that turns out damaged is
    # rebuilt: then make_ir traces)
    cached = (_cache.cache_dir() / f"{name}.o").exists()
    text = [None if cached else traced()]
    if text[0] is None and not cached:
        _LOADED[name] = False
        return None

    def make_ir():
        if text[0] is None:
            text[0] = traced()
            if text[0] is None:     # pragma: no cover - it qualified when it was cached
                raise RuntimeError("the system no longer qualifies for a SIMD batch kernel")
        loop = _loop_ir(name, d.n_in, d.n_slots, d.n_pars, order, W, text[0][1])
        # one module: the loop's text without its declaration of the step, and the step
        lines = [ln for ln in loop.splitlines()
                 if not (ln.startswith("declare") and f"{name}_bstep" in ln)]
        return "\n".join(lines) + "\n" + text[0][0]

    from .._codegen.unroll import IR_PASSES_MAX_NODES

    addr, ee = load_module(name, make_ir, symbol=name + "_bprop",
                           passes=lambda: text[0][2] <= IR_PASSES_MAX_NODES)
    k = BatchKernel(ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)(addr), ee, W)
    with _lock:
        _LOADED[name] = k
    return k
