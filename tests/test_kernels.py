"""Kernels, decomposition and the disk cache.

* the three kernel kinds (specialised source, compact VM, pure Python) agree
  bit for bit on random ODE systems and expression jets;
* decomposition: CSE, companions (sin/cos pairs, tan^2, kepE's sin/cos),
  specialised powers;
* a 10^5-node expression decomposes, differentiates, prints and pickles;
* the disk cache detects corrupted entries, ``clear_cache`` works, and two
  processes can build the same new kernel at the same time.
"""
import multiprocessing as mp
import pickle
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import taylorjit as tj
from taylorjit._codegen import cache as _cache, kernel as _kernel
from taylorjit._codegen.decompose import decompose
from taylorjit._symbolic.expr import topo_order, var
from taylorjit._codegen.kernel import get_kernel

from _taylor_ref import PARS, TIME, random_expressions

X, Y = var("x"), var("y")


def run_ode(kernel, x0, order, pars=PARS, t=TIME, full=1):
    tc = np.zeros((kernel.n_slots, order + 1))
    tc[: len(x0), 0] = x0
    kernel.jet(tc, order, np.asarray(pars, float), float(t), full, kernel.prog, kernel.cvals)
    return tc


def run_expr(kernel, rows, order, pars=PARS, t=TIME):
    tc = np.zeros((kernel.n_slots, order + 1))
    for i, r in enumerate(rows):
        tc[i, : len(r)] = r
    kernel.jet(tc, order, np.asarray(pars, float), float(t), 1, kernel.prog, kernel.cvals)
    return tc


def _bitwise(a, b):
    """Bit-for-bit equality (any NaN equals any NaN: payloads are not results)."""
    nan = np.isnan(a)
    return np.array_equal(nan, np.isnan(b)) and np.array_equal(a[~nan].view(np.int64),
                                                               b[~nan].view(np.int64))


# ----------------------------------------------------------------------------- kinds agree
def _system(draw):
    e1, p1 = draw(random_expressions(max_ops=6, with_pars=True, with_time=True))
    e2, _ = draw(random_expressions(max_ops=6, with_pars=True, with_time=True, point=p1))
    return [e1, e2], [p1["x"], p1["y"]]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), full=st.sampled_from([0, 1]))
def test_compact_equals_python_on_random_odes(data, full):
    rhs, x0 = _system(data.draw)
    d = decompose(rhs, [X, Y])
    res = [run_ode(get_kernel(d, ode=True, kind=k), x0, 15, full=full) for k in ("compact", "python")]
    assert _bitwise(res[0], res[1])


@settings(max_examples=3, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate],  # shrinking would compile many kernels
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_spec_equals_compact_equals_python(data):
    """Random ODE systems and expression jets, all three kinds (spec compiles
    each system: few examples, derandomized so the kernels come from the test
    cache after the first run)."""
    rhs, x0 = _system(data.draw)
    d = decompose(rhs, [X, Y])
    res = [run_ode(get_kernel(d, ode=True, kind=k), x0, 12) for k in ("spec", "compact", "python")]
    assert _bitwise(res[0], res[1]) and _bitwise(res[1], res[2])
    rows = [[x0[0], 0.3, -0.1], [x0[1], -0.7]]
    res = [run_expr(get_kernel(d, ode=False, kind=k), rows, 12) for k in ("spec", "compact", "python")]
    assert _bitwise(res[0], res[1]) and _bitwise(res[1], res[2])


def test_ode_kernel_solves_known_system():
    """x' = -y, y' = x from (1, 0): x = cos t, y = sin t (coefficients +-1/k!)."""
    d = decompose([-Y, X], [X, Y])
    import math

    for kind in ("spec", "compact", "python"):
        tc = run_ode(get_kernel(d, ode=True, kind=kind), [1.0, 0.0], 20)
        for k in range(21):
            cx = [1, 0, -1, 0][k % 4] / math.factorial(k)
            cy = [0, 1, 0, -1][k % 4] / math.factorial(k)
            tol = 2 * (k + 1) * np.finfo(float).eps  # k divisions by 1..k
            assert abs(tc[0, k] - cx) <= tol * abs(cx) and abs(tc[1, k] - cy) <= tol * abs(cy)


