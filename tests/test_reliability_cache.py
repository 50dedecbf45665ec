"""Regression tests of issue 19 (reliability): ``solve_ivp`` spans and tolerances,
the size bound of unrolled kernels, and the disk cache's handling of corrupted
files and of a cache directory it cannot write."""
import math

import numpy as np
import pytest

import taylorjit as tj

G = 9.81


# ----------------------------------------------------------------------- solve_ivp
def _falling(t, y):
    return [y[1], -G]


def _ground(t, y):
    return y[0]


_ground.terminal = True
_ground.direction = -1


def test_infinite_span_without_terminal_event_is_refused():
    with pytest.raises(ValueError, match="infinite end but no terminal event"):
        tj.solve_ivp(_falling, (0, np.inf), [100.0, 0.0])
    with pytest.raises(ValueError, match="infinite end but no terminal event"):
        tj.solve_ivp(_falling, (0, -np.inf), [100.0, 0.0])

    def passing(t, y):          # an event that does not stop the integration
        return y[0] - 50.0

    with pytest.raises(ValueError, match="terminal = True"):
        tj.solve_ivp(_falling, (0, np.inf), [100.0, 0.0], events=passing)


@pytest.mark.parametrize("h0", [100.0, 1e-3, 1e6])
def test_infinite_span_with_terminal_event_stops_at_the_event(h0):
    # a polynomial solution: its Taylor series is exact, so the step size rule sets no bound
    # (a step to the far end of an infinite span overflowed the state)
    sol = tj.solve_ivp(_falling, (0, np.inf), [h0, 0.0], events=_ground, rtol=1e-13, atol=1e-13)
    t_hit = math.sqrt(2 * h0 / G)
    assert sol.status == 1 and sol.success
    assert sol.t_events[0].shape == (1,)
    assert abs(sol.t_events[0][0] - t_hit) <= 8 * np.finfo(float).eps * t_hit
    assert sol.t[-1] == sol.t_events[0][0]
    assert abs(sol.y[1, -1] + G * t_hit) <= 1e-12 * G * t_hit
    assert np.all(np.isfinite(sol.y))


def test_infinite_span_backwards_with_terminal_event():
    # at t = 0: height h0, rising at v0; backwards in time it left the ground at
    # t = (v0 - sqrt(v0**2 + 2 g h0)) / g < 0
    h0, v0 = 10.0, 7.0

    def ground(t, y):
        return y[0]

    ground.terminal = True
    sol = tj.solve_ivp(_falling, (0, -np.inf), [h0, v0], events=ground, rtol=1e-13, atol=1e-13)
    t_hit = (v0 - math.sqrt(v0 ** 2 + 2 * G * h0)) / G
    assert sol.status == 1
    assert abs(sol.t_events[0][0] - t_hit) <= 8 * np.finfo(float).eps * abs(t_hit)


def test_tolerance_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match=r"`atol` has shape \(3,\) but the state has 2"):
        tj.solve_ivp(_falling, (0, 1), [1.0, 0.0], atol=[1e-8, 1e-8, 1e-8])
    with pytest.raises(ValueError, match=r"`rtol` has shape \(1,\) but the state has 2"):
        tj.solve_ivp(_falling, (0, 1), [1.0, 0.0], rtol=[1e-8])
    with pytest.raises(ValueError, match=r"`atol` has shape \(2, 1\)"):
        tj.solve_ivp(_falling, (0, 1), [1.0, 0.0], atol=[[1e-8], [1e-8]])
    # one value per component, or a scalar: accepted
    for atol in ([1e-10, 1e-12], 1e-12, np.float32(1e-9)):
        sol = tj.solve_ivp(_falling, (0, 1), [1.0, 0.0], atol=atol, rtol=1e-12)
        assert sol.success
        assert abs(sol.y[0, -1] - (1.0 - G / 2)) <= 1e-12
