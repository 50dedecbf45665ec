"""taylorjit.jax: odeint / odeint_event / event_time as differentiable JAX operations.

References are closed forms written in JAX and differentiated by JAX itself
(harmonic oscillator; Kepler's problem through Lagrange's f and g functions
with Kepler's equation solved by Newton's method; time to the next periapsis
from the mean anomaly), finite differences and ``jax.test_util.check_grads``.
"""
import subprocess
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

import taylorjit as tj  # noqa: E402
import taylorjit.jax as tjx  # noqa: E402

TIGHT = dict(rtol=1e-15, atol=1e-15)


def rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# ----------------------------------------------------------------------------- systems
def oscillator(y, t, omega):
    return np.array([y[1], -omega**2 * y[0]])


def osc_ref(y0, ts, omega):
    s = ts - ts[0]
    c, sn = jnp.cos(omega * s), jnp.sin(omega * s)
    return jnp.stack([y0[0] * c + y0[1] / omega * sn, -y0[0] * omega * sn + y0[1] * c], -1)


def kepler(y, t, mu):
    r3 = (y[0] ** 2 + y[1] ** 2) ** 1.5
    return np.array([y[2], y[3], -mu * y[0] / r3, -mu * y[1] / r3])


def periapsis(y, t, mu):
    return y[0] * y[2] + y[1] * y[3]


def _elements(y0, mu):
    r0 = jnp.sqrt(y0[0] ** 2 + y0[1] ** 2)
    sigma0 = y0[0] * y0[2] + y0[1] * y0[3]
    a = 1.0 / (2.0 / r0 - (y0[2] ** 2 + y0[3] ** 2) / mu)
    n = jnp.sqrt(mu / a**3)
    ecos = 1.0 - r0 / a
    esin = sigma0 / jnp.sqrt(mu * a)
    return r0, a, n, ecos, esin


def kepler_ref(y0, dt, mu):
    """State after ``dt`` (Lagrange f and g, Kepler's equation in eccentric-anomaly
    differences solved by Newton iterations)."""
    r0, a, n, ecos, esin = _elements(y0, mu)
    M = n * dt

    def newton(_, dE):
        F = dE + esin * (1 - jnp.cos(dE)) - ecos * jnp.sin(dE) - M
        dF = 1 + esin * jnp.sin(dE) - ecos * jnp.cos(dE)
        return dE - F / dF

    dE = jax.lax.fori_loop(0, 40, newton, M)
    r = a * (1 - ecos * jnp.cos(dE) + esin * jnp.sin(dE))
    f = 1 - a / r0 * (1 - jnp.cos(dE))
    g = dt - (dE - jnp.sin(dE)) / n
    fd = -jnp.sqrt(mu * a) * jnp.sin(dE) / (r * r0)
    gd = 1 - a / r * (1 - jnp.cos(dE))
    return jnp.array([f * y0[0] + g * y0[2], f * y0[1] + g * y0[3],
                      fd * y0[0] + gd * y0[2], fd * y0[1] + gd * y0[3]])


def next_periapsis_ref(y0, t0, mu):
    """Time of the next periapsis passage: t0 + (2 pi - M) / n (0 < M < 2 pi)."""
    _, _, n, ecos, esin = _elements(y0, mu)
    E = jnp.arctan2(esin, ecos)
    M = jnp.mod(E - esin, 2 * jnp.pi)
    return t0 + (2 * jnp.pi - M) / n


Y0_KEP = jnp.array([1.0, 0.2, -0.1, 1.1])


# ----------------------------------------------------------------------------- odeint values
def test_odeint_values_shapes_and_pytrees():
    ts = jnp.linspace(0.0, 3.0, 7)
    y0 = jnp.array([1.0, 0.5])
    ys = tjx.odeint(oscillator, y0, ts, 1.3, **TIGHT)
    assert ys.shape == (7, 2) and ys.dtype == jnp.float64
    assert rel(ys, osc_ref(y0, ts, 1.3)) < 1e-14
    # a pytree state and a pytree of arguments (jax.experimental.ode.odeint accepts both)

    def f(state, t, p):
        x, v = state["x"], state["v"]
        return {"x": v, "v": -p["w"] ** 2 * x}

    out = tjx.odeint(f, {"x": jnp.array(1.0), "v": jnp.array(0.5)}, ts, {"w": 1.3}, **TIGHT)
    assert set(out) == {"x", "v"} and out["x"].shape == (7,)
    assert rel(jnp.stack([out["x"], out["v"]], -1), ys) < 1e-14
    # backwards in time
    back = tjx.odeint(oscillator, ys[-1], ts[::-1], 1.3, **TIGHT)
    assert rel(back[-1], y0) < 1e-13
    # one output time: the initial state
    assert rel(tjx.odeint(oscillator, y0, ts[:1], 1.3), y0[None]) == 0.0


