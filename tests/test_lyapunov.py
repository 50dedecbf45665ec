"""lyapunov_spectrum and fli against references: the QR algorithm replayed
with the exact propagator expm(A dt) of a linear system, the eigenvalues of
that system, the exact exponent of a scalar non-autonomous linear ODE,
Lorenz's published spectrum and its divergence, Hamiltonian symmetry
(the spectrum sums to 0), regular and chaotic Henon-Heiles orbits, the
ensemble path of fli against single orbits, and the error messages."""
import math
import warnings

import numpy as np
import pytest

import taylorjit as tj
from taylorjit._dynamics import LyapunovResult, fli, hamiltonian, lyapunov_spectrum

A = np.array([[0.5, 2.0, 0.0], [0.0, -0.2, 1.0], [0.0, 0.0, -1.0]])   # eigenvalues on the diagonal


def linear_system():
    xs = tj.make_vars("x0", "x1", "x2")
    return [(xs[i], tj.sum_([A[i, j] * xs[j] for j in range(3) if A[i, j]])) for i in range(3)]


def lorenz():
    x, y, z = tj.make_vars("x", "y", "z")
    return [(x, 10.0 * (y - x)), (y, x * (28.0 - z) - y), (z, x * y - 8.0 / 3.0 * z)]


def henon_heiles():
    x, y, px, py = tj.make_vars("x", "y", "px", "py")
    H = (px**2 + py**2 + x**2 + y**2) / 2 + x**2 * y - y**3 / 3
    return hamiltonian(H, [x, y], [px, py])


def on_shell(y0, py0, E):
    """Henon-Heiles state at x = 0, px > 0 on the energy surface H = E."""
    return [0.0, y0, math.sqrt(2 * E - py0**2 - y0**2 + 2 * y0**3 / 3), py0]


# ----------------------------------------------------------------------------- Lyapunov
def test_linear_system_replays_exact_qr_algorithm():
    from scipy.linalg import expm

    renorm, T = 0.5, 20.0
    w0 = np.array([[1.0, 0.3], [0.2, 1.0], [-0.5, 0.4]])
    res = lyapunov_spectrum(linear_system(), [1.0, -1.0, 0.5], T, n=2, renorm=renorm, w0=w0)
    assert isinstance(res, LyapunovResult)
    Q, R = np.linalg.qr(w0)
    Q = Q * np.sign(np.diag(R))
    step = expm(A * renorm)
    sums = np.zeros(2)
    ref = []
    for _ in range(int(T / renorm)):
        Q, R = np.linalg.qr(step @ Q)
        Q = Q * np.sign(np.diag(R))
        sums += np.log(np.abs(np.diag(R)))
        ref.append(sums.copy())
    times = renorm * np.arange(1, len(ref) + 1)
    np.testing.assert_allclose(res.times, times, rtol=1e-15)
    np.testing.assert_allclose(res.history, np.array(ref) / times[:, None], rtol=1e-11,
                               atol=1e-13)
    assert np.array_equal(res.exponents, res.history[-1])
    np.testing.assert_allclose(res.state, expm(A * T) @ [1.0, -1.0, 0.5], rtol=1e-11)


def test_linear_system_converges_to_eigenvalues():
    res = lyapunov_spectrum(linear_system(), [1.0, 0.0, 0.0], 400.0)
    np.testing.assert_allclose(res.exponents, [0.5, -0.2, -1.0], atol=0.02)
    # every finite-time sum is the trace (Liouville): exact up to rounding
    np.testing.assert_allclose(res.history.sum(axis=1), np.trace(A), atol=1e-12)


def test_non_autonomous_scalar_exact_exponent_with_t0_and_pars():
    # x' = -p (1 + 0.5 cos t) x: exponent over [t0, t] = -p (1 + 0.5 (sin t - sin t0) / (t - t0))
    x = tj.make_vars("x")
    sys = [(x, -tj.par[0] * (1 + 0.5 * tj.cos(tj.time)) * x)]
    t0, T, p = 0.7, 10.0, 0.3
    res = lyapunov_spectrum(sys, [2.0], T, pars=[p], t0=t0, renorm=0.75)
    assert res.times[0] == t0 + 0.75 and res.times[-1] == t0 + T and len(res.times) == 14
    ref = -p * (1 + 0.5 * (np.sin(res.times) - math.sin(t0)) / (res.times - t0))
    np.testing.assert_allclose(res.history[:, 0], ref, rtol=1e-13)


def test_lorenz_spectrum():
    ta = tj.TaylorAdaptive(lorenz(), [1.0, 1.0, 1.0])
    ta.propagate_until(50.0)            # onto the attractor
    res = lyapunov_spectrum(lorenz(), ta.state, 1000.0)
    # published values (e.g. Sprott, "Chaos and Time-Series Analysis", 2003)
    np.testing.assert_allclose(res.exponents, [0.9056, 0.0, -14.5723], atol=0.03)
    assert abs(res.exponents.sum() + (1 + 10 + 8 / 3)) < 1e-3
    assert res.history.shape == (1000, 3) and res.n_steps > 10000


def test_henon_heiles_regular_and_chaotic():
    sys = henon_heiles()
    regular = lyapunov_spectrum(sys, on_shell(0.0, 0.0, 1 / 8), 1000.0, n=1)
    chaotic = lyapunov_spectrum(sys, on_shell(-0.2, 0.0, 1 / 8), 1000.0, n=1)
    assert regular.exponents.shape == (1,)
    assert 0 < regular.exponents[0] < 0.01
    assert chaotic.exponents[0] > 0.03
    # the finite-time estimate of the regular orbit decays (like log t / t)
    assert regular.history[-1, 0] < regular.history[99, 0] / 3


