"""Double-double precision (taylorjit._dd): values, coefficients, integration.

References are computed outside the code under test: mpmath at 40-60 digits
(function values, ``mpmath.taylor`` for coefficients), closed forms (harmonic
oscillator, the pendulum through Jacobi's elliptic functions, Kepler's energy).
"""
import math
import random
from fractions import Fraction

import mpmath
import numpy as np
import pytest

import taylorjit as tj
from taylorjit import DDArray, DDTaylorAdaptive
from taylorjit._dd import evaluate
from taylorjit._dd.values import dd_scalar, dd_str, fraction_to_dd
from taylorjit._symbolic.registry import FUNCTIONS

U2 = 2.0 ** -106          # the unit of the errors below (half an ulp of a 107-bit significand)


def mpf_of(x):
    """Exact mpmath value of a decimal string / float (at the current precision)."""
    return mpmath.mpf(Fraction(x).numerator) / Fraction(x).denominator


def rand_dd(rng, lo, hi):
    """A dd with a random head in [lo, hi] and a random tail."""
    h = rng.uniform(lo, hi)
    return h, h * rng.uniform(-1.0, 1.0) * 2.0 ** -54


# --------------------------------------------------------------------------- function values
# name -> (mpmath reference, domains, allowed error in units of 2^-106)
FUNCS = {
    "exp": (mpmath.exp, [(-30, 30), (-0.4, 0.4), (-1e-6, 1e-6)], 8),
    "expm1": (mpmath.expm1, [(-3, 3), (-1e-8, 1e-8)], 16),
    "log": (mpmath.log, [(1e-3, 1e3), (0.9, 1.1), (1 - 1e-7, 1 + 1e-7)], 16),
    "log1p": (mpmath.log1p, [(-0.9, 10), (-1e-8, 1e-8)], 16),
    "tan": (mpmath.tan, [(-1.5, 1.5)], 16),
    "atan": (mpmath.atan, [(-10, 10), (-1e-6, 1e-6)], 8),
    "asin": (mpmath.asin, [(-1, 1), (-1e-6, 1e-6)], 8),
    "acos": (mpmath.acos, [(-1, 1)], 8),
    "tanh": (mpmath.tanh, [(-5, 5), (-1e-6, 1e-6)], 16),
    "asinh": (mpmath.asinh, [(-5, 5), (-1e-6, 1e-6)], 8),
    "acosh": (mpmath.acosh, [(1, 5), (1, 1.001)], 16),
    "atanh": (mpmath.atanh, [(-0.999, 0.999), (-1e-6, 1e-6)], 8),
    "erf": (mpmath.erf, [(-6, 6), (-1e-3, 1e-3)], 40),
    "sqrt": (mpmath.sqrt, [(0, 100)], 4),
    "sigmoid": (lambda x: 1 / (1 + mpmath.exp(-x)), [(-10, 10)], 8),
}


def _max_err(got, refs):
    worst = 0.0
    for g, r in zip(got.to_mpmath(), refs):
        worst = max(worst, float(abs(g - r) / abs(r)) if r != 0 else float(abs(g)))
    return worst / U2


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_function_values(name):
    """Each dd value routine against mpmath at 40 digits on random dd arguments."""
    ref, domains, allowed = FUNCS[name]
    rng = random.Random(hash(name) % 1000)
    args = [rand_dd(rng, lo, hi) for lo, hi in domains for _ in range(150)]
    args = [a for a in args if not (name == "acosh" and a[0] < 1.0)]
    got = evaluate(name, args)
    with mpmath.workdps(40):
        refs = [ref(mpmath.mpf(h) + mpmath.mpf(l)) for h, l in args]
        assert _max_err(got, refs) <= allowed


