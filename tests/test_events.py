"""Events in the integrator, against analytic event times and independent integrators.

References: free fall (exact quadratics), the pendulum period (complete elliptic
integral, mpmath), sin/cos (harmonic oscillator), heyoka (Hénon–Heiles section).
"""
import math

import mpmath as mp
import numpy as np
import pytest

import taylorjit as tj
from taylorjit._integrate.events import Event
from taylorjit._integrate.integrator import TaylorAdaptive
from taylorjit._integrate.odesys import Outcome

EPS = np.finfo(float).eps
G = 9.8


@pytest.fixture(scope="module")
def osc():
    x, v = tj.make_vars("x", "v")
    return x, v, [(x, v), (v, -x)]


def make(sys, x0, events, **kw):
    return TaylorAdaptive(sys, x0, events=events, compact=True, **kw)


# --------------------------------------------------------------------------- validation
def test_event_validation_messages(osc):
    x, v, sys = osc
    with pytest.raises(ValueError, match="invalid event direction 'up'"):
        Event(x, direction="up")
    with pytest.raises(TypeError, match="callback must be callable"):
        Event(x, callback=3)
    with pytest.raises(TypeError, match="must be a taylorjit expression"):
        Event("x")
    with pytest.raises(ValueError, match="terminal events only"):
        Event(x, cooldown=1.0)
    with pytest.raises(ValueError, match="cooldown must be a finite number"):
        Event(x, terminal=True, cooldown=-1.0)
    z = tj.var("z")
    with pytest.raises(ValueError, match="uses the variable 'z'"):
        make(sys, [0.0, 1.0], [Event(z)])
    with pytest.raises(TypeError, match="not a tj.Event"):
        make(sys, [0.0, 1.0], [x])
    assert "terminal" in repr(Event(x, terminal=True))


def test_terminal_callback_must_return_bool(osc):
    x, v, sys = osc
    ta = make(sys, [0.5, 1.0], [Event(x, terminal=True, callback=lambda ta, d: None)])
    with pytest.raises(TypeError, match="return True to continue"):
        ta.propagate_until(10.0)


# --------------------------------------------------------------------------- free fall
def test_bouncing_ball_impact_times():
    """20 bounces: each impact time against the exact parabola from the state after
    the previous bounce (mpmath), <= 4 eps relative; and the whole sequence against
    the closed form with exact restitution."""
    y, v = tj.make_vars("y", "v")
    rec = []

    def bounce(ta, d_sgn):
        rec.append((ta.dtime, ta.state.copy(), d_sgn))
        ta.state[1] = -0.75 * ta.state[1]
        return len(rec) < 20

    ta = make([(y, v), (v, -G)], [10.0, 0.0],
              [Event(y, direction="negative", terminal=True, callback=bounce)])
    res = ta.propagate_until(100.0)
    assert res.outcome == Outcome.event and res.event_index == 0
    assert len(rec) == 20
    mp.mp.dps = 50
    t_prev, y_prev, v_prev = mp.mpf(0), mp.mpf(10), mp.mpf(0)
    for k, ((thi, tlo), st, d) in enumerate(rec):
        assert d == -1
        # exact impact of y_prev + v_prev s - G/2 s^2 = 0 (G as the double 9.8)
        g = mp.mpf(G)
        s = (v_prev + mp.sqrt(v_prev ** 2 + 2 * g * y_prev)) / g
        t_ex = t_prev + s
        t_got = mp.mpf(thi) + mp.mpf(tlo)
        assert abs(t_got - t_ex) <= 4 * EPS * abs(t_ex), (k, float(t_got - t_ex))
        assert abs(st[0]) <= 8 * EPS * 10.0
        t_prev, y_prev, v_prev = t_got, mp.mpf(st[0]), -mp.mpf(0.75) * mp.mpf(st[1])
    # closed form with exact restitution 3/4: t_1 = sqrt(2h/g), then flights 2 v_k / g
    t = math.sqrt(2 * 10.0 / G)
    vk = math.sqrt(2 * G * 10.0)
    assert rec[0][0][0] == pytest.approx(t, rel=4 * EPS)
    for k in range(1, 20):
        vk *= 0.75
        t += 2 * vk / G
        assert rec[k][0][0] == pytest.approx(t, rel=1e-13)