def test_hamiltonian_spectrum_sums_to_zero():
    res = lyapunov_spectrum(henon_heiles(), on_shell(-0.1, 0.0, 1 / 6), 200.0)
    assert abs(res.exponents.sum()) < 1e-12          # symplectic flow: volume preserved
    assert res.exponents[0] > 0.03
    assert abs(res.exponents[0] + res.exponents[-1]) < 0.1 * res.exponents[0]


def test_progress_bar_gives_same_result():
    pytest.importorskip("tqdm")
    a = lyapunov_spectrum(linear_system(), [1.0, 0.0, 0.0], 5.0)
    b = lyapunov_spectrum(linear_system(), [1.0, 0.0, 0.0], 5.0, progress=True)
    assert np.array_equal(a.history, b.history)


def test_long_renorm_warns():
    with pytest.warns(RuntimeWarning, match="reduce renorm"):
        lyapunov_spectrum(lorenz(), [-6.18, -9.51, 18.09], 6.0, renorm=3.0)


def test_escaping_orbit_raises():
    x = tj.make_vars("x")
    with pytest.raises(RuntimeError, match="err_nf_state"):
        lyapunov_spectrum([(x, x * x)], [1.0], 3.0)     # x = 1 / (1 - t) blows up at t = 1


def test_lyapunov_argument_errors():
    sys = linear_system()
    x0 = [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="T .* must be positive"):
        lyapunov_spectrum(sys, x0, -1.0)
    with pytest.raises(ValueError, match="renorm .* must be positive"):
        lyapunov_spectrum(sys, x0, 1.0, renorm=0.0)
    with pytest.raises(ValueError, match=r"n .* must lie in 1..3"):
        lyapunov_spectrum(sys, x0, 1.0, n=4)
    with pytest.raises(TypeError, match="must be an integer"):
        lyapunov_spectrum(sys, x0, 1.0, n=1.5)
    with pytest.raises(ValueError, match="3 initial values"):
        lyapunov_spectrum(sys, [1.0, 0.0], 1.0)
    with pytest.raises(ValueError, match="linearly dependent"):
        lyapunov_spectrum(sys, x0, 1.0, n=2, w0=[[1, 2], [1, 2], [1, 2]])
    with pytest.raises(ValueError, match=r"shape \(3, 2\)"):
        lyapunov_spectrum(sys, x0, 1.0, n=2, w0=np.eye(3))
    with pytest.raises(TypeError, match="not a variational one"):
        lyapunov_spectrum(tj.var_ode_sys(sys), x0, 1.0)


# ----------------------------------------------------------------------------- FLI
def test_fli_linear_system_exact():
    from scipy.linalg import expm

    w0 = np.array([0.3, -1.0, 2.0])
    vals, times, hist = fli(linear_system(), [1.0, 2.0, 3.0], 8.0, w0=w0, n_samples=16,
                            return_history=True)
    w = w0 / np.linalg.norm(w0)
    ref = np.maximum.accumulate([math.log10(np.linalg.norm(expm(A * t) @ w)) for t in times])
    np.testing.assert_allclose(times, np.linspace(0, 8, 17), rtol=1e-15)
    np.testing.assert_allclose(hist, ref, atol=1e-12)
    assert vals == hist[-1]
    # the default w0 is (1, 1, 1) / sqrt(3)
    ref1 = max(math.log10(np.linalg.norm(expm(A * t) @ np.ones(3) / math.sqrt(3)))
               for t in np.linspace(0, 8, 201))
    assert abs(fli(linear_system(), [1.0, 2.0, 3.0], 8.0) - ref1) < 1e-12


def test_fli_grid_matches_single_orbits_and_separates_orbits():
    sys = henon_heiles()
    x0s = np.array([on_shell(y0, 0.0, 1 / 8) for y0 in (0.0, -0.2, 0.1, -0.15)])
    grid_vals = fli(sys, x0s, 200.0)
    assert grid_vals.shape == (4,)
    single = [fli(sys, x, 200.0) for x in x0s]
    np.testing.assert_allclose(grid_vals, single, rtol=1e-14)
    serial = fli(sys, x0s, 200.0, executor="serial")
    np.testing.assert_allclose(serial, single, rtol=1e-14)
    regular, chaotic = grid_vals[[0, 2]], grid_vals[[1, 3]]
    assert regular.max() < 3 and chaotic.min() > 5


def test_fli_per_orbit_parameters_and_failures():
    x = tj.make_vars("x")
    sys = [(x, tj.par[0] * x * x)]
    # x' = p x^2, w' = 2 p x w: from x0 = -1, x = -1/(1 + p t) and w = 1/(1 + p t)^2
    vals = fli(sys, [[-1.0], [-1.0], [1.0]], 2.0, pars=[[1.0], [0.5], [1.0]])
    np.testing.assert_allclose(vals[:2], [0.0, 0.0], atol=1e-15)     # |w| decreases: sup at 0
    assert math.isnan(vals[2])                                       # blows up at t = 1
    v, t, h = fli(sys, [-1.0], 2.0, pars=[-0.25], n_samples=4, return_history=True)
    np.testing.assert_allclose(h, -2 * np.log10(1 - 0.25 * t), rtol=1e-13)


def test_fli_argument_errors():
    sys = linear_system()
    with pytest.raises(ValueError, match="3 equations"):
        fli(sys, [[1.0, 2.0]], 1.0)
    with pytest.raises(ValueError, match="n_samples"):
        fli(sys, [1.0, 2.0, 3.0], 1.0, n_samples=0)
    with pytest.raises(ValueError, match="one row per orbit"):
        fli(sys, np.ones((3, 3)), 1.0, pars=np.ones((2, 1)))
    with pytest.raises(ValueError, match="T .* must be positive"):
        fli(sys, [1.0, 2.0, 3.0], 0.0)
