"""taylorjit.torch: odeint / odeint_event as torch.autograd.Functions.

References: closed forms (harmonic oscillator, Kepler's problem via Lagrange's
f and g functions, time to the next periapsis from the mean anomaly, falling
body) differentiated by torch itself, and ``torch.autograd.gradcheck``.
"""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import taylorjit as tj  # noqa: E402
import taylorjit.torch as tjt  # noqa: E402

TIGHT = dict(rtol=1e-15, atol=1e-15)
D = torch.float64


def rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def oscillator(y, t, omega):
    return np.array([y[1], -omega**2 * y[0]])


def osc_ref(y0, ts, omega):
    s = ts - ts[0]
    c, sn = torch.cos(omega * s), torch.sin(omega * s)
    return torch.stack([y0[0] * c + y0[1] / omega * sn, -y0[0] * omega * sn + y0[1] * c], -1)


def kepler(y, t, mu):
    r3 = (y[0] ** 2 + y[1] ** 2) ** 1.5
    return np.array([y[2], y[3], -mu * y[0] / r3, -mu * y[1] / r3])


def periapsis(y, t, mu):
    return y[0] * y[2] + y[1] * y[3]


def _elements(y0, mu):
    r0 = torch.sqrt(y0[0] ** 2 + y0[1] ** 2)
    a = 1.0 / (2.0 / r0 - (y0[2] ** 2 + y0[3] ** 2) / mu)
    n = torch.sqrt(mu / a**3)
    return r0, a, n, 1.0 - r0 / a, (y0[0] * y0[2] + y0[1] * y0[3]) / torch.sqrt(mu * a)


def kepler_ref(y0, dt, mu):
    r0, a, n, ecos, esin = _elements(y0, mu)
    M = n * dt
    dE = M
    for _ in range(40):
        F = dE + esin * (1 - torch.cos(dE)) - ecos * torch.sin(dE) - M
        dE = dE - F / (1 + esin * torch.sin(dE) - ecos * torch.cos(dE))
    r = a * (1 - ecos * torch.cos(dE) + esin * torch.sin(dE))
    f = 1 - a / r0 * (1 - torch.cos(dE))
    g = dt - (dE - torch.sin(dE)) / n
    fd = -torch.sqrt(mu * a) * torch.sin(dE) / (r * r0)
    gd = 1 - a / r * (1 - torch.cos(dE))
    return torch.stack([f * y0[0] + g * y0[2], f * y0[1] + g * y0[3],
                        fd * y0[0] + gd * y0[2], fd * y0[1] + gd * y0[3]])


def next_periapsis_ref(y0, t0, mu):
    _, _, n, ecos, esin = _elements(y0, mu)
    M = torch.remainder(torch.atan2(esin, ecos) - esin, 2 * math.pi)
    return t0 + (2 * math.pi - M) / n


def grads(f, *xs):
    xs = [x.detach().clone().requires_grad_(True) for x in xs]
    out = f(*xs)
    return [g for g in torch.autograd.grad(out, xs)]


def test_values_and_gradients_match_closed_form():
    ts = torch.linspace(0.0, 4.0, 9, dtype=D)
    y0 = torch.tensor([1.0, 0.5], dtype=D)
    w = torch.tensor(1.3, dtype=D)
    ys = tjt.odeint(oscillator, y0, ts, w, **TIGHT)
    assert ys.shape == (9, 2) and ys.dtype == D
    assert rel(ys, osc_ref(y0, ts, w)) < 1e-14

    def loss(fn):
        return lambda y0, ts, w: torch.sum(torch.sin(fn(y0, ts, w)) ** 2)

    g = grads(loss(lambda y0, ts, w: tjt.odeint(oscillator, y0, ts, w, **TIGHT)), y0, ts, w)
    gr = grads(loss(osc_ref), y0, ts, w)
    for a, b in zip(g, gr):
        assert rel(a, b) < 1e-12


