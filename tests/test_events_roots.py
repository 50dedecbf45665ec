"""Root finding on event polynomials (taylorjit._integrate.roots) against independent roots.

References: polynomials built from known roots (coefficients by mpmath at 50
digits, rounded once), numpy.roots and mpmath.polyroots for random ones.
"""
import mpmath as mp
import numpy as np
import pytest

from taylorjit._integrate.roots import (auto_cooldown, brent_poly, event_roots, make_workspace, poly_eval,
    poly_eval_d)

EPS = np.finfo(float).eps
ORDER = 20


@pytest.fixture(scope="module")
def work():
    return make_workspace(ORDER)


def coeffs_from_roots(roots, scale=1.0, order=ORDER, extra=()):
    """Ascending coefficients of scale * prod(tau - r) * prod(extra quadratics), 50 digits."""
    mp.mp.dps = 50
    c = [mp.mpf(scale)]
    for r in roots:
        r = mp.mpf(r)
        new = [mp.mpf(0)] * (len(c) + 1)
        for k, ck in enumerate(c):
            new[k] -= r * ck
            new[k + 1] += ck
        c = new
    for (b, cc) in extra:               # factors tau^2 + b tau + cc without real roots
        new = [mp.mpf(0)] * (len(c) + 2)
        for k, ck in enumerate(c):
            new[k] += cc * ck
            new[k + 1] += b * ck
            new[k + 2] += ck
        c = new
    g = np.zeros(order + 1)
    g[:len(c)] = [float(x) for x in c]
    return g


def run(g, h, work, direction=0, cd=0.0):
    ws, iv, out = work
    n = event_roots(g, ORDER, h, direction, cd, ws, iv, out)
    return out[:n].copy()


def test_horner_and_derivative():
    g = np.arange(1.0, ORDER + 2)
    for x in (0.3, -1.7, 0.0):
        assert poly_eval(g, ORDER, x) == pytest.approx(np.polyval(g[::-1], x), rel=1e-14)
        assert poly_eval_d(g, ORDER, x) == pytest.approx(np.polyval(np.polyder(g[::-1]), x), rel=1e-14)


def test_simple_roots_in_time_order(work):
    roots = [0.7, 0.1, 0.35]
    r = run(coeffs_from_roots(roots), 1.0, work)
    np.testing.assert_allclose(r[:, 0], sorted(roots), rtol=4 * EPS)
    assert list(r[:, 1]) == [1.0, -1.0, 1.0]     # (tau-.1)(tau-.35)(tau-.7): + - + slopes
    # |g'| at the roots
    np.testing.assert_allclose(r[:, 2], [abs((0.1 - .35) * (.1 - .7)), abs((.35 - .1) * (.35 - .7)),
                                         abs((.7 - .1) * (.7 - .35))], rtol=1e-13)


@pytest.mark.parametrize("direction, expect", [(-1, [0.35]), (1, [0.1, 0.7])])
def test_direction_filter(work, direction, expect):
    r = run(coeffs_from_roots([0.1, 0.35, 0.7]), 1.0, work, direction=direction)
    np.testing.assert_allclose(r[:, 0], expect, rtol=4 * EPS)


def test_negative_step(work):
    # roots at -0.2 and -0.5 inside (h, 0] with h = -1; 3.0 and -1.5 outside
    g = coeffs_from_roots([-0.2, -0.5, 3.0, -1.5])
    r = run(g, -1.0, work)
    np.testing.assert_allclose(r[:, 0], [-0.2, -0.5], rtol=4 * EPS)
    # direction is d g / d t: at -0.2, g goes from + (tau=0 side...) use the derivative
    for tau, s in r[:, :2]:
        assert s == np.sign(poly_eval_d(g, ORDER, tau))


def test_half_open_range(work):
    # a root at 0 is reported, a root exactly at h is not (it belongs to the next step)
    r = run(coeffs_from_roots([0.0, 0.5, 1.0]), 1.0, work)
    np.testing.assert_allclose(r[:, 0], [0.0, 0.5], atol=0, rtol=4 * EPS)
    r = run(coeffs_from_roots([0.0, -0.5, -1.0]), -1.0, work)
    np.testing.assert_allclose(r[:, 0], [0.0, -0.5], rtol=4 * EPS)


def test_roots_near_the_end_points(work):
    roots = [1e-13, 1 - 1e-13]
    r = run(coeffs_from_roots(roots), 1.0, work)
    np.testing.assert_allclose(r[:, 0], roots, rtol=1e-6)   # conditioned by the coefficients


def test_quick_exclusion_is_conservative(work):
    # g = 1 - tau has its only root at tau = 1: excluded for h = 1 - 1e-15, found for 1 + 1e-12
    g = np.zeros(ORDER + 1)
    g[0], g[1] = 1.0, -1.0
    assert len(run(g, 1.0 - 1e-15, work)) == 0
    r = run(g, 1.0 + 1e-12, work)
    assert len(r) == 1 and r[0, 0] == 1.0
    # no root at all: excluded (the bound) or rejected (the isolation)
    g2 = coeffs_from_roots([], scale=1.0, extra=[(0.0, 0.25)])    # tau^2 + 1/4
    assert len(run(g2, 1.0, work)) == 0