def test_sincos_sinhcosh_atan2_pow_values():
    rng = random.Random(7)
    args = [rand_dd(rng, lo, hi) for lo, hi in [(-10, 10), (-1e-6, 1e-6), (1.5, 1.65),
                                                 (-1e4, 1e4)] for _ in range(100)]
    s, c = evaluate("sincos", args)
    with mpmath.workdps(40):
        xs = [mpmath.mpf(h) + mpmath.mpf(l) for h, l in args]
        assert _max_err(s, [mpmath.sin(x) for x in xs]) <= 8
        assert _max_err(c, [mpmath.cos(x) for x in xs]) <= 8
        sh, ch = evaluate("sinhcosh", [a for a in args if abs(a[0]) < 20])
        small = [x for x in xs if abs(x) < 20]
        assert _max_err(sh, [mpmath.sinh(x) for x in small]) <= 16
        assert _max_err(ch, [mpmath.cosh(x) for x in small]) <= 8
        ys = [rand_dd(rng, -3, 3) for _ in range(200)]
        xs2 = [rand_dd(rng, -3, 3) for _ in range(200)]
        got = evaluate("atan2", ys, xs2)
        refs = [mpmath.atan2(mpmath.mpf(y[0]) + y[1], mpmath.mpf(x[0]) + x[1])
                for y, x in zip(ys, xs2)]
        assert _max_err(got, refs) <= 8
        bases = [rand_dd(rng, 0.1, 10) for _ in range(100)]
        for c in (-1.5, 3.0, 0.3, -7.25):
            got = evaluate("pow", bases, [c] * len(bases))
            refs = [(mpmath.mpf(b[0]) + b[1]) ** mpmath.mpf(c) for b in bases]
            assert _max_err(got, refs) <= 16, c


def test_kepler_values():
    rng = random.Random(3)
    es = [(rng.uniform(0.0, 0.95), 0.0) for _ in range(60)]
    Ms = [rand_dd(rng, -10, 10) for _ in range(60)]
    E, s, c = evaluate("kepE", es, Ms)
    with mpmath.workdps(40):
        refs = [FUNCTIONS["kepE"].mp(mpmath.mpf(e[0]), mpmath.mpf(M[0]) + M[1])
                for e, M in zip(es, Ms)]
        assert _max_err(E, refs) <= 16
        # sin E: absolute errors (E's rounding, ~2^-106 |E|, moves sin E near its zeros)
        assert max(abs(g - mpmath.sin(r)) for g, r in zip(s.to_mpmath(), refs)) <= 16 * U2
        hs = [rand_dd(rng, -0.5, 0.5) for _ in range(60)]
        ks = [rand_dd(rng, -0.5, 0.5) for _ in range(60)]
        F, _, _ = evaluate("kepF", hs, ks, Ms)
        refs = [FUNCTIONS["kepF"].mp(mpmath.mpf(h[0]) + h[1], mpmath.mpf(k[0]) + k[1],
                                     mpmath.mpf(M[0]) + M[1]) for h, k, M in zip(hs, ks, Ms)]
        assert _max_err(F, refs) <= 16
        D, _, _ = evaluate("kepDE", hs, ks, Ms)
        refs = [FUNCTIONS["kepDE"].mp(mpmath.mpf(h[0]) + h[1], mpmath.mpf(k[0]) + k[1],
                                      mpmath.mpf(M[0]) + M[1]) for h, k, M in zip(hs, ks, Ms)]
        assert _max_err(D, refs) <= 16


def test_special_values():
    vals = evaluate("exp", [0.0, 800.0, -800.0])
    assert vals.hi.tolist() == [1.0, math.inf, 0.0]
    assert np.isnan(evaluate("log", [-1.0]).hi[0])
    assert evaluate("log", [0.0]).hi[0] == -math.inf
    assert np.isnan(evaluate("asin", [1.5]).hi[0])
    assert evaluate("tanh", [400.0]).hi[0] == 1.0
    assert np.isnan(evaluate("kepE", [1.2], [0.3])[0].hi[0])


