"""The compiled batch loop of a batch integrator with events, on SIMD lanes.

:func:`taylorjit._integrate.stepper.propagate_batch` runs every lane's step as the
scalar integrator's, one lane after the other, each computing its Taylor table with
the scalar jet.  Here the same loop runs, at the start of each round, the vector code
of :mod:`taylorjit._integrate.simdev` on all running lanes W at a time: their Taylor
tables (kept in vector tables, W lanes interleaved), step sizes over the state and
event rows towards each lane's limit, Horner updates and the fast event exclusion
test.  Then each lane finishes its step in numba
(:func:`taylorjit._integrate.steploop.until_step_given`): the event detection (skipped
when the fast test excluded every event and none is in its cooldown; a new Horner
update when an event shortens the step) and the bookkeeping.  A lane's table is
copied out of the vector tables only when its step reads it (full event detection,
high accuracy, dense or continuous output), when it stops, and when the call returns.
Every operation is the scalar integrator's, so every lane's steps, events, states and
tables are the scalar run's bit for bit; the returns to Python (events needing
callbacks, a full continuous-output buffer, the round budget) are those of
``propagate_batch``.  (Measured, Kepler with a terminal event, 8 lanes: the per-lane
scalar step code on the vector tables cost ~190 ns per lane-step; with step size,
Horner and exclusion in the vector code and the tables copied out lazily ~105 ns.)

:class:`SimdEvents` is the batch integrator's side (a mixin of
:class:`taylorjit.TaylorAdaptiveBatch`): :meth:`SimdEvents._simd_events` finds the
vector jet (built in the background on first use), :meth:`SimdEvents._batch_call`
makes the call.
"""
from __future__ import annotations

import threading

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from . import simdbatch as _simdbatch
from . import simdev as _simdev
from . import stepper as S
from .events import EF_REM, EI_SLOT, EVB_TYPE, lane_bundle
from .stepcodes import (BATCH_GROW, I_CIDX, I_HACC, I_WANTC, I_WANTGRID, OC_CONTINUE, OC_EVENT,
    OC_EVENT_PY)
from .steploop import lane_step_limit, until_step_given
from .stepphases import _INL, _OPTS
from .. import _numba_compat as _nc
from .._codegen import tiering as _tiering

__all__ = ["SimdEvents", "propagate_batch_simd"]

_BUILT: list = []
_BUILD_LOCK = threading.Lock()


@intrinsic
def _call_bjet(typingctx, fn, blk, lanes):
    """``fn(blk.data, lanes.data)`` for the address ``fn`` of a vector jet."""
    if not isinstance(fn, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        from llvmlite import ir

        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i8p])
        f = builder.inttoptr(args[0], fnty.as_pointer())
        pb = _nc.array_data(context, builder, signature.args[1], args[1])
        pl = _nc.array_data(context, builder, signature.args[2], args[2])
        builder.call(f, [builder.bitcast(pb, i8p), builder.bitcast(pl, i8p)])
        return context.get_dummy_value()

    return types.void(fn, blk, lanes), codegen


@njit(**_INL)
def _tables(bjet, blk, lanes, status, pos):
    """The tables of the running lanes, W at a time, in the vector tables (group ``g``'s
    at ``lanes[2 W] = g``; lane ``b`` at ``pos[b] = g W + l``); padding lanes repeat the
    first lane of their group and write their steps to the scratch area."""
    nb = status.shape[0]
    W = lanes.shape[0] // 2
    k = 0
    g = 0
    lanes[2 * W] = 0
    for b in range(nb):
        if status[b] == OC_CONTINUE:
            lanes[k] = b
            lanes[W + k] = 1
            pos[b] = g * W + k
            k += 1
            if k == W:
                _call_bjet(bjet, blk, lanes)
                k = 0
                g += 1
                lanes[2 * W] = g
    if k > 0:
        for j in range(k, W):
            lanes[j] = lanes[0]
            lanes[W + j] = 0
        _call_bjet(bjet, blk, lanes)


@njit(**_INL)
def _fetch(tcb, vtbl, p, W, krows):
    """Lane ``b``'s table (at ``p = pos[b]`` in the vector tables) into ``tcb = tc[b]``:
    the rows the jet writes."""
    ncol = tcb.shape[1]
    cells = tcb.shape[0] * ncol
    g = p // W
    base = g * cells * W + (p - g * W)
    for j in range(krows.shape[0]):
        r = krows[j]
        for k in range(ncol):
            tcb[r, k] = vtbl[base + (r * ncol + k) * W]


@njit(**_INL)
def _flush(tc, vtbl, pos, W, krows, stale):
    """The tables of the lanes that stepped in the last round and were not fetched."""
    for b in range(stale.shape[0]):
        if stale[b] == 1:
            _fetch(tc[b], vtbl, pos[b], W, krows)
            stale[b] = 0


