"""Ensemble propagation: many copies of one integrator, on all cores or a cluster.

``ensemble_propagate_until / _for / _grid`` follow heyoka's ensemble functions:
member ``i`` is ``gen(copy_of_template, i)``, propagated, and returned in
member order.  What runs where:

threads (default)
    The compiled propagation loop releases the GIL (``nogil=True``), so a
    thread pool scales with the cores; members share the template's kernel.
``"processes"`` or any :class:`concurrent.futures.Executor` (Dask's
``client.get_executor()`` included)
    The template, ``gen`` and the options travel once per task as one pickle
    (``cloudpickle`` when installed, so lambdas and closures work).  Kernels
    travel by their cache key: a pickled kernel is its decomposition, and
    :func:`taylorjit._codegen.kernel.get_kernel` loads it from the worker's disk cache
    (``TAYLORJIT_CACHE_DIR`` is passed on when set) and memoises it, so a
    worker builds a kernel at most once.  A worker unpickles the template once
    per ensemble, members share its kernel, and the results come back without
    the shared parts (system, kernel) and without the scratch rows of ``tc``
    (see :mod:`taylorjit._integrate.ensemble_io`): an outer-solar-system member is ~9 kB instead of
    ~100 kB.
``"serial"``
    In the calling thread (debugging, baselines).

Batch grouping: members of a scalar template that differ only in state, time
and parameters run as the lanes of one batch propagation (:mod:`taylorjit._integrate.batch`;
every lane equals the scalar run bit for bit; small and medium systems run on SIMD
lanes, :mod:`taylorjit._integrate.simdbatch`).  The members of a group are cloned as the rows
of the batch integrator's lane-major arrays (``ClonePlan.clone_group`` in
:mod:`taylorjit._integrate.ensemble_io`): the batch propagation runs in the members' own
memory, with nothing stacked or copied back.  ``batch=None`` groups by the host's SIMD width
(:func:`taylorjit._integrate.simdbatch.simd_width`: 8 with AVX-512) when the lanes can run on
SIMD vectors -- a template whose kernel has a fused step (unrolled), no events, no
``callback`` or ``c_output``, not a grid -- and not otherwise (the compact VM's batch
loop is slower than its scalar runs: outer solar systems to 10^4 days, 686 vs 1121
runs/s).
Measured (``benchmarks/bench_ensemble.py``, 2 cores, members/s): 10^4 Kepler orbits
of one period 38k ungrouped, 36-46k grouped by 8 (heyoka: 1.2k with threads, 9.7k with
batch-8 templates); 64 outer solar systems to 10^4 years 15 ungrouped, 44-46 grouped
by 8 (heyoka 14 and 57).  A member's Python (its clone from a per-job
:class:`~taylorjit._integrate.ensemble_io.ClonePlan`, ``gen``, the result) costs ~10-20 us.

This module is the driver (argument checks, executors, chunks of members, the
worker task, the public functions); members, their results and the job they
share are in :mod:`.ensemble_members`, batch groups in :mod:`.ensemble_groups`,
copies and pickles in :mod:`.ensemble_io`.
"""
from __future__ import annotations

import collections
import math
import os
import threading
import traceback
import uuid
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed

import numpy as np

from . import simdbatch as _simdbatch
from . import stepper as S
from .batch import TaylorAdaptiveBatch
from .ensemble_groups import _LANE_ARRAYS, _group, _groupable, _grouping
from .ensemble_groups import _run_group   # looked up here by _run_chunk (tests spy on it)
from .ensemble_io import ClonePlan  # noqa: F401  re-exported
from .ensemble_io import clone, dumps, loads, shared_of as _shared_of
from .ensemble_members import (EnsembleMemberError, MemberResult, _failed, _Job, _make_member,
                               _member_kwargs, _propagate)
from .integrator import TaylorAdaptive

__all__ = ["ensemble_propagate_until", "ensemble_propagate_for", "ensemble_propagate_grid",
           "MemberResult", "EnsembleMemberError", "dumps", "loads"]


