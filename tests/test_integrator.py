"""TaylorAdaptive against independent references.

References: tests/data/references.json (quad-precision Taylor runs),
analytic solutions (harmonic oscillator, Kepler orbits, x' = x^2), heyoka's
step-size rule (the step count of the pendulum), and the specialised kernel vs
the compact VM (bit for bit).  Most tests use the compact VM (no compilation).
"""
import copy
import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest

import taylorjit as tj
from taylorjit._integrate.coutput import ContinuousOutput
from taylorjit._integrate.integrator import TaylorAdaptive
from taylorjit._integrate.odesys import Outcome, order_from_tol

EPS = np.finfo(float).eps
_REF_FILE = Path(__file__).resolve().parent / "data" / "references.json"
REF = json.loads(_REF_FILE.read_text())      # shipped with the tests: never skipped


def pendulum(compact=True, **kw):
    x, v = tj.make_vars("x", "v")
    return TaylorAdaptive([(x, v), (v, -9.8 * tj.sin(x))], [0.05, 0.025], compact=compact, **kw)


def ref_state(name, t):
    for r in REF[name]["ref"]:
        if r["t"] == t:
            return np.array([float(s) for s in r["state"]])
    raise KeyError(t)


# ------------------------------------------------------------------ references
def test_pendulum_reference_and_heyoka_step_count():
    ta = pendulum()
    res = ta.propagate_until(10.0)
    assert np.max(np.abs(ta.state - ref_state("pendulum", 10.0))) <= 1e-15
    ta.propagate_until(100.0)
    assert np.max(np.abs(ta.state - ref_state("pendulum", 100.0))) <= 1e-15
    ta = pendulum()
    res = ta.propagate_until(1000.0)
    assert res.outcome is Outcome.time_limit
    assert res.n_steps == 4801          # heyoka's count with the same step-size rule
    assert ta.time == 1000.0
    assert np.max(np.abs(ta.state - ref_state("pendulum", 1000.0))) <= 1e-15
    assert 0.2 < res.min_h <= res.max_h < 0.22


def test_lorenz_reference():
    x, y, z = tj.make_vars("x", "y", "z")
    ta = TaylorAdaptive([(x, 10.0 * (y - x)), (y, x * (28.0 - z) - y), (z, x * y - 8.0 / 3.0 * z)],
                        [1.0, 1.0, 1.0], compact=True)
    ta.propagate_until(1.0)
    assert np.allclose(ta.state, ref_state("lorenz", 1.0), rtol=0, atol=1e-13)
    ta.propagate_until(10.0)
    ref = ref_state("lorenz", 10.0)
    assert np.max(np.abs(ta.state - ref) / np.abs(ref)) < 1e-10  # chaos amplifies round-off
    # heyoka 7.13 takes 261 steps from 0 to 10 with the same rule
    ta = TaylorAdaptive([(x, 10.0 * (y - x)), (y, x * (28.0 - z) - y), (z, x * y - 8.0 / 3.0 * z)],
                        [1.0, 1.0, 1.0], compact=True)
    assert ta.propagate_until(10.0).n_steps == 261


def test_back_and_forth_pendulum():
    ta = pendulum()
    ta.propagate_until(1000.0)
    res = ta.propagate_until(0.0)
    assert res.outcome is Outcome.time_limit
    assert ta.time == 0.0
    assert np.max(np.abs(ta.state - [0.05, 0.025])) <= 1e-15


def test_propagate_for_backwards():
    ta = pendulum()
    ta.propagate_for(100.0)
    ta.propagate_for(-100.0)
    assert ta.time == 0.0
    assert np.max(np.abs(ta.state - [0.05, 0.025])) <= 1e-15


# ------------------------------------------------------------------ analytic solutions
def test_harmonic_oscillator():
    x, v = tj.make_vars("x", "v")
    ta = TaylorAdaptive([(x, v), (v, -x)], [0.0, 1.0], compact=True)
    ts = np.linspace(0.0, 100.0, 201)
    states = ta.propagate_grid(ts).states
    err = np.max(np.abs(states - np.stack([np.sin(ts), np.cos(ts)], axis=1)))
    assert err < 200 * EPS * 100        # linear growth of round-off over ~16 periods


def _kepler(e, compact=True):
    x, y, vx, vy = tj.make_vars("x", "y", "vx", "vy")
    r3 = (x * x + y * y) ** 1.5
    sys = [(x, vx), (y, vy), (vx, -x / r3), (vy, -y / r3)]
    # start at pericentre, mu = 1, a = 1
    return TaylorAdaptive(sys, [1.0 - e, 0.0, 0.0, math.sqrt((1 + e) / (1 - e))], compact=compact)