# ----------------------------------------------------------------------------- decomposition
def _ops(d):
    return [name for name, *_ in d.ops]


def test_cse_and_companions():
    d = decompose([tj.sin(X) * tj.cos(X) + tj.sin(X)], [X])
    assert _ops(d).count("sincos") == 1
    d = decompose([np.sin(X + Y), np.cos(Y + X)], [X, Y])  # add is sorted: one argument
    assert _ops(d).count("sincos") == 1 and _ops(d).count("add") == 1
    d = decompose([tj.tan(X) + tj.tan(X) ** 2, tj.square(tj.tan(X))], [X])
    assert _ops(d) == ["tan", "add"] and d.outputs[1] == d.ops[0][1][1]
    e, M = var("e"), var("M")
    d = decompose([tj.sin(tj.kepE(e, M)) + tj.cos(tj.kepE(e, M)) * tj.kepE(e, M)], [e, M])
    assert _ops(d).count("kepE") == 1 and "sincos" not in _ops(d)
    d = decompose([tj.sinh(X) / tj.cosh(X), tj.sigmoid(X) ** 2], [X])
    assert _ops(d) == ["sinhcosh", "div", "sigmoid"]
    # the same sub-expression built twice is one node and one operation
    f = tj.exp(X * Y) + tj.exp(X * Y) * 2
    assert _ops(decompose([f], [X, Y])).count("exp") == 1


@pytest.mark.parametrize("p, ops", [
    (2.0, ["square"]), (0.5, ["sqrt"]), (3.0, ["square", "mul"]), (-1.0, ["const", "div_su"]),
    (-1.5, ["pow"]), (2.5, ["pow"]), (1.0 / 3.0, ["pow"]), (4.0, ["square", "square"]),
    (7.0, ["square", "mul", "square", "mul"]),
])
def test_powers_are_specialised(p, ops):
    assert _ops(decompose([X ** p], [X])) == ops


def test_scalar_variants():
    d = decompose([X * 3.0 + tj.par[0], tj.par[1] / X - 2.0, tj.time * X], [X])
    names = _ops(d)
    assert {"mul_s", "add_s", "div_su", "sub_us", "time", "mul"} <= set(names)
    assert "add" not in names


def test_huge_expression():
    """A 10^5-node chain: decompose, diff, str, pickle, without recursion errors."""
    n = 100_000
    e = X
    for i in range(n):
        e = tj.sin(e) if i % 3 == 0 else (e * 1.5 + Y if i % 3 == 1 else e - X)
    assert len(topo_order([e])) > n
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(400)  # prove that nothing below recurses
    try:
        d = decompose([e], [X, Y])
        de = tj.diff(e, X)
        text = str(de)
        blob = pickle.dumps(e)
        back = pickle.loads(blob)
    finally:
        sys.setrecursionlimit(limit)
    assert len(d.ops) >= n and back is e
    assert "too large to print" in text or len(text) > n
    # and the kernel runs: compare the VM with a float evaluation of the chain
    kern = get_kernel(d, kind="compact")
    tc = run_expr(kern, [[0.3, 1.0], [0.2]], 2)
    v, x, y = 0.3, 0.3, 0.2
    for i in range(n):
        v = np.sin(v) if i % 3 == 0 else (v * 1.5 + y if i % 3 == 1 else v - x)
    assert tc[d.outputs[0], 0] == v


