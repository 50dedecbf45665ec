"""Double-double front ends: derivatives, cfunc and taylor_jet with precision="dd".

References are computed outside the code under test, with mpmath at 60 digits
(``mpmath.diff`` for partial derivatives, ``mpmath.taylor`` for coefficients,
the functions themselves for values) at exact rational points.
"""
import pickle
from fractions import Fraction

import mpmath
import numpy as np
import pytest

import taylorjit as tj
from taylorjit import DDArray

U = 2.0 ** -104           # the dd epsilon: errors below are in units of it

x, y, z = tj.make_vars("x", "y", "z")


def mq(s):
    q = Fraction(s)
    return mpmath.mpf(q.numerator) / q.denominator


@pytest.fixture(autouse=True)
def _dps():
    with mpmath.workdps(60):
        yield


# --------------------------------------------------------------------------- derivatives
DERIV_CASES = [
    ("exp x sin y", lambda a, b, c: tj.exp(a) * tj.sin(b),
     lambda a, b, c: mpmath.exp(a) * mpmath.sin(b), 2, ["1/10", "1/3"], 6),
    ("1/(1+x2+y2)", lambda a, b, c: 1 / (1 + a * a + b * b),
     lambda a, b, c: 1 / (1 + a * a + b * b), 2, ["1/10", "1/3"], 6),
    ("sqrt(2+x) cosh y", lambda a, b, c: tj.sqrt(2 + a) * tj.cosh(b),
     lambda a, b, c: mpmath.sqrt(2 + a) * mpmath.cosh(b), 2, ["1/2", "3/4"], 8),
    ("log(1+xy) atan(x-y)", lambda a, b, c: tj.log(1 + a * b) * tj.atan(a - b),
     lambda a, b, c: mpmath.log(1 + a * b) * mpmath.atan(a - b), 2, ["1/2", "3/4"], 5),
    ("1/r", lambda a, b, c: 1 / tj.sqrt((a - 1) ** 2 + (b + 2) ** 2 + c ** 2),
     lambda a, b, c: 1 / mpmath.sqrt((a - 1) ** 2 + (b + 2) ** 2 + c ** 2), 3,
     ["1/2", "2/5", "11/10"], 4),
    ("1-D tan x asinh x", lambda a, b, c: tj.tan(a) * tj.asinh(a),
     lambda a, b, c: mpmath.tan(a) * mpmath.asinh(a), 1, ["2/5"], 12),
]


def _check_partials(d, fm, point, n, order, allowed, comp=None):
    """Every partial against mpmath.diff: the error relative to the largest partial of
    the same degree (the interpolation mixes the directions of one degree, as in the
    double version), within ``allowed`` units of 2^-104.  Returns the worst."""
    P = [mq(p) for p in point]
    refs = {k: mpmath.diff(fm, P, k) for k in d.keys()}
    worst = 0.0
    for deg in range(order + 1):
        ks = [k for k in refs if sum(k) == deg]
        scale = max(mpmath.mpf(1), max(abs(refs[k]) for k in ks))
        for k in ks:
            got = d[k] if comp is None else d[k][comp]
            err = float(abs(got.to_mpmath() - refs[k]) / scale) / U
            worst = max(worst, err)
            assert err <= allowed, (k, str(got), refs[k], err)
    return worst


@pytest.mark.parametrize("case", DERIV_CASES, ids=[c[0] for c in DERIV_CASES])
def test_derivatives_dd_vs_mpmath(case):
    name, f_tj, f_mp, n, point, order = case
    vs = [x, y, z][:n]
    d = tj.derivatives(f_tj(x, y, z), vs, point, order=order, precision="dd")
    assert isinstance(d, tj.Derivatives) and len(d) == len(list(d.keys()))
    _check_partials(d, lambda *a: f_mp(*(list(a) + [0] * (3 - n))), point, n, order,
                    allowed=32)


def test_derivatives_dd_api_vector_pars_time():
    """Two functions, a runtime parameter and the time (exact values), the accessors."""
    fs = [tj.par[0] * tj.exp(x * y), tj.sin(x + tj.time * y)]
    d = tj.derivatives(fs, [x, y], ["1/3", "-1/7"], order=4, pars=["1/3"], time="0.3",
                       precision="dd")
    p0, t0 = mpmath.mpf(1) / 3, mq("0.3")
    _check_partials(d, lambda a, b: p0 * mpmath.exp(a * b), ["1/3", "-1/7"], 2, 4, 16, comp=0)
    _check_partials(d, lambda a, b: mpmath.sin(a + t0 * b), ["1/3", "-1/7"], 2, 4, 16, comp=1)
    assert d[(1, 2)].shape == (2,)
    g = d.gradient()
    assert isinstance(g, DDArray) and g.shape == (2, 2)
    assert d.hessian().shape == (2, 2, 2) and d.tensor(3).shape == (2, 2, 2, 2)
    H = d.hessian()
    assert H[0, 0, 1] == H[0, 1, 0] == d[(1, 1)][0]
    assert d.value() == DDArray(d[(0, 0)].hi, d[(0, 0)].lo)
    assert d.as_array().shape == (15, 2)
    assert "double-double" in repr(d)
    # differentiate with respect to a parameter listed among the variables
    e = tj.derivatives(tj.par[0] * tj.exp(x), [x, tj.par[0]], ["1/10", "1/3"], order=2,
                       precision="dd")
    ref = mpmath.exp(mpmath.mpf(1) / 10)
    assert abs(e[(1, 1)].to_mpmath() - ref) < 4 * U * ref


