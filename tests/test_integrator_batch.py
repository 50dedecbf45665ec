"""TaylorAdaptiveBatch: every lane equals the scalar run of its initial condition, bit for bit."""
import copy
import pickle

import numpy as np
import pytest

import taylorjit as tj
from taylorjit._integrate.batch import TaylorAdaptiveBatch
from taylorjit._integrate.integrator import TaylorAdaptive
from taylorjit._integrate.odesys import Outcome


def _sys():
    x, v = tj.make_vars("x", "v")
    return [(x, v), (v, -tj.par[0] * tj.sin(x) + 0.1 * tj.cos(tj.time))]


X0 = np.array([[0.05, 0.5, -1.0, 2.5], [0.025, 0.0, 0.3, -0.1]])
P = np.array([[9.8, 1.0, 4.0, 0.5]])


def _scalar(lane, compact=True):
    return TaylorAdaptive(_sys(), X0[:, lane], pars=P[:, lane], compact=compact)


def test_lanes_equal_scalar_runs_propagate_until():
    tb = TaylorAdaptiveBatch(_sys(), X0, pars=P, compact=True)
    res = tb.propagate_until(50.0)
    assert all(oc is Outcome.time_limit for oc in res.outcome)
    for lane in range(4):
        ta = _scalar(lane)
        r = ta.propagate_until(50.0)
        assert np.array_equal(tb.state[:, lane], ta.state)
        assert tuple(tb.dtime[lane]) == ta.dtime
        assert res.n_steps[lane] == r.n_steps
        assert res.min_h[lane] == r.min_h and res.max_h[lane] == r.max_h
        assert np.array_equal(tb.tc[:, :, lane], ta.tc)


def test_lanes_equal_scalar_runs_steps_grid_and_per_lane_times():
    tb = TaylorAdaptiveBatch(_sys(), X0, pars=P, compact=True)
    steps = tb.step()
    back = tb.step_backward(0.01)
    for lane in range(4):
        ta = _scalar(lane)
        oc, h = ta.step()
        assert steps[lane] == (oc, h)
        assert back[lane] == tuple(ta.step_backward(0.01))
        assert np.array_equal(tb.state[:, lane], ta.state)
    # a different final time per lane, then a common grid
    tb = TaylorAdaptiveBatch(_sys(), X0, pars=P, compact=True)
    t_end = np.array([1.0, 2.0, 3.0, 4.0])
    tb.propagate_until(t_end)
    assert tb.time.tolist() == t_end.tolist()
    grid = np.linspace(0.0, -5.0, 11)[:, None] + t_end[None, :]
    res = tb.propagate_grid(grid)
    assert res.states.shape == (11, 2, 4)
    for lane in range(4):
        ta = _scalar(lane)
        ta.propagate_until(t_end[lane])
        r = ta.propagate_grid(grid[:, lane])
        assert np.array_equal(res.states[:, :, lane], r.states)


def test_batch_spec_equals_compact_and_callback():
    a = TaylorAdaptiveBatch(_sys(), X0, pars=P, compact=True)
    b = TaylorAdaptiveBatch(_sys(), X0, pars=P, compact=False)
    a.propagate_until(20.0)
    b.propagate_until(20.0)
    assert np.array_equal(a.state, b.state)
    calls = []
    c = TaylorAdaptiveBatch(_sys(), X0, pars=P, compact=True)
    res = c.propagate_until(20.0, callback=lambda t: calls.append(1) or len(calls) < 3)
    assert all(oc is Outcome.cb_stop for oc in res.outcome) and len(calls) == 3
    assert np.all(res.n_steps == 3)


