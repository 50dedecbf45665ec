"""The fused step of unrolled ODE kernels (``taylorjit._codegen.step_ir.emit_step``) and the plain
propagation loop that calls it (``_stepper.propagate_fused`` / ``taylorjit._integrate.plainloop``).

The fused step must perform the IEEE operations of the three numba phases
(``compute_jet``, ``step_size``, ``eval_poly``) bit for bit, and the plain loop
must give the outcomes, step counts, min/max step sizes, states, times and Taylor
coefficients of the general loop (``until_step``) in every situation it handles:
references here are the numba phases and the general loop, which the rest of the
suite checks against quad-precision data and analytic solutions."""
import ctypes
import math
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from numba import njit

import taylorjit as tj
from taylorjit._integrate import stepper as S
from taylorjit._codegen.decompose import decompose
from taylorjit._symbolic.expr import var
from taylorjit._integrate.integrator import TaylorAdaptive
from taylorjit._codegen.kernel import get_kernel
from taylorjit._integrate.odesys import Outcome
from taylorjit._integrate.plainloop import B_TC

from _taylor_ref import random_expressions
from test_kernels import _bitwise

X, Y = var("x"), var("y")
PARS = np.array([0.7, -1.3])
_STEP_FN = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_double,
                            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_double, ctypes.c_double,
                            ctypes.c_double, ctypes.c_double)


@njit(error_model="numpy")
def _phases(jaddr, tc, order, n, state, pars, t, hrows, max_h, rf, io, io1, xnew):
    """The three numba phases of a step with the kernel's light entry (the reference)."""
    jet = S._jet_from_addr(jaddr)
    S.compute_jet(jet, np.zeros((1, 1), np.int64), np.zeros(1), tc, order, n, state, pars, t,
                  0, 1)
    h = S.step_size(tc, hrows, order, max_h, rf, io, io1)
    S.eval_poly(tc, n, order, h, xnew, 0)
    return h


def _fused_vs_phases(kernel, order, state, t, max_h):
    jet = kernel.plan_for(order)[0]
    assert jet.step_addr and jet.light_addr
    n = len(state)
    rf, io, io1 = S.rho_factor(order), 1.0 / order, 1.0 / (order - 1)
    tc_a, tc_b = kernel.new_tc(order), kernel.new_tc(order)
    x_a, x_b = np.zeros(n), np.zeros(n)
    st = np.array(state, float)
    h_a = _STEP_FN(jet.step_addr)(tc_a.ctypes.data, PARS.ctypes.data, t, st.ctypes.data,
                                  x_a.ctypes.data, max_h, rf, io, io1)
    h_b = _phases(jet.light_addr, tc_b, order, n, st, PARS, t, np.arange(n, dtype=np.int64),
                  max_h, rf, io, io1, x_b)
    rows = list(range(n))
    assert _bitwise(np.array([h_a]), np.array([h_b])), (h_a, h_b)
    assert _bitwise(x_a, x_b)
    assert _bitwise(tc_a[rows], tc_b[rows])


@settings(max_examples=15, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), order=st.sampled_from([2, 3, 8, 20]))
def test_fused_step_equals_the_numba_phases_on_random_systems(data, order):
    e1, p1 = data.draw(random_expressions(max_ops=6, with_pars=True, with_time=True))
    e2, _ = data.draw(random_expressions(max_ops=6, with_pars=True, with_time=True, point=p1))
    d = decompose([e1, e2], [X, Y])
    k = get_kernel(d, ode=True, kind="unrolled", order=order, full=0)
    if not k.plan_for(order)[0].light_addr:
        return                  # VM groups at order 0 (log, real powers ...): no fused step
    x0 = [p1["x"], p1["y"]]
    for max_h in (math.inf, -math.inf, 1e-3, -0.25, 0.0):
        _fused_vs_phases(k, order, x0, 0.3, max_h)


@pytest.mark.parametrize("state", [[0.0, 0.0], [1e-300, 2.0], [3.0, -1e10], [math.nan, 1.0],
                                   [math.inf, 0.5], [1.0, 1.0]])
def test_fused_step_special_states(state):
    """Zero radii (constant solution), huge and tiny values, non-finite states: h, the
    new state and the coefficients as the phases give them (NaN where they do)."""
    x, y = X, Y
    d = decompose([y * tj.cos(x) + tj.time, -x * y + tj.par[0]], [x, y])
    k = get_kernel(d, ode=True, kind="unrolled", order=20, full=0)
    for max_h in (math.inf, -math.inf, 0.01):
        _fused_vs_phases(k, 20, state, 1.5, max_h)