@njit(**_INL)
def _needs_table(iw, xvb, evf):
    """The lane's step reads its table (:func:`until_step_given`): high accuracy, dense
    or continuous output, an event row not excluded by the fast test or an event in
    its cooldown (the full event detection)."""
    if iw[I_HACC] != 0 or iw[I_WANTC] == 1 or iw[I_WANTGRID] == 1:
        return True
    if xvb[xvb.shape[0] - 1] != 1.0:
        return True
    for e in range(evf.shape[0]):
        if evf[e, EF_REM] > 0.0:
            return True
    return False


@njit(**_INL)
def _running(status):
    active = 0
    for b in range(status.shape[0]):
        if status[b] == OC_CONTINUE:
            active += 1
    return active


@njit(**_INL)
def _loop(bjet, blk, prog, cvals, tc, iw, fw, hrows, state, pars, tm, tlim, grid, gout,
          ctc, ct, xnew, status, rounds, evb, lanes, dtl, hout, xv, vtbl, krows, pos, stale):
    nb = tc.shape[0]
    W = lanes.shape[0] // 2
    done = 0
    while True:
        active = 0
        for b in range(nb):
            if status[b] == OC_CONTINUE:
                active += 1
                if iw[b, I_WANTC] == 1 and iw[b, I_CIDX] >= ctc.shape[1]:
                    _flush(tc, vtbl, pos, W, krows, stale)
                    return BATCH_GROW
                dtl[b] = lane_step_limit(iw[b], fw[b], tm[b], tlim[b])
        if active == 0:
            _flush(tc, vtbl, pos, W, krows, stale)
            return 0
        _tables(bjet, blk, lanes, status, pos)
        for b in range(nb):
            stale[b] = 0
        for b in range(nb):
            if status[b] == OC_CONTINUE:
                # the table from the vector tables when the step reads it, else when the
                # lane stops or the call returns
                need = _needs_table(iw[b], xv[b], evb[1][b])
                if need:
                    _fetch(tc[b], vtbl, pos[b], W, krows)
                status[b] = until_step_given(tc[b], iw[b], fw[b], hrows, state[b], tm[b],
                                             tlim[b], grid[b], gout[b], ctc[b], ct[b], xnew,
                                             lane_bundle(evb, b), hout[b], xv[b],
                                             xv[b, xv.shape[1] - 1] == 1.0)
                if not need:
                    if status[b] == OC_CONTINUE:
                        stale[b] = 1
                    else:
                        _fetch(tc[b], vtbl, pos[b], W, krows)
        done += 1
        # lanes waiting for Python (event callbacks) end the call after the round
        for b in range(nb):
            if status[b] == OC_EVENT or status[b] == OC_EVENT_PY:
                _flush(tc, vtbl, pos, W, krows, stale)
                return _running(status)
        if rounds > 0 and done >= rounds:
            _flush(tc, vtbl, pos, W, krows, stale)
            return _running(status)


def _entry(bjet, blk, prog, cvals, tc, iw, fw, hrows, state, pars, tm, tlim, grid, gout,
           ctc, ct, xnew, status, rounds, evb, lanes, dtl, hout, xv, vtbl, krows, pos, stale):
    return _loop(bjet, blk, prog, cvals, tc, iw, fw, hrows, state, pars, tm, tlim, grid,
                 gout, ctc, ct, xnew, status, rounds, evb, lanes, dtl, hout, xv, vtbl, krows,
                 pos, stale)


def propagate_batch_simd(*args):
    """:func:`_entry` compiled on first use (numba's cache, explicit signature): the
    arguments of :func:`taylorjit._integrate.stepper.propagate_batch` with the vector
    jet's address and block first instead of the jet, then the lanes buffer (``2 W``
    int64, and the group's index), the lanes' step limits, step sizes and new states (the
    block's ``W_DTL``, ``W_HOUT``, ``W_XNEW``), the vector tables (``W_VTBL``), the rows
    the jet writes, and two int64 buffers of a word per lane."""
    if not _BUILT:
        with _BUILD_LOCK:
            if not _BUILT:
                f8, i8 = types.float64, types.int64
                a1, a2, a3, f4 = f8[::1], f8[:, ::1], f8[:, :, ::1], f8[:, :, :, ::1]
                i1, i2 = i8[::1], i8[:, ::1]
                sig = i8(i8, i1, i2, a1, a3, i2, a2, i1, a2, a2, a2, a2, a2, a3, f4, a3, a1,
                         i1, i8, EVB_TYPE(), i1, a1, a1, a2, a1, i1, i1, i1)
                _BUILT.append(njit(sig, **_OPTS)(_entry))
    return _BUILT[0](*args)


