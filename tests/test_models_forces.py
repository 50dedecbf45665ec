"""Perturbing accelerations of taylorjit.models: exponential-atmosphere drag and
cannonball solar radiation pressure against hand-written numpy formulas, their
effect in integrations (the textbook decay rate of a circular orbit, the exact
energy integral of SRP from a fixed Sun), add_acceleration, and bad input."""
import math

import numpy as np
import pytest

import taylorjit as tj
from taylorjit import models as M

EPS = np.finfo(float).eps
MU, RE, WE = 3.986004418e14, 6378137.0, 7.292115e-5
STATE = tj.make_vars("x", "y", "z", "vx", "vy", "vz")


def leo_states(rng, k):
    r = rng.normal(size=(k, 3))
    r *= (RE + rng.uniform(200e3, 900e3, size=(k, 1))) / np.linalg.norm(r, axis=1)[:, None]
    v = rng.normal(size=(k, 3)) * 4e3
    return np.hstack([r, v])


# ------------------------------------------------------------------ drag
def drag_ref(s, rho0, h0, H, B, R, w):
    r, v = s[:3], s[3:]
    vrel = v - np.cross(w, r) if w is not None else v
    rho = rho0 * math.exp(-(np.linalg.norm(r) - R - h0) / H)
    return -0.5 * rho * B * np.linalg.norm(vrel) * vrel


@pytest.mark.parametrize("omega", [None, [0.0, 0.0, WE], [1e-5, -2e-5, WE]])
def test_drag_vs_hand_formula(omega):
    rng = np.random.default_rng(1)
    args = (2.5e-12, 450e3, 58e3, 0.015, RE)
    f = tj.cfunc(M.drag_acc(*args, omega=omega), STATE)
    for s in leo_states(rng, 8):
        want = drag_ref(s, *args, None if omega is None else np.array(omega))
        np.testing.assert_allclose(f(s), want, rtol=16 * EPS, atol=0)


def test_drag_parameters_and_custom_variables():
    """Runtime parameters and user-supplied position/velocity expressions."""
    p, q = tj.make_vars("p0", "p1", "p2"), tj.make_vars("q0", "q1", "q2")
    acc = M.drag_acc(tj.par[0], tj.par[1], tj.par[2], tj.par[3], tj.par[4],
                     omega=[0, 0, tj.par[5]], xyz=p, vxyz=q)
    pars = [2.5e-12, 450e3, 58e3, 0.015, RE, WE]
    f = tj.cfunc(acc, list(p) + list(q))
    s = leo_states(np.random.default_rng(2), 1)[0]
    np.testing.assert_allclose(f(s, pars=pars), drag_ref(s, *pars[:5], np.array([0, 0, WE])),
                               rtol=16 * EPS, atol=0)


def test_drag_decay_rate_of_circular_orbit():
    """Circular orbit, non-rotating atmosphere: da/dt = -rho (Cd A/m) sqrt(mu a)
    (Vallado, Fundamentals of Astrodynamics, Sec. 9.6), over one revolution."""
    rho0, h0, H, B = 4e-12, 400e3, 60e3, 0.02
    a0 = RE + 400e3
    sys = M.add_acceleration(M.kepler(mu=MU), M.drag_acc(rho0, h0, H, B, RE))
    T = 2 * math.pi * math.sqrt(a0 ** 3 / MU)
    ta = tj.TaylorAdaptive(sys, [a0, 0, 0, 0, math.sqrt(MU / a0), 0], compact=True)
    ta.propagate_until(T)
    el = M.cartesian_to_elements(ta.state, MU)
    dadt_ref = -rho0 * B * math.sqrt(MU * a0)
    assert el[0] - a0 == pytest.approx(dadt_ref * T, rel=1e-3)
    assert el[1] < 1e-5


# ------------------------------------------------------------------ SRP
def srp_ref(r, k, sun, p=4.56e-6, au=149597870700.0, R=None, w=None):
    d = r - sun
    a = p * (au / np.linalg.norm(d)) ** 2 * k * d / np.linalg.norm(d)
    if R is None:
        return a
    sig = lambda u: 1.0 / (1.0 + math.exp(-u))  # noqa: E731
    s = np.dot(r, sun) / np.linalg.norm(sun)
    perp2 = np.dot(r, r) - s * s
    nu = 1.0 - sig(-s / w) * sig((R * R - perp2) / (2 * R * w))
    return nu * a


def test_srp_vs_hand_formula():
    rng = np.random.default_rng(3)
    sun = np.array([1.2e11, -8.0e10, 3.0e10])
    f = tj.cfunc(M.srp_acc(0.03, sun), STATE[:3])
    for s in leo_states(rng, 6):
        np.testing.assert_allclose(f(s[:3]), srp_ref(s[:3], 0.03, sun), rtol=16 * EPS, atol=0)
    # other units: kilometres (P in kg/(km s^2)), Sun as expressions of time
    t = tj.time
    au_km = 149597870.7
    sun_t = [au_km * tj.cos(1.99e-7 * t), au_km * tj.sin(1.99e-7 * t), 0.0]
    g = tj.cfunc(M.srp_acc(0.03e-6, sun_t, p_sun=4.56e-9, au=au_km), STATE[:3])
    r = np.array([7000.0, 100.0, -300.0])
    tt = 1.0e6
    sun_k = np.array([au_km * math.cos(1.99e-7 * tt), au_km * math.sin(1.99e-7 * tt), 0.0])
    np.testing.assert_allclose(g(r, time=tt), srp_ref(r, 0.03e-6, sun_k, 4.56e-9, au_km),
                               rtol=64 * EPS, atol=0)


