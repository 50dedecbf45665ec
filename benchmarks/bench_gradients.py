"""Gradients through ODE integrations: accuracy and time, taylorjit.jax vs diffrax,
jax.experimental.ode and finite differences, at matched tolerances.

Problems (float64, every gradient under ``jax.jit``, timed after a warm-up call,
median of repeated calls):

* ``kepler``: loss = sum of squared positions of a two-body orbit (e ~ 0.25) at
  20 observation times over ~3 orbits; gradient with respect to the initial
  state (4) and mu (5 parameters).  Reference: the closed form (Lagrange's f and g
  with Kepler's equation solved by Newton's method) differentiated by JAX.
* ``neural``: a pendulum with a neural correction term (``ffnn``, 2-8-1, tanh,
  33 weights), loss = sum of squared states at 20 times over 5 time units;
  gradient with respect to the 33 weights.  Reference: taylorjit at tol = 1e-16
  (cross-checked against diffrax Dopri8 at rtol = atol = 1e-14; the agreement is
  printed).

Methods:

* ``taylorjit``: ``taylorjit.jax.odeint`` + ``jax.grad`` (first-order variational
  equations, forward sensitivities; reverse mode by their transpose);
* ``diffrax-direct``: diffrax Dopri8, PID controller, ``RecursiveCheckpointAdjoint``
  (differentiate the solver's operations: discretise-then-optimise);
* ``diffrax-backsolve``: diffrax Dopri8, ``BacksolveAdjoint`` (continuous adjoint
  integrated backwards: optimise-then-discretise);
* ``jax-odeint``: ``jax.experimental.ode.odeint`` (Dopri5, adjoint);
* ``fd-taylorjit``: central finite differences of taylorjit's primal solution
  (2 integrations per parameter, step ``h = 1e-5`` relative).

``rel err`` is the relative 2-norm error of the gradient; ``ms`` the time of one
gradient; ``x tj`` the time relative to taylorjit's at the same tolerance.

Run: ``python benchmarks/bench_gradients.py [--quick]``.
"""
from __future__ import annotations

import math
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

import taylorjit.jax as tjx  # noqa: E402
from taylorjit import ffnn, ffnn_n_params  # noqa: E402

try:
    import diffrax
except ImportError:          # pragma: no cover - optional
    diffrax = None


# ----------------------------------------------------------------------------- problems
def kepler_rhs(y, t, mu):
    r3 = (y[0] ** 2 + y[1] ** 2) ** 1.5
    return np.array([y[2], y[3], -mu * y[0] / r3, -mu * y[1] / r3])


def kepler_jax(t, y, mu):
    r3 = (y[0] ** 2 + y[1] ** 2) ** 1.5
    return jnp.stack([y[2], y[3], -mu * y[0] / r3, -mu * y[1] / r3])


def kepler_closed(y0, dt, mu):
    r0 = jnp.sqrt(y0[0] ** 2 + y0[1] ** 2)
    a = 1.0 / (2.0 / r0 - (y0[2] ** 2 + y0[3] ** 2) / mu)
    n = jnp.sqrt(mu / a**3)
    ecos, esin = 1.0 - r0 / a, (y0[0] * y0[2] + y0[1] * y0[3]) / jnp.sqrt(mu * a)
    M = n * dt

    def newton(_, dE):
        F = dE + esin * (1 - jnp.cos(dE)) - ecos * jnp.sin(dE) - M
        return dE - F / (1 + esin * jnp.sin(dE) - ecos * jnp.cos(dE))

    dE = jax.lax.fori_loop(0, 50, newton, M)
    f = 1 - a / r0 * (1 - jnp.cos(dE))
    g = dt - (dE - jnp.sin(dE)) / n
    return jnp.stack([f * y0[0] + g * y0[2], f * y0[1] + g * y0[3]])


HIDDEN = [8]
N_W = ffnn_n_params(2, HIDDEN, 1)


def neural_rhs(y, t, wb):
    corr = ffnn(y, HIDDEN, 1, [np.tanh, lambda e: e], nn_wb=wb)[0]
    return np.array([y[1], -np.sin(y[0]) + corr])


def neural_jax(t, y, wb):
    W1 = wb[:16].reshape(8, 2)
    W2 = wb[16:24].reshape(1, 8)
    b1, b2 = wb[24:32], wb[32:33]
    corr = (W2 @ jnp.tanh(W1 @ y + b1) + b2)[0]
    return jnp.stack([y[1], -jnp.sin(y[0]) + corr])


def setup(name):
    if name == "kepler":
        ts = jnp.linspace(0.0, 20.0, 20)
        theta = jnp.array([1.0, 0.0, 0.0, 1.2, 1.0])           # y0 and mu

        def tj_loss(theta, tol):
            ys = tjx.odeint(kepler_rhs, theta[:4], ts, theta[4], rtol=tol, atol=tol)
            return jnp.sum(ys[:, :2] ** 2)

        def exact(theta):
            pos = jax.vmap(lambda t: kepler_closed(theta[:4], t, theta[4]))(ts)
            return jnp.sum(pos ** 2)

        ref = jax.jit(jax.grad(exact))(theta)
        return dict(ts=ts, theta=theta, tj_loss=tj_loss, rhs=kepler_jax,
                    y0=lambda th: th[:4], args=lambda th: th[4],
                    loss_of=lambda ys: jnp.sum(ys[:, :2] ** 2), ref=ref, ref_note="closed form")
    ts = jnp.linspace(0.0, 5.0, 20)
    theta = jnp.asarray(np.random.default_rng(0).standard_normal(N_W) * 0.3)
    y0 = jnp.array([1.0, 0.0])

    def tj_loss(theta, tol):
        return jnp.sum(tjx.odeint(neural_rhs, y0, ts, theta, rtol=tol, atol=tol) ** 2)

    ref = jax.jit(jax.grad(lambda th: tj_loss(th, 1e-16)))(theta)
    return dict(ts=ts, theta=theta, tj_loss=tj_loss, rhs=neural_jax, y0=lambda th: y0,
                args=lambda th: th, loss_of=lambda ys: jnp.sum(ys ** 2), ref=ref,
                ref_note="taylorjit at tol 1e-16")