# --------------------------------------------------------------------------- values in and out
def test_inputs_without_loss():
    assert dd_scalar("0.1") == fraction_to_dd(Fraction(1, 10))
    h, l = dd_scalar("0.1")
    assert Fraction(h) + Fraction(l) - Fraction(1, 10) != 0
    assert abs(Fraction(h) + Fraction(l) - Fraction(1, 10)) < Fraction(1, 10) * Fraction(2) ** -106
    with mpmath.workdps(50):
        x = mpmath.mpf(1) / 3
        h, l = dd_scalar(x)
        assert abs(mpmath.mpf(h) + l - x) < 2.0 ** -107 * x
    assert dd_scalar((1.0, 1e-20)) == (1.0, 1e-20)
    assert dd_scalar(2 ** 80 + 1) == (2.0 ** 80, 1.0)
    assert dd_scalar(np.longdouble(1) / 3) == fraction_to_dd(
        Fraction(*(np.longdouble(1) / 3).as_integer_ratio()))
    from decimal import Decimal

    assert dd_scalar(Decimal("0.1")) == dd_scalar("0.1") == dd_scalar(Fraction(1, 10))
    with pytest.raises(ValueError, match="decimal"):
        dd_scalar("abc")
    with pytest.raises(ValueError, match="finite"):
        dd_scalar(float("nan"))
    with pytest.raises(TypeError, match="boolean"):
        dd_scalar(True)
    with pytest.raises(TypeError, match="complex"):
        dd_scalar(1j)


def test_ddarray_str_and_mpmath():
    a = DDArray.from_values(["0.1", "1/3", 0.1, (1.0, 1e-20), "-2.5e-300", 123])
    s = str(a)
    assert s.startswith("[0.1 0.33333333333333333333333333333333")
    # every string converts back to the same pair (or, for a plain double, to the same
    # number at dd precision)
    for i, txt in enumerate(a.tolist()):
        back = dd_scalar(txt)
        exact = Fraction(a.hi[i]) + Fraction(a.lo[i])
        assert abs(Fraction(back[0]) + Fraction(back[1]) - exact) <= abs(exact) * Fraction(2) ** -107
    assert dd_scalar(a[1].tolist()) == (a.hi[1], a.lo[1])
    m = a.to_mpmath()
    assert m[3] == mpmath.fadd(1, mpmath.mpf(1e-20), exact=True)
    assert float(a[0]) == 0.1
    assert a.as_pairs().shape == (6, 2)
    assert dd_str(0.0, 0.0) == "0.0"


# --------------------------------------------------------------------------- coefficients
def _mp_coeffs(e, names, point, direction, order, dps=50):
    from _taylor_ref import mp_eval

    with mpmath.workdps(dps):
        p = [mpf_of(x) for x in point]
        d = [mpf_of(x) for x in direction]

        def f(h):
            return mp_eval([e], {n: p[i] + d[i] * h for i, n in enumerate(names)})[0]

        return mpmath.taylor(f, 0, order)


def _check(got, ref, rel=1e-30, env_rel=1e-31):
    """|got_k - ref_k| <= rel |ref_k| or <= env_rel * envelope_k (cancellation)."""
    from _taylor_ref import envelope

    env = envelope(ref)
    g = got.to_mpmath()
    for k in range(len(ref)):
        err = abs(g[k] - ref[k])
        assert err <= rel * abs(ref[k]) or err <= env_rel * env[k], (k, g[k], ref[k])


@pytest.mark.parametrize("case", ["exp", "sincos", "runge", "pendulum"])
def test_coefficients_order30(case):
    x, y = tj.make_vars("x", "y")
    e, names, point, direction = {
        "exp": (tj.exp(x), ["x"], ["0.3"], ["1"]),
        "sincos": (tj.sin(x) * tj.cos(y), ["x", "y"], ["0.3", "-0.7"], ["1", "0.5"]),
        "runge": (1 / (1 + x ** 2), ["x"], ["0.4"], ["1"]),
        "pendulum": (tj.sin(tj.sin(x) / 2 + tj.cos(x) ** 2) - tj.sqrt(1 + x ** 2), ["x"],
                     ["0.05"], ["1"]),
    }[case]
    vs = [x] if len(names) == 1 else [x, y]
    got = tj.taylor_coefficients(e, vs, point, direction, order=30, precision="dd")
    assert isinstance(got, DDArray) and got.shape == (31,)
    _check(got, _mp_coeffs(e, names, point, direction, 30))


def _function_expr(name, args):
    return FUNCTIONS[name](*args)


