"""Double-double integration: time per step of taylorjit's dd integrator against
heyoka's ``real128`` (IEEE quad, software) and 80-bit ``long double`` at the same
tolerance, and against double precision (taylorjit and heyoka at their default).

Systems: the pendulum x'' = -sin x from (0.05, 0.025) to t = 1000, a Kepler orbit
(e = 0.44) to t = 300, the outer solar system (Applegate et al.) to 2e4 days.
Each integrator: best of ``--repeat`` runs of ``propagate_until`` from the same
initial state (set-up and compilation excluded), the number of steps, and the
relative energy error at the end (the pendulum's against its closed form at 45
digits).  Ratios are time per step over the dd integrator's.

``--events`` prints instead the time per step of the dd integrator on the pendulum
with events and continuous output against the same run without, and heyoka's
``real128`` with the same events (a zero crossing of x: 318 on the way).

``--accuracy`` prints instead the accuracy table of the dd value routines:
the largest relative error against mpmath at 80 digits over random dd
arguments (random heads and tails) in several ranges, in units of 2^-106.

Usage::

    python benchmarks/bench_dd.py                 # all systems
    python benchmarks/bench_dd.py pendulum kepler
    python benchmarks/bench_dd.py --events
    python benchmarks/bench_dd.py --accuracy [--n 2000]
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
DDTaylorAdaptive = tj.DDTaylorAdaptive

try:
    import heyoka as hy
except ImportError:                                      # pragma: no cover
    hy = None

TOL = 2.0 ** -104


# ------------------------------------------------------------------ systems (lib = tj or hy)
def pendulum(lib):
    x, v = lib.make_vars("x", "v")
    sys_ = [(x, v), (v, -lib.sin(x))]
    return sys_, ["0.05", "0.025"], 1000.0, lambda s: s[1] ** 2 / 2 - mpmath.cos(s[0])


def kepler(lib):
    x, y, vx, vy = lib.make_vars("x", "y", "vx", "vy")
    r3 = (x * x + y * y) ** -1.5
    sys_ = [(x, vx), (y, vy), (vx, -x * r3), (vy, -y * r3)]
    return sys_, ["1", "0", "0", "1.2"], 300.0, \
        lambda s: (s[2] ** 2 + s[3] ** 2) / 2 - 1 / mpmath.sqrt(s[0] ** 2 + s[1] ** 2)


def outer_ss(lib):
    from taylorjit.models import outer_solar_system

    oss = outer_solar_system()
    n = 6
    v = lib.make_vars(*[f"{c}{i}" for i in range(n) for c in ("x", "y", "z", "vx", "vy", "vz")])
    pos = [v[6 * i:6 * i + 3] for i in range(n)]
    acc = [[0.0] * 3 for _ in range(n)]
    G, m = oss.G, list(oss.masses)
    for i in range(n):
        for j in range(i + 1, n):
            d = [pos[j][k] - pos[i][k] for k in range(3)]
            r_3 = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) ** -1.5
            for k in range(3):
                acc[i][k] = acc[i][k] + (G * m[j]) * d[k] * r_3
                acc[j][k] = acc[j][k] - (G * m[i]) * d[k] * r_3
    sys_ = []
    for i in range(n):
        sys_ += [(pos[i][k], v[6 * i + 3 + k]) for k in range(3)]
        sys_ += [(v[6 * i + 3 + k], acc[i][k]) for k in range(3)]

    gm = [mpmath.mpf(G * mj) for mj in m]      # the (double) constants the system uses

    def energy(s):
        """G times the energy, with the system's constants G m_j: exactly conserved."""
        e = 0
        for i in range(n):
            e += gm[i] * (s[6 * i + 3] ** 2 + s[6 * i + 4] ** 2 + s[6 * i + 5] ** 2) / 2
            for j in range(i + 1, n):
                r = mpmath.sqrt(sum((s[6 * j + k] - s[6 * i + k]) ** 2 for k in range(3)))
                e -= gm[i] * gm[j] / r
        return e

    return sys_, [repr(float(x)) for x in oss.state], 2e4, energy


SYSTEMS = {"pendulum": pendulum, "kepler": kepler, "outer_ss": outer_ss}