def test_batch_views_errors_and_pickle():
    tb = TaylorAdaptiveBatch(_sys(), X0, pars=P, compact=True)
    assert tb.state.shape == (2, 4) and tb.pars.shape == (1, 4)
    tb.pars[0, 1] = 2.0                     # writable views
    assert tb._pa[1, 0] == 2.0
    tb.state[0, 0] = 0.07
    assert tb._st[0, 0] == 0.07
    with pytest.raises(ValueError, match=r"shape \(2, batch\)"):
        TaylorAdaptiveBatch(_sys(), X0[:1], pars=P, compact=True)
    with pytest.raises(ValueError, match="parameters"):
        TaylorAdaptiveBatch(_sys(), X0, pars=[[1.0, 2.0]], compact=True)
    tb.propagate_until(5.0)
    for clone in (pickle.loads(pickle.dumps(tb)), copy.deepcopy(tb)):
        clone.propagate_until(10.0)
    tb.propagate_until(10.0)
    assert np.array_equal(clone.state, tb.state)


# ------------------------------------------------------------------ stop_all_lanes
def _osc():
    x, v = tj.make_vars("x", "v")
    return [(x, v), (v, -x)], x


def _truncated_scalar(sys_, x0, t, n_steps, **kw):
    """The scalar run of a lane's initial condition stopped after ``n_steps`` steps."""
    ta = TaylorAdaptive(sys_, x0, **kw)
    ta.propagate_until(t, max_steps=int(n_steps))
    return ta


@pytest.mark.parametrize("compact", [True, False])
def test_stop_all_lanes_terminal_event(compact):
    """x'' = -x from (x0, 1): x = 0 first at t = atan2(-x0, 1) mod pi (closed form).
    Default: each lane stops at its own crossing; stop_all_lanes: the first lane's
    crossing stops the others after the same number of steps, with Outcome.success."""
    sys_, x = _osc()
    x0 = np.array([[-0.1, -1.0, 0.5, -2.0], [1.0, -1.0, 0.0, 0.3]])
    t_cross = np.mod(np.arctan2(-x0[0], x0[1]), np.pi)      # x0 cos t + v0 sin t = 0
    for stop_all in (False, True):
        tb = TaylorAdaptiveBatch(sys_, x0, t_events=[tj.t_event(x)], compact=compact,
                                 stop_all_lanes=stop_all)
        assert tb.stop_all_lanes is stop_all
        res = tb.propagate_until(10.0)
        if not stop_all:
            assert all(o is Outcome.event for o in res.outcome)
            assert res.event_index == [0] * 4
            assert np.allclose(tb.time, t_cross, rtol=0, atol=1e-14)
            continue
        first = int(np.argmin(t_cross))
        assert [o.name for o in res.outcome] == ["event" if j == first else "success"
                                                 for j in range(4)]
        assert res.event_index == [0 if j == first else None for j in range(4)]
        assert abs(tb.time[first] - t_cross[first]) < 1e-14
        assert np.all(res.n_steps == res.n_steps[first])         # lockstep
        assert np.all(tb.time[np.arange(4) != first] < t_cross[np.arange(4) != first])
        for j in range(4):
            if j != first:          # a stopped lane is the scalar run after as many steps
                ta = _truncated_scalar(sys_, x0[:, j], 10.0, res.n_steps[j],
                                       t_events=[tj.t_event(x)], compact=compact)
                assert np.array_equal(ta.state, tb.state[:, j]) and ta.time == tb.time[j]
        # the next call goes on from there
        res = tb.propagate_until(10.0)
        assert sum(o is Outcome.event for o in res.outcome) >= 1
        assert all(o in (Outcome.event, Outcome.success) for o in res.outcome)


def _blowup():
    z, w, u = tj.make_vars("z", "w", "u")
    # z' = z^3 blows up at t = 1 / (2 z0^2); (w, u) an oscillator
    return [(z, z * z * z), (w, u), (u, -w)], w


