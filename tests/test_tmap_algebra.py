"""Taylor-map algebra (TaylorMap.compose / inverse / derivative / integrate / bound /
arithmetic), checked against sympy polynomial algebra, direct evaluation, real
variational integrations and DACE (daceypy)."""
import itertools
import math

import numpy as np
import pytest

import taylorjit as tj
from taylorjit._integrate.tmap_algebra import basis
from taylorjit._integrate.taylor_map import TaylorMap
from taylorjit._integrate.variational import multi_indices

sp = pytest.importorskip("sympy")


# --------------------------------------------------------------------------- helpers
def random_map(rng, n, m, order, scale=0.3, linear=None, constant=None):
    """A dense random polynomial map (n components in m displacements)."""
    bas = basis(m, order)
    c = rng.normal(size=(n, bas.size)) * scale
    c[:, 0] = 0.0 if constant is None else constant
    if linear is not None:
        c[:, 1:1 + m] = linear
    names = [f"d{s}" for s in "abcdefgh"[:m]]
    return TaylorMap(c, bas.monomials, names, [f"y{i}" for i in range(n)], order)


def to_sympy(tm, xs):
    return [sum(float(tm.coeffs[i, q]) * sp.prod([x ** e for x, e in zip(xs, a)])
                for q, a in enumerate(tm.monomials)) for i in range(tm.n)]


def from_sympy(exprs, xs, order):
    """Coefficients (canonical layout) of sympy polynomials truncated at ``order``."""
    bas = basis(len(xs), order)
    out = np.zeros((len(exprs), bas.size))
    for i, e in enumerate(exprs):
        for mon, c in sp.Poly(sp.expand(e), *xs).terms():
            if sum(mon) <= order:
                out[i, bas.rank(np.array(mon))] = float(c)
    return out


def identity_coeffs(m, order, constant=None):
    return TaylorMap.identity(m, order, constant=constant).coeffs


@pytest.fixture(scope="module")
def pendulum_maps():
    """Order-5 flow maps of the pendulum: 0 -> 2, 2 -> 3.5 (about the end point of
    the first) and 0 -> 3.5 directly."""
    vs = tj.var_ode_sys(tj.models.pendulum(), "vars", order=5)
    x0 = [0.5, 0.2]
    ta = tj.TaylorAdaptive(vs, x0)
    ta.propagate_until(2.0)
    m1 = ta.taylor_map
    ta2 = tj.TaylorAdaptive(vs, list(m1.constant_part), time=2.0)
    ta2.propagate_until(3.5)
    ta3 = tj.TaylorAdaptive(vs, x0)
    ta3.propagate_until(3.5)
    return m1, ta2.taylor_map, ta3.taylor_map, x0


@pytest.fixture(scope="module")
def kepler_map():
    """Order-4 map of the planar Kepler problem over about half an orbit (4 displacements)."""
    x, y, vx, vy = tj.make_vars("x", "y", "vx", "vy")
    r3 = (x ** 2 + y ** 2) ** 1.5
    sys = [(x, vx), (y, vy), (vx, -x / r3), (vy, -y / r3)]
    vs = tj.var_ode_sys(sys, "vars", order=4)
    x0 = [1.0, 0.0, 0.0, 1.1]
    ta = tj.TaylorAdaptive(vs, x0)
    ta.propagate_until(3.0)
    return sys, ta.taylor_map, x0


# --------------------------------------------------------------------------- layout
@pytest.mark.parametrize("m,k", [(1, 5), (2, 4), (3, 5), (6, 3)])
def test_basis_is_the_taylor_map_layout(m, k):
    bas = basis(m, k)
    assert bas.monomials == [a for d in range(k + 1) for a in multi_indices(m, d)]
    np.testing.assert_array_equal(bas.rank(bas.exps), np.arange(bas.size))
    assert bas.size == math.comb(m + k, k)
    q = np.arange(1, bas.size)
    np.testing.assert_array_equal(bas.exps[bas.parent[q]] + np.eye(m, dtype=int)[bas.var[q]],
                                  bas.exps[q])


