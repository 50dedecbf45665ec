"""Regression tests of issue 19 (reliability): ``solve_ivp`` spans and tolerances,
the size bound of unrolled kernels, and the disk cache's handling of corrupted
files and of a cache directory it cannot write."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import taylorjit as tj

G = 9.81


# ----------------------------------------------------------------------- solve_ivp
def _falling(t, y):
    return [y[1], -G]


def _ground(t, y):
    return y[0]


_ground.terminal = True
_ground.direction = -1


def test_infinite_span_without_terminal_event_is_refused():
    with pytest.raises(ValueError, match="infinite end but no terminal event"):
        tj.solve_ivp(_falling, (0, np.inf), [100.0, 0.0])
    with pytest.raises(ValueError, match="infinite end but no terminal event"):
        tj.solve_ivp(_falling, (0, -np.inf), [100.0, 0.0])

    def passing(t, y):          # an event that does not stop the integration
        return y[0] - 50.0

    with pytest.raises(ValueError, match="terminal = True"):
        tj.solve_ivp(_falling, (0, np.inf), [100.0, 0.0], events=passing)


@pytest.mark.parametrize("h0", [100.0, 1e-3, 1e6])
def test_infinite_span_with_terminal_event_stops_at_the_event(h0):
    # a polynomial solution: its Taylor series is exact, so the step size rule sets no bound
    # (a step to the far end of an infinite span overflowed the state)
    sol = tj.solve_ivp(_falling, (0, np.inf), [h0, 0.0], events=_ground, rtol=1e-13, atol=1e-13)
    t_hit = math.sqrt(2 * h0 / G)
    assert sol.status == 1 and sol.success
    assert sol.t_events[0].shape == (1,)
    assert abs(sol.t_events[0][0] - t_hit) <= 8 * np.finfo(float).eps * t_hit
    assert sol.t[-1] == sol.t_events[0][0]
    assert abs(sol.y[1, -1] + G * t_hit) <= 1e-12 * G * t_hit
    assert np.all(np.isfinite(sol.y))


def test_infinite_span_backwards_with_terminal_event():
    # at t = 0: height h0, rising at v0; backwards in time it left the ground at
    # t = (v0 - sqrt(v0**2 + 2 g h0)) / g < 0
    h0, v0 = 10.0, 7.0

    def ground(t, y):
        return y[0]

    ground.terminal = True
    sol = tj.solve_ivp(_falling, (0, -np.inf), [h0, v0], events=ground, rtol=1e-13, atol=1e-13)
    t_hit = (v0 - math.sqrt(v0 ** 2 + 2 * G * h0)) / G
    assert sol.status == 1
    assert abs(sol.t_events[0][0] - t_hit) <= 8 * np.finfo(float).eps * abs(t_hit)


def test_tolerance_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match=r"`atol` has shape \(3,\) but the state has 2"):
        tj.solve_ivp(_falling, (0, 1), [1.0, 0.0], atol=[1e-8, 1e-8, 1e-8])
    with pytest.raises(ValueError, match=r"`rtol` has shape \(1,\) but the state has 2"):
        tj.solve_ivp(_falling, (0, 1), [1.0, 0.0], rtol=[1e-8])
    with pytest.raises(ValueError, match=r"`atol` has shape \(2, 1\)"):
        tj.solve_ivp(_falling, (0, 1), [1.0, 0.0], atol=[[1e-8], [1e-8]])
    # one value per component, or a scalar: accepted
    for atol in ([1e-10, 1e-12], 1e-12, np.float32(1e-9)):
        sol = tj.solve_ivp(_falling, (0, 1), [1.0, 0.0], atol=atol, rtol=1e-12)
        assert sol.success
        assert abs(sol.y[0, -1] - (1.0 - G / 2)) <= 1e-12


# ----------------------------------------------------------------------- unrolled size
def _one_function_system(name, n=3):
    from taylorjit._codegen.decompose import decompose
    from taylorjit._symbolic.registry import FUNCTIONS

    xs = tj.make_vars(*[f"u{i}" for i in range(n)])
    f = FUNCTIONS[name]     # built-in and tj.extend functions
    rhs = []
    for i in range(n):
        a = xs[(i + 1) % n] * (0.1 + 0.01 * i)
        if name == "kepE":
            rhs.append(f(0.1 + 0.001 * i, a))
        elif f.nargs == 3:       # kepF, kepDE
            rhs.append(f(0.1 + 0.001 * i, 0.2, a))
        elif name == "atan2":
            rhs.append(f(a, xs[(i + 2) % n] + 2.0))
        elif f.nargs == 2:       # functions registered by tests (tests/test_extend.py)
            rhs.append(f(a + 1.5, xs[(i + 2) % n]) * xs[i] ** 1.37)
        else:
            rhs.append(f(a + 1.5) * xs[i] ** 1.37)
    return decompose(rhs, list(xs))


def _registered_functions():
    from taylorjit._symbolic.registry import FUNCTIONS

    return sorted(FUNCTIONS)


@pytest.mark.parametrize("name", _registered_functions())
def test_unrolled_size_bounds_the_traced_program(name):
    # the bound that keeps huge systems off the unrolled path must not be exceeded by the
    # program the tracer builds (kepE's was 2.3 times its old estimate)
    from taylorjit._codegen import unroll as _unroll

    d = _one_function_system(name)
    for order in (2, 5, 12, 20):
        bound = _unroll.unrolled_size(d, order)
        for vector_sums in (False, True):
            p = _unroll.trace_program(d, True, order, 0, vector_sums=vector_sums,
                                      trace_pow=True)
            assert len(p.nodes) <= bound, (name, order, vector_sums)


def _variational_pendulum(k):
    from taylorjit._codegen.decompose import decompose

    x, v = tj.make_vars("x", "v")
    vsys = tj.var_ode_sys([(x, v), (v, -9.8 * tj.sin(x))], "vars", k)
    return vsys, decompose(list(vsys.rhs), list(vsys.state_vars))


def test_compiled_kind_keeps_huge_systems_off_the_compilers():
    # the size decision alone (nothing is built): the order-8 variational pendulum (90
    # equations, 2548 operations) at the default order 20 traced and compiled for minutes
    # past 20 GB with compact=False
    from taylorjit._codegen import kernel as _kernel, unroll as _unroll
    from taylorjit._codegen.decompose import decompose

    _, d = _variational_pendulum(8)
    assert len(d.ops) > _kernel.MAX_SPEC_OPS
    assert _unroll.unrolled_size(d, 20) > _unroll.MAX_UNROLLED
    with pytest.warns(RuntimeWarning, match=r"2548 operations, \d+ once unrolled at order 20"):
        assert _kernel.compiled_kind(d, 20) == "compact"
    # small enough to unroll: unrolled; too big to unroll but small: the specialised loops
    _, small = _variational_pendulum(2)
    assert _kernel.compiled_kind(small, 20) == "unrolled"
    X, Y, Z = tj.make_vars("X", "Y", "Z")
    lorenz = decompose([10 * (Y - X), X * (28 - Z) - Y, X * Y - 8 / 3 * Z], [X, Y, Z])
    assert not _kernel.can_unroll(lorenz, 200)
    assert _kernel.compiled_kind(lorenz, 200) == "spec"


def test_compact_false_on_a_huge_system_runs_on_the_vm():
    vsys, _ = _variational_pendulum(8)
    with pytest.warns(RuntimeWarning, match="2548 operations"):
        ta = tj.TaylorAdaptive(vsys, [0.05, 0.025], compact=False)
    ref = tj.TaylorAdaptive(vsys, [0.05, 0.025], compact=True)
    assert ta.compact
    for _ in range(3):
        assert ta.step().h == ref.step().h
    assert np.array_equal(ta.state, ref.state) and ta.time == ref.time


# ----------------------------------------------------------------------- disk cache
@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache directory, with every in-process memo of cached code reset
    (the compact VM, compiled once per installation, stays loaded: it is not
    compiled again in the empty directory)."""
    from taylorjit._codegen import cache as _cache, kernel as _kernel

    _kernel.vm_jet()
    monkeypatch.setenv("TAYLORJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_cache, "_DIR_CACHE", {})
    monkeypatch.setattr(_cache, "_FALLBACK", {})
    _reset_memos(monkeypatch)
    return tmp_path


def _reset_memos(monkeypatch):
    """Forget every kernel loaded in this process except the VM (the next use
    reads the disk cache)."""
    from taylorjit._codegen import (cjet as _cjet, gvm as _gvm, kernel as _kernel, unroll as _unroll,
        vcfunc as _vcfunc, vjet as _vjet)
    from taylorjit._frontends import jet as _jet
    from taylorjit._integrate import plainloop as _plainloop

    monkeypatch.setattr(_kernel, "_MEMO", {k: v for k, v in _kernel._MEMO.items()
                                           if k[0] == "vm"})
    for mod, name in ((_unroll, "_LOADED"), (_cjet, "_LOADED"), (_vjet, "_LOADED"),
                      (_vcfunc, "_LOADED"), (_gvm, "_MODS"), (_jet, "_PLANS"),
                      (_jet, "_DFAST")):
        monkeypatch.setattr(mod, name, type(getattr(mod, name))())
    monkeypatch.setattr(_plainloop, "_FN", [])
    monkeypatch.setattr(_plainloop, "_DENSE", [])
    from taylorjit._integrate import integrator as _integrator, simdbatch as _simdbatch

    monkeypatch.setattr(_integrator, "_LOOP", None)
    monkeypatch.setattr(_simdbatch, "_LOADED", {})


_XY = tj.make_vars("x", "y")


def _expr(tag):
    x, y = _XY
    return tj.exp(x * tag) * tj.sin(y) + x * y / tag


def _integrated(tag):          # unrolled kernel (tj_unrolled_*.o) and plain loop (tj_plain_loop*)
    x, y = _XY
    ta = tj.TaylorAdaptive([(x, y), (y, -tag * tj.sin(x))], [0.1, 0.0], compact=False)
    ta.propagate_until(3.0)
    return np.concatenate([ta.state, [ta.time]])


def _coefficients(tag):       # direct coefficients kernel (taylorjit._codegen.cjet)
    return np.asarray(tj.taylor_coefficients(_expr(tag), list(_XY), [0.3, 0.2], order=8,
                                             direction=[1.0, 0.5], kind="unrolled"))


def _partials(tag):           # SIMD partials kernel (taylorjit._codegen.vjet)
    r = tj.derivatives(_expr(tag), list(_XY), [0.3, 0.2], order=3, kind="unrolled")
    return np.array([r[(i, j)] for i in range(4) for j in range(4 - i)])


def _simd(tag):               # SIMD evaluator (taylorjit._codegen.vcfunc)
    g = tj.cfunc([_expr(tag)], list(_XY), simd=True)
    return g(np.linspace(0.1, 1.0, 22).reshape(11, 2))


def _table(tag):              # interpolation matrices of the partials (guw_*.npz)
    from taylorjit._codegen import multi as _multi

    n, p = {1.5: (2, 3), 2.5: (3, 2)}[tag]
    mats = _multi.interpolation_matrices.__wrapped__(n, p)      # no in-process memo
    exact = _multi._compute(n, p)
    assert all(np.array_equal(C, E) for (_, C), (_, E) in zip(mats, exact))
    return np.concatenate([C.ravel() for _, C in mats])


def _group(tag):              # group functions of the VM (taylorjit._codegen.gvm)
    from taylorjit._codegen import gvm as _gvm

    addrs = _gvm.group_functions({1.5: "mul", 2.5: "sincos"}[tag], 7)
    assert all(addrs)
    return np.array([len(addrs)])


def _dense(tag):              # dense and continuous output (taylorjit._integrate.plainloop.dense)
    x, y = _XY
    ta = tj.TaylorAdaptive([(x, y), (y, -tag * tj.sin(x))], [0.1, 0.0], compact=False)
    co = ta.propagate_until(3.0, c_output=True).c_output
    return np.concatenate([co(np.linspace(0.0, 3.0, 7)).ravel(), ta.update_d_output(2.9)])


def _lanes(tag):              # SIMD batch kernel (taylorjit._integrate.simdbatch)
    x, y = _XY
    ta = tj.TaylorAdaptiveBatch([(x, y), (y, -tag * tj.sin(x))], [[0.1, 0.2, 0.3], [0.0] * 3],
                                compact=False)
    ta.propagate_until(3.0)
    return ta.state.ravel()


_BLOBS = {"tj_unrolled_": _integrated, "tj_plain_loop": _integrated, "tj_coefs_": _coefficients,
          "tj_partials_": _partials, "guw_": _table, "tj_simd_": _simd, "tj_group_": _group,
          "tj_dense": _dense, "tj_simdbatch_": _lanes}


def _blobs(cache, prefix):
    return sorted(p for p in cache.rglob(f"{prefix}*") if not p.name.endswith(".tmp"))


def _damage(path, how, other):
    raw = path.read_bytes()
    if how == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "random":
        path.write_bytes(np.random.default_rng(len(raw)).bytes(len(raw)))
    elif how == "flipped":          # one bit of the payload
        path.write_bytes(raw[:-10] + bytes([raw[-10] ^ 1]) + raw[-9:])
    elif how == "swapped":          # another valid entry of the cache
        path.write_bytes(other.read_bytes())
    elif how == "unchecked":        # the payload alone, without the checksum line
        path.write_bytes(raw.partition(b"\n")[2])
    elif how == "directory":
        path.unlink()
        path.mkdir()
    else:                           # pragma: no cover
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["truncated", "empty", "random", "flipped", "swapped",
                                 "unchecked", "directory"])
