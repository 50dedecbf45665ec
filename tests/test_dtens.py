"""diff_tensors / DTens: values against sympy, layout and values against heyoka, errors."""
import math
import pickle

import numpy as np
import pytest
import sympy as sp

import taylorjit as tj

x, y, z = tj.make_vars("x", "y", "z")


def f_scalar(m, x, y):
    return [m.exp(m.sin(x)) * m.cos(y) / (1 + x**2)]


def f_two(m, x, y, z, p):
    return [m.atan(x * p) * m.exp(-y * z) + m.sqrt(1 + y**2) * p,
            m.log(2 + x**2 + y**2) * m.sin(p * z) - m.tanh(x - y) / (1 + p**2)]


CASES = {
    # name: (functions, diff_args, order, {symbol name: value})
    "scalar": (f_scalar(tj, x, y), [x, y], 4, {"x": 0.3, "y": -0.7}),
    "two_out_par": (f_two(tj, x, y, z, tj.par[0]), [x, tj.par[0], y], 3,
                    {"x": 0.4, "y": -0.55, "z": 0.8, "par[0]": 1.3}),
    "three_args": (f_two(tj, x, y, z, tj.par[0]), [x, y, z], 3,
                   {"x": -0.25, "y": 0.6, "z": 1.1, "par[0]": 0.7}),
}


def _sym(a):
    return sp.Symbol(f"par[{a.value}]" if a.op == "par" else a.value)


def _reference(funcs, args, key, point):
    """sympy's own derivative of component key[0] along the orders key[1:], at the point."""
    f = tj.to_sympy(funcs[key[0]])
    spec = []
    for a, k in zip(args, key[1:]):
        if k:
            spec += [_sym(a), k]
    d = sp.diff(f, *spec) if spec else f
    return d.evalf(40, subs={sp.Symbol(k): sp.Float(v, 40) for k, v in point.items()})


@pytest.mark.parametrize("name", list(CASES))
def test_every_derivative_matches_sympy(name):
    funcs, args, order, point = CASES[name]
    dt = tj.diff_tensors(funcs, diff_args=args, diff_order=order)
    n = len(args)
    assert len(dt) == len(funcs) * math.comb(n + order, order)
    subs = {sp.Symbol(k): sp.Float(v, 40) for k, v in point.items()}
    # the derivative expressions, evaluated exactly (sympy, 40 digits) and in double (cfunc)
    vars_ = sorted({v for v in tj.get_variables(funcs)}, key=lambda v: v.value)
    npar = 1 + max([-1] + tj.get_params(funcs))
    g = tj.cfunc([e for _, e in dt.items()], vars_)
    xin = np.array([point[v.value] for v in vars_])
    pars = np.array([point[f"par[{i}]"] for i in range(npar)]) if npar else None
    vals = g(xin, pars=pars) if npar else g(xin)
    for p, key in enumerate(dt):
        ref = _reference(funcs, args, key, point)
        mine = tj.to_sympy(dt[key]).evalf(40, subs=subs)
        scale = max(abs(float(ref)), 1e-300)
        assert abs(float(mine - ref)) <= 1e-25 * max(scale, 1.0), (key, mine, ref)
        assert abs(vals[p] - float(ref)) <= 1e-13 * max(scale, 1.0), (key, vals[p], float(ref))


