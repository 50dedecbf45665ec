"""taylorjit's scipy-compatible solve_ivp.

The problem set follows scipy's own solve_ivp tests (scipy/integrate/_ivp/tests/
test_ivp.py): the rational problem with its closed-form solution, the linear
oscillator, events with directions and terminal counts forwards and backwards,
dense output, t_eval forwards and backwards, the ``args`` problem with
analytic event times.  Tolerances here are tighter than scipy's where the
Taylor method allows it, and results are also compared with scipy's DOP853 at
rtol = atol = 1e-13 and with analytic solutions.
"""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_equal

import scipy.integrate

from taylorjit._symbolic.expr import TracingError
from taylorjit._integrate.solve_ivp import solve_ivp

EPS = np.finfo(float).eps


def fun_rational(t, y):
    return np.array([y[1] / t, y[1] * (y[0] + 2 * y[1] - 1) / (t * (y[0] - 1))])


def fun_rational_vectorized(t, y):
    return np.vstack((y[1] / t, y[1] * (y[0] + 2 * y[1] - 1) / (t * (y[0] - 1))))


def sol_rational(t):
    return np.asarray((t / (t + 10), 10 * t / (t + 10) ** 2))


def fun_linear(t, y):
    return np.array([-y[0] - 5 * y[1], y[0] + y[1]])


def sol_linear(t):
    return np.vstack((-5 * np.sin(2 * t), 2 * np.cos(2 * t) + np.sin(2 * t)))


def compute_error(y, y_true, rtol, atol):
    e = (y - y_true) / (atol + rtol * np.abs(y_true))
    return np.linalg.norm(e, axis=0) / np.sqrt(e.shape[0])


def kepler(t, y, mu):
    r = np.sqrt(y[0] ** 2 + y[1] ** 2)
    return np.array([y[2], y[3], -mu * y[0] / r ** 3, -mu * y[1] / r ** 3])


def kepler_exact(t, e):
    """Position of the e-orbit (a = 1, mu = 1, periapsis at t = 0 on the +x axis)."""
    from scipy.optimize import brentq

    M = np.mod(t, 2 * np.pi)
    E = brentq(lambda E: E - e * np.sin(E) - M, 0, 2 * np.pi) if M > 0 else 0.0
    return np.array([np.cos(E) - e, np.sqrt(1 - e * e) * np.sin(E)])


