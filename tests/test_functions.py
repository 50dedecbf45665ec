"""Every registered function and kernel operation against mpmath at 50 digits.

The cases are derived from the registry (``FUNCTIONS``), never from a
hand-written list: each function is evaluated at three points of its test
domain (10 %, 50 % and 90 % of each interval), composed with an inner
polynomial of degree 40 whose coefficients are all non-zero (linear
coefficient = the direction), and its coefficients to order 40 from the three
kernel kinds are compared with ``mpmath.taylor`` of the same composition.

Tolerance (``tests/_taylor_ref.check_coefficients``): ``|c_k - ref_k| <= 16 (k+1)
eps env_k`` where ``env_k`` is the geometric envelope of the reference
coefficients (the size of the terms summed at order ``k``).  Measured: every
function stays below 1 (mostly below 0.4) in these units, the largest errors
at ``k = 0`` (libm rounding); the factor 16 leaves room for other libms while
an off-by-one in any recurrence gives errors of order 1/eps (see
``test_wrong_recurrence_fails``).
"""
import functools
import inspect
import math
import zlib

import mpmath
import numpy as np
import pytest

import taylorjit as tj
from taylorjit._codegen import kernel as _kernel
from taylorjit._codegen.decompose import decompose
from taylorjit._symbolic.expr import nary_prod, nary_sum, var
from taylorjit._codegen.kernel import get_kernel
from taylorjit._symbolic.registry import FUNCTIONS, OPS

from _taylor_ref import check_coefficients, mp_taylor, run_jet

ORDER = 40
KINDS = ("spec", "compact", "python")
FRACS = (0.1, 0.5, 0.9)
DIRECTIONS = (0.7, -0.4, 0.25)


# ----------------------------------------------------------------------------- registered functions
def _arg_names(name):
    return [f"{'abc'[i]}_{name}" for i in range(FUNCTIONS[name].nargs)]


@functools.lru_cache(maxsize=None)
def function_case():
    """One expression list covering every registered function: output j is
    ``f_j(a_f, b_f, ...)`` with its own input variables."""
    names = list(FUNCTIONS)
    inputs, outputs = [], []
    for name in names:
        vs = [var(n) for n in _arg_names(name)]
        inputs += vs
        outputs.append(FUNCTIONS[name](*vs))
    return names, inputs, outputs


def input_rows(name, point, order=ORDER):
    """Inner polynomials of function ``name`` at point index ``point``: value
    inside the domain, linear coefficient a direction, all higher ones non-zero
    (deterministic: seeded by the function name)."""
    f = FUNCTIONS[name]
    rng = np.random.default_rng(zlib.crc32(f"{name}/{point}".encode()))
    rows = []
    for i, (lo, hi) in enumerate(f.domain):
        r = np.empty(order + 1)
        r[0] = lo + FRACS[point] * (hi - lo)
        r[1] = DIRECTIONS[(point + i) % 3]
        r[2:] = rng.uniform(0.2, 1.0, order - 1) * rng.choice([-1, 1], order - 1) \
            * 0.6 ** np.arange(2, order + 1)
        rows.append(r)
    return rows


@pytest.fixture(scope="module")
def function_jets():
    """{kind: [coefficients (n_functions, ORDER+1) per point]} (one kernel per kind)."""
    names, inputs, outputs = function_case()
    d = decompose(outputs, inputs)
    out = {}
    for kind in KINDS:
        kern = get_kernel(d, ode=False, kind=kind)
        out[kind] = []
        for p in range(len(FRACS)):
            rows = [r for n in names for r in input_rows(n, p)]
            out[kind].append(run_jet(outputs, inputs, rows, ORDER, kind, kernel=kern, scales=True))
    return out


@pytest.mark.parametrize("point", range(len(FRACS)))
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_function_coefficients(name, point, function_jets):
    names, _, outputs = function_case()
    j = names.index(name)
    ref = mp_taylor(outputs[j], _arg_names(name), input_rows(name, point), ORDER)
    for kind in KINDS:
        got, scale = function_jets[kind][point]
        check_coefficients(got[j], ref, f"{name} at point {point}, kind={kind}", scale=scale[j])
    assert np.array_equal(function_jets["spec"][point][0][j], function_jets["compact"][point][0][j])
    assert np.array_equal(function_jets["python"][point][0][j], function_jets["compact"][point][0][j])


# ----------------------------------------------------------------------------- arithmetic
U, V = var("u"), var("v")
P0, P1 = tj.par[0], tj.par[1]
T = tj.time
EXPONENTS = (2.0, 0.5, -1.0, 3.0, 7.0, -1.5, 2.5, 1.0 / 3.0)
PARS = (0.7, -1.9)


