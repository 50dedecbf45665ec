"""hamiltonian / lagrangian: equations of motion against textbook closed forms
(pendulum, double pendulum, damped, driven and Caldirola-Kanai oscillators,
a Kepler orbit's conic), against numpy's linear solve for coupled mass
matrices, against heyoka.py when installed, conservation of H along the flow,
and the error messages."""
import math

import numpy as np
import pytest

import taylorjit as tj
from taylorjit._dynamics import hamiltonian, lagrangian

try:
    import heyoka as hy
except ImportError:  # pragma: no cover - heyoka is a benchmark dependency
    hy = None
needs_heyoka = pytest.mark.skipif(hy is None, reason="heyoka not installed (pip install heyoka)")

RNG = np.random.default_rng(7)


def rhs_fn(sys):
    return tj.cfunc([r for _, r in sys], [v for v, _ in sys], kind="compact")


# ----------------------------------------------------------------------------- Lagrangian
def test_pendulum_matches_closed_form_and_period():
    th, w = tj.make_vars("th", "w")
    m, ln, g = 1.7, 0.8, 9.81
    sys = lagrangian(0.5 * m * ln**2 * w**2 + m * g * ln * tj.cos(th), [th], [w])
    assert [str(v) for v, _ in sys] == ["th", "w"]
    f = rhs_fn(sys)
    for th0, w0 in RNG.uniform(-3, 3, (20, 2)):
        out = f([th0, w0])
        assert out[0] == w0
        assert abs(out[1] - (-(g / ln) * math.sin(th0))) < 1e-14 * (g / ln)
    # period of the libration from amplitude th0: 4 sqrt(l/g) K(sin^2(th0/2))
    from scipy.special import ellipk

    th0 = 2.0
    period = 4 * math.sqrt(ln / g) * ellipk(math.sin(th0 / 2) ** 2)
    ta = tj.TaylorAdaptive(sys, [th0, 0.0], compact=True)
    ta.propagate_until(period)
    assert abs(ta.state[0] - th0) < 1e-12 and abs(ta.state[1]) < 1e-11


def _double_pendulum_acc(t1, t2, w1, w2, m1, m2, l1, l2, g):
    """The textbook closed form of the double pendulum's angular accelerations."""
    d = t1 - t2
    den = 2 * m1 + m2 - m2 * math.cos(2 * t1 - 2 * t2)
    a1 = (-g * (2 * m1 + m2) * math.sin(t1) - m2 * g * math.sin(t1 - 2 * t2)
          - 2 * math.sin(d) * m2 * (w2**2 * l2 + w1**2 * l1 * math.cos(d))) / (l1 * den)
    a2 = (2 * math.sin(d) * (w1**2 * l1 * (m1 + m2) + g * (m1 + m2) * math.cos(t1)
                             + w2**2 * l2 * m2 * math.cos(d))) / (l2 * den)
    return a1, a2


def test_double_pendulum_matches_textbook_form():
    t1, t2, w1, w2 = tj.make_vars("t1", "t2", "w1", "w2")
    m1, m2, l1, l2, g = 1.3, 0.7, 1.1, 0.9, 9.81
    T = (0.5 * (m1 + m2) * l1**2 * w1**2 + 0.5 * m2 * l2**2 * w2**2
         + m2 * l1 * l2 * w1 * w2 * tj.cos(t1 - t2))
    V = -(m1 + m2) * g * l1 * tj.cos(t1) - m2 * g * l2 * tj.cos(t2)
    sys = lagrangian(T - V, [t1, t2], [w1, w2])
    assert [str(v) for v, _ in sys] == ["t1", "t2", "w1", "w2"]
    f = rhs_fn(sys)
    for x in RNG.uniform(-3, 3, (50, 4)):
        out = f(x)
        ref = _double_pendulum_acc(*x, m1, m2, l1, l2, g)
        assert out[0] == x[2] and out[1] == x[3]
        np.testing.assert_allclose(out[2:], ref, rtol=1e-12, atol=1e-12)


