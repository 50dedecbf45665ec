"""Gravity models of taylorjit.models: spherical harmonics (against a direct
mpmath Legendre-function formula, high-precision finite differences of the
potential, kepler's J2 model and heyoka), EGM2008, mascons (against heyoka and
the gradient of their potential), and the elliptic restricted three-body
problem (against cr3bp at e = 0 and against a massless particle of an inertial
three-body integration)."""
import functools
import math
from fractions import Fraction

import mpmath as mp
import numpy as np
import pytest

import taylorjit as tj
from taylorjit import models as M

try:
    import heyoka as hy
except ImportError:  # pragma: no cover - heyoka is a benchmark dependency
    hy = None
needs_heyoka = pytest.mark.skipif(hy is None, reason="heyoka not installed (pip install heyoka)")

EPS = np.finfo(float).eps
XYZ = tj.make_vars("x", "y", "z")


def svars(sys):
    return [v for v, _ in sys]


def rhs_fn(sys):
    return tj.cfunc([r for _, r in sys], svars(sys))


def random_shc(rng, N, scale=0.05):
    """Random fully normalised [C, S] pairs in heyoka's layout (C00 = 1, S_n0 = 0)."""
    cs = rng.uniform(-scale, scale, size=((N + 1) * (N + 2) // 2, 2))
    cs[0] = [1.0, 0.0]
    for n in range(N + 1):
        cs[n * (n + 1) // 2, 1] = 0.0
    return cs


def idx(n, m):
    return n * (n + 1) // 2 + m


def random_points(rng, k, rmin=1.05, rmax=2.0):
    u = rng.normal(size=(k, 3))
    u /= np.linalg.norm(u, axis=1)[:, None]
    return u * rng.uniform(rmin, rmax, size=(k, 1))


# ------------------------------------------------------------------ mpmath reference
@functools.lru_cache(maxsize=None)
def _dlegendre_coeffs(n, m):
    """Exact coefficients c_j of d^m/dt^m P_n(t) = sum_j c_j t^j (Rodrigues' expansion
    P_n = 2^-n sum_k (-1)^k C(n, k) C(2n - 2k, n) t^(n - 2k), differentiated m times)."""
    c = {}
    for k in range(n // 2 + 1):
        p = n - 2 * k
        if p < m:
            continue
        c[p - m] = Fraction((-1) ** k * math.comb(n, k) * math.comb(2 * n - 2 * k, n)
                            * math.perm(p, m), 2 ** n)
    return tuple(sorted(c.items()))


def pbar(n, m, t):
    """Fully normalised associated Legendre function (geodesy: no Condon-Shortley phase)
    from the closed form (1 - t^2)^(m/2) d^m/dt^m P_n(t), in mpmath."""
    norm = mp.sqrt(mp.mpf((1 if m == 0 else 2) * (2 * n + 1) * math.factorial(n - m))
                   / math.factorial(n + m))
    poly = mp.fsum(mp.mpf(c.numerator) / c.denominator * t ** j
                   for j, c in _dlegendre_coeffs(n, m))
    return norm * (1 - t * t) ** (mp.mpf(m) / 2) * poly


def mp_potential(cs, mu, a, N, Mo, x, y, z):
    """U = mu / r sum (a/r)^n Pbar_nm(sin phi) (C cos m lam + S sin m lam), in mpmath."""
    r = mp.sqrt(x * x + y * y + z * z)
    t = z / r
    lam = mp.atan2(y, x)
    U = mp.mpf(0)
    for n in range(N + 1):
        for m in range(min(n, Mo) + 1):
            C, S = (mp.mpf(float(c)) for c in cs[idx(n, m)])
            U += (mp.mpf(a) / r) ** n * pbar(n, m, t) * (C * mp.cos(m * lam) + S * mp.sin(m * lam))
    return mp.mpf(mu) / r * U


def mp_gradient(fun, p, h=mp.mpf("1e-12")):
    """Central differences at 40 digits (truncation ~h^2 = 1e-24, rounding ~1e-28)."""
    p = [mp.mpf(float(c)) for c in p]
    out = []
    for k in range(3):
        hi = list(p)
        lo = list(p)
        hi[k] += h
        lo[k] -= h
        out.append(float((fun(*hi) - fun(*lo)) / (2 * h)))
    return np.array(out)


def test_mpmath_reference_legendre():
    # closed forms: Pbar_11 = sqrt(3) sqrt(1 - t^2), Pbar_20 = sqrt(5) (3 t^2 - 1) / 2,
    # Pbar_33 = sqrt(35/8) (1 - t^2)^(3/2); and mpmath's legenp (with its (-1)^m phase)
    with mp.workdps(30):
        t = mp.mpf("0.3")
        assert abs(pbar(1, 1, t) - mp.sqrt(3) * mp.sqrt(1 - t * t)) < 1e-25
        assert abs(pbar(2, 0, t) - mp.sqrt(5) * (3 * t * t - 1) / 2) < 1e-25
        assert abs(pbar(3, 3, t) - mp.sqrt(mp.mpf(35) / 8) * (1 - t * t) ** 1.5) < 1e-25
        n, m = 6, 4
        norm = mp.sqrt(2 * (2 * n + 1) * mp.factorial(n - m) / mp.factorial(n + m))
        assert abs(pbar(n, m, t) - norm * (-1) ** m * mp.legenp(n, m, t)) < 1e-25


@pytest.mark.parametrize("N, Mo", [(6, 6), (5, 3)])
def test_sh_potential_and_acceleration_vs_mpmath(N, Mo):
    rng = np.random.default_rng(10 * N + Mo)
    cs = random_shc(rng, N)
    mu, a = 1.3, 0.8
    pot = M.sh_gravity_pot(XYZ, cs, mu, a, max_degree=N, max_order=Mo)
    acc = M.sh_gravity_acc(XYZ, cs, mu, a, max_degree=N, max_order=Mo)
    f = tj.cfunc([pot] + acc, XYZ)
    pts = random_points(rng, 4, rmin=0.85, rmax=2.0)
    with mp.workdps(40):
        for p in pts:
            got = f(p)
            U = lambda *q: mp_potential(cs, mu, a, N, Mo, *q)  # noqa: E731
            ref_u = float(U(*(mp.mpf(float(c)) for c in p)))
            grad = mp_gradient(U, p)
            assert got[0] == pytest.approx(ref_u, rel=8 * EPS)
            scale = np.abs(grad).max()
            np.testing.assert_allclose(got[1:], grad, rtol=0, atol=16 * EPS * scale)


def test_sh_table_layouts_agree():
    """heyoka's [C, S] pair layout and a (C, S) pair of lower-triangular arrays."""
    rng = np.random.default_rng(3)
    N = 4
    cs = random_shc(rng, N)
    C = np.zeros((N + 1, N + 1))
    S = np.zeros((N + 1, N + 1))
    for n in range(N + 1):
        for m in range(n + 1):
            C[n, m], S[n, m] = cs[idx(n, m)]
    p = random_points(rng, 3)
    f1 = tj.cfunc(M.sh_gravity_acc(XYZ, cs, 1.0, 1.0) + [M.sh_gravity_pot(XYZ, cs, 1.0, 1.0)], XYZ)
    f2 = tj.cfunc(M.sh_gravity_acc(XYZ, (C, S), 1.0, 1.0)
                  + [M.sh_gravity_pot(XYZ, (C.tolist(), S.tolist()), 1.0, 1.0)], XYZ)
    np.testing.assert_array_equal(f1(p), f2(p))


def test_sh_j2_equals_kepler_j2():
    j2, R, mu = 1.08262668e-3, 0.95, 1.7
    shc = [[1, 0], [0, 0], [0, 0], [-j2 / math.sqrt(5), 0], [0, 0], [0, 0]]
    sys = M.sh_gravity(shc, mu, R)
    ref = M.kepler(mu=mu, j2=j2, radius=R)
    assert [str(v) for v in svars(sys)] == [str(v) for v in svars(ref)]
    rng = np.random.default_rng(4)
    states = np.hstack([random_points(rng, 8), rng.normal(size=(8, 3))])
    got, want = rhs_fn(sys)(states), rhs_fn(ref)(states)
    np.testing.assert_allclose(got, want, rtol=8 * EPS, atol=0)
    E1 = tj.cfunc(M.sh_gravity_energy(shc, mu, R), svars(sys))(states)
    E2 = tj.cfunc(M.kepler_energy(mu=mu, j2=j2, radius=R), svars(sys))(states)
    np.testing.assert_allclose(E1, E2, rtol=0, atol=8 * EPS * np.abs(E2).max())


def test_sh_parameters_match_numbers():
    """Coefficients, mu and a as runtime parameters give the values of numbers."""
    rng = np.random.default_rng(5)
    N = 3
    cs = random_shc(rng, N)
    k = len(cs)
    shc_p = [[tj.par[2 * i], tj.par[2 * i + 1]] for i in range(k)]
    pars = list(cs.ravel()) + [1.3, 0.8]
    acc_p = M.sh_gravity_acc(XYZ, shc_p, tj.par[2 * k], tj.par[2 * k + 1])
    acc_n = M.sh_gravity_acc(XYZ, cs, 1.3, 0.8)
    p = random_points(rng, 1)[0]
    np.testing.assert_allclose(tj.cfunc(acc_p, XYZ)(p, pars=pars), tj.cfunc(acc_n, XYZ)(p),
                               rtol=16 * EPS, atol=16 * EPS)


def test_sh_gravity_rotating_jacobi_conserved():
    """EGM2008 to degree 4 in the Earth-fixed frame: the Jacobi integral is conserved."""
    shc = [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]] + M.get_egm2008_CS().tolist()
    args = (shc, M.get_egm2008_mu(), M.get_egm2008_a())
    w = [0.0, 0.0, 7.292115e-5]
    sys = M.sh_gravity(*args, omega=w)
    J = tj.cfunc(M.sh_gravity_energy(*args, omega=w), svars(sys))
    ta = tj.TaylorAdaptive(sys, [6.9e6, 0.0, 1.0e6, 0.0, 7.0e3, 2.5e3], compact=True)
    j0 = J(ta.state)
    res = ta.propagate_until(2 * 6000.0)
    assert res[0] == tj.Outcome.time_limit
    assert abs(J(ta.state) / j0 - 1) < 1e-13


@needs_heyoka
@pytest.mark.parametrize("N, Mo", [(5, 5), (5, 2), (4, 0)])
def test_sh_gravity_vs_heyoka(N, Mo):
    rng = np.random.default_rng(20 + Mo)
    cs = random_shc(rng, 6)
    mu, a = 2.1, 1.1
    ours = tj.cfunc([M.sh_gravity_pot(XYZ, cs, mu, a, max_degree=N, max_order=Mo)]
                    + M.sh_gravity_acc(XYZ, cs, mu, a, max_degree=N, max_order=Mo), XYZ)
    hx = hy.make_vars("x", "y", "z")
    hcs = cs.tolist()
    theirs = hy.cfunc([hy.model.sh_gravity_pot(hx, hcs, mu, a, max_degree=N, max_order=Mo)]
                      + hy.model.sh_gravity_acc(hx, hcs, mu, a, max_degree=N, max_order=Mo), hx)
    pts = random_points(rng, 16, rmin=1.0, rmax=3.0)
    for p in pts:
        got, want = ours(p), theirs(p)
        np.testing.assert_allclose(got, want, rtol=0, atol=32 * EPS * np.abs(want).max())


@needs_heyoka
def test_egm2008_vs_heyoka():
    np.testing.assert_array_equal(M.get_egm2008_CS(), hy.model.get_egm2008_CS()[:12])
    assert M.get_egm2008_mu() == hy.model.get_egm2008_mu()
    assert M.get_egm2008_a() == hy.model.get_egm2008_a()
    rng = np.random.default_rng(7)
    hx = hy.make_vars("x", "y", "z")
    pts = random_points(rng, 8, rmin=6.4e6, rmax=4.2e7)
    for n, m in [(4, 4), (3, 1), (2, 0)]:
        ours = tj.cfunc([M.egm2008_pot(XYZ, n, m)] + M.egm2008_acc(XYZ, n, m), XYZ)
        theirs = hy.cfunc([hy.model.egm2008_pot(hx, n, m)] + hy.model.egm2008_acc(hx, n, m), hx)
        for p in pts:
            got, want = ours(p), theirs(p)
            np.testing.assert_allclose(got[0], want[0], rtol=8 * EPS)
            np.testing.assert_allclose(got[1:], want[1:], rtol=0,
                                       atol=16 * EPS * np.abs(want[1:]).max())


def test_sh_errors():
    cs = random_shc(np.random.default_rng(0), 3)
    with pytest.raises(ValueError, match="not the count of a complete model"):
        M.sh_gravity_acc(XYZ, cs[:5], 1.0, 1.0)
    with pytest.raises(ValueError, match="max_order = 4 exceeds max_degree = 3"):
        M.sh_gravity_acc(XYZ, cs, 1.0, 1.0, max_order=4)
    with pytest.raises(ValueError, match="max_degree = 5 exceeds the degree 3"):
        M.sh_gravity_pot(XYZ, cs, 1.0, 1.0, max_degree=5)
    C = np.zeros((3, 3))
    C[0, 2] = 1e-3                                  # transposed: C[m][n]
    with pytest.raises(ValueError, match="transposed"):
        M.sh_gravity_pot(XYZ, (C, np.zeros((3, 3))), 1.0, 1.0)
    with pytest.raises(ValueError, match="xyz must be the position"):
        M.sh_gravity_acc(XYZ[:2], cs, 1.0, 1.0)
    with pytest.raises(ValueError, match="a must be positive"):
        M.sh_gravity_acc(XYZ, cs, 1.0, -1.0)
    with pytest.raises(TypeError, match="must be a real number"):
        M.sh_gravity_acc(XYZ, [["a", 0.0]], 1.0, 1.0)
    with pytest.raises(ValueError, match="degree and order 4 only"):
        M.egm2008_acc(XYZ, 5, 5)
    with pytest.raises(ValueError, match="order m = 3 exceeds the degree n = 2"):
        M.egm2008_pot(XYZ, 2, 3)


# ------------------------------------------------------------------ mascon
MASCON = dict(masses=[0.3, 0.5, 0.2], positions=[[-0.4, 0.1, 0.0], [0.3, -0.1, 0.05],
                                                 [0.1, 0.3, -0.1]], omega=[0.05, -0.1, 0.4],
              Gconst=1.3)


def test_mascon_is_gradient_of_potential_plus_fictitious():
    """At v = 0 the acceleration is -grad(mascon_potential) (finite differences in mpmath)."""
    sys = M.mascon(**MASCON)
    f = rhs_fn(sys)
    ms, pos, w, G = (MASCON[k] for k in ("masses", "positions", "omega", "Gconst"))

    def pot(x, y, z):   # the documented potential, independently in mpmath
        r = mp.matrix([x, y, z])
        u = -sum(G * m / mp.norm(r - mp.matrix(p)) for m, p in zip(ms, pos))
        wx = [w[1] * z - w[2] * y, w[2] * x - w[0] * z, w[0] * y - w[1] * x]
        return u - sum(c * c for c in wx) / 2

    rng = np.random.default_rng(8)
    upot = tj.cfunc(M.mascon_potential(**MASCON), XYZ)
    with mp.workdps(40):
        for p in random_points(rng, 4, rmin=1.0, rmax=2.0):
            acc = f(np.concatenate([p, np.zeros(3)]))[3:]
            grad = mp_gradient(pot, p)
            np.testing.assert_allclose(acc, -np.array(grad), rtol=0,
                                       atol=16 * EPS * np.abs(grad).max())
            assert float(upot(p)) == pytest.approx(float(pot(*(mp.mpf(float(c)) for c in p))),
                                                   rel=8 * EPS)
    # the velocity-dependent part is the Coriolis term -2 w x v
    v = np.array([0.3, -0.2, 0.5])
    p = np.array([1.5, 0.2, -0.3])
    dv = f(np.concatenate([p, v]))[3:] - f(np.concatenate([p, np.zeros(3)]))[3:]
    np.testing.assert_allclose(dv, -2 * np.cross(w, v), rtol=1e-14, atol=1e-15)


def test_mascon_energy_conserved_and_no_rotation():
    sys = M.mascon(**MASCON)
    E = tj.cfunc(M.mascon_energy(**MASCON), svars(sys))
    ta = tj.TaylorAdaptive(sys, [1.8, 0.0, 0.3, 0.0, 0.6, 0.1], compact=True)
    e0 = E(ta.state)
    ta.propagate_until(30.0)
    kin = 0.5 * float(np.dot(ta.state[3:], ta.state[3:]))   # E = kin - ... cancels
    assert abs(E(ta.state) - e0) < 64 * EPS * max(1.0, kin)
    fc = dict(MASCON)
    del fc["omega"]
    rng = np.random.default_rng(9)
    st = np.hstack([random_points(rng, 4), rng.normal(size=(4, 3))])
    np.testing.assert_array_equal(rhs_fn(M.mascon(**fc))(st), rhs_fn(M.fixed_centres(**fc))(st))


@needs_heyoka
def test_mascon_vs_heyoka():
    sys = M.mascon(**MASCON)
    names = [str(v) for v in svars(sys)]
    hsys = hy.model.mascon(**MASCON)
    assert names == [str(v) for v, _ in hsys]
    hv = [hy.expression(n) for n in names]
    rng = np.random.default_rng(11)
    st = np.hstack([random_points(rng, 6), rng.normal(size=(6, 3))])
    ours = tj.cfunc([r for _, r in sys] + [M.mascon_energy(**MASCON),
                                            M.mascon_potential(**MASCON)], svars(sys))
    theirs = hy.cfunc([r for _, r in hsys] + [hy.model.mascon_energy(**MASCON),
                                              hy.model.mascon_potential(**MASCON)], hv)
    for s in st:
        got, want = ours(s), theirs(s)
        np.testing.assert_allclose(got, want, rtol=0, atol=32 * EPS * np.abs(want).max())


def test_mascon_errors():
    with pytest.raises(ValueError, match="omega must have 3 components"):
        M.mascon([1.0], [[0, 0, 0]], [0, 1])
    with pytest.raises(ValueError, match="positions must be an N x 3 array"):
        M.mascon([1.0, 2.0], [[0, 0, 0]], [0, 0, 1])


# ------------------------------------------------------------------ ER3BP
def test_er3bp_e0_is_cr3bp():
    mu = 0.0121505856
    rng = np.random.default_rng(12)
    st = rng.normal(size=(10, 6))
    ref = rhs_fn(M.cr3bp(mu))(st)
    sys = M.er3bp(mu, 0.0)
    assert [str(v) for v in svars(sys)] == ["x", "y", "z", "vx", "vy", "vz"]
    f = rhs_fn(sys)
    np.testing.assert_allclose(f(st, time=rng.uniform(0, 7, 10)), ref, rtol=4 * EPS, atol=4 * EPS)
    # e as a runtime parameter set to 0: the same equations (time = true anomaly drops out)
    fp = rhs_fn(M.er3bp(tj.par[0], tj.par[1]))
    for s, t in zip(st[:3], (0.3, 2.0, 5.1)):
        np.testing.assert_allclose(fp(s, pars=[mu, 0.0], time=t), rhs_fn(M.cr3bp(mu))(s),
                                   rtol=4 * EPS, atol=4 * EPS)


def _pulsating_to_inertial(xi, dxi, f, e):
    """The change of variables documented in er3bp (a = 1, G (m1 + m2) = 1)."""
    rho = (1 - e * e) / (1 + e * math.cos(f))
    fdot = math.sqrt(1 - e * e) / rho ** 2
    rhodot = e * math.sin(f) / math.sqrt(1 - e * e)
    c, s = math.cos(f), math.sin(f)
    R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    J = np.array([-xi[1], xi[0], 0.0])
    return rho * R @ xi, R @ (rhodot * xi + rho * fdot * (J + dxi))


@pytest.mark.parametrize("mu, e", [(0.1, 0.3), (0.0121505856, 0.0549)])
def test_er3bp_matches_inertial_three_body(mu, e):
    """A massless particle of the inertial three-body problem (tj.models.nbody), its
    state mapped to pulsating coordinates at the primaries' true anomaly."""
    rp, vp = 1 - e, math.sqrt((1 + e) / (1 - e))           # primaries at pericentre
    d0, dv0 = np.array([rp, 0.0, 0.0]), np.array([0.0, vp, 0.0])
    xi0, dxi0 = np.array([0.3, 0.6, 0.1]), np.array([0.05, -0.2, 0.1])
    r0, v0 = _pulsating_to_inertial(xi0, dxi0, 0.0, e)
    nb = tj.TaylorAdaptive(M.nbody(3, masses=[1 - mu, mu, 0.0]),
                           np.concatenate([-mu * d0, -mu * dv0, (1 - mu) * d0, (1 - mu) * dv0,
                                           r0, v0]), compact=True)
    er = tj.TaylorAdaptive(M.er3bp(tj.par[0], tj.par[1]), np.concatenate([xi0, dxi0]),
                           pars=[mu, e], compact=True)
    f_prev = 0.0
    for t in (1.0, 2.5, 4.0):
        nb.propagate_until(t)
        s = nb.state
        d = s[6:9] - s[0:3]
        f = f_prev + (math.atan2(d[1], d[0]) - f_prev + math.pi) % (2 * math.pi) - math.pi
        f_prev = f
        assert np.linalg.norm(d) == pytest.approx((1 - e * e) / (1 + e * math.cos(f)), rel=1e-13)
        er.propagate_until(f)
        r, v = _pulsating_to_inertial(er.state[:3], er.state[3:], f, e)
        np.testing.assert_allclose(r, s[12:15], rtol=0, atol=1e-11)
        np.testing.assert_allclose(v, s[15:18], rtol=0, atol=1e-11)


def test_er3bp_energy_balance():
    """J = |v|^2/2 + z^2/2 - Omega plus the integral of dOmega/df is conserved."""
    mu, e = 0.2, 0.4
    sys = M.er3bp(mu, e)
    x, y, z, vx, vy, vz = svars(sys)
    f = tj.time
    r1 = ((x + mu) ** 2 + y ** 2 + z ** 2) ** 0.5
    r2 = ((x - 1 + mu) ** 2 + y ** 2 + z ** 2) ** 0.5
    k = 1 / (1 + e * tj.cos(f))
    Om = k * ((x * x + y * y + z * z) / 2 + (1 - mu) / r1 + mu / r2)
    w = tj.var("w")
    aug = sys + [(w, e * tj.sin(f) * k * Om)]
    J = tj.cfunc((vx * vx + vy * vy + vz * vz) / 2 + z * z / 2 - Om + w, svars(aug))
    ta = tj.TaylorAdaptive(aug, [0.4, 0.7, 0.1, 0.1, -0.1, 0.05, 0.0], time=0.5, compact=True)
    j0 = J(ta.state, time=0.5)
    jt = []
    for t in np.linspace(1.0, 12.0, 6):
        ta.propagate_until(t)
        jt.append(J(ta.state, time=t))
    assert np.max(np.abs(np.array(jt) - j0)) < 1e-13 * max(1.0, abs(j0))
    assert abs(ta.state[6]) > 1e-3          # the non-autonomous part is not negligible


def test_er3bp_errors():
    with pytest.raises(ValueError, match=r"eccentricity .* \[0, 1\)"):
        M.er3bp(0.1, 1.0)
    with pytest.raises(ValueError, match="mu is the mass ratio"):
        M.er3bp(1.5, 0.1)
    with pytest.raises(TypeError, match="eccentricity must be a real number"):
        M.er3bp(0.1, "0.1")