def test_derivatives_dd_scalar_one_variable_high_order():
    """One variable: the coefficients times k! (mpmath.taylor), to order 30."""
    d = tj.derivatives(tj.exp(tj.sin(x)), [x], "1/5", order=30, precision="dd")
    ref = mpmath.taylor(lambda t: mpmath.exp(mpmath.sin(t)), mq("1/5"), 30)
    env = max(abs(r) * mpmath.factorial(k) for k, r in enumerate(ref))
    for k, r in enumerate(ref):
        got = d[k].to_mpmath()
        assert abs(got - r * mpmath.factorial(k)) <= 8 * (k + 1) * U * max(
            abs(r * mpmath.factorial(k)), env / 1e10), k
    assert d.gradient().shape == (1,) and d[3].shape == ()


def test_derivatives_dd_errors_and_double_unchanged():
    f = tj.exp(x) * y
    with pytest.raises(ValueError, match="precision"):
        tj.derivatives(f, [x, y], [0.1, 0.2], order=2, precision="quad")
    with pytest.raises(ValueError, match="one point"):
        tj.derivatives(f, [x, y], [[0.1, 0.2], [0.3, 0.4]], order=2, precision="dd")
    a = tj.derivatives(f, [x, y], [0.1, 0.2], order=3)
    b = tj.derivatives(f, [x, y], [0.1, 0.2], order=3, precision="double")
    assert type(a) is tj.Derivatives and np.array_equal(a.as_array(), b.as_array())
    d = tj.derivatives(f, [x, y], [0.1, 0.2], order=3, precision="dd")
    assert np.allclose(np.asarray(d.as_array()), a.as_array(), rtol=1e-14, atol=1e-15)


# --------------------------------------------------------------------------- cfunc
def test_cfunc_dd_values():
    fs = [x * y, tj.exp(x) + y, tj.atan2(y, x), tj.erf(x * y) / (1 + y * y), tj.kepE(x / 2, y),
          tj.log1p(x) * tj.tanh(y)]
    refs = [lambda a, b: a * b, lambda a, b: mpmath.exp(a) + b, mpmath.atan2.__call__,
            lambda a, b: mpmath.erf(a * b) / (1 + b * b), None,
            lambda a, b: mpmath.log1p(a) * mpmath.tanh(b)]
    refs[2] = lambda a, b: mpmath.atan2(b, a)

    def kep(a, b):
        e = a / 2
        return mpmath.findroot(lambda E: E - e * mpmath.sin(E) - b, b)

    refs[4] = kep
    g = tj.cfunc(fs, [x, y], precision="dd")
    pts = [["1/10", "1/3"], ["0.7", "-2.5"], [0.25, "1e-3"], ["1/7", "3"]]
    out = g(pts)
    assert isinstance(out, DDArray) and out.shape == (4, len(fs))
    for i, (a, b) in enumerate(pts):
        A, B = mq(str(a)), mq(str(b))
        for j, r in enumerate(refs):
            v = r(A, B)
            assert abs(out[i, j].to_mpmath() - v) <= 16 * U * max(abs(v), 1e-3), (i, j)
    one = g(pts[0])
    assert one.shape == (len(fs),) and one == out[0]
    assert g.n_in == 2 and g.n_out == len(fs) and "double-double" in repr(g)
    # one expression of one variable: many points in a flat list
    h = tj.cfunc(tj.sin(x), [x], precision="dd")
    r = h(["0.1", "0.2", "0.3"])
    assert r.shape == (3,)
    assert abs(r[1].to_mpmath() - mpmath.sin(mq("0.2"))) <= 4 * U
    assert h("0.1").shape == ()


