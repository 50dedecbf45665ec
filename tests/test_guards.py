"""Branches on symbolic values: guards in solve_ivp, tj.select in the core API.

References are closed forms or runs with the switch times given explicitly."""
import math
import warnings

import numpy as np
import pytest

import taylorjit as tj
from taylorjit import TracingError

EPS = np.finfo(float).eps
TIGHT = dict(rtol=EPS, atol=EPS)


# ---------------------------------------------------------------- closed forms
def _accel_switch_exact(t):
    """x'' = 1 for t < 2, -0.5 after; x(0) = x'(0) = 0."""
    t = np.asarray(t, dtype=float)
    before = np.stack([0.5 * t * t, t])
    s = t - 2.0
    after = np.stack([2.0 + 2.0 * s - 0.25 * s * s, 2.0 - 0.5 * s])
    return np.where(t < 2.0, before, after)


def _decay_exact(t):
    """y' = -y while y > 0.5, -2y below; y(0) = 1: the switch at t = ln 2."""
    t = np.asarray(t, dtype=float)
    return np.where(t < math.log(2.0), np.exp(-t), 0.5 * np.exp(-2.0 * (t - math.log(2.0))))


def test_solve_ivp_time_switch_against_the_polynomial_solution():
    def f(t, y):
        a = 1.0 if t < 2.0 else -0.5
        return [y[1], a]

    ts = np.linspace(0.0, 5.0, 23)
    sol = tj.solve_ivp(f, (0.0, 5.0), [0.0, 0.0], t_eval=ts, dense_output=True, **TIGHT)
    assert sol.success and sol.status == 0 and sol.n_switches == 1
    assert np.max(np.abs(sol.y - _accel_switch_exact(ts))) < 1e-13
    # the dense output is piecewise: right on both sides of the switch
    for t in (1.999999, 2.0, 2.000001, 3.7):
        assert np.max(np.abs(sol.sol(t) - _accel_switch_exact(t))) < 1e-13
    # an argument as the switch time (a runtime parameter: no new kernel)
    def g(t, y, t_burn):
        return [y[1], 1.0 if t < t_burn else -0.5]

    sol = tj.solve_ivp(g, (0.0, 5.0), [0.0, 0.0], args=(2.0,), **TIGHT)
    assert np.max(np.abs(sol.y[:, -1] - _accel_switch_exact(5.0))) < 1e-13


def test_solve_ivp_state_switch_forward_and_backward():
    def f(t, y):
        k = 1.0 if y[0] > 0.5 else 2.0
        return [-k * y[0]]

    ts = np.linspace(0.0, 3.0, 31)
    sol = tj.solve_ivp(f, (0.0, 3.0), [1.0], t_eval=ts, dense_output=True, **TIGHT)
    assert sol.n_switches == 1
    assert np.max(np.abs(sol.y[0] - _decay_exact(ts))) < 1e-15
    assert abs(sol.sol(math.log(2.0))[0] - 0.5) < 1e-15
    back = tj.solve_ivp(f, (3.0, 0.0), [float(_decay_exact(3.0))], t_eval=ts[::-1], **TIGHT)
    assert back.n_switches == 1
    assert np.max(np.abs(back.y[0] - _decay_exact(ts[::-1]))) < 1e-14
    # the switch time is where the event machinery puts it: ln 2
    def at_half(t, y):
        return y[0] - 0.5

    sol = tj.solve_ivp(f, (0.0, 3.0), [1.0], events=at_half, **TIGHT)
    assert abs(sol.t_events[0][0] - math.log(2.0)) < 4 * EPS


@pytest.mark.parametrize("form", ["abs", "sign", "where", "maximum"])
def test_bouncing_ball_written_with_branches(form):
    # x'' = -g sign(x): |x| is a ball bouncing elastically from height 1
    g0 = 9.81

    def f(t, y):
        if form == "abs":
            acc = -g0 * y[0] / abs(y[0])
        elif form == "sign":
            acc = -g0 * np.sign(y[0])
        elif form == "where":
            acc = np.where(y[0] > 0, -g0, g0)
        else:
            acc = -g0 * y[0] / np.maximum(y[0], -y[0])
        return [y[1], acc]

    T = 2.0 * math.sqrt(2.0 / g0)
    ts = np.linspace(0.0, 10.0, 41)
    sol = tj.solve_ivp(f, (0.0, 10.0), [1.0, 0.0], t_eval=ts, **TIGHT)
    tau = (ts + T / 2) % T - T / 2
    assert sol.success
    assert np.max(np.abs(np.abs(sol.y[0]) - (1.0 - 0.5 * g0 * tau ** 2))) < 1e-13