def arith_cases():
    """(label, expression) pairs: every arithmetic node and scalar variant."""
    cases = [
        ("u+v", U + V), ("u-v", U - V), ("u*v", U * V), ("u/v", U / V), ("-u", -U),
        ("u*u", U * U), ("v**3", V ** 3.0), ("v**-2", V ** -2.0),
        ("u**v", U ** V), ("sum", nary_sum([U, V, U * V, 2.0])),
        ("prod", nary_prod([U, V, tj.sin(U), 2.0])),
        ("u+2.5", U + 2.5), ("2.5+u", 2.5 + U), ("u-1.5", U - 1.5), ("1.5-u", 1.5 - U),
        ("3.5*u", 3.5 * U), ("u/3.5", U / 3.5), ("3.5/u", 3.5 / U),
        ("u+p0", U + P0), ("p0-u", P0 - U), ("u-p1", U - P1), ("p1*u", P1 * U),
        ("u/p0", U / P0), ("p1/u", P1 / U), ("p0*p1+u", P0 * P1 + U),
        ("exp(p0)*u", tj.exp(P0) * U), ("p1**2-u", P1 ** 2.0 - U),
        ("t*u", T * U), ("sin(t)+v", tj.sin(T) + V), ("t**2/u", T ** 2.0 / U),
        ("t+p0", T + P0),
    ]
    cases += [(f"u**{p:.4g}", U ** p) for p in EXPONENTS]
    return cases


ARITH_POINTS = ((1.3, -0.8, 0.45), (0.6, 1.7, -2.0))  # (u0, v0, t); u > 0 for real powers


def arith_rows(point, order=ORDER):
    u0, v0, _ = ARITH_POINTS[point]
    rng = np.random.default_rng(100 + point)
    rows = []
    for x0, d in ((u0, 0.5), (v0, -0.3)):
        r = np.empty(order + 1)
        r[0], r[1] = x0, d
        r[2:] = rng.uniform(-1, 1, order - 1) * 0.5 ** np.arange(2, order + 1)
        rows.append(r)
    return rows


@pytest.fixture(scope="module")
def arith_jets():
    exprs = [e for _, e in arith_cases()]
    d = decompose(exprs, [U, V])
    out = {}
    for kind in KINDS:
        kern = get_kernel(d, ode=False, kind=kind)
        out[kind] = [run_jet(exprs, [U, V], arith_rows(p), ORDER, kind, pars=PARS,
                             t=ARITH_POINTS[p][2], kernel=kern, scales=True)
                     for p in range(len(ARITH_POINTS))]
    return out


@pytest.mark.parametrize("point", range(len(ARITH_POINTS)))
@pytest.mark.parametrize("label", [lab for lab, _ in arith_cases()])
def test_arithmetic_coefficients(label, point, arith_jets):
    cases = arith_cases()
    j = [lab for lab, _ in cases].index(label)
    ref = mp_taylor(cases[j][1], ["u", "v"], arith_rows(point), ORDER, pars=PARS,
                    t=ARITH_POINTS[point][2])
    for kind in KINDS:
        got, scale = arith_jets[kind][point]
        check_coefficients(got[j], ref, f"{label} at {point}, kind={kind}", scale=scale[j])
    assert np.array_equal(arith_jets["spec"][point][0][j], arith_jets["compact"][point][0][j])
    assert np.array_equal(arith_jets["python"][point][0][j], arith_jets["compact"][point][0][j])


# ----------------------------------------------------------------------------- reference composites
def _reference_composites():
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent / "data" / "references.json"
    data = json.loads(path.read_text())["coefficients"]
    return [(k, v) for k, v in data.items() if isinstance(v, list)]


REFERENCE_COMPOSITES = _reference_composites()


def parse_composite(key):
    """``"atan(x)**2 * sqrt(1+x) at 0.7"`` -> (expression in x, 0.7)."""
    text, _, at = key.rpartition(" at ")
    x = var("x")
    ns = {name: FUNCTIONS[name] for name in FUNCTIONS}     # built-in and tj.extend functions
    ns["x"] = x
    return eval(text, {"__builtins__": {}}, ns), float(at), x  # noqa: S307 - trusted test data


@pytest.mark.parametrize("key", [k for k, _ in REFERENCE_COMPOSITES])
def test_reference_composites(key):
    values = dict(REFERENCE_COMPOSITES)[key]
    order = len(values) - 1
    assert order >= 30
    f, x0, x = parse_composite(key)
    with mpmath.workdps(50):
        ref = [mpmath.mpf(s) for s in values]
    d = decompose([f], [x])
    row = np.zeros(order + 1)
    row[0], row[1] = x0, 1.0
    results = {}
    for kind in KINDS:
        got, scale = run_jet([f], [x], [row], order, kind, kernel=get_kernel(d, kind=kind),
                             scales=True)
        check_coefficients(got[0], ref, f"{key}, kind={kind}", scale=scale[0])
        results[kind] = got[0]
    assert np.array_equal(results["spec"], results["compact"])
    assert np.array_equal(results["python"], results["compact"])


