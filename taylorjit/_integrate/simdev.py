"""The vector code of a batch integrator with events: W lanes' steps at once.

A batch integrator with events runs the compiled batch loop, each lane's step as the
scalar integrator's: Taylor coefficients, step size over the state and event rows,
event detection, Horner, bookkeeping (:func:`taylorjit._integrate.steploop.until_step`).
All but the event detection and the bookkeeping is what SIMD lanes compute best: this
module builds, per system and order, an LLVM module with

``<name>_bjet(blk, lanes)``
    the traced jet of :func:`taylorjit._codegen.unroll.trace_program` (with the event
    rows, ``full`` as the scalar kernel) on ``<W x double>`` vectors: lane ``l`` is
    the batch lane ``lanes[l]``, its state, parameters and time gathered from the
    batch integrator's lane-major arrays (block words :data:`W_STATE` ...); every table
    cell the scalar kernel keeps (state and output slots) stored as a vector to the
    group ``lanes[2 W]``'s vector table (:data:`W_VTBL`, W lanes interleaved); then
    the step size over the state and event rows towards ``dtl[lane]``
    (:func:`taylorjit._integrate.stepphases.step_size`), the Horner update of the
    state (:func:`taylorjit._integrate.stepphases.eval_poly`) and the fast event
    exclusion (:func:`taylorjit._integrate.roots_exclude.fast_exclude` of every event
    row), written to ``hout[lane]`` and ``xnew[lane]`` if ``lanes[W + l]`` is 1, else
    to a scratch area (padding lanes);
``<name>_noop(tc, pars, t)``
    a light entry that does nothing (kept for the layout of the cached modules).

Every lane performs exactly the IEEE operations of the scalar code in the same order
(vector operations are lane-wise, no fast-math; C library calls lane by lane, the
pows of the step size only where the scalar step takes them), so the tables, step
sizes and new states, and with them the steps, events and states, are the scalar
integrator's bit for bit.  Systems whose trace runs operations in the VM at order 0,
or that are bigger than :data:`taylorjit._integrate.simdjet.SMALL_NODES` traced nodes,
get none (the lanes then run the scalar jet one by one).
"""
from __future__ import annotations

import threading

from .stepcodes import F_INVO, F_INVOM1, F_RHOFAC, NFW

__all__ = ["EventJet", "event_jet", "W_STATE", "W_PARS", "W_TM", "W_TC", "W_PSTRIDE",
           "W_SCRATCH", "W_FW", "W_DTL", "W_HOUT", "W_XNEW", "W_VTBL", "NWORDS", "scratch_len"]

# the words of the block of <name>_bjet: addresses of lane 0's rows, the parameter stride
W_STATE, W_PARS, W_TM, W_TC, W_PSTRIDE, W_SCRATCH, W_FW, W_DTL, W_HOUT, W_XNEW, W_VTBL = \
    range(11)
NWORDS = 11
_LAYOUT = 4
_lock = threading.Lock()
_LOADED: dict = {}


def scratch_len(W: int, cells: int, n: int) -> int:
    """Doubles of the scratch area of ``<name>_bjet`` (padding lanes' tables, steps and
    new states)."""
    return W * (cells + 1 + n + 1)