def test_jax_numpy_inside_func_is_mapped():
    def f(y, t, w):
        return jnp.stack([y[1], -w**2 * jnp.sin(y[0])])

    def g(y, t, w):
        return np.array([y[1], -w**2 * np.sin(y[0])])

    ts = jnp.linspace(0.0, 2.0, 5)
    y0 = jnp.array([0.3, 0.0])
    assert rel(tjx.odeint(f, y0, ts, 1.1, **TIGHT), tjx.odeint(g, y0, ts, 1.1, **TIGHT)) == 0.0


def test_unmapped_jax_function_gives_a_clear_error():
    def f(y, t):
        return jnp.where(y > 0, -y, y)

    with pytest.raises(tj.TracingError, match="where"):
        tjx.odeint(f, jnp.array([1.0]), jnp.array([0.0, 1.0]))


# ----------------------------------------------------------------------------- gradients
def test_oscillator_gradients_under_jit_match_closed_form():
    ts = jnp.linspace(0.0, 4.0, 9)
    y0 = jnp.array([1.0, 0.5])

    def loss(fn):
        return lambda y0, ts, w: jnp.sum(jnp.sin(fn(y0, ts, w)) ** 2)

    ours = loss(lambda y0, ts, w: tjx.odeint(oscillator, y0, ts, w, **TIGHT))
    ref = loss(osc_ref)
    g = jax.jit(jax.grad(ours, (0, 1, 2)))(y0, ts, 1.3)
    gr = jax.jit(jax.grad(ref, (0, 1, 2)))(y0, ts, 1.3)
    for a, b in zip(g, gr):
        assert rel(a, b) < 1e-12
    # the Jacobian of the whole trajectory (forward and reverse mode agree)
    jf = jax.jit(jax.jacfwd(lambda w: tjx.odeint(oscillator, y0, ts, w, **TIGHT)))(1.3)
    jr = jax.jit(jax.jacrev(lambda w: tjx.odeint(oscillator, y0, ts, w, **TIGHT)))(1.3)
    jref = jax.jit(jax.jacfwd(lambda w: osc_ref(y0, ts, w)))(1.3)
    assert rel(jf, jref) < 1e-12 and rel(jr, jref) < 1e-12


def test_kepler_state_gradients_wrt_mu_and_y0():
    ts = jnp.array([0.0, 2.5, 7.0])
    ours = jax.jit(jax.jacrev(lambda y0, mu: tjx.odeint(kepler, y0, ts, mu, **TIGHT)[-1], (0, 1)))
    J = ours(Y0_KEP, 1.0)
    Jr = jax.jit(jax.jacfwd(lambda y0, mu: kepler_ref(y0, 7.0, mu), (0, 1)))(Y0_KEP, 1.0)
    assert rel(J[0], Jr[0]) < 1e-12
    assert rel(J[1], Jr[1]) < 1e-12
    # the period's closed form: after one period the state returns, d state / d mu follows
    _, a, n, _, _ = _elements(Y0_KEP, 1.0)
    assert rel(tjx.odeint(kepler, Y0_KEP, jnp.array([0.0, 2 * np.pi / float(n)]), 1.0,
                          **TIGHT)[-1], Y0_KEP) < 1e-12


def test_hessian_matches_closed_form():
    ts = jnp.linspace(0.0, 2.0, 3)
    y0 = jnp.array([1.0, 0.5])

    def ours(y0, w):
        return jnp.sum(tjx.odeint(oscillator, y0, ts, w, **TIGHT)[-1] ** 2 * jnp.array([1.0, 2.0]))

    def ref(y0, w):
        return jnp.sum(osc_ref(y0, ts, w)[-1] ** 2 * jnp.array([1.0, 2.0]))

    H = jax.jit(jax.hessian(ours, (0, 1)))(y0, 1.3)
    Hr = jax.jit(jax.hessian(ref, (0, 1)))(y0, 1.3)
    for a, b in zip(jax.tree_util.tree_leaves(H), jax.tree_util.tree_leaves(Hr)):
        assert rel(a, b) < 1e-12
    # mixed: derivative of a gradient with respect to y0 along the frequency
    mixed = jax.jit(jax.grad(lambda w: jax.grad(ours)(y0, w)[0]))(1.3)
    assert rel(mixed, Hr[0][1][0]) < 1e-12


