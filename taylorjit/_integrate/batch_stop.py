"""heyoka's ``stop_all_lanes`` batch semantics: snapshots of the lanes and the cut re-runs.

A mixin of :class:`taylorjit.TaylorAdaptiveBatch` (:mod:`taylorjit._integrate.batch`):
the propagation drivers keep the per-lane arrays at the start of each run or compiled
call (:meth:`StopAllLanes._snapshot`), find a lane that failed while others went on
(:meth:`StopAllLanes._overshoot`) and run again from the snapshot with every lane cut at
that round (:meth:`StopAllLanes._rerun_cut` for the plain and SIMD paths,
:meth:`StopAllLanes._redo_cut` for the compiled batch loop).
"""
from __future__ import annotations

import numpy as np

from . import stepper as S
from .integrator import check_max_steps
from .odesys import Outcome

__all__ = ["StopAllLanes"]

_EV_LANE = (1, 6, 7, 8)   # the per-lane arrays of an EventBundleBatch (cooldowns, log, words)
_STOPPED = -2            # status of a lane that another lane stopped (stop_all_lanes)


class StopAllLanes:
    """The ``stop_all_lanes`` helpers of a batch integrator (see the module doc)."""


    # ------------------------------------------------------------------ stop_all_lanes
    # heyoka's batch stops every lane when one fails: the lanes here run in lockstep (the
    # compiled batch loop: one step per lane per round) or one after the other (plain and
    # SIMD paths), so a failure is found after the other lanes went on.  The per-lane
    # arrays are kept at the start of each compiled call; when a lane failed and others
    # took steps after its failing round, the call is made again from there with every
    # lane's step limit at that round (the lanes are independent, so each redoes the same
    # steps bit for bit).  No Python callback runs within a compiled call (lanes that need
    # one end it), so nothing of the user's runs twice.
    def _snapshot(self, status=None):
        ev = self._events.arrays if self._events.n_events else None
        return (self._st.copy(), self._tm.copy(), self._fw.copy(), self._iw.copy(),
                None if status is None else status.copy(),
                None if ev is None else [ev[i].copy() for i in _EV_LANE])

    def _restore(self, snap):
        st, tm, fw, iw, _, ev = snap
        self._st[:] = st
        self._tm[:] = tm
        self._fw[:] = fw
        self._iw[:] = iw
        if ev is not None:
            for i, a in zip(_EV_LANE, ev):
                self._events.arrays[i][:] = a

    def _overshoot(self, snap, status):
        """The round (counted from the snapshot) in which a lane first failed, if another
        lane took a step after it; else 0."""
        start = snap[4]
        active = np.ones(self._batch, bool) if start is None else start == S.OC_CONTINUE
        failed = active & (np.asarray(status) == S.OC_ERR_NF)
        if not failed.any():
            return 0
        # the steps of this call (the plain / SIMD paths count from 0), and a failed one
        rounds = self._iw[:, S.I_NSTEPS] - (0 if start is None else snap[3][:, S.I_NSTEPS])
        rounds = rounds + failed
        r = int(rounds[failed].min())
        return r if np.any(rounds[active] > r) else 0

    def _rerun_cut(self, snap, r, tlim, grid, max_delta_t, max_steps, c_output):
        """The plain / SIMD propagation again from ``snap``, every lane stopped after
        ``r`` steps (its ``step_limit`` then reads ``success``, as heyoka's)."""
        self._restore(snap)
        user = check_max_steps(max_steps)
        cap = r if user == 0 else min(user, r)
        res = self._run(tlim, grid, max_delta_t=max_delta_t, max_steps=cap, callback=None,
                        progress=False, c_output=c_output)
        if user == 0 or r < user:
            res.outcome = [Outcome.success if o is Outcome.step_limit else o
                           for o in res.outcome]
        return res

    def _redo_cut(self, snap, r, k, t_lim, grid, gout, ctc, ct, status, max_steps):
        """The compiled batch call again from ``snap`` (see :meth:`_overshoot`), every
        lane that was running stopped after ``r`` rounds.  Returns the (grown)
        continuous-output buffers."""
        iw, b = self._iw, self._batch
        self._restore(snap)
        status[:] = snap[4]
        active = status == S.OC_CONTINUE
        user = max_steps
        cap = iw[:, S.I_NSTEPS] + r
        if user:
            cap = np.minimum(cap, user)
        iw[active, S.I_MAXSTEPS] = cap[active]
        while True:
            left = self._batch_call(k, t_lim, grid, gout, ctc, ct, status, 0)
            if left != -1:
                break
            n2 = 2 * ctc.shape[1]
            ctc = np.concatenate([ctc, np.zeros_like(ctc)], axis=1)
            ct = np.concatenate([ct, np.zeros((b, n2 + 1 - ct.shape[1], 2))], axis=1)
        iw[:, S.I_MAXSTEPS] = user
        for j in np.flatnonzero(active):
            if status[j] == S.OC_STEP_LIMIT and (not user or cap[j] < user):
                status[j] = _STOPPED
            if grid.shape[1]:
                gout[j, iw[j, S.I_GIDX]:] = np.nan     # points the first call went past
        return ctc, ct