# ------------------------------------------------------------------ the plain loop
def _generic(ta):
    """Force ``ta`` onto the general loop with the light entry (the pre-fused path)."""
    jet = ta._kernel.plan_for(ta._order)[0]
    ta._iw[S.I_LIGHT] = 1
    ta._jaddr = jet.light_addr
    ta._head = (ta._jaddr,) + ta._head[1:]
    ta._plain = None
    ta._iw[S.I_RADDR] = 0
    return ta


def _pair(sys_, x0, **kw):
    a = TaylorAdaptive(sys_, x0, compact=False, **kw)
    b = _generic(TaylorAdaptive(sys_, x0, compact=False, **kw))
    assert a._kernel.kind == "unrolled" and a._iw[S.I_LIGHT] == 2 and a._plain is not None
    # long calls switch to the register step (tc recomputed on exit: compared by _same)
    assert a._iw[S.I_RADDR] != 0 and a._iw[S.I_LADDR] != 0
    return a, b


def _same(a, b, ra=None, rb=None):
    if ra is not None:
        assert tuple(ra)[:4] == tuple(rb)[:4], (ra, rb)
    assert _bitwise(a.state, b.state) and a.dtime == b.dtime
    assert _bitwise(a.tc, b.tc)
    assert _bitwise(a._fw, b._fw) and np.array_equal(a._iw[:S.I_LIGHT], b._iw[:S.I_LIGHT])


def _lorenz():
    x, y, z = tj.make_vars("x", "y", "z")
    return [(x, 10.0 * (y - x)), (y, x * (28.0 - z) - y), (z, x * y - 8.0 / 3.0 * z)], [1.0] * 3


def test_plain_loop_equals_general_loop():
    sys_, x0 = _lorenz()
    a, b = _pair(sys_, x0)
    for call in (lambda ta: ta.propagate_until(5.0),
                 lambda ta: ta.propagate_until(7.5, max_delta_t=0.01),
                 lambda ta: ta.propagate_until(20.0, max_steps=37),
                 lambda ta: ta.propagate_for(-1.25),
                 lambda ta: ta.propagate_until(ta.time),            # nothing to do
                 lambda ta: ta.propagate_until(9.0, max_delta_t=0.5, max_steps=3)):
        _same(a, b, call(a), call(b))
    for call in (lambda ta: ta.step(), lambda ta: ta.step(0.001), lambda ta: ta.step_backward(),
                 lambda ta: ta.step(-0.002)):
        ra, rb = call(a), call(b)
        assert ra.outcome is rb.outcome and ra.h == rb.h
        _same(a, b)
    # the general driver with the fused step: callback (one step per call), progress
    # chunks, grid and continuous output
    ta_, tb_ = [], []
    ra = a.propagate_until(12.0, callback=lambda ta: (ta_.append(ta.time), len(ta_) < 40)[1])
    rb = b.propagate_until(12.0, callback=lambda ta: (tb_.append(ta.time), len(tb_) < 40)[1])
    assert ra.outcome is rb.outcome is Outcome.cb_stop and ta_ == tb_ and len(ta_) == 40
    _same(a, b, ra, rb)
    g = np.linspace(a.time, a.time + 3.0, 31)
    ga, gb = a.propagate_grid(g), b.propagate_grid(g)
    assert _bitwise(ga.states, gb.states)
    _same(a, b, ga, gb)
    ca, cb = a.propagate_for(2.0, c_output=True), b.propagate_for(2.0, c_output=True)
    _same(a, b, ca, cb)
    assert np.array_equal(ca.c_output.tcs, cb.c_output.tcs)
    assert _bitwise(a.update_d_output(a.time - 0.01), b.update_d_output(b.time - 0.01))


def test_plain_loop_against_the_compact_vm_and_references():
    """The fused path against a different kernel kind (bit for bit) and the
    back-and-forth pendulum against its initial state."""
    x, v = tj.make_vars("x", "v")
    sys_ = [(x, v), (v, -9.8 * tj.sin(x))]
    a = TaylorAdaptive(sys_, [0.05, 0.025], compact=False)
    c = TaylorAdaptive(sys_, [0.05, 0.025], compact=True)
    ra, rc = a.propagate_until(1000.0), c.propagate_until(1000.0)
    assert ra.n_steps == rc.n_steps == 4801 and tuple(ra)[:4] == tuple(rc)[:4]
    assert _bitwise(a.state, c.state) and _bitwise(a.tc, c.tc)
    a.propagate_until(0.0)
    assert np.max(np.abs(a.state - [0.05, 0.025])) <= 1e-15