def test_output_time_derivatives():
    ts = jnp.array([0.2, 1.0, 2.5])
    y0 = jnp.array([1.0, 0.5])
    J = jax.jit(jax.jacfwd(lambda ts: tjx.odeint(oscillator, y0, ts, 1.3, **TIGHT)))(ts)
    Jr = jax.jit(jax.jacfwd(lambda ts: osc_ref(y0, ts, 1.3)))(ts)
    assert rel(J, Jr) < 1e-12
    H = jax.jit(jax.hessian(lambda ts: tjx.odeint(oscillator, y0, ts, 1.3, **TIGHT)[-1, 0]))(ts)
    Hr = jax.jit(jax.hessian(lambda ts: osc_ref(y0, ts, 1.3)[-1, 0]))(ts)
    assert rel(H, Hr) < 1e-12


def test_check_grads():
    from jax.test_util import check_grads

    ts = jnp.array([0.0, 0.7, 1.5])

    def pend(y, t, k, c):
        return np.array([y[1], -k * np.sin(y[0]) - c * y[1]])

    f = lambda y0, k, c: tjx.odeint(pend, y0, ts, k, c, **TIGHT)  # noqa: E731
    check_grads(f, (jnp.array([0.4, 0.1]), 2.0, 0.3), order=2, modes=("fwd", "rev"))


def test_vmap_runs_the_batch_and_matches_single_calls():
    ts = jnp.linspace(0.0, 3.0, 4)
    Y0 = jnp.array([[1.0, 0.5], [0.2, -0.3], [2.0, 1.0], [0.0, 1.0], [-1.0, 0.1]])
    W = jnp.array([1.3, 0.7, 2.0, 1.0, 0.5])
    f = lambda y0, w: tjx.odeint(oscillator, y0, ts, w, **TIGHT)  # noqa: E731
    batched = jax.vmap(f)(Y0, W)          # 5 members: lanes of one batch integrator
    singles = jnp.stack([f(y, w) for y, w in zip(Y0, W)])
    assert rel(batched, singles) < 1e-14
    assert rel(batched, jax.vmap(osc_ref, (0, None, 0))(Y0, ts, W)) < 1e-13
    g = jax.jit(jax.vmap(jax.grad(lambda y0, w: jnp.sum(f(y0, w)[-1]), 1)))(Y0, W)
    gr = jax.jit(jax.vmap(jax.grad(lambda y0, w: jnp.sum(osc_ref(y0, ts, w)[-1]), 1)))(Y0, W)
    assert rel(g, gr) < 1e-12


def test_unused_and_constant_arguments():
    ts = jnp.array([0.0, 1.0])

    def f(y, t, w, unused, n_terms):
        return np.array([y[1], -sum(w**2 for _ in range(n_terms)) / n_terms * y[0]])

    g = jax.grad(lambda w, u: tjx.odeint(f, jnp.array([1.0, 0.0]), ts, w, u, 3, **TIGHT)[-1, 0],
                 (0, 1))(1.3, 5.0)
    assert rel(g[0], -np.sin(1.3)) < 1e-12      # d cos(w t) / dw at t = 1
    assert float(g[1]) == 0.0


# ----------------------------------------------------------------------------- events
def test_event_time_and_state_match_kepler_closed_forms():
    kw = dict(t_max=20.0, direction="positive", **TIGHT)
    te, ye = tjx.odeint_event(kepler, periapsis, Y0_KEP, 0.3, 1.0, **kw)
    assert rel(te, next_periapsis_ref(Y0_KEP, 0.3, 1.0)) < 1e-13
    assert abs(float(periapsis(ye, te, 1.0))) < 1e-13
    T = jax.jit(jax.grad(lambda y0, t0, mu: tjx.event_time(kepler, periapsis, y0, t0, mu, **kw),
                         (0, 1, 2)))
    g = T(Y0_KEP, 0.3, 1.0)
    gr = jax.jit(jax.grad(next_periapsis_ref, (0, 1, 2)))(Y0_KEP, 0.3, 1.0)
    for a, b in zip(g, gr):
        assert rel(a, b) < 1e-12
    # the state at the event: its Jacobian is Phi + f dt_e/dw; compare with the closed form
    # of the state at the (differentiable) closed-form event time
    Je = jax.jit(jax.jacfwd(lambda mu: tjx.odeint_event(kepler, periapsis, Y0_KEP, 0.3, mu,
                                                        **kw)[1]))(1.0)
    Jr = jax.jit(jax.jacfwd(lambda mu: kepler_ref(Y0_KEP, next_periapsis_ref(Y0_KEP, 0.3, mu)
                                                  - 0.3, mu)))(1.0)
    assert rel(Je, Jr) < 1e-11


