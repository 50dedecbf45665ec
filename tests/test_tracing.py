"""Tracing of scipy-style numpy right-hand sides (taylorjit._symbolic.tracing).

Every supported construct is checked by value: the traced expressions, with
numbers substituted for the state, time and parameters, must equal what the
same function computes on floats (to a few ulps).  Every unsupported construct
must raise a TracingError that names the user's line.
"""
import inspect
import math
import random
from math import cos as math_cos

import numpy as np
import pytest

import taylorjit as tj
from taylorjit._symbolic.expr import topo_order
from taylorjit._symbolic.expr import TracingError, subs
from taylorjit._symbolic.tracing import clear_trace_cache, trace

EPS = np.finfo(float).eps
RNG = np.random.default_rng(7)


def evaluate(tf, t, y, args):
    """Numeric value of the traced outputs (exact substitution and folding)."""
    mapping = {f"y{i}": float(v) for i, v in enumerate(y)}
    mapping[tj.time] = float(t)
    pv = tf.pars(args)
    for i, v in enumerate(pv):
        mapping[tj.par[i]] = float(v)
    out = subs(tf.outputs, mapping)
    for e in out:
        assert e.is_number, f"traced output {e} still symbolic after substitution"
    return np.array([e.value for e in out])


def check(fun, n, args=(), *, rtol=16 * EPS, points=3):
    tf = trace(fun, n, args)
    for _ in range(points):
        y = RNG.uniform(0.5, 1.5, n)
        t = float(RNG.uniform(0, 2))
        want = np.asarray(fun(t, y.copy(), *args), dtype=float).ravel()
        got = evaluate(tf, t, y, args)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    return tf


def line_of(fun, text):
    lines, first = inspect.getsourcelines(fun)
    for i, ln in enumerate(lines):
        if text in ln:
            return first + i
    raise LookupError(text)


# ------------------------------------------------------------------ supported constructs
def test_arithmetic_and_powers():
    def f(t, y):
        return [y[0] + 2 * y[1] - y[2] / 3, y[0] ** 2 * y[1] ** -1.5, 2.0 ** y[2] - y[0] ** y[1]]

    check(f, 3)


def test_time_dependence():
    def f(t, y):
        return [y[1] * t, np.cos(t) - y[0]]

    tf = check(f, 2)
    assert tj.time in [a for o in tf.outputs for a in topo_order([o])]


def test_indexing_slicing_fancy_len_iteration_reshape():
    def f(t, y):
        a = y[::2] * y[1::2]                 # slicing
        b = y[[3, 0, 2, 1]]                  # fancy indexing
        c = y.reshape(2, 2).T.ravel()        # reshape / transpose
        s = sum(v for v in y)                # iteration
        return a.tolist() + [b[0] - c[1] + len(y), s * y[-1]]

    check(f, 4)


def test_array_builders():
    def f(t, y):
        u = np.array([y[1], -y[0]])
        v = np.stack([y[2] * 2, y[3]])
        return np.concatenate([np.hstack([u[:1], v[:1]]), np.array([u[1] + v[1], 1.5])])

    check(f, 4)


@pytest.mark.parametrize("name", ["sin", "cos", "tan", "exp", "log", "sqrt", "arctan", "tanh",
                                  "sinh", "cosh", "expm1", "log1p", "arcsin", "square",
                                  "log10", "log2", "exp2"])
def test_numpy_ufuncs(name):
    ufunc = getattr(np, name)

    def f(t, y):
        return ufunc(y * 0.5)

    check(f, 2, rtol=64 * EPS)


def test_arctan2_hypot_and_float64_constants():
    k = np.float64(1.25)

    def f(t, y):
        return [np.arctan2(y[0], y[1]) + np.hypot(y[0], y[1]),
                k * y[0] - y[1] * np.float64(3) + np.pi + np.hypot(y, 2.0).sum()]

    check(f, 2)


def test_linear_algebra():
    A = RNG.normal(size=(3, 3))

    def f(t, y):
        r = np.linalg.norm(y)
        return A @ y + np.dot(y, y) * y / r ** 3 + np.sum(y) + np.cross(y, A[0]) - y @ A

    check(f, 3, rtol=64 * EPS)


def test_math_functions_are_supported():
    def f(t, y):
        return [math.sin(y[0]) * math.exp(y[1]) + math.pi, math.hypot(y[0], y[1]) + math.log(y[1], 2)
                + math_cos(y[0]) + math.atan2(y[0], y[1]) + math.pow(y[0], 1.5)]

    check(f, 2, rtol=64 * EPS)


