"""Adaptive Taylor integration: taylorjit vs heyoka (default / compact) vs scipy.

Systems: pendulum (t = 1000), Lorenz (t = 10), outer solar system (1e5 days),
a 50-body planetary system (1000 days).  For each integrator: set-up time of a
never-seen system (a constant is perturbed so no cache can help; taylorjit in a
fresh process), warm set-up (same system again, new process, disk cache),
time per step (best of several runs), steps, final error against the
quad-precision references in tests/data, and scipy ``solve_ivp``
(DOP853; Radau for reference) at matched final error (work-precision rows).

Usage::

    python benchmarks/bench_integrator.py            # all systems
    python benchmarks/bench_integrator.py pendulum lorenz
    python benchmarks/bench_integrator.py --spec-max-ops 500   # also time big spec compiles

The specialised kernel is only timed for systems up to ``--spec-max-ops``
operations (default 150): its numba compilation takes minutes above that.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REF_FILE = ROOT / "tests" / "data" / "references.json"
REF = json.loads(REF_FILE.read_text()) if REF_FILE.exists() else {}


# ------------------------------------------------------------------ systems (lib = tj or hy)
def pendulum(lib, p=0.0):
    x, v = lib.make_vars("x", "v")
    return [(x, v), (v, -9.8 * (1 + p) * lib.sin(x))], [0.05, 0.025], 1000.0


def lorenz(lib, p=0.0):
    x, y, z = lib.make_vars("x", "y", "z")
    return ([(x, 10.0 * (1 + p) * (y - x)), (y, x * (28.0 - z) - y), (z, x * y - 8.0 / 3.0 * z)],
            [1.0, 1.0, 1.0], 10.0)


def nbody(lib, masses, G):
    n = len(masses)
    v = lib.make_vars(*[f"{c}{i}" for i in range(n) for c in ("x", "y", "z", "vx", "vy", "vz")])
    pos = [v[6 * i:6 * i + 3] for i in range(n)]
    acc = [[0.0] * 3 for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            d = [pos[j][k] - pos[i][k] for k in range(3)]
            r_3 = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) ** -1.5
            for k in range(3):
                acc[i][k] = acc[i][k] + (G * masses[j]) * d[k] * r_3
                acc[j][k] = acc[j][k] - (G * masses[i]) * d[k] * r_3
    sys_ = []
    for i in range(n):
        sys_ += [(pos[i][k], v[6 * i + 3 + k]) for k in range(3)]
        sys_ += [(v[6 * i + 3 + k], acc[i][k]) for k in range(3)]
    return sys_


def outer_ss(lib, p=0.0):
    r = REF["outer_solar_system"]
    return nbody(lib, r["masses"], r["G"] * (1 + p)), r["x0"], 1e5


def fifty_body(lib, p=0.0):
    rng = np.random.default_rng(42)
    G = REF["outer_solar_system"]["G"] if REF else 0.00029591220828559115
    masses = [1.0] + list(10 ** rng.uniform(-9, -5, 49))
    x0 = [0.0] * 6
    for i in range(49):
        a = 1.0 + 0.2 * i + 0.05 * rng.uniform()
        th = rng.uniform(0, 2 * math.pi)
        vc = math.sqrt(G / a)
        x0 += [a * math.cos(th), a * math.sin(th), 0.01 * rng.normal(),
               -vc * math.sin(th), vc * math.cos(th), 1e-4 * rng.normal()]
    return nbody(lib, masses, G * (1 + p)), x0, 1000.0


SYSTEMS = {"pendulum": pendulum, "lorenz": lorenz, "outer_ss": outer_ss, "50body": fifty_body}
REF_KEY = {"pendulum": ("pendulum", 1000.0), "lorenz": ("lorenz", 10.0),
           "outer_ss": ("outer_solar_system", 1e5)}


def ref_state(name):
    if name not in REF_KEY or not REF:
        return None
    key, t = REF_KEY[name]
    return np.array([float(s) for r in REF[key]["ref"] if r["t"] == t for s in r["state"]])


def rel_err(x, ref):
    return float(np.linalg.norm(x - ref) / np.linalg.norm(ref))


# ------------------------------------------------------------------ subprocess set-up timing
def _setup_child(name, kind, p):
    if kind.startswith("hy_"):      # heyoka (its llvm_state keeps a disk cache of object code)
        import heyoka as hy

        sys_, x0, _ = SYSTEMS[name](hy, p)
        t1 = time.perf_counter()
        hy.taylor_adaptive(sys_, x0, compact_mode=(kind == "hy_compact"))
        print(json.dumps({"setup": time.perf_counter() - t1}))
        return
    t0 = time.perf_counter()
    import taylorjit as tj
    from taylorjit import TaylorAdaptive
    t_imp = time.perf_counter() - t0
    sys_, x0, _ = SYSTEMS[name](tj, p)
    t1 = time.perf_counter()
    ta = TaylorAdaptive(sys_, x0, compact=(kind == "compact"))
    ta.step()   # first call: every lazily loaded piece is in
    print(json.dumps({"setup": time.perf_counter() - t1, "import": t_imp,
                      "ops": len(ta.decomposition.ops)}))


def setup_times(name, kind):
    """(new-system set-up, warm set-up, ops) for taylorjit (``kind`` compact/spec), or
    heyoka (``hy_default``/``hy_compact``: ops None), each in a fresh process."""
    p = float(np.random.default_rng().integers(1, 2 ** 30)) * 2.0 ** -60
    out = []
    for _ in range(2):   # first: never seen; second: warm disk cache
        r = subprocess.run([sys.executable, __file__, "--setup-child", name, kind, repr(p)],
                           capture_output=True, text=True, check=True, env=os.environ.copy())
        out.append(json.loads(r.stdout.strip().splitlines()[-1]))
    return (out[0]["setup"], out[1]["setup"], out[0].get("ops"),
            out[1].get("import"))  # import: ~1-3 s


# ------------------------------------------------------------------ in-process runs
SETUP_REPS = 3     # never-seen systems per in-process set-up figure (best of)


def time_interleaved(runs, reps):
    """Best-of-``reps`` time of each run's ``go()``, the runs taking turns (round
    robin): on a shared machine whose speed drifts within seconds, a ratio of
    times taken minutes apart (all of one side, then all of the other) moves by
    10-20%; taken in alternation, both sides see the same machine states.  Fills
    each run's ``per_step``, ``steps``, ``state`` and ``total``."""
    best = [math.inf] * len(runs)
    last = [None] * len(runs)
    for _ in range(reps):
        for k, r in enumerate(runs):
            t0 = time.perf_counter()
            last[k] = r["go"]()
            best[k] = min(best[k], time.perf_counter() - t0)
    for r, t, (state, steps) in zip(runs, best, last):
        r.update(per_step=t / steps, steps=steps, state=state, total=t)


