"""Batch mode: taylorjit's default ``TaylorAdaptiveBatch`` against heyoka.py's
``taylor_adaptive_batch`` of the same size, in one process.

For each system and batch size: both integrators start from the same states (one
set of initial conditions or parameters per lane), ``propagate_until`` the same
final time; the time per step per lane is ``wall time / (steps of the slowest lane
x lanes)`` (heyoka's batch steps all lanes together), best of ``--reps`` runs taken
in turns.  taylorjit's default constructor is timed after its background builds
(the unrolled kernel, the SIMD batch kernel) have landed; the time until then is
printed.  The SIMD width used is printed beside each row.

Usage::

    python benchmarks/bench_batch.py                  # pendulum, Kepler, outer solar system; 4 and 8 lanes
    python benchmarks/bench_batch.py --reps 5 --sizes 4
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pendulum(lib, B):
    x, v = lib.make_vars("x", "v")
    x0 = np.stack([np.linspace(0.05, 0.5, B), np.zeros(B)])
    return [(x, v), (v, -9.8 * lib.sin(x))], x0, 1000.0


def kepler(lib, B):
    x, y, vx, vy = lib.make_vars("x", "y", "vx", "vy")
    r3 = (x * x + y * y) ** -1.5
    x0 = np.array([[1.0] * B, [0.0] * B, [0.0] * B, list(np.linspace(1.0, 1.2, B))])
    return [(x, vx), (y, vy), (vx, -x * r3), (vy, -y * r3)], x0, 1000.0


def outer_ss(lib, B):
    from bench_integrator import SYSTEMS

    sys_, x0, t_end = SYSTEMS["outer_ss"](lib, 0.0)
    x0 = np.array(x0, dtype=float)
    X0 = np.repeat(x0[:, None], B, axis=1)
    X0[3:6] *= 1.0 + 1e-6 * np.arange(B)       # slightly different Jupiter velocities
    return sys_, X0, t_end


SYSTEMS = {"pendulum": pendulum, "kepler": kepler, "outer_ss": outer_ss}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--sizes", default="4,8")
    ap.add_argument("systems", nargs="*", default=list(SYSTEMS))
    a = ap.parse_args()
    import taylorjit as tj
    from taylorjit._codegen import tiering as _tiering

    try:
        import heyoka as hy
    except ImportError:
        hy = None
    print(f"# machine: {platform.machine()}, python {platform.python_version()}, "
          f"heyoka {'-' if hy is None else hy.__version__}")
    print("| system | lanes | taylorjit per step per lane | SIMD width | heyoka batch | ratio | "
          "steps (max lane) | background builds landed after | lanes equal scalar runs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in a.systems:
        for B in [int(s) for s in a.sizes.split(",")]:
            sys_, x0, T = SYSTEMS[name](tj, B)
            t0 = time.perf_counter()
            ta = tj.TaylorAdaptiveBatch(sys_, x0)
            # two rounds of background builds: the unrolled kernel, then the SIMD batch
            # kernel it enables (submitted at the first propagation on the unrolled kernel)
            for t_warm in (1.0, 2.0, 3.0):
                ta.propagate_until(min(T, t_warm))
                _tiering.wait_all(1200)
            built = time.perf_counter() - t0
            hta = None
            if hy is not None:
                hsys, hx0, _ = SYSTEMS[name](hy, B)
                hta = hy.taylor_adaptive_batch(hsys, np.array(hx0, dtype=float))
            best = {}
            steps = 0
            for _ in range(a.reps):
                for nm, o in (("tj", ta), ("hy", hta)):
                    if o is None:
                        continue
                    if nm == "hy":
                        o.set_time(0.0)
                    else:
                        o.time = 0.0
                    o.state[:] = x0
                    t1 = time.perf_counter()
                    r = o.propagate_until(T)
                    dt = time.perf_counter() - t1
                    if nm == "tj":
                        steps = int(np.max(r.n_steps))
                    best[nm] = min(best.get(nm, np.inf), dt)
            simd = ta.__dict__.get("_simd")
            width = getattr(simd, "width", "-")
            # lane 0 against a scalar integration of its initial condition
            sc = tj.TaylorAdaptive(sys_, x0[:, 0])
            sc.propagate_until(T)
            same = bool(np.array_equal(sc.state, ta.state[:, 0]))
            per = best["tj"] / (steps * B)
            hyp = best.get("hy")
            ratio = "-" if hyp is None else f"{best['tj'] / hyp:.2f}x"
            print(f"| {name} | {B} | {per * 1e9:.1f} ns | {width} | "
                  f"{'-' if hyp is None else f'{hyp / (steps * B) * 1e9:.1f} ns'} | "
                  f"{ratio} | {steps} | "
                  f"{built:.2f} s | {same} |", flush=True)


if __name__ == "__main__":
    main()
