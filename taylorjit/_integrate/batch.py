"""The batch integrator: many initial conditions / parameter sets in one compiled loop.

Each lane has its own step size and time, and every lane equals the scalar run of
its initial condition bit for bit, whichever loop runs it:

- ``propagate_until`` of a small system without events (the common case) runs on
  SIMD lanes: W lanes per ``<W x double>`` vector in a kernel of the system
  (:mod:`taylorjit._integrate.simdbatch`, built in the background at the first call; W = 8
  with AVX-512, 4 with AVX);
- meanwhile, and for grids, ``step()`` and systems without a SIMD kernel, each lane
  runs the scalar LLVM plain loop (:mod:`taylorjit._integrate.plainloop`) in turn;
- events, callbacks and the VM run the compiled batch loop
  (:func:`taylorjit._integrate.stepper.propagate_batch`), the per-lane step code of the
  scalar integrator on ``tc[lane]`` of a ``(batch, n_slots, order + 1)`` array; with
  events on an unrolled kernel, the tables of W lanes at once from a vector jet
  (:mod:`taylorjit._integrate.batchev`, built in the background at the first call).  Storage is lane-major (``(batch, n)``); the public ``state`` / ``pars``
are writable transposed views of shape ``(n, batch)`` / ``(n_pars, batch)`` as
in heyoka.

This module holds the public class and its propagation drivers (``propagate_*``,
the plain, SIMD and compiled-loop runs); its construction, state and single steps
are in :mod:`taylorjit._integrate.batch_state`, heyoka's ``stop_all_lanes`` re-runs
in :mod:`taylorjit._integrate.batch_stop`, the results in
:mod:`taylorjit._integrate.batch_output`.
"""
from __future__ import annotations

import math

import numpy as np

from . import simdbatch as _simdbatch, simdloop as _simdloop
from .._codegen import tiering as _tiering
from . import stepper as S
from .batch_output import BatchContinuousOutput, BatchResult
from .batch_state import BatchState
from .batchev import SimdEvents
from .batch_stop import _STOPPED, StopAllLanes
from .._dd.arith import py_add as _dd_add
from .drivers_common import (_PROPAGATING, OUTCOMES, check_max_steps, grow_c, make_progress,
    reentrant_error)
from .odesys import Outcome
from .plainloop import (B_BUDGET, B_CAP, B_CT, B_CTC, B_GOUT, B_GRID, B_INIT, B_MAXDT, B_MAXSTEPS, B_NGRID,
    B_TEND, B_WANTC, B_WANTGRID, new_block, plain_loop)

__all__ = ["TaylorAdaptiveBatch", "BatchResult", "BatchContinuousOutput"]

_PROGRESS_ROUNDS = 2000
_INF_DT = math.inf
_TIER_ROUNDS = 500       # rounds per compiled call while a faster kernel is being built