def test_kepler_thrust_arc_against_explicit_switch_times():
    mu, t1, t2, acc = 1.0, 1.0, 2.5, 0.01

    def f(t, y):
        r3 = (y[0] ** 2 + y[1] ** 2) ** 1.5
        v = np.sqrt(y[2] ** 2 + y[3] ** 2)
        a = acc if t1 <= t <= t2 else 0.0           # a chained comparison: two guards
        return [y[2], y[3], -mu * y[0] / r3 + a * y[2] / v, -mu * y[1] / r3 + a * y[3] / v]

    x0 = [1.0, 0.0, 0.0, 1.1]
    sol = tj.solve_ivp(f, (0.0, 6.0), x0, dense_output=True, **TIGHT)
    assert sol.n_switches == 2
    # reference: the same dynamics with the thrust as a parameter, switched by hand
    x, y, vx, vy = tj.make_vars("x", "y", "vx", "vy")
    r3 = (x ** 2 + y ** 2) ** 1.5
    v = tj.sqrt(vx ** 2 + vy ** 2)
    a = tj.par[0]
    ta = tj.TaylorAdaptive([(x, vx), (y, vy), (vx, -mu * x / r3 + a * vx / v),
                            (vy, -mu * y / r3 + a * vy / v)], x0, pars=[0.0])
    ta.propagate_until(t1)
    mid1 = ta.state.copy()
    ta.pars[0] = acc
    ta.propagate_until(t2)
    ta.pars[0] = 0.0
    ta.propagate_until(6.0)
    assert np.max(np.abs(sol.y[:, -1] - ta.state)) < 1e-13
    assert np.max(np.abs(sol.sol(t1) - mid1)) < 1e-14


def test_sliding_mode_stops_with_a_clear_status_and_keeps_the_state():
    def f(t, y):
        return [-np.sign(y[0])]

    sol = tj.solve_ivp(f, (0.0, 3.0), [1.0], dense_output=True, **TIGHT)
    assert not sol.success and sol.status == -1
    assert "sliding mode" in sol.message and "y0" in sol.message
    assert sol.t[-1] == pytest.approx(1.0, abs=1e-15) and abs(sol.y[0, -1]) < 1e-15
    assert sol.sol(0.5)[0] == pytest.approx(0.5, abs=1e-15)
    # starting on the surface: stopped at once
    sol = tj.solve_ivp(f, (0.0, 3.0), [0.0])
    assert sol.status == -1 and sol.t.tolist() == [0.0]


def test_guards_with_user_events_and_min_max_clip():
    def f(t, y, tb, c):
        thrust = np.where(t > tb, c, 0.0)
        return [y[1], min(thrust, 0.7) - 0.1 * np.clip(y[0], -1.0, 1.0)]

    def crossing(t, y, tb, c):
        return y[0] - 2.0

    crossing.terminal = True
    sol = tj.solve_ivp(f, (0.0, 10.0), [0.0, 0.0], args=(2.0, 1.0), events=crossing, **TIGHT)
    assert sol.status == 1 and sol.n_switches == 2     # t = 2 and y0 = 1 (the clip)
    # reference: the three smooth phases integrated one after the other
    x, v = tj.make_vars("x", "v")
    ph1 = tj.TaylorAdaptive([(x, v), (v, -0.1 * x)], [0.0, 0.0])
    ph1.propagate_until(2.0)
    ph2 = tj.TaylorAdaptive([(x, v), (v, 0.7 - 0.1 * x)], ph1.state, time=2.0,
                            t_events=[tj.t_event(x - 1.0)])
    ph2.propagate_until(10.0)
    ph3 = tj.TaylorAdaptive([(x, v), (v, 0.7 - 0.1)], ph2.state, time=ph2.time,
                            t_events=[tj.t_event(x - 2.0)])
    ph3.propagate_until(10.0)
    assert sol.t_events[0][0] == pytest.approx(ph3.time, abs=1e-13)
    assert np.max(np.abs(sol.y_events[0][0] - ph3.state)) < 1e-13


