"""Derivatives benchmark: taylorjit vs JAX jet, sympy (diff + lambdify), heyoka.

Three comparisons, each printed as a table with ratios (peer time / taylorjit
time; > 1 means taylorjit is faster), all measured in this one run:

1. Normalised Taylor coefficients of orders 20, 40, 100 of
   f(x) = exp(sin x) cos x / (1 + x^2) at x = 0.3: set-up of a never-seen
   expression (taylorjit's engine kernels already cached) and time per call
   (single call from Python; and per point in a batch of 10^4 points).
2. All partial derivatives up to order 8 of 1/sqrt((x-a)^2 + (y-b)^2 + (z-c)^2).
3. cfunc: evaluate the function and its gradient on 10^6 points.

Peers that are not installed are skipped.  Times are the best of several
repetitions (``timeit``-style); the machine is noted at the top.
"""
from __future__ import annotations

import math
import os
import platform
import random
import sys
import time

import numpy as np

import taylorjit as tj

QUICK = "--quick" in sys.argv
# JAX's jet compiles for minutes above this order on 2 cores (order 40: ~90 s)
JAX_MAX_ORDER = 40


def best(fn, repeat=5, number=None):
    """Best time per call of fn() in seconds."""
    if number is None:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        number = max(1, int(0.05 / max(dt, 1e-7)))
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return min(times)


def fmt(t):
    if t is None:
        return "-"
    if t < 1e-3:
        return f"{t * 1e6:.2f} us"
    if t < 1:
        return f"{t * 1e3:.2f} ms"
    return f"{t:.2f} s"


def ratio(peer, ours):
    if peer is None or ours is None:
        return "-"
    return f"{peer / ours:.1f}x"


def table(title, header, rows):
    print(f"\n{title}")
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = " | ".join(h.ljust(w) for h, w in zip(header, widths))
    print(line)
    print("-" * len(line))
    for r in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for ln in fh:
                if ln.startswith("model name"):
                    cpu = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


# ------------------------------------------------------------------ 1. univariate coefficients
def univariate(orders):
    x = tj.var("x")
    rows = []
    try:
        import jax
        import jax.numpy as jnp
        from jax.experimental import jet

        jax.config.update("jax_enable_x64", True)
    except ImportError:
        jax = None
    for order in orders:
        use_jax = jax is not None and order <= JAX_MAX_ORDER
        # a never-seen expression each time: a random constant changes the decomposition
        c0 = 1.0 + random.random() * 1e-9
        f = tj.exp(tj.sin(x)) * tj.cos(x) / (c0 + x**2)
        res = {}
        for kind in ("compact", "spec", "unrolled"):
            t0 = time.perf_counter()
            tj.taylor_coefficients(f, [x], [0.3], order=order, kind=kind)
            setup = time.perf_counter() - t0
            call = best(lambda: tj.taylor_coefficients(f, [x], [0.3], order=order, kind=kind))
            pts = np.full((10_000, 1), 0.3)
            batch = best(lambda: tj.taylor_coefficients(f, [x], pts, order=order, kind=kind),
                         repeat=3) / pts.shape[0]
            res[kind] = (setup, call, batch)
        ours = tj.taylor_coefficients(f, [x], [0.3], order=order, kind="unrolled")
        J = tj.taylor_jet(f, [x], order=order)       # the compiled callable (kernel cached)
        assert np.array_equal(J(0.3), ours)
        tjet = best(lambda: J(0.3))
        jt = (None, None, None)
        if use_jax:
            def fj(s):
                return jnp.exp(jnp.sin(s)) * jnp.cos(s) / (c0 + s**2)

            series = ([1.0] + [0.0] * (order - 1),)
            g = jax.jit(lambda p: jet.jet(fj, (p,), series))
            t0 = time.perf_counter()
            out = g(0.3)
            jax.block_until_ready(out)
            jsetup = time.perf_counter() - t0
            jcall = best(lambda: jax.block_until_ready(g(0.3)))
            coef = np.array([float(out[0])] + [float(v) / math.factorial(k + 1)
                                                for k, v in enumerate(out[1])])
            err = np.max(np.abs(coef - ours) / np.maximum(1, np.abs(ours)))
            if err > 1e-8:
                print(f"warning: JAX jet and taylorjit disagree at order {order}: {err:.1e}")
            jt = (jsetup, jcall, None)
        rows.append([order, fmt(res["compact"][0]), fmt(res["spec"][0]), fmt(res["unrolled"][0]),
                     fmt(jt[0]), fmt(res["compact"][1]), fmt(res["unrolled"][1]), fmt(tjet),
                     fmt(jt[1]),
                     fmt(res["compact"][2]), fmt(res["spec"][2]), fmt(res["unrolled"][2]),
                     ratio(jt[1], tjet), ratio(jt[0], res["compact"][0])])
    table("1. Taylor coefficients of exp(sin x) cos x/(1 + x^2) (new expression each order; "
          f"JAX only up to order {JAX_MAX_ORDER}: its compile time explodes)",
          ["order", "setup compact", "setup spec", "setup unrolled", "setup jax", "call compact",
           "call unrolled", "call taylor_jet", "call jax", "batch/pt compact", "batch/pt spec",
           "batch/pt unrolled", "jax call / taylor_jet call", "jax setup / compact setup"], rows)