def test_layout_sorted_as_documented():
    dt = tj.diff_tensors([x * y * z, x + z], diff_args=[x, y, z], diff_order=3)
    keys = list(dt)
    expect = sorted(keys, key=lambda k: (sum(k[1:]), k[0], [-a for a in k[1:]]))
    assert keys == expect
    assert keys[:4] == [[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
    assert dt.get_derivatives(2, 0)[0][0] == [0, 2, 0, 0]
    assert [k for k, _ in dt.get_derivatives(2, 0)] == [[0, 2, 0, 0], [0, 1, 1, 0], [0, 1, 0, 1],
                                                        [0, 0, 2, 0], [0, 0, 1, 1], [0, 0, 0, 2]]
    for p, k in enumerate(keys):
        assert dt.index_of(k) == p and k in dt
        assert dt[p] == (k, dt[k])


def test_accessors():
    f = x**3 * y + tj.sin(y) * tj.par[2]
    dt = tj.diff_tensors([f], diff_args=[x, y, tj.par[2]], diff_order=2)
    assert dt.order == 2 and dt.nouts == 1 and dt.nargs == 3
    assert dt.args == [x, y, tj.par[2]]
    assert dt.gradient == [tj.diff(f, x), tj.diff(f, y), tj.diff(f, tj.par[2])]
    assert dt.get_gradient() == dt.gradient
    jac = dt.jacobian
    assert isinstance(jac, np.ndarray) and jac.dtype == object and jac.shape == (1, 3)
    assert list(jac[0]) == dt.gradient
    assert dt.get_jacobian().shape == (1, 3)
    h = dt.hessian(0)
    assert h.shape == (3, 3) and h.dtype == object
    for i, a in enumerate(dt.args):
        for j, b in enumerate(dt.args):
            # reusing lower orders with one memo per argument gives the very nodes of nested diff
            lo, hi = min(i, j), max(i, j)
            assert h[i, j] is tj.diff(tj.diff(f, dt.args[hi]), dt.args[lo])
    assert (dt.get_hessian(0) == h).all()
    # sparse and dense lookups agree
    assert dt[0, [(0, 1), (1, 1)]] is dt[0, 1, 1, 0] is dt[(0, 1, 1, 0)] is dt[[0, 1, 1, 0]]
    assert dt[(0, [])] is f
    assert dt[-1] == ([0, 0, 0, 2], dt[0, 0, 0, 2])
    assert dt.items()[3] == dt[3]
    assert [0, [(1, 1), (0, 1)]] not in dt          # sparse indices must be increasing
    assert [0, [(0, 0)]] not in dt                  # ... with nonzero orders
    assert dt.index_of([0, 3, 0, 0]) == len(dt)
    assert dt.get_derivatives(3) == [] and dt.get_derivatives(1, 1) == []
    assert dt.get_derivatives(0) == [([0, 0, 0, 0], f)]
    assert "Highest diff order: 2" in repr(dt)
    dt2 = pickle.loads(pickle.dumps(dt))
    assert list(dt2) == list(dt) and dt2[0, 1, 1, 0] is dt[0, 1, 1, 0]


def test_modes_and_order_zero():
    f = [x * tj.par[1] + y * tj.par[0]]
    assert tj.diff_tensors(f, "vars").args == [x, y]
    assert tj.diff_tensors(f, "params").args == [tj.par[0], tj.par[1]]
    assert tj.diff_tensors(f, "all").args == [x, y, tj.par[0], tj.par[1]]
    dt0 = tj.diff_tensors(f, [x], diff_order=0)
    assert list(dt0) == [[0, 0]] and len(dt0) == 1
    with pytest.raises(ValueError, match="order 1"):
        dt0.jacobian
    with pytest.raises(ValueError, match="order 2"):
        tj.diff_tensors(f, [x]).hessian(0)
    with pytest.raises(ValueError, match="component 1"):
        tj.diff_tensors(f, [x], 2).hessian(1)
    with pytest.raises(ValueError, match="jacobian"):
        tj.diff_tensors([x, y], [x]).gradient
    with pytest.raises(KeyError, match="multi-index"):
        tj.diff_tensors(f, [x])[0, 2]
    with pytest.raises(IndexError):
        tj.diff_tensors(f, [x])[2]


@pytest.mark.parametrize("args, kw, exc, match", [
    (([x], []), {}, ValueError, "empty"),
    (([], [x]), {}, ValueError, "at least one function component"),
    (([x * y], [x, x]), {}, ValueError, "more than once"),
    (([x * y], [x + y]), {}, ValueError, "not a variable or a parameter"),
    (([x * y], [2.0]), {}, ValueError, "not a variable or a parameter"),
    (([x * y], [tj.time]), {}, ValueError, "tj.time"),
    (([x * y], [x]), {"diff_order": -1}, ValueError, "negative"),
    (([x * y], [x]), {"diff_order": 1.5}, TypeError, "integer"),
    (([x * y], x), {}, TypeError, r"diff_args=\[x\]"),
    (([x * y], "everything"), {}, ValueError, "'vars', 'params', 'all'"),
    (([x * y], "params"), {}, ValueError, "no parameters"),
])
def test_errors(args, kw, exc, match):
    with pytest.raises(exc, match=match):
        tj.diff_tensors(*args, **kw)
    with pytest.raises(TypeError, match="diff_tensors"):
        tj.DTens()


# ----------------------------------------------------------------------------- against heyoka
def _heyoka_case(name):
    hy = pytest.importorskip("heyoka")
    hx, hyv, hz = hy.make_vars("x", "y", "z")
    hmap = {"x": hx, "y": hyv, "z": hz}
    funcs, args, order, point = CASES[name]
    if name == "scalar":
        hfuncs = f_scalar(hy, hx, hyv)
    else:
        hfuncs = f_two(hy, hx, hyv, hz, hy.par[0])
    hargs = [hy.par[a.value] if a.op == "par" else hmap[a.value] for a in args]
    return hy, hmap, hfuncs, hargs


@pytest.mark.parametrize("name", list(CASES))
def test_layout_and_values_match_heyoka(name):
    hy, hmap, hfuncs, hargs = _heyoka_case(name)
    funcs, args, order, point = CASES[name]
    dt = tj.diff_tensors(funcs, diff_args=args, diff_order=order)
    hdt = hy.diff_tensors(hfuncs, diff_args=hargs, diff_order=order)
    assert len(dt) == len(hdt) and dt.order == hdt.order and dt.nargs == hdt.nargs
    assert dt.nouts == hdt.nouts
    assert list(dt) == [list(k) for k in hdt]
    for k in range(order + 2):
        for comp in [None] + list(range(len(funcs) + 1)):
            assert ([key for key, _ in dt.get_derivatives(k, comp)]
                    == [key for key, _ in hdt.get_derivatives(k, comp)])
    for key in hdt:
        assert dt.index_of(key) == hdt.index_of(key)
    sparse = (0, [(len(args) - 1, 1)])
    assert dt.index_of(sparse) == hdt.index_of(sparse)
    assert dt.jacobian.shape == hdt.jacobian.shape
    for c in range(len(funcs)):
        assert dt.hessian(c).shape == hdt.hessian(c).shape
    # values: every derivative, both compiled, at two points
    names = sorted(k for k in point if not k.startswith("par"))
    g = tj.cfunc([e for _, e in dt.items()], [tj.var(n) for n in names])
    hg = hy.cfunc([hdt[p][1] for p in range(len(hdt))], [hmap[n] for n in names])
    npar = 1 if "par[0]" in point else 0
    for shift in (0.0, 0.15):
        xin = np.array([point[n] + shift for n in names])
        if npar:
            pars = np.array([point["par[0]"] - shift])
            a, b = g(xin, pars=pars), hg(xin, pars=pars)
        else:
            a, b = g(xin), hg(xin)
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
        # jacobian and hessian entries sit where heyoka puts them
        jpos = [[dt.index_of([i] + [int(q == j) for q in range(len(args))])
                 for j in range(len(args))] for i in range(len(funcs))]
        hj = hdt.jacobian
        for i in range(len(funcs)):
            for j in range(len(args)):
                assert dt.jacobian[i, j] is dt[jpos[i][j]][1]
                assert hdt.index_of(hdt.get_derivatives(1, i)[j][0]) == jpos[i][j]
                assert str(hj[i, j]) == str(hdt[jpos[i][j]][1])


def test_hessian_placement_matches_heyoka():
    hy = pytest.importorskip("heyoka")
    hx, hyv, hz = hy.make_vars("x", "y", "z")
    f = x**3 * y**2 * z + tj.exp(x * z)
    hf = hx**3 * hyv**2 * hz + hy.exp(hx * hz)
    dt = tj.diff_tensors([f], [x, y, z], 2)
    hdt = hy.diff_tensors([hf], [hx, hyv, hz], 2)
    H, hH = dt.hessian(0), hdt.hessian(0)
    g = tj.cfunc(list(H.ravel()), [x, y, z])
    hg = hy.cfunc(list(hH.ravel()), [hx, hyv, hz])
    pt = np.array([0.7, -1.2, 0.45])
    np.testing.assert_allclose(g(pt), hg(pt), rtol=1e-13, atol=1e-14)