def test_double_pendulum_with_parameters_conserves_energy():
    t1, t2, w1, w2 = tj.make_vars("t1", "t2", "w1", "w2")
    m1, m2, l1, l2, g = (tj.par[i] for i in range(5))
    T = (0.5 * (m1 + m2) * l1**2 * w1**2 + 0.5 * m2 * l2**2 * w2**2
         + m2 * l1 * l2 * w1 * w2 * tj.cos(t1 - t2))
    V = -(m1 + m2) * g * l1 * tj.cos(t1) - m2 * g * l2 * tj.cos(t2)
    sys = lagrangian(T - V, [t1, t2], [w1, w2])
    pars = [1.3, 0.7, 1.1, 0.9, 9.81]
    f = rhs_fn(sys)
    x = np.array([0.4, -1.2, 0.3, 2.0])
    np.testing.assert_allclose(f(x, pars=pars)[2:], _double_pendulum_acc(*x, *pars),
                               rtol=1e-12)
    E = tj.cfunc(T + V, [t1, t2, w1, w2], kind="compact")
    ta = tj.TaylorAdaptive(sys, x, pars=pars, compact=True)
    e0 = E(x, pars=pars)
    ta.propagate_until(20.0)        # chaotic regime: energy is still conserved
    assert abs(E(ta.state, pars=pars) - e0) < 1e-13 * abs(e0)


def test_damped_oscillator_against_closed_form():
    x, v = tj.make_vars("x", "v")
    m, k, c = 2.0, 3.0, 0.4
    sys = lagrangian(m * v**2 / 2 - k * x**2 / 2, [x], [v], D=c * v**2 / 2)
    # the keyword spelling gives the same system
    assert lagrangian(m * v**2 / 2 - k * x**2 / 2, [x], [v],
                      dissipation=c * v**2 / 2)[1][1] is sys[1][1]
    gam = c / (2 * m)
    wd = math.sqrt(k / m - gam**2)
    x0, v0 = 1.0, 0.5
    A, B = x0, (v0 + gam * x0) / wd
    grid = np.linspace(0.0, 30.0, 31)
    ta = tj.TaylorAdaptive(sys, [x0, v0], compact=True)
    states = np.asarray(ta.propagate_grid(grid).states)
    xs = np.exp(-gam * grid) * (A * np.cos(wd * grid) + B * np.sin(wd * grid))
    vs = np.exp(-gam * grid) * ((B * wd - gam * A) * np.cos(wd * grid)
                                - (A * wd + gam * B) * np.sin(wd * grid))
    np.testing.assert_allclose(states[:, 0], xs, atol=1e-14)
    np.testing.assert_allclose(states[:, 1], vs, atol=1e-14)


def test_driven_oscillator_forces_against_closed_form():
    x, v = tj.make_vars("x", "v")
    A, w = 0.7, 1.6
    sys = lagrangian(v**2 / 2 - x**2 / 2, [x], [v], forces=[A * tj.cos(w * tj.time)])
    grid = np.linspace(0.0, 20.0, 21)
    ta = tj.TaylorAdaptive(sys, [0.0, 0.0], compact=True)
    states = np.asarray(ta.propagate_grid(grid).states)
    ref = A / (1 - w**2) * (np.cos(w * grid) - np.cos(grid))
    np.testing.assert_allclose(states[:, 0], ref, atol=1e-13)


def test_time_dependent_lagrangian_caldirola_kanai():
    # L = exp(g t) (v^2 - x^2) / 2 gives x'' = -g x' - x: exercises d2L/dv dt
    x, v = tj.make_vars("x", "v")
    g = 0.3
    sys = lagrangian(tj.exp(g * tj.time) * (v**2 - x**2) / 2, [x], [v])
    f = rhs_fn(sys)
    for x0, v0, t in RNG.uniform(-2, 2, (10, 3)):
        assert abs(f([x0, v0], time=t)[1] - (-g * v0 - x0)) < 1e-13