def pendulum_exact(th0, w0, t):
    s0 = mpmath.sin(th0 / 2)
    k = mpmath.sqrt(s0 ** 2 + (w0 / 2) ** 2)
    m = k ** 2
    u = t + mpmath.ellipf(mpmath.atan2(s0 / k, w0 / (2 * k)), m)
    return [2 * mpmath.asin(k * mpmath.ellipfun("sn", u, m=m)), 2 * k * mpmath.ellipfun("cn", u, m=m)]


# ------------------------------------------------------------------ integrators
def run_tj_dd(name, repeat):
    sys_, x0, tf, _ = SYSTEMS[name](tj)
    ta = DDTaylorAdaptive(sys_, x0, tol=TOL)
    best, res = math.inf, None
    for _ in range(repeat):
        ta.state = x0
        ta.time = 0.0
        t = time.perf_counter()
        res = ta.propagate_until(tf)
        best = min(best, time.perf_counter() - t)
    return best, res.n_steps, list(ta.state.to_mpmath()), ta.order


def run_tj_double(name, repeat):
    sys_, x0, tf, _ = SYSTEMS[name](tj)
    x0f = [float(s) for s in x0]
    ta = tj.TaylorAdaptive(sys_, x0f, compact=False)
    best, res = math.inf, None
    for _ in range(repeat + 1):
        ta.state[:] = x0f
        ta.time = 0.0
        t = time.perf_counter()
        res = ta.propagate_until(tf)
        best = min(best, time.perf_counter() - t)
    return best, res.n_steps, [mpmath.mpf(float(v)) for v in ta.state], ta.order


# heyoka's default (non-compact) mode compiles the outer solar system at order 38 for ~10
# minutes per floating-point type on this machine (measured once: real128 8378 us/step
# non-compact, see docs/extended-precision.md): compact mode there
HY_COMPACT = {"outer_ss"}


def run_hy(name, repeat, fp):
    sys_, x0, tf, _ = SYSTEMS[name](hy)
    kw = {"compact_mode": True} if name in HY_COMPACT else {}
    if fp is hy.real128:
        st = np.array([hy.real128(s) for s in x0])
        kw.update(fp_type=hy.real128, tol=hy.real128(TOL))
    elif fp is np.longdouble:
        st = np.array([np.longdouble(s) for s in x0])
        kw.update(fp_type=np.longdouble, tol=np.longdouble(TOL))
    else:
        st = np.array([float(s) for s in x0])
    ta = hy.taylor_adaptive(sys_, st, **kw)
    best, res = math.inf, None
    for _ in range(repeat):
        ta.state[:] = st
        ta.time = fp(0) if fp is not float else 0.0
        t = time.perf_counter()
        res = ta.propagate_until(fp(tf) if fp is not float else tf)
        best = min(best, time.perf_counter() - t)
    return best, res[3], [mpmath.mpf(str(v)) for v in ta.state], ta.order