@pytest.mark.parametrize("name", sorted(n for n in FUNCTIONS if n not in ("relu", "relup")))
def test_every_function_coefficients(name):
    """Order 40 of every registered function of quadratic arguments (all the terms of
    the convolutions are exercised) against mpmath.taylor at 60 digits: errors within
    4 (k + 1) 2^-104 times the coefficients' envelope (the double tests' criterion with
    the dd epsilon; measured at most 0.72, kepF)."""
    from _taylor_ref import envelope

    fn = FUNCTIONS[name]
    vs = tj.make_vars(*[f"a{i}" for i in range(fn.nargs)])
    vs = [vs] if fn.nargs == 1 else list(vs)
    rng = random.Random(name)
    point = []
    for lo, hi in fn.domain:
        point.append(repr(round(rng.uniform(lo + 0.2 * (hi - lo), hi - 0.2 * (hi - lo)), 3)))
    direction = [repr(round(rng.uniform(0.2, 0.6), 2)) for _ in vs]
    e = _function_expr(name, [v * (1 + v / 8) for v in vs])
    got = tj.taylor_coefficients(e, vs, point, direction, order=40, precision="dd").to_mpmath()
    ref = _mp_coeffs(e, [v.value for v in vs], point, direction, 40, dps=60)
    env = envelope(ref)
    for k in range(41):
        assert abs(got[k] - ref[k]) <= 4 * (k + 1) * 2.0 ** -104 * env[k], (k, got[k], ref[k])


def test_relu_and_powers():
    from _taylor_ref import envelope

    x = tj.var("x")
    c = tj.taylor_coefficients([tj.relu(x), tj.relup(x), x ** 7], [x], ["0.5"], order=12,
                               precision="dd")
    assert c[0].hi.tolist()[:2] == [0.5, 1.0] and c[1].hi.tolist()[0] == 1.0
    assert np.all(c[0].hi[2:] == 0) and np.all(c[1].hi[1:] == 0)
    assert np.all(c[2].hi[8:] == 0)
    _check(c[2], _mp_coeffs(x ** 7, ["x"], ["0.5"], ["1"], 12))
    for p in (-1.5, 0.3, -7.25):                # real powers of a quadratic, order 40
        e = (x * (1 + x / 8)) ** p
        got = tj.taylor_coefficients(e, [x], ["0.7"], ["0.4"], order=40,
                                     precision="dd").to_mpmath()
        ref = _mp_coeffs(e, ["x"], ["0.7"], ["0.4"], 40, dps=60)
        env = envelope(ref)
        for k in range(41):
            assert abs(got[k] - ref[k]) <= 4 * (k + 1) * 2.0 ** -104 * env[k], (p, k)


def test_coefficients_inputs_pars_time_points():
    x = tj.var("x")
    e = tj.exp(tj.par[0] * x) + tj.time
    c = tj.taylor_coefficients(e, [x], [("0.25")], order=5, pars=["1/3"], time="0.1",
                               precision="dd")
    with mpmath.workdps(50):
        a = mpmath.mpf(1) / 3
        for k in range(6):
            ref = a ** k * mpmath.exp(a / 4) / mpmath.factorial(k) + (mpmath.mpf(1) / 10 if k == 0
                                                                    else 0)
            assert abs(c.to_mpmath()[k] - ref) <= 1e-31 * abs(ref)
    # several points; expansion in a parameter
    cs = tj.taylor_coefficients(tj.sin(x), [x], ["0.1", "0.2", "0.3"], order=3, precision="dd")
    assert cs.shape == (3, 4)
    cp = tj.taylor_coefficients(tj.exp(tj.par[0]), [tj.par[0]], ["0"], order=3, precision="dd")
    assert [str(v) for v in cp[:3]] == ["1.0", "1.0", "0.5"]
    assert abs(cp[3].to_fractions() - Fraction(1, 6)) < Fraction(2) ** -106
    with pytest.raises(ValueError, match="precision"):
        tj.taylor_coefficients(tj.sin(x), [x], [0.1], precision="quad")
    y = tj.var("y")
    with pytest.raises(ValueError, match="2 variables"):
        tj.taylor_coefficients(x * y, [x, y], [0.1, 0.2, 0.3], [1, 2, 3], precision="dd")
    with pytest.raises(ValueError, match="pars"):
        tj.taylor_coefficients(e, [x], [0.1], time=0, precision="dd")