def test_srp_shadow():
    sun = np.array([149597870700.0, 0.0, 0.0])
    w = 50e3
    f = tj.cfunc(M.srp_acc(0.02, sun, shadow_radius=RE, shadow_width=w), STATE[:3])
    full = 4.56e-6 * 0.02
    # sunlit side, and behind the Earth but outside the cylinder: full pressure
    for r in ([7e6, 0, 0], [0, 7e6, 0], [-7e6, RE + 1e6, 0]):
        a = f(np.array(r, float))
        assert np.linalg.norm(a) == pytest.approx(full * (149597870700.0 ** 2) /
                                                  np.sum((np.array(r) - sun) ** 2), rel=1e-12)
    # deep in the shadow: nothing; on the cylinder edge: half
    assert np.linalg.norm(f(np.array([-7e6, 0.0, 1e6]))) < 1e-30
    edge = np.array([-7e6, 0.0, RE])
    assert np.linalg.norm(f(edge)) / np.linalg.norm(srp_ref(edge, 0.02, sun)) == \
        pytest.approx(0.5, abs=1e-6)
    rng = np.random.default_rng(4)
    for s in leo_states(rng, 8):
        np.testing.assert_allclose(f(s[:3]), srp_ref(s[:3], 0.02, sun, R=RE, w=w),
                                   rtol=64 * EPS, atol=1e-30)
    # default width: R / 100
    g = tj.cfunc(M.srp_acc(0.02, sun, shadow_radius=RE), STATE[:3])
    r = np.array([-6.9e6, 0.0, RE - 20e3])
    np.testing.assert_allclose(g(r), srp_ref(r, 0.02, sun, R=RE, w=RE / 100), rtol=1e-13)


def test_srp_fixed_sun_energy_integral():
    """From a fixed Sun, SRP is a repulsive inverse-square force: the energy
    |v|^2/2 - mu/r + k/|r - s| is an exact integral of kepler + srp_acc."""
    mu = 1.0
    sun = [3.0, 1.0, 0.5]
    k = 0.02
    sys = M.add_acceleration(M.kepler(mu=mu), M.srp_acc(k, sun, p_sun=1.0, au=1.0))
    x, y, z, vx, vy, vz = STATE
    d2 = (x - sun[0]) ** 2 + (y - sun[1]) ** 2 + (z - sun[2]) ** 2
    E = tj.cfunc(M.kepler_energy(mu=mu) + k * d2 ** -0.5, list(STATE))
    ta = tj.TaylorAdaptive(sys, [1.0, 0.0, 0.1, 0.0, 1.0, 0.05], compact=True)
    e0 = E(ta.state)
    ta.propagate_until(40.0)
    assert abs(E(ta.state) - e0) < 1e-14
    # and the orbit did feel the force (the plain Kepler energy drifted)
    Ek = tj.cfunc(M.kepler_energy(mu=mu), list(STATE))
    assert abs(Ek(ta.state) - Ek([1.0, 0.0, 0.1, 0.0, 1.0, 0.05])) > 1e-4


# ------------------------------------------------------------------ add_acceleration, errors
def test_add_acceleration_sums_and_keeps_order():
    base = M.kepler()
    a1 = [tj.par[0], 0.0, 0.0]
    a2 = [0.0, tj.var("x") * 1e-3, -1e-3]
    sys = M.add_acceleration(base, a1, a2)
    assert [str(v) for v, _ in sys] == [str(v) for v, _ in base]
    f0 = tj.cfunc([r for _, r in base], list(STATE))
    f1 = tj.cfunc([r for _, r in sys], list(STATE))
    s = np.array([1.1, -0.3, 0.4, 0.2, 0.9, -0.1])
    np.testing.assert_allclose(f1(s, pars=[0.01]) - f0(s),
                               [0, 0, 0, 0.01, 1.1e-3, -1e-3], rtol=1e-14, atol=1e-15)
    assert M.add_acceleration(base) == base


def test_force_errors():
    with pytest.raises(ValueError, match="scale_height must be positive"):
        M.drag_acc(1e-12, 0.0, 0.0, 0.01, RE)
    with pytest.raises(ValueError, match="rho0 must be >= 0"):
        M.drag_acc(-1e-12, 0.0, 6e4, 0.01, RE)
    with pytest.raises(ValueError, match="omega must have 3 components"):
        M.drag_acc(1e-12, 0.0, 6e4, 0.01, RE, omega=[0, WE])
    with pytest.raises(ValueError, match="xyz must be a 3-vector"):
        M.drag_acc(1e-12, 0.0, 6e4, 0.01, RE, xyz=STATE[:2])
    with pytest.raises(ValueError, match="sun must be a 3-vector"):
        M.srp_acc(0.02, [1.0, 0.0])
    with pytest.raises(ValueError, match="shadow_radius must be positive"):
        M.srp_acc(0.02, [1.0, 0.0, 0.0], shadow_radius=0.0)
    with pytest.raises(TypeError, match="cr_area_mass must be a real number"):
        M.srp_acc("0.02", [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="no equation for vx, vy, vz"):
        M.add_acceleration(M.pendulum(), [0, 0, 1])
    with pytest.raises(ValueError, match=r"accs\[0\] must be a 3-vector"):
        M.add_acceleration(M.kepler(), [0, 1])
