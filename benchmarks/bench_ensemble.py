"""Ensemble throughput: taylorjit on threads / batch lanes / processes / Dask vs heyoka.

Two workloads, each member a full propagation from its own initial conditions:

* Kepler: 10^4 orbits (eccentricity 0 .. 0.5, one period each, mu = 1);
* outer solar system: 10^3 runs to t = 1e5 days from slightly perturbed initial
  positions (relative 1e-9).

Rows: taylorjit serial, threads (the compiled loop releases the GIL), batch
groups + threads, a process pool (spawn) and a Dask ``LocalCluster`` (2 worker
processes x 1 thread on loopback); pool and cluster start-up are reported
separately, and every row is timed after a small warm-up ensemble), next to heyoka's
``ensemble_propagate_until`` with scalar and batch (SIMD) integrators.  Also
prints the pickled size of the outer-solar-system integrator.  "cores used" is
the CPU time of this process over the wall time (threads: > 1 when they run in
parallel; it is < 1 when other programs share the cores).

Measured (2 shared cores, load average 3.5-4.5 from other jobs, so no row can
reach 2 cores; traj/s): Kepler 10^4 orbits -- serial 2815, threads 3391,
batch 8 + threads 4194, process pool 1380, Dask 2x1 1223, heyoka threads 544,
heyoka batch-4 SIMD 1676.  Outer solar system 10^3 x 1e5 days -- serial 12,
threads 15, batch + threads 16, process pool 18, Dask 16, heyoka threads 63,
heyoka batch 204 (the per-step speed of the compact VM on 409 operations, not
the ensemble layer, sets this one: serial overhead is < 0.1 % of a member).
Pickled outer-solar-system integrator: 101,659 bytes (pickle), 33,049 (ensemble
template), 8,731 (returned member); copy.deepcopy 18 ms vs ensemble clone 26 us.

Usage::

    python benchmarks/bench_ensemble.py            # 10^4 Kepler, 10^3 outer solar system
    python benchmarks/bench_ensemble.py --quick    # 10^3 Kepler, 50 runs to 1e4 days
    python benchmarks/bench_ensemble.py --no-dask --no-processes
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
from taylorjit import _ensemble as E                         # noqa: E402
from bench_integrator import outer_ss                        # noqa: E402

try:
    import heyoka as hy
except ImportError:                                          # pragma: no cover
    hy = None


# ------------------------------------------------------------------ workloads (module level: picklable)
def kepler_sys(lib):
    x, y, vx, vy = lib.make_vars("x", "y", "vx", "vy")
    r_3 = (x * x + y * y) ** -1.5
    return [(x, vx), (y, vy), (vx, -x * r_3), (vy, -y * r_3)]


class KeplerGen:
    """Member i: perihelion of an orbit of eccentricity 0.5 i / n (a = 1, mu = 1)."""

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
    """(wall seconds, result); ``LAST_CPU[0]``: CPU seconds of this process meanwhile."""
    gc.collect()
    gc.disable()
    try:
        c0 = os.times()
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        c1 = os.times()
        LAST_CPU[0] = (c1.user - c0.user) + (c1.system - c0.system)
        return dt, out
    finally:
        gc.enable()


LAST_CPU = [0.0]


def check(res, n):
    bad = [r for r in res if not r.ok]
    if bad:
        raise RuntimeError(f"{len(bad)} of {n} members failed:\n{bad[0].traceback}")


# ------------------------------------------------------------------ rows
def run_workload(name, tj_ta, hy_factory, gen_factory, t_final, n, args, client, pool):
    rows = []

    def tj_row(label, **kw):
        g = gen_factory(1)
        E.ensemble_propagate_until(tj_ta, t_final, min(n, 8), g, **kw)    # warm (pools, caches)
        dt, res = timed(lambda: E.ensemble_propagate_until(tj_ta, t_final, n, g, **kw))
        check(res, n)
        rows.append((label, n, dt, LAST_CPU[0] if "Dask" not in label else None))
        return res

    ref = tj_row("taylorjit serial", executor="serial")
    tj_row(f"taylorjit threads ({os.cpu_count()})")
    tj_row(f"taylorjit batch {args.lanes} + threads", batch=args.lanes)
    if pool is not None:
        res = tj_row(f"taylorjit process pool ({os.cpu_count()})", executor=pool)
        rows[-1] = rows[-1][:3] + (None,)
    if client is not None:
        res = tj_row("taylorjit Dask LocalCluster (2x1)", executor=client.get_executor())
        same = all(np.array_equal(a.ta.state, b.ta.state) for a, b in zip(ref, res))
        print(f"  Dask results equal serial member by member: {same}")
    if hy is not None:
        ta_h = hy_factory(None)
        g = gen_factory(1)
        hy.ensemble_propagate_until(ta_h, t_final, min(n, 8), g)
        dt, _ = timed(lambda: hy.ensemble_propagate_until(ta_h, t_final, n, g))
        rows.append(("heyoka threads", n, dt, LAST_CPU[0]))
        lanes = hy.recommended_simd_size()
        ta_hb = hy_factory(lanes)
        nb = max(1, n // lanes)
        gb = gen_factory(lanes)
        hy.ensemble_propagate_until(ta_hb, t_final, 1, gb)
        dt, _ = timed(lambda: hy.ensemble_propagate_until(ta_hb, t_final, nb, gb))
        rows.append((f"heyoka batch {lanes} (SIMD) + threads", nb * lanes, dt, LAST_CPU[0]))
    print(f"\n{name}: {n} members to t = {t_final:g}")
    base = next((r[1] / r[2] for r in rows if r[0] == "heyoka threads"), None)
    print(f"  {'configuration':44s} {'members':>8s} {'time [s]':>9s} {'traj/s':>10s}"
          + f" {'cores used':>10s}" + ("  vs heyoka threads" if base else ""))
    for label, m, dt, cpu in rows:
        tp = m / dt
        used = "" if cpu is None else f"{cpu / dt:.2f}"
        extra = f"  {tp / base:8.2f}x" if base else ""
        print(f"  {label:44s} {m:8d} {dt:9.3f} {tp:10.0f} {used:>10s}{extra}")
    return rows


def pickle_sizes(ta, gen, t_final):
    res = E.ensemble_propagate_until(ta, t_final, 1, gen, executor="serial")[0]
    shared = E._shared_of(ta)
    print("\nouter solar system integrator, pickled sizes:")
    print(f"  pickle.dumps(ta)                         {len(pickle.dumps(ta)):8d} bytes "
          f"(tc buffer alone {ta._tc.nbytes} bytes)")
    print(f"  ensemble template (scratch tc rows dropped) {len(E.dumps(ta)):5d} bytes")
    print(f"  ensemble member result (shared parts by name) {len(E.dumps(res, shared)):3d} bytes")
    t0 = time.perf_counter()
    for _ in range(20):
        copy.deepcopy(ta)
    t1 = time.perf_counter()
    for _ in range(20):
        E.clone(ta)
    t2 = time.perf_counter()
    print(f"  copy.deepcopy {1e3 * (t1 - t0) / 20:.2f} ms, ensemble clone "
          f"{1e3 * (t2 - t1) / 20:.3f} ms per member")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="10^3 Kepler, 50 short OSS runs")
    p.add_argument("--no-dask", action="store_true")
    p.add_argument("--no-processes", action="store_true")
    p.add_argument("--lanes", type=int, default=8, help="taylorjit batch group size")
    args = p.parse_args()
    n_kep, n_oss, t_oss = (1000, 50, 1e4) if args.quick else (10_000, 1000, 1e5)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, heyoka {getattr(hy, '__version__', 'absent')}, "
          f"load average {os.getloadavg()[0]:.1f}")
    client = cluster = pool = None
    if not args.no_processes:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        t0 = time.perf_counter()
        pool = ProcessPoolExecutor(os.cpu_count(), mp_context=mp.get_context("spawn"))
        list(pool.map(abs, range(os.cpu_count())))
        print(f"process pool start-up (spawn, import taylorjit): {time.perf_counter() - t0:.1f} s")
    if not args.no_dask:
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
    try:
        ta_k = tj.TaylorAdaptive(kepler_sys(tj), [1.0, 0.0, 0.0, 1.0])
        hk = (lambda lanes: hy.taylor_adaptive(kepler_sys(hy), [1.0, 0.0, 0.0, 1.0]) if lanes
              is None else hy.taylor_adaptive_batch(kepler_sys(hy), np.ones((4, lanes))))
        run_workload("Kepler orbits", ta_k, hk, lambda lanes: KeplerGen(n_kep, lanes),
                     2 * math.pi, n_kep, args, client, pool)
        s_tj, x0, _ = outer_ss(tj)
        ta_o = tj.TaylorAdaptive(s_tj, x0)
        s_hy, _, _ = outer_ss(hy)
        ho = (lambda lanes: hy.taylor_adaptive(s_hy, x0, compact_mode=True) if lanes is None
              else hy.taylor_adaptive_batch(s_hy, np.repeat(np.array(x0)[:, None], lanes, 1),
                                            compact_mode=True))
        run_workload("Outer solar system", ta_o, ho, lambda lanes: OssGen(x0, lanes), t_oss,
                     n_oss, args, client, pool)
        pickle_sizes(ta_o, OssGen(x0), t_oss)
    finally:
        if pool is not None:
            pool.shutdown()
        if client is not None:
            client.close()
            cluster.close()


if __name__ == "__main__":
    main()