def test_coupled_mass_matrix_against_numpy_solve():
    # a configuration-dependent, velocity-coupled 3-DOF mass matrix
    q = tj.make_vars("q0", "q1", "q2")
    u = tj.make_vars("u0", "u1", "u2")
    Bc = RNG.uniform(-1, 1, (3, 3))

    def Mexpr(qq, lib):
        Bq = [[Bc[i][j] * lib.cos(qq[(i + j) % 3]) for j in range(3)] for i in range(3)]
        return [[sum(Bq[k][i] * Bq[k][j] for k in range(3)) + (1.0 if i == j else 0.0)
                 for j in range(3)] for i in range(3)]

    Mq = Mexpr(q, tj)
    T = sum(0.5 * Mq[i][j] * u[i] * u[j] for i in range(3) for j in range(3))
    V = q[0] ** 4 + q[0] * q[1] + tj.sin(q[2])
    sys = lagrangian(T - V, list(q), list(u), D=0.1 * u[0] ** 2)
    f = rhs_fn(sys)
    # reference: the Euler-Lagrange equations written by sympy, solved by numpy
    import sympy as sp

    qs_, us_ = sp.symbols("q0:3"), sp.symbols("u0:3")
    Ms = sp.Matrix(Mexpr(qs_, sp))
    Ls = (sp.Rational(1, 2) * (sp.Matrix(us_).T * Ms * sp.Matrix(us_))[0]
          - (qs_[0] ** 4 + qs_[0] * qs_[1] + sp.sin(qs_[2])))
    p = [sp.diff(Ls, ui) for ui in us_]
    rhs = [sp.diff(Ls, qs_[i]) - sum(sp.diff(p[i], qs_[j]) * us_[j] for j in range(3))
           - (0.2 * us_[0] if i == 0 else 0) for i in range(3)]
    Mf = sp.lambdify(qs_ + us_, Ms)
    rf = sp.lambdify(qs_ + us_, rhs)
    for x in RNG.uniform(-1.5, 1.5, (20, 6)):
        ref = np.linalg.solve(np.array(Mf(*x), float), np.array(rf(*x), float))
        np.testing.assert_allclose(f(x)[3:], ref, rtol=1e-11, atol=1e-12)