# ----------------------------------------------------------------------------- program table
def _reference_prog(d, ode):
    """The program table by its definition, with dicts and lists: state rows,
    then the operations sorted by (level, opcode, position), a header before
    each run of equal opcodes."""
    from taylorjit._symbolic.registry import OPS

    level, keyed = {}, []
    for pos, (name, outs, ins, c) in enumerate(d.ops):
        op = OPS[name]
        lv = 1 if op.int_in else max([level.get(i, 0) + 1 for i in ins] + [1])
        level.update((o, lv) for o in outs)
        keyed.append((lv, op.opcode, pos))
    rows = [[-1, i, 0, 0, 0, r, 0, 0] for i, r in enumerate(d.outputs[:d.n_in])] if ode else []
    cvals = [0.0] * len(rows)
    last = None
    for _, opc, pos in sorted(keyed):
        name, outs, ins, c = d.ops[pos]
        if opc != last:
            last, header = opc, [opc, 0, 0, 0, 0, 0, 0, 0]
            rows.append(header)
            cvals.append(0.0)
        header[1] += 1
        rows.append([opc, *outs, *[0] * (4 - len(outs)), *ins, *[0] * (3 - len(ins))])
        cvals.append(0.0 if c is None else c)
    return np.array(rows, dtype=np.int64).reshape(-1, 8), np.array(cvals)


@pytest.mark.parametrize("numba_levels", [False, True])
def test_program_table_matches_its_definition(numba_levels, monkeypatch):
    """build_prog (numpy sorting, compiled levels for big tables) gives the table
    of its definition, on random systems with every kind of operation, on an
    N-body system and with no operations at all."""
    import random

    monkeypatch.setattr(_kernel, "_LEVELS_NUMBA_MIN", 0 if numba_levels else 10 ** 9)
    rng = random.Random(7)
    names = ["acos", "acosh", "asin", "asinh", "atan", "cos", "cosh", "erf", "exp", "expm1",
             "log", "log1p", "sigmoid", "sin", "sinh", "sqrt", "square", "tan", "tanh"]
    systems = [([X, Y], [X, Y])]
    for _ in range(25):
        pool = [X, Y, tj.par[0], tj.par[1], tj.time]
        for _ in range(rng.randint(3, 30)):
            a, b = rng.choice(pool), rng.choice(pool)
            r = rng.random()
            if r < 0.3:
                e = getattr(tj, rng.choice(names))(a + X)
            elif r < 0.4:
                e = tj.atan2(a + 1.0, b + X)
            elif r < 0.45:
                e = tj.kepE(0.1 * a ** 2, b + Y)
            elif r < 0.55:
                e = (a + Y) ** rng.choice([2, 3, 0.5, -1, 1.7, 5])
            else:
                e = rng.choice([a + b, a - b * 2.5, a * b, a / (b + 3.0)])
            pool.append(e)
        systems.append((pool[-2:], [X, Y]))
    sys_n = tj.models.nbody(12)     # a real system: ~1300 operations
    systems.append(([r for _, r in sys_n], [v for v, _ in sys_n]))
    for outs, ins in systems:
        d = decompose(outs, ins)
        for ode in (True, False):
            prog, cvals = _kernel.build_prog(d, ode)
            ref, rc = _reference_prog(d, ode)
            assert np.array_equal(prog, ref)
            assert np.array_equal(cvals.view(np.int64), rc.view(np.int64))


