"""The results of a batch propagation: per-lane outcomes and the batch continuous output.

:class:`BatchResult` is what :class:`taylorjit.TaylorAdaptiveBatch`'s ``propagate_*``
return (:mod:`taylorjit._integrate.batch`); :class:`BatchContinuousOutput` holds one
:class:`taylorjit.ContinuousOutput` per lane (``c_output=True``).
"""
from __future__ import annotations

import numpy as np

__all__ = ["BatchResult", "BatchContinuousOutput"]



class BatchResult:
    """Per-lane results of a batch propagation: ``outcome`` (list of Outcome),
    ``min_h``, ``max_h``, ``n_steps`` (arrays), ``states`` (grid runs only) and
    ``c_output`` (a :class:`BatchContinuousOutput` with ``c_output=True``).
    Unpacks as ``outcome, min_h, max_h, n_steps, states``."""

    def __init__(self, outcome, min_h, max_h, n_steps, states=None):
        self.outcome = outcome
        self.min_h = min_h
        self.max_h = max_h
        self.n_steps = n_steps
        self.states = states
        self.c_output = None

    def __iter__(self):
        return iter((self.outcome, self.min_h, self.max_h, self.n_steps, self.states))

    def __repr__(self):
        return (f"BatchResult(outcome={self.outcome!r}, n_steps={self.n_steps.tolist()}, "
                f"min_h={self.min_h.tolist()}, max_h={self.max_h.tolist()})")


class BatchContinuousOutput:
    """Continuous output of a batch propagation (``propagate_until(..., c_output=True)``):
    one :class:`~taylorjit.ContinuousOutput` per lane (:attr:`lanes`), each built from
    its lane's steps, as the scalar integrator's (None for a lane that took no step).

    Called with one time, or one time per lane, it returns the states at those times,
    shape ``(n, batch)`` (heyoka's ``continuous_output_batch``).

    Examples
    --------
    >>> import numpy as np, taylorjit as tj
    >>> x, v = tj.make_vars("x", "v")
    >>> tb = tj.TaylorAdaptiveBatch([(x, v), (v, -x)], [[0.0, 0.0], [1.0, 2.0]])
    >>> co = tb.propagate_until(10.0, c_output=True).c_output
    >>> bool(np.allclose(co(3.0)[0], [np.sin(3.0), 2 * np.sin(3.0)], rtol=0, atol=1e-14))
    True
    >>> co([1.0, 2.0]).shape
    (2, 2)
    """

    def __init__(self, per_lane, high_accuracy=False):
        from .coutput import ContinuousOutput

        # a lane that took no step (already at its final time) has no output: None
        self.lanes = [ContinuousOutput(tcs.copy(), times.copy(), high_accuracy)
                      if tcs.shape[0] else None for tcs, times in per_lane]

    @property
    def batch_size(self):
        return len(self.lanes)

    def __call__(self, t):
        b = len(self.lanes)
        tt = np.asarray(t, dtype=float)
        if tt.ndim == 0:
            tt = np.full(b, float(tt))
        if tt.shape != (b,):
            raise ValueError(f"t has shape {tt.shape}: pass one time for all lanes or one per "
                             f"lane (shape ({b},))")
        for j, co in enumerate(self.lanes):
            if co is None:
                raise ValueError(f"lane {j} took no step in this propagation: it has no "
                                 "continuous output (its state is the integrator's)")
        return np.stack([co(tt[j]) for j, co in enumerate(self.lanes)], axis=1)

    def __repr__(self):
        return f"<BatchContinuousOutput: {len(self.lanes)} lanes>"
