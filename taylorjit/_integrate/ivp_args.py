"""Argument checks of :func:`~.solve_ivp.solve_ivp` (scipy's rules and
messages): the method and options, the tolerances and their shapes, ``t_eval``.
Also used by the complex front end (:mod:`.complex_ivp`).
"""
from __future__ import annotations

import warnings

import numpy as np

EPS = float(np.finfo(float).eps)
_SCIPY_METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")
_KNOWN_OPTIONS = ("rtol", "atol", "max_step", "first_step", "tol", "compact", "high_accuracy")


def _check_options(options, method):
    if method != "taylor":
        if method in _SCIPY_METHODS or (isinstance(method, type)):
            warnings.warn(f"method={getattr(method, '__name__', method)!r} is scipy's; "
                          "taylorjit.solve_ivp always integrates with the adaptive Taylor "
                          "method (use scipy.integrate.solve_ivp for the others)", stacklevel=3)
        else:
            raise ValueError(f"unknown method {method!r}: taylorjit.solve_ivp implements "
                             "method='taylor'")
    unknown = sorted(set(options) - set(_KNOWN_OPTIONS))
    if unknown:
        warnings.warn(f"The following arguments have no effect for a chosen solver: "
                      f"{', '.join(unknown)}.", stacklevel=3)
    rtol = options.get("rtol", 1e-3)
    atol = options.get("atol", 1e-6)
    if options.get("tol") is not None:
        tol = float(options["tol"])
    else:
        rtol_a = np.asarray(rtol, dtype=float)
        atol_a = np.asarray(atol, dtype=float)
        if np.any(rtol_a <= 0) or np.any(atol_a < 0):
            raise ValueError(f"rtol must be positive and atol non-negative, got rtol={rtol!r}, "
                             f"atol={atol!r}")
        if np.any(rtol_a < EPS):
            # scipy's warning (its methods stop at 100 eps; the Taylor method reaches eps)
            warnings.warn(f"At least one element of `rtol` is too small. Setting "
                          f"`rtol = np.maximum(rtol, {EPS!r})`.", stacklevel=3)
        cand = [float(np.min(rtol_a))] + ([float(np.min(atol_a))] if np.any(atol_a > 0) else [])
        tol = min(cand)
    tol = max(tol, EPS)
    max_step = options.get("max_step", np.inf)
    if max_step is None or max_step == np.inf:
        max_dt = None
    else:
        max_dt = float(max_step)
        if not max_dt > 0:
            raise ValueError(f"max_step must be positive, got {max_step!r}")
    first_step = options.get("first_step")
    if first_step is not None:
        first_step = float(first_step)
        if not first_step > 0:
            raise ValueError("`first_step` must be positive.")
    return (tol, max_dt, options.get("compact"), bool(options.get("high_accuracy", False)),
            first_step)


def _check_tol_shapes(options, n):
    """scipy's rule: ``rtol`` and ``atol`` are scalars or have one value per component."""
    for name in ("rtol", "atol"):
        if options.get(name) is None:
            continue
        a = np.asarray(options[name], dtype=float)
        if a.ndim > 0 and a.shape != (n,):
            raise ValueError(f"`{name}` has shape {a.shape} but the state has {n} components: "
                             f"pass a scalar or one value per component (shape ({n},))")


def _check_t_eval(t_eval, t0, tf):
    t_eval = np.asarray(t_eval, dtype=float)
    if t_eval.ndim != 1:
        raise ValueError("`t_eval` must be 1-dimensional.")
    lo, hi = min(t0, tf), max(t0, tf)
    if np.any(t_eval < lo) or np.any(t_eval > hi):
        raise ValueError("Values in `t_eval` are not within `t_span`.")
    d = np.diff(t_eval)
    if (tf >= t0 and np.any(d <= 0)) or (tf < t0 and np.any(d >= 0)):
        raise ValueError("Values in `t_eval` are not properly sorted.")
    return t_eval
