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


# ----------------------------------------------------------------------- unrolled size
def _one_function_system(name, n=3):
    from taylorjit._decompose import decompose

    xs = tj.make_vars(*[f"u{i}" for i in range(n)])
    f = getattr(tj, name)
    rhs = []
    for i in range(n):
        a = xs[(i + 1) % n] * (0.1 + 0.01 * i)
        if name == "kepE":
            rhs.append(f(0.1 + 0.001 * i, a))
        elif name == "atan2":
            rhs.append(f(a, xs[(i + 2) % n] + 2.0))
        else:
            rhs.append(f(a + 1.5) * xs[i] ** 1.37)
    return decompose(rhs, list(xs))


def _registered_functions():
    from taylorjit._registry import FUNCTIONS

    return sorted(FUNCTIONS)


@pytest.mark.parametrize("name", _registered_functions())
def test_unrolled_size_bounds_the_traced_program(name):
    # the bound that keeps huge systems off the unrolled path must not be exceeded by the
    # program the tracer builds (kepE's was 2.3 times its old estimate)
    from taylorjit import _unroll

    d = _one_function_system(name)
    for order in (2, 5, 12, 20):
        bound = _unroll.unrolled_size(d, order)
        for vector_sums in (False, True):
            p = _unroll.trace_program(d, True, order, 0, vector_sums=vector_sums,
                                      trace_pow=True)
            assert len(p.nodes) <= bound, (name, order, vector_sums)


def _variational_pendulum(k):
    from taylorjit._decompose import decompose

    x, v = tj.make_vars("x", "v")
    vsys = tj.var_ode_sys([(x, v), (v, -9.8 * tj.sin(x))], "vars", k)
    return vsys, decompose(list(vsys.rhs), list(vsys.state_vars))


def test_compiled_kind_keeps_huge_systems_off_the_compilers():
    # the size decision alone (nothing is built): the order-8 variational pendulum (90
    # equations, 2548 operations) at the default order 20 traced and compiled for minutes
    # past 20 GB with compact=False
    from taylorjit import _kernel, _unroll
    from taylorjit._decompose import decompose

    _, d = _variational_pendulum(8)
    assert len(d.ops) > _kernel.MAX_SPEC_OPS
    assert _unroll.unrolled_size(d, 20) > _unroll.MAX_UNROLLED
    with pytest.warns(RuntimeWarning, match=r"2548 operations, \d+ once unrolled at order 20"):
        assert _kernel.compiled_kind(d, 20) == "compact"
    # small enough to unroll: unrolled; too big to unroll but small: the specialised loops
    _, small = _variational_pendulum(2)
    assert _kernel.compiled_kind(small, 20) == "unrolled"
    X, Y, Z = tj.make_vars("X", "Y", "Z")
    lorenz = decompose([10 * (Y - X), X * (28 - Z) - Y, X * Y - 8 / 3 * Z], [X, Y, Z])
    assert not _kernel.can_unroll(lorenz, 200)
    assert _kernel.compiled_kind(lorenz, 200) == "spec"


def test_compact_false_on_a_huge_system_runs_on_the_vm():
    vsys, _ = _variational_pendulum(8)
    with pytest.warns(RuntimeWarning, match="2548 operations"):
        ta = tj.TaylorAdaptive(vsys, [0.05, 0.025], compact=False)
    ref = tj.TaylorAdaptive(vsys, [0.05, 0.025], compact=True)
    assert ta.compact
    for _ in range(3):
        assert ta.step().h == ref.step().h
    assert np.array_equal(ta.state, ref.state) and ta.time == ref.time
