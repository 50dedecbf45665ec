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
    python benchmarks/bench_batch.py kepler kepler_event  # Kepler without and with a terminal event

``kepler_event`` is Kepler with a terminal event (at r = 10, never reached): the events
run the compiled batch loop on SIMD lanes -- the lanes' tables, step sizes, Horner updates
and fast event exclusion in the vector code, the event detection and bookkeeping per
lane (the SIMD width column is that code's).
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


def kepler_event(lib, B):
    """Kepler with a terminal event at r = 10 (never reached: the cost of the detection,
    event rows taking part in the step size)."""
    sys_, x0, T = kepler(lib, B)
    x, y = sys_[0][0], sys_[1][0]
    g = x * x + y * y - 100.0

    def events():
        if lib.__name__ == "heyoka":
            return {"t_events": [lib.t_event_batch(g)]}, {"t_events": [lib.t_event(g)]}
        return {"t_events": [lib.t_event(g)]}, {"t_events": [lib.t_event(g)]}

    return sys_, x0, T, events


def outer_ss(lib, B):
    from bench_integrator import SYSTEMS

    sys_, x0, t_end = SYSTEMS["outer_ss"](lib, 0.0)
    x0 = np.array(x0, dtype=float)
    X0 = np.repeat(x0[:, None], B, axis=1)
    X0[3:6] *= 1.0 + 1e-6 * np.arange(B)       # slightly different Jupiter velocities
    return sys_, X0, t_end


SYSTEMS = {"pendulum": pendulum, "kepler": kepler, "kepler_event": kepler_event,
           "outer_ss": outer_ss}


def _no_events():
    return {}, {}


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
          "taylorjit, lanes' own jets (events) | whole run: taylorjit / own jets / heyoka | "
          "steps (max lane) | background builds landed after | lanes equal scalar runs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in a.systems:
        for B in [int(s) for s in a.sizes.split(",")]:
            sys_, x0, T, *ev = SYSTEMS[name](tj, B)
            events = ev[0] if ev else _no_events
            t0 = time.perf_counter()
            ta = tj.TaylorAdaptiveBatch(sys_, x0, **events()[0])
            # two rounds of background builds: the unrolled kernel, then the SIMD batch
            # kernel it enables (submitted at the first propagation on the unrolled kernel)
            for t_warm in (1.0, 2.0, 3.0):
                ta.propagate_until(min(T, t_warm))
                _tiering.wait_all(1200)
            built = time.perf_counter() - t0
            hta = None
            if hy is not None:
                hsys, hx0, _, *hev = SYSTEMS[name](hy, B)
                hta = hy.taylor_adaptive_batch(hsys, np.array(hx0, dtype=float),
                                               **(hev[0]()[0] if hev else {}))
            own = None
            if ev:      # the same integrator without the SIMD event jet (each lane's own jet)
                own = tj.TaylorAdaptiveBatch(sys_, x0, **events()[0])
                own.propagate_until(1.0)
                _tiering.wait_all(1200)
                own._simd_events = lambda: None
            best = {}
            steps = 0
            for _ in range(a.reps):
                for nm, o in (("tj", ta), ("own", own), ("hy", hta)):
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
            simd = ta._simd_events() if ev else ta.__dict__.get("_simd")
            width = getattr(simd, "width", "-")
            # lane 0 against a scalar integration of its initial condition
            sc = tj.TaylorAdaptive(sys_, x0[:, 0], **events()[1])
            sc.propagate_until(T)
            same = bool(np.array_equal(sc.state, ta.state[:, 0]))
            per = best["tj"] / (steps * B)
            hyp = best.get("hy")
            ratio = "-" if hyp is None else f"{best['tj'] / hyp:.2f}x"
            ownp = best.get("own")
            whole = " / ".join("-" if best.get(k) is None else f"{best[k] * 1e3:.2f} ms"
                               for k in ("tj", "own", "hy"))
            print(f"| {name} | {B} | {per * 1e9:.1f} ns | {width} | "
                  f"{'-' if hyp is None else f'{hyp / (steps * B) * 1e9:.1f} ns'} | "
                  f"{ratio} | {'-' if ownp is None else f'{ownp / (steps * B) * 1e9:.1f} ns'} | "
                  f"{whole} | {steps} | "
                  f"{built:.2f} s | {same} |", flush=True)


if __name__ == "__main__":
    main()
