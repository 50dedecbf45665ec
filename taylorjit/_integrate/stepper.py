"""Compiled loops of the adaptive Taylor integrator (scalar and batch).

Everything here is numba code compiled ONCE per installation (explicit
signatures, ``cache=True``): the jet of a system is a first-class function
argument (:func:`taylorjit._codegen.kernel.JET_TYPE`), so a new system never triggers
a compilation of these loops.

One step is three separate phases (issue 4, events, slots in between):

1. :func:`compute_jet` -- the Taylor coefficients of the step (``tc``), with
   ``full=1`` when extra output rows (event functions) are present;
2. :func:`step_size` -- Jorba & Zou's rule exactly as heyoka computes it, over
   the rows ``hrows`` (state rows, then any extra output rows):
   ``A = max|x_i[0]|``, ``num = 1 if A <= 1 else A``,
   ``rho_m = (num / max|x_i[m]|)^(1/m)`` for ``m = p, p-1``,
   ``h = min(rho_p, rho_{p-1}) * exp(-0.7/(p-1)) / e^2``, clamped to ``|max_h|``
   and signed like ``max_h``;
   then :func:`taylorjit._integrate.events.detect_events` finds the event roots on the
   step and shortens it to the first terminal event (a no-op without events);
3. :func:`finish_step` -- Horner (or compensated) evaluation of the new state,
   double-length time update, non-finite check (the state is only committed
   when everything is finite).

An unrolled kernel without VM calls also has a *fused step*
(:func:`taylorjit._codegen.unroll._emit_step`): the three phases in one generated
function, bit for bit.  :func:`do_step` calls it when ``iw[I_LIGHT] == 2`` (set
by the driver for integrators without events, extra rows or compensated
summation), and :func:`propagate_fused` is the propagation loop of that case
with its bookkeeping in registers.

Time is a double-length pair ``tm = [hi, lo]`` updated with heyoka's
``dfloat`` addition (error-free transformations), so long and back-and-forth
propagations keep full accuracy.

Integer and float bookkeeping travels in two small work arrays (``iw``,
``fw``) indexed by the ``I_*`` / ``F_*`` constants below; the Python driver
(:mod:`taylorjit._integrate.integrator`) owns them.
"""
from __future__ import annotations

import math
import threading

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from .events import E_NEEDPY, E_NLOG, E_TERM, EV_TYPE, EVB_TYPE, detect_events, lane_bundle
from .._funcs._common import fma
from .._codegen.kernel import JET_TYPE, call_light, call_step, jet_from_addr
from .._numba_compat import entry_point as _entry_point
from .._symbolic.registry import no_refcount_opts

__all__ = ["OC_SUCCESS", "OC_TIME_LIMIT", "OC_STEP_LIMIT", "OC_ERR_NF", "OC_CONTINUE",
           "OC_BUFFER_FULL", "NIW", "NFW", "step_entry", "propagate", "step_batch",
           "propagate_batch", "eval_poly_entry", "c_eval", "rho_factor"]

# outcome codes of the compiled loops (mapped to taylorjit.Outcome by the driver)
OC_SUCCESS = 0
OC_TIME_LIMIT = 1
OC_STEP_LIMIT = 2
OC_ERR_NF = 3
OC_CONTINUE = 10      # the step budget of this call is used up (callbacks, progress bar)
OC_BUFFER_FULL = 11   # the continuous-output buffer is full: grow it and call again
OC_EVENT = 20         # a terminal event ended the step (index in the event bundle)
OC_EVENT_PY = 21      # non-terminal events with Python callbacks are waiting in the log

# iw: integer work array
I_ORDER, I_N, I_FULL, I_HACC, I_NSTEPS, I_MAXSTEPS, I_BUDGET, I_GIDX, I_CIDX, I_WANTC, \
    I_WANTGRID, I_FWD, I_NEV, I_LIGHT, I_RADDR, I_LADDR = range(16)
NIW = 16
# propagate_fused switches to the register step after this many steps of a call (each
# call that used it ends with one more jet, to leave the last step's coefficients in tc)
REG_AFTER = 8
# fw: float work array
F_RHOFAC, F_MAXDT, F_MINH, F_MAXH, F_H, F_LASTH, F_TSHI, F_TSLO, F_INVO, F_INVOM1 = range(10)
NFW = 10

