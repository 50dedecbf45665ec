"""Ensemble propagation: every executor gives the serial results member by member.

The reference for each member is the plain serial computation heyoka's
ensemble defines: ``gen(copy.deepcopy(ta), i)`` followed by ``propagate_*``
on that copy.  Integrations are deterministic, so threads, processes, batch
lanes and a Dask cluster must reproduce it bit for bit.
"""
import copy
import math
import os
import pickle

import numpy as np
import pytest

import taylorjit as tj
from taylorjit._integrate import ensemble as E
from taylorjit._integrate.ensemble import (EnsembleMemberError, ensemble_propagate_for,
    ensemble_propagate_grid, ensemble_propagate_until)

N = 12


@pytest.fixture(scope="module")
def pendulum():
    x, v = tj.make_vars("x", "v")
    return tj.TaylorAdaptive([(x, v), (v, -tj.par[0] * tj.sin(x))], [0.0, 0.0], pars=[9.8],
                             compact=True)


@pytest.fixture(scope="module")
def blowup():
    """x' = x**2: finite until t = 1/x0, then the propagation must end with err_nf_state."""
    x = tj.var("x")
    return tj.TaylorAdaptive([(x, x * x)], [0.1], compact=True)


def gen(ta, i):
    """Module-level (picklable by reference) member set-up: amplitude and g vary."""
    ta.state[:] = [0.05 * (1 + i), 0.01 * i]
    ta.pars[0] = 9.8 + 0.1 * i
    return ta


def gen_fail3(ta, i):
    if i == 3:
        raise ValueError("member 3 has no initial conditions")
    return gen(ta, i)


def gen_blowup(ta, i):
    ta.state[0] = 2.0 if i == 2 else 0.1 + 0.01 * i    # member 2 blows up at t = 0.5
    return ta


def serial_reference(ta, mode, arg, n, g, **kw):
    out = []
    for i in range(n):
        m = g(copy.deepcopy(ta), i)
        if mode == "until":
            r = m.propagate_until(arg, **kw)
        elif mode == "for":
            r = m.propagate_for(arg, **kw)
        else:
            r = m.propagate_grid(arg, **kw)
        out.append((m, r))
    return out


def assert_same(res, ref, skip=()):
    assert [r.index for r in res] == list(range(len(ref)))
    for r, (m, rr) in zip(res, ref):
        if r.index in skip:
            continue
        assert r.ok, r.traceback
        assert type(r.ta) is type(m)
        np.testing.assert_array_equal(r.ta.state, m.state)
        np.testing.assert_array_equal(r.ta.dtime, m.dtime)
        np.testing.assert_array_equal(r.ta.tc, m.tc)
        assert r.outcome == rr.outcome
        assert np.all(r.result.n_steps == rr.n_steps)
        assert np.all(r.result.min_h == rr.min_h) and np.all(r.result.max_h == rr.max_h)
        states = getattr(rr, "states", None)
        if states is not None:
            np.testing.assert_array_equal(r.result.states, states)


# --------------------------------------------------------------------------- threads / serial
@pytest.mark.parametrize("executor", ["serial", "threads"])
def test_until_matches_serial(pendulum, executor):
    ref = serial_reference(pendulum, "until", 3.0, N, gen)
    res = ensemble_propagate_until(pendulum, 3.0, N, gen, executor=executor, max_workers=2,
                                   chunksize=5)
    assert_same(res, ref)
    # heyoka 7's tuple: (ta, outcome, min_h, max_h, n_steps, c_output, step callback)
    ta3, oc, min_h, max_h, n_steps, c_out, cb = res[3]
    assert cb is None and res[3][-1] is None and res[3][0] is ta3 and len(res[3]) == 7
    assert ta3.time == 3.0 and oc == tj.Outcome.time_limit and c_out is None
    assert pendulum.time == 0.0 and pendulum.state.tolist() == [0.0, 0.0]   # template untouched


def test_members_are_independent_of_the_template(pendulum):
    res = ensemble_propagate_until(pendulum, 1.0, 3, gen)
    assert res[0].ta is not pendulum
    res[0].ta.state[:] = 1.0
    res[0].ta.pars[0] = 0.0
    assert res[1].ta.state[0] != 1.0 and pendulum.state[0] == 0.0 and pendulum.pars[0] == 9.8


