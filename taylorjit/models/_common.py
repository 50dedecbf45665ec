"""Helpers shared by the model builders: argument checking and vector algebra on
expressions (lists of three :class:`~taylorjit.Expr` or numbers)."""
from __future__ import annotations

import math
import numbers

from .._symbolic.expr import Expr, expr, nary_sum

__all__ = ["coeff", "is_zero", "dot", "cross", "vsub", "state_vars", "check_system_vars"]


def coeff(value, name, *, positive=False, nonnegative=False):
    """A model constant: a finite real number (returned as float) or an expression
    (``tj.par[i]`` for a runtime parameter, or any Expr), returned unchanged."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number or a taylorjit expression (e.g. "
                        f"tj.par[0] for a runtime parameter), got {type(value).__name__} "
                        f"{value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v!r}")
    if positive and not v > 0.0:
        raise ValueError(f"{name} must be positive, got {v!r}")
    if nonnegative and not v >= 0.0:
        raise ValueError(f"{name} must be >= 0, got {v!r}")
    return v


def is_zero(c):
    """True for the number 0 (a known-zero coefficient whose terms can be dropped)."""
    return isinstance(c, float) and c == 0.0


def dot(a, b):
    return nary_sum([a[k] * b[k] for k in range(3)])


def cross(a, b):
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def vsub(a, b):
    return [a[k] - b[k] for k in range(3)]


def state_vars(suffix=""):
    """The six variables ``x, y, z, vx, vy, vz`` (with ``suffix``, e.g. ``"_3"``)."""
    from .._symbolic.expr import var

    return [var(c + suffix) for c in ("x", "y", "z", "vx", "vy", "vz")]


def check_system_vars(sys, what):
    """Validate a list of (var, rhs) pairs; returns it as a list of (Expr, Expr)."""
    try:
        pairs = [(lhs, expr(rhs)) for lhs, rhs in sys]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be a list of (variable, rhs) pairs, as returned by the "
                        f"taylorjit.models functions: {exc}") from None
    for lhs, _ in pairs:
        if not (isinstance(lhs, Expr) and lhs.op == "var"):
            raise TypeError(f"{what}: the left-hand side {lhs!r} is not a variable (pairs are "
                            "(tj.var(...), rhs))")
    return pairs
