"""Start-up costs: taylorjit vs heyoka.py, from an empty cache to the 5th second of use.

Sections (``--only`` picks some; each figure comes from a NEW Python process
unless it says "in process"):

cold
    Empty caches: every figure gets fresh temporary ``NUMBA_CACHE_DIR``,
    ``TAYLORJIT_CACHE_DIR``, ``HOME`` and ``XDG_CACHE_HOME`` (the last two also
    empty heyoka's disk cache of object code, ``~/.cache/heyoka``).  Figures:
    ``import``; the first ``tj.taylor_coefficients`` call; the first integration
    (pendulum ``x' = v, v' = -9.8 sin x``, ``x0 = [0.05, 0.025]``,
    ``TaylorAdaptive(sys, x0).propagate_until(10.0)``), both timed after the
    import; the whole ``python -m taylorjit demo`` (wall).  heyoka: import, and
    ``taylor_adaptive`` (default mode) + ``propagate_until(10.0)`` of the same
    pendulum.
warm
    Caches filled by an earlier process (the cold section's demo directories
    when it ran, topped up by one filling run), then a fresh process per
    figure: a never-seen pendulum (a random factor baked into ``9.8``, so no
    kernel cache can hold it) built and propagated to ``t = 10`` after the
    import, beside heyoka's default mode; the same with a batch of 4
    (``TaylorAdaptiveBatch`` / ``taylor_adaptive_batch``); a first
    ``taylor_coefficients`` call on a never-seen expression (heyoka has no such
    front end).
inproc
    In one process per system (warm engine caches, never-seen systems):
    time per step of the default constructor ``tj.TaylorAdaptive(sys, x0)``
    (a) right after its first call and (b) after the integrator has been used
    by ``propagate_for`` calls for ~5 s since its construction (background
    builds of faster kernels land meanwhile), against heyoka's default mode.
    Pendulum (t = 1000), Lorenz (t = 10), outer solar system (1e5 days).
    Times per step are the best of several runs: heyoka alone first, then
    taylorjit and heyoka taking turns (``bench_integrator.time_interleaved``);
    ratios use the better heyoka figure.  A background build still running
    after the ~5 s is waited for, and the time it landed and the speed after
    it are printed too.
dask
    A ``dask.distributed.LocalCluster`` of one fresh worker process (warm
    caches): time until ``tj.ensemble_propagate_until`` returns its first member
    (never-seen pendulum, t = 10), then a second call on the same worker;
    heyoka: a fresh worker's first ``taylor_adaptive`` + propagation.

Usage::

    python benchmarks/bench_startup.py                 # everything (minutes: cold dominates)
    python benchmarks/bench_startup.py --quick         # fewer repetitions
    python benchmarks/bench_startup.py --only warm,inproc
    python benchmarks/bench_startup.py --only warm --caches /tmp/tjc   # reuse filled caches

``TAYLORJIT_KERNEL`` and ``TAYLORJIT_TIERING`` are removed from the children's
environment (the default path is what is measured).  Timings are printed,
never asserted; on a shared machine the load average is printed beside them.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
SECTIONS = ("cold", "warm", "inproc", "dask")
PEND_X0 = [0.05, 0.025]
PEND_T = 10.0
CHILD_TIMEOUT = 3600


# --------------------------------------------------------------------------- systems
def pendulum(lib, p=0.0):
    """The pendulum ``x' = v, v' = -9.8 (1 + p) sin x`` (``p`` makes it never-seen)."""
    x, v = lib.make_vars("x", "v")
    return [(x, v), (v, -9.8 * (1 + p) * lib.sin(x))]


def coeff_expr(tj, c=1.0):
    """``exp(sin x) cos y / (1 + c x^2)`` (the demo's expression when ``c = 1``)."""
    x, y = tj.make_vars("x", "y")
    return tj.exp(tj.sin(x)) * tj.cos(y) / (1 + c * x ** 2), [x, y]


def fresh_p():
    """A perturbation no cache has seen: a random multiple of 2**-40."""
    return random.SystemRandom().randrange(1, 2 ** 20) * 2.0 ** -40


# --------------------------------------------------------------------------- children
def _emit(d):
    print("RESULT " + json.dumps(d), flush=True)


def _wait_tiering():
    """Let this process's background builds finish (so that a filling run leaves
    them in the disk cache); a no-op for an engine without them."""
    try:
        from taylorjit._codegen import tiering as _tiering
    except ImportError:
        return
    _tiering.wait_all(600)


def child_tj(task, p):
    t0 = time.perf_counter()
    import taylorjit as tj
    t_imp = time.perf_counter() - t0
    out = {"import": t_imp}
    if task == "import":
        return out
    t1 = time.perf_counter()
    if task == "coeff":
        f, xs = coeff_expr(tj, 1.0 + p)
        c = tj.taylor_coefficients(f, xs, point=[0.3, 0.1], direction=[1.0, 0.0], order=20)
        out["first"] = time.perf_counter() - t1
        out["value"] = float(c[20])
    elif task == "integ":
        ta = tj.TaylorAdaptive(pendulum(tj, p), PEND_X0)
        out["ctor"] = time.perf_counter() - t1
        ta.propagate_until(PEND_T)
        out["first"] = time.perf_counter() - t1
        out["kind"] = ta._kernel.kind
        out["value"] = ta.state.tolist()
    elif task == "batch":
        import numpy as np

        x0 = np.array([[0.05, 0.06, 0.07, 0.08], [0.025, 0.0, -0.025, 0.01]])
        tb = tj.TaylorAdaptiveBatch(pendulum(tj, p), x0)
        out["ctor"] = time.perf_counter() - t1
        tb.propagate_until(PEND_T)
        out["first"] = time.perf_counter() - t1
        out["kind"] = tb._kernel.kind
    elif task == "fill":
        # what a first session leaves in the caches (other never-seen systems): the
        # engine for coefficients, scalar and batch integration, and the loops that
        # run once background builds have landed (a second propagation switches)
        import numpy as np

        f, xs = coeff_expr(tj, 1.0 + fresh_p())
        tj.taylor_coefficients(f, xs, point=[0.3, 0.1], direction=[1.0, 0.0], order=20)
        ta = tj.TaylorAdaptive(pendulum(tj, fresh_p()), PEND_X0)
        ta.propagate_until(PEND_T)
        tb = tj.TaylorAdaptiveBatch(pendulum(tj, fresh_p()), np.array([PEND_X0] * 4).T.copy())
        tb.propagate_until(PEND_T)
        _wait_tiering()
        ta.propagate_until(1000.0)
        tb.propagate_until(1000.0)
        out["first"] = time.perf_counter() - t1
        out["kinds"] = [ta._kernel.kind, tb._kernel.kind]
    else:
        raise ValueError(task)
    return out


def child_hy(task, p):
    t0 = time.perf_counter()
    import heyoka as hy
    out = {"import": time.perf_counter() - t0, "cache": str(hy.llvm_state.get_diskcache_path())}
    if task == "import":
        return out
    t1 = time.perf_counter()
    if task == "integ":
        ta = hy.taylor_adaptive(pendulum(hy, p), PEND_X0)
        out["ctor"] = time.perf_counter() - t1
        ta.propagate_until(PEND_T)
        out["first"] = time.perf_counter() - t1
        out["value"] = ta.state.tolist()
    elif task == "batch":
        import numpy as np

        x0 = np.array([[0.05, 0.06, 0.07, 0.08], [0.025, 0.0, -0.025, 0.01]])
        tb = hy.taylor_adaptive_batch(pendulum(hy, p), x0)
        out["ctor"] = time.perf_counter() - t1
        tb.propagate_until(PEND_T)
        out["first"] = time.perf_counter() - t1
    else:
        raise ValueError(task)
    return out


def child_inproc(name, reps, use_for):
    """Time per step of the default constructor now and after ~``use_for`` s of use,
    beside heyoka's default mode, in this one process (never-seen systems)."""
    import numpy as np

    sys.path.insert(0, str(HERE))
    from bench_integrator import REF, SYSTEMS, time_interleaved

    if name == "outer_ss" and not REF:
        return {"skipped": "the reference data (tests/data/references.json) is missing"}
    import taylorjit as tj

    out = {}
    hy = None
    try:
        import heyoka as hy
    except ImportError:
        pass
    p = fresh_p()
    def best_per_step(go, k):
        best = math.inf
        for _ in range(k):
            a = time.perf_counter()
            _, steps = go()
            best = min(best, (time.perf_counter() - a) / steps)
        return best

    if hy is not None:
        hsys, hx0, t_end = SYSTEMS[name](hy, p)
        t0 = time.perf_counter()
        hta = hy.taylor_adaptive(hsys, hx0)
        out["hy_ctor"] = time.perf_counter() - t0
        hx0 = np.array(hx0, dtype=float)

        def hy_go():
            hta.state[:] = hx0
            hta.time = 0.0
            r = hta.propagate_until(t_end)
            return hta.state.copy(), r[3]

        # alone in the process (after one untimed call, as taylorjit's first call
        # below): a taylorjit background build running later takes the GIL for
        # milliseconds at a time
        hy_go()
        out["hy_alone"] = best_per_step(hy_go, reps)
    # the engine's own code is loaded by a system of the same shape first, so that
    # "now" is about this system's kernel, not about loading the engine (pinned to
    # the VM: no background build of its own to queue before this system's)
    warm_sys, warm_x0, _ = SYSTEMS[name](tj, fresh_p())
    tj.TaylorAdaptive(warm_sys, warm_x0, compact=True).propagate_for(1e-3)

    sys_, x0, t_end = SYSTEMS[name](tj, p)
    x0 = np.array(x0, dtype=float)
    t0 = time.perf_counter()
    ta = tj.TaylorAdaptive(sys_, x0)
    out["tj_ctor"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    ta.propagate_until(t_end)
    out["tj_first_call"] = time.perf_counter() - t1

    def tj_go():
        ta.state[:] = x0
        ta.time = 0.0
        res = ta.propagate_until(t_end)
        return ta.state.copy(), res.n_steps

    out["tj_kind_imm"] = ta._kernel.kind
    out["tj_imm"] = best_per_step(tj_go, 3)
    out["tj_imm_at"] = time.perf_counter() - t0
    out["tj_kind_imm_end"] = ta._kernel.kind
    # use the integrator for ~use_for s since its construction (chunks of t_end / 20)
    chunk = t_end / 20.0
    n_calls = 0
    while time.perf_counter() - t0 < use_for:
        ta.propagate_for(chunk)
        n_calls += 1
    out["loop_calls"] = n_calls
    out["tj_kind_end"] = ta._kernel.kind
    up = getattr(ta, "_upgrade", None)      # a background build still pending, if any
    out["build"] = None if up is None else up.state
    runs = [{"go": tj_go}]
    if hy is not None:
        runs.append({"go": hy_go})
    time_interleaved(runs, reps)
    out["tj_end"] = runs[0]["per_step"]
    out["steps"] = runs[0]["steps"]
    out["tj_end_at"] = time.perf_counter() - t0
    if hy is not None:
        out["hy"] = runs[1]["per_step"]
        out["hy_steps"] = runs[1]["steps"]
        a, b = runs[0]["state"], runs[1]["state"]
        out["rel_diff"] = float(np.linalg.norm(a - b) / np.linalg.norm(b))
    if up is not None and out["build"] in ("queued", "running"):
        # how much longer the faster kernel takes to land, and the speed then
        up.wait(600)
        out["build_landed_at"] = time.perf_counter() - t0
        ta.propagate_for(chunk)             # the switch happens at a step boundary
        runs = [{"go": tj_go}] + ([{"go": hy_go}] if hy is not None else [])
        time_interleaved(runs, reps)
        out["tj_after_build"] = runs[0]["per_step"]
        out["tj_kind_after_build"] = ta._kernel.kind
        if hy is not None:
            out["hy_after_build"] = runs[1]["per_step"]
    return out


def _hy_member(p):
    """Runs on a Dask worker: heyoka's analogue of the first ensemble member."""
    import heyoka as hy

    ta = hy.taylor_adaptive(pendulum(hy, p), PEND_X0)
    ta.propagate_until(PEND_T)
    return ta.state.tolist()


def child_dask(lib):
    from dask.distributed import Client, LocalCluster

    out = {}
    p = fresh_p()
    if lib == "tj":
        import taylorjit as tj

        template = tj.TaylorAdaptive(pendulum(tj, p), PEND_X0)
    t0 = time.perf_counter()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        out["cluster"] = time.perf_counter() - t0
        if lib == "tj":
            ex = client.get_executor()
            t1 = time.perf_counter()
            res = tj.ensemble_propagate_until(template, PEND_T, 1, executor=ex)
            out["first"] = time.perf_counter() - t1
            out["ok"] = bool(res[0].ok)
            t1 = time.perf_counter()
            tj.ensemble_propagate_until(template, PEND_T, 1, executor=ex)
            out["second"] = time.perf_counter() - t1
        else:
            t1 = time.perf_counter()
            client.submit(_hy_member, p, pure=False).result()
            out["first"] = time.perf_counter() - t1
            t1 = time.perf_counter()
            client.submit(_hy_member, p, pure=False).result()
            out["second"] = time.perf_counter() - t1
    return out


def child_main(argv):
    kind, args = argv[0], json.loads(argv[1])
    if kind == "tj":
        out = child_tj(args["task"], args.get("p", 0.0))
    elif kind == "hy":
        out = child_hy(args["task"], args.get("p", 0.0))
    elif kind == "inproc":
        out = child_inproc(args["name"], args["reps"], args["use_for"])
    elif kind == "dask":
        out = child_dask(args["lib"])
    else:
        raise ValueError(kind)
    _emit(out)


# --------------------------------------------------------------------------- parent
class Caches:
    """A set of temporary cache directories (taylorjit, numba, HOME for heyoka)."""

    def __init__(self, base, label, path=None):
        self.reused = path is not None
        self.dir = Path(path) if path else Path(tempfile.mkdtemp(prefix=f"{label}.", dir=base))
        for sub in ("home", "numba", "taylorjit", "home/.cache"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)

    def env(self):
        e = dict(os.environ)
        for k in ("TAYLORJIT_KERNEL", "TAYLORJIT_TIERING"):
            e.pop(k, None)
        e.update(HOME=str(self.dir / "home"), XDG_CACHE_HOME=str(self.dir / "home/.cache"),
                 NUMBA_CACHE_DIR=str(self.dir / "numba"),
                 TAYLORJIT_CACHE_DIR=str(self.dir / "taylorjit"),
                 PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), e.get("PYTHONPATH")])))
        return e