def test_unknown_op_raises():
    from taylorjit._dd._build import program
    from taylorjit._codegen.decompose import decompose

    x = tj.var("x")
    d = decompose([tj.sin(x)], [x])
    d.ops.append(("no_such_op", (9,), (0,), None))
    with pytest.raises(NotImplementedError, match="no_such_op"):
        program(d, ode=False)


# --------------------------------------------------------------------------- integration
def pendulum_exact(th0, w0, t):
    """theta'' = -sin(theta): sin(theta/2) = k sn(t + u0 | k^2), theta' = 2 k cn(t + u0 | k^2)."""
    s0 = mpmath.sin(th0 / 2)
    k = mpmath.sqrt(s0 ** 2 + (w0 / 2) ** 2)
    m = k ** 2
    u = t + mpmath.ellipf(mpmath.atan2(s0 / k, w0 / (2 * k)), m)
    return (2 * mpmath.asin(k * mpmath.ellipfun("sn", u, m=m)),
            2 * k * mpmath.ellipfun("cn", u, m=m))


def test_harmonic_oscillator():
    x, v = tj.make_vars("x", "v")
    ta = DDTaylorAdaptive([(x, v), (v, -x)], ["0.1", "-0.3"])
    assert ta.order == 38
    with mpmath.workdps(40):
        x0, v0 = mpf_of("0.1"), mpf_of("-0.3")
        for T in ("3", "10", "20"):
            res = ta.propagate_until(T)
            assert res.outcome == tj.Outcome.time_limit
            assert str(ta.time) == T + ".0"
            t = mpf_of(T)
            st = ta.state.to_mpmath()
            assert abs(st[0] - (x0 * mpmath.cos(t) + v0 * mpmath.sin(t))) < 1e-31
            assert abs(st[1] - (v0 * mpmath.cos(t) - x0 * mpmath.sin(t))) < 1e-31
        ta.propagate_until(0)                               # back
        st = ta.state.to_mpmath()
        assert abs(st[0] - x0) < 1e-31 and abs(st[1] - v0) < 1e-31
        ta.step()                                           # dense output inside a step
        t = mpf_of("0.25")
        d = ta.update_d_output("0.25").to_mpmath()
        assert abs(d[0] - (x0 * mpmath.cos(t) + v0 * mpmath.sin(t))) < 1e-31
        assert ta.d_output.shape == (2,)
        d2 = ta.update_d_output(-float(ta.time) + 0.25, rel_time=True)
        assert abs(d2.to_mpmath()[0] - d[0]) < 1e-31


def test_pendulum_against_elliptic_functions():
    x, v = tj.make_vars("x", "v")
    ta = DDTaylorAdaptive([(x, v), (v, -tj.sin(x))], ["0.05", "0.025"], tol=1e-32)
    grid = ["0", "0.5", "10", "100"]
    res = ta.propagate_grid(grid)
    assert res.outcome == tj.Outcome.time_limit and res.states.shape == (4, 2)
    with mpmath.workdps(45):
        th0, w0 = mpf_of("0.05"), mpf_of("0.025")
        for g, row in zip(grid, res.states.to_mpmath()):
            ref = pendulum_exact(th0, w0, mpf_of(g))
            assert abs(row[0] - ref[0]) < 1e-30 and abs(row[1] - ref[1]) < 1e-30, g
        st = ta.state.to_mpmath()
        ref = pendulum_exact(th0, w0, mpmath.mpf(100))
        assert abs(st[0] - ref[0]) < 1e-30 and abs(st[1] - ref[1]) < 1e-30
        ta.propagate_until(0)                               # there and back
        st = ta.state.to_mpmath()
        assert abs(st[0] - th0) < 1e-30 and abs(st[1] - w0) < 1e-30


