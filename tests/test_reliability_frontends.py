"""Reliability of the derivative front ends and expressions (issue 19).

numpy scalars for every numeric argument, per-point cfunc parameters, complex
input, order limits, constant folding of ``**``, pickling of the compiled
callables, and a fuzz of numpy scalar types against Python numbers.  Values are
checked against math/numpy point by point and exact rational arithmetic.
"""
import copy
import math
import pickle
import warnings
from fractions import Fraction
from itertools import product

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import taylorjit as tj
from taylorjit._frontends import jet as _jet
from taylorjit._codegen.multi import _compute, multi_indices

x, y = tj.make_vars("x", "y")


# ------------------------------------------------------------------ numpy integer order (item 1)
@pytest.mark.parametrize("kind", [None, "compact", "unrolled"])
def test_numpy_integer_order_is_not_cached_under_another_order(kind):
    f = tj.exp(x) * tj.sin(x)
    want8 = tj.taylor_coefficients(f, [x], [0.3], order=8, kind=kind)
    c3 = tj.taylor_coefficients(f, [x], [0.3], order=np.int64(3), kind=kind)
    c8 = tj.taylor_coefficients(f, [x], [0.3], order=np.int64(8), kind=kind)
    assert c3.shape == (4,) and c8.shape == (9,)
    np.testing.assert_array_equal(c8, want8)
    np.testing.assert_array_equal(c3, want8[:4])
    d = tj.derivatives(f, [x], [0.3], order=np.int64(5), kind=kind)
    # d^5/dx^5 e^x sin x = -4 e^x (sin x + cos x)
    assert d[(5,)] == pytest.approx(-4 * math.exp(0.3) * (math.sin(0.3) + math.cos(0.3)),
                                    rel=1e-13)
    d2 = tj.derivatives(f, [x], [0.3], order=np.int32(2), kind=kind)
    assert d2.order == 2 and type(d2.order) is int
    J = tj.taylor_jet(f, [x], order=np.int64(4))
    assert J.order == 4 and type(J.order) is int
    np.testing.assert_array_equal(J(0.3), want8[:5])


@pytest.mark.parametrize("order", [np.int8(6), np.uint16(6), np.int64(6), np.array(6),
                                   6.0, np.float64(6.0), np.array(6.0)])
def test_integer_like_orders_accepted(order):
    got = tj.taylor_coefficients(tj.cos(x), [x], [0.2], order=order)
    np.testing.assert_array_equal(got, tj.taylor_coefficients(tj.cos(x), [x], [0.2], order=6))


@pytest.mark.parametrize("order", [True, np.True_, 2.5, float("nan"), float("inf"), "3", 3 + 0j,
                                   None, [3]])
def test_non_integer_orders_refused(order):
    for call in (lambda: tj.taylor_coefficients(tj.cos(x), [x], [0.2], order=order),
                 lambda: tj.derivatives(tj.cos(x), [x], [0.2], order=order),
                 lambda: tj.taylor_jet(tj.cos(x), [x], order=order)):
        with pytest.raises(TypeError, match="order must be a non-negative integer"):
            call()


# ------------------------------------------------------------------ per-point cfunc parameters (item 3)
def _ref_values(X, P, T=None):
    out = []
    for i in range(X.shape[0]):
        a, b = X[i]
        p0, p1, p2 = P[:, i]
        t = 0.0 if T is None else T[i]
        out.append([p0 * math.sin(a) + p1 * b * b + p2 * t + a - b,
                    math.exp(p1 * a) / (1 + b * b) + p0 * p2])
    return np.array(out)