# ----------------------------------------------------------------------------- meta-tests
def test_every_function_has_a_reference():
    """Each registered function has an mpmath reference and a test domain, and
    is part of the checked expression list (which is built from the registry)."""
    names, _, outputs = function_case()
    assert names == list(FUNCTIONS)
    for name, f in FUNCTIONS.items():
        assert callable(f.mp), f"{name}: no mpmath reference (mp=)"
        assert len(f.domain) == f.nargs, f"{name}: domain needs one interval per argument"
        for lo, hi in f.domain:
            assert math.isfinite(lo) and math.isfinite(hi) and lo < hi, f"{name}: bad domain"
        mid = [mpmath.mpf((lo + hi) / 2) for lo, hi in f.domain]
        v = f.mp(*mid)
        assert isinstance(v, mpmath.mpf) and mpmath.isfinite(v), f"{name}: mp is not real"
        assert abs(float(v) - f.value(*(float(m) for m in mid))) <= 1e-14 * max(1, abs(v))
    assert [o.op for o in outputs] == names


def checked_decompositions():
    """Every decomposition whose coefficients the tests above compare with mpmath."""
    names, inputs, outputs = function_case()
    ds = [decompose(outputs, inputs), decompose([e for _, e in arith_cases()], [U, V])]
    for key, _ in REFERENCE_COMPOSITES:
        f, _, x = parse_composite(key)
        ds.append(decompose([f], [x]))
    return ds


def test_every_kernel_op_is_checked():
    used = {name for d in checked_decompositions() for name, *_ in d.ops}
    missing = sorted(set(OPS) - used)
    assert not missing, f"kernel operations without a reference check: {missing}"


def test_wrong_recurrence_fails(monkeypatch):
    """The checker is sharp: a copy of mul's kernel with an off-by-one in its
    Cauchy sum (``psum(..., 2, k)`` for ``psum(..., 1, k)``: the j = 1 term lost)
    fails it."""
    op = OPS["mul"]
    src = inspect.getsource(op.py)
    assert "psum(r_a, r_b, k, 1, k)" in src
    wrong_src = "\n".join(line for line in src.replace("psum(r_a, r_b, k, 1, k)",
                                                        "psum(r_a, r_b, k, 2, k)").splitlines()
                          if not line.startswith("@"))
    ns = dict(op.py.__globals__)
    exec(compile(wrong_src, "<wrong mul>", "exec"), ns)  # noqa: S102
    monkeypatch.setattr(op, "py", ns["mul_coeff"])
    monkeypatch.setattr(_kernel, "_MEMO", {})
    label = "u*v"
    e = dict(arith_cases())[label]
    ref = mp_taylor(e, ["u", "v"], arith_rows(0), ORDER, pars=PARS, t=ARITH_POINTS[0][2])
    got, scale = run_jet([e], [U, V], arith_rows(0), ORDER, "python", pars=PARS,
                         t=ARITH_POINTS[0][2], scales=True)
    with pytest.raises(AssertionError, match="coefficient"):
        check_coefficients(got[0], ref, "wrong mul", scale=scale[0])
    monkeypatch.undo()
    good, scale = run_jet([e], [U, V], arith_rows(0), ORDER, "python", pars=PARS,
                          t=ARITH_POINTS[0][2], scales=True)
    check_coefficients(good[0], ref, "mul", scale=scale[0])


# ----------------------------------------------------------------------------- random expressions
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from _taylor_ref import PARS as RPARS, TIME as RTIME, random_expressions  # noqa: E402

RANDOM_ORDER = 12


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(case=random_expressions(with_pars=True, with_time=True),
       direction=st.tuples(st.floats(-1, 1), st.floats(-1, 1)))
def test_random_expressions_vs_mpmath(case, direction):
    """Random DAGs at random points along random directions (VM kernel, order 12)."""
    e, point = case
    x, y = var("x"), var("y")
    rows = [[point["x"], direction[0]], [point["y"], direction[1]]]
    got, scale = run_jet([e], [x, y], rows, RANDOM_ORDER, "compact", pars=RPARS, t=RTIME,
                         scales=True)
    ref = mp_taylor(e, ["x", "y"], rows, RANDOM_ORDER, pars=RPARS, t=RTIME, cache=False)
    check_coefficients(got[0], ref, str(e), scale=scale[0])