def test_kepler_energy():
    x, y, vx, vy = tj.make_vars("x", "y", "vx", "vy")
    r3 = (x ** 2 + y ** 2) ** -1.5
    sys = [(x, vx), (y, vy), (vx, -x * r3), (vy, -y * r3)]
    ta = DDTaylorAdaptive(sys, ["1", "0", "0", "1.2"])      # e = 0.44, period 15.0

    def energy(s):
        return (s[2] ** 2 + s[3] ** 2) / 2 - 1 / mpmath.sqrt(s[0] ** 2 + s[1] ** 2)

    with mpmath.workdps(40):
        e0 = energy(ta.state.to_mpmath())
        res = ta.propagate_for(30)
        assert res.outcome == tj.Outcome.time_limit and res.n_steps > 50
        e1 = energy(ta.state.to_mpmath())
        assert abs(e1 / e0 - 1) < 1e-30


def test_time_dependent_and_pars():
    x = tj.var("x")
    ta = DDTaylorAdaptive([(x, tj.par[0] * tj.cos(tj.time))], [0.0], time="0.5", pars=["1/3"])
    ta.propagate_until("2.5")
    with mpmath.workdps(40):
        ref = (mpmath.sin(mpf_of("2.5")) - mpmath.sin(mpf_of("0.5"))) / 3
        assert abs(ta.state.to_mpmath()[0] - ref) < 1e-31


def test_step_and_errors():
    x, v = tj.make_vars("x", "v")
    ta = DDTaylorAdaptive([(x, v), (v, -x)], [1, 0])
    oc, h = ta.step()
    assert oc == tj.Outcome.success and float(h) > 0.5
    assert ta.time.hi == h.hi and ta.tc.shape == (2, 39)
    oc, h = ta.step(0.1)
    assert oc == tj.Outcome.time_limit and float(h) == 0.1
    oc, h = ta.step_backward()
    assert oc == tj.Outcome.success and float(h) < 0
    res = ta.propagate_for(5, max_steps=2)
    assert res.outcome == tj.Outcome.step_limit and res.n_steps == 2
    with pytest.raises(ValueError, match="equations"):
        DDTaylorAdaptive([(x, v), (v, -x)], [1, 0, 0])
    with pytest.raises(ValueError, match="pars"):
        DDTaylorAdaptive([(x, tj.par[1] * v), (v, -x)], [1, 0], pars=[1])
    with pytest.raises(ValueError, match="grid"):
        ta.propagate_grid([float(ta.time) - 1, float(ta.time) + 1])
    y = tj.var("y")
    ta2 = DDTaylorAdaptive([(y, y ** 2)], [1.0])               # blows up at t = 1
    res = ta2.propagate_until(2.0)
    assert res.outcome == tj.Outcome.err_nf_state and float(ta2.time) < 1.0


# --------------------------------------------------------------------------- events, continuous output
def test_events_bouncing_ball():
    """Impacts (terminal, the velocity reversed by 9/10 in the callback) and apexes
    (non-terminal) of y'' = -9.8 from y = 10 against the closed form."""
    y, w = tj.make_vars("y", "w")
    impacts, apexes = [], []

    def bounce(ta, d_sgn):
        assert d_sgn == -1
        impacts.append(ta.time.to_mpmath())
        f = ta.state.to_fractions()
        ta.state = [f[0], -Fraction(9, 10) * f[1]]
        return True

    ta = DDTaylorAdaptive([(y, w), (w, -tj.par[0])], ["10", "0"], pars=["9.8"],
                          events=[tj.Event(y, direction="negative", terminal=True, callback=bounce),
                                  tj.Event(w, direction="negative",
                                           callback=lambda ta, t, d: apexes.append(t.to_mpmath()))])
    res = ta.propagate_until(12)
    assert res.outcome == tj.Outcome.time_limit and len(impacts) == 6
    with mpmath.workdps(40):
        g, e = mpf_of("9.8"), mpf_of("0.9")
        t = mpmath.sqrt(20 / g)
        vi = g * t
        ref, ref_apex = [t], [mpmath.mpf(0)]        # w = 0 at t = 0: an apex
        for _ in range(6):
            vi *= e
            ref_apex.append(t + vi / g)
            t += 2 * vi / g
            ref.append(t)
        assert max(abs(a - b) for a, b in zip(impacts, ref)) < 1e-30
        ref_apex = [a for a in ref_apex if a < 12]
        assert len(apexes) == len(ref_apex) == 6
        assert max(abs(a - b) for a, b in zip(apexes, ref_apex)) < 1e-30
    # without a callback the terminal event stops the propagation at the first impact
    # (built through the public constructor: precision="dd" passes the events on)
    ta = tj.TaylorAdaptive([(y, w), (w, -tj.par[0])], ["10", "0"], pars=["9.8"],
                           t_events=[tj.t_event(y)], precision="dd")
    assert isinstance(ta, DDTaylorAdaptive)
    res = ta.propagate_until(12)
    assert res.outcome == tj.Outcome.event and res.event_index == 0
    assert int(res[0]) == -1 and res.n_steps >= 1
    with mpmath.workdps(40):
        assert abs(ta.time.to_mpmath() - mpmath.sqrt(20 / mpf_of("9.8"))) < 1e-31