# ------------------------------------------------------------------ events
def events(repeat):
    """Time per step of the dd pendulum to t = 1000 with events / continuous output."""
    sys_, x0, tf, _ = pendulum(tj)
    x, v = sys_[0][0], sys_[1][0]
    noop = lambda *a: None          # noqa: E731
    cases = [("no events", {}, False), ("c_output=True", {}, True),
             ("nt x = 0, event_log", {"events": [tj.Event(x)]}, False),
             ("nt x = 0, Python callback", {"events": [tj.Event(x, callback=noop)]}, False),
             ("t x = 0, callback -> True",
              {"events": [tj.t_event(x, callback=lambda ta, d: True)]}, False),
             ("nt v = 0 upwards, event_log",
              {"events": [tj.Event(v, direction="positive")]}, False),
             ("nt x = 1 (no root)", {"events": [tj.Event(x - 1.0)]}, False)]
    best = {}
    for _ in range(repeat):                 # interleaved: a busy machine slows all alike
        for label, kw, c_out in cases:
            ta = DDTaylorAdaptive(sys_, x0, tol=TOL, **kw)
            t = time.perf_counter()
            res = ta.propagate_until(tf, c_output=c_out)
            per = (time.perf_counter() - t) / res.n_steps
            if per < best.get(label, (math.inf,))[0]:
                best[label] = (per, res.n_steps, len(ta.event_log))
    if hy is not None:
        hx, hv = hy.make_vars("x", "v")
        hsys = [(hx, hv), (hv, -hy.sin(hx))]
        st = np.array([hy.real128(s) for s in x0])
        for label, ev in [("hy real128 no events", []),
                          ("hy real128 nt x = 0, callback",
                           [hy.nt_event(hx, lambda ta, t, d: None, fp_type=hy.real128)])]:
            ta = hy.taylor_adaptive(hsys, st, fp_type=hy.real128, tol=hy.real128(TOL),
                                    nt_events=ev)
            for _ in range(repeat):
                ta.state[:] = st
                ta.time = hy.real128(0)
                t = time.perf_counter()
                res = ta.propagate_until(hy.real128(tf))
                per = (time.perf_counter() - t) / res[3]
                if per < best.get(label, (math.inf,))[0]:
                    best[label] = (per, res[3], 0)
    base = best["no events"][0]
    print(f"## pendulum (t = {tf:g}), dd at tol 2^-104, best of {repeat}")
    print(f"{'case':32s} {'us/step':>8s} {'/ none':>7s} {'steps':>6s} {'logged':>7s}")
    for label, (per, steps, logged) in best.items():
        print(f"{label:32s} {per * 1e6:8.2f} {per / base:7.2f} {steps:6d} {logged:7d}")


# ------------------------------------------------------------------ accuracy of the value routines
def _lin(a, b):
    return lambda rng: rng.uniform(a, b)


def _log(a, b, signed=False):
    def draw(rng):
        v = math.exp(rng.uniform(math.log(a), math.log(b)))
        return -v if signed and rng.random() < 0.5 else v
    return draw


def _one_plus(a, b, signed=False):
    """1 + d as an exact dd pair (d log-uniform in [a, b])."""
    def draw(rng):
        d = _log(a, b, signed)(rng)
        hi = 1.0 + d
        return hi, d - (hi - 1.0)
    return draw


