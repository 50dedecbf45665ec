"""The tiered engine: integrators start on the compact VM and switch to the unrolled
kernel built in the background, at a step boundary, without changing a bit.

* A switch in the middle of a run (forced at a known chunk by a stand-in for the
  background build) gives the same state, time, Taylor coefficients, step
  statistics, dense and continuous output, grid states and event times as a run
  that never switched -- scalar, batch, variational and event integrators.
* The real background build: a small never-seen system starts on a quick
  (unoptimised) build of its unrolled kernel and moves to the optimised one; a
  bigger one starts on the VM; both end on the optimised kernel with identical
  results (the quick build's bits against the optimised build's on random
  systems too); a failed build warns once and
  the run goes on; ``TAYLORJIT_TIERING=0`` turns it off.
* Processes: two cold processes building the same kernel at once both succeed
  with identical results; a process killed while building leaves no broken cache
  entry; a process that exits during a build exits.
"""
import ctypes
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import taylorjit as tj
from taylorjit._integrate import batch as _batch, integrator as _integrator, odesys as _odesys, stepper as S
from taylorjit._codegen import cache as _cache, kernel as _kernel, tiering as _tiering
from taylorjit._codegen import unroll as _unroll
from taylorjit._codegen.decompose import decompose
from taylorjit._codegen.tiering import TierWarning

from _taylor_ref import random_expressions

X, V = tj.make_vars("x", "v")
Y = tj.var("y")


class Gate:
    """Stands in for a background build: not ready for ``after`` polls, then done."""

    def __init__(self, kernel, after):
        self.kernel = kernel
        self.after = after
        self.polls = 0
        self.state = "running"

    def poll(self):
        self.polls += 1
        if self.polls > self.after:
            self.state = "done"
            return self.kernel
        return None

    @property
    def settled(self):
        return self.state == "done"

    claim = _tiering.Upgrade.claim


def _fast(ta):
    iw = ta._iw if ta._iw.ndim == 1 else ta._iw[0]
    return _kernel.get_kernel(ta._kernel.decomposition, ode=True, kind="unrolled",
                              order=ta.order, full=int(iw[S.I_FULL]))


def _pair(cls, sys_, x0, after=3, **kw):
    """(an integrator that switches to the unrolled kernel after ``after`` polls, one
    that stays on the VM)."""
    ref = cls(sys_, x0, compact=True, **kw)
    ta = cls(sys_, x0, compact=True, **kw)
    ta._upgrade = Gate(_fast(ta), after)
    return ta, ref


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.array_equal(a.view(np.uint64) if a.dtype == float else a,
                                                  b.view(np.uint64) if b.dtype == float else b)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(_integrator, "_TIER_CHUNK", 100)
    monkeypatch.setattr(_batch, "_TIER_ROUNDS", 50)


PEND = [(X, V), (V, -9.8 * tj.sin(X))]


def test_switch_mid_propagation_is_bit_identical(small_chunks):
    ta, ref = _pair(tj.TaylorAdaptive, PEND, [0.05, 0.025])
    ra, rb = ta.propagate_until(1000.0), ref.propagate_until(1000.0)
    assert ta._kernel.kind == "unrolled" and ref._kernel.kind == "compact"
    assert ta._upgrade is None and ta._iw[S.I_LIGHT] == 2        # the fused step now runs
    assert tuple(ra) == tuple(rb) and ra.n_steps == 4801
    assert _same(ta.state, ref.state) and _same(ta.tc, ref.tc)
    assert ta.time == ref.time and ta.dtime == ref.dtime
    assert _same(ta.update_d_output(999.9), ref.update_d_output(999.9))
    # and back, on the fast kernel
    ta.propagate_until(0.0)
    ref.propagate_until(0.0)
    assert _same(ta.state, ref.state)
    assert np.max(np.abs(ta.state - [0.05, 0.025])) < 1e-13


def test_switch_with_outputs_is_bit_identical(small_chunks):
    ta, ref = _pair(tj.TaylorAdaptive, PEND, [0.05, 0.025])
    ca = ta.propagate_until(300.0, c_output=True).c_output
    cb = ref.propagate_until(300.0, c_output=True).c_output
    ts = np.linspace(0.0, 300.0, 3001)
    assert _same(ca(ts), cb(ts))
    ta, ref = _pair(tj.TaylorAdaptive, PEND, [0.05, 0.025])
    grid = np.linspace(0.0, 500.0, 1001)
    ga, gb = ta.propagate_grid(grid), ref.propagate_grid(grid)
    assert _same(ga.states, gb.states) and ga.n_steps == gb.n_steps


