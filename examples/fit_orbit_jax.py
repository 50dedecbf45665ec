"""Fitting mu and J2 of an orbit model to noisy observations with jax.grad + optax.

A satellite on an inclined, eccentric orbit around an oblate planet (units:
planet radius 1, mu ~ 1) is observed at 60 times over ~6 revolutions: positions
with Gaussian noise of 1e-6.  The model, written as a plain numpy function,

    r'' = -mu r / |r|^3 + a_J2(r; mu, J2),

is integrated by ``taylorjit.jax.odeint``; the least-squares loss is
differentiated by ``jax.grad`` (exact gradients from the variational
equations) and minimised by optax's L-BFGS from a start 2 % off in mu with no
J2.  ``jax.hessian`` of the loss (second-order variational equations) then
gives the formal 1-sigma uncertainties of the fitted values, which cover the
true ones.

Needs ``jax`` and ``optax`` (``pip install taylorjit[jax] optax``).
Run: ``python examples/fit_orbit_jax.py``
"""
import importlib.util
import sys
import time

import numpy as np

if importlib.util.find_spec("jax") is None or importlib.util.find_spec("optax") is None:
    print("this example needs jax and optax: pip install jax optax")
    sys.exit(0)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

import taylorjit.jax as tjx  # noqa: E402

TOL = dict(rtol=1e-13, atol=1e-13)


def oblate(y, t, mu, j2):
    """Two-body problem with the J2 term (planet radius 1), state (r, v)."""
    x, yy, z = y[0], y[1], y[2]
    r2 = x * x + yy * yy + z * z
    r = np.sqrt(r2)
    k = -mu / (r2 * r)
    f = 1.5 * j2 * mu / (r2 * r2 * r)
    s = 5.0 * z * z / r2
    return np.array([y[3], y[4], y[5],
                     k * x + f * x * (s - 1.0),
                     k * yy + f * yy * (s - 1.0),
                     k * z + f * z * (s - 3.0)])


def main():
    t_start = time.perf_counter()
    mu_true, j2_true = 1.0, 1.08e-3
    y0 = jnp.array([1.6, 0.0, 0.0, 0.0, 0.72, 0.35])         # e ~ 0.2, i ~ 26 deg
    ts = jnp.linspace(0.0, 60.0, 61)
    rng = np.random.default_rng(0)
    sigma = 1e-6
    truth = tjx.odeint(oblate, y0, ts, mu_true, j2_true, **TOL)
    obs = truth[:, :3] + sigma * rng.standard_normal((ts.shape[0], 3))

    n_obs = obs.size

    # chi^2 / n_obs of the residuals; parameters scaled to order one: mu and J2 / 1e-3
    def loss(theta):
        ys = tjx.odeint(oblate, y0, ts, theta[0], 1e-3 * theta[1], **TOL)
        return jnp.sum(((ys[:, :3] - obs) / sigma) ** 2) / n_obs

    theta = jnp.array([0.98, 0.0])
    opt = optax.lbfgs()
    state = opt.init(theta)
    value_and_grad = optax.value_and_grad_from_state(loss)

    @jax.jit
    def step(theta, state):
        value, grad = value_and_grad(theta, state=state)
        updates, state = opt.update(grad, state, theta, value=value, grad=grad, value_fn=loss)
        return optax.apply_updates(theta, updates), state, value, grad

    print(f"{'iter':>4} {'chi2/n':>14} {'|grad|':>10} {'mu':>18} {'J2':>14}")
    previous = np.inf
    for it in range(60):
        theta, state, value, grad = step(theta, state)
        value = float(value)
        if it % 4 == 0 or previous - value < 1e-9 * value:
            print(f"{it:>4} {value:>14.6e} {float(jnp.linalg.norm(grad)):>10.2e} "
                  f"{float(theta[0]):>18.12f} {1e-3 * float(theta[1]):>14.8e}")
        if 0 <= previous - value < 1e-9 * value:
            break
        previous = min(previous, value)
    # covariance of the least-squares estimate: (J^T J / sigma^2)^-1 = (n_obs H / 2)^-1
    H = jax.jit(jax.hessian(loss))(theta)
    cov = np.linalg.inv(0.5 * n_obs * np.asarray(H))
    s_mu, s_j2 = np.sqrt(cov[0, 0]), 1e-3 * np.sqrt(cov[1, 1])
    mu_fit, j2_fit = float(theta[0]), 1e-3 * float(theta[1])
    print(f"\nfit:  mu = {mu_fit:.12f} +- {s_mu:.1e}   (true {mu_true}, "
          f"{abs(mu_fit - mu_true) / s_mu:.1f} sigma)")
    print(f"      J2 = {j2_fit:.8e} +- {s_j2:.1e}   (true {j2_true:.8e}, "
          f"{abs(j2_fit - j2_true) / s_j2:.1f} sigma)")
    print(f"      chi2 / n_obs = {float(loss(theta)):.3f} at the fit, "
          f"{float(loss(jnp.array([mu_true, 1e3 * j2_true]))):.3f} at the true values")
    print(f"total time {time.perf_counter() - t_start:.1f} s")
    assert abs(mu_fit - mu_true) < 5 * s_mu and abs(j2_fit - j2_true) < 5 * s_j2


if __name__ == "__main__":
    main()
