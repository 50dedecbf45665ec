"""The propagation loop of the adaptive Taylor integrator, as inlined numba functions.

:func:`until_step` is one iteration of ``propagate_until`` towards a double-length
final time (heyoka's loop body): one :func:`taylorjit._integrate.stepphases.do_step`,
then the bookkeeping of the propagation (step counts, min/max step, the limits),
dense output on a grid (:func:`_emit_grid`) and continuous output.
:func:`propagate_fused` is the same loop for the plain case of a fused step (no
events, grid or continuous output) with its bookkeeping in registers;
:func:`init_run` resets the bookkeeping of a new propagation.  The compiled entry
points that run these loops (scalar and batch) are in
:mod:`taylorjit._integrate.stepper`; the LLVM plain loop
(:mod:`taylorjit._integrate.plainloop`) is :func:`init_run` + :func:`propagate_fused`,
the same operations.
"""
from __future__ import annotations

import math

from numba import njit

from .._dd.arith import add as dd_add, lt as dd_lt, sub as dd_sub
from .events import E_NEEDPY
from .stepcodes import (F_H, F_INVO, F_INVOM1, F_LASTH, F_MAXDT, F_MAXH, F_MINH, F_RHOFAC,
    F_TSHI, F_TSLO, I_BUDGET, I_CIDX, I_FWD, I_GIDX, I_HACC, I_LADDR, I_MAXSTEPS, I_N, I_NEV,
    I_NSTEPS, I_ORDER, I_RADDR, I_WANTC, I_WANTGRID, OC_BUFFER_FULL, OC_CONTINUE, OC_ERR_NF,
    OC_EVENT, OC_EVENT_PY, OC_STEP_LIMIT, OC_SUCCESS, OC_TIME_LIMIT, REG_AFTER)
from .stepphases import (_INL, _call_light, _call_step, _jet_from_addr, do_step, do_step_given,
    eval_poly)

__all__ = ["step_limit", "until_step", "propagate_fused", "init_run", "lane_step_limit",
           "until_step_given"]


@njit(**_INL)
def step_limit(fwd, max_dt, rhi, rlo):
    """The largest step towards the final time: the remaining time ``(rhi, rlo)``,
    clamped to ``max_dt`` in the direction of integration."""
    if fwd:
        return max_dt if dd_lt(max_dt, 0.0, rhi, rlo) else rhi
    return -max_dt if dd_lt(rhi, rlo, -max_dt, 0.0) else rhi


@njit(**_INL)
def _emit_grid(tc, iw, fw, tm, grid, gout, flush):
    """Dense output of the last step at the grid points it covered (all the rest if flush)."""
    n = iw[I_N]
    order = iw[I_ORDER]
    g_i = iw[I_GIDX]
    fwd = iw[I_FWD]
    while g_i < grid.shape[0]:
        g = grid[g_i]
        if not flush:
            if fwd == 1 and dd_lt(tm[0], tm[1], g, 0.0):
                break
            if fwd == 0 and dd_lt(g, 0.0, tm[0], tm[1]):
                break
        dhi, dlo = dd_sub(g, 0.0, fw[F_TSHI], fw[F_TSLO])
        eval_poly(tc, n, order, dhi, gout[g_i], iw[I_HACC])
        g_i += 1
    iw[I_GIDX] = g_i


@njit(**_INL)
def until_step(jet, prog, cvals, tc, iw, fw, hrows, state, pars, tm, tlim, grid, gout, ctc, ct,
               xnew, ev):
    """One iteration of ``propagate_until`` towards ``tlim`` (heyoka's loop body).

    Returns an outcome code, or OC_CONTINUE when the propagation goes on."""
    n = iw[I_N]
    rhi, rlo = dd_sub(tlim[0], tlim[1], tm[0], tm[1])
    dtl = step_limit(iw[I_FWD] == 1, fw[F_MAXDT], rhi, rlo)
    if iw[I_WANTC] == 1 and iw[I_CIDX] >= ctc.shape[0]:
        return OC_BUFFER_FULL
    oc = do_step(jet, prog, cvals, tc, iw, fw, hrows, state, pars, tm, dtl, xnew, ev)
    if oc == OC_ERR_NF:
        return oc
    h = fw[F_H]
    if h != 0.0:
        iw[I_NSTEPS] += 1
    if oc == OC_SUCCESS:
        ah = abs(h)
        if ah < fw[F_MINH]:
            fw[F_MINH] = ah
        if ah > fw[F_MAXH]:
            fw[F_MAXH] = ah
    if iw[I_WANTC] == 1 and h != 0.0:
        c = iw[I_CIDX]
        order = iw[I_ORDER]
        for i in range(n):
            for k in range(order + 1):
                ctc[c, i, k] = tc[i, k]
        ct[c + 1, 0] = tm[0]
        ct[c + 1, 1] = tm[1]
        iw[I_CIDX] = c + 1
    last = h == rhi
    if iw[I_WANTGRID] == 1:
        _emit_grid(tc, iw, fw, tm, grid, gout, last)
    if oc == OC_EVENT:
        return OC_EVENT
    if last:
        return OC_TIME_LIMIT
    if iw[I_MAXSTEPS] != 0 and iw[I_NSTEPS] >= iw[I_MAXSTEPS]:
        return OC_STEP_LIMIT
    if iw[I_NEV] > 0 and ev[7][E_NEEDPY] == 1:
        return OC_EVENT_PY
    return OC_CONTINUE