@pytest.mark.parametrize("kind", ["simd", "plain", "events", "grid", "c_output"])
def test_stop_all_lanes_on_a_failing_lane(kind):
    """The lane that blows up (z0 = 1: at t = 0.5) stops the others in the round of
    its failed step (heyoka's batch semantics); without the option they go on."""
    sys_, w = _blowup()
    x0 = np.array([[0.01, 1.0, 1e-3, 0.005, 0.01], [1.0, 2.0, 3.0, 4.0, 0.1], [0.0] * 5])
    kw = {"t_events": [tj.t_event(w - 100.0)]} if kind == "events" else {}
    compact = kind == "events"
    T = 2000.0
    tb = TaylorAdaptiveBatch(sys_, x0, compact=compact, stop_all_lanes=True, **kw)
    if kind == "plain":
        tb._simd = False            # the lanes one by one through the scalar plain loop
    if kind == "grid":
        grid = np.linspace(0.0, T, 41)
        res = tb.propagate_grid(grid)
    else:
        res = tb.propagate_until(T, c_output=kind == "c_output")
    if kind == "simd":
        from taylorjit._integrate import simdbatch as _simdbatch
        assert isinstance(tb.__dict__.get("_simd"), _simdbatch.BatchKernel)
    names = [o.name for o in res.outcome]
    assert names == ["success", "err_nf_state", "success", "success", "success"]
    nfail = res.n_steps[1]
    assert np.all(np.delete(res.n_steps, 1) == nfail + 1)       # the failing round completed
    assert abs(tb.time[1] - 0.5) < 1e-12 and np.all(np.delete(tb.time, 1) < T)
    for j in range(5):
        ta = TaylorAdaptive(sys_, x0[:, j], compact=compact, **kw)
        r = ta.propagate_until(T, max_steps=int(res.n_steps[j]) + (j == 1))
        assert r.outcome is (Outcome.err_nf_state if j == 1 else Outcome.step_limit)
        assert np.array_equal(ta.state, tb.state[:, j]) and ta.time == tb.time[j]
        if kind == "grid":      # points up to the stop, NaN after
            ok = grid <= tb.time[j]
            assert np.all(np.isfinite(res.states[ok, :, j]))
            assert np.all(np.isnan(res.states[~ok, :, j]))
            assert np.allclose(res.states[ok, 1, j], x0[1, j] * np.cos(grid[ok]), rtol=0,
                               atol=1e-9)
        if kind == "c_output" and j != 1:
            assert res.c_output.lanes[j].tcs.shape[0] == res.n_steps[j]
    # without the option the others reach the final time
    tb = TaylorAdaptiveBatch(sys_, x0, compact=compact, **kw)
    res = tb.propagate_until(T)
    assert [o.name for o in res.outcome] == ["time_limit", "err_nf_state"] + ["time_limit"] * 3


def test_stop_all_lanes_errors():
    sys_, _ = _osc()
    with pytest.raises(TypeError, match="stop_all_lanes must be True or False"):
        TaylorAdaptiveBatch(sys_, np.ones((2, 2)), stop_all_lanes="yes")
    tb = TaylorAdaptiveBatch(sys_, np.ones((2, 2)), compact=True)
    tb.stop_all_lanes = True
    assert pickle.loads(pickle.dumps(tb)).stop_all_lanes


# ------------------------------------------------------------------ events on SIMD lanes
def _kepler():
    x, y, vx, vy = tj.make_vars("x", "y", "vx", "vy")
    r3 = (x * x + y * y) ** -1.5
    return [(x, vx), (y, vy), (vx, -x * r3), (vy, -y * r3)], x, y


def _simd_events(sys_, x0, monkeypatch, **kw):
    """A batch integrator whose events run on SIMD lanes (the vector jet built at once)."""
    monkeypatch.setenv("TAYLORJIT_TIERING", "0")
    tb = TaylorAdaptiveBatch(sys_, x0, compact=False, **kw)
    from taylorjit._integrate import simdev as _simdev
    assert isinstance(tb._simd_events(), _simdev.EventJet)
    return tb


