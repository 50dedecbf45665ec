"""Work-precision of ``taylorjit.solve_ivp`` against scipy's DOP853, LSODA and Radau.

The same plain numpy right-hand side (written for scipy) is given to both
libraries.  taylorjit's times *include* tracing and set-up: the trace cache is
cleared before every timed call, so each call traces the function, builds the
integrator (the compiled kernel itself is loaded from the disk cache, as on any
run after the first) and integrates.  The first call in the process (kernel
loaded from disk, or compiled on a brand-new install) is reported separately.

Problems (final error = max |y(t_end) - reference| over the components):

* ``kepler``: two-body problem, e = 0.5, 20 orbits; reference: Kepler's equation.
* ``outer_ss``: Sun + Jupiter..Pluto, Newtonian, 1e5 days; reference:
  tests/data/references.json (quad-precision Taylor, tol 1e-32).
* ``cr3bp``: the Arenstorf orbit (restricted three-body, mu = 0.012277471) over one
  period T = 17.0652165601579625588917206249; reference: the initial state.
* ``thrust_arc`` (piecewise in t): Kepler, e = 0.5, 10 orbits, a tangential
  thrust 1e-3 switched on by ``a = acc if t1 <= t <= t2 else 0.0`` on
  [5, 25]; reference: heyoka in extended precision with the switch times given
  explicitly (three phases).
* ``drag_zone`` (piecewise in the state): Kepler, e = 0.5, 10 orbits, a linear
  drag ``-0.01 v`` switched on by ``k = 0.01 if r < 1.2 else 0.0`` (two switches
  per orbit); reference: heyoka in extended precision, the switches as
  terminal events toggling the drag coefficient.

On the piecewise problems scipy's methods step across the switches (their
error controller meets the discontinuity as a sudden large error, rejects
steps and shrinks them to locate it roughly) while taylorjit stops every
step at the switching time (the guard's root) and restarts on the other
branch; the final errors show what each reaches.

Run: ``python benchmarks/bench_solve_ivp.py [--quick]``.
"""
from __future__ import annotations

import gc
from pathlib import Path
import json
import math
import os
import platform
import sys
import time

import numpy as np
import scipy
import scipy.integrate

from taylorjit import solve_ivp as tj_solve_ivp
from taylorjit._symbolic.tracing import clear_trace_cache

REF = os.environ.get("TAYLORJIT_REFERENCES", str(Path(__file__).resolve().parents[1] / "tests" / "data" / "references.json"))


# ----------------------------------------------------------------- problems (plain numpy)
def kepler(t, y, mu):
    r = np.sqrt(y[0] ** 2 + y[1] ** 2)
    return np.array([y[2], y[3], -mu * y[0] / r ** 3, -mu * y[1] / r ** 3])


def nbody(t, y, G, m):
    n = len(m)
    s = y.reshape(n, 6)
    r, v = s[:, :3], s[:, 3:]
    acc = []
    for i in range(n):
        d = np.delete(r - r[i], i, axis=0)
        inv3 = np.sum(d * d, axis=1) ** -1.5
        acc.append(G * (np.delete(m, i) * inv3) @ d)
    return np.hstack([v, np.array(acc)]).ravel()


def cr3bp(t, y, mu):
    x, yy, vx, vy = y
    r1 = np.sqrt((x + mu) ** 2 + yy ** 2)
    r2 = np.sqrt((x - 1 + mu) ** 2 + yy ** 2)
    ax = x + 2 * vy - (1 - mu) * (x + mu) / r1 ** 3 - mu * (x - 1 + mu) / r2 ** 3
    ay = yy - 2 * vx - (1 - mu) * yy / r1 ** 3 - mu * yy / r2 ** 3
    return np.array([vx, vy, ax, ay])


def thrust_arc(t, y, mu, acc, t1, t2):
    v = np.sqrt(y[2] ** 2 + y[3] ** 2)
    r3 = (y[0] ** 2 + y[1] ** 2) ** 1.5
    a = acc if t1 <= t <= t2 else 0.0
    return np.array([y[2], y[3], -mu * y[0] / r3 + a * y[2] / v, -mu * y[1] / r3 + a * y[3] / v])


def drag_zone(t, y, mu, k0, r_d):
    r = np.sqrt(y[0] ** 2 + y[1] ** 2)
    k = k0 if r < r_d else 0.0
    return np.array([y[2], y[3], -mu * y[0] / r ** 3 - k * y[2], -mu * y[1] / r ** 3 - k * y[3]])


