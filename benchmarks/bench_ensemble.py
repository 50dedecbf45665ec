"""Ensemble throughput: taylorjit's ensemble_propagate_* beside heyoka's, in one run.

Two workloads (issue 23), each member a full propagation from its own initial conditions,
on all cores of this machine (2 here):

* Kepler: 10^4 orbits (eccentricity 0 .. 0.5, one period each, mu = 1);
* outer solar system: 64 runs to 10^4 years from slightly perturbed initial positions
  (relative 1e-9).

Rows (member throughput, best of ``--reps``, every row after a warm-up ensemble and with
taylorjit's background builds -- the unrolled kernel, the SIMD batch kernel -- landed):

* taylorjit, scalar template: threads without grouping (``batch=0``), threads with
  members grouped as the lanes of one SIMD batch propagation (``batch=W``, W the
  host's SIMD width) and the default (``batch=None``); serial as a baseline;
* taylorjit, batch template (``TaylorAdaptiveBatch`` of W lanes, n/W members), as heyoka's
  batch ensembles;
* heyoka ``ensemble_propagate_until``: scalar template (threads) and batch template of
  ``recommended_simd_size()`` lanes.

Both libraries use their default modes (heyoka's ``compact_mode=False``; ``--compact``
for both compact).  "cores used" is the CPU time of this process over the wall time.
Optional rows: a process pool and a Dask ``LocalCluster`` (``--pools``).

Usage::

    python benchmarks/bench_ensemble.py             # 10^4 Kepler, 64 x 10^4 years
    python benchmarks/bench_ensemble.py --quick     # 2000 Kepler, 16 x 10^3 years
    python benchmarks/bench_ensemble.py --pools --reps 1
"""
from __future__ import annotations

import argparse
import copy
import gc
import math
import os
import pickle
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))

import taylorjit as tj                                      # noqa: E402
from taylorjit._integrate import ensemble as E                         # noqa: E402
from taylorjit._codegen import tiering as _tiering                               # noqa: E402
from bench_integrator import outer_ss                        # noqa: E402

try:
    import heyoka as hy
except ImportError:                                          # pragma: no cover
    hy = None

YEAR = 365.25


# ------------------------------------------------------------------ workloads (module level: picklable)
def kepler_sys(lib):
    x, y, vx, vy = lib.make_vars("x", "y", "vx", "vy")
    r_3 = (x * x + y * y) ** -1.5
    return [(x, vx), (y, vy), (vx, -x * r_3), (vy, -y * r_3)]


class KeplerGen:
    """Member i: perihelion of an orbit of eccentricity 0.5 i / n (a = 1, mu = 1); a batch
    member i holds orbits i * lanes ... (i + 1) * lanes - 1."""

    def __init__(self, n, lanes=1):
        self.n = n
        self.lanes = lanes

    def state(self, i):
        e = 0.5 * i / self.n
        return [1.0 - e, 0.0, 0.0, math.sqrt((1.0 + e) / (1.0 - e))]

    def __call__(self, ta, i):
        if self.lanes == 1:
            ta.state[:] = self.state(i)
        else:
            ta.state[:] = np.array([self.state(i * self.lanes + j)
                                    for j in range(self.lanes)]).T
        return ta


