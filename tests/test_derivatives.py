"""Front ends: taylor_coefficients, derivatives (exact GUW interpolation), cfunc.

References: mpmath at 50 digits (mpmath.taylor), sympy.diff evaluated at 30
digits, exact rational arithmetic for the interpolation coefficients.
"""
import math
import random
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp

import taylorjit as tj
from taylorjit._codegen.multi import _compute, directions, interpolation_matrices, multi_indices

EPS = np.finfo(float).eps
x, y, z = tj.make_vars("x", "y", "z")
X, Y, Z = sp.symbols("x y z")


# ------------------------------------------------------------------ the interpolation formula
@pytest.mark.parametrize("n,p", [(1, 5), (2, 3), (2, 6), (3, 4), (4, 3)])
def test_interpolation_coefficients_exact_on_polynomials(n, p):
    """For a homogeneous polynomial with random integer coefficients F_j, the
    coefficients recover j! F_j exactly (checked in rational arithmetic)."""
    rng = random.Random(n * 100 + p)
    dirs = multi_indices(n, p)
    mats = _compute(n, p)
    for d in range(p + 1):
        js, C = mats[d]
        Fj = {j: rng.randint(-9, 9) for j in js}
        fd = [sum(c * math.prod(i_ ** j_ for i_, j_ in zip(i, j)) for j, c in Fj.items())
              for i in dirs]
        got = C @ np.array(fd, dtype=float)
        want = np.array([Fj[j] * math.prod(math.factorial(a) for a in j) for j in js], float)
        scale = max(1.0, np.max(np.abs(want)))
        assert np.max(np.abs(got - want)) <= 64 * EPS * scale * len(dirs)


def test_interpolation_matrices_cached_and_shapes(tmp_path, monkeypatch):
    mats = interpolation_matrices(3, 4)
    assert len(mats) == 5
    assert directions(3, 4).shape == (15, 3)
    assert mats[4][1].shape == (15, 15)
    assert mats[2][1].shape == (6, 15)
    # exactness of one entry against Fractions: d^2/dxdy from p=2 directions
    js, C = _compute(2, 2)[2]
    dirs = multi_indices(2, 2)
    row = C[js.index((1, 1))]
    # f_2(i) = F20 i0^2 + F11 i0 i1 + F02 i1^2 -> F11 = f(1,1) - f(2,0)/4 - f(0,2)/4
    want = {(2, 0): Fraction(-1, 4), (1, 1): Fraction(1), (0, 2): Fraction(-1, 4)}
    for b, i in enumerate(dirs):
        assert row[b] == float(want[i])


# ------------------------------------------------------------------ taylor_coefficients
def _mp_taylor(fun, x0, order, dps=50):
    with mpmath.workdps(dps):
        return [float(c) for c in mpmath.taylor(fun, mpmath.mpf(x0), order)]


@pytest.mark.parametrize("kind", ["compact", "spec", "python"])
def test_taylor_coefficients_vs_mpmath(kind):
    f = tj.exp(tj.sin(x)) * tj.cos(y) / (1 + x**2)
    c = tj.taylor_coefficients(f, [x, y], point=[0.3, 0.1], direction=[1.0, 0.0], order=30,
                               kind=kind)
    ref = _mp_taylor(lambda s: mpmath.exp(mpmath.sin(s)) * mpmath.cos(mpmath.mpf(0.1))
                     / (1 + s**2), 0.3, 30)
    scale = max(abs(r) for r in ref)
    assert c.shape == (31,)
    assert np.max(np.abs(c - ref)) <= 32 * EPS * scale


def test_taylor_coefficients_along_general_direction_and_many_points():
    f = tj.atan(x * y) + tj.sqrt(1 + x**2 + y**2)
    pts = np.array([[0.1, 0.2], [-0.4, 0.7], [1.3, -0.2]])
    dirs = np.array([[1.0, 2.0], [0.5, -1.0], [-1.0, 0.25]])
    c = tj.taylor_coefficients(f, [x, y], pts, dirs, order=12)
    assert c.shape == (3, 13)
    for r in range(3):
        p, d = pts[r], dirs[r]
        ref = _mp_taylor(lambda h: mpmath.atan((p[0] + d[0] * h) * (p[1] + d[1] * h))
                         + mpmath.sqrt(1 + (p[0] + d[0] * h) ** 2 + (p[1] + d[1] * h) ** 2),
                         0.0, 12)
        scale = max(abs(v) for v in ref)
        assert np.max(np.abs(c[r] - ref)) <= 64 * EPS * scale