# --------------------------------------------------------------------------- running members
def _run_chunk(job, indices):
    """Run the members ``indices``: returns a list of MemberResult in that order."""
    out = {}
    members = []
    groups = []             # (members, their lane-major arrays) of zero-copy groups
    b = job.batch if _grouping(job) else 0
    if b >= 2 and job.plan.fast:
        # members cloned in groups whose arrays are the rows of lane-major arrays: the
        # batch propagation runs on the members' own memory
        for j in range(0, len(indices), b):
            idx = indices[j:j + b]
            tas, blocks = job.plan.clone_group(len(idx))
            made = []
            for i, ta in zip(idx, tas):
                mine = [ta.__dict__[k] for k in _LANE_ARRAYS]
                try:
                    m = _make_member(job, i, ta)
                except Exception as exc:              # noqa: BLE001 - reported per member
                    out[i] = _failed(i, None, exc)
                    continue
                # gen kept the arrays (it wrote into them) and the kernel: a lane
                if m is ta and all(ta.__dict__[k] is a for k, a in zip(_LANE_ARRAYS, mine)) \
                        and _groupable(job, ta):
                    made.append((i, ta))
                else:
                    members.append((i, m))
            if len(made) == len(idx) and len(idx) >= 2:
                groups.append((made, blocks))
            else:
                members.extend(made)
    else:
        for i in indices:
            try:
                members.append((i, _make_member(job, i)))
            except Exception as exc:                  # noqa: BLE001 - reported per member
                out[i] = _failed(i, None, exc)
    stacked, singles = _group(job, members)
    for group, blocks in groups + [(g, None) for g in stacked]:
        try:
            out.update(_run_group(job, group, blocks))
        except Exception:                             # noqa: BLE001 - fall back to one by one
            singles.extend(group)
    for i, ta in singles:
        try:
            out[i] = MemberResult(i, ta, _propagate(ta, job.mode, job.arg,
                                                    _member_kwargs(job.kwargs)))
        except Exception as exc:                      # noqa: BLE001
            out[i] = _failed(i, ta, exc)
    return [out[i] for i in indices]


# --------------------------------------------------------------------------- remote workers
_WORKER_JOBS: collections.OrderedDict = collections.OrderedDict()
_WORKER_LOCK = threading.Lock()


def _remote_chunk(token, blob, cache_dir, indices):
    """The task a process / Dask worker runs: unpickle the job (once per worker
    and ensemble), run the members, return them pickled compactly."""
    if cache_dir is not None and os.environ.get("TAYLORJIT_CACHE_DIR") != cache_dir:
        os.environ["TAYLORJIT_CACHE_DIR"] = cache_dir
    with _WORKER_LOCK:
        job = _WORKER_JOBS.get(token)
        if job is None:
            try:
                job = loads(blob)
            except Exception as exc:
                raise RuntimeError(
                    "a worker could not unpickle the ensemble (template, gen, options): install "
                    "the same taylorjit version on the workers and make gen, its callbacks and "
                    f"the modules they use importable there ({exc!r})") from exc
            _WORKER_JOBS[token] = job
            while len(_WORKER_JOBS) > 4:
                _WORKER_JOBS.popitem(last=False)
    results = _run_chunk(job, indices)
    shared = _shared_of(job.ta)
    blobs = []
    for r in results:
        try:
            blobs.append(dumps(r, shared))
        except Exception as exc:                      # noqa: BLE001 - unpicklable error / ta
            err = RuntimeError(f"member {r.index}: its result could not be pickled ({exc!r}); "
                               f"original error: {r.error!r}")
            blobs.append(dumps(MemberResult(r.index, None, None, err,
                                            r.traceback or traceback.format_exc()), shared))
    return blobs


