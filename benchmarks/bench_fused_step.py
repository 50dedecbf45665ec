"""The fused and register steps of unrolled ODE kernels, measured against the
general loop and against heyoka, all in one process.

Three tables (pendulum to t = 100, Lorenz to t = 10 by default):

1. ``propagate_until`` per step, the integrators taking turns (median of the
   per-round ratios and best of each): taylorjit's plain path (fused step, then
   the register step after ``_stepper.REG_AFTER`` steps), the general loop with
   the light entry (the path before the fused step, forced on a second
   integrator of the same kernel), and heyoka's default mode.
2. Tight loops of 2000 steps in compiled code (no Python, no bookkeeping):
   taylorjit's fused step (coefficients stored), its register step, and
   heyoka's own ``step`` function loaded from its object code
   (``llvm_state.object_code``) into this process.
3. The fixed cost of a ``propagate_until`` call that has nothing to do.

Usage::

    python benchmarks/bench_fused_step.py [pendulum lorenz] [--rounds 300]
"""
from __future__ import annotations

import argparse
import ctypes
import math
import platform
import sys
import time
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_integrator import lorenz, pendulum  # noqa: E402

SYSTEMS = {"pendulum": (pendulum, 100.0), "lorenz": (lorenz, 10.0)}
N_TIGHT = 2000


def _general(ta, S):
    """Force ``ta`` onto the general loop with the light entry (the pre-fused path)."""
    jet = ta._kernel.plan_for(ta._order)[0]
    ta._iw[S.I_LIGHT] = 1
    ta._iw[S.I_RADDR] = 0
    ta._jaddr = jet.light_addr
    ta._head = (ta._jaddr,) + ta._head[1:]
    ta._plain = None
    return ta


def _compile_loop(ir_text, fname, argtypes):
    import llvmlite.binding as llb

    from taylorjit._codegen.unroll import target_machine

    mod = llb.parse_assembly(ir_text)
    mod.verify()
    ee = llb.create_mcjit_compiler(mod, target_machine(fresh=True)[0])
    ee.finalize_object()
    return ctypes.CFUNCTYPE(None, *argtypes)(ee.get_function_address(fname)), ee