def test_for_and_grid_match_serial(pendulum):
    def gen_t(ta, i):
        gen(ta, i)
        ta.time = 0.5 * i
        return ta

    ref = serial_reference(pendulum, "for", 2.0, 5, gen_t)
    assert_same(ensemble_propagate_for(pendulum, 2.0, 5, gen_t, max_workers=2), ref)
    grid = np.linspace(0.0, 4.0, 9)
    ref = serial_reference(pendulum, "grid", grid, 5, gen)
    res = ensemble_propagate_grid(pendulum, grid, 5, gen, max_workers=2)
    assert_same(res, ref)
    assert res[4].result.states.shape == (9, 2)


def test_analytic_small_oscillations():
    """An independent check of the values: the harmonic oscillator x'' = -w^2 x."""
    x, v = tj.make_vars("x", "v")
    ta = tj.TaylorAdaptive([(x, v), (v, -tj.par[0] ** 2 * x)], [0.0, 0.0], pars=[1.0],
                           compact=True)

    def g(ta, i):
        ta.state[:] = [1.0 + i, 0.0]
        ta.pars[0] = 1.0 + 0.25 * i
        return ta

    res = ensemble_propagate_until(ta, 10.0, 6, g)
    for i, r in enumerate(res):
        w = 1.0 + 0.25 * i
        exact = (1.0 + i) * np.array([math.cos(w * 10.0), -w * math.sin(w * 10.0)])
        np.testing.assert_allclose(r.ta.state, exact, rtol=0, atol=200 * 2.2e-16 * (1 + i) * w)


def test_c_output_and_callback_are_per_member(pendulum):
    class Count:
        def __init__(self):
            self.n = 0

        def __call__(self, ta):
            self.n += 1
            return True

    cb = Count()
    res = ensemble_propagate_until(pendulum, 2.0, 4, gen, callback=cb, c_output=True)
    assert cb.n == 0                                  # deep-copied per member, as in heyoka
    ref = serial_reference(pendulum, "until", 2.0, 4, gen)
    for r, (m, rr) in zip(res, ref):
        assert r.result.n_steps == rr.n_steps
        np.testing.assert_array_equal(r.result.c_output(2.0), m.state)


# --------------------------------------------------------------------------- failures
def test_failing_members_do_not_lose_the_others(pendulum, blowup):
    ref = serial_reference(pendulum, "until", 2.0, 6, gen)
    res = ensemble_propagate_until(pendulum, 2.0, 6, gen_fail3, max_workers=2)
    assert_same(res, ref, skip={3})
    bad = res[3]
    assert not bad.ok and bad.ta is None and bad.outcome is None
    assert isinstance(bad.error, ValueError)
    assert "member 3 has no initial conditions" in bad.traceback and "gen_fail3" in bad.traceback
    with pytest.raises(EnsembleMemberError, match="ensemble member 3 failed"):
        ta, *_ = bad

    # a callback raising in one member
    def cb(ta):
        if ta.pars[0] > 10.0:
            raise RuntimeError("callback refuses g > 10")
        return True

    res = ensemble_propagate_until(pendulum, 1.0, 4, gen, callback=cb)
    assert [r.ok for r in res] == [True, True, True, False]
    assert "callback refuses" in res[3].traceback and res[3].ta is not None

    # a non-finite state ends its own member with err_nf_state
    res = ensemble_propagate_until(blowup, 1.0, 4, gen_blowup)
    assert [r.outcome for r in res] == [tj.Outcome.time_limit] * 2 + [tj.Outcome.err_nf_state,
                                                                     tj.Outcome.time_limit]
    for i in (0, 1, 3):
        x0 = 0.1 + 0.01 * i
        assert res[i].ta.state[0] == pytest.approx(x0 / (1 - x0), rel=1e-13)


def test_gen_must_return_the_integrator(pendulum):
    res = ensemble_propagate_until(pendulum, 1.0, 2, lambda ta, i: None)
    assert isinstance(res[0].error, TypeError) and "return ta" in str(res[0].error)


