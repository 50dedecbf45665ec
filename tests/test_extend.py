"""taylorjit.extend: functions registered from outside the package.

The two functions are registered when this module is imported (at collection), with
the same definitions as the doctests of taylorjit/extend.py, so that the registry
meta-tests of the other test modules (test_functions, test_sympy, test_unrolled,
test_gvm, test_kernels, test_simd_cfunc ...) check them like the built-in ones when
the suite runs together.
"""
import math

import mpmath
import numpy as np
import pytest
import sympy as sp

import taylorjit as tj
import taylorjit.extend  # noqa: F401  (tj.extend)
from taylorjit._symbolic.registry import FUNCTIONS

softplus = tj.extend.register_function(
    "softplus", lambda x: tj.log1p(tj.exp(x)),
    derivative=lambda x: [tj.sigmoid(x)], domain=[(-3.0, 3.0)],
    doc="softplus(x) = log(1 + exp(x)).")
logaddexp = tj.extend.register_function(
    "logaddexp", lambda a, b: a + tj.log1p(tj.exp(b - a)),
    domain=[(-2.0, 2.0), (-2.0, 2.0)])

X, Y = tj.make_vars("x", "y")
KINDS = ("compact", "spec", "unrolled", "python")


def mp_softplus(x):
    return mpmath.log(1 + mpmath.exp(x))


def mp_logaddexp(a, b):
    return mpmath.log(mpmath.exp(a) + mpmath.exp(b))


def mp_series(f, x0, d, order):
    """Normalised Taylor coefficients of h -> f(x0 + h d) (mpmath, 40 digits)."""
    with mpmath.workdps(40):
        return [float(c) for c in mpmath.taylor(lambda h: f(*[a + h * b for a, b in zip(x0, d)]),
                                                0, order)]


@pytest.mark.parametrize("kind", KINDS)
def test_coefficients_against_mpmath(kind):
    order = 20
    pts = [(-1.3, 0.8), (0.4, -0.6), (2.1, 1.7)]
    for x0, y0 in pts:
        c = tj.taylor_coefficients([softplus(X), logaddexp(X, Y)], [X, Y], [x0, y0], [0.7, -0.4],
                                   order=order, kind=kind)
        ref_s = mp_series(mp_softplus, [x0], [0.7], order)
        ref_l = mp_series(mp_logaddexp, [x0, y0], [0.7, -0.4], order)
        for got, ref in ((c[0], ref_s), (c[1], ref_l)):
            scale = max(abs(r) for r in ref)
            assert np.allclose(got, ref, rtol=0, atol=40 * np.finfo(float).eps * scale), (x0, y0)


def test_bitwise_the_written_out_composition():
    """The function's coefficients are those of its definition written out, bit for
    bit, in every kernel kind (the same kernel operations)."""
    e = softplus(X * Y) * logaddexp(Y, tj.sin(X))
    w = tj.log1p(tj.exp(X * Y)) * (Y + tj.log1p(tj.exp(tj.sin(X) - Y)))
    for kind in KINDS:
        a = tj.taylor_coefficients(e, [X, Y], [0.3, -0.7], [1.0, 0.5], order=15, kind=kind)
        b = tj.taylor_coefficients(w, [X, Y], [0.3, -0.7], [1.0, 0.5], order=15, kind=kind)
        assert np.array_equal(a, b), kind
    assert str(tj.decompose([e], [X, Y])).count("log1p") == 2


def test_derivatives_diff_and_folding():
    d = tj.diff(softplus(X * Y), X)
    assert str(d) == "sigmoid(x*y)*y"          # the given derivative
    da, db = tj.diff(logaddexp(X, Y), X), tj.diff(logaddexp(X, Y), Y)   # derived
    f = tj.cfunc([da, db], [X, Y])
    for x0, y0 in [(0.3, -0.2), (-1.1, 1.4)]:
        with mpmath.workdps(30):
            ra = mpmath.diff(lambda a: mp_logaddexp(a, y0), x0)
            rb = mpmath.diff(lambda b: mp_logaddexp(x0, b), y0)
        # the derived partial in a is 1 - e^(b-a)/(1 + e^(b-a)): a difference, so relative to 1
        assert np.allclose(f([x0, y0]), [float(ra), float(rb)], rtol=0, atol=4e-16)
    # calls on numbers fold to numbers
    assert softplus(0.0) == math.log(2.0)
    assert abs(float(logaddexp(1.0, 2.0)) - float(mp_logaddexp(1, 2))) < 1e-15
    # all partials up to order 3 (derivatives front end) against mpmath
    res = tj.derivatives(logaddexp(X, Y), [X, Y], [0.25, -0.5], order=3)
    with mpmath.workdps(30):
        ref = mpmath.diff(mp_logaddexp, (0.25, -0.5), (1, 2))
    assert abs(res[1, 2] - float(ref)) < 1e-14
    assert softplus.definition(X) is tj.log1p(tj.exp(X))