def test_helper_functions_of_the_module_see_symbolic_math():
    def f(t, y):
        return [_helper_with_math(y[0]), y[0]]

    check(f, 2)


def _helper_with_math(x):
    return math.sqrt(x) * math.cos(x)


def test_python_loops_nbody():
    masses = np.array([1.0, 1e-3, 2e-3])

    def nbody(t, y, m, nb):
        pos = y[: 3 * nb].reshape(nb, 3)
        acc = []
        for i in range(nb):
            a = np.zeros(3, dtype=object)
            for j in range(nb):
                if i != j:
                    d = pos[j] - pos[i]
                    a = a + m[j] * d / np.linalg.norm(d) ** 3
            acc.append(a)
        return np.concatenate([y[3 * nb:], np.concatenate(acc)])

    tf = check(nbody, 18, (masses, 3), rtol=256 * EPS)
    assert tf.n_pars == 3 and not tf.constant_args
    np.testing.assert_array_equal(tf.pars((masses * 2, 3)), masses * 2)


def test_object_array_written_in_place():
    def f(t, y):
        out = np.zeros_like(y)
        out[0] = y[1]
        out[1] = -y[0]
        return out

    check(f, 2)


def test_bound_method_and_callable_object():
    class Model:
        def __init__(self, k):
            self.k = k

        def rhs(self, t, y):
            return [y[1], -self.k * y[0]]

        __call__ = rhs

    m = Model(2.0)
    check(m.rhs, 2)
    check(m, 2)
    m.k = 3.0                         # attribute change: a new trace, new values
    tf = trace(m.rhs, 2)
    assert evaluate(tf, 0.0, [1.0, 0.0], ())[1] == -3.0


# ------------------------------------------------------------------ parameters and cache
def test_args_become_parameters_and_the_trace_is_cached():
    calls = []

    def f(t, y, mu, v, n_rep):
        calls.append(1)
        return [mu * y[1] + v[0], v[1] * y[0]] * n_rep

    tf = trace(f, 4, (2.0, np.array([1.0, 3.0]), 2))
    assert tf.n_pars == 3 and tf.par_layout[2] is None
    np.testing.assert_array_equal(tf.pars((5.0, np.array([6.0, 7.0]), 2)), [5.0, 6.0, 7.0])
    assert trace(f, 4, (5.0, np.array([6.0, 7.0]), 2)) is tf       # new values: no retrace
    assert len(calls) == 1
    check(f, 4, (5.0, np.array([6.0, 7.0]), 2))
    assert trace(f, 6, (5.0, np.array([6.0, 7.0]), 3)) is not tf   # integer arg is structure
    with pytest.raises(ValueError, match="shape"):
        tf.pars((5.0, np.array([6.0, 7.0, 8.0]), 2))


def test_global_constants_are_part_of_the_cache_key():
    global _K
    _K = 1.0
    tf1 = trace(_uses_global, 1)
    _K = 2.0
    tf2 = trace(_uses_global, 1)
    assert tf1 is not tf2
    assert evaluate(tf2, 0.0, [1.0], ())[0] == 2.0
    clear_trace_cache()


_K = 1.0


def _uses_global(t, y):
    return [_K * y[0]]


def test_float_argument_used_structurally_falls_back_to_constants():
    def f(t, y, n):
        return [y[0] * k for k in range(int(n))]

    tf = trace(f, 3, (3.0,))
    assert tf.constant_args and tf.n_pars == 0
    check(f, 3, (3.0,))


def test_non_numeric_args_pass_through():
    def f(t, y, opts):
        return [opts["k"] * y[0]]

    check(f, 1, ({"k": 4.0},))


# ------------------------------------------------------------------ clear errors
def _raises_at(fun, n, text, match, args=()):
    with pytest.raises(TracingError, match=match) as info:
        trace(fun, n, args, mode="pars")
    assert info.value.lineno == line_of(fun, text), str(info.value)
    assert f":{info.value.lineno}" in str(info.value)
    return info.value


def test_error_python_if():
    def f(t, y):
        if y[0] > 0:  # HERE
            return [y[0]]
        return [-y[0]]

    _raises_at(f, 1, "# HERE", "comparison")


def test_error_truth_value():
    def f(t, y):
        return [y[0] if y[0] else 1.0]

    _raises_at(f, 1, "return", "truth value")