def run_tj(name, kind):
    import taylorjit as tj
    from taylorjit import TaylorAdaptive

    sys_, x0, t_end = SYSTEMS[name](tj)
    ta0 = ta = TaylorAdaptive(sys_, x0, compact=(kind == "compact"))
    ta.step()
    ta.state[:] = x0
    ta.time = 0.0
    # a never-seen system in this (warm) process: what heyoka's set-up column measures
    # (best of SETUP_REPS never-seen systems, as heyoka's column: one sample catches the
    # odd full garbage collection or machine hiccup, 50x the typical time)
    setup_warm_process = None
    if kind == "compact":
        setup_warm_process = math.inf
        for _ in range(SETUP_REPS):
            p = float(np.random.default_rng().integers(1, 2 ** 30)) * 2.0 ** -60
            sys2, x02, _ = SYSTEMS[name](tj, p)
            t0 = time.perf_counter()
            TaylorAdaptive(sys2, x02, compact=True).step()
            setup_warm_process = min(setup_warm_process, time.perf_counter() - t0)

    def go():   # like heyoka's below: reset state and time, propagate
        ta.state[:] = x0
        ta.time = 0.0
        res = ta.propagate_until(t_end)
        return ta.state.copy(), res.n_steps

    return {"go": go, "ops": len(ta0.decomposition.ops), "setup_in_process": setup_warm_process,
            "kind": ta0._kernel.kind}


