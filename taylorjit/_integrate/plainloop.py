"""The plain propagation loop as LLVM code: no numba compilation on the common path.

``propagate_until`` of an integrator without events, grid, continuous output,
callback or progress bar, whose kernel has a fused step (an unrolled kernel,
see ``taylorjit._codegen.step_ir.emit_step``), is one loop around the step function.
This module writes that loop -- :func:`taylorjit._integrate.steploop.init_run` followed by
:func:`taylorjit._integrate.steploop.propagate_fused`, the same IEEE operations in the same
order, so the trajectories are bit-identical (tested) -- as one LLVM function,
compiled once per installation and loaded from the disk cache in milliseconds.
A fresh process, even one with empty caches, then integrates without waiting for
numba to compile the engine's general loops (tens of seconds the first time).

The function takes one argument, the address of an int64 block (one ctypes
argument costs less than thirteen)::

    int64 tj_plain_loop(int64 *blk)
    blk = [step fn, tc, iw, fw, state, pars, tm, tlim, xnew,   (addresses)
           max_steps, init, budget, t_end (bits), max_dt (bits), single, steph (bits)]

and returns the outcome code of :mod:`taylorjit._integrate.stepcodes`.  ``init = 1`` starts a
propagation to ``t_end`` (``init_run``); ``0`` resumes one after a budget.  ``single = 1``
limits every step by ``steph`` (signed) alone, as ``do_step``'s ``max_h``: with
``max_steps = 1`` that is the integrators' ``step()`` (:func:`single_step`).  The
double-length time arithmetic is :class:`taylorjit._dd.arith.DDBuilder`, the
numba loops' ``dd_add`` / ``dd_sub`` / ``dd_lt`` written with an llvmlite builder.
"""
from __future__ import annotations

import ctypes
import math
import threading

import numpy as np

from . import stepcodes as S
from .._dd.arith import DDBuilder as DD

__all__ = ["plain_loop", "new_block", "BLOCK", "B_STEP", "B_MAXSTEPS", "B_INIT", "B_BUDGET", "B_TEND",
           "single_step", "B_WANTGRID", "B_GRID", "B_GOUT", "B_NGRID", "B_WANTC", "B_CTC", "B_CT",
           "B_CAP",
           "B_MAXDT"]

_LAYOUT = 5
B_STEP, B_TC, B_IW, B_FW, B_STATE, B_PARS, B_TM, B_TLIM, B_XNEW, B_MAXSTEPS, B_INIT, B_BUDGET, \
    B_TEND, B_MAXDT, B_SINGLE, B_STEPH, B_WANTGRID, B_GRID, B_GOUT, B_NGRID, B_WANTC, B_CTC, \
    B_CT, B_CAP = range(24)
BLOCK = 24
_lock = threading.Lock()
_FN: list = []