def _ir(p, name: str, n: int, n_slots: int, npar: int, order: int, W: int, keep,
        hrows) -> str:
    """The IR text of ``<name>_bjet`` and ``<name>_noop`` (see the module doc) for the
    traced program ``p``; ``keep``: the slots whose cells are scattered to the lanes."""
    from .simdjet import _hex

    ncol = order + 1
    V = f"<{W} x double>"
    decls = {"fma": f"declare {V} @llvm.fma.v{W}f64({V}, {V}, {V})"}
    body = ["entry:"]
    cnt = [0]

    def emit(instr):
        cnt[0] += 1
        r = f"%v{cnt[0]}"
        body.append(f"  {r} = {instr}")
        return r

    def void(instr):
        body.append("  " + instr)

    def splat(x):
        return "<" + ", ".join([f"double {_hex(x)}"] * W) + ">"

    def gep(base, i, ty=V):
        return emit(f"getelementptr inbounds {ty}, ptr {base}, i64 {i}")

    def word(i, ty="ptr"):
        w = emit(f"load i64, ptr {gep('%blk', i, 'i64')}, align 8")
        return emit(f"inttoptr i64 {w} to ptr") if ty == "ptr" else w

    def gather(ptrs, i):
        v = "undef"
        for lane, base in enumerate(ptrs):
            x = emit(f"load double, ptr {gep(base, i, 'double')}, align 8")
            v = emit(f"insertelement {V} {v}, double {x}, i32 {lane}")
        return v

    def lanewise(fn, args):
        res = "undef"
        for lane in range(W):
            xs = [emit(f"extractelement {V} {a}, i32 {lane}") for a in args]
            r = emit(f"call double @{fn}({', '.join(f'double {x}' for x in xs)})")
            res = emit(f"insertelement {V} {res}, double {r}, i32 {lane}")
        return res

    state, pars, tm, tc = (word(i) for i in (W_STATE, W_PARS, W_TM, W_TC))
    pstride, scratch = word(W_PSTRIDE, "i64"), word(W_SCRATCH)
    fw, dtl, hout, xnew, vtbl = (word(i) for i in (W_FW, W_DTL, W_HOUT, W_XNEW, W_VTBL))
    grp = emit(f"load i64, ptr {gep('%lanes', 2 * W, 'i64')}, align 8")
    vgrp = gep(vtbl, emit(f"mul i64 {grp}, {n_slots * ncol}"))
    void(f"%tbl = alloca {V}, i64 {n_slots * ncol}, align 64")
    void(f"%vpars = alloca {V}, i64 {max(npar, 1)}, align 64")
    srows, prows, trows, dst, frows, drows, hdst, xdst = [], [], [], [], [], [], [], []
    for lane in range(W):
        src = emit(f"load i64, ptr {gep('%lanes', lane, 'i64')}, align 8")
        flag = emit(f"load i64, ptr {gep('%lanes', W + lane, 'i64')}, align 8")
        srows.append(gep(state, emit(f"mul i64 {src}, {n}"), "double"))
        prows.append(gep(pars, emit(f"mul i64 {src}, {pstride}"), "double"))
        trows.append(gep(tm, emit(f"mul i64 {src}, 2"), "double"))
        own = gep(tc, emit(f"mul i64 {src}, {n_slots * ncol}"), "double")
        pad = gep(scratch, lane * n_slots * ncol, "double")
        real = emit(f"icmp ne i64 {flag}, 0")
        dst.append(emit(f"select i1 {real}, ptr {own}, ptr {pad}"))
        frows.append(gep(fw, emit(f"mul i64 {src}, {NFW}"), "double"))
        drows.append(gep(dtl, src, "double"))
        padh = gep(scratch, W * n_slots * ncol + lane, "double")
        hdst.append(emit(f"select i1 {real}, ptr {gep(hout, src, 'double')}, ptr {padh}"))
        ownx = gep(xnew, emit(f"mul i64 {src}, {n + 1}"), "double")
        padx = gep(scratch, W * (n_slots * ncol + 1) + lane * (n + 1), "double")
        xdst.append(emit(f"select i1 {real}, ptr {ownx}, ptr {padx}"))
    for i in range(n):
        void(f"store {V} {gather(srows, i)}, ptr {gep('%tbl', i * ncol)}, align 64")
    for i in range(npar):
        void(f"store {V} {gather(prows, i)}, ptr {gep('%vpars', i)}, align 64")
    tvec = gather(trows, 0)
    ops = {"+": "fadd", "-": "fsub", "*": "fmul", "/": "fdiv"}
    vals = {}
    for idx, nd in enumerate(p.nodes):
        kind = nd[0]

        def get(i):
            return vals[i]

        if kind == "st":
            cell = nd[1] * ncol + nd[2]
            v = get(nd[3])
            void(f"store {V} {v}, ptr {gep('%tbl', cell)}, align 64")
            continue
        if kind in ops:
            v = emit(f"{ops[kind]} {V} {get(nd[1])}, {get(nd[2])}")
        elif kind == "c":
            v = splat(nd[1])
        elif kind == "ld":
            v = emit(f"load {V}, ptr {gep('%tbl', nd[1] * ncol + nd[2])}, align 64")
        elif kind == "fma":
            v = emit(f"call {V} @llvm.fma.v{W}f64({V} {get(nd[1])}, {V} {get(nd[2])}, "
                     f"{V} {get(nd[3])})")
        elif kind == "t":
            v = tvec
        elif kind == "par":
            v = emit(f"load {V}, ptr {gep('%vpars', nd[1])}, align 64")
        elif kind == "neg":
            v = emit(f"fneg {V} {get(nd[1])}")
        elif kind == "call":
            decls.setdefault(nd[1], f"declare double @{nd[1]}(double)")
            v = lanewise(nd[1], [get(nd[2])])
        elif kind == "powc":
            decls["pow"] = "declare double @pow(double, double) nobuiltin"
            v = lanewise("pow", [get(nd[1]), get(nd[2])])
        else:       # "vm", "vsum": not built for these programs (event_jet checks)
            raise AssertionError(f"node {nd!r} in a SIMD event jet")
        vals[idx] = v
    for row in sorted(keep):        # the kept cells, as vectors, to the group's table
        for k in range(ncol):
            x = emit(f"load {V}, ptr {gep('%tbl', row * ncol + k)}, align 64")
            void(f"store {V} {x}, ptr {gep(vgrp, row * ncol + k)}, align 8")
    _step_tail(emit, void, gep, splat, gather, decls, V, W, n, ncol, order, hrows,
               frows, drows, hdst, xdst)
    void("ret void")
    out = list(decls.values())
    out.append(f"define void @{name}_bjet(ptr noalias %blk, ptr noalias %lanes) {{")
    out.extend(body)
    out.append("}")
    out.append(f"define void @{name}_noop(ptr %tc, ptr %pars, double %t) {{")
    out.append("entry:")
    out.append("  ret void")
    out.append("}")
    return "\n".join(out) + "\n"