ACCURACY = [  # name, mpmath reference, [(label, sampler per argument)]
    ("exp", mpmath.exp, [("[-1, 1]", [_lin(-1, 1)]), ("[-600, 700]", [_lin(-600, 700)]),
                         ("|x| in [1e-20, 1e-3]", [_log(1e-20, 1e-3, True)])]),
    ("expm1", mpmath.expm1, [("[-1, 1]", [_lin(-1, 1)]), ("[-40, 40]", [_lin(-40, 40)]),
                             ("|x| in [1e-20, 1e-3]", [_log(1e-20, 1e-3, True)])]),
    ("log", mpmath.log, [("[0.5, 2]", [_lin(0.5, 2)]), ("[1e-300, 1e300]", [_log(1e-300, 1e300)]),
                         ("1 +- [1e-30, 1e-3]", [_one_plus(1e-30, 1e-3, True)])]),
    ("log1p", mpmath.log1p, [("[-0.999, 10]", [_lin(-0.999, 10)]),
                             ("|x| in [1e-20, 1e-3]", [_log(1e-20, 1e-3, True)]),
                             ("[10, 1e300]", [_log(10, 1e300)])]),
    ("sin", mpmath.sin, [("[-10, 10]", [_lin(-10, 10)]), ("[-1e6, 1e6]", [_lin(-1e6, 1e6)]),
                         ("|x| in [1e-20, 1e-3]", [_log(1e-20, 1e-3, True)])]),
    ("cos", mpmath.cos, [("[-10, 10]", [_lin(-10, 10)]), ("[-1e6, 1e6]", [_lin(-1e6, 1e6)])]),
    ("tan", mpmath.tan, [("[-1.5, 1.5]", [_lin(-1.5, 1.5)]), ("[-100, 100]", [_lin(-100, 100)])]),
    ("atan", mpmath.atan, [("[-1, 1]", [_lin(-1, 1)]), ("|x| in [1, 1e20]", [_log(1, 1e20, True)]),
                           ("|x| in [1e-20, 1e-3]", [_log(1e-20, 1e-3, True)])]),
    ("atan2", mpmath.atan2, [("y, x in [-3, 3]", [_lin(-3, 3), _lin(-3, 3)])]),
    ("asin", mpmath.asin, [("[-1, 1]", [_lin(-1, 1)]),
                           ("|x| in [1e-20, 1e-3]", [_log(1e-20, 1e-3, True)])]),
    ("acos", mpmath.acos, [("[-1, 1]", [_lin(-1, 1)])]),
    ("sinh", mpmath.sinh, [("[-1, 1]", [_lin(-1, 1)]), ("[-700, 700]", [_lin(-700, 700)]),
                           ("|x| in [1e-20, 1e-3]", [_log(1e-20, 1e-3, True)])]),
    ("cosh", mpmath.cosh, [("[-700, 700]", [_lin(-700, 700)])]),
    ("tanh", mpmath.tanh, [("[-20, 20]", [_lin(-20, 20)]),
                           ("|x| in [1e-20, 1e-3]", [_log(1e-20, 1e-3, True)])]),
    ("asinh", mpmath.asinh, [("|x| in [1e-3, 1e20]", [_log(1e-3, 1e20, True)]),
                             ("|x| in [1e-20, 1e-3]", [_log(1e-20, 1e-3, True)])]),
    ("acosh", mpmath.acosh, [("[1, 1e20]", [_log(1, 1e20)]),
                             ("1 + [1e-30, 1e-3]", [_one_plus(1e-30, 1e-3)])]),
    ("atanh", mpmath.atanh, [("[-0.9999, 0.9999]", [_lin(-0.9999, 0.9999)]),
                             ("|x| in [1e-20, 1e-3]", [_log(1e-20, 1e-3, True)])]),
    ("erf", mpmath.erf, [("[-6, 6]", [_lin(-6, 6)]), ("|x| in [1e-20, 1e-3]",
                                                      [_log(1e-20, 1e-3, True)])]),
    ("sqrt", mpmath.sqrt, [("[1e-280, 1e300]", [_log(1e-280, 1e300)])]),
    ("pow x^-1.5", lambda x: x ** mpmath.mpf(-1.5), [("[0.01, 100]", [_log(0.01, 100)])]),
    ("pow x^0.3", lambda x: x ** mpmath.mpf(0.3), [("[0.01, 100]", [_log(0.01, 100)])]),
    ("pow x^-7.25", lambda x: x ** mpmath.mpf(-7.25), [("[0.01, 100]", [_log(0.01, 100)])]),
    ("sigmoid", lambda x: 1 / (1 + mpmath.exp(-x)), [("[-40, 40]", [_lin(-40, 40)])]),
    ("kepE", None, [("e in [0, 0.9], M in [-100, 100]", [_lin(0, 0.9), _lin(-100, 100)]),
                    ("e in [0.9, 0.99], M in [-100, 100]", [_lin(0.9, 0.99), _lin(-100, 100)])]),
    ("kepF", None, [("h, k in [-0.6, 0.6], lam in [-100, 100]",
                     [_lin(-0.6, 0.6), _lin(-0.6, 0.6), _lin(-100, 100)])]),
    ("kepDE", None, [("s0, c0 in [-0.6, 0.6], DM in [-100, 100]",
                      [_lin(-0.6, 0.6), _lin(-0.6, 0.6), _lin(-100, 100)])]),
]

# errors relative to max(|value|, 1): the residual of the equation is evaluated in dd, so
# the solution's absolute error is ~2^-106 max(|M|, 1) whatever its size
NORM1 = {"kepE", "kepF", "kepDE"}

_EVAL = {"sin": ("sincos", 0), "cos": ("sincos", 1), "sinh": ("sinhcosh", 0),
         "cosh": ("sinhcosh", 1), "pow x^-1.5": ("pow", -1.5), "pow x^0.3": ("pow", 0.3),
         "pow x^-7.25": ("pow", -7.25)}