@pytest.mark.parametrize("e", [0.0, 0.5, 0.9])
def test_kepler_orbits(e):
    ta = _kepler(e)
    period = 2 * math.pi
    ta.propagate_until(10 * period)
    # after whole periods the orbit is back at pericentre
    expected = [1.0 - e, 0.0, 0.0, math.sqrt((1 + e) / (1 - e))]
    scale = 1.0 / (1.0 - e)
    # the error is a phase error, largest in vx at pericentre, where |dvx/dt| = scale**2;
    # heyoka 7.13 on the same problem: 4e-13 (e = 0.5) and 9.9e-11 (e = 0.9)
    assert np.max(np.abs(ta.state - expected)) < 2e-12 * scale ** 2
    # in between: Kepler's equation (mpmath-free: solved by Newton to eps)
    t = 3.7
    co = _kepler(e).propagate_until(5.0, c_output=True).c_output
    M = t
    E = M
    for _ in range(60):
        E = E - (E - e * math.sin(E) - M) / (1 - e * math.cos(E))
    xr = math.cos(E) - e
    yr = math.sqrt(1 - e * e) * math.sin(E)
    assert np.max(np.abs(co(t)[:2] - [xr, yr])) < 1e-13 * scale


def test_riccati_blow_up():
    x = tj.var("x")
    ta = TaylorAdaptive([(x, x * x)], [1.0], compact=True)   # x = 1 / (1 - t)
    for t in (0.5, 0.9, 0.99):
        ta.propagate_until(t)
        assert abs(ta.state[0] - 1.0 / (1.0 - t)) <= 20 * EPS * ta.state[0] / (1 - t) * 10
    # towards the singularity: the steps shrink, the time never reaches 1
    res = ta.propagate_until(2.0, max_steps=500)
    assert res.outcome in (Outcome.step_limit, Outcome.err_nf_state)
    assert ta.time < 1.0
    assert np.isfinite(ta.state[0])


def test_time_and_parameters():
    x = tj.var("x")
    ta = TaylorAdaptive([(x, tj.par[0] * tj.cos(tj.time))], [0.0], pars=[2.0], compact=True)
    ta.propagate_until(3.0)
    assert abs(ta.state[0] - 2.0 * math.sin(3.0)) < 10 * EPS
    ta.pars[0] = -1.0                      # writable between calls
    ta.propagate_until(5.0)
    assert abs(ta.state[0] - (2.0 * math.sin(3.0) - (math.sin(5.0) - math.sin(3.0)))) < 20 * EPS


# ------------------------------------------------------------------ API
def test_order_from_tol():
    assert order_from_tol(EPS) == 20
    assert order_from_tol(1e-10) == 13
    assert order_from_tol(0.9) == 2
    assert pendulum(tol=1e-10).order == 13


def test_step_api_and_dense_output():
    ta = pendulum()
    oc, h = ta.step()
    assert oc is Outcome.success and h > 0 and ta.time == h
    tc = ta.tc.copy()
    assert tc.shape == (2, 21) and tc[0, 0] == 0.05
    # dense output inside the step = Taylor polynomial of the step
    d = ta.update_d_output(h / 2)
    assert np.allclose(d, [np.polyval(tc[i, ::-1], h / 2) for i in range(2)], rtol=0, atol=1e-17)
    assert np.array_equal(ta.update_d_output(0.0, rel_time=True), ta.state)
    oc, h2 = ta.step(max_delta_t=0.01)
    assert oc is Outcome.time_limit and h2 == 0.01
    oc, h3 = ta.step_backward()
    assert oc is Outcome.success and h3 < 0
    assert abs(ta.time - (h + h2 + h3)) < 1e-16


def test_state_and_time_are_writable():
    ta = pendulum()
    ta.state[:] = [0.1, 0.0]
    ta.time = 5.0
    ta.step()
    assert ta.tc[0, 0] == 0.1 and ta.time > 5.0
    ta.state = [0.05, 0.025]
    assert ta.state.tolist() == [0.05, 0.025]


def test_continuous_output_matches_grid():
    ta = pendulum()
    res = ta.propagate_until(50.0, c_output=True)
    co = res.c_output
    assert isinstance(co, ContinuousOutput) and co.n_steps == res.n_steps
    assert co.bounds == (0.0, 50.0)
    ts = np.linspace(0.0, 50.0, 1001)
    grid = pendulum().propagate_grid(ts).states
    assert np.max(np.abs(co(ts) - grid)) <= 2 * EPS
    assert np.array_equal(co(50.0), ta.state)
    oc, min_h, max_h, n_steps, c_out, cb = res     # heyoka 7's tuple
    assert c_out is co and n_steps == res.n_steps and cb is None and res[4] is co


