"""Variational equations: set-up cost, memory and time per step, taylorjit vs heyoka.

Systems: the planar CR3BP (4 equations) and the 6-body problem (36 equations),
with first- and second-order sensitivities with respect to the initial state
(``wrt="vars"``: 36 + 1296 equations at order 1, 25,308 at order 2 for 6
bodies).  For each library and case, in a fresh subprocess (so the peak RSS
is that case's alone):

* ``build``  -- building the augmented system symbolically (``var_ode_sys``);
* ``init``   -- constructing the integrator (taylorjit: decomposition + the
  compact VM's program table, no compilation; ``taylorjit-spec``: a
  specialised kernel compiled by numba, first run, or loaded from the disk
  cache on later runs, CR3BP order 1 only (order 2 took 626 s and 3.2 GB to
  compile on the 2-core development machine); heyoka: decomposition + LLVM compilation in
  compact mode);
* ``step``   -- mean wall time of one step at tol = eps (order 20);
* ``RSS``    -- peak resident memory of the process.

Run: ``python benchmarks/bench_variational.py [--quick]`` (``--quick`` skips
the 6-body order-2 case, which takes a few minutes and ~1.5 GB per library).
"""
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MU = 0.012150584269940356


def cr3bp(lib):
    x, y, vx, vy = lib.make_vars("x", "y", "vx", "vy")
    mu = lib.par[0]
    r1 = ((x + mu) ** 2 + y ** 2) ** -1.5
    r2 = ((x - (1 - mu)) ** 2 + y ** 2) ** -1.5
    ax = 2 * vy + x - (1 - mu) * (x + mu) * r1 - mu * (x - (1 - mu)) * r2
    ay = -2 * vx + y - (1 - mu) * y * r1 - mu * y * r2
    return [(x, vx), (y, vy), (vx, ax), (vy, ay)], [0.8234, 0.0, 0.0, 0.1262317620143093], [MU]


def nbody(lib, n=6):
    masses = [1.0] + [1e-3] * (n - 1)
    xs = [lib.make_vars(f"x{i}", f"y{i}", f"z{i}") for i in range(n)]
    vs = [lib.make_vars(f"vx{i}", f"vy{i}", f"vz{i}") for i in range(n)]
    acc = [[0.0, 0.0, 0.0] for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            d = [xs[j][k] - xs[i][k] for k in range(3)]
            r3 = (d[0] ** 2 + d[1] ** 2 + d[2] ** 2) ** -1.5
            for k in range(3):
                acc[i][k] = acc[i][k] + masses[j] * d[k] * r3
                acc[j][k] = acc[j][k] - masses[i] * d[k] * r3
    sys_ = []
    x0 = []
    for i in range(n):
        sys_ += [(xs[i][k], vs[i][k]) for k in range(3)] + [(vs[i][k], acc[i][k]) for k in range(3)]
        r = float(i + 1) if i else 0.0
        x0 += [r, 0.0, 0.01 * i, 0.0, (1.0 / r) ** 0.5 if i else 0.0, 0.0]
    return sys_, x0, []


def run_case(lib_name, system, order):
    if lib_name.startswith("taylorjit"):
        sys.path.insert(0, str(ROOT))
        import taylorjit as lib
        from taylorjit import TaylorAdaptive
        from taylorjit import var_ode_sys

        def build(s):
            return var_ode_sys(s, "vars", order=order)

        def make(vs, x0, pars):
            return TaylorAdaptive(vs, vs.initial_state(x0), pars=pars or None,
                                  compact=(lib_name == "taylorjit"))
    else:
        import heyoka as lib

        def build(s):
            return lib.var_ode_sys(s, lib.var_args.vars, order=order)

        def make(vs, x0, pars):
            return lib.taylor_adaptive(vs, x0, pars=pars, compact_mode=True)
    s, x0, pars = (cr3bp if system == "cr3bp" else nbody)(lib)
    t0 = time.perf_counter()
    vs = build(s)
    t1 = time.perf_counter()
    ta = make(vs, x0, pars)
    t2 = time.perf_counter()
    ta.step()
    n, t3 = 0, time.perf_counter()
    while n < 2000 and time.perf_counter() - t3 < 3.0:
        ta.step()
        n += 1
    step = (time.perf_counter() - t3) / n
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"build": t1 - t0, "init": t2 - t1, "step": step, "rss": rss,
                      "dim": len(list(vs.sys if hasattr(vs, "n_orig_sv") else vs))}))


def main():
    quick = "--quick" in sys.argv
    cases = [("cr3bp", 1), ("cr3bp", 2), ("nbody", 1)] + ([] if quick else [("nbody", 2)])
    libs = ["taylorjit", "taylorjit-spec"]
    try:
        import heyoka  # noqa: F401

        libs.append("heyoka")
    except ImportError:
        print("heyoka not installed: taylorjit only")
    print(f"machine: {platform.machine()} {platform.processor() or ''}, Python "
          f"{platform.python_version()}, {platform.system()}")
    print(f"{'case':<14}{'library':<11}{'dim':>7}{'build s':>9}{'init s':>9}{'step ms':>10}"
          f"{'RSS MB':>9}")
    for system, order in cases:
        res = {}
        for lib in libs:
            if lib == "taylorjit-spec" and (system, order) != ("cr3bp", 1):
                continue          # larger specialised kernels: numba compile takes minutes
            out = subprocess.run([sys.executable, __file__, "--case", lib, system, str(order)],
                                 capture_output=True, text=True, timeout=3600)
            if out.returncode:
                print(f"{system} order {order} {lib}: failed\n{out.stderr[-2000:]}")
                continue
            r = res[lib] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{system + ' o' + str(order):<14}{lib:<11}{r['dim']:>7}{r['build']:>9.2f}"
                  f"{r['init']:>9.2f}{r['step'] * 1e3:>10.3f}{r['rss']:>9.0f}", flush=True)
        if len(res) == 2:
            a, b = res["taylorjit"], res["heyoka"]
            print(f"{'':<14}{'ratio tj/hy':<11}{'':>7}{a['build'] / b['build']:>9.2f}"
                  f"{a['init'] / b['init']:>9.2f}{a['step'] / b['step']:>10.2f}"
                  f"{a['rss'] / b['rss']:>9.2f}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--case":
        run_case(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