@pytest.mark.parametrize("simd", [None, False])
def test_cfunc_per_point_parameters_in_heyokas_layout(simd):
    p0, p1, p2 = tj.par[0], tj.par[1], tj.par[2]
    f = [p0 * tj.sin(x) + p1 * y ** 2 + p2 * tj.time + x - y,
         tj.exp(p1 * x) / (1 + y * y) + p0 * p2]
    g = tj.cfunc(f, [x, y], simd=simd)
    rng = np.random.default_rng(19)
    X = rng.uniform(-1, 1, (37, 2))           # not a multiple of the SIMD width
    P = rng.uniform(-1, 1, (3, 37))           # (npars, npoints)
    T = rng.uniform(0, 2, 37)
    got = g(X, pars=P, time=T)
    np.testing.assert_allclose(got, _ref_values(X, P, T), rtol=4e-16, atol=4e-16)
    # the same IEEE operations as evaluating point by point with shared parameters
    one = np.array([g(X[i], pars=P[:, i], time=T[i]) for i in range(37)])
    np.testing.assert_array_equal(got, one)
    # per-point parameters with a shared time, shared parameters with per-point time
    np.testing.assert_allclose(g(X, pars=P, time=0.0), _ref_values(X, P), rtol=4e-16,
                               atol=4e-16)
    Pc = np.repeat(P[:, :1], 37, axis=1)
    np.testing.assert_array_equal(g(X, pars=P[:, 0], time=T), g(X, pars=Pc, time=T))
    # one point: a column (or a row) of parameters is that point's
    np.testing.assert_array_equal(g(X[:1], pars=P[:, :1], time=T[:1]), one[:1])
    np.testing.assert_array_equal(g(X[0], pars=P[:, :1].T, time=T[0]), one[0])


def test_cfunc_per_point_parameters_wrong_layouts_refused():
    g = tj.cfunc(tj.par[0] * x + tj.par[1] * y, [x, y])
    X = np.ones((5, 2))
    with pytest.raises(ValueError, match=r"shape \(5, 2\).*one column per point.*pass pars\.T"):
        g(X, pars=np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"pass shape \(2,\).*or \(2, 5\)"):
        g(X, pars=np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"pass shape \(2,\)"):
        g(X, pars=np.ones((2, 5, 1)))
    with pytest.raises(ValueError, match="NaN or infinity"):
        g(X, pars=np.full((2, 5), np.nan))
    h = tj.cfunc(tj.time * x, [x])
    with pytest.raises(ValueError, match=r"time has shape \(4,\) for 5 point"):
        h(np.ones((5, 1)), time=np.ones(4))
    # a square array is read in heyoka's layout (documented)
    Xs = np.array([[1.0, 2.0], [3.0, 4.0]])
    Ps = np.array([[10.0, 20.0], [30.0, 40.0]])       # column i: parameters of point i
    np.testing.assert_array_equal(g(Xs, pars=Ps), [10 * 1 + 30 * 2, 20 * 3 + 40 * 4])


def test_two_dimensional_pars_refused_where_one_set_is_used():
    f = tj.par[0] * x + tj.par[1]
    with pytest.raises(ValueError, match="per-point parameters are supported by tj.cfunc"):
        tj.taylor_coefficients(f, [x], [[0.1], [0.2]], order=3, pars=np.ones((2, 2)))
    with pytest.raises(ValueError, match="per-point parameters"):
        tj.derivatives(f, [x], [0.1], order=2, pars=np.ones((2, 3)))
    # a single row or column is unambiguous and still accepted
    np.testing.assert_array_equal(
        tj.taylor_coefficients(f, [x], [0.5], order=2, pars=[[2.0], [1.0]]), [2.0, 2.0, 0.0])


def test_cfunc_parameter_listed_as_variable_and_per_point_rest():
    f = tj.par[0] * x + tj.par[1] * tj.par[0]
    g = tj.cfunc(f, [x, tj.par[0]])            # par[0] is an input, par[1] a parameter
    X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    got = g(X, pars=np.array([[0.0, 0.0, 0.0], [1.0, 10.0, 100.0]]))
    np.testing.assert_array_equal(got, [1 * 2 + 1 * 2, 3 * 4 + 10 * 4, 5 * 6 + 100 * 6])


# ------------------------------------------------------------------ complex input (item 4)
def _no_complex_warning(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TypeError, match="complex value"):
            fn()


@pytest.mark.parametrize("value", [np.array([0.3 + 1j]), [0.3 + 1j], [np.complex64(0.3)],
                                   (np.complex128(0.3 + 0j),), [np.array(0.3 + 2j)]])
