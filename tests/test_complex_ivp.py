"""Complex states in tj.solve_ivp (issue 22 item 4): complex y0 and complex right-hand sides,
checked against closed forms, numpy's complex functions and scipy's DOP853."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

import taylorjit as tj
from taylorjit._symbolic.complex import CExpr, ComplexArray
from taylorjit._symbolic.expr import TracingError, expr
from taylorjit._symbolic.guards import numeric_values
from taylorjit._symbolic.tracing import trace

TIGHT = dict(rtol=1e-15, atol=1e-15)


def test_exp_i_t():
    sol = tj.solve_ivp(lambda t, y: 1j * y, (0, 10), [1 + 0j], dense_output=True, **TIGHT)
    assert sol.success and sol.y.dtype == np.complex128 and sol.t.dtype == np.float64
    assert sol.y.shape == (1, sol.t.size)
    assert np.max(np.abs(sol.y[0] - np.exp(1j * sol.t))) <= 1e-13
    tt = np.linspace(0, 10, 37)
    dense = sol.sol(tt)
    assert dense.dtype == np.complex128 and dense.shape == (1, 37)
    assert np.max(np.abs(dense[0] - np.exp(1j * tt))) <= 1e-13
    assert sol.sol(2.0).shape == (1,) and abs(sol.sol(2.0)[0] - np.exp(2j)) <= 1e-13
    ev = tj.solve_ivp(lambda t, y: 1j * y, (0, 10), [1 + 0j], t_eval=tt, **TIGHT)
    assert_allclose(ev.t, tt)
    assert np.max(np.abs(ev.y[0] - np.exp(1j * tt))) <= 1e-13
    # backwards, a purely real complex-typed y0 (scipy's rule: the dtype decides)
    back = tj.solve_ivp(lambda t, y: 1j * y, (0, -3), np.array([2.0], dtype=complex), **TIGHT)
    assert abs(back.y[0, -1] - 2 * np.exp(-3j)) <= 1e-13


def _rabi_exact(t, delta, omega, psi0):
    """exp(-i H t) psi0 for H = [[d/2, w/2], [w/2, -d/2]]: cos(Wt/2) - i sin(Wt/2) 2H/W."""
    W = np.hypot(delta, omega)
    n_sigma = np.array([[delta, omega], [omega, -delta]]) / W
    c, s = np.cos(W * t / 2), np.sin(W * t / 2)
    return c[None, :] * psi0[:, None] - 1j * s[None, :] * (n_sigma @ psi0)[:, None]


def test_rabi_two_level_system():
    def schrodinger(t, psi, delta, omega):
        H = np.array([[delta / 2, omega / 2], [omega / 2, -delta / 2]])
        return -1j * (H @ psi)

    psi0 = np.array([1, 0], dtype=complex)
    tt = np.linspace(0, 20, 41)
    for delta, omega in ((0.3, 1.1), (0.0, 2.0), (-0.7, 0.4)):   # new args reuse the kernel
        sol = tj.solve_ivp(schrodinger, (0, 20), psi0, args=(delta, omega), t_eval=tt,
                           rtol=1e-14, atol=1e-14)
        exact = _rabi_exact(tt, delta, omega, psi0)
        assert np.max(np.abs(sol.y - exact)) <= 1e-12
        W2 = delta ** 2 + omega ** 2
        assert_allclose(np.abs(sol.y[1]) ** 2, omega ** 2 / W2 * np.sin(np.sqrt(W2) * tt / 2) ** 2,
                        atol=1e-12)
        assert_allclose(np.sum(np.abs(sol.y) ** 2, axis=0), 1.0, atol=1e-12)


def test_forcing_exp_i_t():
    def forced(t, y, w):
        return -y + np.exp(1j * w * t)

    y0 = 0.2 - 0.1j
    for w in (1.0, 2.5):
        sol = tj.solve_ivp(forced, (0, 5), [y0], args=(w,), **TIGHT)
        c = 1 / (1 + 1j * w)
        exact = (y0 - c) * np.exp(-sol.t) + c * np.exp(1j * w * sol.t)
        assert np.max(np.abs(sol.y[0] - exact)) <= 1e-13


def test_real_imag_conj_abs():
    # y = x + i v with x' = v, v' = -x, written with .real/.imag of the state
    sol = tj.solve_ivp(lambda t, y: y.imag - 1j * y.real, (0, 5), [1 + 0j], **TIGHT)
    assert np.max(np.abs(sol.y[0] - np.exp(-1j * sol.t))) <= 1e-13
    # nonlinear phase rotation y' = i |y|^2 y, three ways of writing |y|^2
    y0 = np.array([0.6 + 0.8j, 0.3j, -0.5 + 0.1j])
    exact = y0 * np.exp(1j * np.abs(y0) ** 2 * 4)
    for f in (lambda t, y: 1j * np.abs(y) ** 2 * y,
              lambda t, y: 1j * (y * y.conj()) * y,
              lambda t, y: 1j * (np.conj(y) * y).real * y,
              lambda t, y: 1j * (np.real(y) ** 2 + np.imag(y) ** 2) * y,
              lambda t, y: np.array([1j * abs(z) ** 2 * z for z in y])):
        sol = tj.solve_ivp(f, (0, 4), y0, **TIGHT)
        assert np.max(np.abs(sol.y[:, -1] - exact)) <= 1e-13
    # .real / .imag of arrays computed from y act per element (numpy's own object arrays
    # would return the array itself / zeros)
    def rotate(t, y):
        w = np.concatenate([y[1:], y[:1]])
        return 1j * w.real - w.imag + 0.0 * np.linalg.norm(y)
    sol = tj.solve_ivp(rotate, (0, 1), [1 + 2j, -1j], **TIGHT)
    # d/dt (y0, y1) = (i Re y1 - Im y1, i Re y0 - Im y0) = (i y1, i y0)
    y0 = np.array([1 + 2j, -1j])
    exact = np.cos(1) * y0 + 1j * np.sin(1) * y0[::-1]
    assert np.max(np.abs(sol.y[:, -1] - exact)) <= 1e-13


def test_modulus_squared_from_a_zero_component():
    """|y|**2 is the smooth re**2 + im**2 (no sqrt at y = 0, where scipy-style code starts
    from psi0 = [1, 0]); a driven two-level system with a Kerr term, against DOP853."""
    from scipy.integrate import solve_ivp as scipy_ivp

    def kerr(t, y):
        return 1j * np.abs(y) ** 2 * y - 0.5j * y[::-1]

    y0 = np.array([1 + 0j, 0j])
    a = tj.solve_ivp(kerr, (0, 3), y0, rtol=1e-13, atol=1e-13)
    b = scipy_ivp(kerr, (0, 3), y0, method="DOP853", rtol=1e-13, atol=1e-13)
    assert a.success and np.max(np.abs(a.y[:, -1] - b.y[:, -1])) <= 1e-11
    assert_allclose(np.sum(np.abs(a.y) ** 2, axis=0), 1.0, atol=1e-12)   # the norm is conserved


@pytest.mark.parametrize("kw", [{}, {"ord": 2}, {"ord": 1}, {"ord": 3}, {"ord": -2}])
def test_norms_of_complex_vectors(kw):
    z = np.array([0.3 - 0.2j, 1 + 2j, -0.5j])
    tf = trace(lambda t, y: np.linalg.norm(y, **kw) + 0 * y, 3, complex_state=True)
    env = {id(v): x for v, x in zip(tf.state, np.concatenate([z.real, z.imag]))}
    assert_allclose(numeric_values(tf.outputs[:1], env)[0], np.linalg.norm(z, **kw), rtol=1e-15)


def test_complex_args_are_parameters():
    from scipy.linalg import expm

    def linear(t, y, A):
        return A @ y

    y0 = np.array([1 + 0j, 0.5j])
    A = np.array([[0, 1j], [1j, -0.1 + 0.2j]])
    tf = trace(linear, 2, (A,), complex_state=True)
    assert tf.n_pars == 8 and len(tf.state) == 4
    for M in (A, 1.3 * A.T):
        sol = tj.solve_ivp(linear, (0, 3), y0, args=(M,), **TIGHT)
        assert np.max(np.abs(sol.y[:, -1] - expm(3 * M) @ y0)) <= 1e-13
    for lam in (-0.3 + 2j, 0.1 - 1j):
        sol = tj.solve_ivp(lambda t, y, lam: lam * y, (0, 2), [1 + 0.5j], args=(lam,), **TIGHT)
        assert abs(sol.y[0, -1] - (1 + 0.5j) * np.exp(2 * lam)) <= 1e-13


def test_events_with_complex_state():
    def crossing(t, y):
        return y[0].real

    sol = tj.solve_ivp(lambda t, y: 1j * y, (0, 10), [1 + 0j], events=crossing, **TIGHT)
    te = np.pi / 2 + np.pi * np.arange(3)
    assert_allclose(sol.t_events[0], te, atol=1e-13)
    assert sol.y_events[0].dtype == np.complex128 and sol.y_events[0].shape == (3, 1)
    assert np.max(np.abs(sol.y_events[0][:, 0] - np.exp(1j * te))) <= 1e-13

    def ring(t, y):
        return abs(y[0]) - 2.0
    ring.terminal = True
    sol = tj.solve_ivp(lambda t, y: (0.5 + 1j) * y, (0, 10), [1 + 0j], events=ring, **TIGHT)
    assert sol.status == 1 and abs(sol.t[-1] - 2 * np.log(2)) <= 1e-13
    assert abs(sol.y[0, -1] - np.exp((0.5 + 1j) * 2 * np.log(2))) <= 1e-12


def test_agrees_with_scipy_dop853():
    from scipy.integrate import solve_ivp as scipy_ivp

    def f(t, y, k):
        return np.array([1j * y[0] - k * y[0] * np.abs(y[1]) ** 2,
                         -0.5 * y[1] + 0.2j * np.sin(y[0]) + np.exp(1j * t) * np.conj(y[0])])

    y0 = np.array([0.3 + 0.1j, -0.2 + 0.4j])
    tt = np.linspace(0, 10, 21)
    for rtol in (1e-8, 1e-12):
        a = tj.solve_ivp(f, (0, 10), y0, args=(0.3,), rtol=rtol, atol=rtol, dense_output=True)
        b = scipy_ivp(f, (0, 10), y0, args=(0.3,), method="DOP853", rtol=rtol, atol=rtol,
                      dense_output=True)
        assert a.y.dtype == b.y.dtype == np.complex128
        assert np.max(np.abs(a.y[:, -1] - b.y[:, -1])) <= 100 * rtol
        assert np.max(np.abs(a.sol(tt) - b.sol(tt))) <= 100 * rtol


POINTS = (0.3 - 0.7j, -1.2 + 0.4j, 0.5 + 0j, -2 - 1e-3j, 1.5 + 2j)
UFUNCS = ("exp", "expm1", "exp2", "log", "log1p", "log2", "log10", "sqrt", "square",
          "reciprocal", "sin", "cos", "tan", "sinh", "cosh", "tanh", "arcsin", "arccos",
          "arctan", "arcsinh", "arccosh", "arctanh", "conjugate", "absolute")


@pytest.mark.parametrize("name", UFUNCS)
def test_functions_match_numpy(name):
    """Each ufunc of a symbolic complex value, evaluated at points, equals numpy's complex
    function (principal branches)."""
    fn = getattr(np, name)
    tf = trace(lambda t, y: fn(y) + 0j, 1, complex_state=True)
    for z in POINTS:
        env = {id(v): x for v, x in zip(tf.state, (z.real, z.imag))}
        re, im = numeric_values(tf.outputs, env)
        ref = complex(fn(z))
        assert abs(complex(re, im) - ref) <= 4e-15 * max(1.0, abs(ref)), (name, z)


def test_powers_match_python():
    for p in (2, 3, -2, 0, 0.5, 1.7, -0.3, 70, 1j, 0.5 + 2j):
        tf = trace(lambda t, y, p=p: y ** p + 0j, 1, complex_state=True)
        tb = trace(lambda t, y, p=p: 1.3 ** (p * y) + 0j, 1, complex_state=True)
        for z in POINTS[:2]:
            env = {id(v): x for v, x in zip(tf.state, (z.real, z.imag))}
            got = complex(*numeric_values(tf.outputs, env))
            assert abs(got - z ** p) <= 1e-13 * max(1.0, abs(z ** p)), (p, z)
            got = complex(*numeric_values(tb.outputs, env))
            assert abs(got - 1.3 ** (p * z)) <= 1e-13 * abs(1.3 ** (p * z)), (p, z)


def test_cexpr_arithmetic():
    x = tj.var("x")
    z = 1j * x
    assert isinstance(z, CExpr) and z.real == 0 and z.imag is x
    assert isinstance(x + 2j, CExpr) and (x + 2j).imag == 2 and (x + 2j).real is x
    assert isinstance(np.complex128(2j) * x, CExpr)
    w = np.exp(1j * x)
    assert str(w.real) == "cos(x)" and str(w.imag) == "sin(x)"
    assert (w * w.conj()).imag == 0          # z * conj(z) is exactly real
    assert expr(CExpr(x, 0.0)) is x and (x + 0j) is x   # a zero imaginary part: real
    assert isinstance(tj.var("y") * np.array([1j, 2]), ComplexArray)


def test_errors_are_clear():
    def cmp(t, y):
        return 1j * y if y[0] > 0 else -y
    with pytest.raises(TracingError, match="complex numbers have no order"):
        tj.solve_ivp(cmp, (0, 1), [1 + 0j])
    with pytest.raises(TracingError, match="complex numbers have no order"):
        tj.solve_ivp(lambda t, y: np.maximum(y, 0), (0, 1), [1 + 0j])

    def write(t, y):
        out = np.zeros(1, dtype=complex)
        out[0] = 1j * y[0]
        return out
    with pytest.raises(TracingError, match="complex array"):
        tj.solve_ivp(write, (0, 1), [1 + 0j])
    with pytest.raises(TracingError, match="event function must return a real value"):
        tj.solve_ivp(lambda t, y: 1j * y, (0, 1), [1 + 0j], events=lambda t, y: y[0])
    with pytest.raises(TracingError, match="the complex state has 2"):
        tj.solve_ivp(lambda t, y: 1j * y[:1], (0, 1), [1 + 0j, 1j])
    with pytest.raises(TypeError, match="complex value"):
        tj.sin(1j * tj.var("x"))
    # a real state whose derivative is complex: the message points at complex y0
    with pytest.raises(TracingError, match="complex state when y0 is complex"):
        tj.solve_ivp(lambda t, y: 1j * y, (0, 1), [1.0])
    with pytest.raises(ValueError, match="must be finite"):
        tj.solve_ivp(lambda t, y: 1j * y, (0, 1), [np.nan + 1j])


def test_real_state_with_complex_intermediates():
    # a real equation written with complex numbers: x' = Re(e^{it}) x
    sol = tj.solve_ivp(lambda t, y: [(np.exp(1j * t) * y[0]).real], (0, 2), [1.0], **TIGHT)
    assert sol.y.dtype == np.float64
    assert abs(sol.y[0, -1] - np.exp(np.sin(2.0))) <= 1e-13