def test_argument_errors(pendulum):
    with pytest.raises(ValueError, match="n_iter"):
        ensemble_propagate_until(pendulum, 1.0, -1, gen)
    with pytest.raises(TypeError, match="must be a scalar"):
        ensemble_propagate_until(pendulum, [1.0, 2.0], 2, gen)
    with pytest.raises(ValueError, match="one-dimensional"):
        ensemble_propagate_grid(pendulum, [[0.0, 1.0]], 2, gen)
    with pytest.raises(ValueError, match="unknown executor 'gpu'"):
        ensemble_propagate_until(pendulum, 1.0, 2, gen, executor="gpu")
    with pytest.raises(TypeError, match="concurrent.futures.Executor"):
        ensemble_propagate_until(pendulum, 1.0, 2, gen, executor=42)
    with pytest.raises(TypeError, match="TaylorAdaptive"):
        ensemble_propagate_until("ta", 1.0, 2, gen)
    assert ensemble_propagate_until(pendulum, 1.0, 0, gen) == []


# --------------------------------------------------------------------------- batch
@pytest.mark.parametrize("mode, arg", [("until", 3.0), ("grid", np.linspace(0, 3, 7))])
def test_batch_grouping_equals_scalar(pendulum, mode, arg):
    ref = serial_reference(pendulum, mode, arg, 11, gen)
    fn = ensemble_propagate_until if mode == "until" else ensemble_propagate_grid
    res = fn(pendulum, arg, 11, gen, batch=4, max_workers=2)
    assert_same(res, ref)
    # the members still work as scalar integrators (dense output of the last step)
    m, _ = ref[5]
    np.testing.assert_array_equal(res[5].ta.update_d_output(2.9), m.update_d_output(2.9))


def test_batch_grouping_with_a_failing_member(pendulum):
    ref = serial_reference(pendulum, "until", 2.0, 9, gen)
    res = ensemble_propagate_until(pendulum, 2.0, 9, gen_fail3, batch=4, executor="serial")
    assert_same(res, ref, skip={3})
    assert not res[3].ok


def test_ensemble_of_batch_integrators():
    x, v = tj.make_vars("x", "v")
    tb = tj.TaylorAdaptiveBatch([(x, v), (v, -tj.par[0] * tj.sin(x))], np.zeros((2, 3)),
                                pars=[[9.8, 9.8, 9.8]], compact=True)

    def genb(ta, i):
        ta.state[0, :] = 0.1 * (i + 1) * np.array([1.0, 2.0, 3.0])
        ta.pars[0, :] = 9.0 + i
        return ta

    ref = serial_reference(tb, "until", 2.0, 5, genb)
    res = ensemble_propagate_until(tb, 2.0, 5, genb, max_workers=2)
    assert_same(res, ref)
    assert res[4].ta.state.shape == (2, 3)
    grid = np.linspace(0.0, 2.0, 5)
    res = ensemble_propagate_grid(tb, grid, 3, genb, max_workers=2)
    assert_same(res, serial_reference(tb, "grid", grid, 3, genb))
    assert res[0].result.states.shape == (5, 2, 3)
    with pytest.raises(ValueError, match="already a TaylorAdaptiveBatch"):
        ensemble_propagate_until(tb, 1.0, 2, genb, batch=4)


@pytest.fixture(scope="module")
def pendulum_unrolled():
    """The unrolled kernel: fused step, plain loop and SIMD batch lanes."""
    x, v = tj.make_vars("x", "v")
    ta = tj.TaylorAdaptive([(x, v), (v, -tj.par[0] * tj.sin(x))], [0.0, 0.0], pars=[9.8],
                           compact=False)
    ta.propagate_until(0.5)
    ta.time = 0.0
    ta.state[:] = 0.0
    return ta