def _step_tail(emit, void, gep, splat, gather, decls, V, W, n, ncol, order, hrows, frows,
               drows, hdst, xdst):
    """The step size over the rows ``hrows`` (:func:`taylorjit._integrate.stepphases.step_size`,
    the same operations lane-wise, the pows lane by lane as the scalar step branches)
    towards each lane's limit ``dtl[lane]``, and the Horner update of the state rows
    (:func:`taylorjit._integrate.stepphases.eval_poly` without compensation) with it:
    ``hout[lane]`` and ``xnew[lane, :n]``; ``xnew[lane, n]`` is 1.0 when every event row
    passes :func:`taylorjit._integrate.roots_exclude.fast_exclude` at that step (the same
    operations lane-wise), else 0.0."""
    import math

    from .simdjet import emit_log2_rough

    VI, VB = f"<{W} x i64>", f"<{W} x i1>"

    def isplat(x):
        return "<" + ", ".join([f"i64 {x}"] * W) + ">"

    def coef(i, j):
        return emit(f"load {V}, ptr {gep('%tbl', i * ncol + j)}, align 64")

    decls["vfabs"] = f"declare {V} @llvm.fabs.v{W}f64({V})"

    def fabs(x):
        return emit(f"call {V} @llvm.fabs.v{W}f64({V} {x})")

    def vmax(j):
        m = None
        for i in hrows:
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

    io, io1, rf = (gather(frows, k) for k in (F_INVO, F_INVOM1, F_RHOFAC))
    max_h = gather(drows, 0)
    la = emit(f"fmul {V} {log2_rough(ra)}, {io}")
    lb = emit(f"fmul {V} {log2_rough(rb)}, {io1}")
    a_small = emit(f"fcmp olt {V} {la}, {emit(f'fsub {V} {lb}, {splat(1e-4)}')}")
    b_small = emit(f"fcmp olt {V} {lb}, {emit(f'fsub {V} {la}, {splat(1e-4)}')}")
    decls["pow"] = "declare double @pow(double, double) nobuiltin"
    rho = "undef"
    for lane in range(W):
        x = [emit(f"extractelement {V} {v}, i32 {lane}") for v in (ra, rb, io, io1)]
        ral, rbl, iol, io1l = x
        asl = emit(f"extractelement {VB} {a_small}, i32 {lane}")
        bsl = emit(f"extractelement {VB} {b_small}, i32 {lane}")
        L = f"l{lane}"
        void(f"br i1 {asl}, label %{L}a, label %{L}na")
        void(f"{L}a:")
        r_a = emit(f"call double @pow(double {ral}, double {iol})")
        void(f"br label %{L}h")
        void(f"{L}na:")
        void(f"br i1 {bsl}, label %{L}b, label %{L}both")
        void(f"{L}b:")
        r_b = emit(f"call double @pow(double {rbl}, double {io1l})")
        void(f"br label %{L}h")
        void(f"{L}both:")
        r_o = emit(f"call double @pow(double {ral}, double {iol})")
        r_om1 = emit(f"call double @pow(double {rbl}, double {io1l})")
        lt = emit(f"fcmp olt double {r_om1}, {r_o}")
        r_ab = emit(f"select i1 {lt}, double {r_om1}, double {r_o}")
        void(f"br label %{L}h")
        void(f"{L}h:")
        rl = emit(f"phi double [ {r_a}, %{L}a ], [ {r_b}, %{L}b ], [ {r_ab}, %{L}both ]")
        rho = emit(f"insertelement {V} {rho}, double {rl}, i32 {lane}")
    h = emit(f"fmul {V} {rho}, {rf}")
    amh = fabs(max_h)
    h = emit(f"select {VB} {emit(f'fcmp olt {V} {amh}, {h}')}, {V} {amh}, {V} {h}")
    negm = emit(f"fcmp olt {V} {max_h}, {splat(0.0)}")
    h = emit(f"select {VB} {negm}, {V} {emit(f'fneg {V} {h}')}, {V} {h}")
    decls["fma"] = f"declare {V} @llvm.fma.v{W}f64({V}, {V}, {V})"
    for lane in range(W):
        void(f"store double {emit(f'extractelement {V} {h}, i32 {lane}')}, ptr {hdst[lane]}, "
             "align 8")
    for i in range(n):
        acc = coef(i, order)
        for k in range(order - 1, -1, -1):
            acc = emit(f"call {V} @llvm.fma.v{W}f64({V} {acc}, {V} {h}, {V} {coef(i, k)})")
        for lane in range(W):
            x = emit(f"extractelement {V} {acc}, i32 {lane}")
            void(f"store double {x}, ptr {gep(xdst[lane], i, 'double')}, align 8")
    allx = _excluded(emit, coef, fabs, splat, V, VB, W, order, h, hrows[n:])
    flag = emit(f"select {VB} {allx}, {V} {splat(1.0)}, {V} {splat(0.0)}")
    for lane in range(W):
        x = emit(f"extractelement {V} {flag}, i32 {lane}")
        void(f"store double {x}, ptr {gep(xdst[lane], n, 'double')}, align 8")