_jet_from_addr = jet_from_addr()
_call_light = call_light()
_call_step = call_step()

_OPTS = dict(cache=True, nogil=True, error_model="numpy", **no_refcount_opts())
# the per-step phases are inlined into the entry points: across a call boundary
# numba increments and decrements the reference count of every array argument
# (atomic operations), which cost more than the step-size rule itself;
# inlined, its reference-count pruning removes them (pendulum: 1.4 -> see
# benchmarks/bench_integrator.py)
_INL = dict(_OPTS, inline="always")


def rho_factor(order: int) -> float:
    """heyoka's safety factor ``exp(-0.7 / (order - 1)) / (e * e)`` (same double ops)."""
    e = math.exp(1.0)
    return math.exp((-7.0 / 10.0) / float(order - 1)) / (e * e)


# --------------------------------------------------------------------------- double-length time
@njit(inline="always", error_model="numpy")
def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@njit(inline="always", error_model="numpy")
def _fast_two_sum(a, b):
    s = a + b
    return s, b - (s - a)


@njit(inline="always", error_model="numpy")
def dd_add(ahi, alo, bhi, blo):
    """``(ahi, alo) + (bhi, blo)`` as heyoka's ``dfloat`` operator+."""
    xh, yh = _two_sum(ahi, bhi)
    xl, yl = _two_sum(alo, blo)
    yh += xl
    xh, yh = _fast_two_sum(xh, yh)
    yh += yl
    return _fast_two_sum(xh, yh)


@njit(inline="always", error_model="numpy")
def dd_sub(ahi, alo, bhi, blo):
    return dd_add(ahi, alo, -bhi, -blo)


@njit(inline="always", error_model="numpy")
def dd_lt(ahi, alo, bhi, blo):
    return ahi < bhi or (ahi == bhi and alo < blo)