def test_accessors_truncate_and_permuted_monomials():
    rng = np.random.default_rng(0)
    tm = random_map(rng, 2, 3, 4, constant=[1.5, -2.0], linear=[[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(tm.constant_part, [1.5, -2.0])
    np.testing.assert_array_equal(tm.linear_part, [[1, 2, 3], [4, 5, 6]])
    t2 = tm.truncate(2)
    assert t2.order == 2 and len(t2.monomials) == 10
    np.testing.assert_array_equal(t2.coeffs, tm.coeffs[:, :10])
    # the same map with its monomials listed in another order gives the same algebra
    perm = rng.permutation(len(tm.monomials))
    shuffled = TaylorMap(tm.coeffs[:, perm], [tm.monomials[p] for p in perm], tm.names,
                         tm.components, tm.order)
    d = np.array([0.01, -0.02, 0.03])
    np.testing.assert_allclose(shuffled(d), tm(d), rtol=1e-14)
    inner = random_map(rng, 3, 2, 4)
    np.testing.assert_array_equal((shuffled @ inner).coeffs, (tm @ inner).coeffs)
    np.testing.assert_array_equal(shuffled.derivative(1).coeffs, tm.derivative(1).coeffs)


# --------------------------------------------------------------------------- arithmetic
def test_arithmetic_against_sympy():
    rng = np.random.default_rng(1)
    k = 3
    a, b = random_map(rng, 2, 3, k, constant=[0.5, -1]), random_map(rng, 2, 3, k)
    xs = sp.symbols("x0:3")
    ea, eb = to_sympy(a, xs), to_sympy(b, xs)
    cases = {
        "a*b": (a * b, [p * q for p, q in zip(ea, eb)]),
        "a**3": (a ** 3, [p ** 3 for p in ea]),
        "2a-b+1": (2 * a - b + 1, [2 * p - q + 1 for p, q in zip(ea, eb)]),
        "a/4 - [1,2]": (a / 4 - np.array([1.0, 2.0]), [p / 4 - c for p, c in zip(ea, (1, 2))]),
        "[2,3]*a": (np.array([2.0, 3.0]) * a, [2 * ea[0], 3 * ea[1]]),
        "-a": (-a, [-p for p in ea]),
    }
    for name, (got, ref) in cases.items():
        np.testing.assert_allclose(got.coeffs, from_sympy(ref, xs, k), rtol=1e-13, atol=1e-13,
                                   err_msg=name)
    x, y = TaylorMap.identity(["dx", "dy"], 3, constant=[1.0, 2.0])
    assert x.components == ["x"] and x.names == ["dx", "dy"]
    s = TaylorMap.stack([x * y, x - y])
    assert s.n == 2 and s.components == ["x", "x"]
    np.testing.assert_allclose(s([0.1, 0.2]), [1.1 * 2.2, 1.1 - 2.2], rtol=1e-15)
    assert [t.n for t in s] == [1, 1] and s[[1, 0]].coeffs[0].tolist() == s[1].coeffs[0].tolist()


# --------------------------------------------------------------------------- derivative / integral
def test_derivative_and_integrate_against_sympy():
    rng = np.random.default_rng(2)
    k = 5
    tm = random_map(rng, 3, 3, k, constant=[1, 2, 3])
    xs = sp.symbols("x0:3")
    exprs = to_sympy(tm, xs)
    for i in range(3):
        d = tm.derivative(i)
        assert d.order == k
        np.testing.assert_allclose(d.coeffs, from_sympy([sp.diff(e, xs[i]) for e in exprs], xs, k),
                                   rtol=1e-14, atol=1e-14)
        g = tm.integrate(tm.names[i])
        np.testing.assert_allclose(
            g.coeffs, from_sympy([sp.integrate(e, xs[i]) for e in exprs], xs, k),
            rtol=1e-14, atol=1e-14)
        # truncated power series: D_i I_i = id except the dropped top degree
        back = g.derivative(i)
        top = basis(3, k).count(k - 1)
        np.testing.assert_allclose(back.coeffs[:, :top], tm.coeffs[:, :top], rtol=1e-14)
        assert not back.coeffs[:, top:].any()
    with pytest.raises(ValueError, match="unknown variable"):
        tm.derivative("dz")
    with pytest.raises(ValueError, match="index in 0..2"):
        tm.integrate(3)


# --------------------------------------------------------------------------- composition
def dict_poly(tm, i):
    return {a: float(tm.coeffs[i, q]) for q, a in enumerate(tm.monomials)}


def dict_mul(p, q, k):
    """Naive truncated product of polynomials stored as {exponents: coefficient}."""
    out = {}
    for a, x in p.items():
        for b, y in q.items():
            c = tuple(i + j for i, j in zip(a, b))
            if sum(c) <= k:
                out[c] = out.get(c, 0.0) + x * y
    return out


def dict_compose(outer, inner, k):
    """Reference for outer o inner: sum_a c_a prod_j inner_j^a_j, truncated products."""
    m2 = inner.m
    one = {(0,) * m2: 1.0}
    res = []
    for i in range(outer.n):
        acc = {}
        for q, a in enumerate(outer.monomials):
            term = {e: v * outer.coeffs[i, q] for e, v in one.items()}
            for j, e in enumerate(a):
                for _ in range(e):
                    term = dict_mul(term, dict_poly(inner, j), k)
            for e, v in term.items():
                acc[e] = acc.get(e, 0.0) + v
        res.append(acc)
    bas = basis(m2, k)
    out = np.zeros((outer.n, bas.size))
    for i, acc in enumerate(res):
        for e, v in acc.items():
            out[i, bas.rank(np.array(e))] = v
    return out


def test_compose_against_sympy():
    rng = np.random.default_rng(3)
    k = 3
    outer = random_map(rng, 2, 2, k, constant=[0.1, 0.2])
    inner = random_map(rng, 2, 2, k, constant=[0.4, -0.7])
    xs, ys = sp.symbols("x0:2"), sp.symbols("y0:2")
    ref = [e.subs(dict(zip(xs, to_sympy(inner, ys))), simultaneous=True)
           for e in to_sympy(outer, xs)]
    np.testing.assert_allclose((outer @ inner).coeffs, from_sympy(ref, ys, k), rtol=1e-13,
                               atol=1e-13)


@pytest.mark.parametrize("inner_constant", [False, True])
def test_compose_against_naive_products(inner_constant):
    rng = np.random.default_rng(3)
    k = 5
    outer = random_map(rng, 3, 2, k, constant=[0.1, 0.2, 0.3])
    inner = random_map(rng, 2, 3, k, constant=[0.4, -0.7] if inner_constant else None)
    got = outer.compose(inner)
    assert got.names == inner.names and got.components == outer.components
    np.testing.assert_allclose(got.coeffs, dict_compose(outer, inner, k), rtol=1e-13,
                               atol=1e-13)
    np.testing.assert_array_equal((outer @ inner).coeffs, got.coeffs)
    np.testing.assert_array_equal(outer(inner).coeffs, got.coeffs)
    # orders differ: the result has the lower order
    low = outer.truncate(3) @ inner
    assert low.order == 3
    np.testing.assert_allclose(low.coeffs, dict_compose(outer.truncate(3), inner.truncate(3), 3),
                               rtol=1e-13, atol=1e-13)


def test_compose_against_direct_evaluation():
    """M1(M2(d)) - (M1 o M2)(d) = O(|d|^(k+1)) (the dropped terms)."""
    rng = np.random.default_rng(4)
    k = 5
    m1 = random_map(rng, 3, 3, k, constant=[1, 2, 3])
    m2 = random_map(rng, 3, 2, k, linear=rng.normal(size=(3, 2)))
    comp = m1 @ m2
    direction = np.array([0.6, -0.8])
    eps = 0.05 * 0.5 ** np.arange(4)
    err = np.array([np.abs(m1(m2(e * direction)) - comp(e * direction)).max() for e in eps])
    slope = np.polyfit(np.log(eps), np.log(err), 1)[0]
    assert abs(slope - (k + 1)) < 0.3, (slope, err)
    d = 1e-3 * direction
    np.testing.assert_allclose(comp(d), m1(m2(d)), rtol=0, atol=1e-13)


def test_chained_flow_maps_equal_the_direct_map(pendulum_maps):
    m1, m2, m13, _ = pendulum_maps
    chained = m2 @ (m1 - m1.constant_part)
    np.testing.assert_allclose(chained.coeffs, m13.coeffs, rtol=0,
                               atol=1e-12 * np.abs(m13.coeffs).max())


# --------------------------------------------------------------------------- inversion
def check_inverse(tm, radius, atol):
    c = tm.constant_part
    inv = tm.inverse()
    assert inv.n == inv.m == tm.m and inv.names == ["d" + s for s in tm.components]
    assert not inv.constant_part.any()
    # coefficients: M o M^-1 = c + I and M^-1 o (M - c) = I, relative to the size of each term
    scale = max(1.0, np.abs(tm.coeffs).max()) * max(1.0, np.abs(inv.coeffs).max())
    np.testing.assert_allclose((tm @ inv).coeffs, identity_coeffs(tm.m, tm.order, c),
                               rtol=0, atol=1e-13 * scale ** tm.order)
    np.testing.assert_allclose((inv @ (tm - c)).coeffs, identity_coeffs(tm.m, tm.order),
                               rtol=0, atol=1e-13 * scale ** tm.order)
    # near the expansion point: M(M^-1(d)) = c + d to 1e-12
    rng = np.random.default_rng(5)
    d = rng.uniform(-radius, radius, size=(200, tm.m))
    np.testing.assert_allclose(tm(inv(d)), c + d, rtol=0, atol=atol)
    np.testing.assert_allclose(inv(tm(d) - c), d, rtol=0, atol=atol)
    return inv


def test_inverse_of_hand_built_map():
    rng = np.random.default_rng(6)
    lin = np.array([[2.0, 1.0, 0.0], [0.5, -1.0, 0.3], [0.0, 0.4, 1.5]])
    tm = random_map(rng, 3, 3, 6, linear=lin, constant=[1.0, -2.0, 0.5])
    check_inverse(tm, 1e-3, 1e-12)
    x, = TaylorMap.identity(["dx"], 6)
    # the series reversion of y = x + x^2: x = (sqrt(1 + 4y) - 1) / 2 (Catalan numbers)
    cat = [(-1) ** (j - 1) * math.comb(2 * j - 2, j - 1) / j for j in range(1, 7)]
    np.testing.assert_allclose((x + x ** 2).inverse().coeffs[0, 1:], cat, rtol=1e-14)


def test_inverse_of_pendulum_flow_map(pendulum_maps):
    m1, _, _, x0 = pendulum_maps
    inv = check_inverse(m1, 1e-3, 1e-12)
    # the inverse map sends the end point of a displaced trajectory back to its displacement
    d0 = np.array([2e-3, -1e-3])
    ta = tj.TaylorAdaptive(tj.models.pendulum(), list(np.add(x0, d0)))
    ta.propagate_until(2.0)
    np.testing.assert_allclose(inv(ta.state - m1.constant_part), d0, rtol=0, atol=1e-13)


def test_inverse_of_kepler_flow_map(kepler_map):
    _, tm, _ = kepler_map
    check_inverse(tm, 1e-4, 1e-12)


def test_inverse_errors():
    rng = np.random.default_rng(7)
    with pytest.raises(ValueError, match="square"):
        random_map(rng, 2, 3, 3).inverse()
    with pytest.raises(ValueError, match="singular"):
        random_map(rng, 2, 2, 3, linear=[[1.0, 2.0], [2.0, 4.0]]).inverse()
    with pytest.raises(ValueError, match="one value per displacement"):
        random_map(rng, 2, 3, 3) @ random_map(rng, 2, 2, 3)
    with pytest.raises(TypeError, match="TaylorMap"):
        random_map(rng, 2, 2, 3).compose(np.zeros(2))


# --------------------------------------------------------------------------- bounds
def box_samples(rng, lo, hi, n):
    """Random points and every vertex of the box."""
    m = len(lo)
    pts = rng.uniform(lo, hi, size=(n, m))
    verts = np.array(list(itertools.product(*zip(lo, hi))))
    return np.concatenate([pts, verts])


def test_bound_encloses_and_is_tight_on_flow_maps(pendulum_maps, kepler_map):
    rng = np.random.default_rng(8)
    m1 = pendulum_maps[0]
    km = kepler_map[1]
    for tm, r, tight in ((m1, 0.05, 1.05), (km, 1e-3, 1.10)):
        lo, hi = tm.bound(r)
        vals = tm(box_samples(rng, -r * np.ones(tm.m), r * np.ones(tm.m), 20000))
        assert (lo <= vals.min(axis=0)).all() and (hi >= vals.max(axis=0)).all()
        # reasonably tight: within a few % of the sampled range (near-linear maps)
        ratio = (hi - lo) / (vals.max(axis=0) - vals.min(axis=0))
        assert (ratio < tight).all(), ratio


def test_bound_encloses_random_polynomials_on_general_boxes():
    rng = np.random.default_rng(9)
    for m, k in ((1, 6), (2, 5), (3, 4)):
        tm = random_map(rng, 3, m, k, scale=1.0, constant=[1, -1, 0])
        lo_box = rng.uniform(-1.0, 0.5, m)
        hi_box = lo_box + rng.uniform(0.01, 1.0, m)
        vals = tm(box_samples(rng, lo_box, hi_box, 20000))
        widths = []
        for split in (1, 4):
            lo, hi = tm.bound(np.stack([lo_box, hi_box], axis=1), split=split)
            assert (lo <= vals.min(axis=0)).all() and (hi >= vals.max(axis=0)).all()
            widths.append(hi - lo)
        # subdividing tightens the enclosure towards the sampled range
        sampled = vals.max(axis=0) - vals.min(axis=0)
        assert (widths[1] <= widths[0]).all() and (widths[1] < 1.25 * sampled).all()


def test_bound_is_exact_for_affine_maps_up_to_rounding():
    x, y = TaylorMap.identity(["dx", "dy"], 3)
    f = 0.1 + 3 * x - 0.7 * y
    lo, hi = f.bound(np.array([[0.1, 0.3], [-1.0, 2.0]]))
    exact_lo, exact_hi = 0.1 + 0.3 - 1.4, 0.1 + 0.9 + 0.7
    assert lo[0] <= exact_lo and hi[0] >= exact_hi
    np.testing.assert_allclose([lo[0], hi[0]], [exact_lo, exact_hi], rtol=1e-14)
    # a point box still gets a (tiny) interval around the value
    lo, hi = (x * x + y).bound([[1 / 3, 1 / 3], [0.1, 0.1]])
    v = (1 / 3) ** 2 + 0.1
    assert lo[0] <= v <= hi[0] and hi[0] - lo[0] < 1e-14
    with pytest.raises(ValueError, match="shape"):
        f.bound(np.zeros(3))
    with pytest.raises(ValueError, match=">= 0"):
        f.bound(-1.0)
    with pytest.raises(ValueError, match="split"):
        f.bound(1.0, split=0)


# --------------------------------------------------------------------------- batch
def test_batch_maps_run_lane_by_lane():
    rng = np.random.default_rng(10)
    a, b = random_map(rng, 2, 2, 4, linear=np.eye(2)), random_map(rng, 2, 2, 4, linear=np.eye(2))
    batch = TaylorMap(np.stack([a.coeffs, b.coeffs], axis=-1), a.monomials, a.names,
                      a.components, a.order)
    inv = batch.inverse()
    np.testing.assert_array_equal(inv.coeffs[..., 1], b.inverse().coeffs)
    np.testing.assert_array_equal((batch @ a).coeffs[..., 0], (a @ a).coeffs)
    lo, hi = batch.bound(0.1)
    assert lo.shape == (2, 2)
    np.testing.assert_array_equal(lo[:, 1], b.bound(0.1)[0])
    np.testing.assert_array_equal((batch * np.array([1.0, 2.0])).coeffs[..., 0],
                                  (a * np.array([1.0, 2.0])).coeffs)


# --------------------------------------------------------------------------- DACE
def to_dace(tm, DA, array):
    out = []
    for i in range(tm.n):
        s = DA(0.0)
        for q, a in enumerate(tm.monomials):
            term = DA(float(tm.coeffs[i, q]))
            for j, e in enumerate(a):
                if e:
                    term = term * DA(j + 1) ** e
            s = s + term
        out.append(s)
    return array(out)


def from_dace(da, monomials):
    return np.array([[da[i].getCoefficient(list(a)) for a in monomials] for i in range(len(da))])


def test_against_daceypy(pendulum_maps, kepler_map):
    daceypy = pytest.importorskip("daceypy")
    DA, array = daceypy.DA, daceypy.array
    rng = np.random.default_rng(11)
    hand = random_map(rng, 3, 3, 5, linear=[[2.0, 1.0, 0.0], [0.5, -1.0, 0.3], [0, 0.4, 1.5]])
    for tm in (pendulum_maps[0], kepler_map[1], hand):
        DA.init(tm.order, tm.m)
        dev = tm - tm.constant_part            # DACE inverts maps without constant part
        d = to_dace(dev, DA, array)
        inv = tm.inverse()
        ref = from_dace(d.invert(), inv.monomials)
        np.testing.assert_allclose(inv.coeffs, ref, rtol=0, atol=1e-11 * np.abs(ref).max())
        # composition, with an inner map that has a constant part
        inner = random_map(rng, tm.m, tm.m, tm.order, scale=0.1, linear=np.eye(tm.m),
                           constant=rng.normal(size=tm.m) * 0.1)
        ref = from_dace(to_dace(tm, DA, array).eval(to_dace(inner, DA, array)), tm.monomials)
        got = tm @ inner
        np.testing.assert_allclose(got.coeffs, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
        # derivative and integral
        ref = from_dace(array([c.deriv(1) for c in to_dace(tm, DA, array)]), tm.monomials)
        np.testing.assert_allclose(tm.derivative(0).coeffs, ref, rtol=1e-14, atol=1e-14)
        ref = from_dace(array([c.integ(2) for c in to_dace(tm, DA, array)]), tm.monomials)
        np.testing.assert_allclose(tm.integrate(1).coeffs, ref, rtol=1e-14, atol=1e-14)