def test_identically_zero_has_no_crossing(work):
    assert len(run(np.zeros(ORDER + 1), 1.0, work)) == 0


def test_tangential_double_root_does_not_crash(work):
    # (tau - 0.4)^2 (tau - 0.9): the double root is a contact, not a crossing
    r = run(coeffs_from_roots([0.4, 0.4, 0.9]), 1.0, work)
    np.testing.assert_allclose(r[:, 0], [0.9], rtol=4 * EPS)
    # pure square: no crossing anywhere
    assert len(run(coeffs_from_roots([0.4, 0.4]), 1.0, work)) == 0
    # triple root: a crossing (odd multiplicity), located to the cube root of eps
    r = run(coeffs_from_roots([0.4, 0.4, 0.4]), 1.0, work)
    assert len(r) == 1 and abs(r[0, 0] - 0.4) < 1e-5


def test_clustered_roots(work):
    # three roots 1e-3 apart: g ~ 1e-9 between them, well above the rounding
    # noise (1e-16) of the coefficients, so they are separable in double
    roots = [0.5, 0.5 + 1e-3, 0.5 + 2e-3, 0.8]
    r = run(coeffs_from_roots(roots), 1.0, work)
    assert len(r) == 4
    np.testing.assert_allclose(r[:, 0], roots, rtol=0, atol=1e-9)   # eps * sum|g_k| / |g_prime| ~ 7e-10
    # a cluster closer than double can resolve (1e-7 apart) must not crash and
    # reports an odd number of crossings near 0.5 (sign changes once overall)
    roots = [0.5, 0.5 + 1e-7, 0.5 + 2e-7, 0.8]
    r = run(coeffs_from_roots(roots), 1.0, work)
    near = [t for t in r[:, 0] if abs(t - 0.5) < 1e-4]
    assert len(near) % 2 == 1 and abs(r[-1, 0] - 0.8) < 1e-12


def test_cooldown_skips_early_roots(work):
    g = coeffs_from_roots([1e-10, 0.5])
    assert len(run(g, 1.0, work)) == 2
    r = run(g, 1.0, work, cd=1e-6)
    np.testing.assert_allclose(r[:, 0], [0.5], rtol=4 * EPS)
    assert len(run(g, 1.0, work, cd=2.0)) == 0


@pytest.mark.parametrize("seed", range(40))
def test_random_known_roots(work, seed):
    """Random degree-2..12 polynomials with random real roots in [-1.5 h, 1.5 h]
    plus complex pairs; every root in the step is found, to a few ulps of |h|
    relative to the root's conditioning."""
    rng = np.random.default_rng(seed)
    h = rng.choice([-1.0, 1.0]) * 10 ** rng.uniform(-3, 2)
    nreal = rng.integers(1, 7)
    roots = list(h * rng.uniform(-0.5, 1.5, nreal))
    extra = [(float(-2 * h * a), float(h * h * (a * a + b * b)))
             for a, b in rng.uniform(0.1, 1.0, (rng.integers(0, 3), 2))]
    g = coeffs_from_roots(roots, scale=10 ** rng.uniform(-5, 5), extra=extra)
    r = run(g, h, work)
    inside = sorted([x for x in roots if 0 <= x / h < 1], key=abs)
    # reference: mpmath polyroots on the (rounded) double coefficients
    mp.mp.dps = 60
    deg = int(np.max(np.nonzero(g)))
    ref = mp.polyroots([mp.mpf(float(c)) for c in g[:deg + 1][::-1]], maxsteps=400, extraprec=400)
    ref = sorted([float(mp.re(z)) for z in ref if abs(mp.im(z)) < 1e-20 and 0 <= float(mp.re(z)) / h < 1],
                 key=abs)
    assert len(r) == len(inside) == len(ref)
    for got, want in zip(r[:, 0], ref):
        # error bound: eps * cond; cond = sum|g_k||tau|^k / (|tau| |g'(tau)|)
        cond = np.polyval(np.abs(g[::-1]), abs(want)) / max(abs(poly_eval_d(g, ORDER, want)), 1e-300)
        assert abs(got - want) <= 8 * EPS * (cond + abs(want))


def test_against_numpy_roots_random_coefficients(work):
    rng = np.random.default_rng(7)
    for _ in range(50):
        g = rng.normal(size=ORDER + 1) / np.arange(1, ORDER + 2) ** 2
        h = rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 2.0)
        r = run(g, h, work)
        ref = np.roots(g[::-1])
        ref = sorted([z.real for z in ref if abs(z.imag) < 1e-9 and 0 <= z.real / h < 1], key=abs)
        assert len(r) == len(ref)
        np.testing.assert_allclose(r[:, 0], ref, rtol=1e-9, atol=1e-12)


def test_brent_polishes_to_ulps():
    g = np.zeros(ORDER + 1)
    g[0], g[2] = -2.0, 1.0                     # tau^2 - 2
    root = brent_poly(g, ORDER, 1.0, 2.0, -1.0, 2.0)
    assert abs(root - np.sqrt(2.0)) <= 2 * EPS * np.sqrt(2.0)


def test_auto_cooldown():
    assert auto_cooldown(1e-16, 2.0) == pytest.approx(5e-16)
    assert auto_cooldown(1e-16, 0.0) == 0.0
    assert auto_cooldown(np.inf, 1.0) == 0.0
