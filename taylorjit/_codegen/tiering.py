"""Tiers: the fast kernels compiled in the background, switched in behind the user's back.

A never-seen system or expression starts at once on code that is ready (the
compact VM) while its specialised kernel (the unrolled LLVM code of the
integrator's order) is built by one background worker thread.  The integrators
and front ends poll their :class:`Upgrade` at step boundaries or between calls
and switch when it is done.  Every kernel kind computes the same bits, so the
switch changes the speed and nothing else (tested).

Rules this module owns:

- one worker thread per process, jobs in submission order, deduplicated by key
  (ten integrators of one system wait for one compile);
- a failed build never raises in the user's call: the integrator that polls the
  failed upgrade warns once (:class:`TierWarning`) and stays on its tier;
- the build runs without taylorjit's or numba's global locks while it traces
  and optimises (see ``taylorjit._codegen.unroll.load_module``), so the foreground is not
  blocked behind it; cache files are written atomically, so a process killed
  mid-build leaves no broken entry;
- at interpreter exit a build that is running gets :data:`EXIT_WAIT` seconds to
  finish and land in the disk cache (for the next process); queued builds are
  dropped;
- ``TAYLORJIT_TIERING=0`` turns background builds off (systems that start on the
  VM stay there; small systems still get their unrolled kernel at once, and kernels
  already in the disk cache are still loaded).
"""
from __future__ import annotations

import atexit
import collections
import os
import threading
import time
import warnings

__all__ = ["TierWarning", "Upgrade", "submit", "enabled", "wait_all"]

EXIT_WAIT = 2.0          # seconds a running build may take to finish at interpreter exit


class TierWarning(RuntimeWarning):
    """A background compilation failed: the computation goes on, with the same
    results, on the kernel it already had."""


class Upgrade:
    """A kernel being built in the background.

    ``state`` is ``"queued"``, ``"running"``, ``"done"`` or ``"failed"``;
    :meth:`poll` returns the kernel once it is done (else None), and warns once
    if the build failed."""

    __slots__ = ("key", "what", "build", "state", "result", "error", "warned", "event")

    def __init__(self, key, build, what):
        self.key = key
        self.what = what
        self.build = build
        self.state = "queued"
        self.result = None
        self.error = None
        self.warned = False
        self.event = threading.Event()

    def poll(self):
        """The built kernel, or None while it is being built (or if it failed;
        then :class:`TierWarning` is issued once)."""
        st = self.state
        if st == "done":
            return self.result
        if st == "failed" and not self.warned:
            self.warned = True
            warnings.warn(f"taylorjit could not compile the fast kernel of {self.what} in the "
                          f"background ({type(self.error).__name__}: {self.error}); the "
                          "computation continues on the compact VM, with identical results",
                          TierWarning, stacklevel=3)
        return None

    def claim(self):
        """``(kernel, upgrade to keep polling)``: ``(kernel, None)`` once built,
        ``(None, self)`` while building, ``(None, None)`` after a failure (warned once)."""
        kern = self.poll()
        if kern is not None:
            return kern, None
        return None, (None if self.settled else self)

    @property
    def settled(self):
        """Whether the build has ended (done or failed)."""
        return self.state in ("done", "failed")

    def wait(self, timeout=None):
        """Wait for the build to end; returns the kernel or None."""
        self.event.wait(timeout)
        return self.result if self.state == "done" else None

    def __repr__(self):
        return f"<taylorjit Upgrade {self.what}: {self.state}>"

    # copies of an integrator in this process wait for the same build; a pickle does not
    # carry it (the receiving integrator submits its own, see TaylorAdaptive.__setstate__)
    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return _none, ()


def _none():
    return None


_lock = threading.Lock()
_jobs: dict = {}                 # key -> Upgrade (every state)
_queue: collections.deque = collections.deque()
_wake = threading.Condition(_lock)
_worker: list = []
_running: list = []              # the Upgrade being built, if any
_exiting = [False]


def enabled() -> bool:
    """Whether background builds are on (``TAYLORJIT_TIERING`` is not ``0``)."""
    return os.environ.get("TAYLORJIT_TIERING", "1").strip().lower() not in ("0", "off", "false",
                                                                            "no")


def submit(key, build, what):
    """The :class:`Upgrade` building ``build()`` in the background (one per ``key``
    per process), or None when background builds are off."""
    if not enabled():
        return None
    with _lock:
        up = _jobs.get(key)
        if up is not None and up.state != "failed":
            return up
        up = Upgrade(key, build, what)
        _jobs[key] = up
        if _exiting[0]:
            up.state, up.error = "failed", RuntimeError("the interpreter is exiting")
            up.warned = True
            up.event.set()
            return up
        _queue.append(up)
        if not _worker or not _worker[0].is_alive():
            _worker[:] = [threading.Thread(target=_work, name="taylorjit-tiering", daemon=True)]
            _worker[0].start()
        _wake.notify()
    return up


def _work():
    while True:
        with _lock:
            while not _queue and not _exiting[0]:
                _wake.wait()
            if _exiting[0]:
                return
            up = _queue.popleft()
            up.state = "running"
            _running[:] = [up]
        try:
            result = up.build()
        except BaseException as exc:   # noqa: BLE001 - reported by Upgrade.poll, never raised here
            up.error = exc
            up.state = "failed"
        else:
            up.result = result
            up.state = "done"
        finally:
            up.build = None            # drop the closure (decompositions, tables)
            with _lock:
                _running.clear()
            up.event.set()


def wait_all(timeout=None) -> bool:
    """Wait until every submitted build has ended (tests, benchmarks); returns
    whether they all did within ``timeout`` seconds."""
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        with _lock:
            pending = [u for u in _jobs.values() if not u.settled]
        if not pending:
            return True
        left = None if end is None else end - time.monotonic()
        if left is not None and left <= 0:
            return False
        pending[0].event.wait(left)


def _at_exit():
    with _lock:
        _exiting[0] = True
        for up in _queue:
            up.state, up.error, up.warned = "failed", RuntimeError("interpreter exit"), True
            up.event.set()
        _queue.clear()
        running = list(_running)
        _wake.notify_all()
    for up in running:
        up.event.wait(EXIT_WAIT)


def _after_fork():
    # the worker thread does not exist in a forked child: builds it had not finished end
    # there (quietly: the child's integrators stay on their kernel, a new integrator of the
    # system submits a new build)
    global _lock, _wake
    _lock = threading.Lock()
    _wake = threading.Condition(_lock)
    _worker.clear()
    _running.clear()
    for key, up in list(_jobs.items()):
        if not up.settled:
            up.state, up.error, up.warned = "failed", RuntimeError("forked"), True
            up.event = threading.Event()
            up.event.set()
            del _jobs[key]
    _queue.clear()


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