def test_integration_against_mpmath():
    """A nonlinear oscillator x'' = log 2 - softplus(x): compiled and compact
    kernels give the same trajectory bit for bit, which matches mpmath's Taylor
    integrator at t = 2 and conserves the energy v^2/2 - Li2(-e^x) - x log 2."""
    sys_ = [(X, Y), (Y, math.log(2.0) - softplus(X))]
    states = []
    for compact in (False, True):
        ta = tj.TaylorAdaptive(sys_, [1.0, 0.0], compact=compact, tol=1e-16)
        ta.propagate_until(2.0)
        states.append(ta.state.copy())
    assert np.array_equal(states[0], states[1])
    with mpmath.workdps(20):
        f = mpmath.odefun(lambda t, y: [y[1], mpmath.log(2) - mp_softplus(y[0])], 0,
                          [mpmath.mpf(1), mpmath.mpf(0)])
        ref = [float(v) for v in f(2)]
    assert np.allclose(states[0], ref, rtol=0, atol=2e-15)

    def energy(x, v):
        with mpmath.workdps(30):
            return float(mpmath.mpf(v) ** 2 / 2 - mpmath.polylog(2, -mpmath.exp(x))
                         - x * mpmath.log(2))

    ta = tj.TaylorAdaptive(sys_, [1.0, 0.0], tol=1e-16)
    e0 = energy(1.0, 0.0)
    grid = np.linspace(0.0, 50.0, 6)
    out = ta.propagate_grid(grid)
    traj = out[-1] if isinstance(out, tuple) else out
    for x, v in np.asarray(traj):
        assert abs(energy(x, v) - e0) < 2e-14 * max(1.0, abs(e0))


def test_sympy_bridge():
    from taylorjit._symbolic.sympy_bridge import from_sympy, to_sympy

    e = softplus(X) * logaddexp(Y, X)
    s = to_sympy(e)
    assert {f.func.__name__ for f in s.atoms(sp.Function)} == {"softplus", "logaddexp"}
    back = from_sympy(s)
    assert to_sympy(back) == s
    sx, sy = sp.symbols("x y")
    pt = {sx: sp.Rational(3, 10), sy: sp.Rational(-1, 5)}
    with mpmath.workdps(40):
        ref = mp_softplus(mpmath.mpf(3) / 10) * mp_logaddexp(mpmath.mpf(-1) / 5,
                                                              mpmath.mpf(3) / 10)
        got = mpmath.mpf(str(s.subs(pt).evalf(40)))     # evalf: the registered mp functions
        assert abs(got - ref) < mpmath.mpf(10) ** -35
    # sympy's derivative (fdiff from the registered partials) agrees with tj.diff
    ds = sp.diff(s, sx)
    dt = to_sympy(tj.diff(e, X))
    assert abs(sp.N((ds - dt).subs(pt), 30)) < 1e-25
    assert sp.expand_func(to_sympy(softplus(X))) == to_sympy(tj.log1p(tj.exp(X)))


def test_registration_rules():
    reg = tj.extend.register_function
    # the same definition again: the same function (a cell or script run twice)
    assert reg("softplus", lambda z: tj.log1p(tj.exp(z)),
               derivative=lambda z: [tj.sigmoid(z)]) is softplus
    with pytest.raises(ValueError, match="already registered .with another definition"):
        reg("softplus", lambda z: tj.log(1.0 + tj.exp(z)))
    with pytest.raises(ValueError, match="'sin' is already registered"):
        reg("sin", lambda z: z)
    with pytest.raises(ValueError, match="operation of taylorjit's expressions"):
        reg("pow", lambda z: z)
    with pytest.raises(TypeError, match="Python identifier"):
        reg("soft plus", lambda z: z)
    with pytest.raises(TypeError, match="callable"):
        reg("tj_test_a", "log1p(exp(x))")
    with pytest.raises(TypeError, match="fixed number"):
        reg("tj_test_b", lambda *zs: zs[0])
    with pytest.raises(ValueError, match="variable 'y'"):
        reg("tj_test_c", lambda z: z * Y)
    with pytest.raises(ValueError, match=r"par\[0\]"):
        reg("tj_test_d", lambda z: z * tj.par[0])
    with pytest.raises(ValueError, match="tj.time"):
        reg("tj_test_e", lambda z: z + tj.time)
    with pytest.raises(ValueError, match="smooth"):
        reg("tj_test_f", lambda z: abs(z))
    with pytest.raises(TypeError, match="failed on symbolic arguments"):
        reg("tj_test_g", lambda z: math.exp(z))
    with pytest.raises(ValueError, match="1 partial derivative"):
        reg("tj_test_h", lambda z: tj.exp(2 * z), derivative=lambda z: [z, z])
    with pytest.raises(ValueError, match="disagrees|definition's is"):
        reg("tj_test_i", lambda z: tj.exp(2 * z), derivative=lambda z: [tj.exp(2 * z)])
    with pytest.raises(ValueError, match="finite interval"):
        reg("tj_test_j", lambda z: tj.exp(z), domain=[(1.0, 0.0)])
    assert not [n for n in FUNCTIONS if n.startswith("tj_test_")]   # nothing half-registered
