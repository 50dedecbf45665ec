"""Real roots of an event polynomial over one integration step (compiled).

During a step the event function ``g`` is known as a truncated Taylor
polynomial in the time offset ``tau`` from the start of the step::

    g(tau) = sum_k g[k] tau^k,      tau between 0 and h   (h < 0 backwards)

:func:`event_roots` returns the real roots in the half-open range ``[0, h)``
(``(h, 0]`` for backward steps), in time order, each with the sign of
``g'(tau)`` and ``|g'(tau)|``.  The algorithm (as in heyoka, see
DESIGN.md):

1. *Exclusion* (:func:`~taylorjit._integrate.roots_exclude.fast_exclude`, on every
   step): an enclosure of ``g`` over
   the step, monomial by monomial, that contains heyoka's quick test
   ``|g[0]| > sum_{k>=1} |g[k]| |h|^k``, with a margin for rounding; then, for the
   steps left, the quick test itself and interval-Horner enclosures of ``g`` and
   of ``g'`` (a root of the unwanted direction is no root:
   :func:`~taylorjit._integrate.roots_exclude._no_reported_root`).
   Each exclusion is sound for the computation below (no value it decides on
   could vanish or change sign), so it changes the cost, never the roots.  On a
   Poincaré section (Hénon–Heiles, x = 0 upwards) 94% of the steps stop here.
   The tests are in :mod:`taylorjit._integrate.roots_exclude`.
2. *Rescaling* to ``x = tau / h`` in ``[0, 1)``: ``q[k] = g[k] h^k``.
3. *Root isolation* by Descartes' rule of signs with bisection
   (Vincent-Collins-Akritas): the number of sign changes of the coefficients of
   ``(x + 1)^n q(1 / (x + 1))`` bounds the number of roots of ``q`` in
   ``(0, 1)`` and equals it modulo 2.  Zero changes: no root; one: an isolating
   interval; more: bisect into ``q(x / 2)`` and ``q((x + 1) / 2)`` (Taylor
   shifts by synthetic division, no binomial tables).  The work list is an
   explicit stack in a preallocated workspace (no recursion, no allocation per
   step); each child polynomial is normalised by its largest coefficient so
   deep bisection cannot overflow.  Bisection stops at depth ``MAX_DEPTH``
   (interval width ``2**-MAX_DEPTH``): a cluster narrower than that is kept as
   one bracket if ``g`` changes sign across it, and dropped otherwise (a
   tangential contact, e.g. a double root, is not a crossing).
4. *Polishing* each bracket with Brent's method on the **original**
4. *Polishing* each bracket with Brent's method on the **original**
   polynomial in ``tau`` (Horner), so the rescaling rounding does not enter the
   root (:mod:`taylorjit._integrate.roots_polish`).
5. *Direction* from the sign of ``g'`` at the root; roots of the unwanted
   direction are dropped.  Terminal events in cooldown pass the remaining
   cooldown ``cd_rem``: roots with ``|tau| < cd_rem`` are ignored.

The automatic cooldown after a terminal event is
:func:`~taylorjit._integrate.roots_polish.auto_cooldown`
``= 10 g_eps / |g'|`` (heyoka's rule: ``g_eps`` is the error estimate of the
event function's Taylor series, ``tol * max(1, ||state, events||_inf)`` but
not below ``eps * ||state, events||_inf``).

This module holds the isolation (steps 2, 3 and 5) and the entry points
:func:`event_roots` / :func:`roots_on_step`.  All functions are ``@njit`` with
``cache=True, nogil=True``: they are compiled once per installation and callable
from the compiled propagation loops.
"""
from __future__ import annotations

import numpy as np
from numba import njit

# (wrong_direction, auto_cooldown, brent_poly: re-exported, the events and tests use them)
from .roots_exclude import _cooldown_exclude, _no_reported_root, fast_exclude, wrong_direction
from .roots_polish import _OPTS, EPS, auto_cooldown, brent_poly, poly_eval, poly_eval_d

__all__ = ["event_roots", "roots_on_step", "fast_exclude", "wrong_direction", "make_workspace",
           "poly_eval", "poly_eval_d", "auto_cooldown", "brent_poly", "sort_rows_by_abs",
           "MAX_DEPTH", "STACK_SIZE"]

#: bisection depth limit (an interval of width 2**-MAX_DEPTH is not split further)
MAX_DEPTH = 44
#: capacity of the work stack (depth-first: at most MAX_DEPTH + 1 entries live)
STACK_SIZE = MAX_DEPTH + 4
#: cap on isolation iterations per polynomial (guards pathological noise)
MAX_ITER = 4000
# workspace rows after the stack: two scratch rows, then the binomials C(j, k)
TMP1 = STACK_SIZE
TMP2 = STACK_SIZE + 1
BINOM = STACK_SIZE + 2