def test_event_time_hessian_and_no_event():
    fall = lambda y, t, g: np.array([y[1], -g])  # noqa: E731
    ground = lambda y, t, g: y[0]                # noqa: E731
    t_hit = lambda h, g: tjx.event_time(fall, ground, jnp.array([h, 0.0]), 0.0, g,  # noqa: E731
                                        t_max=10.0, **TIGHT)
    ref = lambda h, g: jnp.sqrt(2 * h / g)      # noqa: E731
    H = jax.jit(jax.hessian(t_hit, (0, 1)))(3.0, 9.81)
    Hr = jax.jit(jax.hessian(ref, (0, 1)))(3.0, 9.81)
    for a, b in zip(jax.tree_util.tree_leaves(H), jax.tree_util.tree_leaves(Hr)):
        assert rel(a, b) < 1e-12
    assert np.isnan(float(tjx.event_time(fall, ground, jnp.array([3.0, 0.0]), 0.0, 9.81,
                                         t_max=0.5)))


# ----------------------------------------------------------------------------- checks
def test_bad_inputs_raise_clear_errors():
    y0 = jnp.array([1.0, 0.0])
    with pytest.raises(ValueError, match="monotonic"):
        tjx.odeint(oscillator, y0, jnp.array([0.0, 2.0, 1.0]), 1.0)
    with pytest.raises(ValueError, match="1-d"):
        tjx.odeint(oscillator, y0, 1.0, 1.0)
    with pytest.raises(TypeError, match="callable"):
        tjx.odeint("f", y0, jnp.array([0.0, 1.0]))
    with pytest.raises(tj.TracingError, match="components"):
        tjx.odeint(lambda y, t: y[:1], y0, jnp.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="rtol"):
        tjx.odeint(oscillator, y0, jnp.array([0.0, 1.0]), 1.0, rtol=-1.0)
    with pytest.raises(TypeError, match="static"):
        jax.jit(lambda n: tjx.odeint(lambda y, t, n: -n * y, y0, jnp.array([0.0, 1.0]), n))(2)
    with pytest.raises(ValueError, match="direction"):
        tjx.event_time(oscillator, lambda y, t, w: y[0], y0, 0.0, 1.0, t_max=5.0, direction="up")


def test_traced_values_in_the_closure_give_a_clear_error():
    y0, ts = jnp.array([1.0]), jnp.array([0.0, 1.0])

    def solve(k):
        return tjx.odeint(lambda y, t: -k * y, y0, ts)[-1, 0]

    with pytest.raises(tj.TracingError, match="Pass them to odeint as arguments"):
        jax.grad(solve)(2.0)
    # the fix: k as an argument
    g = jax.grad(lambda k: tjx.odeint(lambda y, t, k: -k * y, y0, ts, k, **TIGHT)[-1, 0])(2.0)
    assert rel(g, -np.exp(-2.0)) < 1e-13


def test_integrators_are_cached_between_calls():
    from taylorjit._differentiable import core as _diffcore

    def f(y, t, w):
        return np.array([y[1], -w * y[0]])

    y0, ts = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
    tjx.odeint(f, y0, ts, 1.0)
    probs = dict(_diffcore._PROBLEMS[f])
    jax.grad(lambda w: tjx.odeint(f, y0, ts, w)[-1, 0])(2.0)
    jax.grad(lambda w: tjx.odeint(f, y0, ts, w)[-1, 0])(3.0)
    assert dict(_diffcore._PROBLEMS[f]) == probs          # traced once
    prob = next(iter(probs.values()))
    assert len(prob._vsys) == 1                            # one variational system built


def test_import_taylorjit_does_not_import_jax():
    code = "import sys, taylorjit; print('jax' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