def _make_ir(name: str) -> str:
    from llvmlite import ir

    f64, i64, i1 = ir.DoubleType(), ir.IntType(64), ir.IntType(1)
    ptr = ir.PointerType()
    mod = ir.Module(name=name)
    fn = ir.Function(mod, ir.FunctionType(i64, [ptr]), name=name)
    blk = fn.args[0]
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    step_ty = ir.FunctionType(f64, [ptr, ptr, f64, ptr, ptr, f64, f64, f64, f64])
    light_ty = ir.FunctionType(ir.VoidType(), [ptr, ptr, f64])
    fabs = mod.declare_intrinsic("llvm.fabs", [f64], ir.FunctionType(f64, [f64]))

    def c(x):
        return ir.Constant(f64, x)

    def ci(x):
        return ir.Constant(i64, x)

    def at(base, i, ty):
        return b.gep(base, [i if isinstance(i, ir.Value) else ci(i)], inbounds=True,
                     source_etype=ty)

    def word(i):
        return b.load(at(blk, i, i64), typ=i64)

    def addr(i):
        return b.inttoptr(word(i), ptr)

    def fword(i):
        return b.bitcast(word(i), f64)

    step = b.inttoptr(word(B_STEP), step_ty.as_pointer())
    tc, iw, fw, state, pars, tm, tlim, xnew = (addr(i) for i in range(B_TC, B_XNEW + 1))

    def ld(base, i, ty=f64):
        return b.load(at(base, i, ty), typ=ty)

    def st(v, base, i, ty=f64):
        b.store(v, at(base, i, ty))

    def isfinite(v):
        # |v| < inf is false for inf and NaN: math.isfinite
        return b.fcmp_ordered("<", b.call(fabs, [v]), c(math.inf))

    dd = DD(b)
    dd_add, dd_sub, dd_lt = dd.add, dd.sub, dd.lt

    # single = 1 (step()): the bookkeeping words that init_run and the loop overwrite are
    # saved here and put back at the exit, so that only the step's own effects remain
    # (commit_step's step size, last step size and step start, and the time); a single
    # step always starts a run of one step without budget
    single0 = b.icmp_signed("!=", word(B_SINGLE), ci(0))
    saved = []
    for arr, idx, ty in ([(iw, k, i64) for k in (S.I_FWD, S.I_NSTEPS, S.I_MAXSTEPS, S.I_CIDX,
                                                  S.I_BUDGET, S.I_WANTGRID, S.I_GIDX,
                                                  S.I_WANTC)]
                         + [(fw, k, f64) for k in (S.F_MAXDT, S.F_MINH, S.F_MAXH)]
                         + [(tlim, 0, f64), (tlim, 1, f64)]):
        p = b.alloca(ty)
        b.store(ld(arr, idx, ty), p)
        saved.append((arr, idx, ty, p))

    # ---- init_run (init == 1)
    init_bb = fn.append_basic_block("init")
    body_bb = fn.append_basic_block("setup")
    b.cbranch(b.or_(b.icmp_signed("==", word(B_INIT), ci(1)), single0), init_bb, body_bb)
    b.position_at_end(init_bb)
    t_end = fword(B_TEND)
    st(t_end, tlim, 0)
    st(c(0.0), tlim, 1)
    rhi, _ = dd_sub(t_end, c(0.0), ld(tm, 0), ld(tm, 1))
    st(b.zext(b.fcmp_ordered(">=", rhi, c(0.0)), i64), iw, S.I_FWD, i64)
    for idx, val in ((S.I_NSTEPS, ci(0)),
                     (S.I_MAXSTEPS, b.select(single0, ci(1), word(B_MAXSTEPS))),
                     (S.I_CIDX, ci(0)),
                     (S.I_BUDGET, b.select(single0, ci(0), word(B_BUDGET))),
                     (S.I_WANTGRID, word(B_WANTGRID)),
                     (S.I_GIDX, word(B_WANTGRID)), (S.I_WANTC, word(B_WANTC))):
        st(val, iw, idx, i64)
    st(fword(B_MAXDT), fw, S.F_MAXDT)
    st(c(math.inf), fw, S.F_MINH)
    st(c(0.0), fw, S.F_MAXH)
    b.branch(body_bb)

    # ---- propagate_fused: the bookkeeping in locals (allocas promoted to registers)
    b.position_at_end(body_bb)
    n = ld(iw, S.I_N, i64)
    raddr = ld(iw, S.I_RADDR, i64)
    rstep = b.inttoptr(raddr, step_ty.as_pointer())
    rhofac, inv_o, inv_om1 = ld(fw, S.F_RHOFAC), ld(fw, S.F_INVO), ld(fw, S.F_INVOM1)
    max_dt = ld(fw, S.F_MAXDT)
    fwd = b.icmp_signed("==", ld(iw, S.I_FWD, i64), ci(1))
    tl_hi, tl_lo = ld(tlim, 0), ld(tlim, 1)
    budget = ld(iw, S.I_BUDGET, i64)
    max_steps = ld(iw, S.I_MAXSTEPS, i64)
    # single = 1: every step is limited by steph (signed) instead of t_end and max_dt: the
    # step() of the integrators (with max_steps = 1), as do_step's max_h
    single = b.icmp_signed("!=", word(B_SINGLE), ci(0))
    steph = fword(B_STEPH)
    order = ld(iw, S.I_ORDER, i64)
    ncol = b.add(order, ci(1))
    # dense output on a grid (gout[g] for grid[g], g from iw[I_GIDX]) and continuous output
    # (each step's coefficients of the state rows into ctc, its end time into ct; at most
    # cap steps, then OC_BUFFER_FULL); both need tc of each step: no register step then
    wantgrid = b.icmp_signed("!=", ld(iw, S.I_WANTGRID, i64), ci(0))
    wantc = b.icmp_signed("!=", ld(iw, S.I_WANTC, i64), ci(0))
    grid, gout, ctc, ct = addr(B_GRID), addr(B_GOUT), addr(B_CTC), addr(B_CT)
    ngrid, cap = word(B_NGRID), word(B_CAP)
    no_reg = b.or_(wantgrid, wantc)

    def var(ty, init):
        p = b.alloca(ty)
        b.store(init, p)
        return p

    v_stale = var(i1, ir.Constant(i1, 0))
    v_tlast = var(f64, c(0.0))
    v_nsteps = var(i64, ld(iw, S.I_NSTEPS, i64))
    v_minh, v_maxh = var(f64, ld(fw, S.F_MINH)), var(f64, ld(fw, S.F_MAXH))
    v_thi, v_tlo = var(f64, ld(tm, 0)), var(f64, ld(tm, 1))
    v_tshi, v_tslo = var(f64, ld(fw, S.F_TSHI)), var(f64, ld(fw, S.F_TSLO))
    v_lasth, v_h = var(f64, ld(fw, S.F_LASTH)), var(f64, ld(fw, S.F_H))
    v_taken = var(i64, ci(0))
    v_oc = var(i64, ci(S.OC_SUCCESS))
    v_i = var(i64, ci(0))
    v_k = var(i64, ci(0))
    v_acc = var(f64, c(0.0))
    v_gidx = var(i64, ld(iw, S.I_GIDX, i64))
    v_cidx = var(i64, ld(iw, S.I_CIDX, i64))

    loop = fn.append_basic_block("loop")
    exit_bb = fn.append_basic_block("exit")
    b.branch(loop)
    b.position_at_end(loop)
    full_bb, go_bb = fn.append_basic_block("cfull"), fn.append_basic_block("go")
    b.cbranch(b.and_(wantc, b.icmp_signed(">=", b.load(v_cidx, typ=i64), cap)), full_bb, go_bb)
    b.position_at_end(full_bb)
    b.store(ci(S.OC_BUFFER_FULL), v_oc)
    b.branch(exit_bb)
    b.position_at_end(go_bb)
    thi, tlo = b.load(v_thi, typ=f64), b.load(v_tlo, typ=f64)
    rhi, rlo = dd_sub(tl_hi, tl_lo, thi, tlo)
    # step_limit(fwd, max_dt, rhi, rlo)
    neg_max = b.fneg(max_dt)
    lim_f = b.select(dd_lt(max_dt, c(0.0), rhi, rlo), max_dt, rhi)
    lim_b = b.select(dd_lt(rhi, rlo, neg_max, c(0.0)), neg_max, rhi)
    dtl = b.select(single, steph, b.select(fwd, lim_f, lim_b))
    taken = b.load(v_taken, typ=i64)
    use_reg = b.and_(b.and_(b.icmp_signed("!=", raddr, ci(0)),
                            b.icmp_signed(">=", taken, ci(S.REG_AFTER))), b.not_(no_reg))
    reg_bb, plain_bb, stepped = (fn.append_basic_block(x) for x in ("reg", "plainstep", "stepped"))
    b.cbranch(use_reg, reg_bb, plain_bb)

    def copy_loop(count, body):
        """for i in range(count): body(i)"""
        head, blk_, done = (fn.append_basic_block(x) for x in ("cl_head", "cl_body", "cl_done"))
        b.store(ci(0), v_i)
        b.branch(head)
        b.position_at_end(head)
        i = b.load(v_i, typ=i64)
        b.cbranch(b.icmp_signed("<", i, count), blk_, done)
        b.position_at_end(blk_)
        body(i)
        b.store(b.add(i, ci(1)), v_i)
        b.branch(head)
        b.position_at_end(done)

    b.position_at_end(reg_bb)
    copy_loop(n, lambda i: b.store(b.load(at(state, i, f64), typ=f64), at(tc, b.mul(i, ncol), f64)))
    h_reg = b.call(rstep, [tc, pars, thi, state, xnew, dtl, rhofac, inv_o, inv_om1])
    b.store(ir.Constant(i1, 1), v_stale)
    b.store(thi, v_tlast)
    reg_end = b.block
    b.branch(stepped)
    b.position_at_end(plain_bb)
    h_plain = b.call(step, [tc, pars, thi, state, xnew, dtl, rhofac, inv_o, inv_om1])
    b.store(ir.Constant(i1, 0), v_stale)
    plain_end = b.block
    b.branch(stepped)
    b.position_at_end(stepped)
    h = b.phi(f64)
    h.add_incoming(h_reg, reg_end)
    h.add_incoming(h_plain, plain_end)
    b.store(h, v_h)
    nhi, nlo = dd_add(thi, tlo, h, c(0.0))
    v_ok = var(i1, b.and_(isfinite(h), b.and_(isfinite(nhi), isfinite(nlo))))
    copy_loop(n, lambda i: b.store(b.and_(b.load(v_ok, typ=i1),
                                          isfinite(b.load(at(xnew, i, f64), typ=f64))), v_ok))

    def leave_if(cond, code):
        """End the loop with outcome ``code`` if ``cond``, else go on."""
        out, on = fn.append_basic_block("leave"), fn.append_basic_block("on")
        b.cbranch(cond, out, on)
        b.position_at_end(out)
        b.store(ci(code), v_oc)
        b.branch(exit_bb)
        b.position_at_end(on)

    leave_if(b.not_(b.load(v_ok, typ=i1)), S.OC_ERR_NF)
    b.store(h, v_lasth)
    b.store(thi, v_tshi)
    b.store(tlo, v_tslo)
    copy_loop(n, lambda i: b.store(b.load(at(xnew, i, f64), typ=f64), at(state, i, f64)))
    b.store(nhi, v_thi)
    b.store(nlo, v_tlo)
    ns = b.load(v_nsteps, typ=i64)
    ns = b.select(b.fcmp_unordered("!=", h, c(0.0)), b.add(ns, ci(1)), ns)
    b.store(ns, v_nsteps)
    # min/max |h| over the steps not cut by the limit (h != dtl)
    ah = b.call(fabs, [h])
    cut = b.fcmp_ordered("==", h, dtl)
    minh, maxh = b.load(v_minh, typ=f64), b.load(v_maxh, typ=f64)
    b.store(b.select(b.and_(b.not_(cut), b.fcmp_ordered("<", ah, minh)), ah, minh), v_minh)
    b.store(b.select(b.and_(b.not_(cut), b.fcmp_ordered(">", ah, maxh)), ah, maxh), v_maxh)

    def when(cond, body):
        """if cond: body()"""
        yes, done = fn.append_basic_block("if"), fn.append_basic_block("fi")
        b.cbranch(cond, yes, done)
        b.position_at_end(yes)
        body()
        b.branch(done)
        b.position_at_end(done)

    # continuous output (until_step): the step's coefficients and its end time
    def c_store():
        cidx = b.load(v_cidx, typ=i64)
        width = b.mul(n, ncol)
        base = b.mul(cidx, width)
        copy_loop(width, lambda i: b.store(b.load(at(tc, i, f64), typ=f64),
                                           at(ctc, b.add(base, i), f64)))
        at2 = b.mul(b.add(cidx, ci(1)), ci(2))
        b.store(nhi, at(ct, at2, f64))
        b.store(nlo, at(ct, b.add(at2, ci(1)), f64))
        b.store(b.add(cidx, ci(1)), v_cidx)

    when(b.and_(wantc, b.fcmp_unordered("!=", h, c(0.0))), c_store)

    # dense output at the grid points the step covered, all the rest on the last step
    # (_emit_grid, with eval_poly's Horner of fused multiply-adds)
    fma = mod.declare_intrinsic("llvm.fma", [f64], ir.FunctionType(f64, [f64] * 3))
    last = b.fcmp_ordered("==", h, rhi)

    def emit_grid():
        head, body, point, done = (fn.append_basic_block(x) for x in
                                   ("g_head", "g_body", "g_point", "g_done"))
        b.branch(head)
        b.position_at_end(head)
        g_i = b.load(v_gidx, typ=i64)
        b.cbranch(b.icmp_signed("<", g_i, ngrid), body, done)
        b.position_at_end(body)
        g = b.load(at(grid, g_i, f64), typ=f64)
        ahead = b.select(fwd, dd_lt(nhi, nlo, g, c(0.0)), dd_lt(g, c(0.0), nhi, nlo))
        b.cbranch(b.and_(b.not_(last), ahead), done, point)
        b.position_at_end(point)
        dhi, _ = dd_sub(g, c(0.0), thi, tlo)

        def horner(i):
            row = b.mul(i, ncol)
            b.store(b.load(at(tc, b.add(row, order), f64), typ=f64), v_acc)
            b.store(b.sub(order, ci(1)), v_k)
            kh, kb, kd = (fn.append_basic_block(x) for x in ("k_head", "k_body", "k_done"))
            b.branch(kh)
            b.position_at_end(kh)
            k = b.load(v_k, typ=i64)
            b.cbranch(b.icmp_signed(">=", k, ci(0)), kb, kd)
            b.position_at_end(kb)
            acc = b.call(fma, [b.load(v_acc, typ=f64), dhi,
                               b.load(at(tc, b.add(row, k), f64), typ=f64)])
            b.store(acc, v_acc)
            b.store(b.sub(k, ci(1)), v_k)
            b.branch(kh)
            b.position_at_end(kd)
            b.store(b.load(v_acc, typ=f64), at(gout, b.add(b.mul(g_i, n), i), f64))

        copy_loop(n, horner)
        b.store(b.add(g_i, ci(1)), v_gidx)
        b.branch(head)
        b.position_at_end(done)

    when(wantgrid, emit_grid)
    leave_if(b.fcmp_ordered("==", h, rhi), S.OC_TIME_LIMIT)
    leave_if(b.and_(b.icmp_signed("!=", max_steps, ci(0)), b.icmp_signed(">=", ns, max_steps)),
             S.OC_STEP_LIMIT)
    taken1 = b.add(taken, ci(1))
    b.store(taken1, v_taken)
    leave_if(b.and_(b.icmp_signed(">", budget, ci(0)), b.icmp_signed(">=", taken1, budget)),
             S.OC_CONTINUE)
    b.branch(loop)

    # ---- exit: the last step's coefficients if the register step ran, bookkeeping back
    b.position_at_end(exit_bb)
    light_bb, wb_bb = fn.append_basic_block("light"), fn.append_basic_block("writeback")
    b.cbranch(b.load(v_stale, typ=i1), light_bb, wb_bb)
    b.position_at_end(light_bb)
    light = b.inttoptr(ld(iw, S.I_LADDR, i64), light_ty.as_pointer())
    b.call(light, [tc, pars, b.load(v_tlast, typ=f64)])
    b.branch(wb_bb)
    b.position_at_end(wb_bb)
    st(b.load(v_thi, typ=f64), tm, 0)
    st(b.load(v_tlo, typ=f64), tm, 1)
    for idx, v in ((S.F_H, v_h), (S.F_LASTH, v_lasth), (S.F_TSHI, v_tshi), (S.F_TSLO, v_tslo),
                   (S.F_MINH, v_minh), (S.F_MAXH, v_maxh)):
        st(b.load(v, typ=f64), fw, idx)
    st(b.load(v_nsteps, typ=i64), iw, S.I_NSTEPS, i64)
    st(b.load(v_gidx, typ=i64), iw, S.I_GIDX, i64)
    st(b.load(v_cidx, typ=i64), iw, S.I_CIDX, i64)
    restore_bb, ret_bb = fn.append_basic_block("restore"), fn.append_basic_block("ret")
    b.cbranch(single0, restore_bb, ret_bb)
    b.position_at_end(restore_bb)
    for arr, idx, ty, p in saved:
        st(b.load(p, typ=ty), arr, idx, ty)
    b.branch(ret_bb)
    b.position_at_end(ret_bb)
    b.ret(b.load(v_oc, typ=i64))
    return str(mod)


