"""Exclusion tests of the event root finder: steps on which no root can be reported.

On most steps an event function is far from zero, or moves the wrong way for its
direction; these tests prove it cheaply, before the root isolation of
:mod:`taylorjit._integrate.roots`:

* :func:`fast_exclude` -- a monomial-by-monomial enclosure of ``g`` over the step,
  run on every step (it contains heyoka's quick test);
* :func:`_no_reported_root` -- interval-Horner enclosures of ``g`` and of ``g'``;
* :func:`wrong_direction` -- an enclosure of ``g'`` of the unwanted sign;
* :func:`_cooldown_exclude` -- the step right after a terminal event, whose own
  root lies inside the cooldown.

Each is sound for the Horner evaluations of
:mod:`taylorjit._integrate.roots_polish` (no value the root finder decides on could
vanish or change sign), so it changes the cost, never the roots.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .roots_polish import _OPTS, EPS, poly_eval

__all__ = ["fast_exclude", "wrong_direction"]


@njit(**_OPTS)
def _no_reported_root(g, n, h, direction, acc):
    """True when :func:`event_roots` provably reports no root on the step, so the
    isolation can be skipped (the result is the same, bit for bit).

    Every value that :func:`event_roots` decides on is a Horner evaluation, of ``g``
    (:func:`poly_eval`) or of ``g'`` (:func:`poly_eval_d`), at a ``tau`` between 0
    and ``h``: it reports a root only where such values of ``g`` vanish or change
    sign, and keeps it only where the value of ``g'`` has the wanted sign.
    Horner's rounding error at ``tau`` is at most ``gamma_2n sum |c_k| |tau|^k``
    (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., eq. 5.3),
    with ``gamma_2n ~ n eps``.  An interval Horner evaluation over ``[0, h]``
    (heyoka's fast exclusion check keeps the signs of the coefficients, unlike
    the ``|g0| > sum |g_k| |h|^k`` test before it) encloses ``g`` on the step up
    to the same error; if the enclosure stays farther than ``8 (n + 2) eps
    sum |c_k| |h|^k`` (four times both errors) from zero, every evaluated value
    has the sign of the enclosure:

    * the enclosure of ``g`` excludes zero: no value of ``g`` vanishes or changes
      sign, no root;
    * ``direction != 0`` and the enclosure of ``g'`` lies on the unwanted side:
      every root found would be dropped by its direction.

    ``acc`` is ``sum_{k>=1} |g_k| |h|^k`` (the quick exclusion's sum)."""
    lo_ = g[n]
    hi_ = g[n]
    for k in range(n - 1, -1, -1):
        a = lo_ * h
        b = hi_ * h
        if a > b:
            a, b = b, a
        # [lo_, hi_] * [min(0, h), max(0, h)] = hull(0, lo_ h, hi_ h)
        lo_ = min(a, 0.0) + g[k]
        hi_ = max(b, 0.0) + g[k]
    marg = 8.0 * (n + 2) * EPS * (acc + abs(g[0]))
    if lo_ > marg or hi_ < -marg:
        return True
    if direction == 0 or n < 1:
        return False
    ah = abs(h)
    c = n * g[n]            # poly_eval_d's coefficients k * g[k], the same roundings
    lo_ = c
    hi_ = c
    dacc = abs(c)
    for k in range(n - 1, 0, -1):
        c = k * g[k]
        a = lo_ * h
        b = hi_ * h
        if a > b:
            a, b = b, a
        lo_ = min(a, 0.0) + c
        hi_ = max(b, 0.0) + c
        dacc = dacc * ah + abs(c)
    marg = 8.0 * (n + 2) * EPS * dacc
    if direction > 0:
        return hi_ < -marg      # g decreases on the whole step: no upward crossing
    return lo_ > marg           # g increases on the whole step: no downward crossing


@njit(inline="always", error_model="numpy")
def _deriv_enclosure(g, n, h):
    """``(dlo, dhi, dabs, bsum)``: the monomial enclosure ``[dlo, dhi]`` of ``g'`` over
    the step, ``g'(tau) = g_1 + sum_{k>=2} e_k s^(k-1)`` with ``e_k = (k g_k) h^(k-1)``
    (the coefficients ``k g_k`` rounded as :func:`poly_eval_d` rounds them) and ``s``
    in ``[0, 1]``; ``dabs = sum |e_k|`` (with ``|g_1|``) and ``bsum = sum_{k>=1} |g_k|
    |h|^(k-1)``.  Needs ``n >= 1``."""
    dlo = g[1]
    dhi = g[1]
    dabs = abs(g[1])
    bsum = abs(g[1])
    hp = 1.0
    for k in range(2, n + 1):
        hp *= h
        e = (k * g[k]) * hp
        if e < 0.0:
            dlo += e
        else:
            dhi += e
        dabs += abs(e)
        bsum += abs(g[k] * hp)
    return dlo, dhi, dabs, bsum


@njit(**_OPTS)
def wrong_direction(g, n, h, direction):
    """True when ``direction != 0`` and every root :func:`event_roots` could find on
    the step would be dropped for its direction: the enclosure of ``g'``
    (:func:`_deriv_enclosure`) lies on the unwanted side farther than ``8 (n + 2)
    eps sum |e_k|`` from zero, so every Horner value of ``g'`` the root finder
    computes (error below ``gamma_2n sum |e_k|``) has the unwanted sign (as the
    interval-Horner test of :func:`_no_reported_root`, without its ``order``-long
    dependency chain).  Run before the isolation on steps where ``g`` may vanish:
    on a Poincaré section half of them cross the wrong way."""
    if direction == 0 or n < 1:
        return False
    dlo, dhi, dabs, bsum = _deriv_enclosure(g, n, h)
    if not np.isfinite(dabs):
        return False
    marg = 8.0 * (n + 2) * EPS * dabs
    if direction > 0:
        return dhi < -marg
    return dlo > marg


@njit(**_OPTS)
def _cooldown_exclude(g, n, h, lo):
    """True when :func:`event_roots` provably reports no root with ``|tau|`` in
    ``[lo, |h|)``, ``0 < lo < |h|``: the step right after a terminal event, which
    starts on the event's own root, inside its cooldown (heyoka's cooldown exists
    for that root).  The exclusions before this one cannot see that the root at the
    start does not count, and the isolation would bisect around it (~0.8 us).

    Argument, with ``phi(u) = g(u sign(h))``, ``u`` in ``[0, |h|]``: if an enclosure
    of ``g'`` over the step (monomial by monomial, as :func:`fast_exclude`) has one
    sign, ``phi`` is monotone with ``|phi'| >= m``.  Every value :func:`event_roots`
    could report a root from (its bracket ends, Brent's iterates, exact zeros at
    midpoints; roots below ``lo`` are dropped) is a Horner evaluation at some
    ``u >= u0 = lo (1 - 16 eps)`` (the bracket end ``(lo / |h|) h`` rounds to no
    less), with error below ``gam (|g_0| + sum_k |g_k| u^k)``, ``gam = 8 (n + 2)
    eps`` (eight times Higham's bound).  Growing away from zero from ``u0`` on,
    ``|phi(u)| >= |phi(u0)| + m (u - u0)``, a linear function, while the error
    bound is convex in ``u``: their difference is smallest at ``u0`` or ``|h|``,
    and both ends are checked (``phi(u0)`` itself from a Horner value with the
    same bound).  Then no evaluated value vanishes or changes sign: no root."""
    if n < 1:
        return False
    sg = 1.0 if h > 0.0 else -1.0
    ah = abs(h)
    dlo, dhi, dabs, bsum = _deriv_enclosure(g, n, h)
    g0 = g[0]
    if not (np.isfinite(dabs) and np.isfinite(bsum) and np.isfinite(g0)):
        return False
    gam = 8.0 * (n + 2) * EPS
    dm = gam * dabs
    if dlo > dm:
        s = 1.0                 # g increases on the whole step
        m = dlo - dm
    elif dhi < -dm:
        s = -1.0
        m = -dhi - dm
    else:
        return False
    mono = s * sg               # the sign of phi'
    u0 = lo * (1.0 - 16.0 * EPS)
    v = mono * poly_eval(g, n, u0 * sg)     # |phi(u0)| if phi moves away from zero
    e0 = gam * (abs(g0) + u0 * bsum)
    if not (v - 2.0 * e0 > 0.0):
        return False
    return v - e0 + m * (ah - u0) - gam * (abs(g0) + ah * bsum) > 0.0



@njit(inline="always", error_model="numpy")
def fast_exclude(g, n, h):
    """True when ``g`` provably has no root that :func:`event_roots` would report on
    the step ``[0, h)``: the cheap test run on every step, before everything else.

    The enclosure is monomial by monomial: with ``tau = s h``, ``s`` in ``[0, 1]``,
    ``g_k tau^k = c_k s^k`` lies between 0 and ``c_k = g_k h^k``, so ``g`` lies in
    ``[g_0 + sum min(0, c_k), g_0 + sum max(0, c_k)]``.  This contains the quick test
    ``|g_0| > sum |c_k|`` (heyoka's fast exclusion check) and also excludes the
    steps where ``g`` moves away from zero (about half of those it cannot).  Written
    for latency, since it runs on every step inside the integrator's chain of
    dependent steps: the powers ``h^k`` and the sums in four independent chains
    (``h^4``-strided), a Horner chain of ``order`` additions and multiplications
    being ~4x longer.

    Soundness (so that skipping the isolation leaves the roots unchanged, bit for
    bit): every value :func:`event_roots` decides on is a Horner evaluation of ``g``
    at some ``tau`` between 0 and ``h``, with error below ``gamma_2n (|g_0| + sum
    |c_k|)`` (Higham, eq. 5.3; ``gamma_2n ~ n eps``); the enclosure computed here
    is off by less than ``(n / 2 + 5) eps sum |c_k|``.  Excluding only when the
    enclosure is farther than ``8 (n + 2) eps (|g_0| + sum |c_k|)`` from zero, no
    evaluated value vanishes or changes sign, so no root would be reported.
    Non-finite values never exclude (NaN comparisons are false, and the sum of
    ``|c_k|`` must be finite): those steps take the full path and its checks."""
    h2 = h * h
    h4 = h2 * h2
    q1 = h
    q2 = h2
    q3 = h2 * h
    q4 = h4
    lo1 = lo2 = lo3 = lo4 = 0.0
    hi1 = hi2 = hi3 = hi4 = 0.0
    a1 = a2 = a3 = a4 = 0.0
    k = 1
    while k + 3 <= n:
        c1 = g[k] * q1
        c2 = g[k + 1] * q2
        c3 = g[k + 2] * q3
        c4 = g[k + 3] * q4
        a1 += abs(c1)
        a2 += abs(c2)
        a3 += abs(c3)
        a4 += abs(c4)
        if c1 < 0.0:
            lo1 += c1
        else:
            hi1 += c1
        if c2 < 0.0:
            lo2 += c2
        else:
            hi2 += c2
        if c3 < 0.0:
            lo3 += c3
        else:
            hi3 += c3
        if c4 < 0.0:
            lo4 += c4
        else:
            hi4 += c4
        q1 *= h4
        q2 *= h4
        q3 *= h4
        q4 *= h4
        k += 4
    while k <= n:                   # the last n % 4 powers
        c1 = g[k] * q1
        a1 += abs(c1)
        if c1 < 0.0:
            lo1 += c1
        else:
            hi1 += c1
        q1 *= h
        k += 1
    g0 = g[0]
    a = (a1 + a2) + (a3 + a4)
    if not (np.isfinite(a) and np.isfinite(g0)):
        return False
    marg = 8.0 * (n + 2) * EPS * (a + abs(g0))
    lo_ = g0 + ((lo1 + lo2) + (lo3 + lo4))
    hi_ = g0 + ((hi1 + hi2) + (hi3 + hi4))
    return lo_ > marg or hi_ < -marg