def _heyoka_kepler(y0, T, mu, thrust=None, drag=None):
    """Extended-precision reference of the piecewise Kepler problems (heyoka, explicit
    switching); None without heyoka."""
    try:
        import heyoka as hy
    except ImportError:
        return None
    ld = np.longdouble
    x, y, vx, vy = hy.make_vars("x", "y", "vx", "vy")
    r3 = (x ** 2 + y ** 2) ** ld(1.5)
    v = hy.sqrt(vx ** 2 + vy ** 2)
    a = hy.par[0]
    if thrust is not None:
        fx, fy = a * vx / v, a * vy / v
    else:
        fx, fy = -a * vx, -a * vy
    sys_ = [(x, vx), (y, vy), (vx, -ld(mu) * x / r3 + fx), (vy, -ld(mu) * y / r3 + fy)]
    events = []
    if drag is not None:
        k0, r_d = drag

        def toggle(ta, d_sgn):
            ta.pars[0] = ld(k0) if d_sgn < 0 else ld(0)
            return True

        events = [hy.t_event(x ** 2 + y ** 2 - ld(r_d) ** 2, callback=toggle, fp_type=ld)]
    ta = hy.taylor_adaptive(sys_, np.array(y0, dtype=float).astype(ld), fp_type=ld,
                            compact_mode=True, t_events=events, pars=[ld(0)])
    if thrust is not None:
        acc, t1, t2 = thrust
        ta.propagate_until(ld(t1))
        ta.pars[0] = ld(acc)
        ta.propagate_until(ld(t2))
        ta.pars[0] = ld(0)
    else:
        k0, r_d = drag
        if y0[0] ** 2 + y0[1] ** 2 < r_d ** 2:
            ta.pars[0] = ld(k0)
    while True:     # the terminal events stop propagate_until only if a callback says so
        oc = ta.propagate_until(ld(T))[0]
        if oc == hy.taylor_outcome.time_limit:
            break
    return ta.state.astype(float)


def kepler_exact(t, e):
    from scipy.optimize import brentq

    M = math.fmod(t, 2 * math.pi)
    E = brentq(lambda E: E - e * math.sin(E) - M, 0, 2 * math.pi) if M > 0 else 0.0
    b = math.sqrt(1 - e * e)
    n_ = 1.0 / (1 - e * math.cos(E))
    return np.array([math.cos(E) - e, b * math.sin(E), -math.sin(E) * n_, b * math.cos(E) * n_])


def problems():
    e = 0.5
    t_k = 20 * 2 * math.pi
    out = {"kepler": dict(fun=kepler, t_span=(0.0, t_k), y0=[1 - e, 0.0, 0.0,
                                                           math.sqrt((1 + e) / (1 - e))],
                          args=(1.0,), ref=kepler_exact(t_k, e))}
    with open(REF) as fh:
        oss = json.load(fh)["outer_solar_system"]
    ref = next(r for r in oss["ref"] if float(r["t"]) == 1e5)
    out["outer_ss"] = dict(fun=nbody, t_span=(0.0, 1e5), y0=np.array(oss["x0"], dtype=float),
                           args=(float(oss["G"]), np.array(oss["masses"], dtype=float)),
                           ref=np.array([float(s) for s in ref["state"]]))
    T = 17.0652165601579625588917206249
    y0 = [0.994, 0.0, 0.0, -2.00158510637908252240537862224]
    out["cr3bp"] = dict(fun=cr3bp, t_span=(0.0, T), y0=y0, args=(0.012277471,),
                        ref=cr3bp_reference(y0, 0.012277471, T))
    y0 = [1 - e, 0.0, 0.0, math.sqrt((1 + e) / (1 - e))]
    T = 10 * 2 * math.pi
    ref = _heyoka_kepler(y0, T, 1.0, thrust=(1e-3, 5.0, 25.0))
    if ref is not None:
        out["thrust_arc"] = dict(fun=thrust_arc, t_span=(0.0, T), y0=y0,
                                 args=(1.0, 1e-3, 5.0, 25.0), ref=ref)
        out["drag_zone"] = dict(fun=drag_zone, t_span=(0.0, T), y0=y0, args=(1.0, 0.01, 1.2),
                                ref=_heyoka_kepler(y0, T, 1.0, drag=(0.01, 1.2)))
    else:
        print("# thrust_arc, drag_zone: heyoka missing (their extended-precision references): "
              "skipped")
    return out


def cr3bp_reference(y0, mu, T):
    """State at T from heyoka in extended precision (long double, tol = its epsilon),
    started from the same double-precision y0 and mu.  The Arenstorf orbit amplifies
    the rounding of y0 by ~1e5 over a period, so the exact periodic state is not a
    usable reference below ~1e-11; without heyoka it is used anyway (noted)."""
    try:
        import heyoka as hy
    except ImportError:
        print("# cr3bp reference: heyoka missing, using the periodic initial state "
              "(floor ~1e-11)")
        return np.array(y0)
    x, y, vx, vy = hy.make_vars("x", "y", "vx", "vy")
    m = np.longdouble(mu)
    r1 = hy.sqrt((x + m) ** 2 + y ** 2)
    r2 = hy.sqrt((x - 1 + m) ** 2 + y ** 2)
    sys_ = [(x, vx), (y, vy),
            (vx, x + 2 * vy - (1 - m) * (x + m) / r1 ** 3 - m * (x - 1 + m) / r2 ** 3),
            (vy, y - 2 * vx - (1 - m) * y / r1 ** 3 - m * y / r2 ** 3)]
    ta = hy.taylor_adaptive(sys_, np.array(y0, dtype=float).astype(np.longdouble),
                            fp_type=np.longdouble, compact_mode=True)
    ta.propagate_until(np.longdouble(T))
    return ta.state.astype(float)