def _excluded(emit, coef, fabs, splat, V, VB, W, order, h, rows):
    """``<W x i1>``: :func:`taylorjit._integrate.roots_exclude.fast_exclude` of every row
    of ``rows`` on the step ``h`` (its operations in its order, lane-wise; a branch
    ``if c < 0: lo += c else: hi += c`` as a select of the two sums)."""
    import math

    from .roots_polish import EPS

    zero = splat(0.0)
    allx = "<" + ", ".join(["i1 true"] * W) + ">"
    for row in rows:
        h2 = emit(f"fmul {V} {h}, {h}")
        h4 = emit(f"fmul {V} {h2}, {h2}")
        q = [h, h2, emit(f"fmul {V} {h2}, {h}"), h4]
        lo, hi, ab = [zero] * 4, [zero] * 4, [zero] * 4

        def acc(j, k):
            c = emit(f"fmul {V} {coef(row, k)}, {q[j]}")
            ab[j] = emit(f"fadd {V} {ab[j]}, {fabs(c)}")
            neg = emit(f"fcmp olt {V} {c}, {zero}")
            lo[j] = emit(f"select {VB} {neg}, {V} {emit(f'fadd {V} {lo[j]}, {c}')}, {V} {lo[j]}")
            hi[j] = emit(f"select {VB} {neg}, {V} {hi[j]}, {V} {emit(f'fadd {V} {hi[j]}, {c}')}")

        k = 1
        while k + 3 <= order:
            for j in range(4):
                acc(j, k + j)
            for j in range(4):
                q[j] = emit(f"fmul {V} {q[j]}, {h4}")
            k += 4
        while k <= order:
            acc(0, k)
            q[0] = emit(f"fmul {V} {q[0]}, {h}")
            k += 1
        g0 = coef(row, 0)

        def sum4(v):
            return emit(f"fadd {V} {emit(f'fadd {V} {v[0]}, {v[1]}')}, "
                        f"{emit(f'fadd {V} {v[2]}, {v[3]}')}")

        a = sum4(ab)
        inf = splat(math.inf)
        fin = emit(f"and {VB} {emit(f'fcmp olt {V} {fabs(a)}, {inf}')}, "
                   f"{emit(f'fcmp olt {V} {fabs(g0)}, {inf}')}")
        marg = emit(f"fmul {V} {splat(8.0 * float(order + 2) * EPS)}, "
                    f"{emit(f'fadd {V} {a}, {fabs(g0)}')}")
        lo_ = emit(f"fadd {V} {g0}, {sum4(lo)}")
        hi_ = emit(f"fadd {V} {g0}, {sum4(hi)}")
        nmarg = emit(f"fneg {V} {marg}")
        ex = emit(f"or {VB} {emit(f'fcmp ogt {V} {lo_}, {marg}')}, "
                  f"{emit(f'fcmp olt {V} {hi_}, {nmarg}')}")
        allx = emit(f"and {VB} {allx}, {emit(f'and {VB} {fin}, {ex}')}")
    return allx


