"""``solve_ivp`` with a complex ``y0``: the ``2n`` real equations of a complex state
(real parts first, then imaginary parts; see :mod:`taylorjit._symbolic.complex`)
are integrated by the real ``solve_ivp`` and its results made complex, as scipy's."""
from __future__ import annotations

import numpy as np

from .ivp_args import _check_tol_shapes

__all__ = ["ComplexDenseSolution", "solve_ivp_complex"]


class ComplexDenseSolution:
    """The continuous solution of :func:`taylorjit.solve_ivp` for a complex state:
    ``sol(t)`` is complex, shape ``(n,)`` for a scalar ``t``, ``(n, len(t))`` for an
    array (scipy's ``OdeSolution`` for a complex ``y0``)."""

    def __init__(self, real_sol):
        self._sol = real_sol
        self.ts = real_sol.ts
        self.t_min, self.t_max = real_sol.t_min, real_sol.t_max
        self.n_segments = real_sol.n_segments

    def __call__(self, t):
        z = self._sol(t)
        n = z.shape[0] // 2
        return z[:n] + 1j * z[n:]

    def __repr__(self):
        return (f"<ComplexDenseSolution on [{self.t_min}, {self.t_max}], {self.n_segments} "
                "Taylor steps>")


def _to_complex(y, axis0=True):
    if not isinstance(y, np.ndarray) or y.dtype.kind != "f":
        return y
    if axis0:
        n = y.shape[0] // 2
        return y[:n] + 1j * y[n:]
    n = y.shape[-1] // 2
    return y[..., :n] + 1j * y[..., n:]


def solve_ivp_complex(solve, fun, t_span, y0, t_eval, dense_output, events, args, options):
    """``solve_ivp`` for a complex ``y0``: the ``2n`` real equations (real parts, then
    imaginary parts) are integrated by ``solve`` (taylorjit's real solve_ivp, told to trace
    ``fun`` and the events with a complex state) and the results made complex."""
    y0 = np.asarray(y0, dtype=complex)
    if y0.ndim != 1:
        raise ValueError(f"`y0` must be 1-dimensional, got shape {y0.shape}.")
    if not np.all(np.isfinite(y0)):
        raise ValueError("All components of the initial state `y0` must be finite.")
    n = y0.shape[0]
    _check_tol_shapes(options, n)
    inner = {k: v for k, v in options.items()
             if k in ("tol", "max_step", "first_step", "compact", "high_accuracy")}
    z0 = np.concatenate([y0.real, y0.imag])
    res = solve(fun, t_span, z0, "taylor", t_eval, dense_output, events, False, args,
                _complex_state=True, **inner)
    res["y"] = _to_complex(res["y"])
    if res.get("y_events") is not None:
        res["y_events"] = [_to_complex(ye, axis0=False) if ye.ndim == 2 else ye
                           for ye in res["y_events"]]
    if res.get("sol") is not None:
        res["sol"] = ComplexDenseSolution(res["sol"])
    return res