def test_switch_in_step_loop_is_bit_identical():
    ta, ref = _pair(tj.TaylorAdaptive, PEND, [0.05, 0.025], after=5)
    for _ in range(20):
        (oa, ha), (ob, hb) = ta.step(), ref.step()
        assert oa == ob and ha == hb
    assert ta._kernel.kind == "unrolled"
    assert _same(ta.state, ref.state) and _same(ta.tc, ref.tc)


def test_switch_with_events_is_bit_identical(small_chunks):
    sec = tj.Event(X, direction="positive")
    hit = []
    stop = tj.Event(V - 0.0249, terminal=True, callback=lambda ta, d: hit.append(ta.time) or True)
    ta, ref = _pair(tj.TaylorAdaptive, PEND, [0.05, 0.025], events=[sec, stop])
    ra, rb = ta.propagate_until(200.0), ref.propagate_until(200.0)
    assert ta._kernel.kind == "unrolled"
    assert ra.outcome == rb.outcome and ra.n_steps == rb.n_steps
    assert len(ta.event_log) > 50 and ta.event_log == ref.event_log
    assert len(hit) > 50 and hit[: len(hit) // 2] == hit[len(hit) // 2:]   # both runs logged
    assert _same(ta.state, ref.state)


def test_switch_in_batch_is_bit_identical(small_chunks):
    x0 = np.array([[0.05, 0.04, -0.03, 0.2], [0.025, 0.0, 0.01, -0.1]])
    ta, ref = _pair(tj.TaylorAdaptiveBatch, PEND, x0)
    ra, rb = ta.propagate_until(700.0), ref.propagate_until(700.0)
    assert ta._kernel.kind == "unrolled"
    assert list(ra.n_steps) == list(rb.n_steps)
    assert _same(ta.state, ref.state) and _same(ta.tc, ref.tc)


def test_switch_in_variational_system_is_bit_identical(small_chunks):
    vsys = tj.var_ode_sys(PEND, "vars", order=2)
    ta, ref = _pair(tj.TaylorAdaptive, vsys, [0.05, 0.025])
    ta.propagate_until(400.0)
    ref.propagate_until(400.0)
    assert ta._kernel.kind == "unrolled" and _same(ta.state, ref.state)


# ----------------------------------------------------------------------------- the real build
@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """An empty kernel cache (the VM kept from the session cache) and no builds."""
    _kernel.vm_jet()
    monkeypatch.setenv("TAYLORJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_cache, "_DIR_CACHE", {})
    monkeypatch.setattr(_kernel, "_MEMO", {k: v for k, v in _kernel._MEMO.items() if k[0] == "vm"})
    monkeypatch.setattr(_unroll, "_LOADED", {})
    monkeypatch.setattr(_tiering, "_jobs", {})
    monkeypatch.delenv("TAYLORJIT_TIERING", raising=False)
    monkeypatch.delenv("TAYLORJIT_KERNEL", raising=False)
    return tmp_path


@pytest.fixture
def background(fresh, monkeypatch):
    """Small systems too take the background path (normally compiled at once)."""
    monkeypatch.setattr(_odesys, "SYNC_UNROLL_MAX", 0)
    return fresh


def test_small_system_starts_on_a_quick_build_and_moves_up(fresh):
    sys_ = [(X, V), (V, -9.625 * tj.sin(X))]
    ta = tj.TaylorAdaptive(sys_, [0.5, 0.0])
    # the unrolled kernel at once, compiled without optimisation (not cached on disk);
    # the optimised one builds in the background
    assert ta._kernel.kind == "unrolled" and ta._kernel.quick and ta._plain is not None
    assert ta._upgrade is not None
    assert ta._kernel.jet.keep[0] is None               # no VM loaded for it
    assert not list(fresh.rglob("*_q.o"))
    ref = tj.TaylorAdaptive(sys_, [0.5, 0.0], compact=True)
    ra, rb = ta.propagate_until(10.0), ref.propagate_until(10.0)
    assert tuple(ra) == tuple(rb) and _same(ta.state, ref.state) and _same(ta.tc, ref.tc)
    copy = pickle.loads(pickle.dumps(ta))               # a quick kernel pickles too
    assert _tiering.wait_all(120)
    for t in (250.0, -3.0):
        ra, rb = ta.propagate_until(t), ref.propagate_until(t)
        assert tuple(ra) == tuple(rb)
        assert _same(ta.state, ref.state) and _same(ta.tc, ref.tc) and ta.dtime == ref.dtime
    assert ta._kernel.kind == "unrolled" and not ta._kernel.quick and ta._upgrade is None
    ra, rb = ta.propagate_until(20.0, max_steps=7), ref.propagate_until(20.0, max_steps=7)
    assert ra.outcome == tj.Outcome.step_limit and tuple(ra) == tuple(rb)
    ra = ta.propagate_until(30.0, max_delta_t=0.05)
    rb = ref.propagate_until(30.0, max_delta_t=0.05)
    assert tuple(ra) == tuple(rb) and _same(ta.state, ref.state)
    # the unpickled copy goes on from t = 10 with the same bits
    copy.propagate_until(250.0)
    ref2 = tj.TaylorAdaptive(sys_, [0.5, 0.0], compact=True)
    ref2.propagate_until(10.0)
    ref2.propagate_until(250.0)
    assert _same(copy.state, ref2.state)
    # cached for the next integrator (and process): optimised at once, nothing to build
    assert list(fresh.rglob("tj_unrolled_*.o"))
    tb = tj.TaylorAdaptive(sys_, [0.1, 0.0])
    assert not tb._kernel.quick and tb._upgrade is None
    # the full jet entry binds the VM when first used (another order: the VM computes it)
    tc = np.zeros((ta._kernel.n_slots, 6))
    tc[:2, 0] = [0.5, 0.0]
    ta._kernel(tc, 5, np.zeros(0), 0.0, 1)
    assert ta._kernel.jet.keep[0] is not None
    tc2 = np.zeros_like(tc)
    tc2[:2, 0] = [0.5, 0.0]
    ref._kernel(tc2, 5, np.zeros(0), 0.0, 1)
    assert _same(tc, tc2)


def test_small_system_without_background_builds_gets_the_optimised_kernel(fresh, monkeypatch):
    monkeypatch.setenv("TAYLORJIT_TIERING", "0")
    ta = tj.TaylorAdaptive([(X, V), (V, -9.375 * tj.sin(X))], [0.5, 0.0])
    assert ta._kernel.kind == "unrolled" and not ta._kernel.quick and ta._upgrade is None


_STEP_FN = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_double,
                            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_double, ctypes.c_double,
                            ctypes.c_double, ctypes.c_double)


@settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data(), order=st.sampled_from([2, 3, 8, 20]))
def test_quick_build_computes_the_optimised_bits(fresh, data, order):
    """The quick build (no LLVM optimisation) against the optimised build of the same
    IR, on random systems: the full jet, the light entry and both fused steps."""
    e1, p1 = data.draw(random_expressions(max_ops=6, with_pars=True, with_time=True))
    e2, _ = data.draw(random_expressions(max_ops=6, with_pars=True, with_time=True, point=p1))
    d = decompose([e1, e2], [X, Y])
    try:
        q = _kernel.quick_kernel(d, order)
    except _unroll.UnsupportedUnroll:
        return
    k = _kernel.get_kernel(d, ode=True, kind="unrolled", order=order)
    if not q.quick:
        return                  # drawn before: the optimised kernel was already loaded
    assert not k.quick and k.jet is not q.jet
    pars = np.array([0.7, -1.3])
    tcs = []
    for kern in (q, k):
        tc = kern.new_tc(order)
        tc[:2, 0] = [p1["x"], p1["y"]]
        kern(tc, order, pars, 0.3, 1)
        tcs.append(tc)
    assert _same(tcs[0], tcs[1])
    if not k.jet.light_addr:
        return
    for addr in ("step_addr", "stepr_addr"):
        if not getattr(k.jet, addr):
            continue
        outs = []
        for kern in (q, k):
            tc, xnew = kern.new_tc(order), np.zeros(2)
            st_ = np.array([p1["x"], p1["y"]])
            h = _STEP_FN(getattr(kern.jet, addr))(tc.ctypes.data, pars.ctypes.data, 0.3,
                                                  st_.ctypes.data, xnew.ctypes.data, 0.5,
                                                  S.rho_factor(order), 1.0 / order,
                                                  1.0 / (order - 1))
            outs.append((np.array([h]), xnew, tc))
        for a, b in zip(*outs):
            assert _same(a, b)