@pytest.mark.parametrize("compact", [True, False])
def test_clone_plan_clones_as_bind_jet_binds(pendulum, pendulum_unrolled, compact):
    """The fast clones (one, or a group whose arrays are rows of lane-major arrays)
    have the call arguments and plain-loop block ``_bind_jet`` gives them, are
    independent of each other and of the template, and integrate as deep copies."""
    from taylorjit._integrate.ensemble_io import ClonePlan

    tmpl = pendulum if compact else pendulum_unrolled
    plan = ClonePlan(tmpl)
    assert plan.fast and (plan.blk_words is None) == compact
    ref = copy.deepcopy(tmpl)
    gen(ref, 3)
    ref.propagate_until(2.0)
    group, blocks = plan.clone_group(3)
    assert blocks["_state"].shape == (3, 2) and blocks["_tc"].shape[0] == 3
    for m in [plan.clone(), E.clone(tmpl)] + group:
        assert plan._check_one(m)           # _bind_jet gives the same (and rebinds)
    group, blocks = plan.clone_group(3)
    for j, m in enumerate(group):
        assert m._state.base is not None and np.shares_memory(m._state, blocks["_state"])
        gen(m, 3 if j == 1 else j)
    assert blocks["_state"][1].tolist() == group[1].state.tolist()
    group[1].propagate_until(2.0)
    np.testing.assert_array_equal(group[1].state, ref.state)
    np.testing.assert_array_equal(group[1].tc, ref.tc)
    assert group[0].time == 0.0 and group[2].time == 0.0 and tmpl.time == 0.0
    assert tmpl.state.tolist() == [0.0, 0.0]
    one = plan.clone()
    gen(one, 3)
    one.propagate_until(2.0)
    np.testing.assert_array_equal(one.state, ref.state)


@pytest.mark.parametrize("batch", [4, 8, None])
@pytest.mark.parametrize("executor", ["serial", "threads"])
def test_zero_copy_groups_of_an_unrolled_template(pendulum_unrolled, batch, executor,
                                                  monkeypatch):
    """Groups run on the members' own memory (SIMD lanes); every member equals its
    scalar run and goes on as a scalar integrator afterwards."""
    from taylorjit._integrate import simdbatch as _simdbatch
    from taylorjit._codegen import tiering as _tiering

    ensemble_propagate_until(pendulum_unrolled, 1.0, 8, gen, batch=batch)
    _tiering.wait_all(120)          # the SIMD kernel built in the background
    seen = []
    run_group = E._run_group

    def spy(job, group, blocks=None):
        out = run_group(job, group, blocks)
        cache = job.batch_cache
        seen.append((blocks is not None,
                     cache is not None and isinstance(cache[1]["_simd"], _simdbatch.BatchKernel)))
        return out

    monkeypatch.setattr(E, "_run_group", spy)
    ref = serial_reference(pendulum_unrolled, "until", 3.0, 11, gen)
    res = ensemble_propagate_until(pendulum_unrolled, 3.0, 11, gen, batch=batch,
                                   executor=executor, max_workers=2)
    assert_same(res, ref)
    assert seen and all(zero and simd for zero, simd in seen)
    monkeypatch.setattr(E, "_run_group", run_group)
    for r, (m, _) in zip(res, ref):
        r.ta.propagate_until(4.0)       # the member's own fused step and plain loop
        m.propagate_until(4.0)
        np.testing.assert_array_equal(r.ta.state, m.state)
        np.testing.assert_array_equal(r.ta.tc, m.tc)
    assert pendulum_unrolled.time == 0.0 and pendulum_unrolled.state.tolist() == [0.0, 0.0]
    grid = np.linspace(0.0, 3.0, 7)
    res = ensemble_propagate_grid(pendulum_unrolled, grid, 9, gen, batch=batch,
                                  executor=executor)
    assert_same(res, serial_reference(pendulum_unrolled, "grid", grid, 9, gen))