class EventJet:
    """The vector jet of one system at one order and ``full`` for ``W`` lanes (see the
    module doc): ``jet`` and ``noop`` are the addresses of its two functions."""

    def __init__(self, jet, noop, ee, W, n_slots, ncol, hrows=()):
        self.jet = jet
        self.hrows = tuple(hrows)           # the rows of the step size
        self.noop = noop
        self.keep = ee
        self.width = W
        self.cells = n_slots * ncol         # doubles of one lane's table
        self.krows = ()                     # the rows of the table the jet writes


def event_jet(d, order: int, W: int, full: int):
    """The :class:`EventJet` of the ODE decomposition ``d`` (state rows and event rows)
    at ``order`` for ``W``-lane vectors (loaded from the disk cache, else traced and
    compiled), or None when the system does not qualify (VM groups at order 0, more
    than :data:`taylorjit._integrate.simdjet.SMALL_NODES` traced nodes)."""
    from .._codegen.unroll import _hash16, target_machine, load_module, trace_program
    from .simdjet import SMALL_NODES

    # the rows of the step size: the state rows, then the event rows (as the batch
    # integrator's hrows)
    hrows = list(range(d.n_in)) + [int(r) for r in d.outputs[d.n_in:]]
    key = f"{d.key()}_o{order}_w{W}_f{full}_{target_machine()[1]}_{_LAYOUT}_{SMALL_NODES}"
    name = f"tj_simdev_{_hash16(key)}"
    hit = _LOADED.get(name)
    if hit is not None:
        return hit or None
    from .._codegen import cache as _cache

    def traced():
        p = trace_program(d, True, order, full, vector_sums=False, trace_pow=True)
        if len(p.nodes) > SMALL_NODES or any(nd[0] in ("vm", "vsum") for nd in p.nodes):
            return None
        keep = set(d.outputs) | set(range(d.n_in))
        return _ir(p, name, d.n_in, d.n_slots, d.n_pars, order, W, keep, hrows)

    cached = (_cache.cache_dir() / f"{name}.o").exists()
    text = [None if cached else traced()]
    if text[0] is None and not cached:
        _LOADED[name] = False
        return None

    def make_ir():
        if text[0] is None:
            text[0] = traced()
            if text[0] is None:     # pragma: no cover - it qualified when it was cached
                raise RuntimeError("the system no longer qualifies for a SIMD event jet")
        return text[0]

    addr, ee = load_module(name, make_ir, symbol=name + "_bjet")
    k = EventJet(addr, ee.get_function_address(name + "_noop"), ee, W, d.n_slots, order + 1,
                 hrows)
    k.krows = tuple(sorted(set(int(r) for r in d.outputs) | set(range(d.n_in))))
    with _lock:
        _LOADED[name] = k
    return k