def test_plain_loop_non_finite_state_and_blow_up():
    x = tj.var("x")
    a, b = _pair([(x, x * x)], [1.0])                  # x = 1 / (1 - t)
    ra, rb = a.propagate_until(0.9), b.propagate_until(0.9)
    _same(a, b, ra, rb)
    assert abs(a.state[0] - 10.0) <= 1e-12
    ra, rb = a.propagate_until(2.0, max_steps=500), b.propagate_until(2.0, max_steps=500)
    _same(a, b, ra, rb)
    assert ra.outcome in (Outcome.step_limit, Outcome.err_nf_state) and a.time < 1.0
    a.state[0] = math.nan                              # a non-finite state stops at once
    b.state[0] = math.nan
    ra, rb = a.propagate_until(5.0), b.propagate_until(5.0)
    assert ra.outcome is Outcome.err_nf_state and ra.n_steps == 0
    _same(a, b, ra, rb)


def test_plain_path_only_where_it_applies_and_survives_pickling():
    sys_, x0 = _lorenz()
    x = sys_[0][0]
    assert TaylorAdaptive(sys_, x0, compact=False, events=[tj.Event(x)])._iw[S.I_LIGHT] == 1
    assert TaylorAdaptive(sys_, x0, compact=False, high_accuracy=True)._iw[S.I_LIGHT] == 1
    assert TaylorAdaptive(sys_, x0, compact=True)._plain is None
    a = TaylorAdaptive(sys_, x0, compact=False)
    a.propagate_until(1.0)
    b = pickle.loads(pickle.dumps(a))
    assert b._iw[S.I_LIGHT] == 2 and b._plain is not None
    assert b._plain[0][B_TC] == b._tc.ctypes.data        # the copy's own arrays
    ra, rb = a.propagate_until(3.0), b.propagate_until(3.0)
    _same(a, b, ra, rb)


def test_real_powers_trace_into_the_fused_step():
    """Order 0 of a real power is the C library's pow in every kernel kind: traced
    (``powc`` nodes), the unrolled kernel needs no VM call, so N-body-like systems
    get a light entry and the fused step, with the compact VM's values bit for bit
    (also where pow gives NaN: a negative base)."""
    x, v = tj.make_vars("x", "v")
    sys_ = [(x, v), (v, -x * (x * x + 0.5) ** -1.5 + 0.1 * (1.7 + x) ** (1.0 / 3.0))]
    a = TaylorAdaptive(sys_, [0.8, 0.1], compact=False)
    c = TaylorAdaptive(sys_, [0.8, 0.1], compact=True)
    jet = a._kernel.plan_for(a._order)[0]
    assert jet.light_addr and jet.step_addr and a._iw[S.I_LIGHT] == 2
    ra, rc = a.propagate_until(30.0), c.propagate_until(30.0)
    assert tuple(ra)[:4] == tuple(rc)[:4] and _bitwise(a.state, c.state)
    assert _bitwise(a.tc, c.tc)
    for ta in (a, c):              # (1.7 + x) < 0: pow(negative, 1/3) is NaN
        ta.state[:] = [-2.5, 0.0]
    ra, rc = a.propagate_until(31.0), c.propagate_until(31.0)
    assert ra.outcome is rc.outcome is Outcome.err_nf_state
    assert _bitwise(a.tc, c.tc) and _bitwise(a.state, c.state)


