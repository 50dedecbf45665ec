"""Real roots of an event polynomial over one integration step (compiled).

During a step the event function ``g`` is known as a truncated Taylor
polynomial in the time offset ``tau`` from the start of the step::

    g(tau) = sum_k g[k] tau^k,      tau between 0 and h   (h < 0 backwards)

:func:`event_roots` returns the real roots in the half-open range ``[0, h)``
(``(h, 0]`` for backward steps), in time order, each with the sign of
``g'(tau)`` and ``|g'(tau)|``.  The algorithm (as in heyoka, see
DESIGN.md):

1. *Exclusion* (:func:`fast_exclude`, on every step): an enclosure of ``g`` over
   the step, monomial by monomial, that contains heyoka's quick test
   ``|g[0]| > sum_{k>=1} |g[k]| |h|^k``, with a margin for rounding; then, for the
   steps left, the quick test itself and interval-Horner enclosures of ``g`` and
   of ``g'`` (a root of the unwanted direction is no root: :func:`_no_reported_root`).
   Each exclusion is sound for the computation below (no value it decides on
   could vanish or change sign), so it changes the cost, never the roots.  On a
   Poincaré section (Hénon–Heiles, x = 0 upwards) 94% of the steps stop here.
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
   polynomial in ``tau`` (Horner), so the rescaling rounding does not enter the
   root.
5. *Direction* from the sign of ``g'`` at the root; roots of the unwanted
   direction are dropped.  Terminal events in cooldown pass the remaining
   cooldown ``cd_rem``: roots with ``|tau| < cd_rem`` are ignored.

The automatic cooldown after a terminal event is :func:`auto_cooldown`
``= 10 g_eps / |g'|`` (heyoka's rule: ``g_eps`` is the error estimate of the
event function's Taylor series, ``tol * max(1, ||state, events||_inf)`` but
not below ``eps * ||state, events||_inf``).

All functions are ``@njit`` with explicit signatures, ``cache=True,
nogil=True``: they are compiled once per installation and callable from the
compiled propagation loops.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .._symbolic.registry import no_refcount_opts

__all__ = ["event_roots", "roots_on_step", "fast_exclude", "wrong_direction", "make_workspace", "poly_eval", "poly_eval_d", "auto_cooldown",
           "brent_poly", "MAX_DEPTH", "STACK_SIZE"]

EPS = np.finfo(np.float64).eps
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