def tight_loops(name, hy, tj, S):
    """Best time per step of N_TIGHT calls of each step function in a compiled loop."""
    import llvmlite.binding as llb

    from taylorjit import TaylorAdaptive
    from taylorjit._codegen.unroll import target_machine

    f, _ = SYSTEMS[name]
    hs, x0, _ = f(hy)
    H = hy.taylor_adaptive(hs, x0)
    obj = bytes(H.llvm_state.object_code)
    # heyoka's object code may call its own SLEEF copies (sin/cos: heyoka_Sleef_*), which
    # are not exported to this process: that step cannot run outside heyoka
    hy_ok = b"heyoka_Sleef" not in obj
    hee = llb.create_mcjit_compiler(llb.parse_assembly(""), target_machine(fresh=True)[0])
    if hy_ok:
        hee.add_object_file(llb.ObjectFileRef.from_data(obj))
        hee.finalize_object()
    hy_step = hee.get_function_address("step") if hy_ok else 0
    vp, i64, dbl = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double
    hy_loop, e1 = _compile_loop("""
define void @hyloop(i64 %N, ptr %fs, ptr %state, ptr %par, ptr %time, ptr %h) {
entry:
  br label %loop
loop:
  %i = phi i64 [0, %entry], [%i1, %loop]
  store double 1.0e300, ptr %h
  call void %fs(ptr %state, ptr %par, ptr %time, ptr %h, ptr null)
  %i1 = add i64 %i, 1
  %c = icmp slt i64 %i1, %N
  br i1 %c, label %loop, label %done
done:
  ret void
}""", "hyloop", [i64, vp, vp, vp, vp, vp])
    s, x0t, _ = f(tj)
    ta = TaylorAdaptive(s, x0t, compact=False)
    jet = ta._kernel.plan_for(ta._order)[0]
    n = len(x0t)
    copy = "".join(f"""  %p{i} = getelementptr double, ptr %xnew, i64 {i}
  %v{i} = load double, ptr %p{i}
  %q{i} = getelementptr double, ptr %state, i64 {i}
  store double %v{i}, ptr %q{i}
""" for i in range(n))
    tj_loop, e2 = _compile_loop("""
define void @tjloop(i64 %N, ptr %fs, ptr %tc, ptr %pars, ptr %state, ptr %xnew, double %rf,
                    double %io, double %iom1) {
entry:
  br label %loop
loop:
  %i = phi i64 [0, %entry], [%i1, %loop]
  %h = call double %fs(ptr %tc, ptr %pars, double 0.0, ptr %state, ptr %xnew, double 1.0e300,
                       double %rf, double %io, double %iom1)
""" + copy + """  %i1 = add i64 %i, 1
  %c = icmp slt i64 %i1, %N
  br i1 %c, label %loop, label %done
done:
  ret void
}""", "tjloop", [i64, vp, vp, vp, vp, vp, dbl, dbl, dbl])
    fw = ta._fw
    pars = np.zeros(4)
    xn = np.zeros(n)
    st_h, tt, hh, par_h = np.array(x0, float), np.zeros(2), np.zeros(1), np.zeros(4)
    sts = [np.array(x0t, float) for _ in range(2)]

    def run_hy():
        st_h[:] = x0
        hy_loop(N_TIGHT, hy_step, st_h.ctypes.data, par_h.ctypes.data, tt.ctypes.data,
                hh.ctypes.data)

    def run_tj(k, addr):
        def go():
            sts[k][:] = x0t
            tj_loop(N_TIGHT, addr, ta._tc.ctypes.data, pars.ctypes.data, sts[k].ctypes.data,
                    xn.ctypes.data, fw[S.F_RHOFAC], fw[S.F_INVO], fw[S.F_INVOM1])
        return go

    runs = [("taylorjit fused step (tc stored)", run_tj(0, jet.step_addr)),
            ("taylorjit register step", run_tj(1, jet.stepr_addr))]
    if hy_ok:
        runs.append(("heyoka step (its object code)", run_hy))
    best = [math.inf] * len(runs)
    for _ in range(200):
        for k, (_, g) in enumerate(runs):
            t0 = time.perf_counter()
            g()
            best[k] = min(best[k], time.perf_counter() - t0)
    assert np.array_equal(sts[0], sts[1])          # the two variants: the same values
    rows = [(lab, b / N_TIGHT) for (lab, _), b in zip(runs, best)]
    if not hy_ok:
        rows.append(("heyoka step: n/a (its object code calls heyoka's own SLEEF)", math.nan))
    return rows, (e1, e2, hee)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("systems", nargs="*", default=list(SYSTEMS))
    ap.add_argument("--rounds", type=int, default=300)
    a = ap.parse_args()
    import heyoka as hy
    import numba

    import taylorjit as tj
    from taylorjit._integrate import stepper as S
    from taylorjit import TaylorAdaptive

    print(f"# machine: {platform.machine()}, python {platform.python_version()}, numba "
          f"{numba.__version__}, heyoka {hy.__version__}")
    for name in a.systems:
        f, t_end = SYSTEMS[name]
        s, x0, _ = f(tj)
        fused = TaylorAdaptive(s, x0, compact=False)
        general = _general(TaylorAdaptive(s, x0, compact=False), S)
        hs, hx0, _ = f(hy)
        H = hy.taylor_adaptive(hs, hx0)

        def mk(ta):
            def g():
                ta.state[:] = x0
                ta.time = 0.0
                return ta.propagate_until(t_end).n_steps
            return g

        def gh():
            H.state[:] = hx0
            H.time = 0.0
            return H.propagate_until(t_end)[3]

        gs = [mk(fused), mk(general), gh]
        ts = np.zeros((a.rounds, 3))
        steps = [0] * 3
        for r in range(a.rounds):
            for k in (r % 3, (r + 1) % 3, (r + 2) % 3):
                t0 = time.perf_counter()
                steps[k] = gs[k]()
                ts[r, k] = time.perf_counter() - t0
        assert np.array_equal(fused.state, general.state) and np.array_equal(fused.tc, general.tc)
        ps = ts / np.array(steps)
        print(f"\n## {name} to t = {t_end:g} ({steps[0]} steps), {a.rounds} rounds in turns")
        print("| path | best us/step | median ratio to heyoka default |")
        print("|---|---|---|")
        for k, lab in enumerate(("taylorjit plain (fused + register step)",
                                 "taylorjit general loop (light entry)", "heyoka default")):
            print(f"| {lab} | {ps[:, k].min() * 1e6:.4f} | {np.median(ps[:, k] / ps[:, 2]):.3f} |")
        rows, _keep = tight_loops(name, hy, tj, S)
        print(f"tight loop of {N_TIGHT} steps (best of 200, in turns):")
        for lab, t in rows:
            print(f"  {lab:<34} {t * 1e6:.4f} us/step")
        nothing = fused.time
        c_tj = min(timeit.repeat(lambda: fused.propagate_until(nothing), number=5000,
                                 repeat=7)) / 5000
        gnow = general.time
        c_gen = min(timeit.repeat(lambda: general.propagate_until(gnow), number=5000,
                                  repeat=7)) / 5000
        hnow = H.time
        c_hy = min(timeit.repeat(lambda: H.propagate_until(hnow), number=5000, repeat=7)) / 5000
        print(f"fixed cost of propagate_until (nothing to do): taylorjit plain {c_tj * 1e6:.2f} "
              f"us, general driver {c_gen * 1e6:.2f} us, heyoka {c_hy * 1e6:.2f} us")


if __name__ == "__main__":
    main()