# --------------------------------------------------------------------------- driver
def _check_args(ta, mode, arg, n_iter, batch):
    if not isinstance(ta, (TaylorAdaptive, TaylorAdaptiveBatch)):
        raise TypeError(f"the template must be a TaylorAdaptive or TaylorAdaptiveBatch, got "
                        f"{type(ta).__name__}")
    if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or n_iter < 0:
        raise ValueError(f"n_iter must be a non-negative integer (the number of members), "
                         f"got {n_iter!r}")
    if mode == "grid":
        arg = np.ascontiguousarray(arg, dtype=float)
        if arg.ndim != 1:
            raise ValueError(f"the grid has shape {arg.shape}: pass a one-dimensional grid of "
                             "times, shared by all members")
    else:
        if np.ndim(arg) != 0:
            raise TypeError("the final time / time interval of an ensemble must be a scalar "
                            "(members that need their own final time can be set up with a "
                            "batch template or separate ensembles)")
        arg = float(arg)
    if batch is not None and batch is not False:
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 0:
            raise ValueError(f"batch must be None (automatic), 0 or 1 (no grouping) or a lane "
                             f"count >= 2, got {batch!r}")
        if batch >= 2 and isinstance(ta, TaylorAdaptiveBatch):
            raise ValueError("batch grouping needs a scalar TaylorAdaptive template; this "
                             "template is already a TaylorAdaptiveBatch")
    return arg


def _auto_batch(ta, mode, kwargs):
    """batch=None: the measured rule (module docstring): groups of the host's SIMD width
    when the members can run on SIMD lanes (a scalar template whose kernel has a fused
    step, no events, no callback or continuous output, not a grid), else none."""
    if (type(ta) is not TaylorAdaptive or mode == "grid" or kwargs.get("callback") is not None
            or kwargs.get("c_output")):
        return 0
    k = ta._kernel
    n = ta._state.shape[0]
    if not (k.kind == "unrolled" and getattr(k.jet, "step_addr", 0)
            and ta._events.n_events == 0 and ta._iw[S.I_HACC] == 0 and ta._iw[S.I_FULL] == 0
            and ta._tc.shape[0] == k.n_slots and np.array_equal(ta._hrows, np.arange(n))):
        return 0
    return _simdbatch.simd_width()


def _job_template(ta):
    """The template members are cloned from: ``ta``, or a copy of it on the kernel its
    background build finished (the template itself is not modified)."""
    up = ta.__dict__.get("_upgrade") if isinstance(ta, TaylorAdaptive) else None
    if up is None:
        return ta
    kern, _ = up.claim()
    if kern is None or kern is ta._kernel:
        return ta
    t = clone(ta)
    t._tier_check()
    return t


def _executor(executor, max_workers):
    """(executor, owned, remote, n_workers)."""
    ncpu = os.cpu_count() or 1
    if executor is None or executor == "threads":
        nw = max_workers or ncpu
        return ThreadPoolExecutor(max_workers=nw), True, False, nw
    if executor == "serial":
        return None, False, False, 1
    if executor == "processes":
        import multiprocessing as mp

        nw = max_workers or ncpu
        return ProcessPoolExecutor(max_workers=nw, mp_context=mp.get_context("spawn")), True, \
            True, nw
    if isinstance(executor, str):
        raise ValueError(f"unknown executor {executor!r}: use 'threads' (default), 'processes', "
                         "'serial', or pass a concurrent.futures.Executor (e.g. a Dask "
                         "client.get_executor())")
    if not isinstance(executor, Executor) and not hasattr(executor, "submit"):
        raise TypeError(f"executor must be a concurrent.futures.Executor, got "
                        f"{type(executor).__name__}")
    remote = not isinstance(executor, ThreadPoolExecutor)
    return executor, False, remote, max_workers or _n_workers(executor) or ncpu


def _n_workers(executor):
    w = getattr(executor, "_max_workers", None)
    if w:
        return w
    client = getattr(executor, "_client", None)        # dask.distributed ClientExecutor
    try:
        return sum(client.nthreads().values()) if client is not None else None
    except Exception:                                    # noqa: BLE001 - best effort
        return None