def test_taylor_coefficients_vector_valued_pars_and_time():
    f = [tj.par[0] * tj.sin(x), tj.time * x, tj.exp(tj.par[1] * x)]
    c = tj.taylor_coefficients(f, [x], [0.5], order=6, pars=[2.0, -0.5], time=3.0)
    assert c.shape == (3, 7)
    ref0 = _mp_taylor(lambda s: 2 * mpmath.sin(s), 0.5, 6)
    ref2 = _mp_taylor(lambda s: mpmath.exp(-0.5 * s), 0.5, 6)
    np.testing.assert_allclose(c[0], ref0, rtol=0, atol=8 * EPS)
    np.testing.assert_allclose(c[1], [1.5, 3.0, 0, 0, 0, 0, 0], rtol=0, atol=0)
    np.testing.assert_allclose(c[2], ref2, rtol=0, atol=8 * EPS)


def test_expand_in_time_and_parameter():
    """tj.time and tj.par[i] listed among the variables are expanded like variables."""
    f = tj.sin(tj.time) * tj.par[0] ** 2
    c = tj.taylor_coefficients(f, [tj.time, tj.par[0]], [0.2, 3.0], [1.0, 0.0], order=5)
    ref = _mp_taylor(lambda s: 9 * mpmath.sin(s), 0.2, 5)
    np.testing.assert_allclose(c, ref, rtol=0, atol=16 * EPS)
    d = tj.derivatives(f, [tj.time, tj.par[0]], [0.2, 3.0], order=2)
    assert d[(1, 1)] == pytest.approx(2 * 3.0 * math.cos(0.2), rel=1e-14)


def test_kinds_agree_bit_for_bit():
    f = [tj.kepE(0.3 + 0.1 * y, x) * tj.tanh(y), tj.atan2(y, x + 2) ** 1.5, tj.erf(x - y)]
    cs = [tj.taylor_coefficients(f, [x, y], [0.7, 0.2], [1.0, -0.5], order=25, kind=k)
          for k in ("compact", "spec", "python")]
    assert np.array_equal(cs[0], cs[1])
    assert np.array_equal(cs[0], cs[2])


# ------------------------------------------------------------------ derivatives
def _sympy_partials(F, syms, point, order):
    out = {}
    sub = dict(zip(syms, point))
    for d in range(order + 1):
        for j in multi_indices(len(syms), d):
            expr = F
            for s, k in zip(syms, j):
                if k:
                    expr = sp.diff(expr, s, k)
            out[j] = float(expr.subs(sub).evalf(30))
    return out


@pytest.mark.parametrize("case", [
    ("exp(sin x) cos y/(1+x^2)", lambda a, b, c: tj.exp(tj.sin(a)) * tj.cos(b) / (1 + a**2),
     lambda a, b, c: sp.exp(sp.sin(a)) * sp.cos(b) / (1 + a**2), 2, [0.3, 0.1], 6),
    ("1/r", lambda a, b, c: 1 / tj.sqrt((a - 0.1)**2 + (b + 0.2)**2 + (c - 0.3)**2),
     lambda a, b, c: 1 / sp.sqrt((a - sp.Rational(1, 10))**2 + (b + sp.Rational(1, 5))**2
                                 + (c - sp.Rational(3, 10))**2), 3, [0.5, 0.4, 1.1], 5),
    ("log(1+x y) sinh z", lambda a, b, c: tj.log(1 + a * b) * tj.sinh(c),
     lambda a, b, c: sp.log(1 + a * b) * sp.sinh(c), 3, [0.5, 0.8, -0.3], 4),
    ("1-D", lambda a, b, c: tj.tan(a) * tj.asinh(a), lambda a, b, c: sp.tan(a) * sp.asinh(a),
     1, [0.4], 8),
])
def test_derivatives_vs_sympy(case):
    name, f_tj, f_sp, n, point, order = case
    vs, ss = [x, y, z][:n], [X, Y, Z][:n]
    d = tj.derivatives(f_tj(x, y, z), vs, point, order=order)
    ref = _sympy_partials(f_sp(X, Y, Z), ss, point, order)
    for deg in range(order + 1):
        js = multi_indices(n, deg)
        scale = max(1.0, max(abs(ref[j]) for j in js))
        # the interpolation mixes the directions of one degree: the error is relative to the
        # largest derivative of that degree (documented in taylorjit._codegen.multi)
        tol = 2000 * EPS * scale
        for j in js:
            assert abs(d[j] - ref[j]) <= tol, (name, j, d[j], ref[j])


