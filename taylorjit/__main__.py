"""Command line: ``python -m taylorjit demo`` and ``python -m taylorjit bench``.

``demo`` shows the main job end to end in a few seconds: high-order
derivatives checked against sympy, and (when the integrator is available) an
adaptive Taylor integration checked against the high-precision reference.
``bench`` runs the scripts in ``benchmarks/`` (source checkout only).
"""
from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path


def _demo_derivatives():
    import numpy as np
    import sympy as sp

    import taylorjit as tj

    print("== Derivatives ==")
    x, y = tj.make_vars("x", "y")
    f = tj.exp(tj.sin(x)) * tj.cos(y) / (1 + x**2)
    print(f"f(x, y) = {f}")
    t0 = time.perf_counter()
    c = tj.taylor_coefficients(f, [x, y], point=[0.3, 0.1], direction=[1.0, 0.0], order=40)
    t1 = time.perf_counter()
    import mpmath

    mpmath.mp.dps = 50
    exact = mpmath.taylor(lambda s: mpmath.exp(mpmath.sin(s)) * mpmath.cos(mpmath.mpf(0.1))
                          / (1 + s**2), mpmath.mpf(0.3), 40)
    err = max(abs(float(a) - float(b)) / max(1.0, abs(float(b))) for a, b in zip(c, exact))
    print(f"Taylor coefficients to order 40 along x at (0.3, 0.1): {1e3 * (t1 - t0):.1f} ms "
          f"(first call, includes set-up); c[40] = {c[40]:.15e}; max error vs mpmath (50 digits, "
          f"relative to max(1, |c_k|)): {err:.1e}")
    X, Y = sp.symbols("x y")
    F = sp.exp(sp.sin(X)) * sp.cos(Y) / (1 + X**2)
    t0 = time.perf_counter()
    jet20 = tj.taylor_jet(f, [x, y], order=20)      # compiled once (LLVM), cached on disk
    p, dvec = [0.3, 0.1], [1.0, 0.0]
    jet20(p, dvec)
    t1 = time.perf_counter()
    for _ in range(10000):
        jet20(p, dvec)
    t2 = time.perf_counter()
    print(f"order-20 coefficients with tj.taylor_jet (set up in {1e3 * (t1 - t0):.0f} ms): "
          f"{(t2 - t1) * 1e2:.1f} us/call from Python")
    d = tj.derivatives(f, [x, y], point=[0.3, 0.1], order=6)
    ref = float(sp.diff(F, X, 2, Y, 3).subs({X: 0.3, Y: 0.1}).evalf(30))
    print(f"d^5 f/dx^2 dy^3 = {d[(2, 3)]:.15e}  (sympy: {ref:.15e})")
    print(f"gradient = {d.gradient()}, hessian =\n{d.hessian()}")
    g = tj.cfunc([f, tj.diff(f, x)], [x, y])
    pts = np.random.default_rng(0).random((100_000, 2))
    g(pts[:10])
    t0 = time.perf_counter()
    g(pts)
    print(f"cfunc of f and df/dx on 1e5 points: {1e3 * (time.perf_counter() - t0):.1f} ms")


def _demo_integration():
    import numpy as np

    import taylorjit as tj

    if not hasattr(tj, "TaylorAdaptive"):
        print("\n(integration demo: the integrator is not available in this build)")
        return
    print("\n== Adaptive Taylor integration ==")
    x, v = tj.make_vars("x", "v")
    t0 = time.perf_counter()
    ta = tj.TaylorAdaptive([(x, v), (v, -9.8 * tj.sin(x))], [0.05, 0.025])
    t1 = time.perf_counter()
    res = ta.propagate_until(1000.0)
    t2 = time.perf_counter()
    ref = np.array([float(s) for s in _PENDULUM_T1000])
    check = f"error vs quad-precision reference {np.max(np.abs(ta.state - ref)):.1e}"
    print(f"pendulum to t = 1000: set-up {1e3 * (t1 - t0):.1f} ms, {res.n_steps} steps in "
          f"{1e3 * (t2 - t1):.1f} ms (first run, includes loading the compiled loop), order "
          f"{ta.order}; {check}")
    t0 = time.perf_counter()
    back = ta.propagate_until(0.0)
    t1 = time.perf_counter()
    print(f"and back to t = 0: {back.n_steps} steps in {1e3 * (t1 - t0):.1f} ms "
          f"({1e6 * (t1 - t0) / back.n_steps:.2f} us/step); distance from the initial state "
          f"{np.max(np.abs(ta.state - [0.05, 0.025])):.1e}")
    try:
        from scipy.integrate import solve_ivp
    except ImportError:
        return
    t0 = time.perf_counter()
    sol = solve_ivp(lambda t, s: [s[1], -9.8 * math.sin(s[0])], (0, 1000.0), [0.05, 0.025],
                    method="DOP853", rtol=1e-13, atol=1e-13)
    t1 = time.perf_counter()
    print(f"scipy DOP853 (rtol=atol=1e-13): {1e3 * (t1 - t0):.1f} ms, error "
          f"{np.max(np.abs(sol.y[:, -1] - ref)):.1e}")


# The pendulum x' = v, v' = -9.8 sin x from (0.05, 0.025) at t = 1000, computed outside
# taylorjit by a Taylor integrator in quad precision (113-bit significand) at tolerance
# 1e-32 (the same values as tests/data/references.json)
_PENDULUM_T1000 = ("0.0349553263867776871828577652843183108",
                   "-0.114659243042053537143320959483043454")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m taylorjit", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["demo", "bench"], help="what to run")
    args = ap.parse_args(argv)
    if args.command == "demo":
        _demo_derivatives()
        _demo_integration()
        return 0
    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    if not bench.is_dir():
        print("benchmarks/ is only in a source checkout of taylorjit", file=sys.stderr)
        return 2
    rc = 0
    for script in sorted(bench.glob("bench_*.py")):
        print(f"\n#### {script.name}")
        rc |= subprocess.call([sys.executable, str(script)])
    return rc


if __name__ == "__main__":
    sys.exit(main())
