"""Event-detection overhead: Hénon–Heiles to t = 2000 with a Poincaré-section event.

Problem: x'' = -x - 2 x y, y'' = -y - x^2 + y^2, x0 = [x, y, vx, vy] = [-0.2, 0, 0, 0.4];
section x = 0 crossed upwards (non-terminal event).  Measured side by side in one
run, on the same machine, warm (kernels compiled / loaded beforehand):

* taylorjit without events, with a compiled-only section event (crossings recorded in
  ``ta.event_log``), and with a Python callback;
* heyoka (if installed) without events and with ``nt_event`` + Python callback;
* scipy ``solve_ivp(method="DOP853", events=...)`` at rtol = 1e-13 (if installed).

Prints absolute times, the with/without ratio of each library, and the ratios against
heyoka.  Run: ``python benchmarks/bench_events.py``.
"""
from __future__ import annotations

import platform
import time

import numpy as np

import taylorjit as tj
from taylorjit._events import Event
from taylorjit._integrator import TaylorAdaptive

T_END = 2000.0
X0 = [-0.2, 0.0, 0.0, 0.4]
REPEAT = 7


def best(fn, repeat=REPEAT):
    ts = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), out


def tj_system():
    x, y, vx, vy = tj.make_vars("x", "y", "vx", "vy")
    return [(x, vx), (y, vy), (vx, -x - 2 * x * y), (vy, -y - x * x + y * y)], x


def bench_taylorjit():
    """Integrators are built once (like heyoka's below); each run resets time, state,
    the event log and the cooldowns, so the timings are propagation only."""
    sys, x = tj_system()
    res = {}
    out = []
    ta0 = TaylorAdaptive(sys, X0, compact=False)
    ta1 = TaylorAdaptive(sys, X0, compact=False, events=[Event(x, direction="positive")])
    ev = Event(x, direction="positive", callback=lambda ta, t, d: out.append(t))
    ta2 = TaylorAdaptive(sys, X0, compact=False, events=[ev])

    def run(ta):
        ta.time = 0.0
        ta.state[:] = X0
        ta.event_log.clear()
        out.clear()
        if ta.events:
            ta.reset_cooldowns()
        ta.propagate_until(T_END)
        return [t for _, t, _ in ta.event_log] or list(out)

    for ta in (ta0, ta1, ta2):
        run(ta)                          # compile / load from cache
    res["taylorjit"], _ = best(lambda: run(ta0))
    res["taylorjit + event (compiled)"], cr = best(lambda: run(ta1))
    res["taylorjit + event (py callback)"], cr2 = best(lambda: run(ta2))
    assert cr == cr2
    return res, cr


def bench_heyoka():
    try:
        import heyoka as hy
    except ImportError:
        return {}, None
    x, y, vx, vy = hy.make_vars("x", "y", "vx", "vy")
    sys = [(x, vx), (y, vy), (vx, -x - 2 * x * y), (vy, -y - x * x + y * y)]
    ta0 = hy.taylor_adaptive(sys, X0)
    out = []
    ev = hy.nt_event(x, callback=lambda ta, t, d: out.append(t),
                     direction=hy.event_direction.positive)
    ta1 = hy.taylor_adaptive(sys, X0, nt_events=[ev])

    def run(ta):
        ta.time = 0.0
        ta.state[:] = X0
        out.clear()
        ta.propagate_until(T_END)
        return list(out)

    res = {}
    res["heyoka"], _ = best(lambda: run(ta0))
    res["heyoka + nt_event (py callback)"], cr = best(lambda: run(ta1))
    return res, cr


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
    res = {}
    res["scipy DOP853"], _ = best(lambda: solve_ivp(f, (0, T_END), X0, **kw), repeat=2)
    res["scipy DOP853 + event"], sol = best(lambda: solve_ivp(f, (0, T_END), X0, events=sec, **kw),
                                            repeat=2)
    return res, list(sol.t_events[0])


def main():
    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()}, "
          f"python {platform.python_version()}")
    print(f"Hénon–Heiles to t = {T_END}, section x = 0 upwards, best of {REPEAT}\n")
    r_tj, c_tj = bench_taylorjit()
    r_hy, c_hy = bench_heyoka()
    r_sp, c_sp = bench_scipy()
    rows = {**r_tj, **r_hy, **r_sp}
    for k, v in rows.items():
        print(f"  {k:34s} {v * 1e3:9.3f} ms")
    print()
    print(f"  crossings: taylorjit {len(c_tj)}"
          + (f", heyoka {len(c_hy)}" if c_hy is not None else "")
          + (f", scipy {len(c_sp)}" if c_sp is not None else ""))
    if c_hy is not None and len(c_hy) == len(c_tj):
        print(f"  max |t_taylorjit - t_heyoka| = {np.max(np.abs(np.subtract(c_tj, c_hy))):.2e}")
    if c_sp is not None and len(c_sp) == len(c_tj):
        print(f"  max |t_taylorjit - t_scipy|  = {np.max(np.abs(np.subtract(c_tj, c_sp))):.2e}")
    print("\nevent overhead (with / without events):")
    print(f"  taylorjit compiled event   {r_tj['taylorjit + event (compiled)'] / r_tj['taylorjit']:.2f}x")
    print(f"  taylorjit python callback  {r_tj['taylorjit + event (py callback)'] / r_tj['taylorjit']:.2f}x")
    if r_hy:
        print(f"  heyoka python callback     "
              f"{r_hy['heyoka + nt_event (py callback)'] / r_hy['heyoka']:.2f}x")
    if r_sp:
        print(f"  scipy DOP853               {r_sp['scipy DOP853 + event'] / r_sp['scipy DOP853']:.2f}x")
    if r_hy:
        print("\ntaylorjit / heyoka (lower is better for taylorjit):")
        print(f"  no events                  {r_tj['taylorjit'] / r_hy['heyoka']:.2f}")
        print(f"  with section event         "
              f"{r_tj['taylorjit + event (compiled)'] / r_hy['heyoka + nt_event (py callback)']:.2f}"
              " (compiled) / "
              f"{r_tj['taylorjit + event (py callback)'] / r_hy['heyoka + nt_event (py callback)']:.2f}"
              " (py callback)")
    if r_sp:
        print(f"\nscipy DOP853 + event / taylorjit + event: "
              f"{r_sp['scipy DOP853 + event'] / r_tj['taylorjit + event (compiled)']:.1f}x")


if __name__ == "__main__":
    main()