def _chunks(n_iter, n_workers, batch, chunksize):
    if chunksize is None:
        chunksize = max(1, min(256, math.ceil(n_iter / (8 * n_workers))))
    if batch >= 2:
        chunksize = max(batch, batch * math.ceil(chunksize / batch))
    return [range(a, min(a + chunksize, n_iter)) for a in range(0, n_iter, chunksize)]


def _progress_bar(progress, total):
    if not progress:
        return None
    from .integrator import make_progress

    bar = make_progress(True, 0.0, float(total))
    if bar is not None:
        bar.unit = "member"
    return bar


def _ensemble(mode, ta, arg, n_iter, gen, executor, max_workers, batch, progress, chunksize,
              kwargs):
    arg = _check_args(ta, mode, arg, n_iter, batch)
    n_iter = int(n_iter)
    ta = _job_template(ta)
    b = _auto_batch(ta, mode, kwargs) if batch is None else int(batch)
    job = _Job(ta, gen, mode, arg, dict(kwargs), b)
    ex, owned, remote, nw = _executor(executor, max_workers)
    chunks = _chunks(n_iter, nw, b, chunksize)
    bar = _progress_bar(progress, n_iter)
    results = [None] * n_iter
    try:
        if ex is None:
            for c in chunks:
                _store(results, _run_chunk(job, c), bar)
            return results
        if remote:
            token = uuid.uuid4().hex
            env = os.environ.get("TAYLORJIT_CACHE_DIR")
            blob = dumps(job)
            shared = _shared_of(ta)
            futs = {ex.submit(_remote_chunk, token, blob, env, list(c)): c for c in chunks}
        else:
            futs = {ex.submit(_run_chunk, job, c): c for c in chunks}
        for f in as_completed(futs):
            rs = f.result()
            if remote:
                rs = [loads(r, shared) for r in rs]
            _store(results, rs, bar)
        return results
    finally:
        if bar is not None:
            bar.close()
        if owned:
            ex.shutdown(wait=True, cancel_futures=True)


def _store(results, rs, bar):
    for r in rs:
        results[r.index] = r
    if bar is not None:
        bar.update(len(rs))


_DOC_COMMON = """
    n_iter : int
        Number of members.
    gen : callable, optional
        ``gen(ta, i)`` sets up member ``i`` on ``ta``, a deep copy of the template
        (e.g. ``ta.state[:] = ...; ta.pars[:] = ...``), and returns it.  It runs in
        the worker; with processes or Dask it must be picklable (lambdas and
        closures are fine: cloudpickle is used when installed).  None: every
        member is a plain copy of the template.
    executor : None, 'threads', 'processes', 'serial' or concurrent.futures.Executor
        Where members run: a thread pool (default; the compiled loop releases
        the GIL), a pool of spawned processes, the calling thread, or any
        executor, e.g. Dask's ``client.get_executor()`` (not shut down here).
    max_workers : int, optional
        Threads or processes of the pool (default: all cores).
    batch : int or None, optional
        Lanes per batch group for a scalar template (0 or 1: never group; None:
        the host's SIMD width when the members can run on SIMD lanes, else no
        grouping; see the module documentation).  Members whose ``gen`` only
        sets state, time and parameters run as lanes of one compiled batch
        propagation, with results equal to the scalar ones.
    progress : bool, optional
        A tqdm bar over members (needs the ``tqdm`` package).
    chunksize : int, optional
        Members per task (default: about 8 tasks per worker, at most 256).
    **kwargs
        Passed to the member's ``propagate_*`` (``max_delta_t``, ``max_steps``,
        ``callback`` (deep-copied per member, as in heyoka), ``c_output``).

    Returns
    -------
    list of MemberResult
        In member order.  ``res[i]`` unpacks as heyoka's tuple ``(ta, *result)``;
        a member whose ``gen`` or callback raised has ``res[i].ok == False`` and
        keeps the exception and its traceback text (``.error``, ``.traceback``);
        the other members are not affected.  A non-finite state ends a member
        with ``Outcome.err_nf_state`` as in a single propagation.
"""


