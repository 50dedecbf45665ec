"""Unrolled kernels (taylorjit._codegen.unroll): straight-line LLVM code traced from the
registry's kernels must give the compact VM's results bit for bit, fall back to
the VM for calls it was not built for, and survive the disk cache."""
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import taylorjit as tj
from taylorjit._codegen import cache as _cache, kernel as _kernel, unroll as _unroll
from taylorjit._integrate import stepper as S
from taylorjit._codegen.decompose import decompose
from taylorjit._symbolic.expr import var
from taylorjit._integrate.integrator import TaylorAdaptive
from taylorjit._codegen.kernel import get_kernel
from taylorjit._symbolic.registry import FUNCTIONS

from _taylor_ref import PARS, TIME, random_expressions
from test_kernels import _bitwise, run_expr, run_ode

X, Y = var("x"), var("y")


def _rows(k, ode):
    """The rows an unrolled kernel guarantees: state rows (ODE) and outputs."""
    d = k.decomposition
    return sorted(set(d.outputs) | (set(range(d.n_in)) if ode else set()))


def _system(draw):
    e1, p1 = draw(random_expressions(max_ops=6, with_pars=True, with_time=True))
    e2, _ = draw(random_expressions(max_ops=6, with_pars=True, with_time=True, point=p1))
    return [e1, e2], [p1["x"], p1["y"]]


@settings(max_examples=25, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), full=st.sampled_from([0, 1]))
def test_unrolled_equals_compact_on_random_systems(data, full):
    rhs, x0 = _system(data.draw)
    d = decompose(rhs, [X, Y])
    order = 15
    unr = get_kernel(d, ode=True, kind="unrolled", order=order, full=full)
    assert unr.kind == "unrolled"
    ref = run_ode(get_kernel(d, ode=True, kind="compact"), x0, order, full=full)
    got = run_ode(unr, x0, order, full=full)
    r = _rows(unr, True)
    assert _bitwise(got[r], ref[r]) and _bitwise(got[:, 0], ref[:, 0])
    rows = [[x0[0], 0.3, -0.1], [x0[1], -0.7]]
    e_unr = get_kernel(d, ode=False, kind="unrolled", order=12, full=1)
    r = _rows(e_unr, False)
    assert _bitwise(run_expr(e_unr, rows, 12)[r], run_expr(get_kernel(d, ode=False), rows, 12)[r])


def _point(f):
    return [0.5 * (lo + hi) + 0.1 * i for i, (lo, hi) in enumerate(f.domain[:1] * f.nargs)]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_unrolls_bit_for_bit(name):
    """Every registered function traces above order 0 (no UnsupportedUnroll) and
    its coefficients to order 30 equal the VM's."""
    f = FUNCTIONS[name]
    args = [X, Y, X + Y][:f.nargs]
    expr = f(*args) * (1.0 + X) if f.nargs == 1 else f(*args) + X * Y
    d = decompose([expr], [X, Y])
    pt = _point(f)
    rows = [[pt[0], 0.25, -0.125, 0.0625], [pt[-1] if f.nargs > 1 else 0.3, 0.5, 0.1]]
    ref = run_expr(get_kernel(d, ode=False), rows, 30)
    p = _unroll.trace_program(d, False, 30, 1)      # raises if an operation refuses
    assert p.nodes
    unr = get_kernel(d, ode=False, kind="unrolled", order=30, full=1)
    r = _rows(unr, False)
    assert _bitwise(run_expr(unr, rows, 30)[r], ref[r])


def test_other_calls_fall_back_to_the_vm():
    d = decompose([tj.sin(X) * Y, X - Y * Y], [X, Y])
    unr = get_kernel(d, ode=True, kind="unrolled", order=10, full=0)
    vm = get_kernel(d, ode=True, kind="compact")
    for order, full in ((10, 1), (12, 0), (3, 1), (0, 1)):
        assert _bitwise(run_ode(unr, [0.3, -0.2], order, full=full),
                        run_ode(vm, [0.3, -0.2], order, full=full))
    # a table with extra columns is not the layout the code was built for: VM too
    tc = np.zeros((unr.n_slots, 14))
    tc[:2, 0] = [0.3, -0.2]
    tc2 = tc.copy()
    unr.jet(tc, 10, np.asarray(PARS), TIME, 0, unr.prog, unr.cvals)
    vm.jet(tc2, 10, np.asarray(PARS), TIME, 0, vm.prog, vm.cvals)
    assert _bitwise(tc, tc2)