def plain_loop():
    """The compiled loop (a ctypes function of one int64 address), built once per
    installation (then loaded from the disk cache)."""
    if _FN:
        return _FN[0]
    with _lock:
        if not _FN:
            from .._codegen.unroll import load_module

            name = f"tj_plain_loop{_LAYOUT}"
            addr, ee = load_module(name, lambda: _make_ir(name), passes=True)
            fn = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)(addr)
            _FN.extend([fn, ee])
    return _FN[0]


def new_block(step_addr, tc, iw, fw, state, pars, tm, tlim, xnew):
    """The argument block of :func:`plain_loop` for an integrator's arrays (which
    must stay alive and in place); returns ``(int64 block, float64 view)``."""
    blk = np.zeros(BLOCK, dtype=np.int64)
    blk[B_STEP] = step_addr
    for i, a in zip(range(B_TC, B_XNEW + 1), (tc, iw, fw, state, pars, tm, tlim, xnew)):
        blk[i] = a.ctypes.data
    return blk, blk.view(np.float64)


def single_step(blk, fblk, max_h, iw, fw, tlim, addr=None):
    """One step at most ``|max_h|`` long in the direction of ``max_h``'s sign (``inf``:
    no limit) with the block of an integrator's plain loop (``iw``, ``fw``, ``tlim``:
    the integrator's arrays in the block): the fused step of ``do_step`` and the
    commit of ``commit_step``, the same operations, and the same effects: of the
    bookkeeping only the step size, the last step size and the step's start time
    change (the loop's own words are put back).  Returns ``(code, h)`` with code
    ``OC_ERR_NF`` (nothing committed), ``OC_TIME_LIMIT`` (the step was cut to
    ``max_h``) or ``OC_SUCCESS``.  ``addr``: ``blk``'s address, if the caller keeps it
    (``blk.ctypes.data`` costs ~1.4 us, more than the step of a small system)."""
    blk[B_SINGLE] = 1
    fblk[B_STEPH] = max_h
    fblk[B_TEND] = math.nan
    try:
        code = (_FN[0] if _FN else plain_loop())(blk.ctypes.data if addr is None else addr)
    finally:
        blk[B_SINGLE] = 0
    h = fw.item(S.F_H)
    if code == S.OC_ERR_NF:
        return code, h
    return (S.OC_TIME_LIMIT if h == max_h else S.OC_SUCCESS), h