# ------------------------------------------------------------------ integration
@pytest.mark.parametrize("t_span", [[5, 9], [5, 1]])
@pytest.mark.parametrize("vectorized", [False, True])
def test_integration_rational(t_span, vectorized):
    rtol, atol = 1e-3, 1e-6
    fun = fun_rational_vectorized if vectorized else fun_rational
    res = solve_ivp(fun, t_span, [1 / 3, 2 / 9], rtol=rtol, atol=atol, dense_output=True,
                    vectorized=vectorized)
    assert_equal(res.t[0], t_span[0])
    assert_equal(res.t[-1], t_span[-1])
    assert res.t_events is None and res.y_events is None
    assert res.success and res.status == 0
    assert res.nfev < 40 and res.njev == 0 and res.nlu == 0
    assert np.all(compute_error(res.y, sol_rational(res.t), rtol, atol) < 5)
    tc = np.linspace(*t_span)
    assert np.all(compute_error(res.sol(tc), sol_rational(tc), rtol, atol) < 5)
    mid = (t_span[0] + t_span[-1]) / 2
    assert np.all(compute_error(res.sol(mid), sol_rational(mid), rtol, atol) < 5)
    assert_allclose(res.sol(res.t), res.y, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("t_span", [[5, 9], [5, 1]])
def test_rational_tight_tolerance_against_closed_form(t_span):
    res = solve_ivp(fun_rational, t_span, [1 / 3, 2 / 9], rtol=1e-15, atol=1e-15,
                    dense_output=True)
    assert_allclose(res.y, sol_rational(res.t), rtol=64 * EPS, atol=0)
    tc = np.linspace(*t_span, 101)
    assert_allclose(res.sol(tc), sol_rational(tc), rtol=64 * EPS, atol=0)


def test_linear_against_closed_form():
    res = solve_ivp(fun_linear, [0, 2], [0, 2], rtol=1e-15, atol=1e-15, dense_output=True)
    assert_allclose(res.y, sol_linear(res.t), rtol=0, atol=64 * EPS)
    tc = np.linspace(0, 2)
    assert_allclose(res.sol(tc), sol_linear(tc), rtol=0, atol=64 * EPS)


def test_exponential_with_time_dependence_and_event():
    # scipy's LSODA dense-output problem: y' = y (t - 2), an event where y = 2.02e-5
    def f(t, y):
        return y * (t - 2)

    def exact(t):
        return np.exp(t ** 2 / 2 - 2 * t + np.log(0.05) - 6)

    def level(t, y):
        return y[0] - 2.02e-5

    res = solve_ivp(f, [-2, 2], [0.05], dense_output=True, events=level, rtol=1e-14,
                    atol=1e-14, max_step=1)
    assert res.success and res.status == 0
    # the Taylor error control is absolute below 1: tol = 1e-14 bounds |error|
    assert_allclose(res.y[0], exact(res.t), rtol=1e-13, atol=1e-16)
    tc = np.linspace(-2, 2)
    assert_allclose(res.sol(tc)[0], exact(tc), rtol=1e-13, atol=1e-16)
    # exact crossing: t^2/2 - 2t + ln(0.05) - 6 = ln(2.02e-5), smaller root
    c = np.log(0.05) - 6 - np.log(2.02e-5)
    t_star = 2 - np.sqrt(4 - 2 * c)
    # |dy/dt| ~ 4e-5 at the crossing: an absolute 1e-16 in y is ~3e-12 in t
    assert_allclose(res.t_events[0], [t_star], rtol=0, atol=1e-11)
    assert np.all(np.abs(np.diff(res.t)) <= 1 + 1e-15)


def test_kepler_matches_scipy_dop853_and_is_closer_to_exact():
    e = 0.5
    y0 = [1 - e, 0.0, 0.0, np.sqrt((1 + e) / (1 - e))]
    t_eval = np.linspace(0, 10 * 2 * np.pi, 301)
    res = solve_ivp(kepler, (0, t_eval[-1]), y0, args=(1.0,), t_eval=t_eval, rtol=1e-13,
                    atol=1e-13)
    ref = scipy.integrate.solve_ivp(kepler, (0, t_eval[-1]), y0, args=(1.0,), t_eval=t_eval,
                                    method="DOP853", rtol=1e-13, atol=1e-13)
    assert_allclose(res.y, ref.y, rtol=0, atol=1e-9)
    exact = np.array([kepler_exact(t, e) for t in t_eval]).T
    err_tj = np.abs(res.y[:2] - exact).max()
    err_sp = np.abs(ref.y[:2] - exact).max()
    assert err_tj < 1e-11
    assert err_tj <= err_sp
    assert res.nfev < ref.nfev / 10


def test_args_are_parameters_new_values_no_rebuild():
    y0 = [1.0, 0.0, 0.0, 1.0]
    r1 = solve_ivp(kepler, (0, 1), y0, args=(1.0,), rtol=1e-14, atol=1e-14)
    r4 = solve_ivp(kepler, (0, 0.5), y0, args=(4.0,), rtol=1e-14, atol=1e-14)
    # circular orbit of radius 1: angular rate sqrt(mu)
    assert_allclose(r1.y[:2, -1], [np.cos(1.0), np.sin(1.0)], atol=1e-13)
    y0b = [1.0, 0.0, 0.0, 2.0]
    r4 = solve_ivp(kepler, (0, 0.5), y0b, args=(4.0,), rtol=1e-14, atol=1e-14)
    assert_allclose(r4.y[:2, -1], [np.cos(1.0), np.sin(1.0)], atol=1e-13)


# ------------------------------------------------------------------ events (scipy's test_events)
def event_rational_1(t, y):
    return y[0] - y[1] ** 0.7


def event_rational_2(t, y):
    return y[1] ** 0.6 - y[0]


def event_rational_3(t, y):
    return t - 7.4


event_rational_3.terminal = True
# roots of the two event functions on the closed-form solution (mpmath findroot, 30 digits)
T_EXACT = [5.55057576624077689967892173428, 7.54877666246692808537774891675]


def _set_dir(d):
    event_rational_1.direction = d
    event_rational_2.direction = d


@pytest.fixture
def reset_directions():
    yield
    _set_dir(0)


def _tight_ref(t_span, y0, events, **kw):
    return scipy.integrate.solve_ivp(fun_rational, t_span, y0, method="DOP853", events=events,
                                     rtol=1e-13, atol=1e-13, **kw)


def _check_event_values(res, tol=1e-13):
    for k, ev in enumerate([event_rational_1, event_rational_2, event_rational_3]):
        if k < len(res.t_events) and res.t_events[k].size:
            for t, y in zip(res.t_events[k], res.y_events[k]):
                assert abs(ev(t, y)) < tol


@pytest.mark.usefixtures("reset_directions")
def test_events_forward():
    evs = (event_rational_1, event_rational_2)
    res = solve_ivp(fun_rational, [5, 8], [1 / 3, 2 / 9], events=evs, rtol=1e-13, atol=1e-13)
    ref = _tight_ref([5, 8], [1 / 3, 2 / 9], evs)
    assert res.status == 0
    assert [a.size for a in res.t_events] == [1, 1]
    assert 5.3 < res.t_events[0][0] < 5.7 and 7.3 < res.t_events[1][0] < 7.7
    # exact crossing times of the closed-form solution (mpmath, 30 digits)
    assert_allclose(np.concatenate(res.t_events), T_EXACT, rtol=1e-13)
    assert_allclose(np.concatenate(res.t_events), np.concatenate(ref.t_events), rtol=1e-10)
    assert res.y_events[0].shape == (1, 2) and res.y_events[1].shape == (1, 2)
    _check_event_values(res)

    _set_dir(1)
    res = solve_ivp(fun_rational, [5, 8], [1 / 3, 2 / 9], events=evs)
    assert [a.size for a in res.t_events] == [1, 0]
    assert res.y_events[0].shape == (1, 2) and res.y_events[1].shape == (0,)

    _set_dir(-1)
    res = solve_ivp(fun_rational, [5, 8], [1 / 3, 2 / 9], events=evs)
    assert [a.size for a in res.t_events] == [0, 1]
    assert 7.3 < res.t_events[1][0] < 7.7

    _set_dir(0)
    res = solve_ivp(fun_rational, [5, 8], [1 / 3, 2 / 9], dense_output=True,
                    events=(event_rational_1, event_rational_2, event_rational_3))
    assert res.status == 1 and res.message == "A termination event occurred."
    assert [a.size for a in res.t_events] == [1, 0, 1]
    assert_allclose(res.t_events[2], [7.4], rtol=4 * EPS)
    assert_allclose(res.t[-1], 7.4, rtol=4 * EPS)
    assert res.y_events[2].shape == (1, 2)
    _check_event_values(res, tol=1e-8)      # default rtol/atol, as scipy's np.isclose
    tc = np.linspace(res.t[0], res.t[-1])
    assert np.all(compute_error(res.sol(tc), sol_rational(tc), 1e-3, 1e-6) < 5)


@pytest.mark.usefixtures("reset_directions")
def test_events_backward():
    y0 = [4 / 9, 20 / 81]
    evs = (event_rational_1, event_rational_2)
    res = solve_ivp(fun_rational, [8, 5], y0, events=evs, rtol=1e-13, atol=1e-13)
    ref = _tight_ref([8, 5], y0, evs)
    assert [a.size for a in res.t_events] == [1, 1]
    assert_allclose(np.concatenate(res.t_events), T_EXACT, rtol=1e-13)
    assert_allclose(np.concatenate(res.t_events), np.concatenate(ref.t_events), rtol=1e-10)
    _check_event_values(res)

    # direction is the sign of the crossing along the integration, as in scipy
    for d in (1, -1):
        _set_dir(d)
        res = solve_ivp(fun_rational, [8, 5], y0, events=evs)
        ref = _tight_ref([8, 5], y0, evs)
        assert [a.size for a in res.t_events] == [a.size for a in ref.t_events]
    assert [a.size for a in res.t_events] == [1, 0]   # d = -1

    _set_dir(0)
    res = solve_ivp(fun_rational, [8, 5], y0, dense_output=True,
                    events=(event_rational_1, event_rational_2, event_rational_3))
    assert res.status == 1
    assert [a.size for a in res.t_events] == [0, 1, 1]
    assert_allclose(res.t_events[2], [7.4], rtol=4 * EPS)
    tc = np.linspace(res.t[-1], res.t[0])
    assert np.all(compute_error(res.sol(tc), sol_rational(tc), 1e-3, 1e-6) < 5)


def _oscillator():
    def f(t, y):
        return [y[1], -y[0]]

    def event(t, y):
        return y[0]

    return f, event


@pytest.mark.parametrize("n_events", [3, 4])
def test_event_terminal_integer(n_events):
    f, event = _oscillator()
    event.terminal = n_events
    res = solve_ivp(f, (0, 100), [1, 0], events=event)
    assert len(res.t_events[0]) == n_events and res.status == 1
    assert_allclose(res.y_events[0][:, 0], 0, atol=1e-14)
    assert_allclose(res.t_events[0], np.pi * (np.arange(n_events) + 0.5), rtol=1e-5)
    res = solve_ivp(f, (0, 100), [1, 0], events=event, rtol=1e-15, atol=1e-15)
    assert_allclose(res.t_events[0], np.pi * (np.arange(n_events) + 0.5), rtol=8 * EPS)
    assert res.t[-1] == res.t_events[0][-1]


def test_event_terminal_attribute_validation():
    f, event = _oscillator()
    event.terminal = None
    res = solve_ivp(f, (0, 20), [1, 0], events=event)
    event.terminal = 0
    ref = solve_ivp(f, (0, 20), [1, 0], events=event)
    assert_allclose(res.t_events[0], ref.t_events[0])
    for bad in (-1, 3.5):
        event.terminal = bad
        with pytest.raises(ValueError, match="The `terminal` attribute"):
            solve_ivp(f, (0, 20), [1, 0], events=event)


def test_args_problem_with_analytic_event_times():
    def sys3(t, w, omega, k, zfinal):
        x, y, z = w
        return [-omega * y, omega * x, k * z * (1 - z)]

    def x0_decreasing(t, w, omega, k, zfinal):
        return w[0]

    def y0_increasing(t, w, omega, k, zfinal):
        return w[1]

    def z_final(t, w, omega, k, zfinal):
        return w[2] - zfinal

    x0_decreasing.direction = -1
    y0_increasing.direction = 1
    z_final.terminal = True
    omega, k, tfinal, zfinal = 2, 4, 5, 0.99
    z0 = np.exp(-k * tfinal) / ((1 - zfinal) / zfinal + np.exp(-k * tfinal))
    sol = solve_ivp(sys3, [0, 2 * tfinal], [0, -1, z0], args=(omega, k, zfinal),
                    events=[x0_decreasing, y0_increasing, z_final], dense_output=True,
                    rtol=1e-14, atol=1e-14)
    assert_allclose(sol.t_events[0], [0.5 * np.pi, 1.5 * np.pi], rtol=1e-13)
    assert_allclose(sol.t_events[1], [0.25 * np.pi, 1.25 * np.pi], rtol=1e-13)
    assert_allclose(sol.t_events[2], [tfinal], rtol=1e-12)
    t = np.linspace(0, sol.t_events[2][0], 250)
    w = sol.sol(t)
    assert_allclose(w[0], np.sin(omega * t), atol=1e-13)
    assert_allclose(w[1], -np.cos(omega * t), atol=1e-13)
    assert_allclose(w[2], 1 / (((1 - z0) / z0) * np.exp(-k * t) + 1), rtol=1e-12, atol=1e-14)


def test_terminal_event_with_infinite_span_and_tiny_max_step():
    def cannon(t, y):
        return [y[1], -9.80665]

    def hit_ground(t, y):
        return y[0]

    hit_ground.terminal = True
    hit_ground.direction = -1
    sol = solve_ivp(cannon, [0, np.inf], [0, 0.01], max_step=0.05 * 0.001 / 9.80665,
                    events=hit_ground, dense_output=True)
    assert sol.success and sol.status == 1
    assert_allclose(sol.t_events[0], [2 * 0.01 / 9.80665], rtol=1e-12)
    assert_allclose(sol.y_events[0], [[0.0, -0.01]], atol=1e-15)
    assert_allclose(sol.sol(0.01), [0.01 * 0.01 - 9.80665 / 2 * 1e-4, 0.01 - 9.80665 * 0.01],
                    rtol=1e-12)


# ------------------------------------------------------------------ options
@pytest.mark.parametrize("t_span", [[5, 9], [5, 1]])
def test_max_step(t_span):
    res = solve_ivp(fun_rational, t_span, [1 / 3, 2 / 9], rtol=1e-3, atol=1e-6, max_step=0.5,
                    dense_output=True)
    assert_equal(res.t[0], t_span[0])
    assert_equal(res.t[-1], t_span[-1])
    assert np.all(np.abs(np.diff(res.t)) <= 0.5 + 1e-15)
    assert np.all(compute_error(res.y, sol_rational(res.t), 1e-3, 1e-6) < 5)
    with pytest.raises(ValueError, match="max_step"):
        solve_ivp(fun_rational, t_span, [1 / 3, 2 / 9], max_step=-1)


def test_first_step_is_honoured():
    # scipy: the first step is never longer than first_step
    res = solve_ivp(fun_rational, [5, 9], [1 / 3, 2 / 9], first_step=0.01, rtol=1e-12, atol=1e-12)
    assert res.success and res.t[1] - res.t[0] == pytest.approx(0.01, rel=1e-15)
    assert np.all(compute_error(res.y, sol_rational(res.t), 1e-12, 1e-12) < 5)
    back = solve_ivp(fun_rational, [9, 5], res.y[:, -1], first_step=0.02, rtol=1e-12, atol=1e-12)
    assert back.t[0] - back.t[1] <= 0.02 and back.t[-1] == 5
    with pytest.raises(ValueError, match="first_step` must be positive"):
        solve_ivp(fun_rational, [5, 9], [1 / 3, 2 / 9], first_step=0.0)
    with pytest.raises(ValueError, match="first_step` exceeds bounds"):
        solve_ivp(fun_rational, [5, 9], [1 / 3, 2 / 9], first_step=5.0)


def test_rtol_below_eps_warns_like_scipy():
    for rtol in (1e-17, [1e-17, 1e-6]):
        with pytest.warns(UserWarning, match="At least one element of `rtol` is too small"):
            res = solve_ivp(fun_rational, [5, 6], [1 / 3, 2 / 9], rtol=rtol, atol=1e-17)
        assert res.success


def test_unknown_options_and_scipy_method_names_warn():
    with pytest.warns(UserWarning, match="no effect.*jac"):
        solve_ivp(fun_rational, [5, 9], [1 / 3, 2 / 9], jac=lambda t, y: None)
    with pytest.warns(UserWarning, match="DOP853"):
        solve_ivp(fun_rational, [5, 9], [1 / 3, 2 / 9], method="DOP853")
    with pytest.raises(ValueError, match="unknown method"):
        solve_ivp(fun_rational, [5, 9], [1 / 3, 2 / 9], method="Euler")


def test_array_rtol_and_tolerance_mapping():
    def f(t, y):
        return y[0], y[1]

    loose = solve_ivp(f, (0, 1), [1.0, 1.0], rtol=[1e-1, 1e-1])
    tight = solve_ivp(f, (0, 1), [1.0, 1.0], rtol=[1e-1, EPS], atol=EPS)
    assert abs(tight.y[0, -1] - np.e) < 4 * EPS * np.e
    assert abs(tight.y[0, -1] - np.e) < abs(loose.y[0, -1] - np.e)


# ------------------------------------------------------------------ t_eval
@pytest.mark.parametrize("t_span", [[5, 9], [5, 1]])
def test_t_eval_linspace(t_span):
    t_eval = np.linspace(t_span[0], t_span[1], 10)
    res = solve_ivp(fun_rational, t_span, [1 / 3, 2 / 9], rtol=1e-3, atol=1e-6, t_eval=t_eval)
    assert_equal(res.t, t_eval)
    assert res.success and res.t_events is None
    assert np.all(compute_error(res.y, sol_rational(res.t), 1e-3, 1e-6) < 5)


@pytest.mark.parametrize("t_span, t_eval", [
    ([5, 9], [5, 5.01, 7, 8, 8.01, 9]),
    ([5, 1], [5, 4.99, 3, 1.5, 1.1, 1.01, 1]),
    ([5, 9], [5.01, 7, 8, 8.01]),
    ([5, 1], [4.99, 3, 1.5, 1.1, 1.01]),
])
def test_t_eval_subsets_forwards_and_backwards(t_span, t_eval):
    res = solve_ivp(fun_rational, t_span, [1 / 3, 2 / 9], rtol=1e-15, atol=1e-15, t_eval=t_eval)
    assert_equal(res.t, t_eval)
    assert_allclose(res.y, sol_rational(res.t), rtol=64 * EPS)


def test_t_eval_errors():
    with pytest.raises(ValueError, match="not within `t_span`"):
        solve_ivp(fun_rational, [5, 9], [1 / 3, 2 / 9], t_eval=[4, 6])
    with pytest.raises(ValueError, match="not properly sorted"):
        solve_ivp(fun_rational, [5, 9], [1 / 3, 2 / 9], t_eval=[6, 5.5])


def test_t_eval_with_dense_output_is_identical():
    t_eval = np.linspace(5, 9, 10)
    res = solve_ivp(fun_rational, [5, 9], [1 / 3, 2 / 9], t_eval=t_eval)
    res_d = solve_ivp(fun_rational, [5, 9], [1 / 3, 2 / 9], t_eval=t_eval, dense_output=True)
    assert_equal(res.y, res_d.y)
    assert res.sol is None and res_d.sol is not None


def test_t_eval_after_an_early_terminal_event():
    def early_event(t, y):
        return t - 7

    early_event.terminal = True
    res = solve_ivp(fun_rational, [5, 9], [1 / 3, 2 / 9], t_eval=np.linspace(7.5, 9, 16),
                    events=early_event)
    assert res.success and res.status == 1
    assert res.t == [] and res.y == []     # scipy's quirk: lists when no t_eval point is reached
    assert_allclose(res.t_events[0], [7.0], rtol=2 * EPS)


# ------------------------------------------------------------------ degenerate cases and errors
def test_no_integration():
    sol = solve_ivp(lambda t, y: -y, [4, 4], [2, 3], dense_output=True)
    assert_equal(sol.sol(4), [2, 3])
    assert_equal(sol.sol([4, 5, 6]), [[2, 2, 2], [3, 3, 3]])
    res = solve_ivp(lambda t, y: 2 * y, (0.0, 0.0), np.array([1.0]))
    assert res.success and res.y[0, -1] == 1.0


def test_empty_state():
    def fun(t, y):
        return np.zeros((0,))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sol = solve_ivp(fun, [0, 10], np.zeros((0,)), dense_output=True)
    assert_equal(sol.sol(10), np.zeros((0,)))
    assert_equal(sol.sol([1, 2, 3]), np.zeros((0, 3)))


def test_zero_rhs():
    res = solve_ivp(lambda t, y: np.zeros_like(y), [0, 10], np.ones(3))
    assert res.success and res.status == 0
    assert_equal(res.y, 1.0)


def test_argument_errors():
    def f(t, y, a):
        return a * y

    with pytest.raises(TypeError, match="Supplied 'args' cannot be unpacked"):
        solve_ivp(f, (0, 0.1), [1], args=-1)
    sol = solve_ivp(f, (0, 0.1), [1], args=(-1,), rtol=1e-15, atol=1e-15)
    assert_allclose(sol.y[0, -1], np.exp(-0.1), rtol=4 * EPS)
    for fill in (np.nan, np.inf):
        with pytest.raises(ValueError, match="must be finite"):
            solve_ivp(f, [0, 10], np.full(3, fill), args=(1.0,))
    with pytest.raises(ValueError, match="must be finite"):    # complex y0: tests/test_complex_ivp
        solve_ivp(f, [0, 1], [0.5 + 1j * np.inf], args=(1.0,))


def test_blow_up_is_a_failure():
    res = solve_ivp(lambda t, y: y * y, [0, 2], [1.0], rtol=1e-12, atol=1e-12)
    assert res.status == -1 and not res.success
    assert "non-finite" in res.message
    assert res.t[-1] < 1.0 + 1e-12     # the pole of y = 1 / (1 - t)


def test_untraceable_rhs_names_the_line():
    def f(t, y):
        n = 0
        while n < y[0]:     # a loop whose trip count follows the state
            n += 1
        return -y * n

    with pytest.raises(TracingError, match="comparisons.*loop") as info:
        solve_ivp(f, [0, 2], [1000.0])
    assert "while n < y[0]" in str(info.value)


def test_terminal_event_truncates_the_solution_and_dense_output():
    f, event = _oscillator()
    event.terminal = 2
    event.direction = 0
    res = solve_ivp(f, (0, 100), [1, 0], events=event, dense_output=True, rtol=1e-15,
                    atol=1e-15)
    t_hit = res.t_events[0][-1]
    assert_allclose(t_hit, 1.5 * np.pi, rtol=8 * EPS)
    assert res.t[-1] == t_hit and res.sol.t_max == t_hit
    assert_equal(res.y[:, -1], res.y_events[0][-1])
    assert np.all(np.diff(res.t) > 0)
    assert_allclose(res.y[:, -1], [0.0, 1.0], atol=1e-15)


def test_repeated_calls_reuse_the_integrator_and_agree():
    y0a, y0b = [1.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 1.1]
    a1 = solve_ivp(kepler, (0, 3), y0a, args=(1.0,), rtol=1e-13, atol=1e-13)
    b = solve_ivp(kepler, (0, 3), y0b, args=(1.0,), rtol=1e-13, atol=1e-13)
    a2 = solve_ivp(kepler, (0, 3), y0a, args=(1.0,), rtol=1e-13, atol=1e-13)
    assert_equal(a1.y, a2.y)
    assert_equal(a1.t, a2.t)
    assert not np.array_equal(a1.y[:, -1], b.y[:, -1])


def test_pendulum_written_with_math_sin_against_reference_data():
    import json
    import math
    from pathlib import Path

    path = Path(__file__).resolve().parent / "data" / "references.json"
    data = json.loads(path.read_text())["pendulum"]

    def pendulum(t, y, g):
        return [y[1], -g * math.sin(y[0])]

    times = [float(r["t"]) for r in data["ref"]]
    res = solve_ivp(pendulum, (0, times[-1]), data["x0"], args=(9.8,), t_eval=times,
                    rtol=EPS, atol=EPS, dense_output=True)
    assert res.success
    for j, r in enumerate(data["ref"]):
        want = np.array([float(s) for s in r["state"]])
        # absolute error grows ~linearly with the number of steps (~5 per time unit)
        assert_allclose(res.y[:, j], want, rtol=0, atol=2e-16 * max(10.0, float(r["t"])))


def test_tol_and_compact_options():
    y0 = [1.0, 0.0, 0.0, 1.0]
    a = solve_ivp(kepler, (0, 2), y0, args=(1.0,), tol=1e-14, compact=True)
    b = solve_ivp(kepler, (0, 2), y0, args=(1.0,), rtol=1e-14, atol=1e-14, compact=False)
    assert_equal(a.y, b.y)          # same tolerance, bit-identical kernels
    assert_allclose(a.y[:2, -1], [np.cos(2.0), np.sin(2.0)], atol=1e-13)


def test_chunked_propagation_matches_one_piece(monkeypatch):
    import taylorjit._integrate.solve_ivp as mod

    f, event = _oscillator()
    event.terminal = 0
    event.direction = 0
    kw = dict(events=event, rtol=1e-15, atol=1e-15, max_step=0.05)
    t_eval = np.linspace(0, 30, 77)
    whole = solve_ivp(f, (0, 30), [1, 0], dense_output=True, **kw)
    whole_e = solve_ivp(f, (0, 30), [1, 0], dense_output=True, t_eval=t_eval, **kw)
    monkeypatch.setattr(mod, "_CHUNK_MAX", 7)
    parts = solve_ivp(f, (0, 30), [1, 0], **kw)
    parts_e = solve_ivp(f, (0, 30), [1, 0], t_eval=t_eval, **kw)
    assert parts.nfev == whole.nfev and parts.t.size == whole.nfev + 1
    assert_equal(parts.t, whole.t)
    assert_equal(parts.y, whole.y)
    assert_equal(parts_e.y, whole_e.y)
    assert_equal(parts.t_events[0], whole.t_events[0])
    assert_allclose(parts.t_events[0], np.pi * (np.arange(10) + 0.5), rtol=8 * EPS)
    assert_allclose(parts_e.y, [np.cos(t_eval), -np.sin(t_eval)], atol=1e-14)
