"""Event-detection overhead: Hénon–Heiles to t = 2000 with a Poincaré-section event.

Problem: x'' = -x - 2 x y, y'' = -y - x^2 + y^2, x0 = [x, y, vx, vy] = [-0.2, 0, 0, 0.4];
section x = 0 crossed upwards (310 crossings).  Measured side by side in one run, on
the same machine, warm (kernels compiled / loaded beforehand):

* taylorjit without events; with a compiled-only section event (crossings recorded in
  ``ta.event_log``); with a non-terminal event and a Python callback
  (``tj.nt_event``); with a terminal event whose Python callback returns True
  (``tj.t_event``: the step ends at each crossing, the propagation goes on);
* heyoka (if installed) without events, with ``nt_event`` and with ``t_event``, the
  same Python callbacks;
* scipy ``solve_ivp(method="DOP853", events=...)`` at rtol = 1e-13 (if installed).

The configurations run in turns, ``REPEAT`` rounds, and each keeps its best time
(a busy machine slows all of them alike instead of the last ones).  Prints
absolute times, the with/without ratio of each library, and the ratios against
heyoka.  Run: ``python benchmarks/bench_events.py``.
"""
from __future__ import annotations

import platform
import time

import numpy as np

import taylorjit as tj

T_END = 2000.0
X0 = [-0.2, 0.0, 0.0, 0.4]
REPEAT = 21


def tj_cases():
    """name -> (integrator, list the callbacks append to).  Integrators are built
    once (like heyoka's below); each run resets time, state, the event log and the
    cooldowns, so the timings are propagation only."""
    x, y, vx, vy = tj.make_vars("x", "y", "vx", "vy")
    sys = [(x, vx), (y, vy), (vx, -x - 2 * x * y), (vy, -y - x * x + y * y)]
    out_nt, out_t = [], []
    nt = tj.nt_event(x, lambda ta, t, d_sgn: out_nt.append(t),
                     direction=tj.event_direction.positive)
    te = tj.t_event(x, callback=lambda ta, d_sgn: out_t.append(ta.time) or True,
                    direction=tj.event_direction.positive)
    return {
        "taylorjit": (tj.TaylorAdaptive(sys, X0), None),
        "taylorjit + event (compiled)": (tj.TaylorAdaptive(
            sys, X0, events=[tj.Event(x, direction="positive")]), None),
        "taylorjit + nt_event (py callback)": (tj.TaylorAdaptive(
            sys, X0, nt_events=[nt]), out_nt),
        "taylorjit + t_event (py callback)": (tj.TaylorAdaptive(
            sys, X0, t_events=[te]), out_t),
    }


def hy_cases():
    try:
        import heyoka as hy
    except ImportError:
        return {}
    x, y, vx, vy = hy.make_vars("x", "y", "vx", "vy")
    sys = [(x, vx), (y, vy), (vx, -x - 2 * x * y), (vy, -y - x * x + y * y)]
    out_nt, out_t = [], []
    nt = hy.nt_event(x, callback=lambda ta, t, d_sgn: out_nt.append(t),
                     direction=hy.event_direction.positive)
    te = hy.t_event(x, callback=lambda ta, d_sgn: out_t.append(ta.time) or True,
                    direction=hy.event_direction.positive)
    return {
        "heyoka": (hy.taylor_adaptive(sys, X0), None),
        "heyoka + nt_event (py callback)": (hy.taylor_adaptive(sys, X0, nt_events=[nt]), out_nt),
        "heyoka + t_event (py callback)": (hy.taylor_adaptive(sys, X0, t_events=[te]), out_t),
    }


def run(ta, out):
    ta.time = 0.0
    ta.state[:] = X0
    if out is not None:
        out.clear()
    if isinstance(ta, tj.TaylorAdaptive):
        ta.event_log.clear()
        if ta.events:
            ta.reset_cooldowns()
    ta.propagate_until(T_END)
    if out is not None:
        return list(out)
    return [t for _, t, _ in getattr(ta, "event_log", [])]


def bench_scipy():
    try:
        from scipy.integrate import solve_ivp
    except ImportError:
        return {}, None

    def f(t, s):
        x, y, vx, vy = s
        return [vx, vy, -x - 2 * x * y, -y - x * x + y * y]

    def sec(t, s):
        return s[0]

    sec.direction = 1.0
    kw = dict(method="DOP853", rtol=1e-13, atol=1e-13)

    def best(fn, repeat=2):
        ts, out = [], None
        for _ in range(repeat):
            t0 = time.perf_counter()
            out = fn()
            ts.append(time.perf_counter() - t0)
        return min(ts), out

    res = {}
    res["scipy DOP853"], _ = best(lambda: solve_ivp(f, (0, T_END), X0, **kw))
    res["scipy DOP853 + event"], sol = best(lambda: solve_ivp(f, (0, T_END), X0, events=sec,
                                                             **kw))
    return res, list(sol.t_events[0])


