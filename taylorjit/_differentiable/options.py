"""Options and argument checks of the differentiable integrations: the Taylor
tolerance from ``rtol``/``atol``, JAX's step options, the output times, the
event direction.  Plain numbers and numpy only; used by :mod:`.problem` and,
through :mod:`.core`, by :mod:`taylorjit.jax` and :mod:`taylorjit.torch`.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

EPS = float(np.finfo(float).eps)


def tolerance(rtol, atol):
    """The Taylor tolerance for scipy/JAX-style ``rtol``/``atol``: ``max(eps, min(rtol, atol))``.

    The Taylor step-size rule controls the local error absolutely for state
    norms below 1 and relatively above (as :func:`taylorjit.solve_ivp`).

    Examples
    --------
    >>> tolerance(1e-10, 1e-12)
    1e-12
    """
    try:
        r, a = float(rtol), float(atol)
    except (TypeError, ValueError):
        raise TypeError(f"rtol and atol must be numbers, got rtol={rtol!r}, "
                        f"atol={atol!r}") from None
    if not (r > 0 and a >= 0) or math.isnan(r) or math.isnan(a):
        raise ValueError(f"rtol must be positive and atol non-negative, got rtol={rtol!r}, "
                         f"atol={atol!r}")
    return max(EPS, min(r, a) if a > 0 else r)


def step_options(mxstep, hmax):
    """(max_steps per output interval or None, max_delta_t or None) from JAX's options."""
    ms = None
    try:
        m = float(mxstep)
    except (TypeError, ValueError):
        raise TypeError(f"mxstep must be a number of steps (or inf), got {mxstep!r}") from None
    if not math.isinf(m):
        if not (m >= 1 and m == int(m)):
            raise ValueError(f"mxstep must be a whole number of steps >= 1 (or inf), "
                             f"got {mxstep!r}")
        ms = int(m)
    try:
        h = float(hmax)
    except (TypeError, ValueError):
        raise TypeError(f"hmax must be a positive number (or inf), got {hmax!r}") from None
    if not h > 0:
        raise ValueError(f"hmax must be positive (the largest step), got {hmax!r}")
    return ms, (None if math.isinf(h) else h)


def _check_times(ts):
    if not np.all(np.isfinite(ts)):
        raise ValueError("the output times t contain non-finite values: pass finite times")
    d = np.diff(ts)
    if not (np.all(d > 0) or np.all(d < 0)):
        raise ValueError("the output times t must be strictly monotonic (increasing, or "
                         "decreasing to integrate backwards; no repeated times)")


def check_direction(direction):
    """Event direction as taylorjit's word: 'any', 'positive', 'negative' (also 0, 1, -1)."""
    if isinstance(direction, str):
        if direction in ("any", "positive", "negative"):
            return direction
    elif isinstance(direction, numbers.Real) and not isinstance(direction, bool):
        if direction == 0:
            return "any"
        return "positive" if direction > 0 else "negative"
    raise ValueError(f"direction must be 'any', 'positive', 'negative' (or 0, +1, -1 as scipy), "
                     f"got {direction!r}")
