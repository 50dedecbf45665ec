"""Continuous output of a propagation: the Taylor polynomials of every step."""
from __future__ import annotations

import numpy as np

from . import stepper as _stepper
from .plainloop import dense

__all__ = ["ContinuousOutput"]


class ContinuousOutput:
    """The solution between the start and the end of a propagation.

    Built by ``propagate_until(..., c_output=True)`` from the Taylor
    coefficients of every step; evaluation picks the step covering ``t``
    (binary search) and runs Horner's scheme in compiled code, so it costs
    about as much as one polynomial evaluation per time.  Times outside the
    propagated interval are extrapolated with the first or last polynomial.

    Parameters
    ----------
    tcs : ndarray, shape (n_steps, n, order + 1)
        Taylor coefficients of each step, expanded at the step's start.
    times : ndarray, shape (n_steps + 1, 2)
        Double-length (hi, lo) times of the step boundaries.

    Examples
    --------
    >>> import numpy as np, taylorjit as tj
    >>> x, v = tj.make_vars("x", "v")
    >>> ta = tj.TaylorAdaptive([(x, v), (v, -x)], [0.0, 1.0], compact=True)
    >>> co = ta.propagate_until(10.0, c_output=True).c_output
    >>> bool(abs(co(3.0)[0] - np.sin(3.0)) < 1e-14)
    True
    >>> co(np.linspace(0, 10, 5)).shape
    (5, 2)
    """

    def __init__(self, tcs, times, high_accuracy=False):
        self._tcs = np.ascontiguousarray(tcs, dtype=float)
        self._times = np.ascontiguousarray(times, dtype=float)
        if self._tcs.ndim != 3 or self._times.shape != (self._tcs.shape[0] + 1, 2):
            raise ValueError("tcs must have shape (n_steps, n, order + 1) and times "
                             "(n_steps + 1, 2)")
        if self._tcs.shape[0] == 0:
            raise ValueError("a continuous output needs at least one step")
        self._hacc = int(bool(high_accuracy))

    def __call__(self, t):
        """State(s) at time(s) ``t``: shape ``(n,)`` for a scalar, ``t.shape + (n,)`` otherwise."""
        ta = np.asarray(t, dtype=float)
        flat = np.ascontiguousarray(ta.reshape(-1))
        if not np.all(np.isfinite(flat)):
            raise ValueError("continuous output: the evaluation times must be finite")
        out = np.empty((flat.shape[0], self._tcs.shape[1]))
        if self._hacc:
            _stepper.c_eval(self._tcs, self._times, flat, out, self._hacc)
        else:       # the same operations as LLVM code (no numba compilation on first use)
            ns, n, ncol = self._tcs.shape
            dense()[1](self._tcs.ctypes.data, self._times.ctypes.data, ns, n, ncol,
                       flat.ctypes.data, flat.shape[0], out.ctypes.data)
        return out.reshape(ta.shape + (self._tcs.shape[1],))

    @property
    def tcs(self):
        """Taylor coefficients of each step, shape ``(n_steps, n, order + 1)``."""
        return self._tcs

    @property
    def times(self):
        """Step boundaries (the hi parts), shape ``(n_steps + 1,)``."""
        return self._times[:, 0].copy()

    @property
    def bounds(self):
        """``(t_start, t_end)`` of the propagation."""
        return float(self._times[0, 0]), float(self._times[-1, 0])

    @property
    def n_steps(self):
        return self._tcs.shape[0]

    def __repr__(self):
        a, b = self.bounds
        return (f"<ContinuousOutput t in [{a!r}, {b!r}], {self.n_steps} steps, "
                f"{self._tcs.shape[1]} variables, order {self._tcs.shape[2] - 1}>")