# --------------------------------------------------------------------------- step phases
@intrinsic
def _f64_bits(typingctx, x):
    """The IEEE bits of a float64 as an int64 (a bitcast)."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, signature, args):
        from llvmlite import ir

        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_f64(typingctx, i):
    """The float64 with IEEE bits ``i`` (a bitcast)."""
    if not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        from llvmlite import ir

        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@njit(inline="always", error_model="numpy")
def _log2_rough(x):
    """log2(x) within 2e-5 for positive normal finite x; NaN otherwise (zero,
    subnormal, infinite, negative or NaN input)."""
    b = _f64_bits(x)
    e = (b >> 52) & 0x7FF
    if b < 0 or e == 0 or e == 0x7FF:
        return math.nan
    m = _bits_f64((b & 0xFFFFFFFFFFFFF) | 0x3FF0000000000000)     # mantissa in [1, 2)
    s = (m - 1.0) / (m + 1.0)                                       # in [0, 1/3)
    s2 = s * s
    # 2 atanh(s) / ln 2 = log2(m), series to s^7: error < 1.9e-5 (measured 1.8e-5)
    return (e - 1023) + s * (2.8853900817779268 + s2 * (0.9617966939259756
                                                         + s2 * (0.5770780163555854
                                                                 + s2 * 0.4121985831111324)))


@njit(**_INL)
def compute_jet(jet, prog, cvals, tc, order, n, state, pars, t, full, light=0):
    """Phase 1: Taylor coefficients of the state (and all slots) at ``t``.
    ``light``: the jet's address is the light entry of an unrolled kernel built
    for this table (``_kernel.call_light``)."""
    for i in range(n):
        tc[i, 0] = state[i]
    if light == 1:
        _call_light(jet, tc, pars, t)
    else:
        jet(tc, order, pars, t, full, prog, cvals)


@njit(**_INL)
def step_size(tc, hrows, order, max_h, rhofac, inv_o, inv_om1):
    """Phase 2: signed step size (heyoka's ``taylor_determine_h``)."""
    # unsigned indices (rows and orders are never negative): no wraparound code for
    # negative indices in this loop (outer solar system: 0.92x -> 0.86x heyoka)
    uo = np.uint64(order)
    uom1 = np.uint64(order - 1)
    r = np.uint64(hrows[0])
    a = abs(tc[r, 0])
    mo = abs(tc[r, uo])
    mom1 = abs(tc[r, uom1])
    for j in range(1, hrows.shape[0]):
        r = np.uint64(hrows[j])
        v = abs(tc[r, 0])
        if a < v:
            a = v
        v = abs(tc[r, uo])
        if mo < v:
            mo = v
        v = abs(tc[r, uom1])
        if mom1 < v:
            mom1 = v
    num = 1.0 if a <= 1.0 else a
    ra = num / mo
    rb = num / mom1
    # rho = min(ra^(1/p), rb^(1/(p-1))) with ONE pow when the smaller is clear: the
    # pow calls are the slowest link of the chain jet -> h -> new state -> next jet
    # (~100 cycles each).  Rough base-2 logarithms (error < 2e-5) decide which is
    # smaller when their scaled difference exceeds 1e-4, i.e. when the two radii
    # differ by more than ~4e-5 relative, far beyond pow's rounding: the result is
    # then bit for bit the min of the two pows.  Otherwise (close radii, zero,
    # subnormal or non-finite values) both pows as heyoka.
    la = _log2_rough(ra) * inv_o
    lb = _log2_rough(rb) * inv_om1
    if la < lb - 1e-4:
        rho = math.pow(ra, inv_o)
    elif lb < la - 1e-4:
        rho = math.pow(rb, inv_om1)
    else:
        rho_o = math.pow(ra, inv_o)
        rho_om1 = math.pow(rb, inv_om1)
        rho = rho_om1 if rho_om1 < rho_o else rho_o
    h = rho * rhofac
    amh = abs(max_h)
    if amh < h:
        h = amh
    if max_h < 0.0:
        h = -h
    return h


@njit(**_INL)
def _horner4(tc, i0, i1, i2, i3, order, h, out):
    """Horner for rows ``i0..i3`` at once: four independent chains overlap.  The
    ``while k >= 0`` form (not ``range(order - 1, -1, -1)``) lets LLVM see
    that the index is never negative: no wraparound code in the loop, which
    then unrolls cleanly (about half the instructions per coefficient)."""
    a0 = tc[i0, order]
    a1 = tc[i1, order]
    a2 = tc[i2, order]
    a3 = tc[i3, order]
    k = order - 1
    while k >= 0:
        a0 = fma(a0, h, tc[i0, k])
        a1 = fma(a1, h, tc[i1, k])
        a2 = fma(a2, h, tc[i2, k])
        a3 = fma(a3, h, tc[i3, k])
        k -= 1
    out[i0] = a0
    out[i1] = a1
    out[i2] = a2
    out[i3] = a3


@njit(**_INL)
def _horner2(tc, i0, i1, order, h, out):
    a0 = tc[i0, order]
    a1 = tc[i1, order]
    k = order - 1
    while k >= 0:
        a0 = fma(a0, h, tc[i0, k])
        a1 = fma(a1, h, tc[i1, k])
        k -= 1
    out[i0] = a0
    out[i1] = a1


@njit(**_INL)
def _horner1(tc, i0, order, h, out):
    a0 = tc[i0, order]
    k = order - 1
    while k >= 0:
        a0 = fma(a0, h, tc[i0, k])
        k -= 1
    out[i0] = a0


@njit(**_INL)
def eval_poly(tc, n, order, h, out, hacc):
    """``out[i] = sum_k tc[i, k] h^k`` for the first ``n`` rows: Horner, or (``hacc``)
    compensated summation of the monomials as heyoka's high-accuracy mode."""
    if hacc == 0:
        # Horner with fused multiply-adds (one rounding per coefficient, half the
        # latency of mul + add; heyoka's code fuses here too), four rows at a time in
        # registers, the rest two or one at a time (3 rows: a block of four that
        # repeats the last row).  Every row gets the same operations whatever its
        # block: the blocks only decide which chains overlap.  (Measured in a busy
        # phase of the machine, where instruction count decides: Lorenz 1.21x ->
        # 1.13x heyoka, pendulum 1.00x -> 0.92x, against one 4-row block with
        # duplicated rows and a range() loop.)
        i0 = 0
        while i0 + 4 <= n:
            _horner4(tc, i0, i0 + 1, i0 + 2, i0 + 3, order, h, out)
            i0 += 4
        rem = n - i0
        if rem == 3:
            _horner4(tc, i0, i0 + 1, i0 + 2, i0 + 2, order, h, out)
        elif rem == 2:
            _horner2(tc, i0, i0 + 1, order, h, out)
        elif rem == 1:
            _horner1(tc, i0, order, h, out)
    else:
        for i in range(n):
            res = tc[i, 0]
            comp = 0.0
            hp = h
            for k in range(1, order + 1):
                y = tc[i, k] * hp - comp
                s = res + y
                comp = (s - res) - y
                res = s
                hp = hp * h
            out[i] = res


@njit(**_INL)
def finish_step(tc, iw, fw, state, tm, h, max_h, xnew):
    """Phase 3: commit the step of size ``h`` if the result is finite."""
    eval_poly(tc, iw[I_N], iw[I_ORDER], h, xnew, iw[I_HACC])
    return commit_step(iw, fw, state, tm, h, max_h, xnew)


@njit(**_INL)
def commit_step(iw, fw, state, tm, h, max_h, xnew):
    """Commit the new state ``xnew`` after a step of size ``h`` if all is finite."""
    n = iw[I_N]
    thi, tlo = dd_add(tm[0], tm[1], h, 0.0)
    fw[F_H] = h
    ok = math.isfinite(h) and math.isfinite(thi) and math.isfinite(tlo)
    for i in range(n):
        if not math.isfinite(xnew[i]):
            ok = False
    if not ok:
        return OC_ERR_NF
    fw[F_LASTH] = h
    fw[F_TSHI] = tm[0]
    fw[F_TSLO] = tm[1]
    for i in range(n):
        state[i] = xnew[i]
    tm[0] = thi
    tm[1] = tlo
    return OC_TIME_LIMIT if h == max_h else OC_SUCCESS


@njit(**_INL)
def do_step(jet, prog, cvals, tc, iw, fw, hrows, state, pars, tm, max_h, xnew, ev):
    """One step, at most ``|max_h|`` long, in the direction of ``max_h``'s sign.

    ``ev`` is the event bundle (:class:`taylorjit._integrate.events.EventBundle`): the
    event detection may end the step early at a terminal event (OC_EVENT).
    ``iw[I_LIGHT] == 2``: the jet is an unrolled kernel's fused step (the three
    phases in one generated function, :func:`taylorjit._codegen.unroll._emit_step`)."""
    if iw[I_LIGHT] == 2:
        h = _call_step(jet, tc, pars, tm[0], state, xnew, max_h, fw[F_RHOFAC], fw[F_INVO],
                       fw[F_INVOM1])
        return commit_step(iw, fw, state, tm, h, max_h, xnew)
    order = iw[I_ORDER]
    compute_jet(jet, prog, cvals, tc, order, iw[I_N], state, pars, tm[0], iw[I_FULL],
                iw[I_LIGHT])
    h = step_size(tc, hrows, order, max_h, fw[F_RHOFAC], fw[F_INVO], fw[F_INVOM1])
    if iw[I_NEV] == 0:
        return finish_step(tc, iw, fw, state, tm, h, max_h, xnew)
    eiw = ev[7]
    nlog = eiw[E_NLOG]
    h = detect_events(tc, order, hrows, tm, h, ev)
    oc = finish_step(tc, iw, fw, state, tm, h, max_h, xnew)
    if oc == OC_ERR_NF:
        eiw[E_NLOG] = nlog          # the step did not happen: forget its events
        eiw[E_TERM] = -1
        return oc
    if eiw[E_TERM] >= 0:
        return OC_EVENT
    return oc


# --------------------------------------------------------------------------- propagation
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
def propagate_fused(jet, tc, iw, fw, state, pars, tm, tlim, xnew):
    """``until_step`` repeated, for the plain case of a fused step (``iw[I_LIGHT]
    == 2``: no events, no grid, no continuous output): the same operations and
    outcomes, with the bookkeeping (time, step count, min/max h, the step-size
    constants) in local variables instead of ``iw``/``fw``, written back on exit.
    Through the opaque call of the step function numba must assume that any memory
    changed, so the generic loop reloads its bookkeeping from the work arrays
    after every step; here it stays in registers (heyoka's C++ loop keeps it in
    the integrator object, also reloaded, but with alias information).  Returns
    an outcome code, or OC_CONTINUE when the step budget (``iw[I_BUDGET]``) is
    used up.

    From the :data:`REG_AFTER`-th step of a call on, the loop calls the *register
    step* (``iw[I_RADDR]``, :func:`taylorjit._codegen.unroll._emit_step` with a local
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


def _sigs():
    f8 = types.float64
    i8 = types.int64
    a1, a2, a3 = f8[::1], f8[:, ::1], f8[:, :, ::1]
    i1, i2 = i8[::1], i8[:, ::1]
    jet = JET_TYPE()
    ev = EV_TYPE()
    step = i8(i8, i2, a1, a2, i1, a1, i1, a1, a1, a1, f8, a1, ev)
    prop = i8(i8, i2, a1, a2, i1, a1, i1, a1, a1, a1, a1, a1, a2, a3, a2, a1, ev, i8, f8, f8, i8, i8, i8, i8)
    f4 = f8[:, :, :, ::1]
    evb = EVB_TYPE()
    stepb = types.void(jet, i2, a1, a3, i2, a2, i1, a2, a2, a2, a1, a1, i1, evb)
    propb = i8(jet, i2, a1, a3, i2, a2, i1, a2, a2, a2, a2, a2, a3, f4, a3, a1, i1, i8, evb)
    evalp = types.void(a2, i8, i8, f8, a1, i8)
    ceval = types.void(a3, a2, a1, a2, i8)
    return step, prop, stepb, propb, evalp, ceval


_ENTRIES = ("step_entry", "propagate", "step_batch", "propagate_batch", "eval_poly_entry",
            "c_eval")
_ENTRY_LOCK = threading.Lock()


def __getattr__(name):
    """The entry points are compiled (or loaded from numba's cache) on first use,
    not at import: loading six functions with explicit signatures made
    ``import taylorjit`` ~0.3-1 s slower.

    ``<entry>_direct`` is the compiled entry point of the single signature
    without numba's dispatch (type inference of every argument and overload
    lookup: ~5 of the ~24 us that a short ``propagate_until`` costs).  Only for
    callers whose arguments have exactly the signature's types (the drivers'
    own arrays); anything else must go through the dispatcher."""
    base = name[:-7] if name.endswith("_direct") else name
    if base not in _ENTRIES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _ENTRY_LOCK:
        fn = globals().get(base)
        if fn is None:
            sig = _sigs()[_ENTRIES.index(base)]
            fn = njit(sig, **_OPTS)(globals()["_" + base])
            globals()[base] = fn
            globals()[base + "_direct"] = _entry_point(fn)
    return globals()[name]


def _step_entry(jaddr, prog, cvals, tc, iw, fw, hrows, state, pars, tm, max_h, xnew, ev):
    """One step (``TaylorAdaptive.step``) with the jet at address ``jaddr``
    (``Kernel.jet._addr``); the step size lands in ``fw[F_H]``."""
    jet = _jet_from_addr(jaddr)
    return do_step(jet, prog, cvals, tc, iw, fw, hrows, state, pars, tm, max_h, xnew, ev)


def _propagate(jaddr, prog, cvals, tc, iw, fw, hrows, state, pars, tm, tlim, grid, gout, ctc, ct,
               xnew, ev, init, t_end, max_dt, max_steps, budget, want_grid, want_c):
    """Propagate towards ``tlim`` (double-length); at most ``iw[I_BUDGET]`` steps if > 0.
    The jet is at address ``jaddr`` (``Kernel.jet._addr``).

    ``init = 1`` starts a propagation to ``t_end``: the bookkeeping of ``iw``/``fw``
    is reset here from the scalar arguments (from Python, each item assignment
    of a numpy array costs ~0.1 us): ``want_grid`` (dense output on ``grid``, whose
    first point is the start, already in ``gout[0]``) and ``want_c`` (continuous
    output in ``ctc``/``ct``).  ``init = 0`` resumes (after a callback or a grown
    buffer) and ignores the scalars."""
    jet = _jet_from_addr(jaddr)
    if init == 1:
        init_run(iw, fw, tm, tlim, t_end, max_dt, max_steps, budget, want_grid, want_c)
    if iw[I_LIGHT] == 2 and iw[I_WANTGRID] == 0 and iw[I_WANTC] == 0 and iw[I_NEV] == 0:
        return propagate_fused(jet, tc, iw, fw, state, pars, tm, tlim, xnew)
    taken = 0
    while True:
        oc = until_step(jet, prog, cvals, tc, iw, fw, hrows, state, pars, tm, tlim, grid, gout,
                        ctc, ct, xnew, ev)
        if oc != OC_CONTINUE:
            return oc
        taken += 1
        if iw[I_BUDGET] > 0 and taken >= iw[I_BUDGET]:
            return OC_CONTINUE


def _step_batch(jet, prog, cvals, tc, iw, fw, hrows, state, pars, tm, max_h, xnew, oc, evb):
    """One step of every lane (lane ``b`` uses row ``b`` of the per-lane arrays)."""
    for b in range(tc.shape[0]):
        oc[b] = do_step(jet, prog, cvals, tc[b], iw[b], fw[b], hrows, state[b], pars[b], tm[b],
                        max_h[b], xnew, lane_bundle(evb, b))


def _propagate_batch(jet, prog, cvals, tc, iw, fw, hrows, state, pars, tm, tlim, grid, gout, ctc,
                    ct, xnew, status, rounds, evb):
    """Propagate every lane towards its ``tlim[b]``, one step per lane per round.

    ``status[b]`` is OC_CONTINUE while lane ``b`` is running, then its outcome.
    Returns the number of lanes still running (after at most ``rounds`` rounds
    if ``rounds > 0``), or -1 if a continuous-output buffer must be grown first.
    A round after which a lane waits for Python (``status`` OC_EVENT: a terminal
    event; OC_EVENT_PY: non-terminal callbacks logged) ends the call; the driver
    runs the callbacks and sets the lane back to OC_CONTINUE to resume it.
    """
    nb = tc.shape[0]
    done = 0
    while True:
        active = 0
        for b in range(nb):
            if status[b] == OC_CONTINUE:
                active += 1
                if iw[b, I_WANTC] == 1 and iw[b, I_CIDX] >= ctc.shape[1]:
                    return -1
        if active == 0:
            return 0
        for b in range(nb):
            if status[b] == OC_CONTINUE:
                status[b] = until_step(jet, prog, cvals, tc[b], iw[b], fw[b], hrows, state[b],
                                       pars[b], tm[b], tlim[b], grid[b], gout[b], ctc[b], ct[b],
                                       xnew, lane_bundle(evb, b))
        done += 1
        # lanes waiting for Python (event callbacks) end the call after the round
        wait = 0
        for b in range(nb):
            if status[b] == OC_EVENT or status[b] == OC_EVENT_PY:
                wait += 1
        if wait > 0:
            active = 0
            for b in range(nb):
                if status[b] == OC_CONTINUE:
                    active += 1
            return active
        if rounds > 0 and done >= rounds:
            active = 0
            for b in range(nb):
                if status[b] == OC_CONTINUE:
                    active += 1
            return active


# --------------------------------------------------------------------------- dense / continuous output
def _eval_poly_entry(tc, n, order, h, out, hacc):
    """Dense output of the last step at offset ``h`` from its start."""
    eval_poly(tc, n, order, h, out, hacc)


def _c_eval(tcs, times, ts, out, hacc):
    """Continuous output: ``out[j] = `` state at ``ts[j]``, from the step covering it.

    ``times`` (``(n_steps + 1, 2)``) are the double-length step boundaries, monotonic
    in the direction of integration; points outside use the first/last step."""
    ns = tcs.shape[0]
    n = tcs.shape[1]
    order = tcs.shape[2] - 1
    fwd = times[ns, 0] >= times[0, 0]
    for j in range(ts.shape[0]):
        t = ts[j]
        lo = 0
        hi = ns - 1
        # largest step index s with times[s] <= t (forward) / >= t (backward)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if (fwd and times[mid, 0] <= t) or ((not fwd) and times[mid, 0] >= t):
                lo = mid
            else:
                hi = mid - 1
        dhi, dlo = dd_sub(t, 0.0, times[lo, 0], times[lo, 1])
        eval_poly(tcs[lo], n, order, dhi, out[j], hacc)
