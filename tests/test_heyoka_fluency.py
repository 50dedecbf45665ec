"""heyoka.py code as a heyoka user types it runs on taylorjit with heyoka's meaning:
results unpack and index as heyoka 7's tuples, outcomes convert with int(),
t_event / nt_event / event_direction, t_events= / nt_events= / compact_mode=,
step(write_tc=True), d_output, step callbacks' pre_hook, the batch names
(state=, set_time, step_res, propagate_res, update_d_output).  Each form is
checked against taylorjit's native call, and against heyoka itself where it is
installed (same step counts and event times)."""
import numpy as np
import pytest

import taylorjit as tj

X, V = tj.make_vars("x", "v")
PEND = [(X, V), (V, -9.8 * tj.sin(X))]


def test_results_unpack_and_index_as_heyoka_7():
    ta = tj.TaylorAdaptive(PEND, [0.05, 0.025])
    out = ta.propagate_until(10.0, c_output=True)
    oc, min_h, max_h, n_steps, c_out, cb = out
    assert (oc, n_steps) == (tj.Outcome.time_limit, out.n_steps) and c_out is out.c_output
    assert out[4] is c_out and out[5] is None and len(out) == 6 and out[-3] == n_steps
    assert int(oc) == -4294967299 and int(tj.Outcome.success) == -4294967297
    assert [int(o) for o in (tj.Outcome.step_limit, tj.Outcome.err_nf_state,
                             tj.Outcome.cb_stop)] == [-4294967298, -4294967300, -4294967301]
    grid = np.linspace(ta.time, ta.time + 2.0, 11)
    g = ta.propagate_grid(grid)
    oc, min_h, max_h, n_steps, cb, states = g
    assert states is g.states and g[5] is g.states and states.shape == (11, 2)
    res = ta.step()
    oc, h = res
    assert res[0] == tj.Outcome.success and res[1] == h == res.h and len(res) == 2


def test_terminal_event_outcome_converts_to_heyoka_code():
    stops = []
    ev0 = tj.t_event(X - 10.0)                                  # never reached
    ev1 = tj.t_event(V, direction=tj.event_direction.negative,
                     callback=lambda ta, d_sgn: (stops.append(ta.time), False)[1])
    nt = tj.nt_event(X, lambda ta, t, d_sgn: None, direction=tj.event_direction.any)
    ta = tj.TaylorAdaptive(PEND, [0.0, 0.5], t_events=[ev0, ev1], nt_events=[nt])
    oc = ta.propagate_until(10.0)[0]
    assert oc == tj.Outcome.event and -int(oc) - 1 == 1 and len(stops) == 1
    # the native spelling gives the same run
    ref = tj.TaylorAdaptive(PEND, [0.0, 0.5], events=[
        tj.Event(X - 10.0, terminal=True),
        tj.Event(V, direction="negative", terminal=True, callback=lambda ta, d: False),
        tj.Event(X, callback=lambda ta, t, d: None)])
    r = ref.propagate_until(10.0)
    assert r.outcome is tj.Outcome.event and r.event_index == 1 and ref.time == ta.time
    # step() reports the terminal event (heyoka's loop `while oc == success` stops there)
    ta = tj.TaylorAdaptive(PEND, [0.0, 0.5], t_events=[tj.t_event(V)])
    n = 0
    while True:
        oc, h = ta.step()
        n += 1
        if oc != tj.Outcome.success:
            break
    assert oc == tj.Outcome.event and int(oc) == -1 and n < 10
    with pytest.raises(ValueError, match="t_event"):
        tj.TaylorAdaptive(PEND, [0.0, 0.5], t_events=[tj.nt_event(X, lambda ta, t, d: None)])
    with pytest.raises(TypeError, match="event_index"):
        int(tj.Outcome.event)