def run_child(env, kind, **args):
    """(result dict, wall seconds of the whole process) of one child run."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", kind,
                        json.dumps(args)], env=env, capture_output=True, text=True,
                       timeout=CHILD_TIMEOUT, cwd=str(ROOT))
    wall = time.perf_counter() - t0
    for line in reversed(r.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:]), wall
    raise RuntimeError(f"child {kind} {args} failed (exit {r.returncode}):\n"
                       f"{r.stdout[-2000:]}\n{r.stderr[-4000:]}")


def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return min(xs), statistics.median(xs), len(xs)


def fs(x):
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:.0f} s"
    if x >= 1:
        return f"{x:.2f} s"
    return f"{x * 1e3:.1f} ms"


def fstat(st):
    if st is None:
        return "-"
    lo, med, n = st
    return fs(lo) if n == 1 else f"{fs(lo)} / {fs(med)}"


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a[0] / b[0]:.2f}x"


def load():
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version(pkg):
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def have(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


def table(head, rows):
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")


def section_cold(base, reps, has_hy):
    print("\n## cold: empty caches (fresh NUMBA_CACHE_DIR, TAYLORJIT_CACHE_DIR, HOME and "
          "XDG_CACHE_HOME per figure, so heyoka's ~/.cache/heyoka is empty too), a new process "
          f"per figure; {reps} run(s) each, min / median")
    res = {k: [] for k in ("imp", "coeff", "coeff_wall", "integ", "integ_wall", "demo",
                           "hy_imp", "hy_integ", "hy_wall")}
    demo_dirs = None
    for _ in range(reps):
        c = Caches(base, "cold-import")
        r, _w = run_child(c.env(), "tj", task="import")
        res["imp"].append(r["import"])
        c = Caches(base, "cold-coeff")
        r, w = run_child(c.env(), "tj", task="coeff")
        res["coeff"].append(r["first"])
        res["coeff_wall"].append(w)
        c = Caches(base, "cold-integ")
        r, w = run_child(c.env(), "tj", task="integ")
        res["integ"].append(r["first"])
        res["integ_wall"].append(w)
        c = Caches(base, "cold-demo")
        t0 = time.perf_counter()
        d = subprocess.run([sys.executable, "-m", "taylorjit", "demo"], env=c.env(),
                           capture_output=True, text=True, timeout=CHILD_TIMEOUT, cwd=str(ROOT))
        res["demo"].append(time.perf_counter() - t0)
        if d.returncode != 0:
            print(f"(the demo failed, exit {d.returncode}: {d.stderr[-500:]})")
        demo_dirs = c
        if has_hy:
            c = Caches(base, "cold-heyoka")
            r, w = run_child(c.env(), "hy", task="integ")
            res["hy_imp"].append(r["import"])
            res["hy_integ"].append(r["first"])
            res["hy_wall"].append(w)
            print(f"(heyoka's disk cache in this run: {r['cache']}, empty at start)")
    S = {k: stats(v) for k, v in res.items()}
    table(["figure (cold)", "taylorjit", "heyoka", "ratio"], [
        ["`import`", fstat(S["imp"]), fstat(S["hy_imp"]), ratio(S["imp"], S["hy_imp"])],
        ["first `taylor_coefficients` (order 20, 2 variables), after import",
         fstat(S["coeff"]), "(no such front end)", "-"],
        ["  same, whole process (start to exit)", fstat(S["coeff_wall"]), "-", "-"],
        ["first integration (pendulum to t = 10, default constructor), after import",
         fstat(S["integ"]), fstat(S["hy_integ"]), ratio(S["integ"], S["hy_integ"])],
        ["  same, whole process (start to exit)", fstat(S["integ_wall"]), fstat(S["hy_wall"]),
         ratio(S["integ_wall"], S["hy_wall"])],
        ["`python -m taylorjit demo` (wall)", fstat(S["demo"]), "-", "-"],
    ])
    print("targets (issue 21): first coefficient call and first integration each <= 3 s "
          "after import; the demo <= 15 s")
    return demo_dirs


def fill(caches, has_hy):
    """Fill ``caches`` as a first session would (taylorjit, and heyoka's disk cache)."""
    env = caches.env()
    t0 = time.perf_counter()
    r, _w = run_child(env, "tj", task="fill")
    if has_hy:
        run_child(env, "hy", task="integ", p=fresh_p())
    print(f"\n(warm caches: {'reused directories' if caches.reused else 'new directories'}"
          f", filled by a first session in {time.perf_counter() - t0:.1f} s; kernel kinds at its "
          f"end: {r['kinds']})")


def section_warm(reps, has_hy, caches):
    print(f"\n## warm: filled caches, a new process per figure, a never-seen system each run; "
          f"{reps} runs, min / median")
    env = caches.env()
    res = {k: [] for k in ("imp", "integ", "integ_wall", "batch", "coeff", "hy_imp", "hy_integ",
                           "hy_wall", "hy_batch", "kinds")}
    for _ in range(reps):
        # taylorjit and heyoka take turns (a shared machine's speed drifts)
        r, w = run_child(env, "tj", task="integ", p=fresh_p())
        res["imp"].append(r["import"])
        res["integ"].append(r["first"])
        res["integ_wall"].append(w)
        res["kinds"].append(r["kind"])
        if has_hy:
            r, w = run_child(env, "hy", task="integ", p=fresh_p())
            res["hy_imp"].append(r["import"])
            res["hy_integ"].append(r["first"])
            res["hy_wall"].append(w)
        r, _w = run_child(env, "tj", task="batch", p=fresh_p())
        res["batch"].append(r["first"])
        if has_hy:
            r, _w = run_child(env, "hy", task="batch", p=fresh_p())
            res["hy_batch"].append(r["first"])
        r, _w = run_child(env, "tj", task="coeff", p=fresh_p())
        res["coeff"].append(r["first"])
    S = {k: stats(v) for k, v in res.items() if k != "kinds"}
    tot = stats([a + b for a, b in zip(res["imp"], res["integ"])])
    hy_tot = stats([a + b for a, b in zip(res["hy_imp"], res["hy_integ"])])
    table(["figure (warm, fresh process)", "taylorjit", "heyoka", "ratio"], [
        ["`import`", fstat(S["imp"]), fstat(S["hy_imp"]), ratio(S["imp"], S["hy_imp"])],
        ["never-seen pendulum built + propagated to t = 10, after import", fstat(S["integ"]),
         fstat(S["hy_integ"]), ratio(S["integ"], S["hy_integ"])],
        ["  same, import included", fstat(tot), fstat(hy_tot), ratio(tot, hy_tot)],
        ["  same, whole process (start to exit)", fstat(S["integ_wall"]), fstat(S["hy_wall"]),
         ratio(S["integ_wall"], S["hy_wall"])],
        ["never-seen pendulum, batch of 4, to t = 10, after import", fstat(S["batch"]),
         fstat(S["hy_batch"]), ratio(S["batch"], S["hy_batch"])],
        ["first `taylor_coefficients` of a never-seen expression, after import",
         fstat(S["coeff"]), "(no such front end)", "-"],
    ])
    print(f"taylorjit kernel kind at the first result: {sorted(set(res['kinds']))}; target "
          "(issue 21): never-seen system to its first result <= 2x heyoka's")


def section_inproc(reps, use_for, caches):
    print(f"\n## in process: default constructor, time per step right after the first call "
          f"and after ~{use_for:.0f} s of use (never-seen systems, warm engine caches), best of "
          f"{reps}; heyoka default alone first, then both taking turns")
    rows = []
    for name, label in (("pendulum", "pendulum (t = 1000)"), ("lorenz", "Lorenz (t = 10)"),
                        ("outer_ss", "outer solar system (1e5 d)")):
        r, _w = run_child(caches.env(), "inproc", name=name, reps=reps, use_for=use_for)
        if "skipped" in r:
            rows.append([label] + ["-"] * 8 + [f"skipped: {r['skipped']}"])
            continue
        # heyoka's reference: the better of its time alone in the process (before
        # taylorjit's integrator existed) and in turns at the end (a taylorjit
        # background build still running then slows both sides)
        hy = None if r.get("hy") is None else min(r["hy"], r["hy_alone"])
        rows.append([
            label, f"{r['tj_ctor'] * 1e3:.1f} ms", fs(r.get("hy_ctor")),
            f"{r['tj_imm'] * 1e6:.3f} us ({r['tj_kind_imm']}"
            + ("" if r["tj_kind_imm_end"] == r["tj_kind_imm"] else f"->{r['tj_kind_imm_end']}")
            + f", at {r['tj_imm_at']:.2f} s)",
            f"{r['tj_end'] * 1e6:.3f} us ({r['tj_kind_end']}, at {r['tj_end_at']:.1f} s)",
            "-" if hy is None else f"{r['hy_alone'] * 1e6:.3f} / {r['hy'] * 1e6:.3f} us",
            "-" if hy is None else f"{r['tj_imm'] / hy:.2f}x",
            "-" if hy is None else f"{r['tj_end'] / hy:.2f}x",
            f"{r['steps']}" + ("" if hy is None else f" / {r['hy_steps']}"),
            ("" if hy is None else f"final states differ by {r['rel_diff']:.0e} (relative)")
            + ("" if r["build"] is None else f"; taylorjit's background build: {r['build']} "
               "at the end (it shares the cores and the GIL with the timings)")
            + ("" if "build_landed_at" not in r else
               f"; it landed at {r['build_landed_at']:.1f} s, then {r['tj_after_build'] * 1e6:.3f}"
               f" us/step ({r['tj_kind_after_build']}"
               + ("" if hy is None else
                  f", {r['tj_after_build'] / min(hy, r['hy_after_build']):.2f}x heyoka")
               + ")"),
        ])
    table(["system", "tj set-up", "hy set-up", "tj time/step now (kind, since set-up)",
           "tj time/step after use", "heyoka default (alone / in turns)", "ratio now",
           "ratio after use",
           "steps tj / hy", "note"], rows)
    print("ratios: taylorjit / the better of heyoka's two figures; target (issue 21): after at "
          "most 5 s of use, time per step <= 1.0x heyoka default")


def section_dask(has_hy, caches):
    print("\n## Dask: a LocalCluster of one fresh worker process (warm caches), first ensemble "
          "member (never-seen pendulum to t = 10)")
    if not have("dask.distributed"):
        print("dask.distributed is not installed: section skipped (pip install "
              "'dask[distributed]')")
        return
    r, _w = run_child(caches.env(), "dask", lib="tj")
    rows = [["taylorjit `ensemble_propagate_until`", fs(r["cluster"]), fs(r["first"]),
             fs(r["second"]), "ok" if r["ok"] else "member failed"]]
    if has_hy:
        h, _w = run_child(caches.env(), "dask", lib="hy")
        rows.append(["heyoka on the worker (`client.submit`)", fs(h["cluster"]), fs(h["first"]),
                     fs(h["second"]), ""])
    table(["", "cluster start", "first member (fresh worker)",
           "same system again (same worker)", "note"], rows)
    print("target (issue 21): a fresh Dask worker finishes its first member in <= 5 s")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated sections among {','.join(SECTIONS)}")
    ap.add_argument("--cold-reps", type=int, default=None,
                    help="runs per cold figure (default 1: each takes minutes today)")
    ap.add_argument("--warm-reps", type=int, default=None, help="runs per warm figure (5; 2)")
    ap.add_argument("--use-for", type=float, default=5.0,
                    help="seconds of use before the 'after use' time per step")
    ap.add_argument("--keep", action="store_true", help="keep the temporary cache directories")
    ap.add_argument("--caches", metavar="DIR",
                    help="warm sections: use (and fill) the caches in DIR instead of new "
                         "temporary ones (kept)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child_main(a.child)
        return 0
    only = [s.strip() for s in a.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        ap.error(f"unknown section(s) {bad}: choose among {', '.join(SECTIONS)}")
    cold_reps = a.cold_reps or 1
    warm_reps = a.warm_reps or (2 if a.quick else 5)
    in_reps = 3 if a.quick else 9
    has_hy = have("heyoka")
    print(f"# machine: {cpu_model()}, {os.cpu_count()} cpus, {platform.system()} "
          f"{platform.release()}, python {platform.python_version()}")
    print(f"# versions: taylorjit {version('taylorjit')}, numba {version('numba')}, llvmlite "
          f"{version('llvmlite')}, heyoka {version('heyoka.py') or version('heyoka') or '-'}, "
          f"dask {version('distributed') or '-'}")
    print(f"# load average at start: {load()} (other work on the machine slows every figure; "
          "ratios taken in turns are more stable than absolute seconds)")
    if not has_hy:
        print("# heyoka is not importable: its columns are empty")
    base = tempfile.mkdtemp(prefix="tj-bench-startup.")
    t_start = time.perf_counter()
    try:
        caches = None
        if "cold" in only:
            caches = section_cold(base, cold_reps, has_hy)
            caches.reused = True
            print(f"(load average: {load()})")
        if any(s in only for s in ("warm", "inproc", "dask")):
            if caches is None:
                caches = Caches(base, "warm", a.caches)
            fill(caches, has_hy)
        if "warm" in only:
            section_warm(warm_reps, has_hy, caches)
            print(f"(load average: {load()})")
        if "inproc" in only:
            section_inproc(in_reps, a.use_for, caches)
            print(f"(load average: {load()})")
        if "dask" in only:
            section_dask(has_hy, caches)
            print(f"(load average: {load()})")
    finally:
        if a.keep:
            print(f"# caches kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    print(f"\n# total {time.perf_counter() - t_start:.0f} s; load average at the end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
