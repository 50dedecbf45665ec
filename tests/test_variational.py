"""Variational equations: sensitivities against closed forms, finite differences,
scipy's expm, sympy and heyoka; Taylor-map convergence orders; event correction;
errors."""
import math

import numpy as np
import pytest
import scipy.linalg
from scipy.integrate import solve_ivp

import taylorjit as tj
from taylorjit._integrate.taylor_map import (TaylorMap, VariationalMixin, eval_taylor_map,
    require_variational, sensitivity, state_event_sensitivity, taylor_map)
from taylorjit._integrate.variational import (VarODESys, evaluator, event_sensitivity, multi_indices,
    var_ode_sys)


# --------------------------------------------------------------------------- propagation helper
def propagate(sys, x0, t1, pars=(), t0=0.0):
    """Final augmented state, with taylorjit's integrator (compact VM, tol =
    eps).  ``x0`` is the full initial state."""
    from taylorjit._integrate.integrator import TaylorAdaptive

    ta = TaylorAdaptive(sys, np.asarray(x0, dtype=float), time=t0, pars=list(pars) or None,
                        compact=True)
    res = ta.propagate_until(t1)
    assert res.outcome.name == "time_limit", res
    return ta.state.copy()


def propagate_scipy(sys, x0, t1, pars=(), t0=0.0):
    """The same with scipy's DOP853 at rtol = atol = 1e-13 on a compiled
    right-hand side (an integrator independent of taylorjit's)."""
    pairs = list(sys)
    ev = evaluator([p[1] for p in pairs], [p[0] for p in pairs])
    p = np.asarray(pars, dtype=float)
    r = solve_ivp(lambda t, y: ev(y, p, t), (t0, t1), np.asarray(x0, dtype=float),
                  method="DOP853", rtol=1e-13, atol=1e-13)
    assert r.success, r.message
    return r.y[:, -1]


def kepler():
    x, y, vx, vy = tj.make_vars("x", "y", "vx", "vy")
    r3 = (x ** 2 + y ** 2) ** -1.5
    mu = tj.par[0]
    return [(x, vx), (y, vy), (vx, -mu * x * r3), (vy, -mu * y * r3)], (x, y, vx, vy)


KEP_X0 = np.array([1.0, 0.0, 0.1, 1.15])
KEP_MU = [1.0]
KEP_T = 2.5


# --------------------------------------------------------------------------- layout
def test_multi_indices_order_and_count():
    assert multi_indices(3, 2) == [(2, 0, 0), (1, 1, 0), (1, 0, 1), (0, 2, 0), (0, 1, 1), (0, 0, 2)]
    for m, k in [(1, 4), (4, 3), (6, 2)]:
        assert len(multi_indices(m, k)) == math.comb(m + k - 1, k)


def test_layout_and_slices():
    sys, (x, y, vx, vy) = kepler()
    vs = var_ode_sys(sys, "vars", order=2)
    n, m = 4, 4
    assert (vs.n_orig, vs.m, vs.order) == (n, m, 2)
    assert vs.dim == n * (1 + 4 + 10) == len(vs)
    assert all(a is b for a, b in zip(vs.wrt, [x, y, vx, vy]))
    # order-by-order, component-major, multi-indices as multi_indices()
    q = vs.get_vslice(2, component=1).start
    assert vs.get_mindex(q) == (1, (2, 0, 0, 0))
    assert [vs.get_mindex(i) for i in range(vs.get_vslice(1).start, vs.get_vslice(1).stop)][:5] == [
        (0, (1, 0, 0, 0)), (0, (0, 1, 0, 0)), (0, (0, 0, 1, 0)), (0, (0, 0, 0, 1)), (1, (1, 0, 0, 0))]
    assert vs.index_of(3, (0, 1, 0, 1)) == vs.mindex.index((3, (0, 1, 0, 1)))
    assert vs.state_vars[vs.index_of(2, (1, 0, 0, 0))] is tj.var("vx__d0")
    # a VarODESys is a sequence of (var, rhs) pairs
    pairs = list(vs)
    assert pairs[0] == sys[0] and len(pairs[5]) == 2
    with pytest.raises(KeyError, match="multi-index"):
        vs.index_of(0, (3, 0, 0, 0))


