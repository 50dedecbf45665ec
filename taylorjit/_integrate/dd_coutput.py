"""Continuous output of a double-double propagation (:class:`DDContinuousOutput`):
the dd Taylor polynomials of every step, evaluated in dd.

The counterpart of :class:`~taylorjit._integrate.coutput.ContinuousOutput` for
:class:`~taylorjit.DDTaylorAdaptive` (``propagate_until(..., c_output=True)``):
the same interface, with dd times in and DDArrays out.
"""
from __future__ import annotations

import numpy as np

from .._dd.values import DDArray, dd_array

__all__ = ["DDContinuousOutput", "grow_buffers"]


class DDContinuousOutput:
    """The solution of a dd propagation between its start and its end.

    Evaluation picks the step covering ``t`` (binary search on the dd step
    boundaries) and runs Horner's scheme in dd at the dd offset from the step's
    start, as ``update_d_output`` does for the last step: the result has the
    accuracy of the integration everywhere in the interval.  Times outside are
    extrapolated with the first or last polynomial.

    Parameters
    ----------
    tcs : DDArray, shape (n_steps, n, order + 1)
        Taylor coefficients of each step, expanded at the step's start.
    times : DDArray, shape (n_steps + 1,)
        The step boundaries.

    Examples
    --------
    >>> import mpmath, taylorjit as tj
    >>> x, v = tj.make_vars("x", "v")
    >>> ta = tj.DDTaylorAdaptive([(x, v), (v, -x)], ["0", "1"])
    >>> co = ta.propagate_until(10, c_output=True).c_output
    >>> co
    <DDContinuousOutput t in [0.0, 10.0], 6 steps, 2 variables, order 38>
    >>> with mpmath.workdps(40):
    ...     bool(abs(co("2.5")[0].to_mpmath() - mpmath.sin(mpmath.mpf("2.5"))) < 1e-31)
    True
    >>> co(["1", "2", "3"]).shape
    (3, 2)
    """

    def __init__(self, tcs, times):
        if not isinstance(tcs, DDArray):
            tcs = DDArray.from_values(tcs)
        if not isinstance(times, DDArray):
            times = DDArray.from_values(times)
        if tcs.ndim != 3 or times.shape != (tcs.shape[0] + 1,):
            raise ValueError("tcs must have shape (n_steps, n, order + 1) and times "
                             "(n_steps + 1,)")
        if tcs.shape[0] == 0:
            raise ValueError("a continuous output needs at least one step")
        self._CH = np.ascontiguousarray(tcs.hi)
        self._CL = np.ascontiguousarray(tcs.lo)
        self._CT = np.ascontiguousarray(np.stack([times.hi, times.lo], axis=1))

    @classmethod
    def from_buffers(cls, CH, CL, CT, k):
        """From the first ``k`` steps of the compiled loop's buffers (views: copied only
        when they are less than half full)."""
        self = object.__new__(cls)
        if 2 * k < CH.shape[0]:
            CH, CL, CT = CH[:k].copy(), CL[:k].copy(), CT[:k + 1].copy()
        self._CH, self._CL, self._CT = CH[:k], CL[:k], CT[:k + 1]
        return self

    def __call__(self, t):
        """The state(s) at ``t`` (one time or a list/array of times, each any dd input:
        float, decimal string, mpf, (hi, lo) pair): a DDArray of shape ``(n,)``, or
        ``(len(t), n)``."""
        from .dd_events import ev_entry_points

        h, l = dd_array(t, "t")
        scalar = np.ndim(h) == 0
        tH = np.ascontiguousarray(np.atleast_1d(h).reshape(-1), dtype=np.float64)
        tL = np.ascontiguousarray(np.atleast_1d(l).reshape(-1), dtype=np.float64)
        n = self._CH.shape[1]
        OH = np.empty((tH.shape[0], n))
        OL = np.empty((tH.shape[0], n))
        ev_entry_points().dd_c_eval(self._CH, self._CL, self._CT, tH, tL, OH, OL)
        if scalar:
            return DDArray(OH[0], OL[0])
        return DDArray(OH.reshape(np.shape(h) + (n,)), OL.reshape(np.shape(h) + (n,)))

    @property
    def tcs(self) -> DDArray:
        """Taylor coefficients of each step, shape ``(n_steps, n, order + 1)``."""
        return DDArray(self._CH.copy(), self._CL.copy())

    @property
    def times(self) -> DDArray:
        """The step boundaries, shape ``(n_steps + 1,)``."""
        return DDArray(self._CT[:, 0].copy(), self._CT[:, 1].copy())

    @property
    def bounds(self):
        """``(t_start, t_end)`` of the propagation (0-d DDArrays)."""
        return DDArray(*self._CT[0]), DDArray(*self._CT[-1])

    @property
    def n_steps(self):
        return self._CH.shape[0]

    def __repr__(self):
        a, b = self.bounds
        return (f"<DDContinuousOutput t in [{a}, {b}], {self.n_steps} steps, "
                f"{self._CH.shape[1]} variables, order {self._CH.shape[2] - 1}>")


def grow_buffers(CH, CL, CT):
    """The continuous-output buffers of the compiled loop, 4x larger, holding the steps
    stored so far."""
    m = CH.shape[0]
    nH = np.empty((4 * m,) + CH.shape[1:])
    nL = np.empty((4 * m,) + CL.shape[1:])
    nT = np.empty((4 * m + 1, 2))
    nH[:m] = CH
    nL[:m] = CL
    nT[:m + 1] = CT
    return nH, nL, nT