@njit(**_OPTS)
def _shift1(a, ws, n):
    """In place: coefficients of ``a(x + 1)``, ``b_k = sum_{j>=k} C(j, k) a_j``.

    The binomials are rows ``BINOM + j`` of the workspace, and row ``TMP2`` is
    scratch.  Unlike synthetic division (a chain of dependent additions), the
    inner loop is independent and vectorises: ~5x faster at order 20."""
    b = ws[TMP2]
    for k in range(n + 1):
        b[k] = 0.0
    for j in range(n + 1):
        aj = a[j]
        row = ws[BINOM + j]
        for k in range(j + 1):
            b[k] += row[k] * aj
    for k in range(n + 1):
        a[k] = b[k]


@njit(**_OPTS)
def _sign_changes_rt(q, tmp, ws, n):
    """Sign changes of ``(x + 1)^n q(1 / (x + 1))`` (reverse, then shift by 1)."""
    for k in range(n + 1):
        tmp[k] = q[n - k]
    _shift1(tmp, ws, n)
    count = 0
    last = 0.0
    for k in range(n + 1):
        v = tmp[k]
        if v != 0.0:
            if last != 0.0 and (v > 0.0) != (last > 0.0):
                count += 1
            last = v
    return count


@njit(**_OPTS)
def _normalise(a, n):
    m = 0.0
    for k in range(n + 1):
        m = max(m, abs(a[k]))
    if m > 0.0 and np.isfinite(m):
        s = 1.0 / m
        for k in range(n + 1):
            a[k] *= s


@njit(**_OPTS)
def _add_root(out, n_out, tau, d, lo, hi, direction):
    """Append ``(tau, sign(d), |d|)`` to ``out`` if inside ``[lo, hi)`` in |tau|
    and of the wanted direction; returns the new count."""
    at = abs(tau)
    if not (at >= lo and at < hi):
        return n_out
    sg = 1.0 if d > 0.0 else (-1.0 if d < 0.0 else 0.0)
    if direction != 0 and sg != direction:
        return n_out
    if n_out >= out.shape[0]:
        return n_out
    for i in range(n_out):          # an endpoint root can be seen twice
        if out[i, 0] == tau:
            return n_out
    out[n_out, 0] = tau
    out[n_out, 1] = sg
    out[n_out, 2] = abs(d)
    return n_out + 1


@njit(inline="always", error_model="numpy")
def sort_rows_by_abs(a, n, col):
    """Stable insertion sort of the first ``n`` rows of ``a`` by ``|a[:, col]|``
    (few rows: root candidates of one step)."""
    ncol = a.shape[1]
    for i in range(1, n):
        j = i
        while j > 0 and abs(a[j - 1, col]) > abs(a[j, col]):
            for c in range(ncol):
                tmp = a[j, c]
                a[j, c] = a[j - 1, c]
                a[j - 1, c] = tmp
            j -= 1


@njit(**_OPTS)
def event_roots(g, order, h, direction, cd_rem, ws, iv, out):
    """Roots of ``g(tau) = sum g[k] tau^k`` with ``tau`` in ``[0, h)``.

    Parameters
    ----------
    g : float64[::1]
        Taylor coefficients of the event function over the step (``order + 1``).
    order : int
    h : float
        The step (negative for backward integration).
    direction : int
        0 any, +1 only roots where ``g`` increases in time, -1 decreasing.
    cd_rem : float
        Remaining cooldown (>= 0): roots with ``|tau| < cd_rem`` are ignored.
    ws, iv, out : workspaces from :func:`make_workspace`.

    Returns
    -------
    n : int
        Number of roots; ``out[i] = (tau_i, sign g'(tau_i), |g'(tau_i)|)`` for
        ``i < n``, sorted by ``|tau|`` (time order).
    """
    if h == 0.0 or not np.isfinite(h):
        return 0
    if fast_exclude(g, order, h):
        return 0
    return roots_on_step(g, order, h, direction, cd_rem, ws, iv, out)