def test_kepler_gradients_wrt_mu_and_y0():
    y0 = torch.tensor([1.0, 0.2, -0.1, 1.1], dtype=D)
    mu = torch.tensor(1.0, dtype=D)
    ts = torch.tensor([0.0, 2.5, 7.0], dtype=D)
    for k in range(4):
        g = grads(lambda y0, mu: tjt.odeint(kepler, y0, ts, mu, **TIGHT)[-1, k], y0, mu)
        gr = grads(lambda y0, mu: kepler_ref(y0, 7.0, mu)[k], y0, mu)
        assert rel(g[0], gr[0]) < 1e-12 and rel(g[1], gr[1]) < 1e-12


def test_gradcheck_and_shapes():
    def pend(y, t, k, c):
        return torch.stack([y[1], -k * torch.sin(y[0]) - c * y[1]])   # mapped torch functions

    ts = torch.tensor([0.0, 0.7, 1.5], dtype=D, requires_grad=True)
    y0 = torch.tensor([0.4, 0.1], dtype=D, requires_grad=True)
    k = torch.tensor(2.0, dtype=D, requires_grad=True)
    c = torch.tensor(0.3, dtype=D, requires_grad=True)
    f = lambda y0, ts, k, c: tjt.odeint(pend, y0, ts, k, c, **TIGHT)  # noqa: E731
    assert torch.autograd.gradcheck(f, (y0, ts, k, c), eps=1e-6, atol=1e-8, rtol=1e-7)
    # a matrix-shaped state
    y2 = torch.eye(2, dtype=D)
    out = tjt.odeint(lambda y, t: -y, y2, torch.tensor([0.0, 1.0], dtype=D), **TIGHT)
    assert out.shape == (2, 2, 2)
    assert rel(out[-1], math.exp(-1.0) * y2) < 1e-14
    # no gradient wanted: no variational equations, plain tensors out
    with torch.no_grad():
        assert not tjt.odeint(pend, y0, ts, k, c).requires_grad


def test_event_time_and_state_gradients():
    y0 = torch.tensor([1.0, 0.2, -0.1, 1.1], dtype=D)
    t0, mu = torch.tensor(0.3, dtype=D), torch.tensor(1.0, dtype=D)
    kw = dict(t_max=20.0, direction="positive", **TIGHT)
    te = tjt.event_time(kepler, periapsis, y0, t0, mu, **kw)
    assert rel(te, next_periapsis_ref(y0, t0, mu)) < 1e-13
    g = grads(lambda y0, t0, mu: tjt.event_time(kepler, periapsis, y0, t0, mu, **kw), y0, t0, mu)
    gr = grads(next_periapsis_ref, y0, t0, mu)
    for a, b in zip(g, gr):
        assert rel(a, b) < 1e-12
    # state at the event, each component against the closed form at the closed-form time
    for k in range(4):
        ge = grads(lambda mu: tjt.odeint_event(kepler, periapsis, y0, t0, mu, **kw)[1][k], mu)
        gref = grads(lambda mu: kepler_ref(y0, next_periapsis_ref(y0, t0, mu) - t0, mu)[k], mu)
        assert abs(float(ge[0] - gref[0])) < 1e-11 * max(1.0, abs(float(gref[0])))


def test_bad_inputs_and_double_backward():
    y0 = torch.tensor([1.0, 0.0], dtype=D)
    with pytest.raises(ValueError, match="monotonic"):
        tjt.odeint(oscillator, y0, torch.tensor([0.0, 2.0, 1.0], dtype=D), 1.0)
    with pytest.raises(TypeError, match="callable"):
        tjt.odeint(None, y0, torch.tensor([0.0, 1.0], dtype=D))
    with pytest.raises(tj.TracingError, match="where"):
        tjt.odeint(lambda y, t: torch.where(y > 0, y, -y), y0, torch.tensor([0.0, 1.0], dtype=D))
    w = torch.tensor(1.0, dtype=D, requires_grad=True)
    out = tjt.odeint(oscillator, y0, torch.tensor([0.0, 1.0], dtype=D), w)[-1, 0]
    (g,) = torch.autograd.grad(out, w, create_graph=True)
    with pytest.raises(RuntimeError):
        torch.autograd.grad(g, w)