def test_automatic_batch_size(pendulum, pendulum_unrolled):
    """batch=None groups by the host's SIMD width only where the lanes can run on
    SIMD vectors; a template whose background build has landed is used on that
    kernel (the template itself unchanged)."""
    from taylorjit._integrate import simdbatch as _simdbatch
    from taylorjit._codegen import tiering as _tiering

    W = _simdbatch.simd_width()
    assert E._auto_batch(pendulum_unrolled, "until", {}) == W
    assert E._auto_batch(pendulum_unrolled, "for", {}) == W
    assert E._auto_batch(pendulum_unrolled, "grid", {}) == 0
    assert E._auto_batch(pendulum_unrolled, "until", {"callback": lambda ta: True}) == 0
    assert E._auto_batch(pendulum_unrolled, "until", {"c_output": True}) == 0
    assert E._auto_batch(pendulum, "until", {}) == 0                  # the compact VM
    x, v = tj.make_vars("x", "v")
    with_ev = tj.TaylorAdaptive([(x, v), (v, -x)], [0.1, 0.0], compact=False,
                                t_events=[tj.t_event(x - 5.0)])
    assert E._auto_batch(with_ev, "until", {}) == 0
    auto = tj.TaylorAdaptive([(x, v), (v, -tj.par[0] * tj.sin(x) - 0.01 * v)], [0.1, 0.0],
                             pars=[9.8])
    kind = auto._kernel.kind
    _tiering.wait_all(120)
    job_ta = E._job_template(auto)
    assert auto._kernel.kind == kind
    assert job_ta._kernel.kind == "unrolled" and (job_ta is auto) == (kind == "unrolled")
    res = ensemble_propagate_until(auto, 2.0, 10, gen)
    assert_same(res, serial_reference(auto, "until", 2.0, 10, gen))


def gen_new_object(ta, i):
    """A gen that returns another integrator (a copy) for odd members."""
    gen(ta, i)
    return copy.deepcopy(ta) if i % 2 else ta


def test_groups_when_gen_returns_another_integrator(pendulum_unrolled):
    ref = serial_reference(pendulum_unrolled, "until", 2.0, 9, gen)
    res = ensemble_propagate_until(pendulum_unrolled, 2.0, 9, gen_new_object, batch=4,
                                   executor="serial")
    assert_same(res, ref)


def test_ensemble_of_a_batch_template_that_ran_before():
    """A batch template's SIMD and plain-loop blocks hold its own arrays' addresses:
    members (clones, pickles) must not inherit them."""
    x, v = tj.make_vars("x", "v")
    tb = tj.TaylorAdaptiveBatch([(x, v), (v, -9.8 * tj.sin(x))], [[0.1, 0.2, 0.3, 0.4],
                                [0.0] * 4], compact=False)
    from taylorjit._codegen import tiering as _tiering
    tb.propagate_until(1.0)
    _tiering.wait_all(120)
    tb.propagate_until(2.0)
    before = tb.state.copy()

    def genb(ta, i):
        ta.state[1, :] = 0.01 * i
        return ta

    ref = serial_reference(tb, "for", 3.0, 4, genb)
    for ex in ("serial", "threads"):
        res = ensemble_propagate_for(tb, 3.0, 4, genb, executor=ex, max_workers=2)
        assert_same(res, ref)
        assert all(np.all(r.ta.time == 5.0) for r in res)
    np.testing.assert_array_equal(tb.state, before)
    assert np.all(tb.time == 2.0)
    back = E.loads(E.dumps(tb))         # what processes and Dask workers receive
    back.propagate_for(3.0)
    np.testing.assert_array_equal(back.state, serial_reference(tb, "for", 3.0, 1,
                                                               lambda t, i: t)[0][0].state)


# --------------------------------------------------------------------------- pickling
def test_pickle_round_trips(pendulum):
    ta = gen(copy.deepcopy(pendulum), 4)
    ta.propagate_until(1.3)
    for data, back in [(pickle.dumps(ta), pickle.loads), (E.dumps(ta), E.loads)]:
        tb = back(data)
        assert tb._kernel is ta._kernel                 # reloaded from the memo, not rebuilt
        np.testing.assert_array_equal(tb.state, ta.state)
        np.testing.assert_array_equal(tb.tc, ta.tc)
        np.testing.assert_array_equal(tb.update_d_output(1.25), ta.update_d_output(1.25))
        tb.propagate_until(5.0)
        np.testing.assert_array_equal(tb.state, _continued(ta, 5.0))
    # the compact pickle drops the scratch rows of tc; shared parts travel by name
    assert len(E.dumps(ta)) < len(pickle.dumps(ta))
    shared = E._shared_of(ta)
    small = E.dumps(ta, shared)
    assert len(small) < len(E.dumps(ta))
    tc2 = E.loads(small, shared)
    assert tc2._kernel is ta._kernel and tc2._sys is ta._sys
    # a clone shares only the immutable parts
    c = E.clone(ta)
    assert c._kernel is ta._kernel and c._state is not ta._state and c._tc is not ta._tc