def test_initial_state():
    sys, _ = kepler()
    vs = var_ode_sys(sys, "all", order=2)     # x, y, vx, vy, par[0], t0
    assert vs.wrt_names() == ["x", "y", "vx", "vy", "par[0]", "t0"]
    y0 = vs.initial_state(KEP_X0, pars=KEP_MU, time=0.3)
    phi = sensitivity(y0, vs, 1)
    assert np.array_equal(phi[:, :4], np.eye(4))
    assert np.array_equal(phi[:, 4], np.zeros(4))
    r3 = np.hypot(*KEP_X0[:2]) ** -3
    f = np.array([KEP_X0[2], KEP_X0[3], -KEP_X0[0] * r3, -KEP_X0[1] * r3])
    np.testing.assert_allclose(phi[:, 5], -f, rtol=1e-15)
    # a full state passes through; batch columns are filled one by one
    assert np.array_equal(vs.initial_state(y0), y0)
    yb = vs.initial_state(np.stack([KEP_X0, KEP_X0], axis=1), pars=[[1.0, 1.0]], time=[0.3, 0.3])
    np.testing.assert_array_equal(yb[:, 1], y0)


# --------------------------------------------------------------------------- linear systems
def test_stm_of_linear_system_is_expm():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(3, 3))
    xs = tj.make_vars("a", "b", "c")
    sys = [(xs[i], tj.sum_([float(A[i, j]) * xs[j] for j in range(3)])) for i in range(3)]
    vs = var_ode_sys(sys, "vars", order=2)
    x0 = np.array([0.3, -0.2, 0.5])
    t = 1.7
    yt = propagate_scipy(vs, vs.initial_state(x0), t)
    E = scipy.linalg.expm(A * t)
    np.testing.assert_allclose(sensitivity(yt, vs, 1), E, rtol=0, atol=1e-11 * np.abs(E).max())
    np.testing.assert_allclose(yt[:3], E @ x0, atol=1e-11)
    assert np.abs(sensitivity(yt, vs, 2)).max() == 0.0   # linear: no curvature, exactly
    yt = propagate(vs, vs.initial_state(x0), t)             # taylorjit's integrator, tol = eps
    np.testing.assert_allclose(sensitivity(yt, vs, 1), E, rtol=0, atol=1e-13 * np.abs(E).max())


# --------------------------------------------------------------------------- analytic parameter sensitivities
def test_sensitivities_match_sympy_closed_form_up_to_order_3():
    """x' = -p t x: x = x0 exp(-p (t^2 - t0^2) / 2); all derivatives in
    (x0, p, t0) up to order 3, including the initial time of a
    non-autonomous system."""
    sp = pytest.importorskip("sympy")
    x = tj.var("x")
    vs = var_ode_sys([(x, -tj.par[0] * tj.time * x)], "all", order=3)
    assert vs.wrt_names() == ["x", "par[0]", "t0"]
    X0, P, T0, T1 = 0.7, 0.45, 0.3, 1.9
    yt = propagate(vs, vs.initial_state([X0], pars=[P], time=T0), T1, pars=[P], t0=T0)
    sx0, sp_, st0 = sp.symbols("x0 p t0")
    sol = sx0 * sp.exp(-sp_ * (T1 ** 2 - st0 ** 2) / 2)
    at = {sx0: X0, sp_: P, st0: T0}
    syms = [sx0, sp_, st0]
    for k in (1, 2, 3):
        S = sensitivity(yt, vs, k)
        assert S.shape == (1,) + (3,) * k
        for idx in np.ndindex(*(3,) * k):
            ref = float(sp.diff(sol, *[syms[j] for j in idx]).subs(at))
            assert S[(0,) + idx] == pytest.approx(ref, rel=1e-11, abs=1e-12), (k, idx)


