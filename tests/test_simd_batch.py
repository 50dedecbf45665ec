"""Batch propagation on SIMD lanes (taylorjit._integrate.simdbatch): every lane equals the
scalar integration of its initial condition bit for bit -- here checked against the
compiled batch loop on the compact VM (itself tested lane by lane against scalar
runs) on random systems, batch sizes that do and do not fill the vectors, lanes that
run forwards, backwards, not at all, into a step limit, into a non-finite state, and
after copies, pickles and a background build."""
import copy
import math
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import taylorjit as tj
from taylorjit._codegen import cache as _cache, kernel as _kernel, tiering as _tiering, unroll as _unroll
from taylorjit._integrate import simdbatch as _simdbatch, simdjet as _simdjet
from taylorjit._symbolic.expr import var

from _taylor_ref import PARS, random_expressions
from test_kernels import _bitwise

X, Y = var("x"), var("y")


def _check(a, b, ra, rb):
    assert ra.outcome == rb.outcome
    for u, v in ((ra.n_steps, rb.n_steps), (ra.min_h, rb.min_h), (ra.max_h, rb.max_h),
                 (a.state, b.state), (a.dtime, b.dtime), (a.tc, b.tc), (a.last_h, b.last_h)):
        assert _bitwise(np.asarray(u), np.asarray(v))


def _pair(sys_, x0, **kw):
    a = tj.TaylorAdaptiveBatch(sys_, x0, compact=False, **kw)
    b = tj.TaylorAdaptiveBatch(sys_, x0, compact=True, **kw)
    return a, b


def _uses_simd(ta):
    return isinstance(ta.__dict__.get("_simd"), _simdbatch.BatchKernel)


@settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), batch=st.sampled_from([2, 3, 4, 5, 8]))
def test_random_systems_lane_by_lane(data, batch):
    e1, p1 = data.draw(random_expressions(max_ops=5, with_pars=True, with_time=True))
    e2, _ = data.draw(random_expressions(max_ops=5, with_pars=True, with_time=True, point=p1))
    x0 = np.array([[p1["x"] * (1 + 0.01 * j) for j in range(batch)],
                   [p1["y"] - 0.01 * j for j in range(batch)]])
    pars = np.array([[PARS[0] + 0.001 * j for j in range(batch)],
                     [PARS[1]] * batch])
    a, b = _pair([(X, e1), (Y, e2)], x0, pars=pars, time=0.25, tol=1e-12)
    for tl in (0.5, np.linspace(-0.3, 0.6, batch)):
        ra, rb = a.propagate_until(tl), b.propagate_until(tl)
        _check(a, b, ra, rb)
    ra, rb = a.propagate_for(0.4, max_steps=3), b.propagate_for(0.4, max_steps=3)
    _check(a, b, ra, rb)


@pytest.mark.parametrize("batch", [2, 3, 4, 7, 9, 16])
def test_pendulum_lanes_of_every_kind(batch):
    x, v = tj.make_vars("x", "v")
    sys_ = [(x, v), (v, -9.8 * tj.sin(x))]
    x0 = np.stack([np.linspace(-1.0, 1.2, batch), np.linspace(0.3, -0.2, batch)])
    a, b = _pair(sys_, x0)
    cases = [(10.0, {}), (np.linspace(-5.0, 20.0, batch), {}),
             (np.where(np.arange(batch) % 2, 30.0, a.time), {}),           # some lanes idle
             (40.0, {"max_steps": 17}), (60.0, {"max_delta_t": np.linspace(0.05, 1.0, batch)}),
             (-10.0, {"max_delta_t": 0.3})]
    for tl, kw in cases:
        ra, rb = a.propagate_until(tl, **kw), b.propagate_until(tl, **kw)
        assert _uses_simd(a)
        _check(a, b, ra, rb)
    assert a.__dict__["_simd"].width == min(_simdbatch.simd_width(),
                                            1 << (batch - 1).bit_length())