def test_untraceable_constructs_still_name_the_line():
    rng = np.random.default_rng(0)

    def f(t, y):
        return [-y[0] * rng.normal()]

    with pytest.raises(TracingError, match="random"):
        tj.solve_ivp(f, (0.0, 1.0), [1.0])


# ---------------------------------------------------------------- tj.select in the core API
def test_select_expression_printing_and_diff():
    x, y = tj.make_vars("x", "y")
    f = tj.select(x < 1, x ** 2, 1.0)
    assert str(f) == "select(x < 1, x**2, 1)"
    assert str(tj.diff(f, x)) == "select(x < 1, 2*x, 0)"
    assert str(abs(x)) == "select(x >= 0, x, -x)"
    assert tj.select(True, x, y) is x and tj.select(x < 1, y, y) is y
    c = (x > 0) & (y > 0)
    assert str(tj.select(c, x * y, 0.0)) == "select(x > 0, select(y > 0, x*y, 0), 0)"
    with pytest.raises(TypeError, match="comparison"):
        tj.select(x, 1.0, 2.0)
    with pytest.raises(TracingError, match="tj.select"):
        bool(x > 1)


def test_select_in_taylor_coefficients_derivatives_and_cfunc():
    x, y = tj.make_vars("x", "y")
    f = tj.select(x > 0, tj.sin(x) * y, y ** 3)
    c = tj.taylor_coefficients(f, [x, y], [[0.5, 2.0], [-0.5, 2.0]], [1.0, 1.0], order=3)
    ref_pos = tj.taylor_coefficients(tj.sin(x) * y, [x, y], [0.5, 2.0], [1.0, 1.0], order=3)
    ref_neg = tj.taylor_coefficients(y ** 3, [x, y], [-0.5, 2.0], [1.0, 1.0], order=3)
    assert np.array_equal(c[0], ref_pos) and np.array_equal(c[1], ref_neg)
    d = tj.derivatives(f, [x, y], [-0.5, 2.0], order=2)
    assert d[(0, 2)] == pytest.approx(12.0, rel=1e-15) and d[(1, 1)] == 0.0
    g = tj.cfunc([abs(x) * y, np.maximum(x, y), tj.select(x > tj.par[0], x, tj.par[0])], [x, y])
    P = np.random.default_rng(1).normal(size=(50, 2))
    out = g(P, pars=[0.25])
    ref = np.column_stack([np.abs(P[:, 0]) * P[:, 1], np.maximum(P[:, 0], P[:, 1]),
                           np.maximum(P[:, 0], 0.25)])
    assert np.array_equal(out, ref)
    # per-point parameters (heyoka's layout)
    out = g(P[:3], pars=[[0.0, 5.0, -5.0]])
    assert np.array_equal(out[:, 2], [max(P[0, 0], 0.0), 5.0, P[2, 0]])
    with pytest.raises(TracingError, match="taylor_jet"):
        tj.taylor_jet(f, [x, y], order=3)


def test_taylor_adaptive_with_select_switches_exactly():
    x, v, y = tj.make_vars("x", "v", "y")
    ta = tj.TaylorAdaptive([(x, v), (v, tj.select(tj.time < 2.0, 1.0, -0.5))], [0.0, 0.0])
    res = ta.propagate_until(5.0, c_output=True)
    assert res.outcome == tj.Outcome.time_limit
    assert np.max(np.abs(ta.state - _accel_switch_exact(5.0))) < 1e-14
    for t in np.linspace(0.0, 5.0, 26):
        assert np.max(np.abs(res.c_output(t) - _accel_switch_exact(t))) < 1e-13
    # backward, through the same switch
    ta.propagate_until(0.0)
    assert np.max(np.abs(ta.state)) < 1e-13
    # a state guard, with propagate_grid
    tb = tj.TaylorAdaptive([(y, tj.select(y > 0.5, -y, -2.0 * y))], [1.0])
    grid = np.linspace(0.0, 3.0, 16)
    out = tb.propagate_grid(grid)
    assert np.max(np.abs(out[-1][:, 0] - _decay_exact(grid))) < 1e-15
    # moving the state by hand: the branch of the new point is taken
    tb.state[:] = [1.0]
    tb.time = 0.0
    tb.propagate_until(3.0)
    assert abs(tb.state[0] - _decay_exact(3.0)) < 1e-15
    assert tb.events == []