def sympy_univariate(order, budget=60.0):
    import sympy as sp

    X = sp.Symbol("x")
    F = sp.exp(sp.sin(X)) * sp.cos(X) / (1 + X**2)
    t0 = time.perf_counter()
    exprs = [F]
    for k in range(order):
        exprs.append(sp.diff(exprs[-1], X))
        if time.perf_counter() - t0 > budget:
            return None, None
    fn = sp.lambdify(X, exprs, "math")
    setup = time.perf_counter() - t0
    return setup, best(lambda: fn(0.3), repeat=3)


# ------------------------------------------------------------------ 2. multivariate partials
def multivariate(order=8):
    x, y, z = tj.make_vars("x", "y", "z")
    a, b, c = 0.1, -0.2, 0.3 + random.random() * 1e-9
    f = 1 / tj.sqrt((x - a) ** 2 + (y - b) ** 2 + (z - c) ** 2)
    pt = [0.5, 0.4, 1.1]
    rows = []
    for kind in ("compact", "spec", "unrolled"):
        t0 = time.perf_counter()
        d = tj.derivatives(f, [x, y, z], pt, order=order, kind=kind)
        setup = time.perf_counter() - t0
        call = best(lambda: tj.derivatives(f, [x, y, z], pt, order=order, kind=kind), repeat=3)
        rows.append([f"taylorjit derivatives ({kind})", fmt(setup), fmt(call), "1.0x"])
    ours = rows[-1]
    tcall = best(lambda: tj.derivatives(f, [x, y, z], pt, order=order, kind="unrolled"),
                 repeat=3)
    ref = d
    try:
        import heyoka as hy

        hx, hy_, hz = hy.make_vars("x", "y", "z")
        hf = 1 / hy.sqrt((hx - a) ** 2 + (hy_ - b) ** 2 + (hz - c) ** 2)
        t0 = time.perf_counter()
        dt = hy.diff_tensors([hf], diff_args=[hx, hy_, hz], diff_order=order)
        exprs, idx = [], []
        for o in range(order + 1):
            for (i, e) in dt.get_derivatives(o):
                exprs.append(e)
                idx.append(tuple(i[1:]))
        cf = hy.cfunc(exprs, [hx, hy_, hz])
        inp = np.array(pt)
        out = cf(inp)
        setup = time.perf_counter() - t0
        # interleaved with taylorjit's call (the machine's speed drifts): best of 7 rounds each
        call = math.inf
        ours_fn = (lambda: tj.derivatives(f, [x, y, z], pt, order=order, kind="unrolled"))
        for _ in range(7):
            call = min(call, best(lambda: cf(inp), repeat=1))
            tcall = min(tcall, best(ours_fn, repeat=1))
        rows[-1][2] = fmt(tcall)
        err = max(abs(out[k] - ref[idx[k]]) / max(1.0, abs(out[k])) for k in range(len(exprs)))
        rows.append(["heyoka diff_tensors + cfunc", fmt(setup), fmt(call),
                     ratio(call, tcall) + f" (max rel. diff {err:.0e})"])
    except ImportError:
        pass
    try:
        import sympy as sp

        X, Y, Z = sp.symbols("x y z")
        F = 1 / sp.sqrt((X - a) ** 2 + (Y - b) ** 2 + (Z - c) ** 2)
        t0 = time.perf_counter()
        from taylorjit._codegen.multi import multi_indices

        # each partial from a lower one by one differentiation (the cheapest sympy route)
        known = {(0, 0, 0): F}
        exprs = [F]
        for o in range(1, order + 1):
            for j in multi_indices(3, o):
                i = next(q for q in range(3) if j[q] > 0)
                lower = tuple(j[q] - (q == i) for q in range(3))
                known[j] = sp.diff(known[lower], (X, Y, Z)[i])
                exprs.append(known[j])
        fn = sp.lambdify((X, Y, Z), exprs, "math")
        setup = time.perf_counter() - t0
        call = best(lambda: fn(*pt), repeat=3)
        rows.append(["sympy diff + lambdify", fmt(setup), fmt(call), ratio(call, tcall)])
    except ImportError:
        pass
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)

        def fj(v):
            return 1 / jnp.sqrt((v[0] - a) ** 2 + (v[1] - b) ** 2 + (v[2] - c) ** 2)

        g = fj
        for _ in range(order):
            g = jax.jacfwd(g)
        g = jax.jit(g)
        t0 = time.perf_counter()
        jax.block_until_ready(g(jnp.array(pt)))
        setup = time.perf_counter() - t0
        call = best(lambda: jax.block_until_ready(g(jnp.array(pt))), repeat=3)
        rows.append([f"jax jacfwd^{order} (order {order} only)", fmt(setup), fmt(call),
                     ratio(call, tcall)])
    except ImportError:
        pass
    table(f"2. All partials up to order {order} of 1/|r - r0| in 3 variables "
          f"({len(ref)} derivatives; ratio = peer call / taylorjit unrolled call)",
          ["method", "setup", "call", "ratio"], rows)
    _ = ours