def test_parameter_sensitivity_decay():
    """x' = -p x: dx/dp = -t x, d2x/dp2 = t^2 x, d2x/dx0 dp = -t exp(-p t)."""
    x = tj.var("x")
    vs = var_ode_sys([(x, -tj.par[0] * x)], [tj.par[0], x], order=2)
    X0, P, T = 1.3, 0.8, 2.0
    yt = propagate(vs, vs.initial_state([X0]), T, pars=[P])
    xe = X0 * math.exp(-P * T)
    S1, S2 = sensitivity(yt, vs, 1), sensitivity(yt, vs, 2)
    np.testing.assert_allclose(S1[0], [-T * xe, math.exp(-P * T)], rtol=1e-11)
    np.testing.assert_allclose(S2[0], [[T * T * xe, -T * math.exp(-P * T)],
                                       [-T * math.exp(-P * T), 0.0]], rtol=1e-11, atol=1e-14)


# --------------------------------------------------------------------------- Kepler vs finite differences
@pytest.fixture(scope="module")
def kepler_order2():
    sys, _ = kepler()
    vs = var_ode_sys(sys, [*kepler()[1], tj.par[0]], order=2)
    yt = propagate(vs, vs.initial_state(KEP_X0), KEP_T, pars=KEP_MU)
    return sys, vs, yt


def _fd(fun, x, h):
    """4th-order central differences of a vector function, one column per input."""
    cols = []
    for j in range(len(x)):
        e = np.zeros(len(x))
        e[j] = h
        cols.append((8 * (fun(x + e) - fun(x - e)) - (fun(x + 2 * e) - fun(x - 2 * e))) / (12 * h))
    return np.stack(cols, axis=1)


def test_kepler_first_order_vs_finite_differences(kepler_order2):
    sys, vs, yt = kepler_order2

    def flow(w):
        return propagate(sys, w[:4], KEP_T, pars=w[4:])

    fd = _fd(flow, np.r_[KEP_X0, KEP_MU], 1e-3)
    np.testing.assert_allclose(sensitivity(yt, vs, 1), fd, rtol=0, atol=1e-8 * np.abs(fd).max())
    np.testing.assert_allclose(yt[:4], flow(np.r_[KEP_X0, KEP_MU]), atol=1e-12)


def test_kepler_second_order_vs_finite_differences_of_first(kepler_order2):
    sys, vs, yt = kepler_order2
    vs1 = var_ode_sys(sys, vs.wrt, order=1)

    def stm(w):
        return sensitivity(propagate(vs1, vs1.initial_state(w[:4]), KEP_T, pars=w[4:]), vs1, 1).ravel()

    fd = _fd(stm, np.r_[KEP_X0, KEP_MU], 1e-3).reshape(4, 5, 5)
    S2 = sensitivity(yt, vs, 2)
    np.testing.assert_allclose(S2, fd, rtol=0, atol=1e-7 * np.abs(fd).max())
    np.testing.assert_array_equal(S2, np.swapaxes(S2, 1, 2))   # symmetric by construction


def test_agrees_with_heyoka_layout_and_values():
    hy = pytest.importorskip("heyoka")
    x, v = tj.make_vars("x", "v")
    sys = [(x, v), (v, -tj.par[0] * tj.sin(x) + 0.1 * tj.cos(tj.time))]
    hx, hv = hy.make_vars("x", "v")
    hsys = [(hx, hv), (hv, -hy.par[0] * hy.sin(hx) + 0.1 * hy.cos(hy.time))]
    vs = var_ode_sys(sys, [x, v, tj.par[0]], order=3)
    yt = propagate(vs, vs.initial_state([0.3, 0.1]), 3.0, pars=[1.2], t0=0.4)
    ta = hy.taylor_adaptive(hy.var_ode_sys(hsys, hy.var_args.vars | hy.var_args.params, order=3),
                            [0.3, 0.1], pars=[1.2], time=0.4, compact_mode=True)
    ta.propagate_until(3.0)
    assert [tuple(ta.get_mindex(q)) for q in range(vs.dim)] == [(i,) + a for i, a in vs.mindex]
    # heyoka stores un-normalised derivatives
    fac = np.array([math.prod(math.factorial(a) for a in al) for _, al in vs.mindex])
    np.testing.assert_allclose(yt * fac, ta.state, rtol=0, atol=1e-12 * np.abs(ta.state).max())