class OssGen:
    """Member i: the outer solar system with positions perturbed by ~1e-9 (relative)."""

    def __init__(self, x0, lanes=1):
        self.x0 = np.array(x0)
        self.lanes = lanes

    def state(self, i):
        rng = np.random.default_rng(i)
        x = self.x0.copy()
        pos = np.tile([1, 1, 1, 0, 0, 0], len(x) // 6).astype(bool)
        x[pos] *= 1.0 + 1e-9 * rng.standard_normal(pos.sum())
        return x

    def __call__(self, ta, i):
        if self.lanes == 1:
            ta.state[:] = self.state(i)
        else:
            ta.state[:] = np.array([self.state(i * self.lanes + j)
                                    for j in range(self.lanes)]).T
        return ta


def timed(fn):
    """(wall seconds, CPU seconds of this process, result)."""
    gc.collect()
    gc.disable()
    try:
        c0 = os.times()
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        c1 = os.times()
        return dt, (c1.user - c0.user) + (c1.system - c0.system), out
    finally:
        gc.enable()


def check(res, n):
    bad = [r for r in res if not r.ok]
    if bad:
        raise RuntimeError(f"{len(bad)} of {n} members failed:\n{bad[0].traceback}")


def warm(fn):
    """Run ``fn`` until taylorjit's background builds have landed (two rounds: the
    unrolled kernel, then the SIMD batch kernel it enables)."""
    t0 = time.perf_counter()
    for _ in range(3):
        fn()
        _tiering.wait_all(1200)
    return time.perf_counter() - t0


# ------------------------------------------------------------------ rows
class Row:
    def __init__(self, label, members, lib):
        self.label, self.members, self.lib = label, members, lib
        self.best, self.cpu = math.inf, None

    def add(self, dt, cpu):
        if dt < self.best:
            self.best, self.cpu = dt, cpu


def run_workload(name, sys_tj, sys_hy, x0, gen_cls, t_final, n, args, extra_executors):
    W = tj.recommended_simd_size()
    compact = True if args.compact else None
    ta = tj.TaylorAdaptive(sys_tj, x0, compact=compact)
    tb = tj.TaylorAdaptiveBatch(sys_tj, np.repeat(np.array(x0, float)[:, None], W, 1),
                                compact=compact)
    nb = max(1, n // W)
    runs = []       # (row, callable)

    def tj_run(label, tmpl, members, g, **kw):
        row = Row(label, members, "tj")

        def go():
            res = E.ensemble_propagate_until(tmpl, t_final, members // (1 if tmpl is ta else W),
                                             g, **kw)
            check(res, len(res))
            return res
        runs.append((row, go))

    tj_run("taylorjit serial", ta, n, gen_cls(1), executor="serial", batch=0)
    tj_run(f"taylorjit threads ({os.cpu_count()})", ta, n, gen_cls(1), batch=0)
    tj_run(f"taylorjit threads, grouped batch={W} (SIMD)", ta, n, gen_cls(1), batch=W)
    tj_run("taylorjit threads, default batch=None", ta, n, gen_cls(1))
    tj_run(f"taylorjit threads, batch template ({W} lanes)", tb, nb * W, gen_cls(W))
    for label, ex in extra_executors:
        tj_run(f"taylorjit {label}", ta, n, gen_cls(1), executor=ex, batch=0)
    t_build = time.perf_counter()
    # warm: pools, caches, background builds (the short runs take every kernel)
    warm(lambda: E.ensemble_propagate_until(ta, t_final / 50, 2 * W, gen_cls(1), batch=W))
    warm(lambda: E.ensemble_propagate_until(tb, t_final / 50, 2, gen_cls(W)))
    for row, go in runs:
        go()
    t_build = time.perf_counter() - t_build
    if hy is not None:
        kw = {"compact_mode": bool(args.compact)}
        t0 = time.perf_counter()
        h_ta = hy.taylor_adaptive(sys_hy, x0, **kw)
        HW = hy.recommended_simd_size()
        h_tb = hy.taylor_adaptive_batch(sys_hy, np.repeat(np.array(x0, float)[:, None], HW, 1),
                                        **kw)
        t_hy = time.perf_counter() - t0
        nbh = max(1, n // HW)
        for label, tmpl, members, g in (("heyoka threads", h_ta, n, gen_cls(1)),
                                        (f"heyoka batch template ({HW} lanes)", h_tb,
                                         nbh * HW, gen_cls(HW))):
            row = Row(label, members, "hy")
            m = members // (1 if tmpl is h_ta else HW)

            def go(tmpl=tmpl, m=m, g=g):
                return hy.ensemble_propagate_until(tmpl, t_final, m, g)
            hy.ensemble_propagate_until(tmpl, t_final / 50, 2, g)    # warm
            runs.append((row, go))
    for _ in range(args.reps):          # in turns: both see the same machine
        for row, go in runs:
            dt, cpu, _ = timed(go)
            row.add(dt, cpu)
    rows = [r for r, _ in runs]
    hyb = next((r for r in rows if r.label.startswith("heyoka batch")), None)
    hyt = next((r for r in rows if r.label == "heyoka threads"), None)
    print(f"\n{name}: {n} members to t = {t_final:g} (taylorjit set-up and builds "
          f"{t_build:.1f} s" + (f", heyoka's {t_hy:.1f} s" if hy is not None else "") + ")")
    print(f"| configuration | members | time [s] | members/s | cores used | vs heyoka threads "
          f"| vs heyoka batch |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        tp = r.members / r.best
        used = "-" if r.cpu is None else f"{r.cpu / r.best:.2f}"
        vs = []
        for ref in (hyt, hyb):
            vs.append("-" if ref is None else f"{tp / (ref.members / ref.best):.2f}x")
        print(f"| {r.label} | {r.members} | {r.best:.3f} | {tp:.0f} | {used} | {vs[0]} | "
              f"{vs[1]} |", flush=True)
    return rows


def pickle_sizes(ta, gen, t_final):
    res = E.ensemble_propagate_until(ta, t_final, 1, gen, executor="serial")[0]
    shared = E._shared_of(ta)
    print("\nouter solar system integrator, pickled sizes:")
    print(f"  pickle.dumps(ta)                         {len(pickle.dumps(ta)):8d} bytes "
          f"(tc buffer alone {ta._tc.nbytes} bytes)")
    print(f"  ensemble template (scratch tc rows dropped) {len(E.dumps(ta)):5d} bytes")
    print(f"  ensemble member result (shared parts by name) {len(E.dumps(res, shared)):3d} bytes")
    plan = E.ClonePlan(ta)
    t0 = time.perf_counter()
    for _ in range(20):
        copy.deepcopy(ta)
    t1 = time.perf_counter()
    for _ in range(200):
        E.clone(ta)
    t2 = time.perf_counter()
    for _ in range(200):
        E.clone(ta, plan)
    t3 = time.perf_counter()
    print(f"  copy.deepcopy {1e3 * (t1 - t0) / 20:.2f} ms, ensemble clone "
          f"{1e6 * (t2 - t1) / 200:.1f} us, planned clone {1e6 * (t3 - t2) / 200:.1f} us "
          "per member")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="2000 Kepler, 16 runs to 10^3 years")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--compact", action="store_true", help="both libraries in compact mode")
    p.add_argument("--pools", action="store_true",
                   help="also a process pool and a Dask LocalCluster (2 x 1)")
    p.add_argument("--only", choices=["kepler", "oss"], default=None)
    args = p.parse_args()
    n_kep, n_oss, t_oss = (2000, 16, 1e3 * YEAR) if args.quick else (10_000, 64, 1e4 * YEAR)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, heyoka {getattr(hy, '__version__', 'absent')}, "
          f"SIMD width {tj.recommended_simd_size()}, load average {os.getloadavg()[0]:.1f}")
    extra, cleanup = [], []
    if args.pools:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        t0 = time.perf_counter()
        pool = ProcessPoolExecutor(os.cpu_count(), mp_context=mp.get_context("spawn"))
        list(pool.map(abs, range(os.cpu_count())))
        print(f"process pool start-up (spawn, import taylorjit): {time.perf_counter() - t0:.1f} s")
        extra.append((f"process pool ({os.cpu_count()})", pool))
        cleanup.append(pool.shutdown)
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            print("dask.distributed not installed: no Dask rows (pip install 'taylorjit[dask]')")
        else:
            t0 = time.perf_counter()
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None)
            client = Client(cluster)
            print(f"Dask LocalCluster start-up: {time.perf_counter() - t0:.1f} s")
            extra.append(("Dask LocalCluster (2x1)", client.get_executor()))
            cleanup += [client.close, cluster.close]
    try:
        if args.only in (None, "kepler"):
            run_workload("Kepler orbits", kepler_sys(tj), kepler_sys(hy) if hy else None,
                         [1.0, 0.0, 0.0, 1.0], lambda lanes: KeplerGen(n_kep, lanes),
                         2 * math.pi, n_kep, args, extra)
        if args.only in (None, "oss"):
            s_tj, x0, _ = outer_ss(tj)
            s_hy = outer_ss(hy)[0] if hy else None
            run_workload("Outer solar system", s_tj, s_hy, x0, lambda lanes: OssGen(x0, lanes),
                         t_oss, n_oss, args, extra)
            pickle_sizes(tj.TaylorAdaptive(s_tj, x0), OssGen(x0), 1e3)
    finally:
        for f in cleanup:
            f()


if __name__ == "__main__":
    main()
