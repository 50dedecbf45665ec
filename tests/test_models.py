"""taylorjit.models: right-hand sides against heyoka.model and against
independent formulas, invariants over long propagations, Keplerian elements
(round trips, a textbook case, error messages)."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

import taylorjit as tj
from taylorjit import models as M
from taylorjit._integrate.odesys import Outcome

try:
    import heyoka as hy
except ImportError:  # pragma: no cover - heyoka is a benchmark dependency
    hy = None
needs_heyoka = pytest.mark.skipif(hy is None, reason="heyoka not installed (pip install heyoka)")

EPS = np.finfo(float).eps
_REF_FILE = Path(__file__).resolve().parent / "data" / "references.json"


def svars(sys):
    return [v for v, _ in sys]


def rhs_fn(sys, kind="compact"):
    return tj.cfunc([r for _, r in sys], svars(sys), kind=kind)


def hy_rhs(hsys, names, state, pars=()):
    hvars = [hy.expression(n) for n in names]
    f = hy.cfunc([r for _, r in hsys], hvars)
    return np.asarray(f(np.asarray(state, float), pars=np.asarray(pars, float)))


def invariant_fn(expr_, sys):
    f = tj.cfunc(expr_, svars(sys), kind="compact")
    return lambda s: float(f(np.asarray(s, float)))


# ------------------------------------------------------------------ N-body
@needs_heyoka
@pytest.mark.parametrize("n, nm", [(5, 5), (4, 2), (3, None)])
def test_nbody_rhs_matches_heyoka(n, nm):
    rng = np.random.default_rng(n)
    masses = None if nm is None else list(rng.uniform(0.1, 2.0, nm))
    G = 0.7
    sys = M.nbody(n, masses=masses, Gconst=G)
    state = rng.normal(size=6 * n)
    ours = rhs_fn(sys)(state)
    theirs = hy_rhs(hy.model.nbody(n, Gconst=G, masses=masses), [str(v) for v in svars(sys)],
                    state)
    np.testing.assert_allclose(ours, theirs, rtol=64 * EPS, atol=64 * EPS * np.abs(theirs).max())
    # energies agree too
    e = invariant_fn(M.nbody_energy(n, masses=masses, Gconst=G), sys)(state)
    he = hy.cfunc([hy.model.nbody_energy(n, Gconst=G, masses=masses)],
                  [hy.expression(str(v)) for v in svars(sys)])(state)[0]
    assert e == pytest.approx(he, rel=64 * EPS)


@needs_heyoka
def test_np1body_rhs_and_energy_match_heyoka():
    rng = np.random.default_rng(7)
    masses = [1.0] + list(rng.uniform(1e-3, 1e-2, 3))
    sys = M.np1body(4, masses=masses, Gconst=1.3)
    names = [str(v) for v in svars(sys)]
    assert names[:3] == ["x_1", "y_1", "z_1"]
    state = rng.normal(size=18)
    theirs = hy_rhs(hy.model.np1body(4, Gconst=1.3, masses=masses), names, state)
    ours = rhs_fn(sys)(state)
    np.testing.assert_allclose(ours, theirs, rtol=256 * EPS, atol=256 * EPS * np.abs(theirs).max())
    he = hy.cfunc([hy.model.np1body_energy(4, Gconst=1.3, masses=masses)],
                  [hy.expression(n) for n in names])(state)[0]
    e = invariant_fn(M.np1body_energy(4, masses=masses, Gconst=1.3), sys)(state)
    assert e == pytest.approx(he, rel=256 * EPS)


def test_np1body_equals_nbody_in_heliocentric_coordinates():
    """Independent check: the heliocentric accelerations are the inertial ones minus
    the Sun's, and the energies coincide."""
    rng = np.random.default_rng(3)
    masses = [1.0, 0.01, 0.003, 0.002]
    G = 0.9
    inertial = rng.normal(size=24)
    acc = rhs_fn(M.nbody(4, masses=masses, Gconst=G))(inertial).reshape(4, 6)[:, 3:]
    helio = (inertial.reshape(4, 6) - inertial[:6])[1:].reshape(-1)
    acc_h = rhs_fn(M.np1body(4, masses=masses, Gconst=G))(helio).reshape(3, 6)[:, 3:]
    np.testing.assert_allclose(acc_h, acc[1:] - acc[0], rtol=1e-13, atol=1e-13)
    # energy: np1body_energy is the barycentric energy
    m = np.array(masses)
    bary = inertial.reshape(4, 6) - (m[:, None] * inertial.reshape(4, 6)).sum(0) / m.sum()
    e_in = invariant_fn(M.nbody_energy(4, masses=masses, Gconst=G),
                        M.nbody(4, masses=masses, Gconst=G))(bary.reshape(-1))
    e_h = invariant_fn(M.np1body_energy(4, masses=masses, Gconst=G),
                       M.np1body(4, masses=masses, Gconst=G))(helio)
    assert e_h == pytest.approx(e_in, rel=1e-13)


