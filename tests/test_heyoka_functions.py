"""heyoka.py's kepF, kepDE, relu / relup and prod.

* values: kepF and kepDE against an independent mpmath root solve
  (``mpmath.findroot`` at 30 digits) at many points, NaN outside the domain,
  heyoka's values modulo 2 pi (taylorjit returns the unique real solution,
  heyoka its reduction to [0, 2 pi)); relu / relup with heyoka's conventions
  at 0, -0, NaN and infinities;
* Taylor coefficients to order 20 against ``mpmath.taylor`` of the same
  function (kepF / kepDE solved with findroot inside), every kernel kind;
* the symbolic derivatives against finite differences and sympy;
* Taylor integrations against heyoka's integrator (same states to ~1e-13);
* ``tj.prod`` as heyoka's ``prod``.

Bit-identity across kernel kinds (VM, specialised, unrolled, ...) is covered
by the registry meta-tests (tests/test_functions.py, test_kernels.py,
test_unrolled.py, ...), which pick these functions up from the registry.
"""
import math

import mpmath
import numpy as np
import pytest

import taylorjit as tj

EPS = np.finfo(float).eps
TWO_PI = 2.0 * math.pi
h, k, lam, x, y = tj.make_vars("h", "k", "lam", "x", "y")


# ----------------------------------------------------------------------------- references
def _findroot(g, x0):
    return mpmath.findroot(g, mpmath.mpf(x0), tol=mpmath.mpf(2) ** (-mpmath.mp.prec + 8))


def kepF_ref(hv, kv, lv):
    """F + h cos F - k sin F = lam, with mpmath.findroot (the root is unique)."""
    hv, kv, lv = mpmath.mpf(hv), mpmath.mpf(kv), mpmath.mpf(lv)
    return _findroot(lambda F: F + hv * mpmath.cos(F) - kv * mpmath.sin(F) - lv, lv)


def kepDE_ref(s0, c0, dm):
    """DE + s0 (1 - cos DE) - c0 sin DE = DM, with mpmath.findroot."""
    s0, c0, dm = mpmath.mpf(s0), mpmath.mpf(c0), mpmath.mpf(dm)
    return _findroot(lambda D: D + s0 * (1 - mpmath.cos(D)) - c0 * mpmath.sin(D) - dm, dm)


def _points(n, seed, emax=0.95):
    rng = np.random.default_rng(seed)
    e = emax * np.sqrt(rng.uniform(0, 1, n))
    w = rng.uniform(-math.pi, math.pi, n)
    a = rng.uniform(-20.0, 20.0, n)
    pts = list(zip(e * np.sin(w), e * np.cos(w), a))
    pts += [(0.0, 0.0, 0.0), (0.0, 0.0, 1e-300), (0.3, -0.2, 0.0), (0.5, 0.5, -1e-17),
            (0.1, 0.2, math.pi), (0.1, 0.2, -math.pi), (0.1, 0.2, TWO_PI), (0.6, 0.79, 1.0),
            (0.0, 0.99, 1e-3), (-0.99, 0.0, 2.0), (0.7, -0.7, 1e4), (0.2, 0.1, -1e6)]
    return pts


# ----------------------------------------------------------------------------- values
@pytest.mark.parametrize("name", ["kepF", "kepDE"])
def test_values_against_findroot(name):
    f, ref = (tj.kepF, kepF_ref) if name == "kepF" else (tj.kepDE, kepDE_ref)
    worst = 0.0
    with mpmath.workdps(30):
        for a, b, c in _points(300, 1 if name == "kepF" else 2):
            got = float(f(a, b, c))
            r = ref(a, b, c)
            # the condition number: 1 / (derivative of the left-hand side) times the
            # size of the terms of the equation
            if name == "kepF":
                den = 1 - a * mpmath.sin(r) - b * mpmath.cos(r)
            else:
                den = 1 + a * mpmath.sin(r) - b * mpmath.cos(r)
            scale = (abs(r) + abs(mpmath.mpf(c) - mpmath.mpf(c) % TWO_PI) + 1) / den
            err = float(abs(got - r) / (EPS * scale))
            worst = max(worst, err)
            assert err <= 2.0, (name, a, b, c, got, r)
    assert worst > 0.0