def bench_step_callbacks():
    """A Python step callback (called after every step, returns True) on the same system:
    taylorjit and heyoka, best of REPEAT runs each, in turns."""
    x, y, vx, vy = tj.make_vars("x", "y", "vx", "vy")
    sys = [(x, vx), (y, vy), (vx, -x - 2 * x * y), (vy, -y - x * x + y * y)]
    cases = {"taylorjit + step callback": tj.TaylorAdaptive(sys, X0)}
    try:
        import heyoka as hy

        hx, hyv, hvx, hvy = hy.make_vars("x", "y", "vx", "vy")
        hsys = [(hx, hvx), (hyv, hvy), (hvx, -hx - 2 * hx * hyv),
                (hvy, -hyv - hx * hx + hyv * hyv)]
        cases["heyoka + step callback"] = hy.taylor_adaptive(hsys, X0)
    except ImportError:
        pass
    n = [0]

    def cb(ta):
        n[0] += 1
        return True

    from taylorjit._codegen import tiering as _tiering

    for ta in cases.values():                   # warm up; the background build taken
        ta.propagate_until(1.0, callback=lambda t: True)
    _tiering.wait_all(600)
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(REPEAT + 1):
        for k, ta in cases.items():
            ta.time = 0.0
            ta.state[:] = X0
            t0 = time.perf_counter()
            ta.propagate_until(T_END, callback=cb)
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def main():
    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}, "
          f"python {platform.python_version()}")
    print(f"Hénon–Heiles to t = {T_END}, section x = 0 upwards, best of {REPEAT} rounds\n")
    cases = {**tj_cases(), **hy_cases()}
    crossings = {k: run(ta, out) for k, (ta, out) in cases.items()}     # warm up
    # default constructors: the integrators start on a quick build and take the optimised
    # kernel built in the background at a step boundary; time them once it is taken
    from taylorjit._codegen import tiering as _tiering

    _tiering.wait_all(600)
    crossings = {k: run(ta, out) for k, (ta, out) in cases.items()}
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(REPEAT):
        for k, (ta, out) in cases.items():
            t0 = time.perf_counter()
            run(ta, out)
            best[k] = min(best[k], time.perf_counter() - t0)
    r_sp, c_sp = bench_scipy()
    rows = {**best, **r_sp}
    for k, v in rows.items():
        print(f"  {k:36s} {v * 1e3:9.3f} ms")
    c_tj = crossings["taylorjit + event (compiled)"]
    assert c_tj == crossings["taylorjit + nt_event (py callback)"]
    c_te = crossings["taylorjit + t_event (py callback)"]
    assert len(c_te) == len(c_tj) and np.allclose(c_te, c_tj, rtol=0, atol=1e-10)
    c_hy = crossings.get("heyoka + nt_event (py callback)")
    print()
    print(f"  crossings: taylorjit {len(c_tj)}"
          + (f", heyoka {len(c_hy)}" if c_hy is not None else "")
          + (f", scipy {len(c_sp)}" if c_sp is not None else ""))
    if c_hy is not None and len(c_hy) == len(c_tj):
        print(f"  max |t_taylorjit - t_heyoka| = {np.max(np.abs(np.subtract(c_tj, c_hy))):.2e}")
    if c_sp is not None and len(c_sp) == len(c_tj):
        print(f"  max |t_taylorjit - t_scipy|  = {np.max(np.abs(np.subtract(c_tj, c_sp))):.2e}")
    base = best["taylorjit"]
    print("\nevent overhead (with / without events):")
    print(f"  taylorjit compiled event      {best['taylorjit + event (compiled)'] / base:.2f}x")
    print(f"  taylorjit nt_event + callback {best['taylorjit + nt_event (py callback)'] / base:.2f}x")
    print(f"  taylorjit t_event + callback  {best['taylorjit + t_event (py callback)'] / base:.2f}x")
    if "heyoka" in best:
        hb = best["heyoka"]
        print(f"  heyoka nt_event + callback    {best['heyoka + nt_event (py callback)'] / hb:.2f}x")
        print(f"  heyoka t_event + callback     {best['heyoka + t_event (py callback)'] / hb:.2f}x")
    if r_sp:
        print(f"  scipy DOP853                  {r_sp['scipy DOP853 + event'] / r_sp['scipy DOP853']:.2f}x")
    if "heyoka" in best:
        print("\ntaylorjit / heyoka (lower is better for taylorjit):")
        print(f"  no events                     {best['taylorjit'] / best['heyoka']:.2f}")
        for kind in ("nt_event", "t_event"):
            tjt = best[f"taylorjit + {kind} (py callback)"]
            hyt = best[f"heyoka + {kind} (py callback)"]
            print(f"  {kind + ' + python callback':29s} {tjt / hyt:.2f}")
        print(f"  compiled event vs heyoka nt   "
              f"{best['taylorjit + event (compiled)'] / best['heyoka + nt_event (py callback)']:.2f}")
    if r_sp:
        print(f"\nscipy DOP853 + event / taylorjit + event: "
              f"{r_sp['scipy DOP853 + event'] / best['taylorjit + event (compiled)']:.1f}x")
    sc = bench_step_callbacks()
    print("\nstep callbacks (a Python callback after every step, no events):")
    for k, v in sc.items():
        print(f"  {k:36s} {v * 1e3:9.3f} ms")
    if len(sc) == 2:
        print(f"  taylorjit / heyoka            "
              f"{sc['taylorjit + step callback'] / sc['heyoka + step callback']:.2f}")


if __name__ == "__main__":
    main()