def test_indefinite_mass_matrix_needs_off_diagonal_pivot():
    # L = v1 v2 - V: M = [[0, 1], [1, 0]], so a1 = -dV/dq2, a2 = -dV/dq1
    q1, q2, v1, v2 = tj.make_vars("q1", "q2", "v1", "v2")
    V = q1**2 * q2 + tj.cos(q2)
    sys = lagrangian(v1 * v2 - V, [q1, q2], [v1, v2])
    f = rhs_fn(sys)
    for x in RNG.uniform(-2, 2, (10, 4)):
        a = f(x)[2:]
        np.testing.assert_allclose(a, [-(x[0] ** 2 - math.sin(x[1])), -2 * x[0] * x[1]],
                                   rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("case", ["linear_in_v", "sum_of_velocities", "hidden_zero", "no_v"])
def test_singular_mass_matrix_raises(case):
    x, y, v, u = tj.make_vars("x", "y", "v", "u")
    if case == "linear_in_v":
        args = (x * v - x**2, [x], [v])
    elif case == "sum_of_velocities":      # det [[1, 1], [1, 1]] = 0
        args = ((v + u) ** 2 / 2 - x**2 - y**2, [x, y], [v, u])
    elif case == "hidden_zero":            # (sin^2 + cos^2 - 1) u^2: zero only symbolically
        args = ((tj.sin(x) ** 2 + tj.cos(x) ** 2 - 1) * u**2 + v**2 - x**2 - y**2,
                [x, y], [v, u])
    else:
        args = (-x**2 - y**2 + v**2, [x, y], [v, u])
    with pytest.raises(ValueError, match="mass matrix .* singular"):
        lagrangian(*args)


def test_lagrangian_argument_errors():
    x, y, v, u = tj.make_vars("x", "y", "v", "u")
    L = v**2 / 2 - x**2 / 2
    with pytest.raises(ValueError, match="same length"):
        lagrangian(L, [x, y], [v])
    with pytest.raises(ValueError, match="empty"):
        lagrangian(L, [], [])
    with pytest.raises(ValueError, match="more than once"):
        lagrangian(L, [x, x], [v, u])
    with pytest.raises(ValueError, match="both qs and qdots"):
        lagrangian(L, [x, v], [v, u])
    with pytest.raises(TypeError, match="must be a variable"):
        lagrangian(L, [x + 1], [v])
    with pytest.raises(ValueError, match=r"L depends on the variable\(s\) \['y'\]"):
        lagrangian(L + y, [x], [v])
    with pytest.raises(ValueError, match="dissipation function D depends"):
        lagrangian(L, [x], [v], D=u**2)
    with pytest.raises(TypeError, match="not both"):
        lagrangian(L, [x], [v], D=v**2, dissipation=v**2)
    with pytest.raises(ValueError, match="one generalised force per coordinate"):
        lagrangian(L, [x], [v], forces=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"forces\[0\] depends"):
        lagrangian(L, [x], [v], forces=[y])
    with pytest.raises(TypeError, match="single scalar expression"):
        lagrangian([L], [x], [v])


# ----------------------------------------------------------------------------- Hamiltonian
def _henon_heiles():
    x, y, px, py = tj.make_vars("x", "y", "px", "py")
    H = (px**2 + py**2 + x**2 + y**2) / 2 + x**2 * y - y**3 / 3
    return H, [x, y], [px, py]


def test_henon_heiles_equations_and_energy_conservation():
    H, qs, ps = _henon_heiles()
    sys = hamiltonian(H, qs, ps)
    assert [str(v) for v, _ in sys] == ["x", "y", "px", "py"]
    f = rhs_fn(sys)
    for x, y, px, py in RNG.uniform(-1, 1, (10, 4)):
        np.testing.assert_allclose(f([x, y, px, py]),
                                   [px, py, -x - 2 * x * y, -y - x**2 + y**2], rtol=1e-15,
                                   atol=1e-16)
    E = tj.cfunc(H, qs + ps, kind="compact")
    # a chaotic orbit at E = 1/6
    E0 = 1 / 6
    st = [0.0, -0.1, math.sqrt(2 * E0 - 0.01 - 2 * 0.001 / 3), 0.0]
    assert abs(E(st) - E0) < 1e-16
    ta = tj.TaylorAdaptive(sys, st, compact=True)
    ta.propagate_until(1000.0)
    assert abs(E(ta.state) - E0) / E0 < 1e-14


def test_kepler_polar_conic_and_invariants():
    r, th, pr, pth = tj.make_vars("r", "th", "pr", "pth")
    mu = 1.3
    H = pr**2 / 2 + pth**2 / (2 * r**2) - mu / r
    sys = hamiltonian(H, [r, th], [pr, pth])
    r0, pr0, pth0 = 1.0, 0.2, 1.25
    E0 = pr0**2 / 2 + pth0**2 / 2 - mu
    # the conic r = p / (1 + e cos(th - om)), p = pth^2 / mu, e = sqrt(1 + 2 E pth^2 / mu^2)
    p = pth0**2 / mu
    e = math.sqrt(1 + 2 * E0 * pth0**2 / mu**2)
    om = math.atan2(pr0 * pth0 / mu, p / r0 - 1)      # e sin(th - om) = pr pth / mu at th = 0
    grid = np.linspace(0.0, 50.0, 101)
    ta = tj.TaylorAdaptive(sys, [r0, 0.0, pr0, pth0], compact=True)
    st = np.asarray(ta.propagate_grid(grid).states)
    np.testing.assert_allclose(st[:, 0], p / (1 + e * np.cos(st[:, 1] + om)), rtol=1e-13)
    assert np.all(st[:, 3] == pth0)                      # pth' = -dH/dth = 0 exactly
    En = st[:, 2] ** 2 / 2 + st[:, 3] ** 2 / (2 * st[:, 0] ** 2) - mu / st[:, 0]
    assert np.max(np.abs(En - E0)) / abs(E0) < 1e-14


def test_time_dependent_hamiltonian_with_parameters():
    q, p = tj.make_vars("q", "p")
    H = p**2 / 2 + tj.par[0] * q**2 / 2 - tj.par[1] * q * tj.cos(tj.time)
    sys = hamiltonian(H, [q], [p])
    f = rhs_fn(sys)
    out = f([0.3, -0.4], pars=[2.0, 0.5], time=1.1)
    np.testing.assert_allclose(out, [-0.4, -2.0 * 0.3 + 0.5 * math.cos(1.1)], rtol=1e-15)


def test_hamiltonian_argument_errors():
    x, y, p, s = tj.make_vars("x", "y", "p", "s")
    with pytest.raises(ValueError, match="same length"):
        hamiltonian(p**2, [x, y], [p])
    with pytest.raises(ValueError, match="both qs and ps"):
        hamiltonian(p**2, [x], [x])
    with pytest.raises(ValueError, match=r"H depends on the variable\(s\) \['s'\]"):
        hamiltonian(p**2 + s, [x], [p])
    with pytest.raises(TypeError, match="list of variables"):
        hamiltonian(p**2, 3, [p])


# ----------------------------------------------------------------------------- heyoka
@needs_heyoka
def test_against_heyoka():
    t1, t2, w1, w2 = tj.make_vars("t1", "t2", "w1", "w2")
    h1, h2, hw1, hw2 = hy.make_vars("t1", "t2", "w1", "w2")

    def L(a1, a2, b1, b2, cos, tm):
        return (0.5 * 2.0 * b1**2 + 0.5 * 0.6 * b2**2 + 0.7 * b1 * b2 * cos(a1 - a2)
                + 3.0 * cos(a1) + 1.1 * cos(a2) * (1 + 0.1 * tm))

    mine = lagrangian(L(t1, t2, w1, w2, tj.cos, tj.time), [t1, t2], [w1, w2], D=0.2 * w1**2)
    theirs = hy.lagrangian(L(h1, h2, hw1, hw2, hy.cos, hy.time), [h1, h2], [hw1, hw2],
                           D=0.2 * hw1**2)
    assert [str(v) for v, _ in mine] == [str(v) for v, _ in theirs]
    f = rhs_fn(mine)
    g = hy.cfunc([r for _, r in theirs], [h1, h2, hw1, hw2])
    for x in RNG.uniform(-2, 2, (10, 4)):
        np.testing.assert_allclose(f(x, time=0.7), g(x, time=0.7), rtol=1e-12, atol=1e-13)

    H, qs, ps = _henon_heiles()
    hx, hy_, hpx, hpy = hy.make_vars("x", "y", "px", "py")
    hH = (hpx**2 + hpy**2 + hx**2 + hy_**2) / 2 + hx**2 * hy_ - hy_**3 / 3
    mine = hamiltonian(H, qs, ps)
    theirs = hy.hamiltonian(hH, [hx, hy_], [hpx, hpy])
    f = rhs_fn(mine)
    g = hy.cfunc([r for _, r in theirs], [hx, hy_, hpx, hpy])
    for x in RNG.uniform(-1, 1, (10, 4)):
        np.testing.assert_allclose(f(x), g(x), rtol=1e-14, atol=1e-16)