def test_derivatives_accessors_vector_valued():
    f = [x**2 * y, tj.sin(x) * tj.exp(y)]
    d = tj.derivatives(f, [x, y], [0.5, -0.2], order=3)
    J = d.gradient()
    assert J.shape == (2, 2)
    np.testing.assert_allclose(J[0], [2 * 0.5 * -0.2, 0.25], rtol=1e-14)
    np.testing.assert_allclose(J[1], [math.cos(0.5) * math.exp(-0.2),
                                      math.sin(0.5) * math.exp(-0.2)], rtol=1e-14)
    H = d.hessian()
    assert H.shape == (2, 2, 2)
    np.testing.assert_allclose(H[0], [[-0.4, 1.0], [1.0, 0.0]], atol=1e-14)
    T3 = d.tensor(3)
    assert T3.shape == (2, 2, 2, 2)
    assert T3[0, 0, 0, 1] == pytest.approx(2.0, rel=1e-13)
    assert d[(2, 1)][0] == pytest.approx(2.0, rel=1e-13)
    np.testing.assert_allclose(d.value(), [0.25 * -0.2, math.sin(0.5) * math.exp(-0.2)])
    assert len(d) == 10
    with pytest.raises(KeyError):
        d[(3, 1)]
    with pytest.raises(ValueError):
        d.tensor(4)


def test_derivatives_scalar_accessors():
    d = tj.derivatives(x**3 * y**2, [x, y], [1.0, 2.0], order=3)
    assert d[(2, 1)] == pytest.approx(24.0, rel=1e-14)
    np.testing.assert_allclose(d.gradient(), [12.0, 4.0], rtol=1e-14)
    np.testing.assert_allclose(d.hessian(), [[24.0, 12.0], [12.0, 2.0]], rtol=1e-13)
    d0 = tj.derivatives(x**3 * y**2, [x, y], [1.0, 2.0], order=0)
    assert d0[(0, 0)] == 4.0


# ------------------------------------------------------------------ cfunc
def test_cfunc_single_and_batch():
    f = [tj.exp(tj.sin(x)) * tj.cos(y) / (1 + x**2), tj.atan2(y, x), x * y]
    g = tj.cfunc(f, [x, y])
    rng = np.random.default_rng(1)
    P = rng.uniform(-2, 2, size=(1000, 2))
    out = g(P)
    ref = np.stack([np.exp(np.sin(P[:, 0])) * np.cos(P[:, 1]) / (1 + P[:, 0] ** 2),
                    np.arctan2(P[:, 1], P[:, 0]), P[:, 0] * P[:, 1]], axis=1)
    np.testing.assert_allclose(out, ref, rtol=4 * EPS, atol=4 * EPS)
    np.testing.assert_array_equal(g(P[3]), out[3])
    np.testing.assert_array_equal(g(P, parallel=True), out)
    assert "2 variable" in repr(g)


def test_cfunc_with_pars_and_scalar_output():
    g = tj.cfunc(tj.par[0] * x + tj.par[1], [x], kind="spec")
    assert g(np.array([2.0]), pars=[3.0, 1.0]) == 7.0
    np.testing.assert_array_equal(g(np.array([[1.0], [2.0]]), pars=[3.0, 1.0]), [4.0, 7.0])