def test_complex_point_refused(value):
    f = tj.exp(x)
    _no_complex_warning(lambda: tj.taylor_coefficients(f, [x], value, order=3))
    _no_complex_warning(lambda: tj.derivatives(f, [x], value, order=3))
    _no_complex_warning(lambda: tj.cfunc(f, [x])(value))
    _no_complex_warning(lambda: tj.cfunc(f, [x], simd=False)(value))
    _no_complex_warning(lambda: tj.taylor_jet(f, [x], order=3)(value))
    _no_complex_warning(lambda: tj.taylor_coefficients(f, [x], [0.3], value, order=3))


def test_complex_pars_time_and_batches_refused():
    f = tj.par[0] * x + tj.time
    P = np.ones((8, 1), dtype=complex)
    _no_complex_warning(lambda: tj.taylor_coefficients(f, [x], P, order=2, pars=[1.0],
                                                       time=0.0))
    _no_complex_warning(lambda: tj.taylor_coefficients(f, [x], [0.1], order=2, pars=[1j],
                                                       time=0.0))
    _no_complex_warning(lambda: tj.taylor_coefficients(f, [x], [0.1], order=2, pars=[1.0],
                                                       time=np.complex128(1)))
    g = tj.cfunc(f, [x])
    _no_complex_warning(lambda: g(np.ones((8, 1)), pars=np.ones((1, 8), complex), time=0.0))
    _no_complex_warning(lambda: g(np.ones((8, 1)), pars=[1.0], time=np.ones(8, complex)))
    with pytest.raises(TypeError, match="must be real numbers"):
        tj.taylor_coefficients(f, [x], ["0.5"], order=2, pars=[1.0], time=0.0)
    with pytest.raises(TypeError, match="time must be a real number"):
        tj.taylor_coefficients(f, [x], [0.5], order=2, pars=[1.0], time=True)


# ------------------------------------------------------------------ order limits (item 8)
def test_orders_above_the_maximum_refused():
    for call in (lambda o: tj.taylor_coefficients(tj.sin(x), [x], [0.1], order=o),
                 lambda o: tj.taylor_jet(tj.sin(x), [x], order=o),
                 lambda o: tj.derivatives(tj.sin(x), [x], [0.1], order=o)):
        with pytest.raises(ValueError, match=r"order=1000000 is above the maximum of 10000"):
            call(10 ** 6)
        with pytest.raises(ValueError, match="above the maximum"):
            call(np.int64(_jet.MAX_ORDER + 1))
    # the maximum itself works (1/(1 - x) has every coefficient 1)
    c = tj.taylor_coefficients(1 / (1 - x), [x], [0.0], order=_jet.MAX_ORDER, kind="compact")
    assert c.shape == (_jet.MAX_ORDER + 1,) and np.all(c == 1.0)


def test_derivatives_order_limits():
    with pytest.raises(ValueError, match="derivatives of order 701: the maximum is 700"):
        tj.derivatives(tj.sin(x), [x], [0.1], order=701)
    with pytest.raises(ValueError, match="exact interpolation table of 1081 x 46"):
        tj.derivatives(tj.sin(x) * y, [x, y], [0.1, 0.2], order=45)
    with pytest.raises(ValueError, match="exact interpolation table"):
        tj.derivatives(tj.sin(x) * y * tj.var("z"), [x, y, tj.var("z")], [0.1, 0.2, 0.3],
                       order=21)


def test_derivatives_one_variable_high_order():
    """One variable: the interpolation table is d!/p^d (it took minutes from order
    ~400 on, and hours at 700); sin's derivatives stay exact to order 700."""
    d = tj.derivatives(tj.sin(x), [x], [0.1], order=700, kind="compact")
    s, c = math.sin(0.1), math.cos(0.1)
    for k in (1, 171, 350, 699, 700):
        want = [s, c, -s, -c][k % 4]
        assert d[(k,)] == pytest.approx(want, rel=1e-13), k


@pytest.mark.parametrize("p", [1, 2, 7, 30, 171, 400, 1000])
def test_one_variable_table_is_the_rounded_exact_value(p):
    mats = _compute(1, p)
    for dd, (js, C) in enumerate(mats):
        assert js == [(dd,)]
        assert C[0, 0] == float(Fraction(math.factorial(dd), p ** dd))