def test_nbody_shares_pair_terms():
    """One x**-1.5 per pair: the decomposition has n (n - 1) / 2 power operations."""
    d = tj.decompose([r for _, r in M.nbody(6)], svars(M.nbody(6)))
    pows = [op for op in d.ops if "pow" in op[0] or "rsqrt" in op[0]]
    assert 0 < len(pows) <= 15
    # massless bodies do not interact: 2 massive + 3 test particles -> 1 + 2 * 3 pairs
    d2 = tj.decompose([r for _, r in M.nbody(5, masses=[1.0, 1.0])], svars(M.nbody(5)))
    assert len([op for op in d2.ops if "pow" in op[0] or "rsqrt" in op[0]]) <= 7


def test_nbody_runtime_masses_invariants():
    """Masses as runtime parameters; energy, momentum and angular momentum over
    ~160 orbits of a hierarchical triple."""
    masses = [tj.par[0], tj.par[1], tj.par[2]]
    sys = M.nbody(3, masses=masses, Gconst=1.0)
    pars = [1.0, 0.1, 0.01]
    E = tj.cfunc(M.nbody_energy(3, masses=masses), svars(sys), kind="compact")
    state0 = np.array([0, 0, 0, 0, -0.12, 0,   1, 0, 0, 0, 1.05, 0,
                       0, 3, 0.1, -0.6, 0, 0.01])
    ta = tj.TaylorAdaptive(sys, state0, pars=pars, compact=True)
    e0 = float(E(ta.state, pars=pars))
    m = np.array(pars)

    def ang_mom(s):
        s = s.reshape(3, 6)
        return (m[:, None] * np.cross(s[:, :3], s[:, 3:])).sum(0)

    def mom(s):
        return (m[:, None] * s.reshape(3, 6)[:, 3:]).sum(0)

    L0, P0 = ang_mom(ta.state), mom(ta.state)
    res = ta.propagate_until(1000.0)
    assert res.outcome is Outcome.time_limit
    assert abs(float(E(ta.state, pars=pars)) - e0) <= 1e3 * EPS * abs(e0)
    np.testing.assert_allclose(ang_mom(ta.state), L0, atol=1e3 * EPS * np.abs(L0).max())
    np.testing.assert_allclose(mom(ta.state), P0, atol=1e3 * EPS)


def test_outer_solar_system_data():
    oss = M.outer_solar_system()
    assert oss.names[0] == "Sun" and oss.state.shape == (36,) and oss.masses.shape == (6,)
    assert oss.G == 0.01720209895 ** 2
    oss.state[0] = 99.0                                   # fresh arrays each call
    assert M.outer_solar_system().state[0] != 99.0
    if _REF_FILE.exists():
        ref = json.loads(_REF_FILE.read_text())["outer_solar_system"]
        assert list(M.outer_solar_system().state) == ref["x0"]
        assert list(M.outer_solar_system().masses) == ref["masses"]
        assert M.outer_solar_system().G == ref["G"]


def test_outer_solar_system_reference_state():
    oss = M.outer_solar_system()
    ta = tj.TaylorAdaptive(M.nbody(6, masses=oss.masses, Gconst=oss.G), oss.state, compact=True)
    ta.propagate_until(1e4)
    ref = json.loads(_REF_FILE.read_text())["outer_solar_system"]
    r = np.array([float(s) for x in ref["ref"] if x["t"] == 1e4 for s in x["state"]])
    assert np.linalg.norm(ta.state - r) <= 1e-13 * np.linalg.norm(r)