def test_default_integrator_moves_to_the_unrolled_kernel(background):
    sys_ = [(X, V), (V, -9.75 * tj.sin(X) - 0.125 * V)]
    ta = tj.TaylorAdaptive(sys_, [0.5, 0.0])
    assert ta._kernel.kind == "compact" and ta._upgrade is not None
    tb = tj.TaylorAdaptiveBatch(sys_, [[0.5, 0.25], [0.0, 0.0]])
    assert tb._upgrade is ta._upgrade                   # one build for both
    assert _tiering.wait_all(120)
    ref = tj.TaylorAdaptive(sys_, [0.5, 0.0], compact=True)
    ta.propagate_until(50.0)
    ref.propagate_until(50.0)
    tb.propagate_until(50.0)
    assert ta._kernel.kind == "unrolled" and tb._kernel.kind == "unrolled"
    assert _same(ta.state, ref.state) and _same(tb.state[:, 0], ref.state)
    assert list(background.rglob("tj_unrolled_*.o"))     # cached for the next process
    # a later integrator of the system loads it at once
    assert tj.TaylorAdaptive(sys_, [0.1, 0.0])._kernel.kind == "unrolled"


def test_failed_build_warns_once_and_keeps_the_vm(background, monkeypatch):
    real = _odesys.get_kernel

    def broken(d, ode=False, kind="compact", order=None, full=0):
        if kind == "unrolled":
            raise MemoryError("no room for the code")
        return real(d, ode=ode, kind=kind, order=order, full=full)

    monkeypatch.setattr(_odesys, "get_kernel", broken)
    sys_ = [(X, V), (V, -9.5 * tj.sin(X))]
    ta = tj.TaylorAdaptive(sys_, [0.5, 0.0])
    assert _tiering.wait_all(60)
    with pytest.warns(TierWarning, match="MemoryError"):
        ta.propagate_until(10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ta.propagate_until(20.0)                        # once only
    ref = tj.TaylorAdaptive(sys_, [0.5, 0.0], compact=True)
    ref.propagate_until(10.0)
    ref.propagate_until(20.0)
    assert ta._kernel.kind == "compact" and _same(ta.state, ref.state)


def test_tiering_can_be_turned_off(background, monkeypatch):
    monkeypatch.setenv("TAYLORJIT_TIERING", "0")
    ta = tj.TaylorAdaptive([(X, V), (V, -9.25 * tj.sin(X))], [0.5, 0.0])
    assert ta._upgrade is None and ta._kernel.kind == "compact"
    ta.propagate_until(10.0)
    assert ta._kernel.kind == "compact"


def test_pinned_kinds_do_not_tier():
    assert tj.TaylorAdaptive(PEND, [0.05, 0.025], compact=True)._upgrade is None
    assert tj.TaylorAdaptive(PEND, [0.05, 0.025], compact=False)._upgrade is None


# ----------------------------------------------------------------------------- processes
_CHILD = textwrap.dedent("""
    import sys, numpy as np, taylorjit as tj
    x, v = tj.make_vars("x", "v")
    c = float(sys.argv[1])
    ta = tj.TaylorAdaptive([(x, v), (v, -c * tj.sin(x) - 0.01 * v * v)], [0.3, 0.0],
                           compact=False if sys.argv[2] == "pinned" else None)
    if sys.argv[2] == "exit":
        print("built", flush=True)
        sys.exit(0)
    ta.propagate_until(20.0)
    print(ta._kernel.kind, ta.state.tobytes().hex(), flush=True)
""")

_BIG_CHILD = textwrap.dedent("""
    import sys, taylorjit as tj
    xs = tj.make_vars(*[f"x{i}" for i in range(16)])
    c = float(sys.argv[1])
    rhs = [tj.sin(xs[(i + 1) % 16] * c) * tj.exp(-xs[i] * xs[(i + 5) % 16]) + tj.cos(xs[i - 3])
           for i in range(16)]
    ta = tj.TaylorAdaptive(list(zip(xs, rhs)), [0.01 * i for i in range(16)])
    print("building", flush=True)
    import time; time.sleep(60)
""")


def _env():
    env = dict(os.environ)
    env.pop("TAYLORJIT_TIERING", None)
    env.pop("TAYLORJIT_KERNEL", None)
    return env


def test_two_cold_processes_build_the_same_kernel(tj_cache_dir):
    c = 9.0 + (time.time_ns() % 10**9) * 1e-12        # a system no earlier run has built
    cmd = [sys.executable, "-c", _CHILD, repr(c), "pinned"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_env()) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    lines = [o[0].split() for o in outs]
    assert lines[0][0] == "unrolled" and lines[0] == lines[1]
    # a third process loads the entry both wrote, with the same bits
    out = subprocess.run([sys.executable, "-c", _CHILD, repr(c), "default"], capture_output=True,
                         text=True, timeout=300, env=_env())
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == lines[0]


def test_exit_during_a_background_build(tj_cache_dir):
    c = 9.0 + (time.time_ns() % 10**9) * 1e-12
    out = subprocess.run([sys.executable, "-c", _CHILD, repr(c), "exit"], capture_output=True,
                         text=True, timeout=300, env=_env())
    assert out.returncode == 0 and out.stdout.strip() == "built", out.stderr[-2000:]
    assert "Traceback" not in out.stderr


def test_killed_background_build_leaves_no_broken_entry(tj_cache_dir):
    c = 1.0 + (time.time_ns() % 10**9) * 1e-12
    p = subprocess.Popen([sys.executable, "-c", _BIG_CHILD, repr(c)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=_env())
    assert p.stdout.readline().strip() == "building"
    time.sleep(0.5)                                     # inside the trace or LLVM
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=60)
    before = {f.name: f.stat().st_size for f in _cache.cache_dir().glob("*.o")}
    # every object file left in the cache is whole: the next process loads or rebuilds it
    code = _BIG_CHILD.replace('print("building", flush=True)\nimport time; time.sleep(60)',
                              "")
    code += textwrap.dedent("""
        from taylorjit._codegen import tiering as _tiering
        assert _tiering.wait_all(600)
        ta.propagate_until(0.5)
        print(ta._kernel.kind)
    """)
    out = subprocess.run([sys.executable, "-c", code, repr(c)], capture_output=True, text=True,
                         timeout=900, env=_env())
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "unrolled"
    for name, size in before.items():
        assert size > 0, name


_FORK_CHILD = """
import os, threading, time, warnings
from taylorjit._codegen import tiering as _tiering
gate = threading.Event()
up = _tiering.submit(("fork-test", time.time_ns()), lambda: gate.wait(30) and None, "a test")
pid = os.fork()
if pid == 0:                        # the child: the build is over, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ok = up.claim() == (None, None) and up.wait(1) is None
    os._exit(0 if ok else 1)
gate.set()
_, status = os.waitpid(pid, 0)
assert os.WEXITSTATUS(status) == 0, "child"
assert up.wait(30) is None and up.state == "done"
print("ok")
"""


def test_build_pending_at_fork_ends_quietly_in_the_child(monkeypatch):
    # in a fresh interpreter: the test process may have imported multithreaded libraries
    # (JAX) that make a fork of itself unsafe
    monkeypatch.delenv("TAYLORJIT_TIERING", raising=False)
    env = _env()
    env.pop("TAYLORJIT_TIERING", None)
    out = subprocess.run([sys.executable, "-c", _FORK_CHILD], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


# ----------------------------------------------------------------------------- plain loops
def _quick_pair(cls, fresh, sys_, x0, after=3, **kw):
    """(an integrator on the quick build of its unrolled kernel that switches to the
    optimised one after ``after`` polls, one on the VM)."""
    ta = cls(sys_, x0, **kw)
    assert ta._kernel.quick
    d = ta._kernel.decomposition
    ta._upgrade = Gate(_kernel.get_kernel(d, ode=True, kind="unrolled", order=ta.order), after)
    return ta, cls(sys_, x0, compact=True, **kw)


def test_plain_loop_switches_between_chunks(fresh, small_chunks):
    sys_ = [(X, V), (V, -9.5625 * tj.sin(X) - 0.03125 * V)]
    ta, ref = _quick_pair(tj.TaylorAdaptive, fresh, sys_, [0.5, 0.0])
    ra, rb = ta.propagate_until(600.0), ref.propagate_until(600.0)
    assert not ta._kernel.quick and ta._upgrade is None and ra.n_steps > 1000
    assert tuple(ra) == tuple(rb)
    assert _same(ta.state, ref.state) and _same(ta.tc, ref.tc) and ta.dtime == ref.dtime
    ra, rb = ta.propagate_until(0.0, max_steps=77), ref.propagate_until(0.0, max_steps=77)
    assert ra.outcome == tj.Outcome.step_limit and tuple(ra) == tuple(rb)
    assert _same(ta.state, ref.state)


def test_batch_plain_propagation_equals_the_compiled_batch_loop(fresh, small_chunks):
    sys_ = [(X, V), (V, -9.4375 * tj.sin(X))]
    x0 = np.array([[0.05, 0.04, -0.03, 0.2, 1.0], [0.025, 0.0, 0.01, -0.1, 0.5]])
    ta, ref = _quick_pair(tj.TaylorAdaptiveBatch, fresh, sys_, x0, after=2)
    assert ta._plain_blocks() is not None
    tl = np.array([300.0, -40.0, 250.0, 0.0, 123.5])
    for kw in ({}, {"max_delta_t": [0.1, 0.2, 0.05, 1.0, 0.3]}, {"max_steps": 40}):
        ra, rb = ta.propagate_until(tl, **kw), ref.propagate_until(tl, **kw)
        assert [o for o in ra.outcome] == [o for o in rb.outcome]
        for a, b in zip(list(ra)[1:4], list(rb)[1:4]):
            assert _same(a, b)
        assert _same(ta.state, ref.state) and _same(ta.tc, ref.tc)
        assert _same(ta.dtime, ref.dtime) and _same(ta.last_h, ref.last_h)
        tl = tl[::-1] * 0.5
    assert not ta._kernel.quick and ta._upgrade is None
    # a copy and an unpickled integrator have blocks of their own arrays
    for dup in (__import__("copy").deepcopy, lambda a: pickle.loads(pickle.dumps(a))):
        other = dup(ta)
        ra, rb = other.propagate_for(10.0), ta.propagate_for(10.0)
        assert _same(other.state, ta.state) and list(ra.n_steps) == list(rb.n_steps)
    # each lane of a default batch integrator equals the scalar run of its initial condition
    tb = tj.TaylorAdaptiveBatch(sys_, x0)
    tb.propagate_until(77.0)
    for j in range(x0.shape[1]):
        s = tj.TaylorAdaptive(sys_, x0[:, j], compact=True)
        s.propagate_until(77.0)
        assert _same(s.state, tb.state[:, j]) and _same(s.tc, tb.tc[:, :, j])


def test_plain_grid_and_continuous_output_switch_between_chunks(fresh, small_chunks):
    sys_ = [(X, V), (V, -9.3125 * tj.sin(X) - 0.0625 * V)]
    ta, ref = _quick_pair(tj.TaylorAdaptive, fresh, sys_, [0.5, 0.0], after=2)
    ca = ta.propagate_until(400.0, c_output=True)
    cb = ref.propagate_until(400.0, c_output=True)
    assert not ta._kernel.quick and ca.n_steps > 1000 and tuple(ca)[:4] == tuple(cb)[:4]
    assert _same(ca.c_output.tcs, cb.c_output.tcs) and _same(ca.c_output.times,
                                                            cb.c_output.times)
    ta, ref = _quick_pair(tj.TaylorAdaptive, fresh, [(X, V), (V, -9.1875 * tj.sin(X))],
                          [0.5, 0.0], after=2)
    grid = np.linspace(0.0, 500.0, 2001)
    ga, gb = ta.propagate_grid(grid), ref.propagate_grid(grid)
    assert not ta._kernel.quick and tuple(ga)[:4] == tuple(gb)[:4]
    assert _same(ga.states, gb.states) and _same(ta.tc, ref.tc)
