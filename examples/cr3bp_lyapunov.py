"""A planar Lyapunov orbit around L1 of the Earth-Moon CR3BP, by differential correction.

The orbit is symmetric about the x axis: start on the axis, ``(x0, 0)``,
moving perpendicular to it, ``(0, vy0)``, and ask that it cross the axis again
perpendicularly (``vx = 0`` at the next ``y = 0``), half a period later.
Newton's method on ``vy0`` needs ``d vx(t_e) / d vy0`` *at the crossing*,
whose time ``t_e`` itself moves with ``vy0``: the first-order sensitivities
(the state-transition matrix, integrated with the orbit as a variational
system) are corrected for the event time with

    dx(t_e)/dw = Phi - f(x_e) (dg/dx Phi) / (dg/dx f),     g = y

(``ta.event_sensitivity(g)``).  The crossing is a terminal event
``tj.Event(y, direction="negative", terminal=True)``: the integrator stops
exactly there, with the full augmented state (orbit and STM) at the event.

Run: ``python examples/cr3bp_lyapunov.py``
"""
import numpy as np

import taylorjit as tj

MU = 0.012150584269940356          # Earth-Moon mass ratio


def cr3bp():
    """Planar CR3BP in the rotating frame, mu = par[0]."""
    x, y, vx, vy = tj.make_vars("x", "y", "vx", "vy")
    mu = tj.par[0]
    r1 = ((x + mu) ** 2 + y ** 2) ** -1.5
    r2 = ((x - (1 - mu)) ** 2 + y ** 2) ** -1.5
    ax = 2 * vy + x - (1 - mu) * (x + mu) * r1 - mu * (x - (1 - mu)) * r2
    ay = -2 * vx + y - (1 - mu) * y * r1 - mu * y * r2
    return [(x, vx), (y, vy), (vx, ax), (vy, ay)], (x, y, vx, vy)


def jacobi(s, mu=MU):
    x, y, vx, vy = s[:4]
    r1 = np.hypot(x + mu, y)
    r2 = np.hypot(x - 1 + mu, y)
    return x * x + y * y + 2 * (1 - mu) / r1 + 2 * mu / r2 - vx * vx - vy * vy


def half_period(vsys, y, x0, vy0):
    """Propagate to the first crossing of y = 0 going down (a terminal event);
    return the integrator, stopped at the crossing."""
    crossing = tj.Event(y, direction="negative", terminal=True)
    ta = tj.TaylorAdaptive(vsys, [x0, 0.0, 0.0, vy0], pars=[MU], compact=True,
                           events=[crossing])
    res = ta.propagate_until(10.0)
    if res.outcome != tj.Outcome.event:
        raise SystemExit(f"no crossing of y = 0 before t = 10 ({res.outcome})")
    return ta


def main():
    sys, (x, y, vx, vy) = cr3bp()
    vsys = tj.var_ode_sys(sys, "vars", order=1)   # the orbit and its STM
    x0, vy0 = 0.8234, 0.1263                      # a guess near a small L1 Lyapunov orbit
    print(f"{'iter':>4} {'vy0':>22} {'|vx(t_e)|':>12} {'T/2':>18}")
    for it in range(20):
        ta = half_period(vsys, y, x0, vy0)
        se, te = ta.state, ta.time
        print(f"{it:4d} {vy0:22.16f} {abs(se[2]):12.3e} {te:18.14f}")
        if abs(se[2]) < 1e-12:
            break
        dxdw, _ = ta.event_sensitivity(y)         # STM corrected for the moving event time
        vy0 -= se[2] / dxdw[2, 3]                 # Newton on vx(t_e) = 0 with d vx(t_e)/d vy0
    else:
        raise SystemExit("differential correction did not converge")
    period = 2 * te
    # check: the full period closes the orbit
    ta = tj.TaylorAdaptive(sys, [x0, 0.0, 0.0, vy0], pars=[MU], compact=True)
    ta.propagate_until(period)
    err = np.abs(ta.state - [x0, 0.0, 0.0, vy0]).max()
    s0 = np.array([x0, 0.0, 0.0, vy0])
    print(f"\nL1 Lyapunov orbit: x0 = {x0}, vy0 = {vy0:.16f}, period T = {period:.14f}")
    print(f"Jacobi constant C = {jacobi(s0):.15f} (drift over one period {jacobi(ta.state) - jacobi(s0):.1e})")
    print(f"state after one period - initial state: {err:.1e}")


if __name__ == "__main__":
    main()