# ------------------------------------------------------------------ 3. cfunc on many points
def cfunc_bench(npts=1_000_000):
    x, y = tj.make_vars("x", "y")
    f = tj.exp(tj.sin(x)) * tj.cos(y) / (1 + x**2)
    fs = [f, tj.diff(f, x), tj.diff(f, y)]
    rng = np.random.default_rng(0)
    P = rng.uniform(-2, 2, (npts, 2))
    rows = []
    # a never-seen expression (a random constant), so set-up includes the compilation
    c0 = 1.0 + random.random() * 1e-9
    f = tj.exp(tj.sin(x)) * tj.cos(y) / (c0 + x**2)
    fs = [f, tj.diff(f, x), tj.diff(f, y)]
    t0 = time.perf_counter()
    g = tj.cfunc(fs, [x, y])          # default: SIMD, compiled at the first call
    g(P[:2])
    setup = time.perf_counter() - t0
    ours = best(lambda: g(P), repeat=5)
    ser = best(lambda: g(P, parallel=False), repeat=5)
    rows.append([f"taylorjit cfunc (default: SIMD, {os.cpu_count()} threads)", fmt(setup),
                 fmt(ours), "1.0x"])
    rows.append(["taylorjit cfunc (SIMD, parallel=False: one thread)", "-", fmt(ser),
                 ratio(ser, ours)])
    gs = tj.cfunc(fs, [x, y], kind="unrolled", simd=False)
    t0 = time.perf_counter()
    gs(P[:2])
    setup_s = time.perf_counter() - t0
    rows.append(["taylorjit cfunc (simd=False: scalar unrolled, C libm)", fmt(setup_s),
                 fmt(best(lambda: gs(P), repeat=3)), ratio(best(lambda: gs(P), repeat=3), ours)])

    def numpy_eval():
        xs, ys = P[:, 0], P[:, 1]
        e = np.exp(np.sin(xs))
        den = 1 + xs**2
        v = e * np.cos(ys) / den
        dx = e * np.cos(xs) * np.cos(ys) / den - v * 2 * xs / den
        dy = -e * np.sin(ys) / den
        return v, dx, dy

    rows.append(["numpy (hand-written derivatives)", "-", fmt(best(numpy_eval, repeat=3)),
                 ratio(best(numpy_eval, repeat=3), ours)])
    try:
        import heyoka as hy

        hx, hy_ = hy.make_vars("x", "y")
        hf = hy.exp(hy.sin(hx)) * hy.cos(hy_) / (c0 + hx**2)
        t0 = time.perf_counter()
        cf = hy.cfunc([hf, hy.diff(hf, hx), hy.diff(hf, hy_)], [hx, hy_])
        PT = np.ascontiguousarray(P.T)
        cf(np.ascontiguousarray(PT[:, :2]))
        setup = time.perf_counter() - t0
        c0, w0 = time.process_time(), time.perf_counter()
        t = best(lambda: cf(PT), repeat=5)
        threads = (time.process_time() - c0) / max(time.perf_counter() - w0, 1e-9)
        rows.append([f"heyoka cfunc (default: uses ~{threads:.1f} cores)", fmt(setup), fmt(t),
                     ratio(t, ours)])
    except ImportError:
        pass
    v, vs = g(P[:1000]), gs(P[:1000])
    print(f"SIMD vs scalar (C libm) values on 1000 points: max rel. diff "
          f"{np.max(np.abs(v - vs) / np.maximum(1, np.abs(vs))):.1e}, "
          f"bit-identical {np.mean(v == vs):.1%}")
    table(f"3. f, df/dx, df/dy on {npts:,} points (ratio = peer time / taylorjit default time)",
          ["method", "setup", "time", "ratio"], rows)


