"""TaylorAdaptiveBatch: every lane equals the scalar run of its initial condition, bit for bit."""
import copy
import pickle

import numpy as np
import pytest

import taylorjit as tj
from taylorjit._batch import TaylorAdaptiveBatch
from taylorjit._integrator import TaylorAdaptive
from taylorjit._odesys import Outcome


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