class TaylorAdaptiveBatch(StopAllLanes, SimdEvents, BatchState):
    """Adaptive Taylor integrator for a batch of initial conditions.

    Parameters
    ----------
    sys : list of (variable, rhs) pairs, or dict
    states : array_like, shape (n, batch)
        One column per lane.
    time : float or array_like of shape (batch,), optional
    pars : array_like, shape (n_pars, batch), optional
    tol, compact, high_accuracy
        As :class:`~taylorjit.TaylorAdaptive`.
    events : list of Event, optional
        As :class:`~taylorjit.TaylorAdaptive`, per lane; callbacks get
        the lane index as last argument (heyoka's batch convention):
        ``cb(ta, d_sgn, lane)`` (terminal), ``cb(ta, t, d_sgn, lane)``
        (non-terminal).  Non-terminal events without a callback are recorded
        in ``event_log[lane]``.

        Each lane stops at its own terminal event (or time limit, or failure) and
        the other lanes go on to their final times.
    stop_all_lanes : bool, optional
        heyoka's batch semantics instead: a lane that stops on a terminal event
        (no callback, or a callback returning False) or fails with a non-finite
        state stops every other lane of ``propagate_*`` after the same step.  The
        lanes step in lockstep (one step per lane per round, each lane with its own
        step size), so a lane stopped this way has taken as many steps as the lane
        that stopped the batch, and its outcome is ``Outcome.success`` (as heyoka's);
        lanes that had already reached their final time keep ``time_limit``.  Also
        the attribute :attr:`stop_all_lanes`.  Every lane's result is still the
        scalar integration's, step for step, up to where it stopped.

    Examples
    --------
    >>> import numpy as np, taylorjit as tj
    >>> x, v = tj.make_vars("x", "v")
    >>> tb = tj.TaylorAdaptiveBatch([(x, v), (v, -tj.par[0] * tj.sin(x))],
    ...                             [[0.05, 0.1], [0.0, 0.0]], pars=[[9.8, 1.0]], compact=True)
    >>> res = tb.propagate_until(10.0)
    >>> [oc.name for oc in res.outcome], tb.time.tolist()
    (['time_limit', 'time_limit'], [10.0, 10.0])

    With ``stop_all_lanes=True`` the first lane to reach ``x = 0`` stops both:

    >>> tb = tj.TaylorAdaptiveBatch([(x, v), (v, -x)], [[-0.1, -1.0], [1.0, -1.0]],
    ...                             t_events=[tj.t_event(x)], stop_all_lanes=True)
    >>> res = tb.propagate_until(10.0)
    >>> [oc.name for oc in res.outcome], res.event_index, res.n_steps.tolist()
    (['event', 'success'], [0, None], [1, 1])
    """

    def _plain_ok(self):
        """Whether the plain paths apply (:meth:`_plain_blocks`), decided once per kernel
        without building the blocks."""
        hit = self.__dict__.get("_plainok")
        if hit is not None and hit[0] is self._kernel:
            return hit[1]
        k = self._kernel
        n = self._st.shape[1]
        ok = bool(k.kind == "unrolled" and k.jet.step_addr and self._iw[0, S.I_NEV] == 0
                  and self._iw[0, S.I_HACC] == 0 and self._iw[0, S.I_FULL] == 0
                  and np.array_equal(self._hrows, np.arange(n))
                  and self._tc.shape[1:] == (k.n_slots, self._order + 1))
        self._plainok = (k, ok)
        return ok

    def _plain_blocks(self):
        """Per-lane argument blocks of the LLVM plain loop (:mod:`taylorjit._integrate.plainloop`)
        when the kernel has a fused step and the integrator no events, extra rows or
        compensated summation; else None.  Lanes are independent and lane-major, so
        row ``b`` of every per-lane array is a scalar integrator's array: each lane
        runs the scalar plain loop, the same operations as the compiled batch loop
        (bit-identical, tested), with no numba code on the path."""
        hit = self.__dict__.get("_plainb")
        if hit is not None and hit[0] is self._kernel:
            return hit[1]
        k, blocks = self._kernel, None
        if self._plain_ok():
            step = k.jet.step_addr
            if "_tlimb" not in self.__dict__:
                self._tlimb = np.zeros((self._batch, 2))
            # the plain loop reads the register step and light entry from iw; I_LIGHT
            # stays 0 (the compiled batch loop calls the first-class jet)
            self._iw[:, S.I_RADDR] = k.jet.stepr_addr
            self._iw[:, S.I_LADDR] = k.jet.light_addr
            blocks = [new_block(step, self._tc[j], self._iw[j], self._fw[j], self._st[j],
                                self._pa[j], self._tm[j], self._tlimb[j], self._xnew)
                      for j in range(self._batch)]
        self._plainb = (k, blocks)
        return blocks

    def _simd_kernel(self):
        """The SIMD batch kernel (:mod:`taylorjit._integrate.simdbatch`) once it is built, else
        None: built in the background on first use (at once with background builds
        off); None for ever when the system does not qualify."""
        hit = self.__dict__.get("_simd")
        if hit is not None:
            if hit.__class__ is _tiering.Upgrade:
                kern, up = hit.claim()
                if up is None:
                    self._simd = kern if kern is not None else False
                return kern or None
            return hit or None
        if self._batch < 2:
            self._simd = False
            return None
        d, order = self._kernel.decomposition, self._order
        W = min(_simdbatch.simd_width(), 1 << (self._batch - 1).bit_length())
        up = _tiering.submit(("simdbatch", d.key(), order, W),
                             lambda: _simdbatch.batch_kernel(d, order, W) or False,
                             f"the SIMD batch kernel of a system of {len(d.outputs)} equations")
        if up is None:          # background builds off: now
            try:
                self._simd = _simdbatch.batch_kernel(d, order, W) or False
            except Exception as exc:        # noqa: BLE001 - the lanes run one by one
                import warnings

                warnings.warn(f"taylorjit could not compile the SIMD batch kernel "
                              f"({type(exc).__name__}: {exc}); the lanes run one after the "
                              "other, with identical results", _tiering.TierWarning,
                              stacklevel=4)
                self._simd = False
            return self._simd or None
        self._simd = up
        return self._simd_kernel()

    def _run_simd(self, k, tl, max_dt, max_steps):
        """``propagate_until`` of every lane on the SIMD batch kernel ``k``, in groups
        of ``k.width`` lanes.  Returns the per-lane outcome codes."""
        SB = _simdloop
        blocks = self.__dict__.get("_simdb")
        if blocks is None or blocks[0] is not k:
            b, W = self._batch, k.width
            if "_tlimb" not in self.__dict__:
                self._tlimb = np.zeros((b, 2))
            codes = np.zeros(b, dtype=np.int64)
            blks = []
            for l0 in range(0, b, W):
                blk = np.zeros(SB.BLOCK, dtype=np.int64)
                for i, a in ((SB.B_STATE, self._st), (SB.B_PARS, self._pa), (SB.B_TM, self._tm),
                             (SB.B_IW, self._iw), (SB.B_FW, self._fw), (SB.B_TC, self._tc),
                             (SB.B_TLIM, self._tlimb), (SB.B_CODES, codes)):
                    blk[i] = a.ctypes.data + l0 * a.strides[0]
                blk[SB.B_NL] = min(W, b - l0)
                blk[SB.B_PSTRIDE] = self._pa.shape[1]
                blks.append(blk)
            blocks = self._simdb = (k, blks, codes)
        _, blks, codes = blocks
        self._tlimb[:, 0] = tl
        self._tlimb[:, 1] = 0.0
        self._fw[:, S.F_MAXDT] = max_dt
        light = self._kernel.jet.light_addr
        for blk in blks:
            blk[SB.B_MAXSTEPS] = max_steps
            blk[SB.B_LIGHT] = light
            if k.fn(blk.ctypes.data) < 0:
                raise MemoryError("taylorjit could not allocate the work buffer of the SIMD "
                                  "batch kernel")
        return codes.tolist()

    def _run_plain(self, tl, max_dt, max_steps, grid=None, gout=None, cout=None):
        """``propagate_until`` (or, with ``grid`` of shape ``(batch, n_points)`` and
        ``gout`` of shape ``(batch, n_points, n)``, ``propagate_grid``) of every lane
        through the plain loop (see :meth:`_plain_blocks`), lane after lane; while a
        faster kernel is being built, in chunks of ``_TIER_ROUNDS`` steps with a switch
        between them.  Returns the per-lane outcome codes."""
        loop = plain_loop()
        codes = []
        for j in range(self._batch):
            blk, fblk = self._plain_blocks()[j]
            fblk[B_TEND] = tl[j]
            fblk[B_MAXDT] = max_dt if max_dt is _INF_DT else max_dt[j]
            blk[B_MAXSTEPS] = max_steps
            blk[B_BUDGET] = 0 if self._upgrade is None else _TIER_ROUNDS
            blk[B_INIT] = 1
            _out_words(blk, j, grid, gout, cout)
            code = loop(blk.ctypes.data)
            while code in (S.OC_CONTINUE, S.OC_BUFFER_FULL):
                if code == S.OC_BUFFER_FULL:    # this lane's continuous output grows
                    cout[j] = grow_c(*cout[j])
                if self._upgrade is not None:   # a chunk ended: take the faster kernel
                    self._tier_check()
                blocks = self._plain_blocks()
                if blocks is None:          # pragma: no cover - kernels only move up
                    raise RuntimeError("the batch integrator lost its fused step")
                blk = blocks[j][0]
                blk[B_INIT] = 0
                _out_words(blk, j, grid, gout, cout)
                if self._upgrade is None:
                    self._iw[j, S.I_BUDGET] = 0         # nothing more to wait for
                code = loop(blk.ctypes.data)
            if grid is not None:
                blk[B_WANTGRID] = blk[B_GRID] = blk[B_GOUT] = blk[B_NGRID] = 0
            if cout is not None:
                blk[B_WANTC] = blk[B_CTC] = blk[B_CT] = blk[B_CAP] = 0
            codes.append(code)
        return codes

    # ------------------------------------------------------------------ propagation
    def _run(self, tlim, grid, *, max_delta_t, max_steps, callback, progress, c_output=False):
        if id(self) in _PROPAGATING:
            raise reentrant_error("propagate_grid" if grid is not None else "propagate_until")
        b = self._batch
        if type(tlim) is float and math.isfinite(tlim) and max_delta_t is None:
            tl, max_dt = np.full(b, tlim), _INF_DT     # the common call, ~10 us sooner
        else:
            tl = self._lanes(tlim, "the final time")
            if not np.all(np.isfinite(tl)):
                raise ValueError("the final time must be finite")
            max_dt = self._max_dt(max_delta_t)
        max_steps = check_max_steps(max_steps)
        iw, fw, tm = self._iw, self._fw, self._tm
        if self._upgrade is not None:
            self._tier_check()
        n = self._st.shape[1]
        if callback is not None and hasattr(callback, "pre_hook"):
            callback.pre_hook(self)     # heyoka's step callbacks: before the propagation
        if callback is None and not progress and self._plain_ok():
            snap = self._snapshot() if self._stop_all else None
            cout = None
            if c_output:            # per lane: (coefficients of each step, step boundaries)
                cout = []
                for j in range(b):
                    ct = np.empty((65, 2))
                    ct[0] = tm[j]
                    cout.append((np.empty((64, n, self._order + 1)), ct))
            gout = None
            if grid is not None:
                gout = np.full((b, grid.shape[1], self._st.shape[1]), np.nan)
                gout[:, 0, :] = self._st
            if grid is not None and grid.shape[1] == 1:
                codes = [S.OC_TIME_LIMIT] * b       # a one-point grid: nothing to integrate
                iw[:, S.I_NSTEPS] = 0
                fw[:, S.F_MINH] = math.inf
                fw[:, S.F_MAXH] = 0.0
            else:
                key = id(self)
                _PROPAGATING.add(key)
                try:
                    simd = self._simd_kernel() if grid is None and not c_output else None
                    if simd is not None:
                        codes = self._run_simd(simd, tl, max_dt, max_steps)
                    else:
                        codes = self._run_plain(tl, max_dt, max_steps, grid, gout, cout)
                finally:
                    _PROPAGATING.discard(key)
            if snap is not None and S.OC_ERR_NF in codes:
                cap = self._overshoot(snap, np.array(codes))
                if cap:     # lanes went on past the failure: again, every lane cut there
                    return self._rerun_cut(snap, cap, tlim, grid, max_delta_t, max_steps,
                                           c_output)
            res = BatchResult([OUTCOMES[c] for c in codes], fw[:, S.F_MINH].copy(),
                              fw[:, S.F_MAXH].copy(), iw[:, S.I_NSTEPS].copy(),
                              None if grid is None else np.transpose(gout, (1, 2, 0)).copy())
            res.event_index = [None] * b
            if c_output:
                res.c_output = BatchContinuousOutput(
                    [(ctc[:iw[j, S.I_CIDX]], ct[:iw[j, S.I_CIDX] + 1])
                     for j, (ctc, ct) in enumerate(cout)], self._iw[0, S.I_HACC])
            return res
        t_lim = np.zeros((b, 2))
        t_lim[:, 0] = tl
        rem = np.array([_dd_add(tl[j], 0.0, -tm[j, 0], -tm[j, 1])[0] for j in range(b)])
        iw[:, S.I_FWD] = (rem >= 0.0).astype(np.int64)
        iw[:, S.I_NSTEPS] = 0
        iw[:, S.I_MAXSTEPS] = max_steps
        iw[:, S.I_CIDX] = 0
        iw[:, S.I_WANTC] = 1 if c_output else 0
        fw[:, S.F_MAXDT] = max_dt
        fw[:, S.F_MINH] = math.inf
        fw[:, S.F_MAXH] = 0.0
        if grid is not None:
            gout = np.full((b, grid.shape[1], n), np.nan)
            gout[:, 0, :] = self._st
            iw[:, S.I_GIDX] = 1
            iw[:, S.I_WANTGRID] = 1
        else:
            grid = np.zeros((b, 0))
            gout = np.zeros((b, 0, n))
            iw[:, S.I_GIDX] = 0
            iw[:, S.I_WANTGRID] = 0
        status = np.full(b, S.OC_CONTINUE, dtype=np.int64)
        if grid.shape[1] == 1:
            status[:] = S.OC_TIME_LIMIT
        if c_output:
            ctc = np.zeros((b, 64, n, self._order + 1))
            ct = np.zeros((b, 65, 2))
            ct[:, 0] = tm
        else:
            ctc = np.zeros((b, 0, n, self._order + 1))
            ct = np.zeros((b, 1, 2))
        bar = make_progress(progress, 0.0, float(np.max(np.abs(rem))) if b else 0.0)
        if self._upgrade is not None:
            self._tier_check()
        rounds = 1 if callback is not None else (_PROGRESS_ROUNDS if bar else 0)
        t0 = tm[:, 0].copy()
        k = self._kernel
        key = id(self)
        _PROPAGATING.add(key)
        snap = None             # stop_all_lanes: the lanes at the start of a compiled call
        try:
            while np.any(status == S.OC_CONTINUE):
                if self._stop_all and snap is None:
                    snap = self._snapshot(status)
                # while a faster kernel is being built: come back between chunks to take it
                left = self._batch_call(k, t_lim, grid, gout, ctc, ct, status,
                                        rounds or (0 if self._upgrade is None else _TIER_ROUNDS))
                if left == S.BATCH_GROW:    # a lane's continuous output is full: grow them all
                    cap = 2 * ctc.shape[1]
                    ctc = np.concatenate([ctc, np.zeros_like(ctc)], axis=1)
                    ct = np.concatenate([ct, np.zeros((b, cap + 1 - ct.shape[1], 2))], axis=1)
                    continue
                if snap is not None:
                    cut = self._overshoot(snap, status)
                    if cut:     # lanes went on past a failure: the call again, cut there
                        ctc, ct = self._redo_cut(snap, cut, k, t_lim, grid, gout, ctc, ct,
                                                 status, max_steps)
                    snap = None
                if self._upgrade is not None and self._tier_check():
                    k = self._kernel
                if self._events.n_events:
                    for j in range(b):
                        if status[j] != S.OC_CONTINUE and status[j] != S.CB_STOP:
                            status[j] = self._handle_events(j, int(status[j]))
                if self._stop_all and np.any((status == S.OC_EVENT) | (status == S.OC_ERR_NF)):
                    status[status == S.OC_CONTINUE] = _STOPPED     # heyoka: the batch stops
                if bar is not None:
                    bar.n = float(np.min(np.abs(tm[:, 0] - t0)))
                    bar.refresh()
                if callback is not None:
                    r = callback(self)
                    if r is not None and not r:
                        status[status == S.OC_CONTINUE] = S.CB_STOP
                        break
        finally:
            _PROPAGATING.discard(key)
            if bar is not None:
                bar.close()
        outcomes = [Outcome.cb_stop if s == S.CB_STOP else Outcome.event if s == S.OC_EVENT
                    else Outcome.success if s == _STOPPED else OUTCOMES[int(s)] for s in status]
        res = BatchResult(outcomes, fw[:, S.F_MINH].copy(), fw[:, S.F_MAXH].copy(),
                          iw[:, S.I_NSTEPS].copy(), None if grid.shape[1] == 0 else
                          np.transpose(gout, (1, 2, 0)).copy())
        res.event_index = [self._last_event[j] if s == S.OC_EVENT else None
                           for j, s in enumerate(status)]
        if c_output:
            res.c_output = BatchContinuousOutput(
                [(ctc[j, :iw[j, S.I_CIDX]], ct[j, :iw[j, S.I_CIDX] + 1]) for j in range(b)],
                iw[0, S.I_HACC])
        return res

    def propagate_until(self, t, *, max_delta_t=None, max_steps=None, callback=None,
                        progress=False, c_output=False):
        """Propagate every lane to ``t`` (a float, or one time per lane);
        ``max_delta_t`` too is one value or one per lane.

        Returns a :class:`BatchResult` with per-lane outcomes, step statistics and, with
        ``c_output=True``, a :class:`BatchContinuousOutput` in ``res.c_output``; heyoka's
        per-lane ``(outcome, min_h, max_h, n_steps)`` tuples are kept in
        :attr:`propagate_res`."""
        self._last_res = self._run(t, None, max_delta_t=max_delta_t, max_steps=max_steps,
                                   callback=callback, progress=progress, c_output=c_output)
        return self._last_res

    @property
    def propagate_res(self):
        """heyoka's per-lane results of the last ``propagate_*`` call: a list of
        ``(outcome, min_h, max_h, n_steps)``, or None before the first."""
        res = self.__dict__.get("_last_res")
        if res is None:
            return None
        return [(o, float(a), float(b), int(c)) for o, a, b, c in
                zip(res.outcome, res.min_h, res.max_h, res.n_steps)]

    def propagate_for(self, delta_t, **kwargs):
        """Propagate every lane for ``delta_t`` (a float or one per lane)."""
        if _PROPAGATING and id(self) in _PROPAGATING:
            raise reentrant_error("propagate_for")
        dt = self._lanes(delta_t, "delta_t")
        tl = [_dd_add(self._tm[b, 0], self._tm[b, 1], dt[b], 0.0)[0] for b in range(self._batch)]
        return self.propagate_until(np.array(tl), **kwargs)

    def propagate_grid(self, grid, *, max_delta_t=None, max_steps=None, callback=None,
                       progress=False):
        """Propagate over ``grid`` (shape ``(n_points,)`` for all lanes, or
        ``(n_points, batch)``); ``states`` of the result has shape ``(n_points, n, batch)``."""
        from .integrator import check_grid

        if _PROPAGATING and id(self) in _PROPAGATING:
            raise reentrant_error("propagate_grid")
        g = np.asarray(grid, dtype=float)
        if g.ndim == 1:
            g = np.repeat(g[:, None], self._batch, axis=1)
        if g.ndim != 2 or g.shape[1] != self._batch:
            raise ValueError(f"grid has shape {g.shape}: pass (n_points,) or (n_points, "
                             f"{self._batch})")
        for b in range(self._batch):
            check_grid(g[:, b], float(self._tm[b, 0]))
        gl = np.ascontiguousarray(g.T)
        self._last_res = self._run(gl[:, -1], gl, max_delta_t=max_delta_t,
                                   max_steps=max_steps, callback=callback, progress=progress)
        return self._last_res



def _out_words(blk, j, grid, gout, cout):
    """The output words of lane ``j``'s plain-loop block: its grid and dense output
    (``grid``/``gout``) and its continuous-output buffers (``cout[j]``), if asked."""
    if grid is not None:
        blk[B_WANTGRID], blk[B_NGRID] = 1, grid.shape[1]
        blk[B_GRID], blk[B_GOUT] = grid[j].ctypes.data, gout[j].ctypes.data
    if cout is not None:
        ctc, ct = cout[j]
        blk[B_WANTC], blk[B_CTC], blk[B_CT] = 1, ctc.ctypes.data, ct.ctypes.data
        blk[B_CAP] = ctc.shape[0]