_JETS: dict = {}        # (id(kernel), order, W, full) -> (kernel, EventJet | False | Upgrade)


class SimdEvents:
    """The batch integrator's side of the SIMD event loop (see the module doc)."""

    def _simd_events(self):
        """The vector jet of the system with its event rows (:mod:`taylorjit._integrate.simdev`)
        once it is built, else None: built in the background on first use (at once
        with background builds off); None for ever when the system does not qualify.
        Only for unrolled kernels (as the SIMD path without events) whose table has
        the decomposition's shape."""
        k, b = self._kernel, self._batch
        if b < 2 or not self._events.n_events or k.kind != "unrolled":
            return None
        d, order = k.decomposition, self._order
        if self._tc.shape[1:] != (d.n_slots, order + 1):
            return None
        full = int(self._iw[0, S.I_FULL])
        W = min(_simdbatch.simd_width(), 1 << (b - 1).bit_length())
        key = (id(k), order, W, full)
        hit = _JETS.get(key)
        if hit is not None and hit[1].__class__ is not _tiering.Upgrade:
            return hit[1] or None
        if hit is None:
            up = _tiering.submit(("simdev", d.key(), order, W, full),
                                 lambda: _simdev.event_jet(d, order, W, full) or False,
                                 f"the SIMD event jet of a system of {len(d.outputs)} outputs")
            if up is None:          # background builds off: now
                try:
                    got = _simdev.event_jet(d, order, W, full) or False
                except Exception as exc:        # noqa: BLE001 - the lanes run one by one
                    import warnings

                    warnings.warn(f"taylorjit could not compile the SIMD event jet "
                                  f"({type(exc).__name__}: {exc}); the lanes run one after "
                                  "the other, with identical results", _tiering.TierWarning,
                                  stacklevel=4)
                    got = False
                _JETS[key] = (k, got)
                return got or None
            hit = _JETS[key] = (k, up)
        kern, up = hit[1].claim()
        if up is None:
            _JETS[key] = (k, kern if kern is not None else False)
        return kern or None

    def _batch_call(self, k, t_lim, grid, gout, ctc, ct, status, rounds):
        """One call of the compiled batch loop on kernel ``k``: on SIMD lanes
        (:func:`propagate_batch_simd`) when the vector jet is ready, else
        :func:`taylorjit._integrate.stepper.propagate_batch`; the same results."""
        ek = self._simd_events() if k is self._kernel else None
        n = self._st.shape[1]
        slots = tuple(int(r) for r in self._events.arrays[0][:, EI_SLOT])
        if ek is not None and (tuple(int(r) for r in self._hrows) != ek.hrows
                               or slots != ek.hrows[n:]
                               or self._fw.shape[1] != S.NFW or not self._st.flags.c_contiguous):
            ek = None
        if ek is None:
            return S.propagate_batch(k.jet, k.prog, k.cvals, self._tc, self._iw, self._fw,
                                     self._hrows, self._st, self._pa, self._tm, t_lim, grid,
                                     gout, ctc, ct, self._xnew, status, rounds,
                                     self._events.arrays)
        W, nb, n = ek.width, self._st.shape[0], self._st.shape[1]
        scratch = np.empty(_simdev.scratch_len(W, ek.cells, n))
        dtl, hout, xv = np.zeros(nb), np.zeros(nb), np.zeros((nb, n + 1))
        vtbl = np.zeros(-(-nb // W) * W * ek.cells)
        blk = np.zeros(_simdev.NWORDS, dtype=np.int64)
        for i, a in ((_simdev.W_STATE, self._st), (_simdev.W_PARS, self._pa),
                     (_simdev.W_TM, self._tm), (_simdev.W_TC, self._tc),
                     (_simdev.W_SCRATCH, scratch), (_simdev.W_FW, self._fw),
                     (_simdev.W_DTL, dtl), (_simdev.W_HOUT, hout), (_simdev.W_XNEW, xv),
                     (_simdev.W_VTBL, vtbl)):
            blk[i] = a.ctypes.data
        blk[_simdev.W_PSTRIDE] = self._pa.shape[1]
        return propagate_batch_simd(ek.jet, blk, k.prog, k.cvals, self._tc, self._iw,
                                    self._fw, self._hrows, self._st, self._pa, self._tm, t_lim,
                                    grid, gout, ctc, ct, self._xnew, status, rounds,
                                    self._events.arrays, np.zeros(2 * W + 1, dtype=np.int64),
                                    dtl, hout, xv, vtbl, np.array(ek.krows, dtype=np.int64),
                                    np.zeros(nb, dtype=np.int64), np.zeros(nb, dtype=np.int64))