def test_step_through_the_plain_loop_equals_the_numba_step():
    """``step()`` of an integrator with a fused step runs the LLVM plain loop in its
    single-step mode: outcome, h, state, time, tc and dense output as the numba
    ``do_step`` of the VM, also for a clamped step, backwards, a non-finite step
    (nothing committed) and a constant solution (infinite step size)."""
    x, v = var("x"), var("v")
    cases = [([(x, v), (v, -9.8 * tj.sin(x))], [0.05, 0.025]),
             ([(x, x * x), (v, v)], [1.0, 0.5]),                 # blows up at t = 1
             ([(x, v), (v, -x)], [0.0, 0.0])]                    # a constant solution
    for sys_, x0 in cases:
        a = TaylorAdaptive(sys_, x0)
        b = TaylorAdaptive(sys_, x0, compact=True)
        assert a._plain is not None and b._plain is None
        for mh in (None, 0.1, None, -0.3, None, 0.05, 1e-300, None, None, 2.0, None):
            ra = a.step() if mh is None else (a.step(mh) if mh > 0 else a.step_backward(-mh))
            rb = b.step() if mh is None else (b.step(mh) if mh > 0 else b.step_backward(-mh))
            assert ra.outcome == rb.outcome and _bitwise(np.array([ra.h]), np.array([rb.h]))
            assert _bitwise(a.state, b.state) and _bitwise(a.tc, b.tc) and a.dtime == b.dtime
            assert _bitwise(a.update_d_output(0.0, rel_time=True),
                            b.update_d_output(0.0, rel_time=True))
        assert a.propagate_until(a.time + 0.5).n_steps == b.propagate_until(b.time + 0.5).n_steps
        assert _bitwise(a.state, b.state)
    # a step to a non-finite state commits nothing, on both paths
    a = TaylorAdaptive([(x, x * x * x), (v, v)], [1e200, 0.5])
    b = TaylorAdaptive([(x, x * x * x), (v, v)], [1e200, 0.5], compact=True)
    ra, rb = a.step(), b.step()
    assert ra.outcome == rb.outcome == Outcome.err_nf_state
    assert _bitwise(a.state, b.state) and a.state[0] == 1e200 and a.time == b.time == 0.0
    # batch: each lane's step through the plain loop, per-lane limits
    xs = np.array([[0.05, 0.1, -0.2, 0.0], [0.0, 0.3, 0.1, 0.0]])
    sys_ = cases[0][0]
    A = tj.TaylorAdaptiveBatch(sys_, xs)
    B = tj.TaylorAdaptiveBatch(sys_, xs, compact=True)
    assert A._plain_blocks() is not None
    for mh in (None, [0.1, 0.01, 1.0, 0.2], None, 0.05):
        ra, rb = A.step(mh), B.step(mh)
        assert [o for o, _ in ra] == [o for o, _ in rb]
        assert _bitwise(np.array([h for _, h in ra]), np.array([h for _, h in rb]))
        assert _bitwise(A.state, B.state) and _bitwise(A.tc, B.tc)
    ra, rb = A.step_backward(), B.step_backward()
    assert [o for o, _ in ra] == [o for o, _ in rb] and _bitwise(A.state, B.state)


def test_grid_and_continuous_output_in_the_plain_loop():
    """propagate_grid and c_output=True of a plain integrator run in the LLVM loop
    (dense output by fused-multiply-add Horner, each step's coefficients stored, the
    buffer grown on the way): bit for bit as the general loop on the VM, forwards,
    backwards, stopped early by max_steps, with a step limit."""
    x, v = var("x"), var("v")
    sys_ = [(x, v), (v, -9.8 * tj.sin(x) - 0.01 * v)]
    a = TaylorAdaptive(sys_, [0.5, 0.0], compact=False)
    b = TaylorAdaptive(sys_, [0.5, 0.0], compact=True)
    assert a._plain is not None
    ca, cb = a.propagate_until(300.0, c_output=True), b.propagate_until(300.0, c_output=True)
    assert ca.n_steps > 1000 and tuple(ca)[:4] == tuple(cb)[:4]
    assert _bitwise(ca.c_output.tcs, cb.c_output.tcs) and _bitwise(ca.c_output.times,
                                                                   cb.c_output.times)
    ts = np.linspace(0.0, 300.0, 5001)
    assert _bitwise(ca.c_output(ts), cb.c_output(ts))
    _same(a, b)
    for grid, kw in ((np.linspace(300.0, 250.0, 777), {}),
                     (np.linspace(250.0, 400.0, 1001), {"max_delta_t": 0.07}),
                     (np.linspace(400.0, 500.0, 333), {"max_steps": 40}),
                     (np.array([a.time]), {})):
        grid = grid if grid[0] == a.time else np.concatenate([[a.time], grid[1:]])
        ga, gb = a.propagate_grid(grid, **kw), b.propagate_grid(grid, **kw)
        assert ga.outcome == gb.outcome and tuple(ga)[:4] == tuple(gb)[:4]
        assert _bitwise(ga.states, gb.states)
        if "max_steps" in kw:
            assert ga.outcome == Outcome.step_limit and np.isnan(ga.states[-1]).all()
        _same(a, b)
    ca = a.propagate_for(-20.0, c_output=True, max_delta_t=0.1)
    cb = b.propagate_for(-20.0, c_output=True, max_delta_t=0.1)
    assert _bitwise(ca.c_output.tcs, cb.c_output.tcs)
    _same(a, b)
    # the plain propagate_until after them is plain again (nothing left switched on)
    ra, rb = a.propagate_until(a.time + 30.0), b.propagate_until(b.time + 30.0)
    assert ra.c_output is None and tuple(ra)[:4] == tuple(rb)[:4]
    _same(a, b)