# --------------------------------------------------------------------------- dense output
_DENSE: list = []


def _dense_ir(name: str) -> str:
    """Two functions: ``void <name>_poly(tc, ncol, n, h, out)`` (``eval_poly`` with
    ``hacc = 0``: every row's Horner chain of fused multiply-adds, from the highest
    coefficient) and ``void <name>_ceval(tcs, times, ns, n, ncol, ts, npts, out)``
    (``c_eval``: the step covering each time by binary search on the hi parts of
    the boundaries, the offset by double-length subtraction, then ``_poly``)."""
    from llvmlite import ir

    f64, i64 = ir.DoubleType(), ir.IntType(64)
    ptr = ir.PointerType()
    mod = ir.Module(name=name)
    fma = mod.declare_intrinsic("llvm.fma", [f64], ir.FunctionType(f64, [f64] * 3))

    def ci(x):
        return ir.Constant(i64, x)

    def c(x):
        return ir.Constant(f64, x)

    def at(b, base, i):
        return b.gep(base, [i], inbounds=True, source_etype=f64)

    def counted(fn, b, lo, hi, step, body):
        """for (i = lo; step > 0 ? i < hi : i >= hi; i += step) body(b, i); returns the
        builder positioned after the loop."""
        entry = b.block
        head, blk, done = (fn.append_basic_block(x) for x in ("head", "body", "done"))
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(i64)
        i.add_incoming(lo, entry)
        b.cbranch(b.icmp_signed("<" if step > 0 else ">=", i, hi), blk, done)
        b.position_at_end(blk)
        body(b, i)
        nxt = b.add(i, ci(step))
        i.add_incoming(nxt, b.block)
        b.branch(head)
        b.position_at_end(done)
        return b

    poly = ir.Function(mod, ir.FunctionType(ir.VoidType(), [ptr, i64, i64, f64, ptr]),
                       name=name + "_poly")
    tc, ncol, n, h, out = poly.args
    b = ir.IRBuilder(poly.append_basic_block("entry"))
    acc_p = b.alloca(f64)

    def row(b, i):
        base = b.mul(i, ncol)
        order = b.sub(ncol, ci(1))
        b.store(b.load(at(b, tc, b.add(base, order)), typ=f64), acc_p)

        def horner(b, k):
            b.store(b.call(fma, [b.load(acc_p, typ=f64), h,
                                 b.load(at(b, tc, b.add(base, k)), typ=f64)]), acc_p)

        counted(poly, b, b.sub(order, ci(1)), ci(0), -1, horner)
        b.store(b.load(acc_p, typ=f64), at(b, out, i))

    counted(poly, b, ci(0), n, 1, row)
    b.ret_void()

    ceval = ir.Function(mod, ir.FunctionType(ir.VoidType(), [ptr, ptr, i64, i64, i64, ptr, i64,
                                                             ptr]), name=name + "_ceval")
    tcs, times, ns, n, ncol, ts, npts, out = ceval.args
    b = ir.IRBuilder(ceval.append_basic_block("entry"))
    lo_p, hi_p = b.alloca(i64), b.alloca(i64)
    fwd = b.fcmp_ordered(">=", b.load(at(b, times, b.mul(ns, ci(2))), typ=f64),
                         b.load(at(b, times, ci(0)), typ=f64))

    def point(b, j):
        t = b.load(at(b, ts, j), typ=f64)
        b.store(ci(0), lo_p)
        b.store(b.sub(ns, ci(1)), hi_p)
        head, body, done = (ceval.append_basic_block(x) for x in ("s_head", "s_body", "s_done"))
        b.branch(head)
        b.position_at_end(head)
        lo, hi = b.load(lo_p, typ=i64), b.load(hi_p, typ=i64)
        b.cbranch(b.icmp_signed("<", lo, hi), body, done)
        b.position_at_end(body)
        mid = b.sdiv(b.add(b.add(lo, hi), ci(1)), ci(2))
        tm = b.load(at(b, times, b.mul(mid, ci(2))), typ=f64)
        go = b.select(fwd, b.fcmp_ordered("<=", tm, t), b.fcmp_ordered(">=", tm, t))
        b.store(b.select(go, mid, lo), lo_p)
        b.store(b.select(go, hi, b.sub(mid, ci(1))), hi_p)
        b.branch(head)
        b.position_at_end(done)
        lo = b.load(lo_p, typ=i64)
        thi = b.load(at(b, times, b.mul(lo, ci(2))), typ=f64)
        tlo = b.load(at(b, times, b.add(b.mul(lo, ci(2)), ci(1))), typ=f64)
        dhi, _ = DD(b).sub(t, c(0.0), thi, tlo)     # the offset in the step
        b.call(poly, [b.gep(tcs, [b.mul(lo, b.mul(n, ncol))], inbounds=True, source_etype=f64),
                      ncol, n, dhi, b.gep(out, [b.mul(j, n)], inbounds=True, source_etype=f64)])

    counted(ceval, b, ci(0), npts, 1, point)
    b.ret_void()
    return str(mod)


def dense():
    """``(poly, ceval)``: the ctypes functions of :func:`_dense_ir`, built once per
    installation (then loaded from the disk cache)."""
    if _DENSE:
        return _DENSE[0], _DENSE[1]
    with _lock:
        if not _DENSE:
            from .._codegen.unroll import load_module

            name = f"tj_dense{_LAYOUT}"
            addr, ee = load_module(name, lambda: _dense_ir(name), passes=True,
                                   symbol=name + "_poly")
            vp, i8, f8 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double
            poly = ctypes.CFUNCTYPE(None, vp, i8, i8, f8, vp)(addr)
            ceval = ctypes.CFUNCTYPE(None, vp, vp, i8, i8, i8, vp, i8, vp)(
                ee.get_function_address(name + "_ceval"))
            _DENSE.extend([poly, ceval, ee])
    return _DENSE[0], _DENSE[1]