# ----------------------------------------------------------------------------- disk cache
@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty cache directory, with the process-level memos reset."""
    monkeypatch.setenv("TAYLORJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_cache, "_DIR_CACHE", {})
    monkeypatch.setattr(_kernel, "_MEMO", {})
    return tmp_path


def _unique_system(tag):
    # a system no other test builds (so its kernel is new in a fresh cache)
    return decompose([tj.exp(X * tag) - tj.atan(Y), X * Y + tag], [X, Y])


def test_corrupted_cache_entry_is_rebuilt(fresh_cache, monkeypatch):
    d = _unique_system(1.2345)
    k1 = get_kernel(d, ode=True, kind="spec")
    ref = run_ode(k1, [0.1, 0.2], 10)
    files = list(_cache.cache_dir().glob("spec*.py"))
    assert len(files) == 1
    src = files[0].read_text()
    for damage in (src[: len(src) // 2], src.replace("tc[", "tc [", 1), ""):
        files[0].write_text(damage)
        monkeypatch.setattr(_kernel, "_MEMO", {})
        k2 = get_kernel(d, ode=True, kind="spec")
        assert _bitwise(run_ode(k2, [0.1, 0.2], 10), ref)
        assert files[0].read_text() == src  # rewritten, checksum valid
    # numba's own cache files damaged: detected, removed and rebuilt
    for f in (files[0].parent / "__pycache__").glob(f"{files[0].stem}*"):
        f.write_bytes(b"garbage")
    monkeypatch.setattr(_kernel, "_MEMO", {})
    sys.modules.pop(f"taylorjit_cache_{files[0].stem}", None)
    k3 = get_kernel(d, ode=True, kind="spec")
    assert _bitwise(run_ode(k3, [0.1, 0.2], 10), ref)


def test_clear_cache(fresh_cache, monkeypatch):
    d = _unique_system(2.5)
    get_kernel(d, ode=True, kind="spec")
    assert any(fresh_cache.rglob("spec*.py"))
    tj.clear_cache()
    assert not any(fresh_cache.rglob("spec*.py"))
    monkeypatch.setattr(_kernel, "_MEMO", {})
    k = get_kernel(d, ode=True, kind="spec")
    assert np.isfinite(run_ode(k, [0.1, 0.2], 5)).all()
    assert any(fresh_cache.rglob("spec*.py"))


def _build_in_subprocess(args):
    cache, tag = args
    import os

    os.environ["TAYLORJIT_CACHE_DIR"] = cache
    import numpy as np  # noqa: F811

    from taylorjit._codegen.kernel import get_kernel as gk

    k = gk(_unique_system(tag), ode=True, kind="spec")
    tc = np.zeros((k.n_slots, 9))
    tc[0, 0], tc[1, 0] = 0.1, 0.2
    k.jet(tc, 8, np.zeros(0), 0.0, 1, k.prog, k.cvals)
    return tc.tolist()


def test_two_processes_build_the_same_kernel(tmp_path):
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        a, b = pool.map(_build_in_subprocess, [(str(tmp_path), 3.75)] * 2)
    assert a == b and np.isfinite(a).all()
    assert len(list(tmp_path.rglob("spec*.py"))) == 1
    assert not list(tmp_path.rglob("*.tmp"))


def test_kernels_read_only_computed_coefficients():
    """A kernel at order k may read its outputs only below k: with every slot
    that the jet writes pre-filled with NaN, the result must not change (a read
    of a stale coefficient at order 0 once slipped through zero-filled tests)."""
    from taylorjit._symbolic.registry import FUNCTIONS

    exprs = [X / (1.0 + Y * Y), X * Y - Y / X, tj.sqrt(1.5 + X * X) ** 1.3]
    for f in FUNCTIONS.values():
        lo, hi = f.domain[0]
        mid = 0.5 * (lo + hi)
        args = [mid + 0.01 * X, mid + 0.02 * Y, mid + 0.03 * (X + Y)][:f.nargs]  # in the domain
        exprs.append(f(*args) + X)
    d = decompose(exprs, [X, Y])
    rows = [[0.31, 0.5, -0.25, 0.125], [0.42, -0.75, 0.5]]
    for kind in ("python", "compact"):
        k = get_kernel(d, ode=False, kind=kind)
        clean = run_expr(k, rows, 12)
        tc = np.full((k.n_slots, 13), np.nan)
        tc[:2] = 0.0
        for i, r in enumerate(rows):
            tc[i, :len(r)] = r
        k.jet(tc, 12, np.asarray(PARS, float), float(TIME), 1, k.prog, k.cvals)
        assert _bitwise(tc, clean), kind