# ----------------------------------------------------------------------------- methods
def diffrax_grad(P, tol, adjoint):
    term = diffrax.ODETerm(P["rhs"])
    ts = P["ts"]
    ctrl = diffrax.PIDController(rtol=tol, atol=tol)
    adj = diffrax.BacksolveAdjoint() if adjoint == "backsolve" else \
        diffrax.RecursiveCheckpointAdjoint()

    def loss(theta):
        sol = diffrax.diffeqsolve(term, diffrax.Dopri8(), ts[0], ts[-1], None, P["y0"](theta),
                                  args=P["args"](theta), saveat=diffrax.SaveAt(ts=ts),
                                  stepsize_controller=ctrl, adjoint=adj, max_steps=200_000)
        return P["loss_of"](sol.ys)

    return jax.jit(jax.grad(loss))


def jaxode_grad(P, tol):
    from jax.experimental.ode import odeint

    ts = P["ts"]

    def loss(theta):
        ys = odeint(lambda y, t, a: P["rhs"](t, y, a), P["y0"](theta), ts, P["args"](theta),
                    rtol=tol, atol=tol, mxstep=1_000_000)
        return P["loss_of"](ys)

    return jax.jit(jax.grad(loss))


def fd_grad(P, tol):
    f = jax.jit(lambda th: P["tj_loss"](th, tol))
    h = 1e-5

    def grad(theta):
        th = np.asarray(theta, dtype=float)
        out = np.empty_like(th)
        for i in range(th.size):
            e = np.zeros_like(th)
            e[i] = h * max(1.0, abs(th[i]))
            out[i] = (float(f(th + e)) - float(f(th - e))) / (2 * e[i])
        return out

    return grad


def timed(fn, theta, reps):
    out = np.asarray(jax.block_until_ready(fn(theta)))         # warm-up: compile
    times = []
    deadline = time.perf_counter() + 8.0
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(theta))
        times.append(time.perf_counter() - t0)
        if time.perf_counter() > deadline:
            break
    return out, statistics.median(times)


def rel_err(g, ref):
    return float(np.linalg.norm(np.asarray(g) - np.asarray(ref)) / np.linalg.norm(ref))


def main():
    quick = "--quick" in sys.argv
    tols = [1e-6, 1e-10, 1e-14] if quick else [1e-6, 1e-8, 1e-10, 1e-12, 1e-14]
    reps = 5 if quick else 15
    print(f"machine: {platform.machine()} {platform.processor() or ''}, Python "
          f"{platform.python_version()}, jax {jax.__version__}"
          + (f", diffrax {diffrax.__version__}" if diffrax else ", diffrax not installed"))
    for name in ("kepler", "neural"):
        P = setup(name)
        theta = P["theta"]
        print(f"\n{name}: {theta.size} parameters, reference: {P['ref_note']}")
        if name == "neural" and diffrax is not None:
            check = diffrax_grad(P, 1e-14, "direct")(theta)
            print(f"  reference check: diffrax Dopri8 rtol=atol=1e-14 differs by "
                  f"{rel_err(check, P['ref']):.1e} (relative)")
        header = f"  {'tol':>7} | {'method':<18}{'rel err':>10}{'ms':>10}{'x tj':>8}"
        print(header)
        print("  " + "-" * (len(header) - 2))
        for tol in tols:
            tj = jax.jit(jax.grad(lambda th, tol=tol: P["tj_loss"](th, tol)))
            g, t_tj = timed(tj, theta, reps)
            rows = [("taylorjit", rel_err(g, P["ref"]), t_tj)]
            if diffrax is not None:
                for adj in ("direct", "backsolve"):
                    try:
                        g, t = timed(diffrax_grad(P, tol, adj), theta, reps)
                        rows.append((f"diffrax-{adj}", rel_err(g, P["ref"]), t))
                    except Exception as exc:  # noqa: BLE001 - report and go on
                        rows.append((f"diffrax-{adj}", math.nan, math.nan))
                        print(f"  diffrax {adj} failed at tol {tol:g}: {type(exc).__name__}")
            g, t = timed(jaxode_grad(P, tol), theta, reps)
            rows.append(("jax-odeint", rel_err(g, P["ref"]), t))
            g, t = timed(fd_grad(P, tol), theta, max(2, reps // 5))
            rows.append(("fd-taylorjit", rel_err(g, P["ref"]), t))
            for i, (meth, err, t) in enumerate(rows):
                lead = f"{tol:>7.0e}" if i == 0 else " " * 7
                print(f"  {lead} | {meth:<18}{err:>10.1e}{t * 1e3:>10.2f}{t / t_tj:>8.1f}",
                      flush=True)


if __name__ == "__main__":
    main()