def test_kepler_real_powers_and_a_failing_lane():
    """``r**-1.5`` is the C library's pow lane by lane; a lane whose step would give a
    non-finite state stops with err_nf_state and keeps its last state, the others go on."""
    x, y, vx, vy = tj.make_vars("x", "y", "vx", "vy")
    r3 = (x * x + y * y) ** -1.5
    kep = [(x, vx), (y, vy), (vx, -x * r3), (vy, -y * r3)]
    x0 = np.array([[1.0, 1.0, 0.9, 1.1], [0.0, 0.0, 0.1, 0.0], [0.0, 0.1, 0.0, -0.2],
                   [1.0, 1.1, 1.2, 0.9]])
    a, b = _pair(kep, x0)
    ra, rb = a.propagate_until(50.0), b.propagate_until(50.0)
    assert _uses_simd(a) and all(o == tj.Outcome.time_limit for o in ra.outcome)
    _check(a, b, ra, rb)
    z, w = tj.make_vars("z", "w")
    blow = [(z, z * z * z), (w, -w)]
    x0 = np.array([[1e100, 0.5, 1e-3, 2.0], [1.0, 2.0, 3.0, 4.0]])
    a, b = _pair(blow, x0)
    ra, rb = a.propagate_until(1.0), b.propagate_until(1.0)
    assert tj.Outcome.err_nf_state in ra.outcome and tj.Outcome.time_limit in ra.outcome
    _check(a, b, ra, rb)


def test_copies_pickles_and_systems_without_a_simd_kernel():
    x, v = tj.make_vars("x", "v")
    sys_ = [(x, v), (v, -9.75 * tj.sin(x) - 0.1 * v)]
    x0 = np.array([[0.1, 0.2, 0.3], [0.0, 0.1, -0.1]])
    a, _ = _pair(sys_, x0)
    a.propagate_until(5.0)
    assert _uses_simd(a)
    for other in (copy.deepcopy(a), pickle.loads(pickle.dumps(a))):
        other.propagate_until(12.0)
        a2 = copy.deepcopy(a)
        a2.propagate_until(12.0)
        assert _bitwise(other.state, a2.state) and _bitwise(other.tc, a2.tc)
        assert _uses_simd(other)
    # log traces only through the VM at order 0: no SIMD kernel, the lanes one by one
    logsys = [(x, tj.log(2.0 + v * v)), (v, -x)]
    a, b = _pair(logsys, x0)
    ra, rb = a.propagate_until(3.0), b.propagate_until(3.0)
    assert a.__dict__.get("_simd") in (None, False)
    _check(a, b, ra, rb)