@pytest.mark.parametrize("prefix", sorted(_BLOBS))
def test_damaged_binary_cache_file_is_rebuilt(fresh_cache, monkeypatch, prefix, how):
    from taylorjit._codegen import cache as _cache

    make = _BLOBS[prefix]
    ref = make(1.5)
    (path,) = _blobs(fresh_cache, prefix)
    good = _cache.read_blob(path.name)
    assert good is not None
    make(2.5)                       # another valid entry (of the same kind where there is one)
    others = [p for p in _blobs(fresh_cache, prefix) if p != path] \
        or [p for p in fresh_cache.rglob("tj_*.o") if p != path]
    _damage(path, how, others[0])
    assert _cache.read_blob(path.name) is None          # detected
    _reset_memos(monkeypatch)
    assert np.array_equal(make(1.5), ref)               # same values
    assert _cache.read_blob(path.name) == good          # rebuilt, the same bytes
    if how == "directory":
        return
    _reset_memos(monkeypatch)
    assert np.array_equal(make(1.5), ref)               # and loaded from the disk


@pytest.mark.parametrize("how", ["truncated", "random", "swapped"])
@pytest.mark.parametrize("suffix", [".py", ".nbi", ".nbc"])
def test_damaged_source_or_numba_cache_file_is_rebuilt(fresh_cache, how, suffix):
    # kernel sources (checksummed) and numba's cache files beside them: a tiny numba module
    # stands in for the kernels (same functions of taylorjit._codegen.cache)
    import sys

    from numba import njit

    from taylorjit._codegen import cache as _cache

    def load(tag, k):
        body = f"@_jit\ndef f(x):\n    return x * {k!r}\n"
        modname = f"taylorjit_cache_tiny_{tag}"
        sys.modules.pop(modname, None)
        path = _cache.write_source(f"tiny_{tag}", body)
        return _cache.load_module(path, modname,
                                  {"_jit": njit("float64(float64)", cache=True)}).f(2.0)

    assert (load("a", 3.0), load("b", 5.0)) == (6.0, 10.0)
    import os

    if suffix != ".py" and os.environ.get("NUMBA_CACHE_DIR"):
        pytest.skip("numba's cache files are under $NUMBA_CACHE_DIR, shared by every test "
                    "directory: this test damages the ones beside the source")
    d = _cache.cache_dir()
    where = d if suffix == ".py" else d / "__pycache__"
    found = {t: list(where.glob(f"tiny_{t}*{suffix}")) for t in "ab"}
    (path,), (other,) = found["a"], found["b"]
    _damage(path, how, other)
    assert load("a", 3.0) == 6.0
    assert load("a", 3.0) == 6.0
    if suffix == ".py":
        assert path.read_text().endswith("return x * 3.0\n")