# --------------------------------------------------------------------------- pendulum
def test_pendulum_zero_crossings_period():
    x, v = tj.make_vars("x", "v")
    th0 = 1.3
    times = []
    ev = Event(x, callback=lambda ta, t, d: times.append((t, d)))
    ta = make([(x, v), (v, -G * tj.sin(x))], [th0, 0.0], [ev])
    ta.propagate_until(60.0)
    mp.mp.dps = 40
    period = 4 * mp.ellipk(mp.sin(mp.mpf(th0) / 2) ** 2) / mp.sqrt(mp.mpf(G))
    assert len(times) == int((60.0 - float(period) / 4) // (float(period) / 2)) + 1
    for j, (t, d) in enumerate(times):
        want = period / 4 + j * period / 2
        assert abs(t - float(want)) <= 200 * EPS * float(want), (j, t - float(want))
        assert d == (-1 if j % 2 == 0 else 1)


# --------------------------------------------------------------------------- oscillator
@pytest.mark.parametrize("direction, first, step", [("positive", 2 * math.pi, 2 * math.pi),
                                                    ("negative", math.pi, 2 * math.pi),
                                                    ("any", math.pi, math.pi)])
def test_direction_filtering(osc, direction, first, step):
    x, v, sys = osc
    ta = make(sys, [0.0, 1.0], [Event(x, direction=direction)])
    ta.propagate_until(20.0)
    ts = np.array([t for i, t, d in ta.event_log])
    # an event exactly at t = 0 (x0 = 0) is reported for 'positive' and 'any' (half-open step)
    if direction != "negative":
        assert ts[0] == 0.0
        ts = ts[1:]
    want = first + step * np.arange(len(ts))
    assert len(ts) == int((20.0 - first) // step) + 1
    np.testing.assert_allclose(ts, want, rtol=20 * EPS)


def test_nt_callback_dense_output_at_event(osc):
    x, v, sys = osc
    seen = []

    def cb(ta, t, d):
        seen.append((t, ta.update_d_output(t).copy(), ta.time))

    ta = make(sys, [0.0, 1.0], [Event(v, callback=cb)])
    ta.propagate_until(10.0)
    assert len(seen) == 3                    # cos t = 0 at pi/2, 3pi/2, 5pi/2
    for k, (t, st, tnow) in enumerate(seen):
        assert t == pytest.approx(math.pi / 2 + k * math.pi, rel=8 * EPS)
        assert abs(st[1]) < 4 * EPS and abs(abs(st[0]) - 1) < 4 * EPS
        assert tnow >= t                     # called after the step, as heyoka


def test_terminal_stop_identifies_event(osc):
    x, v, sys = osc
    evs = [Event(v - 2.0, terminal=True),            # never
           Event(x + 0.5, terminal=True, direction="negative"),
           Event(x, direction="negative")]
    ta = make(sys, [0.0, 1.0], evs)
    res = ta.propagate_until(100.0)
    assert res.outcome == Outcome.event and res.event_index == 1
    assert ta.time == pytest.approx(math.pi + math.asin(0.5), rel=4 * EPS)
    assert abs(ta.state[0] + 0.5) < 4 * EPS
    assert [i for i, t, d in ta.event_log] == [2]    # x = 0 at pi, before the stop
    # propagating again continues past the event (cooldown), to the next one
    res = ta.propagate_until(100.0)
    assert res.event_index == 1
    assert ta.time == pytest.approx(3 * math.pi + math.asin(0.5), rel=4 * EPS)


def test_cooldown_auto_and_explicit(osc):
    x, v, sys = osc
    hits = []

    def cb(ta, d):
        hits.append(ta.time)
        return True

    ta = make(sys, [0.5, 1.0], [Event(x - 0.5, terminal=True, callback=cb)])
    ta.propagate_until(10.0)
    # x = 0.5 cos t + sin t = R sin(t + phi): x = 0.5 at t = 0 (the start lies on the event:
    # it triggers once, with a zero-length step, as in heyoka; the cooldown then stops it
    # from triggering again at its own time), at pi - 2 phi, 2 pi, ...
    phi = math.atan2(0.5, 1.0)
    t1 = math.pi - 2 * phi
    assert hits[0] == 0.0
    np.testing.assert_allclose(hits[1:], [t1, 2 * math.pi, 2 * math.pi + t1], rtol=8 * EPS)
    hits.clear()
    # an explicit cooldown longer than the gap skips the next crossing
    ta = make(sys, [0.0, 1.0], [Event(x - 0.5, terminal=True, callback=cb, cooldown=2.5)])
    ta.propagate_until(10.0)
    a = math.asin(0.5)
    np.testing.assert_allclose(hits, [a, 2 * math.pi + a], rtol=8 * EPS)


def test_simultaneous_events_in_time_order(osc):
    x, v, sys = osc
    order = []
    t = tj.time
    mk = lambda name: (lambda ta, tt, d: order.append((name, tt)))  # noqa: E731
    evs = [Event(t - 0.3, callback=mk("c")), Event(t - 0.1, callback=mk("a")),
           Event(x - math.sin(0.2), callback=mk("b")), Event(t - 0.3, callback=mk("c2"))]
    ta = make(sys, [0.0, 1.0], evs)
    ta.propagate_until(0.5)
    names = [n for n, _ in order]
    assert names == ["a", "b", "c", "c2"]           # same time: event order
    np.testing.assert_allclose([tt for _, tt in order], [0.1, 0.2, 0.3, 0.3], rtol=4 * EPS)
    assert ta.last_h > 0.5 - 1e-12 or ta.time == 0.5


def test_terminal_and_non_terminal_in_one_step(osc):
    x, v, sys = osc
    t = tj.time
    ta = make(sys, [0.0, 1.0], [Event(t - 0.2), Event(t - 0.25, terminal=True), Event(t - 0.3)])
    res = ta.propagate_until(1.0)
    assert res.event_index == 1 and ta.time == pytest.approx(0.25, rel=2 * EPS)
    assert [i for i, _, _ in ta.event_log] == [0]   # 0.3 is after the stop: not reported


def test_backward_propagation(osc):
    x, v, sys = osc
    ta = make(sys, [0.0, 1.0], [Event(x, direction="positive")])
    ta.propagate_until(-20.0)
    ts = [t for i, t, d in ta.event_log]
    assert ts[0] == 0.0
    want = -2 * math.pi * np.arange(len(ts))
    assert len(ts) == 4
    np.testing.assert_allclose(ts, want, rtol=20 * EPS, atol=0)
    # terminal, backward: stops at -pi (x decreasing in time through 0 at -pi? x = sin t:
    # dx/dt = cos(-pi) = -1)
    ta = make(sys, [0.0, 1.0], [Event(x, direction="negative", terminal=True)])
    res = ta.propagate_until(-10.0)
    assert res.outcome == Outcome.event
    assert ta.time == pytest.approx(-math.pi, rel=4 * EPS)


def test_tangential_contact_does_not_crash(osc):
    x, v, sys = osc
    ta = make(sys, [0.0, 1.0], [Event(x - 1.0), Event(x * x - 1.0, terminal=True)])
    res = ta.propagate_until(10.0)
    # x = sin t touches 1 at pi/2 (double root): at most a pair of rounding roots there
    for i, t, d in ta.event_log:
        assert abs(t - math.pi / 2) < 1e-6 or abs(t - 5 * math.pi / 2) < 1e-6
    assert res.outcome in (Outcome.time_limit, Outcome.event)


def test_event_with_parameter_and_time(osc):
    x, v, sys = osc
    ta = make(sys, [0.0, 1.0], [Event(x - tj.par[0] * tj.time, terminal=True)], pars=[0.1])
    res = ta.propagate_until(10.0)
    assert res.outcome == Outcome.event
    assert abs(math.sin(ta.time) - 0.1 * ta.time) < 8 * EPS


def test_grid_and_c_output_with_events(osc):
    x, v, sys = osc
    grid = np.linspace(0, 20, 41)
    ta = make(sys, [0.0, 1.0], [Event(x, direction="positive")])
    r = ta.propagate_grid(grid)
    np.testing.assert_allclose(r.states[:, 0], np.sin(grid), atol=1e-14)
    assert len(ta.event_log) == 4
    ta = make(sys, [0.0, 1.0], [Event(x + 0.5, terminal=True)])
    r = ta.propagate_until(20.0, c_output=True)
    assert r.outcome == Outcome.event
    co = r.c_output
    assert co(ta.time)[0] == pytest.approx(-0.5, abs=8 * EPS)
    # a terminal event stops propagate_grid too: rows after the stop are NaN
    ta = make(sys, [0.0, 1.0], [Event(x + 0.5, terminal=True)])
    r = ta.propagate_grid(grid)
    assert r.outcome == Outcome.event
    after = grid > ta.time
    assert np.all(np.isnan(r.states[after])) and np.all(np.isfinite(r.states[~after]))


def test_events_take_part_in_step_size(osc):
    x, v, sys = osc
    # a fast event function (sin(50 x)) shortens the steps, as in heyoka
    ta0 = make(sys, [0.0, 1.0], [])
    ta1 = make(sys, [0.0, 1.0], [Event(tj.sin(50 * x))])
    n0 = ta0.propagate_until(10.0).n_steps
    n1 = ta1.propagate_until(10.0).n_steps
    assert n1 > 3 * n0


# --------------------------------------------------------------------------- Hénon–Heiles
def test_henon_heiles_section_against_heyoka():
    hy = pytest.importorskip("heyoka")
    x, y, vx, vy = tj.make_vars("x", "y", "vx", "vy")
    sys = [(x, vx), (y, vy), (vx, -x - 2 * x * y), (vy, -y - x * x + y * y)]
    x0 = [-0.2, 0.0, 0.0, 0.4]
    ta = make(sys, x0, [Event(x, direction="positive")])
    ta.propagate_until(200.0)
    ours = [t for i, t, d in ta.event_log]
    hx, hyv, hvx, hvy = hy.make_vars("x", "y", "vx", "vy")
    out = []
    hsys = [(hx, hvx), (hyv, hvy), (hvx, -hx - 2 * hx * hyv), (hvy, -hyv - hx * hx + hyv * hyv)]
    ev = hy.nt_event(hx, callback=lambda ta, t, d: out.append(t),
                     direction=hy.event_direction.positive)
    hta = hy.taylor_adaptive(hsys, x0, nt_events=[ev])
    hta.propagate_until(200.0)
    assert len(ours) == len(out) > 20
    np.testing.assert_allclose(ours, out, rtol=0, atol=2e-12)
    # on the section, the energy is that of the initial condition
    e0 = 0.5 * (0.4 ** 2) + 0.5 * (0.2 ** 2)
    ta2 = make(sys, x0, [Event(x, direction="positive", terminal=True)])
    ta2.propagate_until(200.0)
    ta2.propagate_until(200.0)
    xs, ys, vxs, vys = ta2.state
    assert abs(xs) < 1e-15 and vxs > 0
    assert 0.5 * (vxs ** 2 + vys ** 2) + 0.5 * ys ** 2 - ys ** 3 / 3 == pytest.approx(e0, abs=1e-15)


# --------------------------------------------------------------------------- batch, step()
def test_batch_events_equal_scalar_runs(osc):
    from taylorjit._integrate.batch import TaylorAdaptiveBatch

    x, v, sys = osc
    amps = [1.0, 0.95, 2.0]
    seen = []

    def mk():
        return [Event(x, direction="positive"),
                Event(x + 0.9, terminal=True, direction="negative"),
                Event(v, callback=lambda ta, t, d, *lane: seen.append((lane, t)))]

    tb = TaylorAdaptiveBatch(sys, [[0.0] * 3, amps], events=mk(), compact=True)
    res = tb.propagate_until(20.0)
    assert [oc for oc in res.outcome] == [Outcome.event] * 3
    assert res.event_index == [1, 1, 1]
    assert sorted({lane for lane, _ in seen}) == [(0,), (1,), (2,)]   # cb(ta, t, d, lane)
    for j, a in enumerate(amps):
        ta = make(sys, [0.0, a], mk())
        r = ta.propagate_until(20.0)
        assert r.event_index == 1
        assert tb.time[j] == ta.time                       # bit for bit
        assert tb.time[j] == pytest.approx(math.pi + math.asin(0.9 / a), rel=4 * EPS)
        assert tb.event_log[j] == ta.event_log


def test_step_reports_terminal_event(osc):
    x, v, sys = osc
    ta = make(sys, [0.0, 1.0], [Event(x - 0.5, terminal=True)])
    oc, h = ta.step()
    assert oc == Outcome.event and h == pytest.approx(math.asin(0.5), rel=4 * EPS)
    oc, h = ta.step()                                      # cooldown: no immediate re-trigger
    assert oc == Outcome.success and h > 0.1


def test_terminal_callback_changes_parameters():
    """A thermostat: x' = par[0], switched between +1 and -1 at x = +-1 by terminal
    callbacks; the switching times are exactly 1, 3, 5, ..."""
    x = tj.var("x")
    times = []

    def switch(ta, d_sgn):
        times.append(ta.time)
        ta.pars[0] = -ta.pars[0]
        return True

    evs = [Event(x - 1.0, terminal=True, callback=switch),
           Event(x + 1.0, terminal=True, callback=switch)]
    ta = make([(x, tj.par[0])], [0.0], evs, pars=[1.0])
    res = ta.propagate_until(10.0)
    assert res.outcome == Outcome.time_limit
    np.testing.assert_allclose(times, [1.0, 3.0, 5.0, 7.0, 9.0], rtol=4 * EPS)
    assert ta.state[0] == pytest.approx(0.0, abs=8 * EPS)


def test_henon_heiles_section_against_mpmath():
    """The first two upward crossings of x = 0 against mpmath's Taylor ODE solver
    at 22 digits (odefun) and findroot."""
    x, y, vx, vy = tj.make_vars("x", "y", "vx", "vy")
    sys = [(x, vx), (y, vy), (vx, -x - 2 * x * y), (vy, -y - x * x + y * y)]
    ta = make(sys, [-0.2, 0.0, 0.0, 0.4], [Event(x, direction="positive")])
    ta.propagate_until(10.0)
    ours = [t for i, t, d in ta.event_log]
    assert len(ours) == 2
    mp.mp.dps = 22
    f = mp.odefun(lambda t, s: [s[2], s[3], -s[0] - 2 * s[0] * s[1], -s[1] - s[0] ** 2 + s[1] ** 2],
                  0, [mp.mpf(-0.2), mp.mpf(0), mp.mpf(0), mp.mpf(0.4)])
    for t in ours:
        ref = mp.findroot(lambda s: f(s)[0], mp.mpf(t))
        assert f(ref)[2] > 0
        assert abs(t - float(ref)) <= 16 * EPS * float(ref), (t, float(ref))


def test_events_and_non_finite_state():
    # x' = x^2, x(0) = 1: x = 1 / (1 - t) blows up at t = 1; x = 2 at t = 1/2
    x = tj.var("x")
    ta = make([(x, x * x)], [1.0], [Event(x - 2.0)])
    res = ta.propagate_until(2.0)
    assert res.outcome == Outcome.err_nf_state
    ts = [t for i, t, d in ta.event_log]
    assert len(ts) == 1 and ts[0] == pytest.approx(0.5, rel=1e-14)


def test_batch_grid_with_terminal_event(osc):
    from taylorjit._integrate.batch import TaylorAdaptiveBatch

    x, v, sys = osc
    grid = np.linspace(0.0, 10.0, 21)
    tb = TaylorAdaptiveBatch(sys, [[0.0, 0.0], [1.0, 0.5]], compact=True,
                             events=[Event(x + 0.9, terminal=True)])
    res = tb.propagate_grid(grid)
    # lane 0 (amplitude 1) stops at pi + asin(0.9); lane 1 (0.5) never reaches -0.9
    assert res.outcome == [Outcome.event, Outcome.time_limit]
    assert res.event_index == [0, None]
    t_stop = math.pi + math.asin(0.9)
    assert tb.time[0] == pytest.approx(t_stop, rel=4 * EPS)
    s0 = res.states[:, 0, 0]
    before = grid <= tb.time[0]
    np.testing.assert_allclose(s0[before], np.sin(grid[before]), atol=1e-14)
    assert np.all(np.isnan(s0[~before]))
    np.testing.assert_allclose(res.states[:, 0, 1], 0.5 * np.sin(grid), atol=1e-14)
