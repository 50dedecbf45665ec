"""Batch groups of an ensemble: scalar members that differ only in state, time and
parameters propagated as the lanes of one batch integrator (every lane equals
the scalar run bit for bit; small and medium systems on SIMD lanes).

:func:`_run_group` runs a group, in the members' own memory when they were
cloned as the rows of lane-major arrays (``ClonePlan.clone_group`` in
:mod:`.ensemble_io`), else on stacked copies written back; :func:`_group`
splits members into groups and singles.  The driver (:mod:`.ensemble`) decides
the group size and falls back to running members one by one if a group fails.
"""
from __future__ import annotations

import numpy as np

from . import simdbatch as _simdbatch
from . import stepper as S
from .batch import TaylorAdaptiveBatch
from .ensemble_members import MemberResult
from .events import EventBundleBatch
from .integrator import TaylorAdaptive
from .odesys import GridResult, PropagateResult


def _groupable(job, ta):
    t = job.ta
    return (type(ta) is type(t) and isinstance(t, TaylorAdaptive) and ta._kernel is t._kernel
            and ta._events.n_events == 0 and ta._order == t._order
            and ta._iw[S.I_HACC] == t._iw[S.I_HACC] and ta._pars.shape == t._pars.shape
            and ta._iw[S.I_FULL] == t._iw[S.I_FULL])


def _grouping(job):
    return (job.batch >= 2 and job.kwargs.get("callback") is None
            and not job.kwargs.get("c_output"))


def _group(job, members):
    b = job.batch
    if not _grouping(job):
        return [], list(members)
    ok = [m for m in members if _groupable(job, m[1])]
    singles = [m for m in members if not _groupable(job, m[1])]
    groups = [ok[j:j + b] for j in range(0, len(ok), b)]
    if groups and len(groups[-1]) == 1:
        singles.append(groups.pop()[0])
    return groups, singles


# iw fields of a scalar integrator bound to its kernel's fused step / light entry
# (TaylorAdaptive._bind_jet)
_LIGHT_FIELDS = [S.I_LIGHT, S.I_RADDR, S.I_LADDR]
# a scalar integrator's arrays that are a lane of a batch integrator's
_LANE_ARRAYS = ("_state", "_pars", "_tm", "_tc", "_iw", "_fw")
_BATCH_NAMES = ("_st", "_pa", "_tm", "_tc", "_iw", "_fw")


def _run_group(job, group, blocks=None):
    """Propagate scalar members as the lanes of one batch integrator (lanes equal
    scalar runs bit for bit).  With ``blocks`` (:meth:`ClonePlan.clone_group`) the
    members' arrays are the rows of the batch integrator's, else they are stacked
    and the lanes copied back."""
    tas = [ta for _, ta in group]
    t0 = tas[0]
    b = len(tas)
    n = t0._state.shape[0]
    tb = object.__new__(TaylorAdaptiveBatch)
    tb.__dict__.update(_sys=t0._sys, _tol=t0._tol, _order=t0._order, _kernel=t0._kernel,
                       _hrows=t0._hrows, _batch=b, _xnew=np.zeros(n),
                       event_log=[[] for _ in range(b)], _last_event=[None] * b,
                       _auto=False, _upgrade=None)
    cached = job.batch_cache
    if cached is not None and cached[0] is t0._kernel:
        tb.__dict__.update(cached[1])       # the SIMD kernel and plain-path check found before
    if blocks is not None:
        for name, key in zip(_BATCH_NAMES, _LANE_ARRAYS):
            tb.__dict__[name] = blocks[key]
    else:
        for name, key in zip(_BATCH_NAMES, _LANE_ARRAYS):
            tb.__dict__[name] = np.stack([ta.__dict__[key] for ta in tas])
    iw = tb._iw
    light = iw[:, _LIGHT_FIELDS]
    budget = iw[:, S.I_BUDGET].copy()
    iw[:, S.I_BUDGET] = 0
    # the batch loops call the kernel's jet (first-class function): not the fused step or
    # light entry whose addresses a scalar integrator of an unrolled kernel keeps in iw
    iw[:, _LIGHT_FIELDS] = 0
    words = None if blocks is None else (blocks.get(("_events", 7)), blocks.get(("_events", 8)))
    if words is not None and words[0] is not None and words[1] is not None:
        # no events: the members' own event words are the lanes' (EventBundleBatch layout)
        ev = object.__new__(EventBundleBatch)
        ev.events = []
        a = t0._events.arrays
        ev.arrays = (a[0], np.zeros((b,) + a[1].shape), a[2], a[3], a[4], a[5],
                     np.zeros((b,) + a[6].shape), words[0], words[1])
        tb._events = ev
    else:
        tb._events = EventBundleBatch([], t0._hrows[n:n], t0._order, t0._tol, b)
    kw = dict(job.kwargs)
    kw.pop("c_output", None)
    # the members' own memory: put back as it was if the group fails (they then run alone)
    before = None if blocks is None else (tb._st.copy(), tb._tm.copy(), tb._fw.copy())
    try:
        if job.mode == "until":
            res = tb.propagate_until(job.arg, **kw)
        elif job.mode == "for":
            res = tb.propagate_for(job.arg, **kw)
        else:
            res = tb.propagate_grid(job.arg, **kw)
        if blocks is not None:
            iw[:, _LIGHT_FIELDS] = light
            iw[:, S.I_BUDGET] = budget
        out = {}
        grid = job.mode == "grid"
        for j, (i, ta) in enumerate(group):
            if blocks is None:
                ta._state[:] = tb._st[j]
                ta._tm[:] = tb._tm[j]
                ta._tc[:] = tb._tc[j]
                ta._iw[:] = tb._iw[j]
                ta._iw[_LIGHT_FIELDS] = light[j]
                ta._fw[:] = tb._fw[j]
            fields = (res.outcome[j], float(res.min_h[j]), float(res.max_h[j]),
                      int(res.n_steps[j]))
            if grid:
                r = GridResult(*fields, np.ascontiguousarray(res.states[:, :, j]))
            else:
                r = PropagateResult(*fields, None)
            out[i] = MemberResult(i, ta, r)
    except BaseException:
        if blocks is not None:      # the members as they were: they run alone next
            tb._st[:], tb._tm[:], tb._fw[:] = before
            iw[:, _LIGHT_FIELDS] = light
            iw[:, S.I_BUDGET] = budget
        raise
    simd, ok = tb.__dict__.get("_simd"), tb.__dict__.get("_plainok")
    if ok is not None and (simd is False or isinstance(simd, _simdbatch.BatchKernel)):
        job.batch_cache = (t0._kernel, {"_simd": simd, "_plainok": ok})
    return out