def test_integrator_keywords_and_step_callback_pre_hook():
    ta = tj.TaylorAdaptive(PEND, [0.05, 0.025], compact_mode=True)
    assert ta._kernel.kind == "compact"
    tb = tj.TaylorAdaptive(PEND, [0.05, 0.025], compact_mode=False)
    assert tb._kernel.kind == "unrolled"
    with pytest.raises(ValueError, match="compact_mode"):
        tj.TaylorAdaptive(PEND, [0.05, 0.025], compact=True, compact_mode=False)
    oc, h = tb.step(write_tc=True)
    d = tb.update_d_output(tb.time - 0.5 * h)
    assert d is tb.d_output and tb.d_output is tb.dense_output

    class Callback:
        def __init__(self):
            self.calls, self.hooked = 0, []

        def __call__(self, ta):
            self.calls += 1
            return True

        def pre_hook(self, ta):
            self.hooked.append(ta.time)

    cb = Callback()
    res = ta.propagate_until(5.0, callback=cb)
    assert cb.hooked == [0.0] and cb.calls == res.n_steps and res[5] is cb


def test_batch_heyoka_names():
    x0 = np.array([[0.05, 0.1, -0.2, 0.3], [0.0, 0.0, 0.1, 0.0]])
    tb = tj.TaylorAdaptiveBatch(PEND, state=x0, compact_mode=False)
    native = tj.TaylorAdaptiveBatch(PEND, x0, compact=False)
    tb.set_time(0.0)
    tb.propagate_until(3.0)
    native.propagate_until(3.0)
    assert np.array_equal(tb.state, native.state)
    assert [r[3] for r in tb.propagate_res] == [r[3] for r in native.propagate_res]
    tb.step([0.010, 0.011, 0.012, 0.013])
    assert [o for o, _ in tb.step_res] == [tj.Outcome.time_limit] * 4
    assert tb.update_d_output(tb.time - 0.005).shape == (2, 4)
    with pytest.raises(TypeError, match="once"):
        tj.TaylorAdaptiveBatch(PEND, x0, state=x0)


def test_against_heyoka_itself():
    hy = pytest.importorskip("heyoka")
    hx, hv = hy.make_vars("x", "v")
    hta = hy.taylor_adaptive([(hx, hv), (hv, -9.8 * hy.sin(hx))], [0.0, 0.5],
                             t_events=[hy.t_event(hv, direction=hy.event_direction.negative)])
    ta = tj.TaylorAdaptive(PEND, [0.0, 0.5],
                           t_events=[tj.t_event(V, direction=tj.event_direction.negative)])
    h_out, t_out = hta.propagate_until(10.0), ta.propagate_until(10.0)
    assert len(h_out) == len(t_out) == 6
    assert int(h_out[0]) == int(t_out[0]) == -1
    assert h_out[3] == t_out[3]                           # the same number of steps
    assert abs(hta.time - ta.time) < 1e-13
    for o in ("success", "time_limit", "step_limit", "err_nf_state", "cb_stop"):
        assert int(getattr(hy.taylor_outcome, o)) == int(getattr(tj.Outcome, o))


def test_variational_system_heyoka_names():
    vsys = tj.var_ode_sys(PEND, "vars", order=2)
    assert vsys.sys == list(vsys) and vsys.n_orig_sv == 2 and vsys.vargs == vsys.wrt
    ta = tj.TaylorAdaptive(vsys, [0.05, 0.025])
    assert ta.get_mindex(i=0) == (0, (0, 0)) == vsys.get_mindex(i=0)
    c, alpha = ta.get_mindex(i=2)
    assert c == 0 and sum(alpha) == 1


def test_cfunc_heyoka_keywords():
    x, y = tj.make_vars("x", "y")
    g = tj.cfunc(fn=[x * y, tj.sin(x) + y], vars=[x, y])
    h = tj.cfunc([x * y, tj.sin(x) + y], [x, y])
    pts = np.array([[0.1, 0.2], [1.5, -0.5]])
    assert np.array_equal(g(pts), h(pts))
    assert np.array_equal(tj.cfunc(outputs=[x * y], vars=[x, y])(pts)[:, 0], (pts[:, 0] * pts[:, 1]))
    heyoka_inputs = pts.T                                  # (nvars, npoints)
    assert np.array_equal(g(heyoka_inputs.T).T, h(pts).T)
    with pytest.raises(TypeError, match="once"):
        tj.cfunc([x], [x], vars=[x])
    with pytest.raises(TypeError, match="once"):
        tj.cfunc([x], fn=[x], vars=[x])
