"""Precision ladder on the pendulum: time per step of taylorjit in double, double-double
and arbitrary precision (``precision=<bits>``, the Python VM) beside heyoka in double,
``real128`` and MPFR (``hy.real`` with ``prec=``) at the same tolerance.

The pendulum x'' = -sin x from the exact decimals (0.05, 0.025) to ``--tf`` (default
100), each integrator at the tolerance of its precision (double 2^-52 as both
libraries' default; dd 2^-104; ``real128`` 2^-112, heyoka's epsilon; ``p`` bits:
2^-p for taylorjit and heyoka's ``real`` alike).  Each row: best of ``--repeat``
runs of ``propagate_until`` from the same initial state (set-up and compilation
excluded), the order, the number of steps, the time per step, the ratio to
taylorjit's dd per step, and the largest error of the final state against the
closed form (Jacobi's elliptic functions at 100 digits).

Usage::

    python benchmarks/bench_precision.py [--tf 100] [--repeat 3] [--bits 113 256]
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import mpmath
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import taylorjit as tj                                   # noqa: E402

try:
    import heyoka as hy
except ImportError:                                      # pragma: no cover
    hy = None

X0 = ["0.05", "0.025"]


def pendulum_exact(t):
    with mpmath.workdps(100):
        th0, w0 = mpmath.mpf(1) / 20, mpmath.mpf(1) / 40
        s0 = mpmath.sin(th0 / 2)
        k = mpmath.sqrt(s0 ** 2 + (w0 / 2) ** 2)
        m = k ** 2
        u = mpmath.mpf(t) + mpmath.ellipf(mpmath.atan2(s0 / k, w0 / (2 * k)), m)
        return [2 * mpmath.asin(k * mpmath.ellipfun("sn", u, m=m)),
                2 * k * mpmath.ellipfun("cn", u, m=m)]


def _best(ta, reset, tf, repeat):
    best, n = math.inf, 0
    for _ in range(repeat):
        reset()
        t = time.perf_counter()
        res = ta.propagate_until(tf)
        best = min(best, time.perf_counter() - t)
        n = res[3]
    return best, n


def run_tj(precision, tf, repeat):
    x, v = tj.make_vars("x", "v")
    sys_ = [(x, v), (v, -tj.sin(x))]
    if precision == "double":
        x0 = [0.05, 0.025]
        ta = tj.TaylorAdaptive(sys_, x0, compact=False)

        def reset():
            ta.state[:] = x0
            ta.time = 0.0
        best, n = _best(ta, reset, tf, repeat + 1)
        return best, n, ta.order, [mpmath.mpf(float(s)) for s in ta.state]
    ta = tj.TaylorAdaptive(sys_, X0, precision=precision)

    def reset():
        ta.state = X0
        ta.time = 0
    best, n = _best(ta, reset, tf, repeat)
    st = ta.state.to_mpmath() if precision == "dd" else list(ta.state)
    return best, n, ta.order, st


def run_hy(fp, tf, repeat, prec=None):
    x, v = hy.make_vars("x", "v")
    sys_ = [(x, v), (v, -hy.sin(x))]
    if fp == "double":
        st = np.array([0.05, 0.025])
        kw, t_end, zero = {}, tf, 0.0
    elif fp == "real128":
        st = np.array([hy.real128(s) for s in X0])
        kw, t_end, zero = {"fp_type": hy.real128}, hy.real128(tf), hy.real128(0)
    else:
        st = np.array([hy.real(s, prec) for s in X0])
        kw = {"fp_type": hy.real, "prec": prec, "tol": hy.real(2, prec) ** -prec}
        t_end, zero = hy.real(tf, prec), hy.real(0, prec)
    ta = hy.taylor_adaptive(sys_, st, **kw)

    def reset():
        ta.state[:] = st
        ta.time = zero
    best, n = _best(ta, reset, t_end, repeat)
    with mpmath.workdps(100):                    # every digit of heyoka's values
        return best, n, ta.order, [mpmath.mpf(str(s)) for s in ta.state]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tf", type=float, default=100.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bits", type=int, nargs="*", default=[113, 256])
    args = ap.parse_args(argv)
    print(f"# pendulum to t = {args.tf:g}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; taylorjit {tj.__version__}, heyoka "
          f"{getattr(hy, '__version__', 'not installed')}, mpmath {mpmath.__version__} "
          f"(backend {mpmath.libmp.BACKEND})")
    ref = pendulum_exact(args.tf)
    rows = [("taylorjit double", lambda: run_tj("double", args.tf, args.repeat)),
            ("taylorjit dd", lambda: run_tj("dd", args.tf, args.repeat))]
    rows += [(f"taylorjit {b} bits", lambda b=b: run_tj(b, args.tf, args.repeat))
             for b in args.bits]
    if hy is not None:
        rows += [("heyoka double", lambda: run_hy("double", args.tf, args.repeat)),
                 ("heyoka real128", lambda: run_hy("real128", args.tf, args.repeat))]
        if hasattr(hy, "real"):
            rows += [(f"heyoka real {b} bits", lambda b=b: run_hy("real", args.tf, args.repeat, b))
                     for b in args.bits]
    out = []
    for label, fn in rows:
        best, n, order, st = fn()
        with mpmath.workdps(100):
            err = max(abs(a - b) for a, b in zip(st, ref))
        out.append((label, order, n, best / n * 1e6, err))
    dd = next(r[3] for r in out if r[0] == "taylorjit dd")
    print(f"{'integrator':24s} {'order':>5s} {'steps':>6s} {'us/step':>10s} {'x dd':>8s} "
          f"{'error':>9s}")
    for label, order, n, per, err in out:
        print(f"{label:24s} {order:5d} {n:6d} {per:10.1f} {per / dd:8.3g} "
              f"{mpmath.nstr(err, 2):>9s}")


if __name__ == "__main__":
    main()
