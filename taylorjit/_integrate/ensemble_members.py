"""Ensemble members: what a task runs and what it returns.

:class:`MemberResult` (the outcome of one member, unpacking as heyoka's tuple)
and :class:`EnsembleMemberError`; :class:`_Job` (the template, ``gen``, the
propagation and its options, shared by every task, with the
:class:`~.ensemble_io.ClonePlan` members are cloned by); making member ``i``
(``gen`` on a clone of the template) and propagating it.  The driver in
:mod:`.ensemble` runs chunks of members; :mod:`.ensemble_groups` runs groups of
them as the lanes of one batch integrator.
"""
from __future__ import annotations

import copy
import traceback

from .batch import TaylorAdaptiveBatch
from .ensemble_io import ClonePlan, clone
from .integrator import TaylorAdaptive

__all__ = ["MemberResult", "EnsembleMemberError"]


class EnsembleMemberError(RuntimeError):
    """A member of an ensemble failed (raised when its result is unpacked)."""


class MemberResult:
    """The outcome of one ensemble member.

    Attributes
    ----------
    index : int
        The member's index ``i`` (the argument of ``gen``).
    ta : TaylorAdaptive or TaylorAdaptiveBatch or None
        The member's integrator after the propagation (None if ``gen`` failed).
    result : PropagateResult, GridResult, BatchResult or None
        What ``propagate_*`` returned (None if the member failed).
    error : Exception or None
        The exception raised by ``gen``, a callback or the propagation.
    traceback : str or None
        The formatted traceback of ``error`` (from the worker that ran it).

    Unpacks and indexes like heyoka 7's tuples, ``ta, *result``: e.g. for ``_until``
    ``ta, outcome, min_h, max_h, n_steps, c_output, callback = member``,
    ``member[-1]``; unpacking a failed member raises :class:`EnsembleMemberError`
    with the traceback.
    """

    __slots__ = ("index", "ta", "result", "error", "traceback")

    def __init__(self, index, ta, result, error=None, traceback=None):
        self.index = index
        self.ta = ta
        self.result = result
        self.error = error
        self.traceback = traceback

    @property
    def ok(self):
        """True if the member ran without an exception (check ``outcome`` too)."""
        return self.error is None

    @property
    def outcome(self):
        """The propagation's outcome (None if the member failed with an exception)."""
        return None if self.result is None else self.result.outcome

    def __iter__(self):
        if self.error is not None:
            raise EnsembleMemberError(
                f"ensemble member {self.index} failed with {self.error!r}; check "
                f"member.ok before unpacking. Traceback from the worker:\n{self.traceback}")
        return iter((self.ta, *self.result))

    def __getitem__(self, i):
        return tuple(self)[i]

    def __len__(self):
        return 1 + len(self.result) if self.error is None else 0

    def __repr__(self):
        if self.error is not None:
            return f"MemberResult(index={self.index}, error={self.error!r})"
        return f"MemberResult(index={self.index}, result={self.result!r})"


# --------------------------------------------------------------------------- running members
class _Job:
    """What every task needs: the template, gen, the propagation and its options."""

    def __init__(self, ta, gen, mode, arg, kwargs, batch):
        self.ta = ta
        self.gen = gen
        self.mode = mode
        self.arg = arg
        self.kwargs = kwargs
        self.batch = batch
        self._plan = None
        # (kernel, attributes) a batch group found (the SIMD kernel, the plain-path check)
        self.batch_cache = None

    @property
    def plan(self):
        """How members are cloned from the template (made once per job and process)."""
        p = self._plan
        if p is None:       # threads may race here: both make the same plan
            p = self._plan = ClonePlan(self.ta)
        return p

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_plan"] = None       # arrays and addresses of this process
        state["batch_cache"] = None
        return state


def _member_kwargs(kwargs):
    cb = kwargs.get("callback")
    if cb is None:
        return kwargs
    kw = dict(kwargs)
    kw["callback"] = copy.deepcopy(cb)   # as heyoka: each member gets its own callback object
    return kw


def _propagate(ta, mode, arg, kwargs):
    if mode == "until":
        return ta.propagate_until(arg, **kwargs)
    if mode == "for":
        return ta.propagate_for(arg, **kwargs)
    return ta.propagate_grid(arg, **kwargs)


def _failed(i, ta, exc):
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return MemberResult(i, ta, None, exc, tb)


def _make_member(job, i, ta=None):
    """Member ``i``: ``gen`` applied to a clone of the template (or to ``ta``)."""
    if ta is None:
        ta = clone(job.ta, job.plan)
    if job.gen is None:
        return ta
    out = job.gen(ta, i)
    if not isinstance(out, (TaylorAdaptive, TaylorAdaptiveBatch)):
        raise TypeError(f"gen(ta, {i}) returned {type(out).__name__}: it must set up the copy "
                        "of the template it receives and return it (return ta)")
    return out