# --------------------------------------------------------------------------- Taylor maps
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_taylor_map_error_falls_as_eps_to_k_plus_1(k):
    x, v = tj.make_vars("x", "v")
    sys = [(x, v), (v, -tj.sin(x) - 0.1 * v)]
    vs = var_ode_sys(sys, "vars", order=k)
    X0, T = np.array([0.8, 0.3]), 3.0
    tm = taylor_map(propagate(vs, vs.initial_state(X0), T), vs)
    direction = np.array([0.6, -0.8])
    eps = 0.2 * 0.5 ** np.arange(4)
    deltas = eps[:, None] * direction
    approx = tm(deltas)                                 # many displacements at once
    exact = np.array([propagate(sys, X0 + d, T) for d in deltas])
    err = np.abs(approx - exact).max(axis=1)
    slope = np.polyfit(np.log(eps), np.log(err), 1)[0]
    assert abs(slope - (k + 1)) < 0.3, (k, slope, err)
    np.testing.assert_allclose(tm(deltas[1]), approx[1], rtol=1e-15)   # one displacement


def test_taylor_map_object_and_batch_shapes():
    x = tj.var("x")
    vs = var_ode_sys([(x, -tj.par[0] * x)], "all", order=2)
    y = propagate(vs, vs.initial_state([1.0], pars=[0.5]), 1.0, pars=[0.5])
    tm = taylor_map(y, vs)
    assert isinstance(tm, TaylorMap) and tm.n == 1 and tm.m == 3 and len(tm.monomials) == 10
    text = str(tm)
    assert text.startswith("TaylorMap of order 2 in (dx, dpar[0], dt0)") and "dx*dpar[0]" in text
    d = np.array([1e-3, -2e-3, 5e-4])
    assert eval_taylor_map(y, vs, d).shape == (1,)
    assert tm(np.zeros((7, 3))).shape == (7, 1)
    np.testing.assert_array_equal(tm(np.zeros(3)), y[:1])
    # batch: state (dim, B), displacements (..., m, B)
    yb = np.stack([y, 2 * y], axis=1)
    tmb = taylor_map(yb, vs)
    out = tmb(np.stack([d, d], axis=1))
    assert out.shape == (1, 2)
    np.testing.assert_allclose(out[:, 1], 2 * tm(d), rtol=1e-15)
    assert tmb(np.zeros((5, 3, 2))).shape == (5, 1, 2)
    assert sensitivity(yb, vs, 2).shape == (1, 3, 3, 2)
    with pytest.raises(ValueError, match="one value per wrt quantity"):
        tm(np.zeros(2))


# --------------------------------------------------------------------------- terminal event correction
def test_event_sensitivity_harmonic_oscillator():
    """x' = v, v' = -x, stop at x = 0: x_e = 0 always, v_e = -r, r = |(x0, v0)|,
    t_e = atan2(x0, v0) on the first descending crossing."""
    x, v = tj.make_vars("x", "v")
    vs = var_ode_sys([(x, v), (v, -x)], "vars", order=1)
    X0, V0 = 0.6, 0.8
    # x(t) = X0 cos t + V0 sin t = R sin(t + atan2(X0, V0)); first zero at t = pi - atan2(X0, V0)
    te = math.pi - math.atan2(X0, V0)
    ye = propagate(vs, vs.initial_state([X0, V0]), te)
    assert abs(ye[0]) < 1e-12
    dxdw, dtdw = state_event_sensitivity(ye, vs, x)
    R = math.hypot(X0, V0)
    np.testing.assert_allclose(dxdw, [[0.0, 0.0], [-X0 / R, -V0 / R]], atol=1e-12)
    # t_e = pi - atan2(x0, v0): dt/dx0 = -v0/R^2, dt/dv0 = x0/R^2
    np.testing.assert_allclose(dtdw, [-V0 / R ** 2, X0 / R ** 2], atol=1e-12)
    # the bare formula with the phi / f / grad g it was given
    phi = sensitivity(ye, vs, 1)
    d2, t2 = event_sensitivity(phi, [ye[1], -ye[0]], [1.0, 0.0])
    np.testing.assert_allclose(d2, dxdw, rtol=1e-15)


def test_event_sensitivity_tangent_surface_raises():
    with pytest.raises(ZeroDivisionError, match="tangent"):
        event_sensitivity(np.eye(2), [1.0, 0.0], [0.0, 1.0])


