"""What :func:`~.solve_ivp.solve_ivp` returns: scipy's status codes and messages,
the :class:`OdeResult` dict, the continuous solution :class:`DenseSolution`, and
the helpers that assemble them (chunks of continuous output joined into one,
the result of an empty problem).  The driver in :mod:`.solve_ivp` fills them.
"""
from __future__ import annotations

import numpy as np

from .coutput import ContinuousOutput

__all__ = ["OdeResult", "DenseSolution", "STATUS_FAILED", "STATUS_END", "STATUS_EVENT",
           "MESSAGES"]

# scipy's status codes (``OdeResult.status``)
STATUS_FAILED = -1    # the integration failed (non-finite state, sliding mode, chattering)
STATUS_END = 0        # the end of the interval was reached
STATUS_EVENT = 1      # a terminal event stopped the integration
MESSAGES = {STATUS_END: "The solver successfully reached the end of the integration interval.",
            STATUS_EVENT: "A termination event occurred."}


class OdeResult(dict):
    """The result of :func:`taylorjit.solve_ivp`, with scipy's fields as attributes.

    Attributes
    ----------
    t : ndarray, shape (n_points,)
    y : ndarray, shape (n, n_points)
    sol : DenseSolution or None
    t_events, y_events : list of ndarray or None
    nfev, njev, nlu : int
    status : int
        -1 failure, 0 end of the interval reached, 1 termination event.
    message : str
    success : bool
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e

    __setattr__ = dict.__setitem__
    __delattr__ = dict.__delitem__

    def __repr__(self):
        keys = ["message", "success", "status", "t", "y", "sol", "t_events", "y_events", "nfev",
                "njev", "nlu"]
        w = max(map(len, keys))
        return "\n".join(f"{k.rjust(w)}: {self.get(k)!r}" for k in keys if k in self)

    def __dir__(self):
        return list(self.keys())


class DenseSolution:
    """Continuous solution of :func:`taylorjit.solve_ivp` (``sol`` with ``dense_output=True``).

    Called like scipy's ``OdeSolution``: ``sol(t)`` is the state, shape ``(n,)``
    for a scalar ``t`` and ``(n, len(t))`` for an array.  Between steps it is the
    Taylor polynomial of the step (accurate to the requested tolerance).
    """

    def __init__(self, c_output: ContinuousOutput | None, t0=0.0, y0=None):
        self._co = c_output
        if c_output is None:  # empty interval: the constant initial state
            self._y0 = np.asarray(y0, dtype=float)
            self.ts = np.array([t0, t0])
            self.t_min = self.t_max = float(t0)
            self.n_segments = 1
        else:
            self.ts = c_output.times
            self.t_min, self.t_max = sorted(c_output.bounds)
            self.n_segments = c_output.n_steps

    def __call__(self, t):
        t = np.asarray(t, dtype=float)
        if self._co is None:
            out = np.broadcast_to(self._y0, t.shape + self._y0.shape).copy()
        else:
            out = self._co(t)
        return out if t.ndim == 0 else np.moveaxis(out, -1, 0)

    def __repr__(self):
        return f"<DenseSolution on [{self.t_min}, {self.t_max}], {self.n_segments} Taylor steps>"


def _concat(chunks):
    """One ContinuousOutput from consecutive chunks."""
    if len(chunks) == 1:
        return chunks[0]
    tcs = np.concatenate([c.tcs for c in chunks])
    times = np.concatenate([chunks[0]._times] + [c._times[1:] for c in chunks[1:]])
    return ContinuousOutput(tcs, times, chunks[0]._hacc)


def _trivial(t0, y0, t_eval, dense_output, events):
    """Result for an empty interval or an empty state (no integration)."""
    n_ev = 0 if events is None else (1 if callable(events) else len(events))
    t = np.array([t0]) if t_eval is None else np.asarray(t_eval, dtype=float)
    return OdeResult(t=t, y=np.repeat(y0[:, None], t.shape[0], axis=1),
                     sol=DenseSolution(None, t0, y0) if dense_output else None,
                     t_events=[np.empty(0) for _ in range(n_ev)] if events is not None else None,
                     y_events=[np.empty((0,)) for _ in range(n_ev)] if events is not None else None,
                     nfev=0, njev=0, nlu=0, status=STATUS_END, message=MESSAGES[STATUS_END],
                     success=True)