def test_events_zero_crossings_there_and_back():
    """x = cos t: the zeros (k + 1/2) pi to dd accuracy, forward and backward."""
    x, v = tj.make_vars("x", "v")
    ta = DDTaylorAdaptive([(x, v), (v, -x)], ["1", "0"], events=[tj.Event(x)])
    res = ta.propagate_until(50)
    assert res.outcome == tj.Outcome.time_limit and res.event_index is None
    fwd = ta.event_log[:]
    assert len(fwd) == 16 and [s for _, _, s in fwd] == [-1, 1] * 8
    with mpmath.workdps(40):
        for k, (i, t, _) in enumerate(fwd):
            ref = (k + mpmath.mpf(1) / 2) * mpmath.pi
            assert i == 0 and abs(t.to_mpmath() - ref) < 4 * U2 * ref, k
        ta.event_log.clear()
        ta.propagate_until(0)
        back = ta.event_log
        assert [s for _, _, s in back] == [s for _, _, s in reversed(fwd)]
        for (_, t1, _), (_, t2, _) in zip(fwd, reversed(back)):
            assert abs(t1.to_mpmath() - t2.to_mpmath()) < 8 * U2 * 50
        st = ta.state.to_mpmath()
        assert abs(st[0] - 1) < 1e-30 and abs(st[1]) < 1e-30
    # a root just before or after the end of a propagation: found once
    for k in (3, 12, 17, 25, 29):
        for sg in (1, -1):
            ta = DDTaylorAdaptive([(x, v), (v, -x)], ["1", "0"], events=[tj.Event(x)])
            with mpmath.workdps(40):
                ta.propagate_until(mpmath.pi / 2 + sg * mpmath.mpf(10) ** -k)
            ta.propagate_until(2)
            assert len(ta.event_log) == 1, (k, sg)
    # direction, tangency (x - 1 touches 0 at 2 pi: no crossing), time and parameters
    ta = DDTaylorAdaptive([(x, v), (v, -x)], ["1", "0"], pars=["1.3"],
                          events=[tj.Event(v, direction="positive"), tj.Event(x - 1.0),
                                  tj.Event(tj.time - tj.par[0])])
    ta.propagate_until(7)
    got = [(i, float(t), s) for i, t, s in ta.event_log]
    assert got == [(1, 0.0, 0), (2, 1.3, 1), (0, math.pi, 1)]
    assert ta.event_log[1][1] == DDArray(*dd_scalar("1.3"))