def test_background_build_then_simd(tmp_path, monkeypatch):
    """With background builds on, the first calls run the lanes one after the other
    while the SIMD kernel builds; the results never change."""
    monkeypatch.setenv("TAYLORJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_cache, "_DIR_CACHE", {})
    monkeypatch.setattr(_simdbatch, "_LOADED", {})
    monkeypatch.delenv("TAYLORJIT_TIERING", raising=False)
    monkeypatch.delenv("TAYLORJIT_KERNEL", raising=False)
    x, v = tj.make_vars("x", "v")
    sys_ = [(x, v), (v, -9.5625 * tj.sin(x) + 0.015625 * x * v)]
    x0 = np.array([[0.1, 0.2, 0.3, 0.4], [0.0, 0.1, -0.1, 0.2]])
    a = tj.TaylorAdaptiveBatch(sys_, x0)
    b = tj.TaylorAdaptiveBatch(sys_, x0, compact=True)
    ra, rb = a.propagate_until(2.0), b.propagate_until(2.0)
    _check(a, b, ra, rb)
    assert _tiering.wait_all(120)
    for t in (30.0, 10.0):
        ra, rb = a.propagate_until(t), b.propagate_until(t)
        _check(a, b, ra, rb)
    assert _uses_simd(a)
    assert list(tmp_path.rglob("tj_simdbatch_*.o"))


_LANE_FUNCS = ["sin", "cos", "tan", "exp", "expm1", "sqrt", "atan", "sinh", "cosh", "tanh",
               "asinh", "erf", "sigmoid", "square"]


@pytest.mark.parametrize("name", _LANE_FUNCS)
def test_every_lane_wise_function(name):
    """Each function whose order 0 is a C library call (made lane by lane in the SIMD
    kernel), with a parameter and the time, against the VM."""
    x, y = tj.make_vars("x", "y")
    f = getattr(tj, name)
    sys_ = [(x, f(0.3 + 0.1 * x) * y + tj.par[0]), (y, -x + 0.01 * tj.time)]
    x0 = np.array([[0.1, -0.2, 0.3, 0.05, 0.4], [0.2, 0.1, -0.3, 0.0, 0.25]])
    pars = np.array([[0.5, 0.25, -0.5, 0.0, 1.0]])
    a, b = _pair(sys_, x0, pars=pars)
    for tl in (3.0, np.linspace(-2.0, 4.0, 5)):
        ra, rb = a.propagate_until(tl), b.propagate_until(tl)
        assert _uses_simd(a)
        _check(a, b, ra, rb)


def test_more_parameter_rows_than_the_system_uses():
    """pars may hold more rows than the system reads (a lane's row is longer than the
    kernel's parameter count): each lane reads its own (found by hypothesis)."""
    x, y = tj.make_vars("x", "y")
    sys_ = [(x, tj.sigmoid(-1.447 * tj.par[0])), (y, 1.98 * tj.par[0] + tj.time)]
    x0 = np.array([[0.236] * 3, [1 / 3] * 3])
    pars = np.array([[0.7, 0.701, 0.702], [-1.3] * 3, [5.0, 6.0, 7.0]])
    a, b = _pair(sys_, x0, pars=pars, time=0.25)
    ra, rb = a.propagate_until(np.array([-0.3, 0.15, 0.6])), b.propagate_until(
        np.array([-0.3, 0.15, 0.6]))
    assert _uses_simd(a)
    _check(a, b, ra, rb)


def test_chunked_kernels_of_bigger_systems(monkeypatch):
    """Above SMALL_NODES the SIMD step is split into functions of CHUNK nodes on a table
    in memory (values used by later chunks through a spill area): forced here on small
    systems with small chunks, against the VM."""
    from taylorjit._codegen import unroll as _unroll

    monkeypatch.setattr(_simdjet, "SMALL_NODES", 40)
    monkeypatch.setattr(_unroll, "CHUNK", 37)
    monkeypatch.setattr(_simdbatch, "_LOADED", {})
    x, y, vx, vy = tj.make_vars("x", "y", "vx", "vy")
    r3 = (x * x + y * y) ** -1.5
    kep = [(x, vx), (y, vy), (vx, -x * r3 + tj.par[0] * tj.sin(tj.time)), (vy, -y * r3)]
    x0 = np.array([[1.0, 1.0, 0.9], [0.0, 0.0, 0.1], [0.0, 0.1, 0.0], [1.0, 1.1, 1.2]])
    pars = np.array([[0.0, 0.01, 0.02]])
    a, b = _pair(kep, x0, pars=pars)
    for tl in (20.0, np.array([-3.0, 7.0, 0.0])):
        ra, rb = a.propagate_until(tl), b.propagate_until(tl)
        _check(a, b, ra, rb)
    k = a.__dict__["_simd"]
    assert isinstance(k, _simdbatch.BatchKernel)


def test_heyoka_batch_names_and_dense_output():
    """set_time, step_res, propagate_res, update_d_output / d_output (shape (n, batch),
    per-lane times, rel_time) and recommended_simd_size, as heyoka's batch mode names
    them; each lane's dense output equals the scalar integrator's."""
    x, v = tj.make_vars("x", "v")
    sys_ = [(x, v), (v, -9.8 * tj.sin(x))]
    x0 = np.array([[0.05, 0.3, -0.2], [0.0, 0.1, 0.2]])
    ta = tj.TaylorAdaptiveBatch(sys_, x0)
    assert ta.propagate_res is None and ta.step_res is None and ta.d_output.shape == (2, 3)
    assert tj.recommended_simd_size() in (2, 4, 8)
    res = ta.propagate_until(np.array([1.0, 2.0, 3.0]))
    pr = ta.propagate_res
    assert [p[0] for p in pr] == res.outcome and [p[3] for p in pr] == list(res.n_steps)
    sc = [tj.TaylorAdaptive(sys_, x0[:, j]) for j in range(3)]
    for j, s in enumerate(sc):
        s.propagate_until([1.0, 2.0, 3.0][j])
    ts = np.array([0.99, 1.97, 2.95])
    d = ta.update_d_output(ts)
    assert d is ta.d_output and d.shape == (2, 3)
    for j, s in enumerate(sc):
        assert _bitwise(d[:, j], s.update_d_output(ts[j]))
    d = ta.update_d_output(-0.01, rel_time=True)
    for j, s in enumerate(sc):
        assert _bitwise(d[:, j], s.update_d_output(-0.01, rel_time=True))
    sr = ta.step([0.01, 0.02, 0.03])
    assert ta.step_res is sr and [o for o, _ in sr] == [tj.Outcome.time_limit] * 3
    ta.set_time([5.0, 6.0, 7.0])
    assert ta.time.tolist() == [5.0, 6.0, 7.0]
    ta.set_time(0.5)
    assert ta.time.tolist() == [0.5] * 3
    with pytest.raises(ValueError, match="NaN"):
        ta.update_d_output([0.1, math.nan, 0.2])
    with pytest.raises(ValueError, match="finite"):
        ta.update_d_output([0.1, math.inf, 0.2])


@pytest.mark.parametrize("path", ["plain", "vm", "events"])
def test_batch_continuous_output_equals_scalar_lane_by_lane(path):
    """propagate_until(c_output=True) in batch mode: each lane's continuous output
    holds the scalar integration's steps bit for bit (buffers grown on the way),
    through the per-lane LLVM loop, the compiled batch loop on the VM, and with an
    event (the compiled batch loop on the unrolled kernel)."""
    x, v = tj.make_vars("x", "v")
    sys_ = [(x, v), (v, -9.8 * tj.sin(x) - 0.02 * v)]
    x0 = np.array([[0.05, 0.3, -0.2], [0.0, 0.1, 0.2]])
    kw = {"compact": True} if path == "vm" else {}
    if path == "events":
        kw["events"] = [tj.Event(x - 10.0)]          # never triggers
    ta = tj.TaylorAdaptiveBatch(sys_, x0, **kw)
    tl = np.array([200.0, -150.0, 120.0])
    res = ta.propagate_until(tl, c_output=True)
    co = res.c_output
    assert isinstance(co, tj.BatchContinuousOutput) and co.batch_size == 3
    for j in range(3):
        s = tj.TaylorAdaptive(sys_, x0[:, j], **kw)     # (events take part in the steps)
        cs = s.propagate_until(tl[j], c_output=True).c_output
        lane = co.lanes[j]
        assert lane.n_steps == cs.n_steps > 64
        assert _bitwise(lane.tcs, cs.tcs) and _bitwise(lane.times, cs.times)
        ts = np.linspace(0.0, tl[j], 501)
        assert _bitwise(lane(ts), cs(ts))
        assert _bitwise(ta.state[:, j], s.state)
    got = co(np.array([100.0, -100.0, 60.0]))
    assert got.shape == (2, 3) and _bitwise(got[:, 1], co.lanes[1](-100.0))
    with pytest.raises(ValueError, match="one per lane"):
        co([1.0, 2.0])
    assert ta.propagate_until(tl + 1.0).c_output is None


def test_batch_continuous_output_with_an_idle_lane():
    """A lane already at its final time takes no step: the propagation completes, its
    continuous output is None and evaluating the batch output says which lane."""
    x, v = tj.make_vars("x", "v")
    ta = tj.TaylorAdaptiveBatch([(x, v), (v, -x)], [[0.1, 0.2], [0.0, 0.0]])
    res = ta.propagate_until(np.array([5.0, 0.0]), c_output=True)
    assert list(res.n_steps)[1] == 0 and res.c_output.lanes[1] is None
    assert res.c_output.lanes[0](5.0)[0] == pytest.approx(ta.state[0, 0], abs=1e-15)
    with pytest.raises(ValueError, match="lane 1"):
        res.c_output(1.0)