def test_propagate_grid_backward_and_equals_until():
    ta = pendulum()
    ta.propagate_until(10.0)
    ts = np.linspace(10.0, 0.0, 11)
    res = ta.propagate_grid(ts)
    assert res.outcome is Outcome.time_limit
    assert np.max(np.abs(res.states[-1] - [0.05, 0.025])) <= 1e-15
    assert np.asarray(res).shape == (11, 2)
    # the grid does not change the steps: same final state as propagate_until
    a, b = pendulum(), pendulum()
    a.propagate_grid(np.linspace(0, 20, 7))
    b.propagate_until(20.0)
    assert np.array_equal(a.state, b.state)


def test_max_delta_t_max_steps_and_callback():
    res = pendulum().propagate_until(10.0, max_delta_t=0.05)
    assert res.n_steps == 200 and res.max_h == 0.0   # every step was clamped
    ta = pendulum()
    res = ta.propagate_until(100.0, max_steps=7)
    assert res.outcome is Outcome.step_limit and res.n_steps == 7
    seen = []

    def cb(t):
        seen.append(t.time)
        return len(seen) < 5

    ta = pendulum()
    res = ta.propagate_until(100.0, callback=cb)
    assert res.outcome is Outcome.cb_stop and len(seen) == 5 and res.n_steps == 5
    ref = pendulum()
    ref.propagate_until(100.0)
    ta.propagate_until(100.0, callback=lambda t: None)   # None keeps going
    assert np.array_equal(ta.state, ref.state)


def test_progress_without_or_with_tqdm():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = pendulum().propagate_until(100.0, progress=True)
    assert res.outcome is Outcome.time_limit


def test_non_finite_state_keeps_last_good_state():
    x = tj.var("x")
    ta = TaylorAdaptive([(x, tj.log(x))], [2.0], compact=True)
    ta.state[0] = -1.0                    # log of a negative number: NaN coefficients
    oc, h = ta.step()
    assert oc is Outcome.err_nf_state
    assert ta.state[0] == -1.0 and ta.time == 0.0
    res = ta.propagate_until(1.0)
    assert res.outcome is Outcome.err_nf_state and res.n_steps == 0


def test_spec_and_compact_identical():
    x, y, z = tj.make_vars("x", "y", "z")
    sys = [(x, 10.0 * (y - x)), (y, x * (28.0 - z) - y), (z, x * y - 8.0 / 3.0 * z)]
    runs = []
    for compact in (True, False):
        ta = TaylorAdaptive(sys, [1.0, 1.0, 1.0], compact=compact)
        res = ta.propagate_until(20.0, c_output=True)
        runs.append((ta.state.copy(), ta.dtime, res.n_steps, res.c_output.tcs))
    assert np.array_equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    assert runs[0][2] == runs[1][2] and np.array_equal(runs[0][3], runs[1][3])
    a, b = pendulum(compact=True), pendulum(compact=False)
    assert a.compact and not b.compact
    a.propagate_until(1000.0)
    b.propagate_until(1000.0)
    assert np.array_equal(a.state, b.state)


def test_high_accuracy_mode():
    ta = pendulum(high_accuracy=True)
    res = ta.propagate_until(1000.0)
    assert res.n_steps == 4801
    if REF is not None:
        assert np.max(np.abs(ta.state - ref_state("pendulum", 1000.0))) <= 1e-15


def test_dict_system_and_decomposition():
    x, v = tj.make_vars("x", "v")
    ta = TaylorAdaptive({x: v, v: -x}, [1.0, 0.0], compact=True)
    assert ta.decomposition.n_in == 2
    ta.propagate_until(math.pi)
    assert abs(ta.state[0] + 1.0) < 10 * EPS