def test_cfunc_dd_pars_time_layout_parallel_pickle():
    h = tj.cfunc(tj.par[0] * x + tj.par[1] * tj.time, [x], precision="dd")
    X = [["1"], ["2"], ["3"]]
    per = h(X, pars=[["1/3", "1/5", "1/7"], ["0.1", "0.2", "0.3"]], time=["0.5", "1", "2"])
    shared = h(X, pars=["1/3", "0.1"], time="0.5")
    for i in range(3):
        p0 = [mq("1/3"), mq("1/5"), mq("1/7")][i]
        p1 = [mq("0.1"), mq("0.2"), mq("0.3")][i]
        t = [mq("0.5"), 1, 2][i]
        assert abs(per[i].to_mpmath() - (p0 * (i + 1) + p1 * t)) <= 4 * U
        ref = mq("1/3") * (i + 1) + mq("0.1") * mq("0.5")
        assert abs(shared[i].to_mpmath() - ref) <= 4 * U
    # per-point results equal the point-by-point evaluation
    for i in range(3):
        q = h(X[i], pars=[["1/3", "1/5", "1/7"][i], ["0.1", "0.2", "0.3"][i]],
              time=["0.5", "1", "2"][i])
        assert abs(float((q.to_mpmath() - per[i].to_mpmath()) / U)) <= 4
    with pytest.raises(ValueError, match="par"):
        h(X)
    with pytest.raises(ValueError, match="transpose"):
        h(X, pars=[["1", "2"]] * 3, time="0")
    g = tj.cfunc([x * y, tj.sin(x) - y], [x, y], precision="dd")
    rng = np.random.default_rng(1)
    P = rng.uniform(-2, 2, (300, 2))
    a = g(P)
    b = g(P.T, layout="columns")
    assert b.shape == (2, 300) and np.array_equal(b.hi.T, a.hi) and np.array_equal(b.lo.T, a.lo)
    assert g(P, parallel=True) == a
    assert pickle.loads(pickle.dumps(g))(P) == a
    assert np.allclose(np.asarray(a), tj.cfunc([x * y, tj.sin(x) - y], [x, y])(P), rtol=1e-15,
                       atol=1e-15)
    with pytest.raises(TypeError, match="outputs"):
        g(P, outputs=np.zeros((300, 2)))


# --------------------------------------------------------------------------- taylor_jet
def test_taylor_jet_dd():
    f = tj.sin(x) * tj.cos(y) + x / (1 + y * y)
    J = tj.taylor_jet(f, [x, y], order=25, precision="dd")
    pt, di = ["3/10", "2/5"], ["1", "-1/2"]
    c = J(pt, di)
    assert isinstance(c, DDArray) and c.shape == (26,)
    P = [mq(p) for p in pt]
    D = [mq(q) for q in di]
    ref = mpmath.taylor(lambda h: mpmath.sin(P[0] + h * D[0]) * mpmath.cos(P[1] + h * D[1])
                        + (P[0] + h * D[0]) / (1 + (P[1] + h * D[1]) ** 2), 0, 25)
    env = max(abs(r) for r in ref)
    for k, r in enumerate(ref):
        assert abs(c[k].to_mpmath() - r) <= 4 * (k + 1) * U * env, k
    # the same values as taylor_coefficients, floats and strings, one or many points
    tc = tj.taylor_coefficients(f, [x, y], pt, di, order=25, precision="dd")
    assert tc == c
    assert J([0.3, 0.4], [1.0, 0.5]) == tj.taylor_coefficients(f, [x, y], [0.3, 0.4],
                                                               [1.0, 0.5], order=25,
                                                               precision="dd")
    many = J([[0.3, 0.4], ["1/3", "1/4"]], [1.0, 0.0])
    assert many.shape == (2, 26) and many[0] == J([0.3, 0.4], np.array([1.0, 0.0]))
    J1 = tj.taylor_jet([tj.exp(x), tj.par[0] * x], [x], order=5, precision="dd")
    r = J1("0.1", pars=["1/3"])
    assert r.shape == (2, 6)
    assert abs(r[0, 5].to_mpmath() - mpmath.exp(mq("0.1")) / 120) <= 4 * U
    assert abs(r[1, 1].to_mpmath() - mpmath.mpf(1) / 3) <= 2 * U
    assert J1(0.1, pars=["1/3"]) == J1((0.1, 0.0), pars=["1/3"])
    J2 = pickle.loads(pickle.dumps(J))
    assert J2(pt, di) == c
    with pytest.raises(ValueError, match="direction"):
        J(pt)
    with pytest.raises(ValueError, match="precision"):
        tj.taylor_jet(f, [x, y], order=3, precision="single")


# --------------------------------------------------------------------------- variational systems
def _close(got, ref, rel):
    got = got.to_mpmath() if isinstance(got, DDArray) else got
    return abs(got - ref) <= rel * max(abs(ref), 1)