def test_error_np_where():
    def f(t, y):
        return np.where(y > 0, y, -y)

    e = _raises_at(f, 2, "np.where", "np.where")
    assert "tj.select" in str(e) and "solve_ivp" in str(e)
    # traced at a point, the branch is decided there and recorded as a guard
    tf = trace(f, 2, point=(0.0, np.array([1.0, -2.0])))
    assert [str(o) for o in tf.outputs] == ["y0", "-y1"]
    assert [(str(g), s) for g, s in tf.guards] == [("y0", 1), ("y1", -1)]


def test_error_in_place_write_into_float_array():
    def f(t, y):
        out = np.empty(2)
        out[0] = y[1]
        out[1] = -y[0]
        return out

    e = _raises_at(f, 2, "out[0] = y[1]", "float")
    assert "np.array" in str(e)


def test_abs_is_a_select_or_a_guard():
    def f(t, y):
        return [abs(y[0])]

    assert str(trace(f, 1).outputs[0]) == "select(y0 >= 0, y0, -y0)"
    tf = trace(f, 1, point=(0.0, np.array([-3.0])))
    assert str(tf.outputs[0]) == "-y0" and [(str(g), s) for g, s in tf.guards] == [("y0", -1)]

    def g(t, y):
        return np.abs(y)

    assert [str(o) for o in trace(g, 2, point=(0.0, np.array([1.0, -1.0]))).outputs] == \
        ["y0", "-y1"]


def test_error_numpy_random():
    def f(t, y):
        noise = np.random.normal(size=2)
        return y + noise

    _raises_at(f, 2, "np.random", "random")


def test_error_generator_in_args_and_python_random():
    rng = np.random.default_rng(1)

    def f(t, y, gen):
        return y * gen.normal()

    with pytest.raises(TracingError, match="random"):
        trace(f, 2, (rng,))

    def g(t, y):
        return y * random.random()

    _raises_at(g, 2, "random.random", "random")


def test_error_unsupported_ufunc_on_arrays():
    def f(t, y):
        return np.cbrt(y)

    _raises_at(f, 2, "np.cbrt", "cbrt")


def test_error_wrong_number_of_components():
    def f(t, y):
        return [y[0]]

    with pytest.raises(TracingError, match="1 components but the state has 2"):
        trace(f, 2)


def test_error_unassigned_component():
    def f(t, y):
        out = np.empty_like(y)
        out[0] = y[1]
        return out

    with pytest.raises(TracingError, match="component 1.*None"):
        trace(f, 2)


def test_error_ragged_result():
    def f(t, y):
        return [y[0], np.array([y[1], y[0]])]

    with pytest.raises(TracingError, match="ragged|nested"):
        trace(f, 2)


def test_event_function_scalar():
    def g(t, y, mu):
        return y[0] * y[2] + mu * y[1]

    tf = trace(g, 3, (0.5,), scalar=True)
    assert len(tf.outputs) == 1
    np.testing.assert_allclose(evaluate(tf, 0, [1.0, 2.0, 3.0], (0.5,)), [4.0])

    def bad(t, y):
        return y

    with pytest.raises(TracingError, match="one scalar"):
        trace(bad, 3, scalar=True)


def test_math_in_a_closure_is_supported():
    import math as m
    from math import exp as ex

    def f(t, y):
        return [m.sin(y[0]) + ex(y[1]), m.sqrt(y[1])]

    check(f, 2, rtol=64 * EPS)


def test_float_argument_used_as_exponent_becomes_a_constant():
    def f(t, y, p):
        return [y[0] ** p]

    tf = trace(f, 1, (3.0,))
    assert tf.constant_args
    assert evaluate(tf, 0.0, [-2.0], (3.0,))[0] == -8.0
    assert trace(f, 1, (2.0,)) is not tf


def test_list_argument_mutated_in_place_is_retraced():
    def f(t, y, coeffs):
        return [coeffs[0] * y[0] + coeffs[1]]

    c = [2.0, 1.0]
    tf1 = trace(f, 1, (c,))
    c[0] = 5.0
    tf2 = trace(f, 1, (c,))
    assert tf1 is not tf2
    assert evaluate(tf2, 0.0, [1.0], (c,))[0] == 6.0

    class Params:
        k = 1.0

    obj = Params()
    obj.k = 2.0

    def g(t, y, prm):
        return [prm.k * y[0]]

    tg1 = trace(g, 1, (obj,))
    obj.k = 3.0
    tg2 = trace(g, 1, (obj,))
    assert tg1 is not tg2 and evaluate(tg2, 0.0, [1.0], (obj,))[0] == 3.0