@njit(**_INL)
def lane_step_limit(iw, fw, tm, tlim):
    """The step limit ``until_step`` computes first (see :func:`step_limit`)."""
    rhi, rlo = dd_sub(tlim[0], tlim[1], tm[0], tm[1])
    return step_limit(iw[I_FWD] == 1, fw[F_MAXDT], rhi, rlo)


@njit(**_INL)
def until_step_given(tc, iw, fw, hrows, state, tm, tlim, grid, gout, ctc, ct, xnew, ev, h0, xv,
                     excl):
    """:func:`until_step` with the step's table, its step size ``h0`` (towards
    :func:`lane_step_limit`) and the Horner value ``xv`` of the state at ``h0`` computed
    elsewhere (:func:`taylorjit._integrate.stepphases.do_step_given`): the same outcome
    and values; ``excl``: see ``do_step_given``."""
    n = iw[I_N]
    rhi, rlo = dd_sub(tlim[0], tlim[1], tm[0], tm[1])
    dtl = step_limit(iw[I_FWD] == 1, fw[F_MAXDT], rhi, rlo)
    if iw[I_WANTC] == 1 and iw[I_CIDX] >= ctc.shape[0]:
        return OC_BUFFER_FULL
    oc = do_step_given(tc, iw, fw, hrows, state, tm, dtl, xnew, ev, h0, xv, excl)
    if oc == OC_ERR_NF:
        return oc
    h = fw[F_H]
    if h != 0.0:
        iw[I_NSTEPS] += 1
    if oc == OC_SUCCESS:
        ah = abs(h)
        if ah < fw[F_MINH]:
            fw[F_MINH] = ah
        if ah > fw[F_MAXH]:
            fw[F_MAXH] = ah
    if iw[I_WANTC] == 1 and h != 0.0:
        c = iw[I_CIDX]
        order = iw[I_ORDER]
        for i in range(n):
            for k in range(order + 1):
                ctc[c, i, k] = tc[i, k]
        ct[c + 1, 0] = tm[0]
        ct[c + 1, 1] = tm[1]
        iw[I_CIDX] = c + 1
    last = h == rhi
    if iw[I_WANTGRID] == 1:
        _emit_grid(tc, iw, fw, tm, grid, gout, last)
    if oc == OC_EVENT:
        return OC_EVENT
    if last:
        return OC_TIME_LIMIT
    if iw[I_MAXSTEPS] != 0 and iw[I_NSTEPS] >= iw[I_MAXSTEPS]:
        return OC_STEP_LIMIT
    if iw[I_NEV] > 0 and ev[7][E_NEEDPY] == 1:
        return OC_EVENT_PY
    return OC_CONTINUE