def _continued(ta, t):
    c = copy.deepcopy(ta)
    c.propagate_until(t)
    return c.state


def test_batch_integrator_and_results_pickle(pendulum):
    x, v = tj.make_vars("x", "v")
    tb = tj.TaylorAdaptiveBatch([(x, v), (v, -9.8 * tj.sin(x))], [[0.1, 0.2], [0.0, 0.0]],
                                compact=True)
    tb.propagate_until(1.0)
    tb2 = E.loads(E.dumps(tb))
    np.testing.assert_array_equal(tb2.tc, tb.tc)
    tb.propagate_until(2.0)
    tb2.propagate_until(2.0)
    np.testing.assert_array_equal(tb2.state, tb.state)
    res = ensemble_propagate_until(pendulum, 1.0, 2, gen_fail3)
    back = pickle.loads(pickle.dumps(res))
    np.testing.assert_array_equal(back[1].ta.state, res[1].ta.state)


def test_remote_task_in_process(pendulum, monkeypatch, tmp_path):
    """The worker side: the cache directory is passed on, the job is unpickled
    once per worker and ensemble, and members come back compactly."""
    monkeypatch.setenv("TAYLORJIT_CACHE_DIR", os.environ.get("TAYLORJIT_CACHE_DIR", ""))
    job = E._Job(pendulum, gen, "until", 1.0, {}, 0)
    blob = E.dumps(job)
    d = os.environ["TAYLORJIT_CACHE_DIR"]
    out1 = E._remote_chunk("tok-test", blob, d, [0, 1])
    first = E._WORKER_JOBS["tok-test"]
    out2 = E._remote_chunk("tok-test", b"not used again", d, [2])
    assert E._WORKER_JOBS["tok-test"] is first
    shared = E._shared_of(pendulum)
    res = [E.loads(b, shared) for b in out1 + out2]
    assert_same(res, serial_reference(pendulum, "until", 1.0, 3, gen))
    assert res[0].ta._kernel is pendulum._kernel
    assert all(len(b) < 3000 for b in out1)


def test_progress_bar(pendulum, capsys):
    pytest.importorskip("tqdm", reason="progress=True needs tqdm")
    res = ensemble_propagate_until(pendulum, 0.5, 5, gen, progress=True)
    assert all(r.ok for r in res)


# --------------------------------------------------------------------------- processes, Dask
def test_processes_match_serial(pendulum):
    ref = serial_reference(pendulum, "until", 2.0, 6, gen)
    res = ensemble_propagate_until(pendulum, 2.0, 6, gen_fail3, executor="processes",
                                   max_workers=1, chunksize=2)
    assert_same(res, ref, skip={3})
    assert res[0].ta._kernel is pendulum._kernel        # shared parts re-attached locally
    assert isinstance(res[3].error, ValueError) and "gen_fail3" in res[3].traceback


def test_dask_local_cluster_matches_serial(pendulum):
    distributed = pytest.importorskip(
        "distributed", reason="the Dask test needs dask.distributed "
                              "(pip install 'taylorjit[dask]')")
    ref = serial_reference(pendulum, "until", 2.0, 8, gen)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        res = ensemble_propagate_until(pendulum, 2.0, 8, gen_fail3,
                                       executor=client.get_executor(), chunksize=3)
        grid = np.linspace(0.0, 2.0, 5)
        resg = ensemble_propagate_grid(pendulum, grid, 4, lambda ta, i: gen(ta, i),
                                       executor=client.get_executor(), batch=2)
    assert_same(res, ref, skip={3})
    assert not res[3].ok and "member 3 has no initial conditions" in res[3].traceback
    assert_same(resg, serial_reference(pendulum, "grid", grid, 4, gen))