def test_dense_output_functions_equal_the_numba_ones():
    """update_d_output and ContinuousOutput evaluation (LLVM code) against the numba
    eval_poly_entry and c_eval, bit for bit: random tables and offsets, forward and
    backward outputs evaluated inside, at and beyond every step boundary."""
    from taylorjit._integrate.plainloop import dense

    poly, ceval = dense()
    rng = np.random.default_rng(7)
    for rows, order in ((1, 2), (3, 20), (7, 5)):
        tc = np.ascontiguousarray(rng.standard_normal((rows + 2, order + 1)))
        for h in (0.3, -0.7, 1e-3, 0.0, 5.0):
            o1, o2 = np.zeros(rows), np.zeros(rows)
            poly(tc.ctypes.data, order + 1, rows, h, o1.ctypes.data)
            S.eval_poly_entry(tc, rows, order, h, o2, 0)
            assert _bitwise(o1, o2)
    x, v = var("x"), var("v")
    for t_end in (40.0, -40.0):
        ta = TaylorAdaptive([(x, v), (v, -9.8 * tj.sin(x))], [0.5, 0.0], compact=False)
        co = ta.propagate_until(t_end, c_output=True).c_output
        ts = np.concatenate([np.linspace(min(0.0, t_end) - 2, max(0.0, t_end) + 2, 4001),
                             co.times, np.nextafter(co.times, np.inf)])
        o2 = np.empty((ts.size, 2))
        S.c_eval(co.tcs, co._times, ts, o2, 0)
        assert _bitwise(co(ts), o2)
        d = ta.update_d_output(t_end - 0.05)
        o3 = np.zeros(2)
        tshi, tslo = ta._fw[S.F_TSHI], ta._fw[S.F_TSLO]
        from taylorjit._dd.arith import py_add as _dd_add
        S.eval_poly_entry(ta._tc, 2, ta.order, _dd_add(t_end - 0.05, 0.0, -tshi, -tslo)[0], o3, 0)
        assert _bitwise(d, o3)


def test_batch_grid_through_the_plain_loop():
    """propagate_grid of a batch integrator with a fused step: each lane's grid in the
    LLVM loop, bit for bit as the compiled batch loop on the VM (shared and per-lane
    grids, forward and backward lanes, an early stop by max_steps, one-point grids)."""
    x, v = var("x"), var("v")
    sys_ = [(x, v), (v, -9.8 * tj.sin(x))]
    xs = np.array([[0.05, 0.1, -0.2], [0.0, 0.3, 0.1]])
    A = tj.TaylorAdaptiveBatch(sys_, xs, compact=False)
    B = tj.TaylorAdaptiveBatch(sys_, xs, compact=True)
    assert A._plain_blocks() is not None and B._plain_blocks() is None
    cases = ((lambda: np.linspace(0, 50, 333), {}),
             (lambda: np.stack([np.linspace(50, 10, 100), np.linspace(50, 60, 100),
                                np.linspace(50, 49, 100)], 1), {"max_steps": 30}),
             (lambda: A.time[None, :], {}),
             (lambda: np.stack([np.linspace(t, t + 5, 50) for t in A.time], 1),
              {"max_delta_t": [0.1, 1.0, 0.01]}))
    outcomes = []
    for make, kw in cases:
        g = make()
        ra, rb = A.propagate_grid(g, **kw), B.propagate_grid(g, **kw)
        outcomes += ra.outcome
        assert ra.outcome == rb.outcome and _bitwise(ra.n_steps, rb.n_steps)
        assert _bitwise(ra.states, rb.states) and _bitwise(A.state, B.state)
        assert _bitwise(A.tc, B.tc) and _bitwise(ra.min_h, rb.min_h)
        assert _bitwise(ra.max_h, rb.max_h) and _bitwise(A.dtime, B.dtime)
    assert Outcome.step_limit in outcomes
    ra, rb = A.propagate_until(70.0), B.propagate_until(70.0)
    assert _bitwise(A.state, B.state)