def _guw_exact(n, p, d):
    """The interpolation coefficients of degree d straight from the formula
    c_{j,i} = sum_{0<k<=j} (-1)^{|j-k|} binom(j,k) binom(p k/|k|, i) (|k|/p)^d."""
    def gbinom(r, m):
        out = Fraction(1)
        for l in range(m):
            out *= (r - l) / Fraction(l + 1)
        return out

    dirs = multi_indices(n, p)
    rows = []
    for j in multi_indices(n, d):
        row = []
        for i in dirs:
            acc = Fraction(0)
            for k in product(*[range(jm + 1) for jm in j]):
                ak = sum(k)
                if ak == 0:
                    continue
                term = Fraction((-1) ** (d - ak)) * math.prod(math.comb(a, b) for a, b in zip(j, k))
                for km, im in zip(k, i):
                    term *= gbinom(Fraction(p * km, ak), im)
                acc += term * Fraction(ak, p) ** d
            row.append(float(acc))
        rows.append(row)
    return np.array(rows)


@pytest.mark.parametrize("n,p", [(2, 4), (3, 3), (4, 2), (5, 2), (2, 7)])
def test_sparse_interpolation_table_is_exact(n, p):
    """The table (which visits only the directions a term can reach) equals the
    formula evaluated in rational arithmetic, rounded once."""
    mats = _compute(n, p)
    for d in range(1, p + 1):
        np.testing.assert_array_equal(mats[d][1], _guw_exact(n, p, d))


def test_many_variable_table_is_fast_enough():
    """30 variables at order 3 (4960 directions) took ~4 minutes; now ~1 s.  A
    row whose multi-index involves 3 variables is the 3-variable table's row
    on the directions within those variables, and 0 elsewhere."""
    js, C = _compute(30, 3)[3]
    row = C[js.index((1, 1, 1) + (0,) * 27)]
    inside = [all(v == 0 for v in i[3:]) for i in multi_indices(30, 3)]
    assert not np.any(row[~np.array(inside)])
    j3, C3 = _compute(3, 3)[3]
    np.testing.assert_array_equal(row[np.array(inside)], C3[j3.index((1, 1, 1))])


def test_long_batches_run_in_interruptible_chunks(monkeypatch):
    """A batch is split into compiled calls of bounded work (Ctrl-C acts between
    them); the values do not depend on the split."""
    f = tj.sin(x) * tj.exp(y)
    P = np.random.default_rng(1).uniform(-1, 1, (50, 2))
    D = np.ones_like(P)
    want = tj.taylor_coefficients(f, [x, y], P, D, order=12, kind="compact")
    calls = []
    drive = _jet._drivers()
    monkeypatch.setitem(_jet._DRIVERS, "points", lambda *a: (calls.append(a[6].shape[0]),
                                                             drive(*a)))
    monkeypatch.setattr(_jet, "_CHUNK_WORK", 4000)
    got = tj.taylor_coefficients(f, [x, y], P, D, order=12, kind="compact")
    assert len(calls) > 5 and sum(calls) == 50
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------ ** folding in subs (item 13)
def test_power_of_constants_folds_like_ieee_or_stays_symbolic():
    # a real result folds to a number
    assert tj.subs(x ** 3.0, {x: -2.0}) == -8.0
    assert tj.subs(x ** 0.5, {x: 4.0}) == 2.0
    assert tj.subs(x ** -2000.0, {x: 2.0}) == 0.0
    # complex, overflow, 0**negative: the node stays symbolic (as sqrt(-2), exp(1000))
    # and evaluates like numpy's float64 power
    cases = [(x ** 0.5, -2.0), (x ** 400.0, 10.0), (x ** -1.0, 0.0), (x ** (1 / 3), -8.0),
             (x ** -1.5, 0.0)]
    for e, v in cases:
        r = tj.subs(e, {x: v})
        assert r.op == "pow", r
        with np.errstate(all="ignore"):
            want = np.power(v, e.args[1].value)
        for simd in (None, False):
            got = tj.cfunc(r + y, [y], simd=simd)(np.array([0.0]))
            np.testing.assert_array_equal(got, want)
        c = tj.taylor_coefficients(r * y, [y], [1.0], order=2)
        np.testing.assert_array_equal(c[:2], [want, want])
    assert tj.sqrt(-2.0).op == "sqrt"
    np.testing.assert_array_equal(tj.cfunc(tj.sqrt(-2.0) + y, [y])(np.array([0.0])),
                                  tj.cfunc(tj.subs(x ** 0.5, {x: -2.0}) + y, [y])(
                                      np.array([0.0])))