def run_hy(name, compact):
    import heyoka as hy

    setup = math.inf
    for _ in range(SETUP_REPS if compact else 1):   # (default mode: a compilation, seconds)
        sys_, x0, t_end = SYSTEMS[name](hy, float(np.random.default_rng().integers(1, 2 ** 30))
                                        * 2.0 ** -60)
        t0 = time.perf_counter()
        hy.taylor_adaptive(sys_, x0, compact_mode=compact)
        setup = min(setup, time.perf_counter() - t0)
    sys_, x0, t_end = SYSTEMS[name](hy)
    ta = hy.taylor_adaptive(sys_, x0, compact_mode=compact)

    def go():
        ta.state[:] = x0
        ta.time = 0.0
        r = ta.propagate_until(t_end)
        return ta.state.copy(), r[3]

    return {"go": go, "setup": setup}


def scipy_rhs(name):
    """A numpy right-hand side for solve_ivp."""
    if name == "pendulum":
        return lambda t, y: np.array([y[1], -9.8 * np.sin(y[0])])
    if name == "lorenz":
        return lambda t, y: np.array([10.0 * (y[1] - y[0]), y[0] * (28.0 - y[2]) - y[1],
                                      y[0] * y[1] - 8.0 / 3.0 * y[2]])
    r = REF["outer_solar_system"]
    m = np.array(r["masses"]) * r["G"]

    def f(t, y):
        s = y.reshape(-1, 6)
        d = s[None, :, :3] - s[:, None, :3]
        r2 = (d * d).sum(-1)
        np.fill_diagonal(r2, 1.0)
        w = r2 ** -1.5
        np.fill_diagonal(w, 0.0)
        a = (d * (w * m[None, :])[:, :, None]).sum(1)
        return np.concatenate([s[:, 3:], a], axis=1).reshape(-1)

    return f


def run_scipy(name, method, rtols, ref):
    from scipy.integrate import solve_ivp

    import taylorjit as tj
    _, x0, t_end = SYSTEMS[name](tj)
    f = scipy_rhs(name)
    rows = []
    for rtol in rtols:
        t0 = time.perf_counter()
        s = solve_ivp(f, (0.0, t_end), x0, method=method, rtol=rtol, atol=rtol * 1e-3)
        dt = time.perf_counter() - t0
        rows.append({"rtol": rtol, "time": dt, "steps": int(s.t.shape[0] - 1),
                     "err": rel_err(s.y[:, -1], ref)})
        if dt > 60:
            break
    return rows


