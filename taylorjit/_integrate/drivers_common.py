"""Argument checks and run bookkeeping shared by the integrators' Python drivers.

The scalar integrator (:mod:`taylorjit._integrate.integrator` and its parts) and the
batch integrator (:mod:`taylorjit._integrate.batch`) check ``max_delta_t``,
``max_steps`` and output grids the same way, refuse a nested propagation of an
integrator from its own callbacks (:data:`_PROPAGATING`), show the same progress bar,
grow continuous-output buffers the same way and map the loops' outcome codes
(:mod:`taylorjit._integrate.stepcodes`) to :class:`taylorjit.Outcome` with
:data:`OUTCOMES`.
"""
from __future__ import annotations

import math
import operator
import warnings

import numpy as np

from .odesys import Outcome
from .stepcodes import OC_ERR_NF, OC_STEP_LIMIT, OC_SUCCESS, OC_TIME_LIMIT

__all__ = ["OUTCOMES", "check_max_dt", "check_max_steps", "check_grid", "reentrant_error",
           "make_progress", "grow_c"]

OUTCOMES = {OC_SUCCESS: Outcome.success, OC_TIME_LIMIT: Outcome.time_limit,
            OC_STEP_LIMIT: Outcome.step_limit, OC_ERR_NF: Outcome.err_nf_state}
# empty arrays for the loops' unused output arguments (grid, continuous output)
EMPTY1 = np.zeros(0)
EMPTY2 = np.zeros((0, 0))
EMPTY3 = np.zeros((0, 0, 0))


def check_max_dt(max_delta_t):
    if max_delta_t is None:
        return math.inf
    m = float(max_delta_t)
    if math.isnan(m) or m <= 0.0:
        raise ValueError(f"max_delta_t must be positive (a step length limit), got {m!r}")
    return m


def check_max_steps(max_steps):
    """``max_steps`` as an int (0: no limit): integers (numpy's too) and integral floats;
    anything else raises instead of being truncated."""
    if max_steps is None:
        return 0
    if isinstance(max_steps, (float, np.floating)):
        if not (math.isfinite(max_steps) and float(max_steps).is_integer()):
            raise ValueError(f"max_steps must be a whole number of steps (0: no limit), got "
                             f"{float(max_steps)!r}: pass an int")
        m = int(max_steps)
    else:
        try:
            if isinstance(max_steps, (bool, np.bool_)):
                raise TypeError
            m = operator.index(max_steps)
        except TypeError:
            raise TypeError(f"max_steps must be a whole number of steps (an int, 0: no limit), "
                            f"got {type(max_steps).__name__} {max_steps!r}") from None
    if m < 0 or m >= 2**63:
        raise ValueError(f"max_steps must be a non-negative integer below 2**63 (0: no limit), "
                         f"got {m}")
    return m


# ids of the integrators inside a step or propagation that can call user code (step
# callbacks, event callbacks): a nested step or propagation of the same integrator from
# there would reset the bookkeeping (final time, step counts, limits) of the outer call
_PROPAGATING = set()


def reentrant_error(what):
    return RuntimeError(
        f"{what}() was called while this integrator is already propagating (from a callback "
        "of its own step, propagate_* call or event): a nested propagation would corrupt the "
        "outer one. Propagate a copy instead (copy.deepcopy(ta)), or return False from the "
        "callback to stop the outer propagation and continue after it returns")


def make_progress(progress, t0, t1):
    """A tqdm bar over |t - t0|, or None (with a warning when tqdm is missing)."""
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        warnings.warn("progress=True needs the tqdm package (pip install tqdm); "
                      "continuing without a progress bar", stacklevel=3)
        return None
    return tqdm(total=abs(t1 - t0), unit="time")


def check_grid(g, t_now):
    if g.shape[0] == 0:
        raise ValueError("the grid is empty: pass at least the current time")
    if not np.all(np.isfinite(g)):
        raise ValueError("the grid contains non-finite values: pass finite times")
    if g[0] != t_now:
        raise ValueError(f"the grid starts at {float(g[0])!r} but the integrator is at "
                         f"t = {float(t_now)!r}: start the grid at the current time (ta.time), "
                         "or propagate_until(grid[0]) first")
    if g.shape[0] > 1:
        d = np.diff(g)
        if not (np.all(d > 0) or np.all(d < 0)):
            raise ValueError("the grid must be strictly monotonic (all increasing or all "
                             "decreasing, no repeated times)")


def grow_c(ctc, ct):
    """Continuous-output buffers (coefficients of each step, step boundaries) of twice
    the capacity, the stored steps kept."""
    cap = 2 * ctc.shape[0]
    return _grow(ctc, cap), _grow(ct, cap + 1)


def _grow(a, rows):
    b = np.empty((rows,) + a.shape[1:])
    b[: a.shape[0]] = a
    return b
