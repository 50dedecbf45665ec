"""Polynomial evaluation and root polishing for the event root finder (compiled).

The values that :mod:`taylorjit._integrate.roots` decides on are Horner
evaluations of the event polynomial ``g(tau) = sum_k g[k] tau^k`` over a step
(:func:`poly_eval`) and of its derivative (:func:`poly_eval_d`); each isolating
bracket is polished by Brent's method on the original polynomial in ``tau``
(:func:`brent_poly`), so the rescaling of the isolation does not enter the root.
:func:`auto_cooldown` is heyoka's automatic cooldown after a terminal event.
The exclusion tests (:mod:`taylorjit._integrate.roots_exclude`) are sound with
respect to exactly these evaluations.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .._symbolic.registry import no_refcount_opts

__all__ = ["poly_eval", "poly_eval_d", "auto_cooldown", "brent_poly", "EPS"]

EPS = np.finfo(np.float64).eps

_OPTS = dict(cache=True, nogil=True, error_model="numpy", **no_refcount_opts())


@njit(**_OPTS)
def poly_eval(g, order, tau):
    """Horner evaluation of ``sum_{k<=order} g[k] tau^k``."""
    acc = g[order]
    for k in range(order - 1, -1, -1):
        acc = acc * tau + g[k]
    return acc


@njit(**_OPTS)
def poly_eval_d(g, order, tau):
    """Horner evaluation of the derivative ``sum_{k>=1} k g[k] tau^(k-1)``."""
    if order < 1:
        return 0.0
    acc = order * g[order]
    for k in range(order - 1, 0, -1):
        acc = acc * tau + k * g[k]
    return acc


@njit(**_OPTS)
def auto_cooldown(g_eps, abs_der):
    """heyoka's automatic cooldown ``10 g_eps / |g'|`` (0 if not finite)."""
    if abs_der > 0.0:
        r = 10.0 * g_eps / abs_der
        if np.isfinite(r):
            return r
    return 0.0


@njit(**_OPTS)
def brent_poly(g, order, a, b, fa, fb):
    """Root of the polynomial ``g`` in the bracket ``[a, b]`` (``fa * fb < 0``).

    Brent's method (Brent 1973, *Algorithms for Minimization without
    Derivatives*, ch. 4, procedure ``zero``) with tolerance
    ``2 eps |b|``: the result is within a few ulps of a root of the polynomial as
    evaluated by Horner.
    """
    c = a
    fc = fa
    d = b - a
    e = d
    for _ in range(200):
        if (fb > 0.0) == (fc > 0.0):
            c = a
            fc = fa
            d = b - a
            e = d
        if abs(fc) < abs(fb):
            a = b
            b = c
            c = a
            fa = fb
            fb = fc
            fc = fa
        tol = 2.0 * EPS * abs(b) + 1e-300
        m = 0.5 * (c - b)
        if abs(m) <= tol or fb == 0.0:
            return b
        if abs(e) >= tol and abs(fa) > abs(fb):
            s = fb / fa
            if a == c:
                p = 2.0 * m * s
                q = 1.0 - s
            else:
                q = fa / fc
                r = fb / fc
                p = s * (2.0 * m * q * (q - r) - (b - a) * (r - 1.0))
                q = (q - 1.0) * (r - 1.0) * (s - 1.0)
            if p > 0.0:
                q = -q
            else:
                p = -p
            if 2.0 * p < min(3.0 * m * q - abs(tol * q), abs(e * q)):
                e = d
                d = p / q
            else:
                d = m
                e = m
        else:
            d = m
            e = m
        a = b
        fa = fb
        if abs(d) > tol:
            b = b + d
        elif m > 0.0:
            b = b + tol
        else:
            b = b - tol
        fb = poly_eval(g, order, b)
    return b
