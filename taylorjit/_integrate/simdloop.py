"""The loop of a SIMD batch kernel: the IR of ``<name>_bprop`` and its argument block.

:func:`_loop_ir` writes, with llvmlite's builder, ``propagate_until`` of a group of up
to W lanes around the vector step of :mod:`taylorjit._integrate.simdjet` (see
:mod:`taylorjit._integrate.simdbatch`, which builds and caches the kernels): the
bookkeeping of the scalar plain loop per lane, the lanes gathered into vectors on
entry and scattered back, with each lane's table recomputed by the scalar light
entry, on exit.  ``B_*`` are the words of a group's block.
"""
from __future__ import annotations

import math

from . import stepper as S

__all__ = ["BLOCK"]

# the block of a group: addresses of lane l0's rows, then counts
B_STATE, B_PARS, B_TM, B_IW, B_FW, B_TC, B_TLIM, B_CODES, B_NL, B_MAXSTEPS, B_LIGHT, \
    B_PSTRIDE = range(12)
BLOCK = 12


def _loop_ir(name: str, n: int, n_slots: int, npar: int, order: int, W: int,
             work: int = 0) -> str:
    """``<name>_bprop`` (llvmlite's builder; see the module doc); ``work``: vectors of
    the work buffer the step needs (chunked kernels, see
    :func:`~taylorjit._integrate.simdjet._ir`), allocated for the call (returns -1 if
    that fails)."""
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

    from .._dd.arith import DDBuilder as DD

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