def _bits(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and np.array_equal(a.view(np.uint64), b.view(np.uint64))


@pytest.mark.parametrize("B", [3, 4, 9])
def test_events_on_simd_lanes_equal_scalar_runs(B, monkeypatch):
    """Kepler orbits (e up to ~0.5) from (1, 0), a terminal event at the downward crossing
    of y = 0 (half a period: pi a^1.5, a from the energy) and a logged non-terminal event
    at x = 0:
    on SIMD lanes (padding lanes with 3, two groups with 9) each lane is the scalar run
    with the same events bit for bit -- states, times, tables, steps, event logs --
    through two propagations (the second resumes after the terminal event)."""
    sys_, x, y = _kepler()
    vy0 = np.linspace(0.8, 1.2, B)
    x0 = np.array([[1.0] * B, [0.0] * B, [0.0] * B, list(vy0)])
    ev = lambda: [tj.t_event(y, direction=tj.event_direction.negative), tj.Event(x)]
    tb = _simd_events(sys_, x0, monkeypatch, events=ev())
    half = np.pi * (1.0 / (2.0 - vy0 ** 2)) ** 1.5         # a = 1 / (2 / r - v^2)
    for T in (20.0, 25.0):
        res = tb.propagate_until(T)
        for j in range(B):
            ta = TaylorAdaptive(sys_, x0[:, j], compact=False, events=ev())
            r = ta.propagate_until(20.0)
            if T == 25.0:
                ta.event_log.clear()
                r = ta.propagate_until(25.0)
            assert res.outcome[j] is r.outcome and res.n_steps[j] == r.n_steps
            assert _bits(tb.state[:, j], ta.state) and tb.dtime[j].tolist() == list(ta.dtime)
            assert _bits(tb.tc[:, :, j], ta.tc)
            assert tb.event_log[j] == ta.event_log
        if T == 20.0:
            assert all(o is Outcome.event for o in res.outcome)
            assert np.allclose(tb.time, half, rtol=0, atol=1e-12)
            assert all([e for e, _, _ in log] == [1] for log in tb.event_log)   # x = 0 once
        for log in tb.event_log:
            log.clear()


def test_events_on_simd_lanes_callbacks_and_stop_all(monkeypatch):
    """Callbacks get the lane (``cb(ta, d_sgn, lane)``, ``cb(ta, t, d_sgn, lane)``) and run
    as the scalar ones; a terminal callback returning True goes on.  With
    stop_all_lanes the first lane's event stops the others after the same step, each
    the scalar run truncated there."""
    sys_, x, y = _kepler()
    B = 5
    x0 = np.array([[1.0] * B, [0.0] * B, [0.0] * B, list(np.linspace(0.9, 1.1, B))])
    seen, nt = [], []

    def term(ta, d, *lane):
        seen.append((lane, ta.time if not lane else ta.time[lane[0]]))
        return True

    def mk():
        return [tj.t_event(y, callback=term, cooldown=1e-6),
                tj.nt_event(x, callback=lambda ta, t, d, *lane: nt.append((lane, t)))]
    tb = _simd_events(sys_, x0, monkeypatch, events=mk())
    res = tb.propagate_until(15.0)
    assert [o.name for o in res.outcome] == ["time_limit"] * B
    batch_seen, batch_nt = list(seen), list(nt)
    for j in range(B):
        seen.clear()
        nt.clear()
        ta = TaylorAdaptive(sys_, x0[:, j], compact=False, events=mk())
        r = ta.propagate_until(15.0)
        assert r.n_steps == res.n_steps[j] and _bits(ta.state, tb.state[:, j])
        assert [t for (lane, t) in batch_seen if lane == (j,)] == [t for _, t in seen]
        assert [t for (lane, t) in batch_nt if lane == (j,)] == [t for _, t in nt]
        assert len(seen) >= 3 and len(nt) >= 2
    # stop_all_lanes: the first lane (in steps) to reach its half period stops the batch
    ev = lambda: [tj.t_event(y, direction=tj.event_direction.negative)]
    tb = _simd_events(sys_, x0, monkeypatch, events=ev(), stop_all_lanes=True)
    res = tb.propagate_until(15.0)
    first = [o.name for o in res.outcome].index("event")
    assert [o.name for o in res.outcome] == ["event" if j == first else "success"
                                             for j in range(B)]
    assert np.all(res.n_steps == res.n_steps[first])
    for j in range(B):
        ta = _truncated_scalar(sys_, x0[:, j], 15.0, res.n_steps[j], events=ev(),
                               compact=False)
        assert _bits(ta.state, tb.state[:, j]) and ta.time == tb.time[j]


def test_events_on_simd_lanes_grid_and_c_output(monkeypatch):
    """Grids and continuous output with events on SIMD lanes: the scalar runs' bits."""
    sys_, x, y = _kepler()
    B = 4
    x0 = np.array([[1.0] * B, [0.0] * B, [0.0] * B, list(np.linspace(0.85, 1.15, B))])
    ev = lambda: [tj.Event(x * x + y * y - 100.0)]      # never triggers
    tb = _simd_events(sys_, x0, monkeypatch, events=ev())
    grid = np.linspace(0.0, 12.0, 37)
    res = tb.propagate_grid(grid)
    co = _simd_events(sys_, x0, monkeypatch, events=ev()).propagate_until(
        12.0, c_output=True).c_output
    ts = np.linspace(0.0, 12.0, 101)
    for j in range(B):
        ta = TaylorAdaptive(sys_, x0[:, j], compact=False, events=ev())
        r = ta.propagate_grid(grid)
        assert r.n_steps == res.n_steps[j] and _bits(r.states, res.states[:, :, j])
        ta = TaylorAdaptive(sys_, x0[:, j], compact=False, events=ev())
        c = ta.propagate_until(12.0, c_output=True).c_output
        assert _bits(c(ts), co.lanes[j](ts))


@pytest.mark.parametrize("hacc", [False, True])
def test_events_on_simd_lanes_limits_and_high_accuracy(hacc, monkeypatch):
    """Events on SIMD lanes (the step size, the Horner update and the fast event
    exclusion in the vector code, a lane's table copied out only when its step reads it
    or it stops): with max_delta_t cutting steps, max_steps stopping the lanes, and
    high accuracy (compensated update, computed per lane), each
    lane is the scalar run bit for bit -- states, times, tables, step counts, min/max
    steps, event logs -- through two propagations."""
    sys_, x, y = _kepler()
    B = 6
    vy0 = np.linspace(0.85, 1.15, B)
    x0 = np.array([[1.0] * B, [0.0] * B, [0.0] * B, list(vy0)])
    ev = lambda: [tj.t_event(x * x + y * y - 100.0), tj.Event(y)]   # never / y = 0 logged
    tb = _simd_events(sys_, x0, monkeypatch, events=ev(), high_accuracy=hacc)
    tas = [TaylorAdaptive(sys_, x0[:, j], compact=False, events=ev(), high_accuracy=hacc)
           for j in range(B)]
    for T, kw in ((7.0, dict(max_delta_t=0.15)), (30.0, dict(max_steps=40))):
        res = tb.propagate_until(T, **kw)
        for j, ta in enumerate(tas):
            r = ta.propagate_until(T, **kw)
            assert res.outcome[j] is r.outcome and res.n_steps[j] == r.n_steps
            assert res.min_h[j] == r.min_h and res.max_h[j] == r.max_h
            assert _bits(tb.state[:, j], ta.state) and tb.dtime[j].tolist() == list(ta.dtime)
            assert _bits(tb.tc[:, :, j], ta.tc)
            assert tb.event_log[j] == ta.event_log
    assert all(o.name == "step_limit" for o in res.outcome)
    assert all(len(log) > 0 for log in tb.event_log)