@njit(**_INL)
def propagate_fused(jet, tc, iw, fw, state, pars, tm, tlim, xnew):
    """``until_step`` repeated, for the plain case of a fused step (``iw[I_LIGHT]
    == JET_FUSED``: no events, no grid, no continuous output): the same operations and
    outcomes, with the bookkeeping (time, step count, min/max h, the step-size
    constants) in local variables instead of ``iw``/``fw``, written back on exit.
    Through the opaque call of the step function numba must assume that any memory
    changed, so the generic loop reloads its bookkeeping from the work arrays
    after every step; here it stays in registers (heyoka's C++ loop keeps it in
    the integrator object, also reloaded, but with alias information).  Returns
    an outcome code, or OC_CONTINUE when the step budget (``iw[I_BUDGET]``) is
    used up.

    From the :data:`REG_AFTER`-th step of a call on, the loop calls the *register
    step* (``iw[I_RADDR]``, :func:`taylorjit._codegen.step_ir.emit_step` with a local
    table: the same values, no coefficient stored; see
    ``benchmarks/bench_fused_step.py``), keeping each step's initial state in ``tc[:, 0]``; on exit the
    light entry (``iw[I_LADDR]``) recomputes the last step's coefficients from
    it, so ``tc`` ends as the plain fused step leaves it, bit for bit."""
    n = iw[I_N]
    raddr = iw[I_RADDR]
    rjet = _jet_from_addr(raddr)
    stale = False
    t_last = 0.0
    rhofac = fw[F_RHOFAC]
    inv_o = fw[F_INVO]
    inv_om1 = fw[F_INVOM1]
    max_dt = fw[F_MAXDT]
    fwd = iw[I_FWD] == 1
    tl_hi = tlim[0]
    tl_lo = tlim[1]
    budget = iw[I_BUDGET]
    max_steps = iw[I_MAXSTEPS]
    nsteps = iw[I_NSTEPS]
    minh = fw[F_MINH]
    maxh = fw[F_MAXH]
    thi = tm[0]
    tlo = tm[1]
    tshi = fw[F_TSHI]
    tslo = fw[F_TSLO]
    lasth = fw[F_LASTH]
    h = fw[F_H]
    taken = 0
    while True:
        rhi, rlo = dd_sub(tl_hi, tl_lo, thi, tlo)
        dtl = step_limit(fwd, max_dt, rhi, rlo)
        if raddr != 0 and taken >= REG_AFTER:
            for i in range(n):
                tc[i, 0] = state[i]
            h = _call_step(rjet, tc, pars, thi, state, xnew, dtl, rhofac, inv_o, inv_om1)
            stale = True
            t_last = thi
        else:
            h = _call_step(jet, tc, pars, thi, state, xnew, dtl, rhofac, inv_o, inv_om1)
            stale = False
        nhi, nlo = dd_add(thi, tlo, h, 0.0)
        ok = math.isfinite(h) and math.isfinite(nhi) and math.isfinite(nlo)
        for i in range(n):
            if not math.isfinite(xnew[i]):
                ok = False
        if not ok:
            oc = OC_ERR_NF
            break
        lasth = h
        tshi = thi
        tslo = tlo
        for i in range(n):
            state[i] = xnew[i]
        thi = nhi
        tlo = nlo
        if h != 0.0:
            nsteps += 1
        if h != dtl:          # OC_SUCCESS (not cut by the time limit or max_delta_t)
            ah = abs(h)
            if ah < minh:
                minh = ah
            if ah > maxh:
                maxh = ah
        if h == rhi:
            oc = OC_TIME_LIMIT
            break
        if max_steps != 0 and nsteps >= max_steps:
            oc = OC_STEP_LIMIT
            break
        taken += 1
        if budget > 0 and taken >= budget:
            oc = OC_CONTINUE
            break
    if stale:       # the last step's coefficients, from its initial state in tc[:, 0]
        _call_light(_jet_from_addr(iw[I_LADDR]), tc, pars, t_last)
    tm[0] = thi
    tm[1] = tlo
    fw[F_H] = h
    fw[F_LASTH] = lasth
    fw[F_TSHI] = tshi
    fw[F_TSLO] = tslo
    fw[F_MINH] = minh
    fw[F_MAXH] = maxh
    iw[I_NSTEPS] = nsteps
    return oc


@njit(**_INL)
def init_run(iw, fw, tm, tlim, t_end, max_dt, max_steps, budget, want_grid, want_c):
    """The bookkeeping of a new propagation to ``t_end`` (see :func:`_propagate`)."""
    tlim[0] = t_end
    tlim[1] = 0.0
    rhi, rlo = dd_sub(t_end, 0.0, tm[0], tm[1])
    iw[I_FWD] = 1 if rhi >= 0.0 else 0
    iw[I_NSTEPS] = 0
    iw[I_MAXSTEPS] = max_steps
    iw[I_CIDX] = 0
    iw[I_BUDGET] = budget
    iw[I_WANTGRID] = want_grid
    iw[I_GIDX] = want_grid
    iw[I_WANTC] = want_c
    fw[F_MAXDT] = max_dt
    fw[F_MINH] = math.inf
    fw[F_MAXH] = 0.0
