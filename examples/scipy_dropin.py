"""taylorjit.solve_ivp as a drop-in for scipy.integrate.solve_ivp.

An astrodynamics script as it is usually written for scipy: a Kepler orbit with
eccentricity 0.5 propagated over 50 orbits, with the periapsis passages as
events and the state sampled on a time grid.  The *same* right-hand side, event
and call are run with scipy (DOP853 at rtol = atol = 1e-13) and with taylorjit;
the script prints the run time of each (taylorjit's includes tracing the
function and setting up the integrator) and the errors against the exact
solution from Kepler's equation.

Run: ``python examples/scipy_dropin.py``.
"""
import math
import time

import numpy as np
import scipy.integrate
from scipy.optimize import brentq

from taylorjit import solve_ivp as tj_solve_ivp

E = 0.5
N_ORBITS = 50
T_END = N_ORBITS * 2 * math.pi


# ---- the user's scipy code, unchanged ------------------------------------------------
def kepler(t, y, mu):
    r = np.sqrt(y[0] ** 2 + y[1] ** 2)
    return np.array([y[2], y[3], -mu * y[0] / r ** 3, -mu * y[1] / r ** 3])


def periapsis(t, y, mu):
    return y[0] * y[2] + y[1] * y[3]      # r . v = 0, increasing through periapsis


periapsis.direction = 1

y0 = [1 - E, 0.0, 0.0, math.sqrt((1 + E) / (1 - E))]
t_eval = np.linspace(0.0, T_END, 2001)
kwargs = dict(args=(1.0,), rtol=1e-13, atol=1e-13, t_eval=t_eval, events=periapsis,
              dense_output=True)


# ---- exact solution -------------------------------------------------------------------
def exact_position(t):
    M = math.fmod(t, 2 * math.pi)
    Ecc = brentq(lambda x: x - E * math.sin(x) - M, 0.0, 2 * math.pi) if M > 0 else 0.0
    return np.array([math.cos(Ecc) - E, math.sqrt(1 - E * E) * math.sin(Ecc)])


def report(name, sol, seconds):
    exact = np.array([exact_position(t) for t in sol.t]).T
    pos_err = np.max(np.abs(sol.y[:2] - exact))
    passages = sol.t_events[0]
    ev_err = np.max(np.abs(passages - 2 * math.pi * np.arange(passages.size)))
    mid = 0.5 * (t_eval[3] + t_eval[4])
    dense_err = np.max(np.abs(sol.sol(mid)[:2] - exact_position(mid)))
    print(f"{name:>10}: {seconds * 1e3:9.1f} ms  {sol.nfev:7d} f-evals/steps  "
          f"position error {pos_err:8.1e}  periapsis-time error {ev_err:8.1e}  "
          f"dense-output error {dense_err:8.1e}  ({passages.size} passages)")
    return seconds


if __name__ == "__main__":
    print(f"Kepler orbit, e = {E}, {N_ORBITS} orbits, rtol = atol = 1e-13, "
          f"{t_eval.size} output times, periapsis events\n")
    t0 = time.perf_counter()
    ref = scipy.integrate.solve_ivp(kepler, (0.0, T_END), y0, method="DOP853", **kwargs)
    t_sp = report("scipy", ref, time.perf_counter() - t0)
    t0 = time.perf_counter()
    sol = tj_solve_ivp(kepler, (0.0, T_END), y0, **kwargs)   # first call: traces and sets up
    t_tj = report("taylorjit", sol, time.perf_counter() - t0)
    t0 = time.perf_counter()
    sol = tj_solve_ivp(kepler, (0.0, T_END), y0, **kwargs)   # the trace is cached
    t_tj2 = report("taylorjit", sol, time.perf_counter() - t0)
    print(f"\ntaylorjit is {t_sp / t_tj:.0f}x faster than scipy DOP853 on the first call "
          f"(tracing included) and {t_sp / t_tj2:.0f}x on repeated calls")