# ------------------------------------------------------------------ Kepler
def test_kepler_against_analytic_solution():
    """1000 orbits of an e = 0.6 inclined orbit against the closed form (elements
    propagated with the mean motion), plus energy and angular momentum."""
    mu = 2.5
    el0 = np.array([1.3, 0.6, 0.7, 1.1, 2.0, 0.4])
    ta = tj.TaylorAdaptive(M.kepler(mu=mu), M.elements_to_cartesian(el0, mu), compact=True)
    E = invariant_fn(M.kepler_energy(mu), M.kepler(mu))
    e0, h0 = E(ta.state), np.cross(ta.state[:3], ta.state[3:])
    period = 2 * math.pi * math.sqrt(el0[0] ** 3 / mu)
    t1 = 1000 * period + 0.3
    ta.propagate_until(t1)
    el1 = el0.copy()
    el1[5] = math.fmod(el0[5] + math.sqrt(mu / el0[0] ** 3) * t1, 2 * math.pi)
    expected = M.elements_to_cartesian(el1, mu)
    # the along-track error grows like (energy error) x (number of orbits): heyoka
    # lands 6e-11 .. 2.4e-10 away for this orbit at various starting anomalies
    assert np.abs(ta.state - expected).max() <= 1e-9
    # ~40 steps per orbit: the rounding errors of 40000 steps random-walk to a few hundred eps
    assert abs(E(ta.state) - e0) <= 1000 * EPS * abs(e0)
    np.testing.assert_allclose(np.cross(ta.state[:3], ta.state[3:]), h0, atol=1000 * EPS)


def test_kepler_j2_is_the_gradient_of_the_potential():
    mu, j2, R = 398600.4418, 1.08262668e-3, 6378.137
    sys = M.kepler(mu=mu, j2=j2, radius=R)
    x, y, z, vx, vy, vz = svars(sys)
    pot = M.kepler_energy(mu, j2, R) - 0.5 * (vx * vx + vy * vy + vz * vz)
    grad = [-tj.diff(pot, w) for w in (x, y, z)]
    f = tj.cfunc(grad + [r for _, r in sys[3:]], [x, y, z, vx, vy, vz], kind="compact")
    rng = np.random.default_rng(5)
    for _ in range(5):
        s = np.concatenate([rng.normal(size=3) * 8000.0, rng.normal(size=3)])
        out = f(s)
        np.testing.assert_allclose(out[3:], out[:3], rtol=1e-13)
        # the J2 part is ~1e-3 of the central term: check it is really there
        kep = -mu * s[:3] / np.linalg.norm(s[:3]) ** 3
        assert np.abs(out[3:] - kep).max() > 1e-5 * np.abs(kep).max()


def test_kepler_j2_invariants_leo():
    """A LEO orbit with J2 (km, s) over ~100 revolutions: energy and the polar
    component of the angular momentum are conserved; the node regresses."""
    mu, j2, R = 398600.4418, 1.08262668e-3, 6378.137
    sys = M.kepler(mu=mu, j2=j2, radius=R)
    el0 = np.array([7000.0, 0.01, math.radians(51.6), 0.3, 0.5, 0.0])
    ta = tj.TaylorAdaptive(sys, M.elements_to_cartesian(el0, mu), compact=True)
    E = invariant_fn(M.kepler_energy(mu, j2, R), sys)
    e0 = E(ta.state)
    hz0 = ta.state[0] * ta.state[4] - ta.state[1] * ta.state[3]
    T = 2 * math.pi * math.sqrt(el0[0] ** 3 / mu)
    ta.propagate_until(100 * T)
    assert abs(E(ta.state) - e0) <= 500 * EPS * abs(e0)
    hz = ta.state[0] * ta.state[4] - ta.state[1] * ta.state[3]
    assert abs(hz - hz0) <= 500 * EPS * abs(hz0)
    # secular node drift -3/2 n J2 (R/p)^2 cos i, to the accuracy of first-order theory
    el = M.cartesian_to_elements(ta.state, mu)
    n_mean = math.sqrt(mu / el0[0] ** 3)
    p = el0[0] * (1 - el0[1] ** 2)
    drift = -1.5 * n_mean * j2 * (R / p) ** 2 * math.cos(el0[2]) * ta.time
    node_shift = (el[3] - el0[3] + math.pi) % (2 * math.pi) - math.pi
    assert node_shift == pytest.approx(drift, rel=0.01)