# --------------------------------------------------------------------------- errors
def test_bad_input_messages():
    x, v = tj.make_vars("x", "v")
    sys = [(x, v), (v, -tj.par[1] * x)]
    with pytest.raises(ValueError, match="order must be >= 1"):
        var_ode_sys(sys, "vars", order=0)
    with pytest.raises(TypeError, match="order must be an integer"):
        var_ode_sys(sys, "vars", order=1.5)
    with pytest.raises(ValueError, match="'z', which is not a state variable"):
        var_ode_sys(sys, [x, tj.var("z")])
    with pytest.raises(ValueError, match=r"par\[0\], which does not appear"):
        var_ode_sys(sys, [tj.par[0]])
    with pytest.raises(ValueError, match="not understood"):
        var_ode_sys(sys, "everything")
    with pytest.raises(ValueError, match="no runtime parameters"):
        var_ode_sys([(x, v), (v, -x)], "params")
    with pytest.raises(ValueError, match="twice"):
        var_ode_sys(sys, [x, x])
    with pytest.raises(TypeError, match="already variational"):
        var_ode_sys(var_ode_sys(sys, "vars"), "vars")
    with pytest.raises(ValueError, match="clashes"):
        var_ode_sys([(x, v), (v, -x), (tj.var("x__d0"), x)], "vars")
    vs = var_ode_sys(sys, "vars", order=1)
    with pytest.raises(ValueError, match="pass 2 initial values"):
        vs.initial_state([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="order must be an integer in 1..1"):
        sensitivity(vs.initial_state([1.0, 0.0]), vs, 2)


def test_non_variational_integrator_asked_for_sensitivities():
    class Plain(VariationalMixin):
        def __init__(self, sys, state):
            self.state = np.asarray(self._init_variational(sys, state), dtype=float)

    x = tj.var("x")
    ta = Plain([(x, -x)], [1.0])
    assert not ta.is_variational
    for call in (lambda: ta.sensitivity(1), lambda: ta.eval_taylor_map([0.1]),
                 lambda: ta.taylor_map, lambda: ta.get_vslice(1)):
        with pytest.raises(TypeError, match="tj.var_ode_sys"):
            call()
    with pytest.raises(TypeError, match="plain system"):
        require_variational([(x, -x)])
    # the same mixin on a variational system fills the initial values and delegates
    tv = Plain(var_ode_sys([(x, -x)], "vars", order=2), [1.0])
    assert tv.is_variational and tv.state.tolist() == [1.0, 1.0, 0.0]
    assert tv.sensitivity(1).tolist() == [[1.0]] and tv.eval_taylor_map([0.5]).tolist() == [1.5]
    assert isinstance(tv.vsys, VarODESys) and tv.get_mindex(2) == (0, (2,))


def test_batch_integrator_lanes_match_scalar_runs():
    from taylorjit._integrate.batch import TaylorAdaptiveBatch

    x = tj.var("x")
    vs = var_ode_sys([(x, -tj.par[0] * x * x)], "all", order=2)
    X0, P, T0 = np.array([[0.5, 0.9]]), np.array([[0.7, 1.1]]), np.array([0.0, 0.2])
    tb = TaylorAdaptiveBatch(vs, vs.initial_state(X0, pars=P, time=T0), time=T0, pars=P,
                             compact=True)
    tb.propagate_until(1.5)
    S = sensitivity(tb.state, vs, 2)
    assert S.shape == (1, 3, 3, 2)
    for b in range(2):
        yb = propagate(vs, vs.initial_state(X0[:, b], pars=P[:, b], time=T0[b]), 1.5,
                       pars=P[:, b], t0=T0[b])
        np.testing.assert_allclose(S[..., b], sensitivity(yb, vs, 2), rtol=1e-13, atol=1e-15)
        # closed form x = x0 / (1 + p x0 (t - t0)): dx/dx0 = (x/x0)^2
        xe = X0[0, b] / (1 + P[0, b] * X0[0, b] * (1.5 - T0[b]))
        assert S[0, 0, 0, b] == pytest.approx(-2 * P[0, b] * (1.5 - T0[b]) * xe ** 3 / X0[0, b] ** 3,
                                              rel=1e-12)
