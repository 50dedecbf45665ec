"""SIMD evaluators (taylorjit._codegen.vcfunc) behind cfunc: values against the scalar
kernels (bit for bit with the C library's functions lane by lane, within the
vector functions' ulp otherwise), every registered function, tails, wide rows,
parameters, fallbacks, threads and the disk cache."""
import math

import numpy as np
import pytest

import taylorjit as tj
from taylorjit._codegen.decompose import decompose
from taylorjit._symbolic.registry import FUNCTIONS
from taylorjit._codegen.vcfunc import UnsupportedSIMD, simd_cfunc, simd_supported, simd_width

x, y = tj.make_vars("x", "y")
EPS = np.finfo(float).eps


def _run(g, P, pars=None):
    P = np.ascontiguousarray(P, dtype=float)
    out = np.empty((P.shape[0], g.n_out))
    g(P, out, np.asarray(pars if pars is not None else [0.0], dtype=float))
    return out


def _scalar(fs, P, pars=None):
    """The compact VM's values (the C library's functions)."""
    g = tj.cfunc(fs, [x, y], kind="compact", simd=False)
    return np.atleast_2d(g(P, pars=pars)).reshape(len(P), -1)


def _every_function_exprs():
    exprs = []
    for f in FUNCTIONS.values():
        lo, hi = f.domain[0]
        mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
        args = [mid + half * tj.sin(x), mid + 0.5 * half * tj.cos(y),
                mid + 0.25 * half * tj.sin(x + y)][:f.nargs]
        exprs.append(f(*args))
    return exprs


def test_every_function_lane_libm_is_bitwise_the_scalar_kernels():
    """With the C library called lane by lane the SIMD code is the scalar kernels'
    operations in vector registers: identical values, including the domain
    branches of the operations run by the VM at order 0 (AS_CALL, pow, atan2)."""
    exprs = _every_function_exprs()
    d = decompose(exprs, [x, y])
    if not simd_supported(d):   # kepE, kepF, kepDE, relu, relup: kepE checked separately below
        exprs = [e for e in exprs if simd_supported(decompose([e], [x, y]))]
        d = decompose(exprs, [x, y])
    P = np.random.default_rng(0).uniform(-3, 3, (203, 2))
    got = _run(simd_cfunc(d, vector_math=False), P)
    ref = tj.cfunc(exprs, [x, y], kind="compact", simd=False)(P)
    assert np.array_equal(got, ref, equal_nan=True)


@pytest.mark.parametrize("name", ["log", "log1p", "asin", "acos", "acosh", "atanh", "sqrt"])
def test_domain_edges_match_the_c_library(name):
    """Outside and on the edges of the domain (negative, zero, +-1, inf, NaN): the
    SIMD code gives the scalar kernels' IEEE values (NaN, +-inf)."""
    f = getattr(tj, name)(x) + 0.0 * y
    d = decompose([f], [x, y])
    vals = np.array([-2.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, np.inf, -np.inf, np.nan, 1e-310])
    P = np.stack([vals, np.zeros_like(vals)], axis=1)
    lane = _run(simd_cfunc(d, vector_math=False), P)[:, 0]
    vec = _run(simd_cfunc(d), P)[:, 0]
    from taylorjit._codegen.kernel import get_kernel

    k = get_kernel(d, ode=False, kind="compact")
    ref = []
    for v in vals:
        tc = np.zeros((k.n_slots, 1))
        tc[0, 0], tc[1, 0] = v, 0.0
        k.jet(tc, 0, np.zeros(1), 0.0, 1, k.prog, k.cvals)
        ref.append(tc[d.outputs[0], 0])
    ref = np.array(ref)
    assert np.array_equal(lane, ref, equal_nan=True)
    same = (vec == ref) | (np.isnan(vec) & np.isnan(ref))
    with np.errstate(invalid="ignore"):
        close = np.abs(vec - ref) <= EPS * np.abs(ref)
    assert np.all(same | close), (vals, vec, ref)


def test_vector_functions_within_an_ulp_of_the_scalar_values():
    fs = [tj.exp(tj.sin(x)) * tj.cos(y) / (1 + x**2), tj.log(2.5 + tj.tanh(x * y)),
          tj.atan(x) - tj.expm1(y / 3) + tj.log1p(x * x), tj.sinh(y) * tj.cosh(x) + tj.tan(x / 2)]
    fs.append(tj.diff(fs[0], x))
    P = np.random.default_rng(1).uniform(-2, 2, (10_001, 2))
    got = tj.cfunc(fs, [x, y])(P)
    ref = _scalar(fs, P)
    # one vector-function rounding of a few ulp propagates through a few operations
    np.testing.assert_allclose(got, ref, rtol=16 * EPS, atol=16 * EPS)
    assert np.mean(got == ref) > 0.5