@njit(**_OPTS)
def roots_on_step(g, order, h, direction, cd_rem, ws, iv, out):
    """:func:`event_roots` after :func:`fast_exclude` (for callers that ran it
    themselves: :func:`taylorjit._integrate.events.detect_events`); ``h`` is finite and nonzero."""
    n = order
    ah = abs(h)
    # 1. quick exclusion: |g0| > sum |g_k| |h|^k  (Horner on absolute values)
    acc = 0.0
    for k in range(n, 0, -1):
        acc = (acc + abs(g[k])) * ah
    if abs(g[0]) > acc * (1.0 + 4.0 * (n + 2) * EPS):
        return 0
    if not (np.isfinite(acc) and np.isfinite(g[0])):
        return 0
    if acc == 0.0 and g[0] == 0.0:
        return 0              # identically zero on the step: no crossing to report
    lo = cd_rem           # |tau| >= lo
    hi = ah               # |tau| < hi
    if lo >= hi:
        return 0
    if lo > 0.0 and _cooldown_exclude(g, n, h, lo):
        return 0              # the step after a terminal event: its root is behind
    # 1b. sharper exclusions (see _no_reported_root): an interval enclosure of g
    # over the step without zero, or of g' entirely of the unwanted direction
    if _no_reported_root(g, n, h, direction, acc):
        return 0
    lb_off = lo / ah
    n_out = 0
    # 2. rescale to x in [0, 1): q[k] = g[k] h^k, stored in stack slot 0
    stack = ws
    tmp = ws[TMP1]
    hk = 1.0
    for k in range(n + 1):
        stack[0, k] = g[k] * hk
        hk *= h
    _normalise(stack[0], n)
    iv[0, 0] = 0.0
    iv[0, 1] = 1.0
    iv[0, 2] = 0.0
    sp = 1
    n_iso = 0
    iso_base = STACK_SIZE
    max_iso = iv.shape[0] - iso_base
    it = 0
    if g[0] == 0.0:
        n_out = _add_root(out, n_out, 0.0, poly_eval_d(g, n, 0.0), lo, hi, direction)
    # 3. isolation (depth-first work stack)
    while sp > 0 and it < MAX_ITER:
        it += 1
        sp -= 1
        q = stack[sp]
        lb = iv[sp, 0]
        ub = iv[sp, 1]
        depth = iv[sp, 2]
        nsc = _sign_changes_rt(q, tmp, ws, n)
        # the original polynomial's signs at the end points (Horner on g, not q):
        # a strict sign change proves a crossing whatever rounding did to q
        fa = poly_eval(g, n, lb * h)
        fb = poly_eval(g, n, h if ub >= 1.0 else ub * h)
        crossing = fa != 0.0 and fb != 0.0 and (fa > 0.0) != (fb > 0.0)
        if crossing and (nsc <= 1 or depth >= MAX_DEPTH):
            if n_iso < max_iso:
                iv[iso_base + n_iso, 0] = lb
                iv[iso_base + n_iso, 1] = ub
                n_iso += 1
            continue
        if nsc == 0 or depth >= MAX_DEPTH:
            # no root, or a cluster without a sign change: a contact, not a crossing
            continue
        # nsc >= 2, or nsc == 1 with a root at an end point / a sign lost to
        # rounding: split further
        mid = 0.5 * (lb + ub)
        if sp + 2 > STACK_SIZE:
            continue          # cannot happen with MAX_DEPTH < STACK_SIZE - 2 (guard)
        # left child q(x/2) in place (slot sp), right child q((x+1)/2) in slot sp+1
        s = 1.0
        for k in range(n + 1):
            q[k] *= s
            s *= 0.5
        right = stack[sp + 1]
        for k in range(n + 1):
            right[k] = q[k]
        _shift1(right, ws, n)
        _normalise(q, n)
        _normalise(right, n)
        tau = mid * h
        if poly_eval(g, n, tau) == 0.0:     # a root exactly at the midpoint
            n_out = _add_root(out, n_out, tau, poly_eval_d(g, n, tau), lo, hi, direction)
        if lb_off < mid:           # keep the left half only if it reaches past the cooldown
            iv[sp, 0] = lb
            iv[sp, 1] = mid
            iv[sp, 2] = depth + 1.0
            iv[sp + 1, 0] = mid
            iv[sp + 1, 1] = ub
            iv[sp + 1, 2] = depth + 1.0
            sp += 2
        else:
            for k in range(n + 1):
                q[k] = right[k]
            iv[sp, 0] = mid
            iv[sp, 1] = ub
            iv[sp, 2] = depth + 1.0
            sp += 1
    # 4. polish each isolating interval on the original polynomial
    for i in range(n_iso):
        lb = max(iv[iso_base + i, 0], lb_off)
        ub = iv[iso_base + i, 1]
        if lb >= ub:
            continue
        a = lb * h
        b = h if ub >= 1.0 else ub * h
        fa = poly_eval(g, n, a)
        fb = poly_eval(g, n, b)
        if fa == 0.0:
            root = a
        elif fb == 0.0:
            root = b
        elif (fa > 0.0) != (fb > 0.0):
            root = brent_poly(g, n, a, b, fa, fb)
        else:
            continue          # no sign change: tangential contact or rounding
        n_out = _add_root(out, n_out, root, poly_eval_d(g, n, root), lo, hi, direction)
    # 5. sort by |tau| (few entries)
    sort_rows_by_abs(out, n_out, 0)
    return n_out


def make_workspace(order: int):
    """Preallocated buffers ``(ws, iv, out)`` for :func:`event_roots` at ``order``."""
    ws = np.zeros((BINOM + order + 1, order + 1))
    for j in range(order + 1):                 # Pascal's triangle (exact while < 2^53)
        ws[BINOM + j, 0] = 1.0
        for k in range(1, j + 1):
            ws[BINOM + j, k] = ws[BINOM + j - 1, k - 1] + ws[BINOM + j - 1, k]
    iv = np.zeros((STACK_SIZE + order + 2, 3))
    out = np.zeros((order + 2, 3))
    return ws, iv, out