def ensemble_propagate_until(ta, t, n_iter, gen=None, *, executor=None, max_workers=None,
                             batch=None, progress=False, chunksize=None, **kwargs):
    return _ensemble("until", ta, t, n_iter, gen, executor, max_workers, batch, progress,
                     chunksize, kwargs)


def ensemble_propagate_for(ta, delta_t, n_iter, gen=None, *, executor=None, max_workers=None,
                           batch=None, progress=False, chunksize=None, **kwargs):
    return _ensemble("for", ta, delta_t, n_iter, gen, executor, max_workers, batch, progress,
                     chunksize, kwargs)


def ensemble_propagate_grid(ta, grid, n_iter, gen=None, *, executor=None, max_workers=None,
                            batch=None, progress=False, chunksize=None, **kwargs):
    return _ensemble("grid", ta, grid, n_iter, gen, executor, max_workers, batch, progress,
                     chunksize, kwargs)


ensemble_propagate_until.__doc__ = """Propagate ``n_iter`` copies of ``ta`` until time ``t``.

    Parameters
    ----------
    ta : TaylorAdaptive or TaylorAdaptiveBatch
        The template (not modified).
    t : float
        Final time of every member.""" + _DOC_COMMON + """
    Examples
    --------
    >>> import numpy as np, taylorjit as tj
    >>> x, v = tj.make_vars("x", "v")
    >>> ta = tj.TaylorAdaptive([(x, v), (v, -9.8 * tj.sin(x))], [0.0, 0.0], compact=True)
    >>> def gen(ta, i):
    ...     ta.state[:] = [0.01 * (i + 1), 0.0]
    ...     return ta
    >>> res = tj.ensemble_propagate_until(ta, 10.0, 4, gen)
    >>> [r.outcome.name for r in res]
    ['time_limit', 'time_limit', 'time_limit', 'time_limit']
    >>> ta_2, oc, min_h, max_h, n_steps, c_out, cb = res[2]
    >>> ta_2.time, bool(abs(ta_2.state[0]) <= 0.03)
    (10.0, True)
"""

ensemble_propagate_for.__doc__ = """Propagate ``n_iter`` copies of ``ta`` for ``delta_t``.

    As :func:`ensemble_propagate_until` (each member's final time is its own
    time after ``gen`` plus ``delta_t``).

    Parameters
    ----------
    ta : TaylorAdaptive or TaylorAdaptiveBatch
    delta_t : float""" + _DOC_COMMON + """
    Examples
    --------
    >>> import taylorjit as tj
    >>> x, v = tj.make_vars("x", "v")
    >>> ta = tj.TaylorAdaptive([(x, v), (v, -x)], [1.0, 0.0], compact=True)
    >>> def gen(ta, i):
    ...     ta.time = float(i)
    ...     return ta
    >>> [r.ta.time for r in tj.ensemble_propagate_for(ta, 1.5, 3, gen, executor="serial")]
    [1.5, 2.5, 3.5]
"""

ensemble_propagate_grid.__doc__ = """Propagate ``n_iter`` copies of ``ta`` over a time grid.

    As :func:`ensemble_propagate_until`; every member's result carries
    ``states`` (shape ``(len(grid), n)``, or ``(len(grid), n, batch)`` for a
    batch template).  The grid must start at each member's time.

    Parameters
    ----------
    ta : TaylorAdaptive or TaylorAdaptiveBatch
    grid : array_like, shape (n_points,)""" + _DOC_COMMON + """
    Examples
    --------
    >>> import numpy as np, taylorjit as tj
    >>> x, v = tj.make_vars("x", "v")
    >>> ta = tj.TaylorAdaptive([(x, v), (v, -x)], [0.0, 0.0], compact=True)
    >>> def gen(ta, i):
    ...     ta.state[:] = [float(i), 0.0]
    ...     return ta
    >>> res = tj.ensemble_propagate_grid(ta, [0.0, np.pi], 3, gen)
    >>> np.round(res[2].result.states[:, 0], 12).tolist()
    [2.0, -2.0]
"""