# ------------------------------------------------------------------ pickling (item 14)
@pytest.mark.parametrize("kind", ["unrolled", "compact"])
def test_taylor_jet_pickles_and_copies(kind):
    J = tj.taylor_jet([tj.sin(x) * y, tj.exp(tj.par[0] * y)], [x, y], order=7, kind=kind)
    args = ([0.3, -0.2], [1.0, 0.5])
    want = J(*args, pars=[0.7])
    for K in (pickle.loads(pickle.dumps(J)), copy.copy(J), copy.deepcopy(J)):
        assert type(K) is tj.TaylorJet and K.order == 7
        np.testing.assert_array_equal(K(*args, pars=[0.7]), want)
    J1 = tj.taylor_jet(tj.cos(x), [x], order=5, kind=kind)
    K1 = pickle.loads(pickle.dumps(J1))
    np.testing.assert_array_equal(K1(0.4), J1(0.4))


def test_cfunc_pickles_and_copies_after_use():
    g = tj.cfunc([tj.sin(x) * y, tj.par[0] * x], [x, y])
    X = np.random.default_rng(2).uniform(-1, 1, (13, 2))
    want = g(X, pars=[0.5])
    for h in (pickle.loads(pickle.dumps(g)), copy.copy(g), copy.deepcopy(g)):
        np.testing.assert_array_equal(h(X, pars=[0.5]), want)


# ------------------------------------------------------------------ fuzz: numpy scalar types
_INT_TYPES = [int, np.int32, np.int64, np.uint8, lambda k: np.array(k), float]
_FLOAT_TYPES = [float, np.float64, np.float32, lambda v: np.array(v), lambda v: np.array([v])[0]]
_F = [tj.sin(x) * tj.exp(y) + tj.par[0] * x * y, tj.atan(x + tj.time * y)]


def _as_f32_exact(v):
    return float(np.float32(v))


@settings(max_examples=40, deadline=None)
@given(order=st.integers(0, 9), to_int=st.sampled_from(_INT_TYPES),
       vals=st.lists(st.floats(-1.5, 1.5, allow_nan=False), min_size=6, max_size=6),
       to_float=st.sampled_from(_FLOAT_TYPES), as_array=st.sampled_from([None, np.float32,
                                                                         np.float64]))
def test_fuzz_numpy_scalar_arguments_match_python_numbers(order, to_int, vals, to_float,
                                                          as_array):
    vals = [_as_f32_exact(v) for v in vals]     # exact in every float type drawn
    pt, dr, pv, tv = vals[:2], vals[2:4], vals[4], vals[5]

    def conv(seq):
        if as_array is not None:
            return np.array(seq, dtype=as_array)
        return [to_float(v) for v in seq]

    o = to_int(order)
    ref = tj.taylor_coefficients(_F, [x, y], pt, dr, order=order, pars=[pv], time=tv)
    got = tj.taylor_coefficients(_F, [x, y], conv(pt), conv(dr), order=o, pars=conv([pv]),
                                 time=to_float(tv))
    np.testing.assert_array_equal(got, ref)
    J = tj.taylor_jet(_F, [x, y], order=o, kind="compact")
    np.testing.assert_array_equal(J(conv(pt), conv(dr), pars=conv([pv]), time=to_float(tv)),
                                  ref)
    d_ref = tj.derivatives(_F, [x, y], pt, order=min(order, 4), pars=[pv], time=tv)
    d_got = tj.derivatives(_F, [x, y], conv(pt), order=to_int(min(order, 4)), pars=conv([pv]),
                           time=to_float(tv))
    np.testing.assert_array_equal(d_got.as_array(), d_ref.as_array())
    g = tj.cfunc(_F, [x, y])
    np.testing.assert_array_equal(g(conv(pt), pars=conv([pv]), time=to_float(tv)),
                                  g(pt, pars=[pv], time=tv))