def test_exact_special_values():
    assert tj.kepF(0.0, 0.0, 1.25) == 1.25 and tj.kepF(0.0, 0.0, -7.5) == -7.5
    assert tj.kepDE(0.3, -0.4, 0.0) == 0.0           # heyoka's kepDE(s0, c0, 0) = 0 too
    assert tj.kepF(0.0, 0.0, 1e-300) == 1e-300
    # the unique real solution: 2 pi periodic shift
    a = float(tj.kepF(0.3, 0.4, 1.0))
    assert float(tj.kepF(0.3, 0.4, 1.0 + TWO_PI)) == pytest.approx(a + TWO_PI, abs=8 * EPS)
    a = float(tj.kepDE(0.3, 0.4, 1.0))
    assert float(tj.kepDE(0.3, 0.4, 1.0 - TWO_PI)) == pytest.approx(a - TWO_PI, abs=8 * EPS)


@pytest.mark.parametrize("f", [tj.kepF, tj.kepDE])
def test_nan_outside_the_domain(f):
    for args in [(0.6, 0.8, 1.0), (1.0, 0.0, 1.0), (0.0, -1.5, 0.3), (math.nan, 0.1, 1.0),
                 (0.1, 0.2, math.inf), (0.1, 0.2, math.nan), (0.1, math.inf, 1.0)]:
        assert math.isnan(float(f(*args))), args
    # compiled kernels too (cfunc refuses non-finite inputs)
    g = tj.cfunc([f(h, k, lam)], [h, k, lam])
    out = np.ravel(g(np.array([[0.6, 0.8, 1.0], [-1.0, 0.0, 2.0], [0.1, 0.2, 0.5]])))
    assert np.isnan(out[:2]).all() and np.isfinite(out[2])


def test_values_match_heyoka_modulo_two_pi():
    hy = pytest.importorskip("heyoka")
    H, K, L = hy.make_vars("h", "k", "lam")
    hf = hy.cfunc([hy.kepF(H, K, L), hy.kepDE(H, K, L)], [H, K, L])
    pts = np.ascontiguousarray(np.array(_points(200, 3)).T)
    ref = hf(pts)
    ours = tj.cfunc([tj.kepF(h, k, lam), tj.kepDE(h, k, lam)], [h, k, lam])(pts.T).T
    for i in range(2):
        d = np.abs(np.remainder(ours[i] - ref[i] + math.pi, TWO_PI) - math.pi)
        assert np.all(d <= 1e-12 * np.maximum(1.0, np.abs(pts[2]))), i
    # inside [0, 2 pi) (no reduction on either side) they agree to a few ulps
    inside = (ours[0] >= 0) & (ours[0] < TWO_PI) & (ours[1] >= 0) & (ours[1] < TWO_PI)
    assert inside.sum() > 20
    assert np.allclose(ours[:, inside], ref[:, inside], rtol=8 * EPS, atol=8 * EPS)
    # NaN where heyoka gives NaN
    bad = np.ascontiguousarray(np.array([[0.6, 0.8, 1.0], [-1.0, 0.0, 2.0]]).T)
    assert np.isnan(hf(bad)).all()
    assert np.isnan(tj.cfunc([tj.kepF(h, k, lam), tj.kepDE(h, k, lam)], [h, k, lam])(bad.T)).all()


