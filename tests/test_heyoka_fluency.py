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


# --------------------------------------------------------------------------- issue 25, rest
def test_expression_constructor():
    from taylorjit._symbolic.expr import expression

    assert expression("x") is X and expression(X) is X
    assert expression(1.5).value == 1.5 and expression().value == 0.0
    assert expression(3).value == 3.0 and expression(np.float32(0.5)).value == 0.5
    for bad in (True, [1.0], None):
        with pytest.raises(TypeError, match="expression"):
            expression(bad)
    # a constant right-hand side written heyoka's way: free fall, x = 10 - 4.9 t^2
    ta = tj.TaylorAdaptive([(X, V), (V, expression(-9.8))], [10.0, 0.0])
    ta.propagate_until(1.0)
    assert abs(ta.state[0] - 5.1) < 1e-13 and abs(ta.state[1] + 9.8) < 1e-13
    hy = pytest.importorskip("heyoka")
    assert float(str(hy.expression(1.5))) == expression(1.5).value


def _vsys_pair(order):
    vsys = tj.var_ode_sys(PEND, "vars", order=order)
    ta = tj.TaylorAdaptive(vsys, [0.05, 0.025])
    ta.propagate_until(3.0)
    return vsys, ta


def test_variational_storage_conventions():
    vsys, ta = _vsys_pair(3)
    d = ta.state_derivatives
    assert np.array_equal(d, ta.state * vsys.factorials)
    assert np.allclose(vsys.from_derivatives(d), ta.state, rtol=1e-15, atol=0)
    # true derivatives, checked against the dense tensors (taylorjit's own reading)
    for k in (1, 2, 3):
        T = ta.sensitivity(k)
        for q in range(vsys.dim):
            c, alpha = ta.get_mindex(q)
            if sum(alpha) == k:
                idx = tuple(j for j, a in enumerate(alpha) for _ in range(a))
                assert d[q] == pytest.approx(T[(c,) + idx], rel=1e-14, abs=1e-300)
    assert ta.get_mindex(7, flat=True) == [ta.get_mindex(7)[0], *ta.get_mindex(7)[1]]
    assert ta.get_mindex(i=-1, flat=True) == vsys.get_mindex(vsys.dim - 1, flat=True)
    with pytest.raises(IndexError, match="outside"):
        vsys.get_mindex(vsys.dim)
    with pytest.raises(ValueError, match="variables"):
        vsys.to_derivatives(np.zeros(3))
    with pytest.raises(TypeError, match="variational"):
        tj.TaylorAdaptive(PEND, [0.1, 0.0]).state_derivatives


def test_tstate_and_cached_taylor_map():
    vsys, ta = _vsys_pair(2)
    assert np.array_equal(ta.tstate, np.zeros(2)) and not ta.tstate.flags.writeable
    dw = np.array([1e-3, -2e-3])
    out = ta.eval_taylor_map(dw)
    assert np.array_equal(ta.tstate, out) and not ta.tstate.flags.writeable
    # the same values as the vectorised map, bit for bit, one call or a stack
    stack = np.array([dw, 2 * dw, -dw])
    assert np.array_equal(ta.taylor_map.eval(stack)[0], out)
    assert np.array_equal(ta.eval_taylor_map(stack), ta.taylor_map.eval(stack))
    # the cached map follows the state: a write by hand, then a propagation
    ta.state[0] += 1e-3
    assert np.array_equal(ta.eval_taylor_map(dw), ta.taylor_map.eval(dw))
    ta.propagate_for(0.5)
    assert np.array_equal(ta.eval_taylor_map(dw), ta.taylor_map.eval(dw))
    # against a propagation from the displaced initial state (second-order map)
    vs, tb = _vsys_pair(2)
    ref = tj.TaylorAdaptive(PEND, [0.05 + dw[0], 0.025 + dw[1]])
    ref.propagate_until(3.0)
    assert np.allclose(tb.eval_taylor_map(dw), ref.state, rtol=0, atol=1e-8)
    with pytest.raises(TypeError, match="variational"):
        tj.TaylorAdaptive(PEND, [0.1, 0.0]).tstate