def test_kepler_arguments():
    with pytest.raises(ValueError, match="both j2"):
        M.kepler(mu=1.0, j2=1e-3)
    with pytest.raises(TypeError, match="runtime parameter"):
        M.kepler(mu="earth")
    with pytest.raises(ValueError, match="positive"):
        M.kepler(mu=1.0, j2=1e-3, radius=-1.0)
    # parameters: mu as par[0]
    sys = M.kepler(mu=tj.par[0])
    ta = tj.TaylorAdaptive(sys, [1, 0, 0, 0, 2, 0], pars=[4.0], compact=True)
    ta.propagate_until(2 * math.pi / 2)                  # circular, n = 2
    assert np.abs(ta.state - [1, 0, 0, 0, 2, 0]).max() <= 1e-13


# ------------------------------------------------------------------ elements
def _angle_diff(a, b):
    return np.abs((a - b + np.pi) % (2 * np.pi) - np.pi)


@pytest.mark.parametrize("anomaly", ["mean", "true", "eccentric"])
def test_elements_round_trip(anomaly):
    rng = np.random.default_rng(11)
    n = 3000
    el = np.stack([rng.uniform(0.2, 20, n), rng.uniform(0.01, 0.95, n),
                   rng.uniform(0.05, np.pi - 0.05, n), rng.uniform(0, 2 * np.pi, n),
                   rng.uniform(0, 2 * np.pi, n), rng.uniform(0, 2 * np.pi, n)], -1)
    mu = 3.7
    s = M.elements_to_cartesian(el, mu, anomaly=anomaly)
    back = M.cartesian_to_elements(s, mu, anomaly=anomaly)
    e = el[:, 1]
    # conditioning: a from the energy loses (1 + e) / (1 - e); the angles
    # measured from the pericentre lose 1 / e
    assert np.all(np.abs(back[:, 0] - el[:, 0]) <= 32 * EPS * el[:, 0] * (1 + e) / (1 - e))
    cond = (1 + e) / (1 - e)
    assert np.all(np.abs(back[:, 1] - e) <= 16 * EPS * cond)
    assert np.all(_angle_diff(back[:, 2], el[:, 2]) <= 8 * EPS)
    assert np.all(_angle_diff(back[:, 3], el[:, 3]) <= 8 * EPS / np.sin(el[:, 2]))
    for k in (4, 5):
        assert np.all(_angle_diff(back[:, k], el[:, k]) <= 64 * EPS / e)
    assert np.all((back[:, 3:] >= 0) & (back[:, 3:] < 2 * np.pi))
    # and back to the state: ~1e-14 relative (position and velocity separately)
    s2 = M.elements_to_cartesian(back, mu, anomaly=anomaly)
    for part in (slice(0, 3), slice(3, 6)):
        rel = np.abs(s2 - s)[:, part].max(1) / np.abs(s[:, part]).max(1)
        assert rel.max() <= 4e-14
        assert np.all(rel <= 16 * EPS * cond)


def test_elements_anomalies_consistent():
    el = np.array([2.0, 0.3, 0.4, 0.5, 0.6, 1.0])
    s = M.elements_to_cartesian(el, 1.0)
    E = M.cartesian_to_elements(s, 1.0, anomaly="eccentric")[5]
    nu = M.cartesian_to_elements(s, 1.0, anomaly="true")[5]
    assert E - 0.3 * math.sin(E) == pytest.approx(1.0, abs=4 * EPS)
    assert E == pytest.approx(float(tj.kepE(0.3, 1.0)), abs=4 * EPS)
    assert math.tan(nu / 2) == pytest.approx(math.sqrt(1.3 / 0.7) * math.tan(E / 2), rel=1e-14)


def test_elements_textbook_case():
    """Vallado, Fundamentals of Astrodynamics, Example 2-5 (RV2COE)."""
    r = [6524.834, 6862.875, 6448.296]
    v = [4.901327, 5.533756, -1.976341]
    a, e, i, Om, om, nu = M.cartesian_to_elements(r + v, 398600.4418, anomaly="true")
    assert a == pytest.approx(36127.343, rel=1e-6)   # 7-digit inputs, (1+e)/(1-e) = 11
    assert e == pytest.approx(0.832853, abs=1e-6)
    assert math.degrees(i) == pytest.approx(87.870, abs=1e-3)
    assert math.degrees(Om) == pytest.approx(227.89, abs=1e-2)
    assert math.degrees(om) == pytest.approx(53.38, abs=1e-2)
    assert math.degrees(nu) == pytest.approx(92.335, abs=1e-3)
    # and back
    s = M.elements_to_cartesian([a, e, i, Om, om, nu], 398600.4418, anomaly="true")
    np.testing.assert_allclose(s, r + v, rtol=1e-13)