@pytest.mark.parametrize("npts", [1, 2, 7, 8, 9, 15, 16, 17, 33, 100])
def test_tails_and_sizes(npts):
    """A last partial block is evaluated on a padded copy: the same values as the
    same points in full blocks, and nothing is written beyond the output."""
    f = [tj.sin(x) * y, tj.exp(x) + y, x / y]
    g = tj.cfunc(f, [x, y])
    P = np.random.default_rng(npts).uniform(0.5, 1.5, (npts, 2))
    big = np.concatenate([P] * 8 + [P[:1]] * 0)
    got = g(P)
    assert got.shape == (npts, 3)
    np.testing.assert_array_equal(got, g(big)[:npts])
    fn = g._simd_fn
    out = np.full((npts + 3, 3), 7.0)
    fn(P, out[:npts], np.zeros(1))
    assert np.all(out[npts:] == 7.0)


def test_wide_rows_use_the_element_path():
    """Rows of more than 64 / W values are gathered element by element."""
    vs = tj.make_vars(*[f"v{i}" for i in range(11)])
    fs = [tj.sin(vs[i]) * vs[(i + 1) % 11] for i in range(10)]
    g = tj.cfunc(fs, vs)
    P = np.random.default_rng(3).uniform(-1, 1, (37, 11))
    ref = tj.cfunc(fs, vs, simd=False)(P)
    np.testing.assert_allclose(g(P), ref, rtol=4 * EPS, atol=4 * EPS)
    assert g._simd_fn is not None and 8 * 11 > 64


def test_pars_time_and_scalar_output():
    g = tj.cfunc(tj.par[0] * tj.exp(x) + tj.par[1] * tj.time, [x])
    X = np.linspace(-1, 1, 19).reshape(-1, 1)
    got = g(X, pars=[2.0, 3.0], time=0.5)
    assert got.shape == (19,)
    np.testing.assert_allclose(got, 2.0 * np.exp(X[:, 0]) + 1.5, rtol=2 * EPS)
    assert g(np.array([0.0]), pars=[2.0, 3.0], time=0.5) == 3.5
    assert g._simd_fn is not None


def test_constant_and_identity_outputs():
    g = tj.cfunc([x, 2.5, y * 1.0], [x, y])
    P = np.random.default_rng(5).standard_normal((13, 2))
    got = g(P)
    np.testing.assert_array_equal(got[:, 0], P[:, 0])
    np.testing.assert_array_equal(got[:, 1], 2.5)
    np.testing.assert_array_equal(got[:, 2], P[:, 1])


def test_unsupported_falls_back_or_raises():
    f = tj.kepE(0.3 + 0.1 * tj.sin(y), x)
    d = decompose([f], [x, y])
    assert not simd_supported(d)
    with pytest.raises(UnsupportedSIMD, match="kepE"):
        simd_cfunc(d)
    g = tj.cfunc(f, [x, y])                 # automatic: the scalar kernels
    P = np.array([[0.5, 0.2], [1.0, -0.3]])
    np.testing.assert_array_equal(g(P), tj.cfunc(f, [x, y], simd=False)(P))
    assert g._simd_fn is None and "kernel=" in repr(g)
    with pytest.raises(ValueError, match="simd=True.*kepE"):
        tj.cfunc(f, [x, y], simd=True)(P)


def test_kind_given_means_scalar_kernels_unless_simd_true():
    f = tj.sin(x) + y
    P = np.random.default_rng(6).standard_normal((9, 2))
    g = tj.cfunc(f, [x, y], kind="compact")
    np.testing.assert_array_equal(g(P), np.sin(P[:, 0]) + P[:, 1])
    assert g._simd_fn is None
    g2 = tj.cfunc(f, [x, y], kind="compact", simd=True)
    g2(P)
    assert g2._simd_fn is not None and "SIMD" in repr(g2)


def test_parallel_threads_equal_serial():
    f = [tj.exp(tj.sin(x)) * tj.cos(y), tj.log(1 + x * x + y * y)]
    g = tj.cfunc(f, [x, y])
    P = np.random.default_rng(7).uniform(-3, 3, (20_011, 2))
    np.testing.assert_array_equal(g(P, parallel=True), g(P))


def test_disk_cache_reload_and_corruption(tmp_path, monkeypatch):
    from taylorjit._codegen import vcfunc as _vcfunc

    monkeypatch.setenv("TAYLORJIT_CACHE_DIR", str(tmp_path))
    f = tj.atan(x * 1.2345) + tj.cos(y)
    d = decompose([f], [x, y])
    P = np.random.default_rng(8).standard_normal((21, 2))
    first = _run(simd_cfunc(d), P)
    files = list(tmp_path.rglob("tj_simd_*.o"))
    assert len(files) == 1
    _vcfunc._LOADED.clear()
    assert np.array_equal(_run(simd_cfunc(d), P), first)      # loaded from the disk
    files[0].write_bytes(files[0].read_bytes()[:100])          # truncated: rebuilt
    _vcfunc._LOADED.clear()
    assert np.array_equal(_run(simd_cfunc(d), P), first)


def test_width_is_a_supported_vector_size():
    assert simd_width() in (2, 4, 8)
    assert math.isfinite(float(simd_width()))