# ------------------------------------------------------------------ bad input
def test_bad_input_errors():
    f = tj.sin(x) * y
    with pytest.raises(ValueError, match="variable 'y'"):
        tj.taylor_coefficients(f, [x], [0.1], order=3)
    with pytest.raises(ValueError, match="2 variables"):
        tj.taylor_coefficients(f, [x, y], [0.1], [1.0, 0.0], order=3)
    with pytest.raises(ValueError, match="direction is required"):
        tj.taylor_coefficients(f, [x, y], [0.1, 0.2], order=3)
    with pytest.raises(ValueError, match="non-finite"):
        tj.taylor_coefficients(f, [x, y], [np.nan, 0.2], [1.0, 0.0], order=3)
    with pytest.raises(ValueError, match="order must be >= 0"):
        tj.taylor_coefficients(f, [x, y], [0.1, 0.2], [1.0, 0.0], order=-1)
    with pytest.raises(TypeError, match="order must be a non-negative integer"):
        tj.derivatives(f, [x, y], [0.1, 0.2], order=2.5)
    with pytest.raises(ValueError, match="pars"):
        tj.taylor_coefficients(tj.par[1] * x, [x], [0.1], order=3)
    with pytest.raises(ValueError, match="time="):
        tj.cfunc(tj.time * x, [x])(np.array([1.0]))
    with pytest.raises(TypeError, match="variables must be"):
        tj.derivatives(f, [x, x + y], [0.1, 0.2], order=2)
    with pytest.raises(ValueError, match="listed twice"):
        tj.derivatives(f, [x, x], [0.1, 0.2], order=2)
    with pytest.raises(TypeError, match="cannot use an object"):
        tj.taylor_coefficients([f, "abc"], [x, y], [0.1, 0.2], [1.0, 0.0], order=2)


def test_out_of_domain_is_ieee_nan_not_crash():
    c = tj.taylor_coefficients(tj.log(x), [x], [-1.0], order=3)
    assert np.isnan(c[0])
    c = tj.taylor_coefficients(tj.sqrt(x), [x], [-1.0], order=3)
    assert np.all(np.isnan(c))


@pytest.mark.parametrize("kind", ["compact", "spec"])
def test_division_by_zero_is_ieee_not_a_swallowed_exception(kind, capfd):
    """With numba's default error model a ZeroDivisionError raised inside a jet
    called as a first-class function was printed as 'Exception ignored' and the
    result was silently wrong (zeros); kernels use IEEE semantics instead."""
    c = tj.taylor_coefficients(1 / x, [x], [0.0], order=3, kind=kind)
    assert c[0] == math.inf and c[1] == -math.inf and np.all(np.isnan(c[2:]))
    c = tj.taylor_coefficients(tj.log(x), [x], [0.0], order=2, kind=kind)
    assert c[0] == -math.inf
    assert "Exception ignored" not in capfd.readouterr().err


def test_too_many_partials_is_a_clear_error():
    vs = [tj.var(f"v{i}") for i in range(20)]
    with pytest.raises(ValueError, match="lower the order or the number of variables"):
        tj.derivatives(sum(vs[1:], vs[0]), vs, np.zeros(20), order=6)


def test_memoised_front_end_sees_mutated_lists_and_env(monkeypatch):
    """Repeated calls skip the argument analysis, keyed by the objects passed: a
    list mutated between calls, or another kernel kind in the environment, must
    still give the right plan."""
    f = x**3 * y
    vs = [x, y]
    d1 = tj.derivatives(f, vs, [2.0, 5.0], order=1)
    assert d1.gradient().tolist() == [3 * 4.0 * 5.0, 8.0]
    vs.reverse()                        # now [y, x]: the point is (y, x)
    d2 = tj.derivatives(f, vs, [5.0, 2.0], order=1)
    assert d2.gradient().tolist() == [8.0, 60.0]
    fs = [f, x + y]
    c1 = tj.taylor_coefficients(fs, [x, y], [1.0, 1.0], [1.0, 0.0], order=2)
    fs[1] = x - y
    c2 = tj.taylor_coefficients(fs, [x, y], [1.0, 1.0], [1.0, 0.0], order=2)
    assert c1[1].tolist() == [2.0, 1.0, 0.0] and c2[1].tolist() == [0.0, 1.0, 0.0]
    monkeypatch.setenv("TAYLORJIT_KERNEL", "python")
    c3 = tj.taylor_coefficients(fs, [x, y], [1.0, 1.0], [1.0, 0.0], order=2)
    assert np.array_equal(c3, c2)
    from taylorjit._frontends.jet import _plan

    assert _plan(fs, [x, y], "python").kernel.kind == "python"