# ----------------------------------------------------------------- measurement
def timed(fn, repeat):
    """Best of ``repeat`` runs, garbage collector off during each (as timeit does)."""
    best, out = math.inf, None
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - t0)
        finally:
            gc.enable()
    return best, out


def run_tj(p, tol, repeat):
    def go():
        clear_trace_cache()  # include tracing and set-up in every timed call
        return tj_solve_ivp(p["fun"], p["t_span"], p["y0"], args=p["args"], rtol=tol, atol=tol)

    return timed(go, repeat)


def run_scipy(p, method, tol, repeat):
    def go():
        return scipy.integrate.solve_ivp(p["fun"], p["t_span"], p["y0"], method=method,
                                         args=p["args"], rtol=tol, atol=tol)

    return timed(go, repeat)


def matched_time(rows, target):
    """Time at final error ``target``, log-log interpolated along a work-precision curve."""
    pts = sorted((r[2], r[1]) for r in rows if r[2] > 0 and math.isfinite(r[2]))
    for (e1, t1), (e2, t2) in zip(pts, pts[1:]):
        if e1 <= target <= e2:
            w = (math.log(target) - math.log(e1)) / (math.log(e2) - math.log(e1))
            return math.exp(math.log(t1) + w * (math.log(t2) - math.log(t1)))
    return None


def main(quick=False):
    print(f"# solve_ivp work-precision | {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores | python {platform.python_version()}, numpy {np.__version__},"
          f" scipy {scipy.__version__}")
    print("# taylorjit times include tracing and integrator set-up (trace cache cleared per call)")
    grids = {
        "taylorjit": [1e-6, 1e-9, 1e-12, 1e-15, 1e-16],
        "DOP853": [1e-6, 1e-8, 1e-10, 1e-12, 1e-13],
        "LSODA": [1e-6, 1e-8, 1e-10, 1e-12],
        "Radau": [1e-6, 1e-8, 1e-10],
    }
    if quick:
        grids = {"taylorjit": [1e-12, 1e-15], "DOP853": [1e-10, 1e-13]}
    summary = []
    for name, p in problems().items():
        t0 = time.perf_counter()
        clear_trace_cache()
        tj_solve_ivp(p["fun"], p["t_span"], p["y0"], args=p["args"], rtol=1e-15, atol=1e-15)
        first = time.perf_counter() - t0
        print(f"\n## {name}: first taylorjit call in this process (kernel from disk cache "
              f"or compiled): {first * 1e3:.1f} ms")
        print(f"{'method':>10} {'rtol=atol':>9} {'time [ms]':>10} {'final error':>12} "
              f"{'nfev':>8}")
        curves = {}
        for method, tols in grids.items():
            rows = []
            for tol in tols:
                slow = method in ("Radau", "LSODA") or (name == "outer_ss" and method != "taylorjit")
                repeat = 1 if slow else 5
                if method == "taylorjit":
                    dt, res = run_tj(p, tol, repeat)
                else:
                    dt, res = run_scipy(p, method, tol, repeat)
                err = float(np.max(np.abs(res.y[:, -1] - p["ref"]))) if res.success else math.nan
                rows.append((tol, dt, err, res.nfev))
                print(f"{method:>10} {tol:9.0e} {dt * 1e3:10.2f} {err:12.2e} {res.nfev:8d}",
                      flush=True)
            curves[method] = rows
        # compare at final error 1e-12, or at DOP853's best error if it cannot reach 1e-12
        # (rtol below ~1e-13 is clamped by scipy): then the ratio is a lower bound
        best_dop = min(r[2] for r in curves["DOP853"])
        target = max(1e-12, best_dop)
        t_dop = matched_time(curves["DOP853"], target)
        if t_dop is None:
            t_dop = min(r[1] for r in curves["DOP853"] if r[2] <= target)
        t_tj = matched_time(curves["taylorjit"], target)
        if t_tj is None:  # taylorjit's loosest run is already below the target
            t_tj = min(r[1] for r in curves["taylorjit"] if r[2] <= target)
        summary.append((name, target, t_tj, t_dop, t_dop / t_tj, target > 1e-12))
    print("\n## speed-up of taylorjit over DOP853 at matched final error "
          "(log-log interpolation along each work-precision curve)")
    for name, target, t_tj, t_dop, ratio, bound in summary:
        note = (" (DOP853's best error at rtol = 1e-13: a lower bound of the speed-up at 1e-12)"
                if bound else "")
        print(f"{name:>10}: error {target:8.1e}: taylorjit {t_tj * 1e3:8.2f} ms, DOP853 "
              f"{t_dop * 1e3:9.2f} ms -> {ratio:6.1f}x{note}")

if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
