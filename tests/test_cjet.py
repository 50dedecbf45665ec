"""Direct coefficients kernels (taylorjit._codegen.cjet) behind single-point
taylor_coefficients(): bit-identical to the table-driven kernels, every kind of
order-0 operation, parameters and time, tiering with the default kind."""
import time as _time
import warnings

import numpy as np
import pytest

import taylorjit as tj
from taylorjit._codegen import cjet as _cjet, tiering as _tiering
from taylorjit._frontends import jet as _jet
from taylorjit._frontends.jet import _plan

x, y, z = tj.make_vars("x", "y", "z")

CASES = [
    (tj.exp(tj.sin(x)) * tj.cos(x) / (1 + x**2), [x], [0.3], None, 20),
    ([tj.atan2(y, x) + tj.log(z), tj.asin(x / 3) * tj.acosh(2 + y * y)], [x, y, z],
     [0.4, -0.7, 1.9], [0.3, 1.0, -0.5], 12),
    ((1.5 + x * x) ** 1.3 - tj.tan(y) * tj.erf(x) + tj.sigmoid(x - y) + tj.atanh(x * y / 4)
     + tj.log1p(x * x) + tj.sinh(y) * tj.tanh(x) + tj.sqrt(2 + y), [x, y], [0.2, 0.3],
     [1.0, -2.0], 15),
    (x, [x], [0.5], None, 3),
    ([x * y, 2.5], [x, y], [2.0, 3.0], [1.0, 1.0], 4),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_bitwise_equal_to_the_table_kernels(case):
    f, vs, pt, dr, order = CASES[case]
    got = tj.taylor_coefficients(f, vs, pt, dr, order=order, kind="unrolled")
    fs = _jet._as_exprs(f)[0]
    assert isinstance(_plan(fs, vs, "unrolled").cjets.get(order), _cjet.CoefficientsKernel)
    ref = tj.taylor_coefficients(f, vs, pt, dr, order=order, kind="compact")
    assert got.shape == ref.shape
    assert np.array_equal(got, ref)
    # several points go through the table-driven driver: the same values
    many = tj.taylor_coefficients(f, vs, [pt, pt], dr, order=order, kind="unrolled")
    assert np.array_equal(many[0], got)


def test_pars_time_and_domain_edges():
    f = tj.par[0] * tj.exp(x * tj.par[1]) * tj.sin(tj.time * y) + tj.log(x)
    args = dict(order=6, pars=[1.5, -0.25], time=0.7)
    got = tj.taylor_coefficients(f, [x, y], [0.3, 0.5], [1.0, 0.5], kind="unrolled", **args)
    ref = tj.taylor_coefficients(f, [x, y], [0.3, 0.5], [1.0, 0.5], kind="compact", **args)
    assert np.array_equal(got, ref)
    # log at 0 and below: -inf / NaN as the other kinds
    for p0 in (0.0, -1.0):
        g = tj.taylor_coefficients(tj.log(x), [x], [p0], order=3, kind="unrolled")
        r = tj.taylor_coefficients(tj.log(x), [x], [p0], order=3, kind="compact")
        assert np.array_equal(g, r, equal_nan=True)


def test_value_against_the_exponential_series():
    c = tj.taylor_coefficients(tj.exp(2 * x), [x], [0.0], order=10, kind="unrolled")
    want = [2.0**k / np.prod(np.arange(1, k + 1)) for k in range(11)]
    np.testing.assert_allclose(c, want, rtol=1e-15)


def test_kepe_keeps_the_table_path():
    f = tj.kepE(0.3, x)
    c = tj.taylor_coefficients(f, [x], [0.5], order=5, kind="unrolled")
    assert _plan([f], [x], "unrolled").cjets.get(5) is False
    assert np.array_equal(c, tj.taylor_coefficients(f, [x], [0.5], order=5, kind="compact"))


def test_bad_input_still_explained():
    f = tj.sin(x) * y
    tj.taylor_coefficients(f, [x, y], [0.1, 0.2], [1.0, 0.0], order=3, kind="unrolled")
    with pytest.raises(ValueError, match="non-finite"):
        tj.taylor_coefficients(f, [x, y], [np.nan, 0.2], [1.0, 0.0], order=3, kind="unrolled")
    with pytest.raises(ValueError, match="direction is required"):
        tj.taylor_coefficients(f, [x, y], [0.1, 0.2], order=3, kind="unrolled")
    with pytest.raises(ValueError, match="2 variables"):
        tj.taylor_coefficients(f, [x, y], [0.1], [1.0, 0.0], order=3, kind="unrolled")


def test_default_kind_tiers_up_in_the_background(tmp_path, monkeypatch):
    monkeypatch.setenv("TAYLORJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TAYLORJIT_KERNEL", "auto")
    monkeypatch.setenv("TAYLORJIT_TIERING", "1")
    f = tj.cos(x * 1.000321) * tj.exp(x / 3)         # a never-seen expression
    first = tj.taylor_coefficients(f, [x], [0.2], order=9)
    plan = _plan([f], [x], "auto")
    for _ in range(_jet.TIER_CALLS):
        assert np.array_equal(tj.taylor_coefficients(f, [x], [0.2], order=9), first)
    assert isinstance(plan.cjets.get(9), _tiering.Upgrade)
    assert _tiering.wait_all(60)
    assert np.array_equal(tj.taylor_coefficients(f, [x], [0.2], order=9), first)
    assert isinstance(plan.cjets.get(9), _cjet.CoefficientsKernel)


def test_front_end_build_failures_warn_and_keep_the_vm(tmp_path, monkeypatch):
    """A compile that fails (here: made to) never raises in the user's call with the
    default kind: one TierWarning, the VM's values; kind="unrolled" raises."""
    monkeypatch.setenv("TAYLORJIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TAYLORJIT_KERNEL", "auto")
    monkeypatch.setenv("TAYLORJIT_TIERING", "1")

    def broken(d, order):
        raise MemoryError("no room for the code")

    monkeypatch.setattr(_cjet, "coefficients_kernel", broken)
    f = tj.sin(x * 1.000457) * tj.exp(x / 5)          # never seen: the first call builds
    ref = tj.taylor_coefficients(f, [x], [0.2], order=7, kind="compact")
    monkeypatch.setattr(_jet, "vm_loaded", lambda: False)
    with pytest.warns(tj.TierWarning, match="MemoryError"):
        got = tj.taylor_coefficients(f, [x], [0.2], order=7)
    assert np.array_equal(got, ref)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(tj.taylor_coefficients(f, [x], [0.2], order=7), ref)
    with pytest.raises(MemoryError):
        tj.taylor_coefficients(f, [x], [0.2], order=7, kind="unrolled")
    # in the background (the VM loaded: the TIER_CALLS-th call submits the build)
    monkeypatch.setattr(_jet, "vm_loaded", lambda: True)
    g = tj.cos(x * 1.000457) + x ** 3
    ref = tj.taylor_coefficients(g, [x], [0.2], order=7, kind="compact")
    for _ in range(_jet.TIER_CALLS):
        assert np.array_equal(tj.taylor_coefficients(g, [x], [0.2], order=7), ref)
    assert _tiering.wait_all(60)
    with pytest.warns(tj.TierWarning, match="MemoryError"):
        assert np.array_equal(tj.taylor_coefficients(g, [x], [0.2], order=7), ref)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(tj.taylor_coefficients(g, [x], [0.2], order=7), ref)


def test_taylor_jet_equals_taylor_coefficients():
    from concurrent.futures import ThreadPoolExecutor

    f = tj.exp(tj.sin(x)) * tj.cos(x) / (1 + x**2)
    J = tj.taylor_jet(f, [x], order=20)
    assert "direct kernel" in repr(J)
    ref = tj.taylor_coefficients(f, [x], [0.3], order=20, kind="compact")
    assert np.array_equal(J(0.3), ref)
    assert np.array_equal(J([0.3]), ref)
    assert np.array_equal(J(np.float64(0.3)), ref)
    assert np.array_equal(J(0.3, [2.0]), tj.taylor_coefficients(f, [x], [0.3], [2.0], order=20))
    assert J(np.array([[0.3], [0.4]])).shape == (2, 21)
    with ThreadPoolExecutor(3) as ex:         # per-thread buffers
        got = list(ex.map(lambda p: J(p), [0.1 * i for i in range(12)]))
    for i, g in enumerate(got):
        assert np.array_equal(g, tj.taylor_coefficients(f, [x], [0.1 * i], order=20))
    with pytest.raises(ValueError, match="non-finite"):
        J(float("nan"))
    with pytest.raises(ValueError, match="non-finite"):
        J(float("inf"))
    # several functions, several variables, parameters, kepE: the general path where needed
    g = [tj.par[0] * x * y, tj.sin(y)]
    Jg = tj.taylor_jet(g, [x, y], order=5)
    np.testing.assert_array_equal(
        Jg([0.5, 0.2], [1.0, 0.5], pars=[3.0]),
        tj.taylor_coefficients(g, [x, y], [0.5, 0.2], [1.0, 0.5], order=5, pars=[3.0]))
    Jk = tj.taylor_jet(tj.kepE(0.3, x), [x], order=4)
    assert "kernel=" in repr(Jk)
    assert np.array_equal(Jk(0.5), tj.taylor_coefficients(tj.kepE(0.3, x), [x], [0.5], order=4))
    Jc = tj.taylor_jet(f, [x], order=6, kind="compact")
    assert np.array_equal(Jc(0.3), ref[:7])
