"""The three phases of one adaptive Taylor step, as inlined numba functions.

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
3. :func:`finish_step` -- Horner (or compensated) evaluation of the new state
   (:func:`eval_poly`), double-length time update
   (:mod:`taylorjit._dd.arith`), non-finite check (the state is only
   committed when everything is finite).

:func:`do_step` chains them (or calls an unrolled kernel's fused step, the three
phases in one generated function, when ``iw[I_LIGHT] == JET_FUSED``).  Everything
here is inlined into the compiled loops of :mod:`taylorjit._integrate.steploop` and
the entry points of :mod:`taylorjit._integrate.stepper`; the work-array layout and
the outcome codes are those of :mod:`taylorjit._integrate.stepcodes`.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from .._dd.arith import add as dd_add
from .events import E_NLOG, E_TERM, EF_REM, NO_TERM, detect_events
from .stepcodes import (F_H, F_INVO, F_INVOM1, F_LASTH, F_RHOFAC, F_TSHI, F_TSLO, I_FULL,
    I_HACC, I_LIGHT, I_N, I_NEV, I_ORDER, JET_FC, JET_FUSED, JET_LIGHT, OC_ERR_NF, OC_EVENT,
    OC_SUCCESS, OC_TIME_LIMIT)
from .._funcs._common import fma
from .._codegen.kernel import call_light, call_step, jet_from_addr
from .._symbolic.registry import no_refcount_opts

__all__ = ["rho_factor", "compute_jet", "step_size", "eval_poly", "finish_step", "commit_step",
           "do_step", "do_step_given"]

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
def compute_jet(jet, prog, cvals, tc, order, n, state, pars, t, full, light=JET_FC):
    """Phase 1: Taylor coefficients of the state (and all slots) at ``t``.
    ``light``: the jet's address is the light entry of an unrolled kernel built
    for this table (``_kernel.call_light``)."""
    for i in range(n):
        tc[i, 0] = state[i]
    if light == JET_LIGHT:
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
    ``iw[I_LIGHT] == JET_FUSED``: the jet is an unrolled kernel's fused step (the three
    phases in one generated function, :func:`taylorjit._codegen.step_ir.emit_step`)."""
    if iw[I_LIGHT] == JET_FUSED:
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
        eiw[E_TERM] = NO_TERM
        return oc
    if eiw[E_TERM] >= 0:
        return OC_EVENT
    return oc


@njit(**_INL)
def do_step_given(tc, iw, fw, hrows, state, tm, max_h, xnew, ev, h0, xv, excl):
    """:func:`do_step` (not fused) after its first two phases and the Horner update
    were computed elsewhere on the same table, all but its state cells (the SIMD event jet of
    :mod:`taylorjit._integrate.simdev`, the same operations): ``h0`` is the step size
    towards ``max_h`` over ``hrows`` and ``xv`` the Horner value of the state at ``h0``.
    The event detection runs here; when it shortens the step (or in high-accuracy mode)
    the new state is evaluated again at the shorter step, so the outcome and every value
    are :func:`do_step`'s.  ``excl``: every event row passed
    :func:`taylorjit._integrate.roots_exclude.fast_exclude` at ``h0`` (computed with the
    same operations elsewhere); with no event in its cooldown that is the whole of
    :func:`taylorjit._integrate.events.detect_events`, which then is not called."""
    n = iw[I_N]
    order = iw[I_ORDER]
    for i in range(n):          # the state's cells, as compute_jet (the jet does not write them)
        tc[i, 0] = state[i]
    h = h0
    if iw[I_NEV] == 0:
        if iw[I_HACC] == 0:
            for i in range(n):
                xnew[i] = xv[i]
            return commit_step(iw, fw, state, tm, h, max_h, xnew)
        return finish_step(tc, iw, fw, state, tm, h, max_h, xnew)
    eiw = ev[7]
    nlog = eiw[E_NLOG]
    quiet = excl
    if quiet:
        evf = ev[1]
        for e in range(evf.shape[0]):
            if evf[e, EF_REM] > 0.0:
                quiet = False
    if quiet:
        eiw[E_TERM] = NO_TERM
    else:
        h = detect_events(tc, order, hrows, tm, h, ev)
    if h == h0 and iw[I_HACC] == 0:
        for i in range(n):
            xnew[i] = xv[i]
        oc = commit_step(iw, fw, state, tm, h, max_h, xnew)
    else:
        oc = finish_step(tc, iw, fw, state, tm, h, max_h, xnew)
    if oc == OC_ERR_NF:
        eiw[E_NLOG] = nlog          # the step did not happen: forget its events
        eiw[E_TERM] = NO_TERM
        return oc
    if eiw[E_TERM] >= 0:
        return OC_EVENT
    return oc