def test_relu_values_follow_heyoka():
    vals = [3.5, 1e-300, 0.0, -0.0, -2.0, 5e-324, -1e300]
    expect_relu = [3.5, 1e-300, 0.0, 0.0, 0.0, 5e-324, 0.0]
    expect_relup = [1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    # the scalar values also at infinities and NaN (heyoka: x > 0 ? x : 0)
    for v, r, p in zip(vals + [math.inf, -math.inf, math.nan], expect_relu + [math.inf, 0.0, 0.0],
                       expect_relup + [1.0, 0.0, 0.0]):
        assert float(tj.relu(v)) == r and math.copysign(1, float(tj.relu(v))) == 1.0
        assert float(tj.relup(v)) == p
    g = tj.cfunc([tj.relu(x), tj.relup(x)], [x])
    out = g(np.array(vals)[:, None]).T
    assert np.array_equal(out[0], expect_relu) and np.array_equal(out[1], expect_relup)
    assert not np.signbit(out[0]).any()
    hy = pytest.importorskip("heyoka")
    X = hy.make_vars("x")
    ref = hy.cfunc([hy.relu(X), hy.relup(X)], [X])(np.array([vals]))
    assert np.array_equal(out, ref)


def test_relu_on_arrays_and_symbols():
    a = np.array([-1.0, 0.0, 2.0])
    assert [float(v) for v in tj.relu(a)] == [0.0, 0.0, 2.0]
    assert [float(v) for v in tj.relup(a)] == [0.0, 0.0, 1.0]
    assert str(tj.relu(x)) == "relu(x)"
    assert tj.diff(tj.relu(x), x) is tj.relup(x)
    assert tj.diff(tj.relup(x), x) == 0.0
    assert tj.diff(tj.relu(x * y), y) is tj.relup(x * y) * x


# ----------------------------------------------------------------------------- derivatives
def _fd(fun, args, i, step=1e-6):
    """Central difference (Richardson, 4th order) of fun at args in argument i, in mpmath."""
    with mpmath.workdps(40):
        def at(dv):
            a = [mpmath.mpf(v) for v in args]
            a[i] += dv
            return fun(*a)
        hh = mpmath.mpf(step)
        return (8 * (at(hh) - at(-hh)) - (at(2 * hh) - at(-2 * hh))) / (12 * hh)


@pytest.mark.parametrize("name", ["kepF", "kepDE"])
def test_symbolic_partials_against_finite_differences(name):
    f, ref = (tj.kepF, kepF_ref) if name == "kepF" else (tj.kepDE, kepDE_ref)
    e = f(h, k, lam)
    grads = [tj.diff(e, v) for v in (h, k, lam)]
    second = tj.diff(grads[0], lam)
    g = tj.cfunc(grads + [second], [h, k, lam])
    for pt in [(0.3, -0.2, 1.1), (-0.5, 0.6, -4.0), (0.05, 0.9, 7.0)]:
        got = g(np.array(pt))
        for i in range(3):
            fd = _fd(ref, pt, i)
            assert abs(got[i] - float(fd)) <= 1e-13 * max(1, abs(fd)), (pt, i)
        fd2 = _fd(lambda a, b, c: _fd(ref, (a, b, c), 2, 1e-10), pt, 0, 1e-5)
        assert abs(got[3] - float(fd2)) <= 1e-8 * max(1, abs(fd2))


def test_symbolic_partials_against_sympy():
    sp = pytest.importorskip("sympy")
    H, K, L = sp.symbols("h k lam")
    F, D = sp.symbols("F D")
    # implicit differentiation of the defining equations
    G = F + H * sp.cos(F) - K * sp.sin(F) - L
    GD = D + H * (1 - sp.cos(D)) - K * sp.sin(D) - L
    for e, eq, sym, ref in ((tj.kepF(h, k, lam), G, F, kepF_ref), (tj.kepDE(h, k, lam), GD, D, kepDE_ref)):
        pt = (0.2, -0.35, 2.5)
        with mpmath.workdps(30):
            root = ref(*pt)
        subs = {H: pt[0], K: pt[1], L: pt[2], sym: sp.Float(root, 30)}
        for v, s in ((h, H), (k, K), (lam, L)):
            want = float((-sp.diff(eq, s) / sp.diff(eq, sym)).evalf(30, subs=subs))
            got = tj.cfunc([tj.diff(e, v)], [h, k, lam])(np.array(pt))[0]
            assert got == pytest.approx(want, rel=1e-14, abs=1e-15)


def test_sympy_translation():
    sp = pytest.importorskip("sympy")
    from taylorjit._symbolic.sympy_bridge import from_sympy, to_sympy

    for e in (tj.kepF(h, k, lam), tj.kepDE(h, k, lam), tj.relu(x), tj.relup(x)):
        s = to_sympy(e)
        assert str(s) == str(e) and from_sympy(s) is e
    # evalf solves the equation
    s = to_sympy(tj.kepF(h, k, lam)).subs({sp.Symbol("h"): sp.Rational(1, 10),
                                           sp.Symbol("k"): sp.Rational(1, 5),
                                           sp.Symbol("lam"): -1})
    with mpmath.workdps(40):
        ref = kepF_ref(mpmath.mpf(1) / 10, mpmath.mpf(1) / 5, -1)
        assert abs(mpmath.mpf(s.evalf(35)) - ref) < mpmath.mpf(10) ** -33
    # sympy's derivatives of the translated functions agree with taylorjit's
    sx = sp.Symbol("x")
    assert sp.diff(to_sympy(tj.relu(x)), sx) == to_sympy(tj.relup(x))
    assert sp.diff(to_sympy(tj.relup(x)), sx) == 0
    assert to_sympy(tj.relu(x)).rewrite(sp.Max) == sp.Max(sx, 0)
    assert to_sympy(tj.relu(x)).subs(sx, -3) == 0 and to_sympy(tj.relup(x)).subs(sx, 0) == 0
    d = sp.diff(to_sympy(tj.kepDE(h, k, lam)), sp.Symbol("h"))
    assert from_sympy(d) is not None
    v = d.subs({sp.Symbol("h"): 0.2, sp.Symbol("k"): -0.35, sp.Symbol("lam"): 2.5}).evalf(20)
    want = tj.cfunc([tj.diff(tj.kepDE(h, k, lam), h)], [h, k, lam])(np.array([0.2, -0.35, 2.5]))[0]
    assert float(v) == pytest.approx(want, rel=1e-14)


# ----------------------------------------------------------------------------- Taylor coefficients
ORDER = 20


def _mp_series(fun, pt, direction, order=ORDER):
    """Normalised Taylor coefficients of fun(pt + t direction) by mpmath.taylor."""
    with mpmath.workdps(30):
        def g(t):
            return fun(*[mpmath.mpf(p) + t * mpmath.mpf(d) for p, d in zip(pt, direction)])
        return [float(c) for c in mpmath.taylor(g, 0, order)]


def _check_series(got, ref, rtol=1e-13):
    ref = np.array(ref)
    env = np.max(np.abs(ref)) + 1.0
    assert np.allclose(got, ref, rtol=rtol, atol=rtol * env * 10), (got - ref)


@pytest.mark.parametrize("kind", ["compact", "spec", "unrolled"])
@pytest.mark.parametrize("name", ["kepF", "kepDE"])
def test_taylor_coefficients_against_mpmath(name, kind):
    f, ref = (tj.kepF, kepF_ref) if name == "kepF" else (tj.kepDE, kepDE_ref)
    e = f(h, k, lam)
    for pt, direction in [((0.3, -0.2, 1.1), (0.05, -0.1, 1.0)),
                          ((-0.45, 0.5, -3.0), (0.0, 0.0, 0.7)),
                          ((0.1, 0.6, 9.0), (-0.2, 0.1, 0.0))]:
        got = tj.taylor_coefficients(e, [h, k, lam], pt, direction, order=ORDER, kind=kind)
        _check_series(np.ravel(got), _mp_series(ref, pt, direction))


@pytest.mark.parametrize("kind", ["compact", "spec", "unrolled", "python"])
def test_relu_taylor_coefficients(kind):
    """relu's coefficients are its argument's where the argument is > 0 at the
    expansion point, else 0 (also at exactly 0, as heyoka); relup's are its
    order-0 value and zeros."""
    inner = tj.sin(x) + 0.5 * x * x - 0.25
    fs = [tj.relu(inner), tj.relup(inner), inner, tj.relu(x)]
    for x0 in (1.3, -0.7, 0.0, 0.5):
        got = np.asarray(tj.taylor_coefficients(fs, [x], [x0], order=ORDER, kind=kind))
        inner0 = math.sin(x0) + 0.5 * x0 * x0 - 0.25
        if inner0 > 0:
            assert np.array_equal(got[0], got[2]) and got[1][0] == 1.0
        else:
            assert np.array_equal(got[0], np.zeros(ORDER + 1)) and got[1][0] == 0.0
        # relu(x) at x = 0 exactly: the zero branch (heyoka's x0 > 0 test)
        assert np.array_equal(got[3], np.zeros(ORDER + 1) if x0 <= 0 else
                              np.r_[x0, 1.0, np.zeros(ORDER - 1)])
        assert not np.any(got[1][1:])
        # against mpmath (away from the kink the function is analytic)
        def mp_relu(t):
            v = mpmath.sin(t) + t * t / 2 - mpmath.mpf(0.25)
            return v if v > 0 else mpmath.mpf(0)
        if abs(inner0) > 0.1:
            _check_series(got[0], _mp_series(mp_relu, [x0], [1.0]))


def test_relu_coefficients_match_heyoka_integrator_jet():
    """heyoka's Taylor coefficients (write_tc) of x' = relu(y) - relup(x) x, y' = -x, at
    states where y > 0, y < 0 and y = 0."""
    hy = pytest.importorskip("heyoka")
    X, Y = hy.make_vars("x", "y")
    for y0 in (0.75, -0.5, 0.0):
        ta = hy.taylor_adaptive([(X, hy.relu(Y) - hy.relup(X) * X), (Y, -X)], [0.4, y0],
                                tol=1e-15)
        ta.step(write_tc=True)
        ref = ta.tc
        order = ref.shape[1] - 1
        ours = tj.TaylorAdaptive([(x, tj.relu(y) - tj.relup(x) * x), (y, -x)], [0.4, y0], tol=1e-15)
        ours.step(write_tc=True)
        tc = ours.tc
        assert tc.shape[1] - 1 == order
        assert np.allclose(tc, ref, rtol=1e-14, atol=1e-16), y0


# ----------------------------------------------------------------------------- integration vs heyoka
def _heyoka_run(sys_h, x0, tend, tol=1e-15):
    hy = pytest.importorskip("heyoka")
    ta = hy.taylor_adaptive(sys_h, x0, tol=tol)
    ta.propagate_until(tend)
    return ta.state.copy()


def test_integration_with_kepF_kepDE_matches_heyoka():
    """An ODE using kepF, kepDE and their sin / cos companions, integrated by taylorjit
    and by heyoka: same final states to ~1e-13 (lam stays inside (0, 2 pi), where
    heyoka's reduced values equal the unique root).  heyoka 7 has no Taylor derivative
    of kepDE (cfunc only): on its side kepDE(e sin E0, e cos E0, DM) is written
    kepE(e, E0 - e sin E0 + DM) - E0, used through sin / cos only (heyoka reduces kepE
    to [0, 2 pi))."""
    hy = pytest.importorskip("heyoka")
    u, v, w = tj.make_vars("u", "v", "w")
    U, V, W = hy.make_vars("u", "v", "w")
    F = tj.kepF(0.3 * tj.cos(v), 0.2 + 0.1 * tj.sin(w), u)
    Fh = hy.kepF(0.3 * hy.cos(V), 0.2 + 0.1 * hy.sin(W), U)
    e0, E0 = 0.45, 0.7
    D = tj.kepDE(e0 * math.sin(E0), e0 * math.cos(E0), u)
    Dh = hy.kepE(e0, E0 - e0 * math.sin(E0) + U) - E0
    rhs = [0.5 + 0.1 * tj.sin(F), tj.cos(F) * tj.cos(D) - 0.3 * v,
           tj.sin(D) - 0.2 * w + 0.1 * F]
    rhs_h = [0.5 + 0.1 * hy.sin(Fh), hy.cos(Fh) * hy.cos(Dh) - 0.3 * V,
             hy.sin(Dh) - 0.2 * W + 0.1 * Fh]
    x0 = [0.3, 0.1, -0.2]
    tend = 8.0
    ta = tj.TaylorAdaptive(list(zip([u, v, w], rhs)), x0, tol=1e-15)
    ta.propagate_until(tend)
    assert ta.state[0] < TWO_PI
    ref = _heyoka_run(list(zip([U, V, W], rhs_h)), x0, tend)
    assert np.allclose(ta.state, ref, rtol=1e-13, atol=1e-13), (ta.state - ref)


def test_integration_with_relu_matches_heyoka_away_from_the_kink():
    """relu / relup on a trajectory whose argument keeps one sign: same states as heyoka."""
    u, v = tj.make_vars("u", "v")
    U, V = pytest.importorskip("heyoka").make_vars("u", "v")
    hy = pytest.importorskip("heyoka")
    rhs = [v, -tj.relu(u + 2.0) + 0.1 * tj.relup(v + 5.0)]
    rhs_h = [V, -hy.relu(U + 2.0) + 0.1 * hy.relup(V + 5.0)]
    ta = tj.TaylorAdaptive(list(zip([u, v], rhs)), [0.5, 0.0], tol=1e-15)
    ta.propagate_until(10.0)
    ref = _heyoka_run(list(zip([U, V], rhs_h)), [0.5, 0.0], 10.0)
    assert np.allclose(ta.state, ref, rtol=1e-13, atol=1e-13)


def test_relu_kink_is_not_seen_by_a_step():
    """Documented limitation: a step that crosses relu's kink uses the branch of its
    start (the series of the expansion point).  A terminal event at the kink and a
    restart integrates it correctly."""
    u = tj.make_vars("u")
    # u' = relu(1 - t) has the solution u = t - t^2/2 for t <= 1, then 1/2
    ta = tj.TaylorAdaptive([(u, tj.relu(1.0 - tj.time))], [0.0], tol=1e-15,
                           t_events=[tj.t_event(1.0 - tj.time)])
    r = ta.propagate_until(3.0)
    assert r[0] == tj.Outcome.event or int(r[0]) == -1
    assert ta.time == pytest.approx(1.0, abs=1e-14)
    ta.propagate_until(3.0)
    assert ta.state[0] == pytest.approx(0.5, abs=1e-14)


# ----------------------------------------------------------------------------- prod
def test_prod_is_heyokas_prod():
    z = tj.make_vars("z")
    p = tj.prod([x, y, z])
    assert p.op == "mul" and len(p.args) == 3 and str(p) == "x*y*z"
    assert tj.prod([]) == 1.0 and tj.prod([x]) is x and tj.prod([x, 0.0, y]) == 0.0
    assert tj.prod([x, 1.0, y]) is x * y
    assert tj.prod(v for v in (x, y)) is x * y
    g = tj.cfunc([p, tj.diff(p, y)], [x, y, z])
    assert np.array_equal(g(np.array([2.0, 3.0, 5.0])), [30.0, 10.0])
    hy = pytest.importorskip("heyoka")
    X, Y, Z = hy.make_vars("x", "y", "z")
    assert str(hy.prod([X, Y, Z])) == "(x * y * z)"
    assert float(hy.cfunc([hy.prod([])], [X])(np.array([0.0]))[0]) == float(tj.prod([]))