def test_variational_against_heyoka():
    hy = pytest.importorskip("heyoka")
    hx, hv = hy.make_vars("x", "v")
    hvs = hy.var_ode_sys([(hx, hv), (hv, -9.8 * hy.sin(hx))], hy.var_args.vars, order=3)
    hta = hy.taylor_adaptive(hvs, [0.05, 0.025])
    hta.propagate_until(3.0)
    vsys, ta = _vsys_pair(3)
    assert [hta.get_mindex(q) for q in range(hta.dim)] == \
        [ta.get_mindex(q, flat=True) for q in range(vsys.dim)]
    for o in range(4):
        assert hta.get_vslice(order=o) == ta.get_vslice(o)
    assert np.allclose(ta.state_derivatives, hta.state, rtol=1e-12, atol=1e-15)
    dw = np.array([1e-3, -2e-3])
    assert np.allclose(ta.eval_taylor_map(dw), hta.eval_taylor_map(dw), rtol=1e-13, atol=0)
    assert np.allclose(ta.tstate, hta.tstate, rtol=1e-13, atol=0)


def test_cfunc_heyoka_layout_and_outputs():
    x, y = tj.make_vars("x", "y")
    g = tj.cfunc([x * y + tj.par[0], tj.sin(x) + tj.time], [x, y])
    cols = np.array([[0.1, 1.5, -2.0], [0.2, -0.5, 3.0]])           # (nvars, npoints)
    P, T = np.array([[0.5, 1.0, -1.0]]), np.array([0.0, 1.0, 2.0])
    r = g(cols, layout="columns", pars=P, time=T)
    assert r.shape == (2, 3) and r.flags.c_contiguous
    assert np.array_equal(r, g(cols.T, pars=P, time=T).T)
    assert np.array_equal(g(cols[:, 0], layout="heyoka", pars=[0.5], time=0.0),
                          g(cols[:, 0], pars=[0.5], time=0.0))
    out = np.empty((2, 3))
    assert g(cols, layout="columns", pars=P, time=T, outputs=out) is out
    assert np.array_equal(out, r)
    with pytest.raises(ValueError, match="columns"):
        g(cols.T, layout="columns", pars=P, time=T)
    with pytest.raises(ValueError, match="layout"):
        g(cols, layout="cols")
    with pytest.raises(ValueError, match="shape"):
        g(cols, layout="columns", pars=P, time=T, outputs=np.empty((3, 2)))
    hy = pytest.importorskip("heyoka")
    hx, hy_ = hy.make_vars("x", "y")
    cf = hy.cfunc([hx * hy_ + hy.par[0], hy.sin(hx) + hy.time], [hx, hy_])
    assert np.allclose(cf(cols, pars=P, time=T), r, rtol=4e-16, atol=0)


# ---- Python callbacks from the compiled event loop (taylorjit._integrate.evloop)
HH_X, HH_Y, HH_VX, HH_VY = tj.make_vars("x", "y", "vx", "vy")
HH = [(HH_X, HH_VX), (HH_Y, HH_VY), (HH_VX, -HH_X - 2 * HH_X * HH_Y),
      (HH_VY, -HH_Y - HH_X * HH_X + HH_Y * HH_Y)]
HH0 = [-0.2, 0.0, 0.0, 0.4]


def test_python_event_callbacks_same_as_compiled_and_step_by_step():
    seen = []
    nt = tj.nt_event(HH_X, lambda ta, t, d: seen.append((t, d, ta.time, ta.state.copy())),
                     direction=tj.event_direction.positive)
    ta = tj.TaylorAdaptive(HH, HH0, nt_events=[nt])
    res = ta.propagate_until(200.0, c_output=True)
    comp = tj.TaylorAdaptive(HH, HH0, events=[tj.Event(HH_X, direction="positive")])
    rc = comp.propagate_until(200.0)
    assert res.n_steps == rc.n_steps and len(seen) == len(comp.event_log) > 25
    assert [s[0] for s in seen] == [t for _, t, _ in comp.event_log]          # bit for bit
    assert all(s[1] == 1 for s in seen) and np.array_equal(ta.state, comp.state)
    # each callback ran at the end of its step: the state there is the step's end state
    co = res.c_output
    for t, _, t_end, st in seen[:5]:
        assert t <= t_end and np.allclose(co(t_end), st, rtol=0, atol=1e-15)
    # the same crossings from a step() loop (the other compiled entry)
    step_seen = []
    ts = tj.TaylorAdaptive(HH, HH0, nt_events=[tj.nt_event(
        HH_X, lambda ta, t, d: step_seen.append(t), direction="positive")])
    while ts.time < 200.0:
        ts.step(200.0 - ts.time)
    assert step_seen == [s[0] for s in seen]