# ------------------------------------------------------------------ errors
def test_bad_input_errors():
    x, v, w = tj.make_vars("x", "v", "w")
    sys = [(x, v), (v, -x)]
    with pytest.raises(ValueError, match="one initial value per equation"):
        TaylorAdaptive(sys, [1.0], compact=True)
    with pytest.raises(ValueError, match="non-finite"):
        TaylorAdaptive(sys, [1.0, np.nan], compact=True)
    with pytest.raises(ValueError, match="time must be finite"):
        TaylorAdaptive(sys, [1.0, 0.0], time=np.inf, compact=True)
    for tol in (0.0, -1e-10, np.nan):
        with pytest.raises(ValueError, match="tol must be a positive"):
            TaylorAdaptive(sys, [1.0, 0.0], tol=tol, compact=True)
    with pytest.raises(ValueError, match="'w', which is not a state variable"):
        TaylorAdaptive([(x, v), (v, -w)], [1.0, 0.0], compact=True)
    with pytest.raises(ValueError, match="more than one equation"):
        TaylorAdaptive([(x, v), (x, -x)], [1.0, 0.0], compact=True)
    with pytest.raises(ValueError, match="parameters"):
        TaylorAdaptive([(x, tj.par[2] * x)], [1.0], pars=[1.0], compact=True)
    ta = TaylorAdaptive(sys, [1.0, 0.0], compact=True)
    with pytest.raises(ValueError, match="strictly monotonic"):
        ta.propagate_grid([0.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="strictly monotonic"):
        ta.propagate_grid([0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="start the grid at the current time"):
        ta.propagate_grid([0.5, 1.0])
    with pytest.raises(ValueError, match="finite"):
        ta.propagate_until(np.nan)
    with pytest.raises(ValueError, match="max_delta_t"):
        ta.propagate_until(1.0, max_delta_t=-1.0)
    with pytest.raises(ValueError, match="NaN"):
        ta.step(np.nan)


# ------------------------------------------------------------------ copy / pickle
from taylorjit._integrate.ensemble_io import clone as ensemble_clone, dumps as ens_dumps, loads as ens_loads  # noqa: E402

def test_pickle_and_deepcopy():
    ta = pendulum()
    ta.propagate_until(10.0)
    x10 = ta.state.copy()
    for clone in (pickle.loads(pickle.dumps(ta)), copy.deepcopy(ta), copy.copy(ta),
                  ensemble_clone(ta), ens_loads(ens_dumps(ta))):
        assert clone.time == ta.time and np.array_equal(clone.state, ta.state)
        assert clone.state is not ta.state
        clone.propagate_until(100.0)
        # the copy integrates its own arrays (the compiled loop's cached arguments are rebuilt)
        assert clone.time == 100.0 and ta.time == 10.0 and np.array_equal(ta.state, x10)
    ta.propagate_until(100.0)
    assert np.array_equal(clone.state, ta.state)
    co = pendulum().propagate_until(5.0, c_output=True).c_output
    co2 = pickle.loads(pickle.dumps(co))
    assert np.array_equal(co2(np.linspace(0, 5, 9)), co(np.linspace(0, 5, 9)))


def test_repr_and_latex_display():
    x, v = tj.make_vars("x", "v")
    ta = tj.TaylorAdaptive([(x, v), (v, -9.8 * tj.sin(x))], [0.05, 0.025], compact=True)
    r = repr(ta)
    assert "2 equations" in r and "order 20" in r and "compact kernel" in r and "0.05" in r
    tex = ta._repr_latex_()
    assert r"\begin{aligned}" in tex and r"\sin" in tex and "x' &= v" in tex
    big = tj.TaylorAdaptive([(tj.var(f"q{i}"), -tj.var(f"q{i}")) for i in range(30)],
                            np.ones(30), compact=True)
    assert "[30 values]" in repr(big) and "10 more equations" in big._repr_latex_()


def test_step_size_single_pow_rule_equals_min_of_both_pows():
    """step_size decides with a rough log2 which radius is smaller and calls pow
    once; the result must be bit for bit heyoka's min of both pows, also for
    near-ties, zeros, subnormals and non-finite coefficients."""
    import math

    from numba import njit

    from taylorjit._integrate import stepper as S

    @njit(error_model="numpy")
    def h_of(tc, hrows, order, rf, io, io1):
        return S.step_size(tc, hrows, order, math.inf, rf, io, io1)

    rng = np.random.default_rng(7)
    order = 20
    rf, io, io1 = S.rho_factor(order), 1.0 / order, 1.0 / (order - 1)
    hrows = np.arange(2, dtype=np.int64)

    def ref(tc):
        a = max(abs(tc[0, 0]), abs(tc[1, 0]))
        mo = max(abs(tc[0, order]), abs(tc[1, order]))
        mom1 = max(abs(tc[0, order - 1]), abs(tc[1, order - 1]))
        num = 1.0 if a <= 1.0 else a
        ro, ro1 = math.pow(num / mo, io), math.pow(num / mom1, io1)
        return (ro1 if ro1 < ro else ro) * rf

    specials = [0.0, 5e-324, 1e-310, math.inf, 1e300]
    for trial in range(3000):
        tc = rng.standard_normal((2, order + 1)) * 10.0 ** rng.uniform(-8, 8)
        if trial % 3 == 0:   # near-tie: rho_o == rho_{o-1} up to a relative 1e-9..1e-3
            r = 10.0 ** rng.uniform(-3, 3)
            eps = 10.0 ** rng.uniform(-9, -3) * rng.choice([-1, 1])
            num = max(1.0, np.max(np.abs(tc[:, 0])))
            tc[:, order] = num / r ** order
            tc[:, order - 1] = num / (r * (1 + eps)) ** (order - 1)
        if trial % 50 == 1:
            tc[rng.integers(2), rng.choice([order, order - 1])] = rng.choice(specials)
        got, want = h_of(tc, hrows, order, rf, io, io1), ref(tc)
        assert got == want or (math.isnan(got) and math.isnan(want)), (trial, got, want)


def test_step_callback_loop_is_the_plain_loop_step_by_step():
    # the lean callback loop (two-argument compiled entry) takes the same steps, bit for bit
    import taylorjit as tj

    x, v = tj.make_vars("x", "v")
    sys_ = [(x, v), (v, -9.8 * tj.sin(x))]
    ref = tj.TaylorAdaptive(sys_, [0.05, 0.025], compact=True)
    co = ref.propagate_until(20.0, c_output=True).c_output
    ta = tj.TaylorAdaptive(sys_, [0.05, 0.025], compact=True)
    seen = []
    res = ta.propagate_until(20.0, callback=lambda t: seen.append(t.time) or True,
                             c_output=True)
    assert res.n_steps == co.n_steps == len(seen)
    assert np.array_equal(np.array(seen), co.times[1:]) and np.array_equal(ta.state, ref.state)
    assert np.array_equal(res.c_output.tcs, co.tcs)
    stop = tj.TaylorAdaptive(sys_, [0.05, 0.025], compact=True)
    res = stop.propagate_until(20.0, callback=lambda t: t.time < 1.0)
    assert res.outcome == tj.Outcome.cb_stop and 1.0 <= stop.time < 1.5


def test_step_callbacks_called_from_compiled_code():
    # plain integrators call the callback from the LLVM loop (taylorjit._integrate.pycbloop): the same
    # steps, returns read like Python's (None/true go on, false stops), exceptions raised,
    # changes made by the callback seen by the next step, re-entry refused
    import taylorjit as tj
    from taylorjit._integrate.integrator import TaylorAdaptive

    x, v = tj.make_vars("x", "v")
    sys_ = [(x, v), (v, -9.8 * tj.sin(x))]

    def make():
        ta = TaylorAdaptive(sys_, [0.05, 0.025], compact=False)
        ta._upgrade = None      # the optimised kernel, built at once with tiering off
        return ta

    ref = make()
    co = ref.propagate_until(20.0, c_output=True).c_output
    ta = make()
    assert ta._plain is not None
    seen = []
    res = ta.propagate_until(20.0, callback=lambda t: seen.append(t.time))   # None: go on
    assert res.n_steps == len(seen) == co.n_steps and np.array_equal(seen, co.times[1:])
    assert np.array_equal(ta.state, ref.state)
    ta = make()
    res = ta.propagate_until(20.0, callback=lambda t: np.bool_(t.time < 2.0))
    assert res.outcome == tj.Outcome.cb_stop and 2.0 <= ta.time < 2.5

    class Boom(Exception):
        pass

    def boom(t):
        if t.time > 1.0:
            raise Boom("from the callback")
        return True

    ta = make()
    with pytest.raises(Boom, match="from the callback"):
        ta.propagate_until(20.0, callback=boom)
    assert 1.0 < ta.time < 1.5
    ta.propagate_until(3.0)                 # the integrator is usable afterwards

    def kick(t):                            # state changes are seen by the next step
        if t.time == co.times[5]:
            t.state[1] += 1.0
        return True

    ta = make()
    tb = TaylorAdaptive(sys_, [0.05, 0.025], compact=True)     # the Python callback loop
    assert tb._plain is None
    ta.propagate_until(3.0, callback=kick)
    tb.propagate_until(3.0, callback=kick)
    assert np.array_equal(ta.state, tb.state) and ta.time == tb.time
    ta = make()
    with pytest.raises(RuntimeError):
        ta.propagate_until(5.0, callback=lambda t: t.propagate_until(10.0))