def accuracy(n, only=None):
    import random

    from taylorjit._dd import evaluate
    from taylorjit._symbolic.registry import FUNCTIONS

    u2 = mpmath.mpf(2) ** -106
    print(f"# largest relative error against mpmath (80 digits), units of 2^-106 = 1.2e-32; "
          f"{n} random dd arguments per range (kepE/kepF/kepDE: relative to max(|value|, 1))")
    print(f"{'function':14s} {'range':42s} {'max err':>8s} {'median':>7s}")
    for name, ref, ranges in ACCURACY:
        if only and name not in only:
            continue
        if ref is None:
            ref = FUNCTIONS[name].mp
        for label, samplers in ranges:
            rng = random.Random(f"{name}{label}")
            args = []
            for _ in range(n):
                row = []
                for draw in samplers:
                    h = draw(rng)
                    row.append(h if isinstance(h, tuple) else
                               (h, h * rng.uniform(-1.0, 1.0) * 2.0 ** -54))
                args.append(row)
            cols = [[a[j] for a in args] for j in range(len(samplers))]
            fname, which = _EVAL.get(name, (name, 0))
            if fname == "pow":
                res = evaluate("pow", cols[0], [which] * n)
                which = 0
            else:
                res = evaluate(fname, *cols)
            if isinstance(res, tuple):
                res = res[which]
            errs = []
            with mpmath.workdps(80):     # 80: references with cancellation inside (acosh)
                for i, g in enumerate(res.to_mpmath()):
                    xs = [mpmath.fadd(h, l, exact=True) for h, l in args[i]]
                    r = ref(*xs)
                    scale = max(abs(r), 1) if name in NORM1 else abs(r)
                    errs.append(float(abs(g - r) / scale / u2) if scale != 0 else 0.0)
            errs.sort()
            print(f"{name:14s} {label:42s} {errs[-1]:8.1f} {errs[len(errs) // 2]:7.2f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("systems", nargs="*", default=list(SYSTEMS))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--accuracy", action="store_true",
                    help="print the accuracy table of the dd value routines instead")
    ap.add_argument("--events", action="store_true",
                    help="time per step with events and continuous output instead")
    ap.add_argument("--n", type=int, default=2000, help="arguments per range (--accuracy)")
    ap.add_argument("--only", nargs="*", help="functions of the accuracy table (default: all)")
    args = ap.parse_args(argv)
    if args.accuracy:
        accuracy(args.n, args.only)
        return
    if args.events:
        events(max(args.repeat, 5))
        return
    mpmath.mp.dps = 45
    print(f"# {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, "
          f"python {platform.python_version()}, heyoka {getattr(hy, '__version__', 'absent')}")
    print(f"# tolerance {TOL:.3g} (2^-104) for dd, real128, long double; default for double")
    rows = [("tj dd", run_tj_dd), ("tj double", run_tj_double)]
    if hy is not None:
        rows += [("hy real128", lambda n, r: run_hy(n, r, hy.real128)),
                 ("hy long double", lambda n, r: run_hy(n, r, np.longdouble)),
                 ("hy double", lambda n, r: run_hy(n, r, float))]
    for name in args.systems:
        sys_, x0, tf, energy = SYSTEMS[name](tj)
        x0m = [mpmath.mpf(s) for s in x0]
        e0 = energy(x0m)
        ref = pendulum_exact(x0m[0], x0m[1], mpmath.mpf(tf)) if name == "pendulum" else None
        mode = " (heyoka in compact mode)" if name in HY_COMPACT and hy is not None else ""
        print(f"\n## {name} (t = {tf:g}){mode}")
        print(f"{'integrator':16s} {'order':>5s} {'steps':>6s} {'us/step':>10s} {'/ tj dd':>8s} "
              f"{'energy err':>11s} {'state err':>10s}")
        base = None
        for label, fn in rows:
            best, steps, state, order = fn(name, args.repeat)
            per = best / steps * 1e6
            if base is None:
                base = per
            de = float(abs(energy(state) / e0 - 1))
            err = "" if ref is None else \
                f"{float(max(abs(a - b) for a, b in zip(state, ref))):10.2e}"
            print(f"{label:16s} {order:5d} {steps:6d} {per:10.2f} {per / base:8.2f} "
                  f"{de:11.2e} {err}")


if __name__ == "__main__":
    main()