def warm_up():
    """Load the engine's own compiled code (VM, drivers) once, so that the set-up
    columns measure what a new expression costs in a running session."""
    w = tj.var("w")
    for kind in ("compact", "spec", "unrolled"):
        tj.taylor_coefficients(tj.sin(w) * w, [w], [0.1], order=3, kind=kind)
        tj.derivatives(tj.sin(w) * w, [w], [0.1], order=2, kind=kind)


def main():
    print(f"taylorjit {tj.__version__} derivatives benchmark on {machine()}")
    t0 = time.perf_counter()
    warm_up()
    print(f"engine warm-up in this process (load cached VM and drivers): "
          f"{time.perf_counter() - t0:.2f} s")
    univariate([20, 40] if QUICK else [20, 40, 100])
    rows = []
    for order in (10, 20):
        s = sympy_univariate(order, budget=20 if QUICK else 60)
        x = tj.var("x")
        f = tj.exp(tj.sin(x)) * tj.cos(x) / (1 + x**2)
        tj.taylor_coefficients(f, [x], [0.3], order=order, kind="unrolled")
        t = best(lambda: tj.taylor_coefficients(f, [x], [0.3], order=order, kind="unrolled"))
        rows.append([order, fmt(s[0]) if s[0] else "> budget", fmt(s[1]), fmt(t),
                     ratio(s[1], t)])
    table("1b. sympy: derivatives 0..order by repeated diff + lambdify (vs taylorjit call)",
          ["order", "sympy setup", "sympy call", "taylorjit call", "ratio"], rows)
    multivariate(8)
    cfunc_bench(100_000 if QUICK else 1_000_000)


if __name__ == "__main__":
    main()