def test_unrolled_object_code_is_cached_and_checked(tmp_path, monkeypatch):
    _kernel.vm_jet()            # loaded from the session cache (not recompiled in tmp_path)
    monkeypatch.setenv("TAYLORJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_cache, "_DIR_CACHE", {})
    vm_only = {k: v for k, v in _kernel._MEMO.items() if k[0] == "vm"}   # no VM recompile
    monkeypatch.setattr(_kernel, "_MEMO", dict(vm_only))
    monkeypatch.setattr(_unroll, "_LOADED", {})
    d = decompose([tj.exp(X * 0.8125) - Y, X * Y + 0.4375], [X, Y])
    assert not _unroll.is_cached(d, True, 9, 0)
    assert _kernel.auto_kind(d, True, order=9, full=0) == "compact"
    ref = run_ode(get_kernel(d, ode=True, kind="unrolled", order=9), [0.1, 0.2], 9, full=0)[:2]
    objs = list(_cache.cache_dir().glob("tj_unrolled_*.o"))
    assert len(objs) == 1 and _unroll.is_cached(d, True, 9, 0)
    assert _kernel.auto_kind(d, True, order=9, full=0) == "unrolled"
    good = objs[0].read_bytes()
    for damage in (good[: len(good) // 2], good[:100] + b"x" + good[101:], b""):
        objs[0].write_bytes(damage)
        monkeypatch.setattr(_kernel, "_MEMO", dict(vm_only))
        monkeypatch.setattr(_unroll, "_LOADED", {})
        k = get_kernel(d, ode=True, kind="unrolled", order=9)
        assert _bitwise(run_ode(k, [0.1, 0.2], 9, full=0)[:2], ref)
        assert objs[0].read_bytes() == good        # rebuilt, checksum valid
    monkeypatch.setattr(_kernel, "_MEMO", dict(vm_only))    # loaded from disk, not rebuilt
    monkeypatch.setattr(_unroll, "_LOADED", {})
    monkeypatch.setattr(_unroll, "build_ir", None)
    k = get_kernel(d, ode=True, kind="unrolled", order=9)
    assert _bitwise(run_ode(k, [0.1, 0.2], 9, full=0)[:2], ref)


def test_integrator_unrolled_trajectory_events_and_pickle():
    x, v = tj.make_vars("x", "v")
    sys_ = [(x, v), (v, -9.8 * tj.sin(x))]
    hits = []
    ev = tj.Event(v, callback=lambda ta, t, d: hits.append(t))   # v = 0: turning points
    a = TaylorAdaptive(sys_, [0.5, 0.0], compact=False, events=[ev])
    b = TaylorAdaptive(sys_, [0.5, 0.0], compact=True, events=[tj.Event(v)])
    assert a._kernel.kind == "unrolled" and b._kernel.kind == "compact"
    # the compiled loop calls the kernel's light entry (pointers, no by-value structs)
    assert a._iw[S.I_LIGHT] == 1 and a._jaddr == a._kernel.jet.light_addr != 0
    assert b._iw[S.I_LIGHT] == 0
    ra, rb = a.propagate_until(20.0), b.propagate_until(20.0)
    assert ra.n_steps == rb.n_steps and np.array_equal(a.state, b.state)
    assert len(hits) > 10 and [e[1] for e in b.event_log] == hits
    a = TaylorAdaptive(sys_, [0.5, 0.0], compact=False, events=[tj.Event(v)])
    a.propagate_until(5.0)
    c = pickle.loads(pickle.dumps(a))
    assert c._kernel.kind == "unrolled" and c._iw[S.I_LIGHT] == 1
    c.propagate_until(30.0)
    a.propagate_until(30.0)
    assert np.array_equal(a.state, c.state) and a.event_log == c.event_log


def test_kernel_with_vm_groups_has_no_light_entry():
    """Order 0 of log runs in the VM (a domain check), which needs the jet's full
    arguments: such kernels are called as first-class jets, with the same results."""
    x, v = tj.make_vars("x", "v")
    sys_ = [(x, v), (v, -tj.log(2.0 + tj.sin(x)) * x)]
    a = TaylorAdaptive(sys_, [0.5, 0.0], compact=False)
    b = TaylorAdaptive(sys_, [0.5, 0.0], compact=True)
    assert a._kernel.kind == "unrolled" and a._kernel.jet.light_addr == 0
    assert a._iw[S.I_LIGHT] == 0 and a._jaddr == a._kernel.jet._addr
    ra, rb = a.propagate_until(10.0), b.propagate_until(10.0)
    assert ra.n_steps == rb.n_steps and np.array_equal(a.state, b.state)


@pytest.fixture
def vector_sums(monkeypatch):
    """Blocked sums as <4 x double> code in every unrolled kernel (normally only in
    big ones: ``_unroll.VECTOR_SUMS_MIN_SIZE``; kernel names say which)."""
    monkeypatch.setattr(_unroll, "VECTOR_SUMS_MIN_SIZE", 0)
    _kernel._MEMO.clear()
    yield
    _kernel._MEMO.clear()


@settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_vector_sums_are_bit_identical(data, vector_sums):
    """Lane i of the vector accumulator is the partial sum s_i of the blocked
    order: same operations, same values as the VM; the coefficients they read from
    memory are stored before (a NaN-filled table gives the same result)."""
    rhs, x0 = _system(data.draw)
    rhs[0] = rhs[0] + X * Y + tj.sqrt(2.0 + Y * Y) + (1.5 + X * X) ** -1.5  # psum, pow
    rhs[1] = rhs[1] + tj.atan(X) + tj.log(3.0 + X)            # pwsum (quot_rec, dsum)
    d = decompose(rhs, [X, Y])
    order = 20
    p = _unroll.trace_program(d, True, order, 1, vector_sums=True)
    assert any(nd[0] == "vsum" and nd[2] is not None for nd in p.nodes)
    assert "<4 x double>" in _unroll.build_ir(p, "t", d.n_slots, order, 1)
    unr = get_kernel(d, ode=True, kind="unrolled", order=order, full=1)
    assert unr.kind == "unrolled" and _unroll._vector_sums(d, order)
    ref = run_ode(get_kernel(d, ode=True, kind="compact"), x0, order, full=1)
    r = _rows(unr, True)
    outs = []
    for fill in (0.0, np.nan):
        tc = np.full((unr.n_slots, order + 1), fill)
        tc[:2, 0] = x0
        unr.jet(tc, order, np.asarray(PARS, float), float(TIME), 1, unr.prog, unr.cvals)
        outs.append(tc[r].copy())
    assert _bitwise(outs[0], ref[r]) and _bitwise(outs[1], ref[r])


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_with_vector_sums(name, vector_sums):
    test_every_function_unrolls_bit_for_bit(name)


@settings(max_examples=15, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_many_chunks_read_only_what_earlier_chunks_wrote(data, monkeypatch_chunk):
    """With small chunks every value crosses chunk boundaries; a table pre-filled
    with NaN (only the inputs set, as the expression drivers do) must give the
    zero-filled result.  (A hash-consed product first made in one chunk and
    stored only by a later one was once reloaded before that store.)"""
    rhs, x0 = _system(data.draw)
    rhs.append(tj.atanh(X * Y / 4) + tj.sinh(Y) * tj.tanh(X) + tj.sqrt(2 + Y))
    d = decompose(rhs, [X, Y])
    order = 12
    k = get_kernel(d, ode=False, kind="unrolled", order=order, full=1)
    assert len(_unroll._chunks(_unroll.trace_program(d, False, order, 1), _unroll.CHUNK)) > 3
    outs = []
    for fill in (0.0, np.nan):
        tc = np.full((k.n_slots, order + 1), fill)
        tc[:2, :] = 0.0
        tc[0, :3] = [0.2, 1.0, 0.0]
        tc[1, :3] = [0.3, -2.0, 0.0]
        k.jet(tc, order, np.asarray(PARS, float), float(TIME), 1, k.prog, k.cvals)
        outs.append(tc[d.outputs].copy())
    assert _bitwise(outs[0], outs[1])


@pytest.fixture
def monkeypatch_chunk(monkeypatch):
    """Unrolled kernels cut into chunks of 60 nodes (the cache key includes it)."""
    monkeypatch.setattr(_unroll, "CHUNK", 60)
    monkeypatch.setattr(_unroll, "_ENGINE", [])
    _kernel._MEMO.clear()
    yield
    _kernel._MEMO.clear()


def test_double_constants_are_written_exactly():
    """The chunks' IR text writes constants as llvmlite does (the IEEE bits in hex),
    so signed zeros, subnormals, infinities and NaN keep their bits."""
    import math

    import llvmlite.ir as ir

    for x in (0.0, -0.0, 5e-324, -2.2250738585072014e-308, 1 / 3, -1.5, 1e308,
              math.inf, -math.inf, math.nan):
        assert _unroll._hex(x) == str(ir.Constant(ir.DoubleType(), x)).split(" ", 1)[1]