def test_terminal_events_step_grid_cooldown():
    x, v = tj.make_vars("x", "v")
    ta = DDTaylorAdaptive([(x, v), (v, -x)], ["1", "0"],
                          events=[tj.t_event(x, callback=lambda ta, d: True)])
    outcomes = [ta.step() for _ in range(4)]
    assert [r.outcome for r in outcomes] == [tj.Outcome.event, tj.Outcome.success] * 2
    assert outcomes[0].event_index == 0
    with mpmath.workdps(40):
        assert abs(ta.time.to_mpmath() - 3 * mpmath.pi / 2) > 0.1
        t_ev = outcomes[0].h.to_mpmath()
        assert abs(t_ev - mpmath.pi / 2) < 1e-31
    # a terminal event ends a grid propagation: NaN rows after it
    ta = DDTaylorAdaptive([(x, v), (v, -x)], ["1", "0"],
                          events=[tj.t_event(x, direction="positive")])
    res = ta.propagate_grid([str(k) for k in range(10)])
    assert res.outcome == tj.Outcome.event and res.event_index == 0
    rows = np.asarray(res.states)[:, 0]
    assert np.all(np.isfinite(rows[:5])) and np.all(np.isnan(rows[5:]))
    with mpmath.workdps(40):
        assert abs(ta.time.to_mpmath() - 3 * mpmath.pi / 2) < 1e-31
        assert abs(res.states[4].to_mpmath()[0] - mpmath.cos(4)) < 1e-31
    # the user's cooldown: the crossing at 3 pi / 2 is skipped
    hits = []
    ta = DDTaylorAdaptive([(x, v), (v, -x)], ["1", "0"], events=[
        tj.t_event(x, callback=lambda ta, d: hits.append(float(ta.time)) or True, cooldown=4.0)])
    ta.propagate_until(20)
    assert np.allclose(hits, [math.pi / 2, 5 * math.pi / 2, 9 * math.pi / 2])
    assert len(ta.events) == 1
    # non-terminal callbacks see the state at the event; nested propagation refused
    seen = []
    ta = DDTaylorAdaptive([(x, v), (v, -x)], ["1", "0"], nt_events=[
        tj.nt_event(x, lambda ta, t, d: seen.append(ta.update_d_output(t).to_mpmath()))])
    ta.propagate_until(2)
    assert len(seen) == 1 and abs(seen[0][0]) < 1e-31 and abs(seen[0][1] + 1) < 1e-31

    def nested(ta, t, d):
        ta.propagate_until(100)

    ta = DDTaylorAdaptive([(x, v), (v, -x)], ["1", "0"], events=[tj.Event(x, callback=nested)])
    with pytest.raises(RuntimeError, match="already propagating"):
        ta.propagate_until(5)
    with pytest.raises(TypeError, match="True to continue"):
        DDTaylorAdaptive([(x, v), (v, -x)], ["1", "0"],
                         events=[tj.t_event(x, callback=lambda ta, d: 1)]).propagate_until(5)


def test_continuous_output():
    x, v = tj.make_vars("x", "v")
    ta = DDTaylorAdaptive([(x, v), (v, -x)], ["0", "1"])
    res = ta.propagate_until(20, c_output=True)
    co = res.c_output
    assert co.n_steps == res.n_steps and co.tcs.shape == (res.n_steps, 2, 39)
    assert co.times[-1] == ta.time
    rng = random.Random(3)
    with mpmath.workdps(40):
        pts = [mpmath.mpf(rng.uniform(0, 20)) for _ in range(30)]
        out = co(pts).to_mpmath()
        for t, row in zip(pts, out):
            assert abs(row[0] - mpmath.sin(t)) < 1e-30 and abs(row[1] - mpmath.cos(t)) < 1e-30
        assert abs(co("2.5")[0].to_mpmath() - mpmath.sin(mpf_of("2.5"))) < 1e-31
    assert co(co.times[3]).shape == (2,)
    assert co(ta.time) == ta.state
    # the same steps as without continuous output, bit for bit; backward too
    sys = [(x, v), (v, -tj.sin(x))]
    a, b = DDTaylorAdaptive(sys, ["0.05", "0.025"]), DDTaylorAdaptive(sys, ["0.05", "0.025"])
    ra, rb = a.propagate_until(300), b.propagate_until(300, c_output=True)
    assert a.state == b.state and ra.n_steps == rb.n_steps and rb.c_output.n_steps > 64
    co = b.propagate_until(0, c_output=True).c_output
    mid = co.times[5].to_mpmath() + (co.times[6].to_mpmath() - co.times[5].to_mpmath()) / 3
    with mpmath.workdps(45):
        ref = pendulum_exact(mpf_of("0.05"), mpf_of("0.025"), mid)
        assert abs(co(mid).to_mpmath()[0] - ref[0]) < 1e-30