def test_rebuilt_entries_are_checked_against_their_name(fresh_cache):
    # the checksum covers the name: bytes stored under one name never read under another
    from taylorjit._codegen import cache as _cache

    _cache.write_blob("a.o", b"payload")
    (fresh_cache / next(fresh_cache.iterdir()).name / "b.o").write_bytes(
        (_cache.cache_dir() / "a.o").read_bytes())
    assert _cache.read_blob("a.o") == b"payload"
    assert _cache.read_blob("b.o") is None


# ----------------------------------------------------------------------- unwritable cache
def _cache_warnings(record):
    from taylorjit._codegen.cache import CacheWarning

    return [w for w in record if issubclass(w.category, CacheWarning)]


def _compact_reference(tag):
    x, y = _XY
    ta = tj.TaylorAdaptive([(x, y), (y, -tag * tj.sin(x))], [0.1, 0.0], compact=True)
    ta.propagate_until(3.0)
    return np.concatenate([ta.state, [ta.time]])


def test_cache_dir_that_cannot_be_created(tmp_path, monkeypatch):
    # TAYLORJIT_CACHE_DIR under a regular file: no directory can be made there (as root too)
    import warnings

    from taylorjit._codegen import cache as _cache, kernel as _kernel

    _kernel.vm_jet()
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("TAYLORJIT_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(_cache, "_DIR_CACHE", {})
    monkeypatch.setattr(_cache, "_FALLBACK", {})
    _reset_memos(monkeypatch)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got = [_integrated(tag) for tag in (1.5, 2.5)]
        table = _table(1.5)
    (w,) = _cache_warnings(record)
    assert str(blocker / "cache") in str(w.message) and "TAYLORJIT_CACHE_DIR" in str(w.message)
    for tag, g in zip((1.5, 2.5), got):
        assert np.array_equal(g, _compact_reference(tag))
    assert table.size and not blocker.read_text()
    assert _cache.cache_dir() != blocker / "cache"


@pytest.fixture
def read_only(tmp_path):
    """Make a directory read-only for this process: chmod, or (as root, whom chmod
    does not stop) the immutable attribute; skip where neither works."""
    import os
    import shutil
    import subprocess

    made = []

    def lock(d):
        os.chmod(d, 0o555)
        made.append(("chmod", d))
        probe = d / ".probe"
        try:
            probe.write_text("")
        except OSError:
            return
        probe.unlink()
        if shutil.which("chattr") is None or subprocess.run(
                ["chattr", "+i", str(d)], capture_output=True).returncode:
            pytest.skip("cannot make a directory read-only here (root without chattr +i)")
        made.append(("chattr", d))
        try:
            probe.write_text("")
        except OSError:
            return
        probe.unlink()
        pytest.skip("chattr +i does not stop writes here")

    yield lock
    for how, d in reversed(made):
        if how == "chattr":
            subprocess.run(["chattr", "-i", str(d)], check=True)
        else:
            os.chmod(d, 0o755)


def test_read_only_cache_dir(fresh_cache, monkeypatch, read_only):
    import warnings

    from taylorjit._codegen import cache as _cache

    ref = _integrated(1.5)                  # compiled into the cache
    d = _cache.cache_dir()
    read_only(d)
    _reset_memos(monkeypatch)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert np.array_equal(_integrated(1.5), ref)        # cached kernels load
        assert not _cache_warnings(record)
        new = [_integrated(tag) for tag in (2.5, 3.5)]      # new ones compile elsewhere
        table = _table(2.5)
    (w,) = _cache_warnings(record)                          # warned once
    assert str(d) in str(w.message) and "TAYLORJIT_CACHE_DIR" in str(w.message)
    for tag, g in zip((2.5, 3.5), new):
        assert np.array_equal(g, _compact_reference(tag))
    assert table.size
    assert not list(d.glob("*.tmp")) and not list(d.glob(".*.tmp"))


def test_unwritable_cache_in_background_builds(fresh_cache, monkeypatch):
    # writes refused (as by a read-only directory, whatever the user: the write is patched)
    # while the integrator's and the front ends' background threads compile: one warning,
    # no exception in any thread, the same values
    import threading
    import warnings

    from taylorjit._codegen import cache as _cache, tiering as _tiering
    from taylorjit._frontends import jet as _jet
    from taylorjit.models import kepler

    main = _cache.cache_dir()
    real = _cache._write_in

    def refuse(d, name, data):
        if d == main:
            raise PermissionError(13, "Permission denied", str(d / name))
        return real(d, name, data)

    monkeypatch.setattr(_cache, "_write_in", refuse)
    monkeypatch.setenv("TAYLORJIT_TIERING", "1")
    errors = []
    monkeypatch.setattr(threading, "excepthook", errors.append)
    sys_ = [(v, r * 1.000123) for v, r in kepler()]       # a system no other test builds
    y0 = [1.0, 0.0, 0.0, 0.0, 1.1, 0.0]
    x, y = _XY
    f = tj.exp(x * 1.75) * tj.cos(y)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        ta = tj.TaylorAdaptive(sys_, y0)                    # starts on the VM, unrolls behind
        assert _tiering.wait_all(timeout=600)
        ta.propagate_until(20.0)
        for _ in range(_jet.TIER_CALLS + 1):                # the partials kernel, behind
            d1 = tj.derivatives(f, [x, y], [0.3, 0.2], order=3)
        assert _tiering.wait_all(timeout=600)
        d2 = tj.derivatives(f, [x, y], [0.3, 0.2], order=3)
    assert not errors
    assert len(_cache_warnings(record)) == 1
    assert not [w for w in record if issubclass(w.category, _tiering.TierWarning)]
    assert ta._kernel.kind == "unrolled"
    ref = tj.TaylorAdaptive(sys_, y0, compact=True)
    ref.propagate_until(20.0)
    assert np.array_equal(ta.state, ref.state)
    assert np.array_equal(d1[(1, 1)], d2[(1, 1)]) and np.array_equal(d1[(3, 0)], d2[(3, 0)])
    assert not list(main.glob("tj_*.o"))
    elsewhere = _cache._FALLBACK[main]
    assert list(elsewhere.glob("tj_unrolled_*.o")) and list(elsewhere.glob("tj_partials_*.o"))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_change_of_a_stored_entry_is_detected(tmp_path_factory, data):
    # a checksummed entry reads back as what was stored, or as missing: never as other bytes
    import os

    from taylorjit._codegen import cache as _cache

    d = tmp_path_factory.mktemp("blobs")
    old = os.environ.get("TAYLORJIT_CACHE_DIR")
    os.environ["TAYLORJIT_CACHE_DIR"] = str(d)
    _cache._DIR_CACHE.pop(d, None)
    try:
        payload = data.draw(st.binary(max_size=64))
        path = _cache.write_blob("entry.o", payload)
        raw = path.read_bytes()
        new = data.draw(st.one_of(
            st.binary(max_size=len(raw) + 8),                                      # anything
            st.integers(0, len(raw)).map(lambda n: raw[:n]),                       # truncated
            st.tuples(st.integers(0, len(raw) - 1), st.integers(1, 255)).map(    # one byte
                lambda t: raw[:t[0]] + bytes([raw[t[0]] ^ t[1]]) + raw[t[0] + 1:])))
        path.write_bytes(new)
        got = _cache.read_blob("entry.o")
        assert got == (payload if new == raw else None)
    finally:
        _cache._DIR_CACHE.pop(d, None)
        if old is None:
            os.environ.pop("TAYLORJIT_CACHE_DIR", None)
        else:
            os.environ["TAYLORJIT_CACHE_DIR"] = old


def test_solve_ivp_event_direction_must_be_a_number():
    def ev(t, y):
        return y[0]

    ev.direction = "up"
    with pytest.raises(ValueError, match="direction.*'up'"):
        tj.solve_ivp(lambda t, y: [y[1], -y[0]], (0, 5), [1.0, 0.0], events=ev)


def test_cache_directory_removed_while_running_is_recreated(fresh_cache):
    # another process's clear_cache removes the directory under a running process: its
    # next kernel is written to a new directory, without a warning
    import shutil
    import warnings

    from taylorjit._codegen import cache as _cache

    d = _cache.cache_dir()
    shutil.rmtree(d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = _cache.write_blob("x.o", b"payload")
    assert path.parent == d and _cache.read_blob("x.o") == b"payload"
