"""The outer solar system over a million years: energy conservation of the
Taylor integrator at machine precision.

Sun, Jupiter, Saturn, Uranus, Neptune and Pluto (Applegate et al. 1986
initial conditions, ``taylorjit.models.outer_solar_system``), all pairs
Newtonian (``taylorjit.models.nbody``), tolerance = machine epsilon (order
20).  The relative energy error is sampled on a logarithmic time grid (from
the dense output: no step is shortened) and printed; with matplotlib
installed it is also plotted to a PNG file.

The full 1e6-year run is about 1.25 million steps (a few minutes on the
compact VM; see the printed time per step); ``--years`` shortens it:

    python examples/outer_solar_system.py                  # 1e6 years
    python examples/outer_solar_system.py --years 1e4      # a couple of seconds
    python examples/outer_solar_system.py --plot energy.png

Energy is evaluated in double precision with the terms summed exactly
(``math.fsum``), so the printed error is the integrator's, not the
evaluation's (that floor is ~1e-16).
"""
import argparse
import math
import sys
import time

import numpy as np

import taylorjit as tj
from taylorjit.models import nbody, outer_solar_system

DAYS_PER_YEAR = 365.25


def energy(state, masses, G):
    """Total energy, each term in double, summed exactly."""
    s = state.reshape(len(masses), 6)
    terms = [0.5 * masses[i] * math.fsum(s[i, 3:] ** 2) for i in range(len(masses))]
    for i in range(len(masses)):
        for j in range(i + 1, len(masses)):
            d = math.sqrt(math.fsum((s[i, :3] - s[j, :3]) ** 2))
            terms.append(-G * masses[i] * masses[j] / d)
    return math.fsum(terms)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--years", type=float, default=1e6, help="length of the run (default 1e6)")
    ap.add_argument("--points", type=int, default=60, help="number of energy samples")
    ap.add_argument("--plot", default="outer_solar_system_energy.png",
                    help="PNG file for the energy error plot (needs matplotlib)")
    ap.add_argument("--no-plot", action="store_true", help="do not plot")
    args = ap.parse_args(argv)

    oss = outer_solar_system()
    sys_ = nbody(6, masses=oss.masses, Gconst=oss.G)
    t_end = args.years * DAYS_PER_YEAR
    t0 = time.perf_counter()
    ta = tj.TaylorAdaptive(sys_, oss.state)            # compact VM for this size: no compile
    t_setup = time.perf_counter() - t0
    print(f"{ta!r}"[:110] + " ...")
    print(f"set-up {t_setup:.2f} s ({'compact VM' if ta.compact else 'specialised kernel'})")

    grid = np.concatenate([[0.0], np.geomspace(100.0, t_end, args.points)])
    e0 = energy(ta.state, oss.masses, oss.G)
    t0 = time.perf_counter()
    res = ta.propagate_grid(grid, progress=sys.stderr.isatty())
    wall = time.perf_counter() - t0
    rel = np.array([abs((energy(s, oss.masses, oss.G) - e0) / e0) for s in res.states])
    print(f"{res.n_steps} steps in {wall:.1f} s ({1e6 * wall / max(res.n_steps, 1):.1f} us per "
          f"step), outcome {res.outcome.name}")
    print(f"{'time (years)':>14} {'|dE/E|':>10}")
    for k in list(range(1, len(grid), max(1, len(grid) // 12))) + [len(grid) - 1]:
        print(f"{grid[k] / DAYS_PER_YEAR:14.4g} {rel[k]:10.2e}")
    print(f"final relative energy error after {args.years:g} years: {rel[-1]:.2e} "
          f"({rel[-1] / np.finfo(float).eps:.0f} eps), max {rel.max():.2e}")

    if not args.no_plot:
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("(matplotlib not installed: no plot)")
            return rel
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.loglog(grid[1:] / DAYS_PER_YEAR, np.maximum(rel[1:], 1e-17), ".-")
        ax.axhline(np.finfo(float).eps, color="grey", ls=":", label="machine epsilon")
        ax.set_xlabel("time (years)")
        ax.set_ylabel("relative energy error")
        ax.set_title("Outer solar system, taylorjit, tol = eps")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"plot saved to {args.plot}")
    return rel


if __name__ == "__main__":
    main()