# ------------------------------------------------------------------ main
def fmt(x, unit=""):
    if x is None:
        return "-"
    if unit == "us":
        return f"{x * 1e6:.2f} us"
    if unit == "s":
        return f"{x:.3f} s" if x >= 1e-3 else f"{x * 1e3:.3f} ms"
    return f"{x:.2e}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("systems", nargs="*", default=list(SYSTEMS))
    ap.add_argument("--spec-max-ops", type=int, default=150)
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--setup-child", nargs=3)
    a = ap.parse_args()
    if a.setup_child:
        _setup_child(a.setup_child[0], a.setup_child[1], float(a.setup_child[2]))
        return
    import heyoka
    import numba
    import scipy
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
          f"python {platform.python_version()}, numba {numba.__version__}, heyoka "
          f"{heyoka.__version__}, scipy {scipy.__version__}")
    print("# set-up 'new' = never-seen system (fresh process for taylorjit, heyoka in process: "
          f"compact mode best of {SETUP_REPS}), 'warm' = same system again in a new process (disk "
          "caches: taylorjit's, and heyoka's llvm_state cache); times per step: best of --reps, "
          "all integrators of a system taking turns")
    # compile the Taylor VM once (a per-installation cost), so that 'new' below is per system
    t0 = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--setup-child", "pendulum", "compact", "0.5"],
                   capture_output=True, check=True)
    print(f"# first use after install (Taylor VM compile + stepper load, new process): "
          f"{time.perf_counter() - t0:.1f} s")
    for name in a.systems:
        ref = ref_state(name)
        print(f"\n## {name}")
        entries = []   # (label, set-up new, set-up warm, note, run) in table order
        big = name == "50body"
        reps = 1 if big else a.reps
        for kind in ("compact", "spec"):
            new, warm, ops, imp = setup_times(name, "compact") if kind == "compact" else (None,) * 4
            if kind == "spec":
                # compact=False: the unrolled kernel (LLVM) if the system fits
                # (taylorjit._codegen.unroll.MAX_UNROLLED), else the looped numba kernel
                from taylorjit._codegen.unroll import MAX_UNROLLED

                n_ops = ops_cache.get(name, 0)
                if (n_ops + 1) * 21 * 22 // 2 > MAX_UNROLLED and n_ops > a.spec_max_ops:
                    entries.append(("taylorjit spec", None, None,
                                    f"skipped: {n_ops} ops > --spec-max-ops", None))
                    continue
                new, warm, ops, imp = setup_times(name, "spec")
            ops_cache[name] = ops
            r = run_tj(name, kind)
            entries.append((f"taylorjit {r['kind']}", new, warm, f"{ops} ops", r))
            results[(name, "tj", kind)] = r
        for compact in (False, True):
            if big and not compact:
                entries.append(("heyoka default", None, None,
                                "skipped: its LLVM compile of 33k ops had not ended after 40 min "
                                "here", None))
                continue
            r = run_hy(name, compact)
            results[(name, "hy", compact)] = r
            # warm: the same never-seen system built twice in fresh processes (the second
            # loads heyoka's disk cache); not for the default mode of the big systems (the
            # first build alone takes ~20 s for the outer solar system)
            warm = None if (big or (name == "outer_ss" and not compact)) else \
                setup_times(name, "hy_compact" if compact else "hy_default")[1]
            entries.append((f"heyoka {'compact' if compact else 'default'}", r["setup"], warm,
                            "", r))
        time_interleaved([e[4] for e in entries if e[4] is not None], reps)
        rows = []
        for lab, new, warm, note, r in entries:
            if r is None:
                rows.append((lab, None, None, None, None, None, note))
            else:
                rows.append((lab, new, warm, r["per_step"], r["steps"],
                             None if ref is None else rel_err(r["state"], ref), note))
        print(f"| {'integrator':<18} | {'set-up new':>10} | {'set-up warm':>11} | "
              f"{'time/step':>11} | {'steps':>6} | {'rel. error':>10} | note")
        print("|" + "---|" * 7)
        for lab, new, warm, ps, st, err, note in rows:
            print(f"| {lab:<18} | {fmt(new, 's'):>10} | {fmt(warm, 's'):>11} | "
                  f"{fmt(ps, 'us'):>11} | {st if st is not None else '-':>6} | "
                  f"{fmt(err):>10} | {note}")
        tjbest = min((results[k] for k in results if k[0] == name and k[1] == "tj"),
                     key=lambda r: r["per_step"])
        hyd = results.get((name, "hy", False))
        hyc = results.get((name, "hy", True))
        if hyd:
            print(f"ratio time/step taylorjit(best kind) / heyoka default: "
                  f"{tjbest['per_step'] / hyd['per_step']:.2f}")
        if hyc:
            print(f"ratio time/step taylorjit(best kind) / heyoka compact: "
                  f"{tjbest['per_step'] / hyc['per_step']:.2f}")
            newc = [r for r in rows if r[0] == "taylorjit compact"][0][1]
            inproc = results[(name, "tj", "compact")]["setup_in_process"]
            print(f"set-up of a never-seen system in a running process (as heyoka's column): "
                  f"taylorjit compact {fmt(inproc, 's')}; ratio to heyoka compact "
                  f"{inproc / hyc['setup']:.4f}")
            print(f"ratio set-up (new system, taylorjit in a fresh process incl. its import) / "
                  f"heyoka compact (in process): {newc / hyc['setup']:.3f}")
        if big:
            if hyc:
                print(f"taylorjit vs heyoka compact final state: rel. difference "
                      f"{rel_err(tjbest['state'], hyc['state']):.2e}")
            continue
        tj_err = rel_err(tjbest["state"], ref)
        print(f"\nscipy solve_ivp (atol = rtol * 1e-3); taylorjit: {tjbest['total']:.4f} s, "
              f"rel. error {tj_err:.1e}")
        print("| method | rtol | time | steps | rel. error | time / taylorjit |")
        print("|---|---|---|---|---|---|")
        for method, rtols in (("DOP853", [1e-8, 1e-10, 1e-12, 1e-13, 1e-14]),
                              ("Radau", [1e-6])):
            for row in run_scipy(name, method, rtols, ref):
                print(f"| {method} | {row['rtol']:.0e} | {row['time']:.3f} s | {row['steps']} | "
                      f"{row['err']:.1e} | {row['time'] / tjbest['total']:.0f}x |")


ops_cache: dict = {}
results: dict = {}

if __name__ == "__main__":
    main()