def test_terminal_python_callbacks_continue_like_step_loop():
    hits = []
    te = tj.t_event(HH_X, callback=lambda ta, d: hits.append((ta.time, d)) or True,
                    direction=tj.event_direction.positive)
    ta = tj.TaylorAdaptive(HH, HH0, t_events=[te])
    res = ta.propagate_until(200.0)
    assert res.outcome == tj.Outcome.time_limit and len(hits) > 25
    hits2 = []
    tb = tj.TaylorAdaptive(HH, HH0, t_events=[tj.t_event(
        HH_X, callback=lambda ta, d: hits2.append((ta.time, d)) or True, direction="positive")])
    n = 0
    while tb.time < 200.0:
        tb.step(200.0 - tb.time)
        n += 1
    assert hits2 == hits and n == res.n_steps        # (the last step: 200 - t in one double)
    assert np.allclose(ta.state, tb.state, rtol=0, atol=1e-15)
    # a callback that stops, and one that returns a non-bool
    tc = tj.TaylorAdaptive(HH, HH0, t_events=[tj.t_event(HH_X, callback=lambda ta, d: False,
                                                         direction="positive")])
    r = tc.propagate_until(200.0)
    assert r.outcome == tj.Outcome.event and tc.time == hits[0][0]
    td = tj.TaylorAdaptive(HH, HH0, t_events=[tj.t_event(HH_X, callback=lambda ta, d: 1)])
    with pytest.raises(TypeError, match="True to continue"):
        td.propagate_until(200.0)


def test_python_event_callbacks_against_heyoka():
    hy = pytest.importorskip("heyoka")
    x, y, vx, vy = hy.make_vars("x", "y", "vx", "vy")
    hsys = [(x, vx), (y, vy), (vx, -x - 2 * x * y), (vy, -y - x * x + y * y)]
    got, ref = [], []
    hta = hy.taylor_adaptive(hsys, HH0, nt_events=[hy.nt_event(
        x, lambda ta, t, d: ref.append(t), direction=hy.event_direction.positive)])
    ta = tj.TaylorAdaptive(HH, HH0, nt_events=[tj.nt_event(
        HH_X, lambda ta, t, d: got.append(t), direction=tj.event_direction.positive)])
    hta.propagate_until(300.0)
    ta.propagate_until(300.0)
    assert len(got) == len(ref) > 40
    assert np.max(np.abs(np.subtract(got, ref))) < 1e-11


def test_event_root_exclusions_are_sound():
    """The exclusion tests (taylorjit._integrate.roots) skip the root finder only where it finds
    no root: checked against numpy's roots of random polynomials built to come close
    to zero on the step (roots near the ends, double roots, the step after an event)."""
    from taylorjit._integrate.roots import (_cooldown_exclude, event_roots, fast_exclude, make_workspace,
        wrong_direction)

    rng = np.random.default_rng(11)
    n = 12
    ws = make_workspace(n)
    fired = 0
    for _ in range(1500):
        k = int(rng.integers(1, 5))
        roots = rng.uniform(-0.3, 1.3, size=k)
        if rng.random() < 0.3:
            roots[0] = rng.normal() * 1e-12            # a root at the start of the step
        c = np.polynomial.polynomial.polyfromroots(roots) * rng.uniform(-2, 2)
        g = np.zeros(n + 1)
        g[:len(c)] = c
        g[len(c):] = rng.normal(size=n + 1 - len(c)) * 1e-4 / np.arange(1, n + 2 - len(c)) ** 3
        h = float(rng.choice([1.0, -1.0]) * rng.uniform(0.2, 1.0))
        cd = abs(h) * 10.0 ** rng.uniform(-14, -2)
        real = [r.real for r in np.polynomial.polynomial.polyroots(g) if abs(r.imag) < 1e-7]
        inside = [r for r in real if 0 <= r / h < 1.0]
        for direction in (-1, 0, 1):
            for lo in (0.0, cd):
                if lo == 0.0:
                    excl = fast_exclude(g, n, h) or wrong_direction(g, n, h, direction)
                else:
                    excl = _cooldown_exclude(g, n, h, lo)
                if not excl:
                    continue
                fired += 1
                assert event_roots(g, n, h, direction, lo, *ws) == 0
                d = np.polynomial.polynomial.polyder(g)
                for r in inside:
                    if abs(r) < lo * (1 - 1e-6) or abs(abs(r) - abs(h)) < 1e-9:
                        continue            # inside the cooldown / at the open end
                    slope = np.polynomial.polynomial.polyval(r, d)
                    assert direction != 0 and slope * direction < 0, (g, h, r, direction)
    assert fired > 500