def test_variational_dd_vars_order1_harmonic():
    """The state-transition matrix of the harmonic oscillator at t = 1 (and back at 0)."""
    xx, vv = tj.make_vars("x", "v")
    vs = tj.var_ode_sys([(xx, vv), (vv, -xx)], "vars", order=1)
    ta = tj.TaylorAdaptive(vs, ["1", "0"], precision="dd")
    assert isinstance(ta, tj.DDTaylorAdaptive) and ta.is_variational and ta.dim == 6
    assert ta.state == DDArray([1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    ta.propagate_until("1")
    c, s = mpmath.cos(1), mpmath.sin(1)
    phi = ta.sensitivity(1)
    assert isinstance(phi, DDArray) and phi.shape == (2, 2)
    for (i, j), ref in {(0, 0): c, (0, 1): s, (1, 0): -s, (1, 1): c}.items():
        assert _close(phi[i, j], ref, 16 * U), (i, j)
    ta.propagate_until(0)
    assert ta.sensitivity(1) == ta.sensitivity(1)
    assert all(_close(ta.sensitivity(1)[i, j], float(i == j), 64 * U) for i in range(2)
               for j in range(2))
    assert ta.n_orig_sv == 2 and ta.vorder == 1 and ta.get_mindex(3) == (0, (0, 1))
    assert ta.get_vslice(1) == vs.get_vslice(1)
    with pytest.raises(NotImplementedError, match="double-double"):
        ta.taylor_map


def test_variational_dd_high_order_vars_params_t0():
    """Closed forms: x' = x^2 to order 3 in x0; x' = -p x in (x0, p) to order 2;
    y' = t y in (y0, t0) to order 2 (the initial values involving t0 filled in dd)."""
    xx = tj.var("x")
    ta = tj.TaylorAdaptive(tj.var_ode_sys([(xx, xx * xx)], "vars", order=3), ["1/2"],
                           precision="dd")
    ta.propagate_until("1")
    # x = x0 / (1 - x0 t): D^k x = k! t^(k-1) / (1 - x0 t)^(k+1) = k! 2^(k+1) at x0 = 1/2, t = 1
    for k in (1, 2, 3):
        got = ta.sensitivity(k)
        assert got.shape == (1,) * (k + 1)
        assert _close(got.to_mpmath().ravel()[0], mpmath.factorial(k) * 2 ** (k + 1), 8 * U)
    sd = ta.state_derivatives.to_mpmath()
    assert all(_close(sd[k], mpmath.factorial(k) * 2 ** (k + 1), 8 * U) for k in range(1, 4))
    assert _close(sd[0], 1, 8 * U)
    tp = pickle.loads(pickle.dumps(ta))
    assert tp.sensitivity(3) == ta.sensitivity(3) and tp.is_variational
    # x' = -p x, wrt (x0, p): x = x0 e^(-p t)
    ta = tj.TaylorAdaptive(tj.var_ode_sys([(xx, -tj.par[0] * xx)], [xx, tj.par[0]], order=2),
                           ["3/4"], pars=["1/3"], precision="dd")
    ta.propagate_until(2)
    e = mpmath.exp(-mpmath.mpf(2) / 3)
    x0, t = mq("3/4"), 2
    S1, S2 = ta.sensitivity(1), ta.sensitivity(2)
    assert _close(S1[0, 0], e, 8 * U) and _close(S1[0, 1], -t * x0 * e, 8 * U)
    assert _close(S2[0, 0, 0], 0, 8 * U) and _close(S2[0, 0, 1], -t * e, 8 * U)
    assert S2[0, 1, 0] == S2[0, 0, 1] and _close(S2[0, 1, 1], t * t * x0 * e, 8 * U)
    # y' = t y from t0 = 1/2, wrt (y0, t0): y = y0 exp((t^2 - t0^2) / 2)
    yy = tj.var("y")
    vs = tj.var_ode_sys([(yy, tj.time * yy)], [yy, tj.time], order=2)
    ta = tj.TaylorAdaptive(vs, ["1/3"], time="1/2", precision="dd")
    assert np.allclose(np.asarray(ta.state), vs.initial_state([1 / 3], time=0.5), rtol=1e-15,
                       atol=1e-16)
    ta.propagate_until("3/2")
    t0, y0 = mq("1/2"), mq("1/3")
    E = mpmath.exp((mq("3/2") ** 2 - t0 ** 2) / 2)
    S1, S2 = ta.sensitivity(1), ta.sensitivity(2)
    assert _close(S1[0, 0], E, 8 * U) and _close(S1[0, 1], -t0 * y0 * E, 8 * U)
    assert _close(S2[0, 0, 1], -t0 * E, 8 * U)
    assert _close(S2[0, 1, 1], (t0 ** 2 - 1) * y0 * E, 8 * U)