def test_taylor_adaptive_select_with_user_events_and_sliding():
    x, v = tj.make_vars("x", "v")
    # the bouncing ball, with a user event counting the apexes
    apex = []
    ta = tj.TaylorAdaptive([(x, v), (v, -9.81 * x / abs(x))], [1.0, 0.0],
                           nt_events=[tj.nt_event(v, lambda ta, t, d: apex.append(t))])
    ta.propagate_until(10.0)
    T = 2.0 * math.sqrt(2.0 / 9.81)       # apex to apex of |x|
    assert len(apex) == int(10.0 / T) + 1
    assert np.allclose(apex, T * np.arange(len(apex)), rtol=0, atol=1e-13)
    y = tj.var("y")
    ta = tj.TaylorAdaptive([(y, -tj.select(y > 0, 1.0, -1.0))], [1.0])
    with pytest.warns(RuntimeWarning, match="sliding mode"):
        res = ta.propagate_until(3.0)
    assert res.outcome == tj.Outcome.event and res.event_index == 0
    assert ta.time == pytest.approx(1.0, abs=1e-15) and abs(ta.state[0]) < 1e-15


def test_select_refused_where_unsupported():
    x = tj.var("x")
    sys = [(x, tj.select(x > 0, -x, x))]
    with pytest.raises(ValueError, match="saltation"):
        tj.TaylorAdaptive(tj.var_ode_sys(sys, order=1), [1.0])
    with pytest.raises(TracingError, match="select"):
        tj.TaylorAdaptiveBatch(sys, np.ones((1, 2)))


def test_select_integrators_copy_pickle_and_ensembles():
    import copy
    import pickle

    x, v = tj.make_vars("x", "v")
    sys_ = [(x, v), (v, -9.81 * x / abs(x))]
    ta = tj.TaylorAdaptive(sys_, [1.0, 0.0])
    ta.propagate_until(1.0)                  # past a switch: the x < 0 branch
    tb, tc = copy.copy(ta), pickle.loads(pickle.dumps(ta))
    for t in (ta, tb, tc):
        t.propagate_until(10.0)
    assert np.array_equal(ta.state, tb.state) and np.array_equal(ta.state, tc.state)

    def gen(t, i):
        t.state[:] = [1.0 + 0.1 * i, 0.0]
        return t

    tmpl = tj.TaylorAdaptive(sys_, [1.0, 0.0])
    res = tj.ensemble_propagate_until(tmpl, 5.0, n_iter=3, gen=gen)
    for i, m in enumerate(res):
        ref = tj.TaylorAdaptive(sys_, [1.0 + 0.1 * i, 0.0])
        ref.propagate_until(5.0)
        assert np.array_equal(m[0].state, ref.state)


def test_select_steps_report_success_across_switches():
    x, v = tj.make_vars("x", "v")
    ta = tj.TaylorAdaptive([(x, v), (v, tj.select(tj.time < 0.5, 1.0, -1.0))], [0.0, 0.0])
    outcomes = [ta.step(max_delta_t=0.3).outcome for _ in range(4)]
    # steps clamped by max_delta_t report time_limit (heyoka); the switch at 0.5 ends the
    # second step there, and it is an ordinary step, not an event
    tl, ok = tj.Outcome.time_limit, tj.Outcome.success
    assert outcomes == [tl, ok, tl, tl]
    assert ta.time == pytest.approx(1.1, abs=1e-15)
    assert ta.state[1] == pytest.approx(0.5 - 0.6, abs=1e-15)
