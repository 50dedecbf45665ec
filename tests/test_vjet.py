"""SIMD partials kernels (taylorjit._codegen.vjet) behind derivatives(): bit-identical to
the scalar path (directional jets + recombination), every kind of order-0
operation, parameters and time, tiering with the default kind, fallbacks."""

import numpy as np
import pytest

import taylorjit as tj
from taylorjit._frontends import jet as _jet
from taylorjit._codegen import tiering as _tiering, vjet as _vjet
from taylorjit._frontends.derivatives import _deriv_layout
from taylorjit._frontends.jet import _plan

x, y, z, w = tj.make_vars("x", "y", "z", "w")


def _both(fs, variables, pt, order, **kw):
    """(SIMD kernel values, scalar VM values) of derivatives()."""
    simd = tj.derivatives(fs, variables, pt, order=order, kind="unrolled", **kw)
    plan = _plan(fs if isinstance(fs, list) else [fs], variables, "unrolled")
    assert isinstance(plan.partials.get(order), _vjet.PartialsKernel)   # the SIMD path ran
    ref = tj.derivatives(fs, variables, pt, order=order, kind="compact", **kw)
    return simd, ref


CASES = [
    ([1 / tj.sqrt((x - 0.1) ** 2 + (y + 0.2) ** 2 + (z - 0.3) ** 2)], [x, y, z], [0.5, 0.4, 1.1], 8),
    ([tj.exp(tj.sin(x)) * tj.cos(y) / (1 + x**2), tj.atan2(y, x) + tj.log(z)], [x, y, z],
     [0.3, -0.7, 1.9], 5),
    ([tj.asin(x / 3) * tj.acosh(2 + y * y) + tj.atanh(x * y / 4) + tj.log1p(x * x)], [x, y],
     [0.4, 0.9], 7),
    ([(1.5 + x * x) ** 1.3 - tj.tan(y) * tj.erf(x) + tj.sigmoid(x - y)], [x, y], [0.2, 0.3], 6),
    ([tj.sinh(x) * tj.tanh(w) + tj.sqrt(2 + z) * tj.acos(y / 2), x * y * z * w], [x, y, z, w],
     [0.1, 0.2, 0.3, 0.4], 4),
    ([tj.exp(x)], [x], [0.7], 12),
    ([x * y], [x, y], [2.0, 3.0], 1),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_bitwise_equal_to_the_scalar_path(case):
    fs, vs, pt, order = CASES[case]
    simd, ref = _both(fs, vs, pt, order)
    assert np.array_equal(simd.as_array(), ref.as_array())
    assert list(simd.keys()) == list(ref.keys())


def test_pars_and_time():
    f = tj.par[0] * tj.exp(x * tj.par[1]) * tj.sin(tj.time * y)
    simd, ref = _both(f, [x, y], [0.3, 0.5], 5, pars=[1.5, -0.25], time=0.7)
    assert np.array_equal(simd.as_array(), ref.as_array())
    # d/dy at order 1: par0 e^(x par1) cos(t y) t
    want = 1.5 * np.exp(0.3 * -0.25) * np.cos(0.7 * 0.5) * 0.7
    assert simd[(0, 1)] == pytest.approx(want, rel=1e-14)
    # derivatives with respect to time itself
    s2, r2 = _both(f, [x, y, tj.time], [0.3, 0.5, 0.7], 4, pars=[1.5, -0.25])
    assert np.array_equal(s2.as_array(), r2.as_array())


def test_values_against_the_analytic_hessian():
    f = 1 / tj.sqrt(x * x + y * y + z * z)
    pt = np.array([0.5, 0.4, 1.1])
    d = tj.derivatives(f, [x, y, z], pt, order=2, kind="unrolled")
    r = np.linalg.norm(pt)
    H = (3 * np.outer(pt, pt) - r * r * np.eye(3)) / r**5
    np.testing.assert_allclose(d.hessian(), H, rtol=1e-13)


def test_kepe_keeps_the_scalar_path():
    f = tj.kepE(0.3, x) * y
    d = tj.derivatives(f, [x, y], [0.5, 1.0], order=3, kind="unrolled")
    plan = _plan([f], [x, y], "unrolled")
    assert plan.partials.get(3) is False
    ref = tj.derivatives(f, [x, y], [0.5, 1.0], order=3, kind="compact")
    np.testing.assert_array_equal(d.as_array(), ref.as_array())


def test_default_kind_tiers_up_in_the_background(tmp_path, monkeypatch):
    """With kind=None the first calls use the VM; from the TIER_CALLS-th call the
    background worker compiles the SIMD kernel; values never change."""
    monkeypatch.setenv("TAYLORJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TAYLORJIT_KERNEL", "auto")
    monkeypatch.setenv("TAYLORJIT_TIERING", "1")
    f = tj.cos(x * 1.000123) * tj.exp(y / 3)         # a never-seen expression
    first = tj.derivatives(f, [x, y], [0.2, 0.1], order=6)
    plan = _plan([f], [x, y], "auto")
    assert plan.partials.get(6) is None
    for _ in range(_jet.TIER_CALLS):
        got = tj.derivatives(f, [x, y], [0.2, 0.1], order=6)
        assert np.array_equal(got.as_array(), first.as_array())
    assert isinstance(plan.partials.get(6), _tiering.Upgrade)
    assert _tiering.wait_all(60)
    got = tj.derivatives(f, [x, y], [0.2, 0.1], order=6)     # takes the kernel
    assert isinstance(plan.partials.get(6), _vjet.PartialsKernel)
    assert np.array_equal(got.as_array(), first.as_array())
    # a new process (here: a new plan) finds it in the disk cache at its first call
    _jet._PLANS.clear()
    _jet._DFAST.clear()
    _vjet._LOADED.clear()
    tj.derivatives(f, [x, y], [0.2, 0.1], order=6)
    plan = _plan([f], [x, y], "auto")
    assert isinstance(plan.partials.get(6), _vjet.PartialsKernel)


def test_too_large_keeps_the_scalar_path(monkeypatch):
    monkeypatch.setattr(_vjet, "MAX_OPS", 10)
    f = tj.sin(x) * tj.cos(y) + 0.123456
    d = tj.derivatives(f, [x, y], [0.1, 0.2], order=3, kind="unrolled")
    assert _plan([f], [x, y], "unrolled").partials.get(3) is False
    np.testing.assert_allclose(d[(1, 2)], -np.cos(0.1) * np.cos(0.2), rtol=1e-14)


def test_non_finite_values_match_the_scalar_path():
    """sqrt at 0 (0/0 in its recurrence) and log at 0: NaN and inf propagate the
    same way in both paths."""
    for f in (tj.sqrt(x) + tj.sin(y), tj.log(x) * y):
        simd, ref = _both(f, [x, y], [0.0, 0.3], 3)
        assert np.array_equal(simd.as_array(), ref.as_array(), equal_nan=True)
        assert not np.all(np.isfinite(simd.as_array()))


def test_layout_rows_and_kernel_buffers_per_thread():
    from concurrent.futures import ThreadPoolExecutor

    f = tj.exp(x * y) + z
    pts = np.random.default_rng(0).uniform(-1, 1, (16, 3))
    ref = [tj.derivatives(f, [x, y, z], p, order=4, kind="compact").as_array() for p in pts]
    tj.derivatives(f, [x, y, z], pts[0], order=4, kind="unrolled")
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda p: tj.derivatives(f, [x, y, z], p, order=4,
                                                   kind="unrolled").as_array(), pts))
    for a, b in zip(got, ref):
        assert np.array_equal(a, b)
    dirs, C, degs, index = _deriv_layout(3, 4)
    assert C.shape[0] == len(index) == 35