def test_elements_singular_cases_round_trip():
    mu = 1.0
    cases = {
        "circular equatorial": [1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        "circular inclined": [2.0, 0.0, 0.5, 1.0, 0.0, 2.0],
        "elliptic equatorial": [2.0, 0.4, 0.0, 0.0, 1.0, 2.0],
        "retrograde equatorial": [2.0, 0.4, math.pi, 0.0, 1.0, 2.0],
    }
    for name, el in cases.items():
        s = M.elements_to_cartesian(el, mu)
        back = M.cartesian_to_elements(s, mu)
        np.testing.assert_allclose(M.elements_to_cartesian(back, mu), s, atol=1e-14,
                                   err_msg=name)
    circ = M.cartesian_to_elements([1.0, 0, 0, 0, 1.0, 0], mu)
    np.testing.assert_array_equal(circ, [1.0, 0, 0, 0, 0, 0])
    # equatorial orbits report Omega = 0
    assert M.cartesian_to_elements(M.elements_to_cartesian(cases["elliptic equatorial"], mu),
                                   mu)[3] == 0.0
    # apocentre of a = 1, e = 0.5 (hand computed: r = 1.5, v = sqrt(mu (2/r - 1/a)))
    s = M.elements_to_cartesian([1.0, 0.5, 0, 0, 0, math.pi], mu)
    np.testing.assert_allclose(s, [-1.5, 0, 0, 0, -math.sqrt(2 / 1.5 - 1), 0], atol=4 * EPS)


def test_elements_errors():
    with pytest.raises(ValueError, match="elliptic orbits only.*hyperbolic"):
        M.cartesian_to_elements([1.0, 0, 0, 0, 2.0, 0])                   # v > escape
    with pytest.raises(ValueError, match="elliptic orbits only"):
        M.cartesian_to_elements([1.0, 0, 0, 0, math.sqrt(2.0), 0])        # parabolic
    with pytest.raises(ValueError, match="rectilinear"):
        M.cartesian_to_elements([1.0, 0, 0, 0.1, 0, 0])
    with pytest.raises(ValueError, match="shape"):
        M.cartesian_to_elements([1.0, 0, 0, 0.1, 0])
    with pytest.raises(ValueError, match="non-finite"):
        M.cartesian_to_elements([1.0, 0, 0, 0.1, np.nan, 0])
    with pytest.raises(ValueError, match="r = 0"):
        M.cartesian_to_elements([0.0, 0, 0, 0.1, 0.2, 0])
    with pytest.raises(ValueError, match="1.2"):
        M.elements_to_cartesian([[1.0, 0.1, 0, 0, 0, 0], [1.0, 1.2, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match="0 <= e < 1"):
        M.elements_to_cartesian([1.0, 1.2, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="semi-major axis"):
        M.elements_to_cartesian([-1.0, 0.2, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="anomaly must be"):
        M.elements_to_cartesian([1.0, 0.2, 0, 0, 0, 0], anomaly="mean_anomaly")
    with pytest.raises(ValueError, match="gravitational parameter"):
        M.elements_to_cartesian([1.0, 0.2, 0, 0, 0, 0], mu=0.0)


# ------------------------------------------------------------------ CR3BP
MU_EM = 0.01215058560962404


def test_cr3bp_jacobi_long_propagation():
    sys = M.cr3bp(MU_EM)
    C = invariant_fn(M.cr3bp_jacobi(MU_EM), sys)
    # a 3-D orbit around the Moon region and one about the Earth
    for s0 in ([0.5, 0.0, 0.1, 0.0, 0.8, 0.05], [1.1, 0.0, 0.05, 0.0, 0.2, 0.0]):
        ta = tj.TaylorAdaptive(sys, s0, compact=True)
        c0 = C(ta.state)
        res = ta.propagate_until(200.0)
        assert res.outcome is Outcome.time_limit
        assert abs(C(ta.state) - c0) <= 2e3 * EPS * abs(c0), s0


def test_cr3bp_is_rotating_fixed_centres():
    """Independent construction: two fixed centres seen from a frame rotating at unit rate."""
    mu = 0.1
    a = rhs_fn(M.cr3bp(mu))
    b = rhs_fn(M.rotating([0, 0, 1], M.fixed_centres([1 - mu, mu], [[-mu, 0, 0],
                                                                   [1 - mu, 0, 0]])))
    rng = np.random.default_rng(2)
    for _ in range(5):
        s = rng.normal(size=6)
        np.testing.assert_allclose(a(s), b(s), rtol=1e-14, atol=1e-14)
    # Jacobi = -2 * (rotating energy + fixed-centres potential)
    s = rng.normal(size=6)
    C = invariant_fn(M.cr3bp_jacobi(mu), M.cr3bp(mu))(s)
    H = invariant_fn(M.rotating_energy([0, 0, 1]) + M.fixed_centres_potential(
        [1 - mu, mu], [[-mu, 0, 0], [1 - mu, 0, 0]]), M.cr3bp(mu))(s)
    assert C == pytest.approx(-2 * H, rel=1e-14)


@needs_heyoka
def test_cr3bp_matches_heyoka():
    """heyoka uses canonical momenta and the mirrored frame (X = -x, Y = -y):
    px = vX - Y, py = vY + X; its Jacobi function H equals -C / 2."""
    mu = 0.05
    rng = np.random.default_rng(9)
    s = rng.normal(size=6)
    x, y, z, vx, vy, vz = s
    X, Y, vX, vY = -x, -y, -vx, -vy
    hstate = [X, Y, z, vX - Y, vY + X, vz]
    hsys = hy.model.cr3bp(mu=mu)
    d = hy_rhs(hsys, ["x", "y", "z", "px", "py", "pz"], hstate)
    ours = rhs_fn(M.cr3bp(mu))(s)
    # positions' derivatives: heyoka's (X', Y') = (px + Y, py - X) = (vX, vY)
    np.testing.assert_allclose(d[:3], [-ours[0], -ours[1], ours[2]], rtol=1e-14)
    # accelerations: vX' = px' + Y' = px' + vY
    np.testing.assert_allclose([d[3] + vY, d[4] - vX, d[5]], [-ours[3], -ours[4], ours[5]],
                               rtol=1e-13)
    H = hy.cfunc([hy.model.cr3bp_jacobi(mu=mu)], [hy.expression(n) for n in
                                                  ("x", "y", "z", "px", "py", "pz")])(hstate)[0]
    C = invariant_fn(M.cr3bp_jacobi(mu), M.cr3bp(mu))(s)
    assert C == pytest.approx(-2 * H, rel=1e-14)


def test_cr3bp_arguments():
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        M.cr3bp(1.5)
    sys = M.cr3bp(tj.par[0])            # runtime mass ratio
    a = rhs_fn(sys)([0.3, 0.2, 0.1, 0.1, 0.2, 0.3], pars=[MU_EM])
    b = rhs_fn(M.cr3bp(MU_EM))([0.3, 0.2, 0.1, 0.1, 0.2, 0.3])
    np.testing.assert_allclose(a, b, rtol=1e-15)


# ------------------------------------------------------------------ pendulum
def test_pendulum_period_and_energy():
    """From rest at x0 the pendulum returns after the period 4 K(sin^2(x0/2)) sqrt(l/g)."""
    from scipy.special import ellipk

    g, ln, x0 = 9.81, 0.7, 2.5
    sys = M.pendulum(gconst=g, length=ln)
    T = 4 * ellipk(math.sin(x0 / 2) ** 2) * math.sqrt(ln / g)
    ta = tj.TaylorAdaptive(sys, [x0, 0.0], compact=True)
    E = invariant_fn(M.pendulum_energy(g, ln), sys)
    e0 = E(ta.state)
    assert e0 == pytest.approx(g * ln * (1 - math.cos(x0)), rel=1e-15)
    ta.propagate_until(100 * T)
    assert ta.state[0] == pytest.approx(x0, abs=1e-11)
    assert abs(ta.state[1]) <= 1e-10
    assert abs(E(ta.state) - e0) <= 200 * EPS * e0


@needs_heyoka
def test_pendulum_matches_heyoka():
    a = rhs_fn(M.pendulum(2.0, 3.0))([0.4, 0.3])
    b = hy_rhs(hy.model.pendulum(gconst=2.0, length=3.0), ["x", "v"], [0.4, 0.3])
    np.testing.assert_allclose(a, b, rtol=4 * EPS)
    e = invariant_fn(M.pendulum_energy(2.0, 3.0), M.pendulum(2.0, 3.0))([0.4, 0.3])
    he = hy.cfunc([hy.model.pendulum_energy(gconst=2.0, length=3.0)],
                  [hy.expression("x"), hy.expression("v")])([0.4, 0.3])[0]
    assert e == pytest.approx(he, rel=4 * EPS)


# ------------------------------------------------------------------ fixed centres, rotating
@needs_heyoka
def test_fixed_centres_and_rotating_match_heyoka():
    rng = np.random.default_rng(4)
    masses = [1.0, 0.5, 0.2]
    pos = rng.normal(size=(3, 3))
    names = ["x", "y", "z", "vx", "vy", "vz"]
    s = rng.normal(size=6)
    a = rhs_fn(M.fixed_centres(masses, pos, Gconst=1.5))(s)
    b = hy_rhs(hy.model.fixed_centres(1.5, masses, pos), names, s)
    np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-14)
    w = [0.3, -0.2, 1.1]
    a = rhs_fn(M.rotating(w))(s)
    b = hy_rhs(hy.model.rotating(w), names, s)
    np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)
    hvars = [hy.expression(n) for n in names]
    for ours, theirs in [(M.fixed_centres_energy(masses, pos, 1.5),
                          hy.model.fixed_centres_energy(1.5, masses, pos)),
                         (M.rotating_energy(w), hy.model.rotating_energy(w))]:
        e = invariant_fn(ours, M.rotating(w))(s)
        assert e == pytest.approx(hy.cfunc([theirs], hvars)(s)[0], rel=1e-14)


def test_fixed_centres_energy_conserved():
    args = ([1.0, 0.5], [[-1, 0, 0], [1, 0, 0]])
    sys = M.fixed_centres(*args)
    E = invariant_fn(M.fixed_centres_energy(*args), sys)
    ta = tj.TaylorAdaptive(sys, [0, 2.5, 0.3, 0.6, 0, 0], compact=True)
    e0 = E(ta.state)
    ta.propagate_until(300.0)
    assert abs(E(ta.state) - e0) <= 200 * EPS * abs(e0)


def test_rotating_kepler_jacobi_integral():
    """Kepler seen from a frame rotating about an inclined axis: the Jacobi
    integral (energy + centrifugal potential) is conserved, and the orbit is the
    inertial one rotated."""
    w = np.array([0.1, 0.2, 0.5])
    sys = M.rotating(w, M.kepler(mu=1.0))
    assert [str(v) for v in svars(sys)] == ["x", "y", "z", "vx", "vy", "vz"]
    J = invariant_fn(M.kepler_energy(1.0) + M.rotating_potential(w), sys)
    s0 = np.array([1.0, 0.0, 0.2, 0.0, 0.9, 0.1])
    ta = tj.TaylorAdaptive(sys, s0, compact=True)
    j0 = J(ta.state)
    t1 = 40.0
    ta.propagate_until(t1)
    assert abs(J(ta.state) - j0) <= 500 * EPS * abs(j0)
    # inertial solution: the rotating-frame initial velocity plus w x r
    inert = tj.TaylorAdaptive(M.kepler(), np.concatenate([s0[:3], s0[3:] + np.cross(w, s0[:3])]),
                              compact=True)
    inert.propagate_until(t1)
    # rotate the inertial position into the frame: R(-|w| t) about w (Rodrigues)
    th = -np.linalg.norm(w) * t1
    k = w / np.linalg.norm(w)
    r = inert.state[:3]
    r_rot = r * math.cos(th) + np.cross(k, r) * math.sin(th) + k * (k @ r) * (1 - math.cos(th))
    np.testing.assert_allclose(ta.state[:3], r_rot, atol=1e-12)


def test_rotating_arguments():
    with pytest.raises(ValueError, match="3 components"):
        M.rotating([0, 1])
    with pytest.raises(ValueError, match="no equation for"):
        M.rotating([0, 0, 1], M.pendulum())


def test_nbody_arguments():
    with pytest.raises(TypeError, match="unlike heyoka"):
        M.nbody(3, 1.0, [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="at most one mass per body"):
        M.nbody(2, masses=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=">= 2"):
        M.nbody(1)
    with pytest.raises(ValueError, match=">= 0"):
        M.nbody(2, masses=[1.0, -1.0])
    with pytest.raises(ValueError, match="central body needs a mass"):
        M.np1body(3, masses=[])
