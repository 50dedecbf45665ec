"""Arbitrary precision (precision=<bits>): values in and out, coefficients, integration.

References are computed outside the code under test: mpmath at 100 digits
(``mpmath.taylor`` of the registry's mpmath functions for coefficients), closed
forms (the pendulum through Jacobi's elliptic functions, the bouncing ball).
"""
import decimal
import pickle
import random
from fractions import Fraction

import mpmath
import numpy as np
import pytest

import taylorjit as tj
from taylorjit import MPTaylorAdaptive
from taylorjit._symbolic.registry import FUNCTIONS

P = 256


def mpf_of(x):
    """Exact mpmath value of a decimal string / float (at the current precision)."""
    q = Fraction(x)
    return mpmath.mpf(q.numerator) / q.denominator


def exact_of(v):
    """The exact rational value of an mpf."""
    m, e = v.man_exp                   # (|mantissa|, exponent)
    return (-1 if v < 0 else 1) * Fraction(int(m)) * Fraction(2) ** int(e)


def nearest(q, p=P):
    """The nearest p-bit number of a rational, computed by mpmath."""
    with mpmath.workprec(p):
        return mpmath.mpf(q.numerator) / q.denominator


# --------------------------------------------------------------------------- values in and out
def test_inputs_without_loss_and_outputs():
    x = tj.var("x")
    dd = tj.DDArray.from_values(["1/3"])[0]
    ins = ["0.1", Fraction(1, 3), decimal.Decimal("0.05"), 0.1, mpmath.mpf("0.3"),
           (0.1, 2.0 ** -60), dd, 7, np.float32(0.5)]
    exact = [Fraction(1, 10), Fraction(1, 3), Fraction(1, 20), Fraction(0.1), exact_of(ins[4]),
             Fraction(0.1) + Fraction(2) ** -60, Fraction(dd.hi[()]) + Fraction(dd.lo[()]),
             Fraction(7), Fraction(1, 2)]
    c = tj.taylor_coefficients(x, [x], ins, order=1, precision=P)
    assert c.shape == (len(ins), 2) and c.dtype == object
    for v, q in zip(c[:, 0], exact):
        assert isinstance(v, mpmath.mpf)
        with mpmath.workprec(P + 64):
            assert v == nearest(q)
        # str() carries every digit: it converts back to the same 256-bit number
        with mpmath.workprec(P):
            assert mpmath.mpf(str(v)) == v
        assert pickle.loads(pickle.dumps(v)) == v and str(pickle.loads(pickle.dumps(v))) == str(v)
    assert str(c[0, 0]) == "0.1" and str(c[2, 0]) == "0.05" and str(c[0, 1]) == "1.0"
    with pytest.raises(ValueError, match="precision"):
        tj.taylor_coefficients(x, [x], [0.1], precision="quad")
    with pytest.raises(ValueError, match="bits"):
        tj.taylor_coefficients(x, [x], [0.1], precision=True)
    with pytest.raises(ValueError, match="between"):
        tj.taylor_coefficients(x, [x], [0.1], precision=8)
    with pytest.raises(ValueError, match="not finite"):
        tj.taylor_coefficients(tj.log(x), [x], ["-1"], order=2, precision=P)
    with pytest.raises(ValueError, match="cannot read"):
        tj.taylor_coefficients(x, [x], ["zero"], precision=P)


def test_coefficients_pars_time_points():
    x, y = tj.make_vars("x", "y")
    e = tj.exp(tj.par[0] * x) + tj.time
    c = tj.taylor_coefficients(e, [x], ["0.25"], order=5, pars=["1/3"], time="0.1", precision=P)
    with mpmath.workdps(100):
        a = mpmath.mpf(1) / 3
        for k in range(6):
            ref = a ** k * mpmath.exp(a / 4) / mpmath.factorial(k) + (mpf_of("0.1") if k == 0
                                                                     else 0)
            assert abs(c[k] - ref) <= 2.0 ** -250 * abs(ref)
    cs = tj.taylor_coefficients([tj.sin(x) * y, y], [x, y], [["0.1", "2"], ["0.2", "3"]],
                                ["1", "0"], order=3, precision=P)
    assert cs.shape == (2, 2, 4)
    with mpmath.workdps(100):
        assert abs(cs[1, 0, 3] + 3 * mpmath.cos(mpf_of("0.2")) / 6) < 1e-75
    cp = tj.taylor_coefficients(tj.exp(tj.par[0]), [tj.par[0]], ["0"], order=3, precision=113)
    assert [str(v) for v in cp[:3]] == ["1.0", "1.0", "0.5"] and cp[3] == nearest(Fraction(1, 6),
                                                                                  113)
    with pytest.raises(ValueError, match="pars"):
        tj.taylor_coefficients(e, [x], [0.1], time=0, precision=P)


def test_unknown_op_raises():
    from taylorjit._codegen.decompose import decompose
    from taylorjit._mp.vm import MPProgram

    x = tj.var("x")
    d = decompose([tj.sin(x)], [x])
    d.ops.append(("no_such_op", (9,), (0,), None))
    with pytest.raises(NotImplementedError, match="no_such_op"):
        MPProgram(d, P, ode=False)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_coefficients(name):
    """Order 20 of every registered function of quadratic arguments at 256 bits
    against mpmath.taylor of the registry's mpmath function at 100 digits: errors
    within 4 (k + 1) 2^-256 times the coefficients' envelope."""
    from _taylor_ref import envelope, mp_taylor

    fn = FUNCTIONS[name]
    vs = tj.make_vars(*[f"a{i}" for i in range(fn.nargs)])
    vs = [vs] if fn.nargs == 1 else list(vs)
    rng = random.Random(name)
    point = [round(rng.uniform(lo + 0.2 * (hi - lo), hi - 0.2 * (hi - lo)), 3)
             for lo, hi in fn.domain]
    if name in ("relu", "relup"):
        point = [0.7]
    direction = [round(rng.uniform(0.2, 0.6), 2) for _ in vs]
    e = fn(*[v * (1 + v / 8) for v in vs])
    got = tj.taylor_coefficients(e, vs, point, direction, order=20, precision=P)
    ref = mp_taylor(e, [v.value for v in vs], [[p, d] for p, d in zip(point, direction)], 20,
                    dps=100)
    env = envelope(ref)
    with mpmath.workdps(100):
        for k in range(21):
            assert abs(got[k] - ref[k]) <= 4 * (k + 1) * 2.0 ** -P * env[k], (k, got[k], ref[k])


# --------------------------------------------------------------------------- integration
def pendulum_exact(th0, w0, t):
    """theta'' = -sin(theta): sin(theta/2) = k sn(t + u0 | k^2), theta' = 2 k cn(t + u0 | k^2)."""
    s0 = mpmath.sin(th0 / 2)
    k = mpmath.sqrt(s0 ** 2 + (w0 / 2) ** 2)
    m = k ** 2
    u = t + mpmath.ellipf(mpmath.atan2(s0 / k, w0 / (2 * k)), m)
    return (2 * mpmath.asin(k * mpmath.ellipfun("sn", u, m=m)),
            2 * k * mpmath.ellipfun("cn", u, m=m))


def test_pendulum_there_and_back():
    x, v = tj.make_vars("x", "v")
    ta = tj.TaylorAdaptive([(x, v), (v, -tj.sin(x))], ["0.05", "0.025"], precision=P)
    assert isinstance(ta, MPTaylorAdaptive) and ta.order == 90 and ta.precision == P
    assert ta.tol == mpmath.ldexp(1, -P)
    res = ta.propagate_grid(["0.5", "3", "10"])
    assert res.outcome == tj.Outcome.time_limit and res.states.shape == (3, 2)
    assert str(ta.time) == "10.0"
    with mpmath.workdps(100):
        th0, w0 = mpf_of("0.05"), mpf_of("0.025")
        for g, row in zip(["0.5", "3", "10"], res.states):
            ref = pendulum_exact(th0, w0, mpf_of(g))
            assert abs(row[0] - ref[0]) < 1e-60 and abs(row[1] - ref[1]) < 1e-60, g
        st = ta.state
        assert all(isinstance(s, mpmath.mpf) for s in st)
        ref = pendulum_exact(th0, w0, mpmath.mpf(10))
        assert abs(st[0] - ref[0]) < 1e-60 and abs(st[1] - ref[1]) < 1e-60
        ta.propagate_until(0)                               # there and back
        st = ta.state
        assert abs(st[0] - th0) < 1e-60 and abs(st[1] - w0) < 1e-60
        assert ta.time == 0


def test_step_dense_pickle_and_errors():
    x, v = tj.make_vars("x", "v")
    ta = MPTaylorAdaptive([(x, v), (v, -x)], ["0.1", "-0.3"], precision=128, time="1/3")
    oc, h = ta.step()
    assert oc == tj.Outcome.success and h > 0.5 and ta.tc.shape == (2, ta.order + 1)
    with mpmath.workdps(60):
        t0 = mpmath.mpf(1) / 3
        t = t0 + mpmath.mpf(1) / 4
        d = ta.update_d_output(t)
        ref = mpf_of("0.1") * mpmath.cos(t - t0) - mpf_of("0.3") * mpmath.sin(t - t0)
        assert abs(d[0] - ref) < 1e-37 and ta.d_output.shape == (2,)
    oc, h = ta.step(0.125)
    assert oc == tj.Outcome.time_limit and h == 0.125
    oc, h = ta.step_backward()
    assert oc == tj.Outcome.success and h < 0
    res = ta.propagate_for(20, max_steps=2)
    assert res.outcome == tj.Outcome.step_limit and res.n_steps == 2
    ta2 = pickle.loads(pickle.dumps(ta))
    ta.propagate_for("2.5")
    ta2.propagate_for("2.5")
    assert list(ta.state) == list(ta2.state) and ta.time == ta2.time
    with pytest.raises(ValueError, match="equations"):
        MPTaylorAdaptive([(x, v), (v, -x)], [1, 0, 0])
    with pytest.raises(ValueError, match="pars"):
        MPTaylorAdaptive([(x, tj.par[1] * v), (v, -x)], [1, 0], pars=[1])
    with pytest.raises(ValueError, match="grid"):
        ta.propagate_grid([float(ta.time) - 1, float(ta.time) + 1])
    with pytest.raises(ValueError, match="not supported"):
        tj.TaylorAdaptive([(x, v), (v, -x)], [1, 0], precision=113, compact=True)
    with pytest.raises(NotImplementedError, match="continuous"):
        ta.propagate_for(1, c_output=True)
    y = tj.var("y")
    ta3 = MPTaylorAdaptive([(y, tj.log(y))], ["-1"], precision=64)       # log(-1): not real
    assert ta3.step()[0] == tj.Outcome.err_nf_state and ta3.time == 0


def test_time_dependent_and_pars():
    x = tj.var("x")
    ta = MPTaylorAdaptive([(x, tj.par[0] * tj.cos(tj.time))], [0], time="0.5", pars=["1/3"],
                          precision=200)
    ta.propagate_until("2.5")
    with mpmath.workdps(80):
        ref = (mpmath.sin(mpf_of("2.5")) - mpmath.sin(mpf_of("0.5"))) / 3
        assert abs(ta.state[0] - ref) < 1e-58 and str(ta.time) == "2.5"


def test_events_bouncing_ball():
    """Impacts (terminal, the velocity reversed by 9/10 in the callback) and apexes
    (non-terminal) of y'' = -9.8 from y = 10 against the closed form at 1e-60."""
    y, w = tj.make_vars("y", "w")
    impacts, apexes = [], []

    def bounce(ta, d_sgn):
        assert d_sgn == -1
        impacts.append(ta.time)
        s = ta.state
        ta.state = [s[0], -9 * exact_of(s[1]) / 10]
        return True

    ta = tj.TaylorAdaptive([(y, w), (w, -tj.par[0])], ["10", "0"], pars=["9.8"], precision=P,
                           events=[tj.Event(y, direction="negative", terminal=True,
                                            callback=bounce),
                                   tj.Event(w, direction="negative",
                                            callback=lambda ta, t, d: apexes.append(t))])
    res = ta.propagate_until(12)
    assert res.outcome == tj.Outcome.time_limit and len(impacts) == 6
    with mpmath.workdps(100):
        g, e = mpf_of("9.8"), mpf_of("0.9")
        t = mpmath.sqrt(20 / g)
        vi = g * t
        ref, ref_apex = [t], [mpmath.mpf(0)]        # w = 0 at t = 0: an apex
        for _ in range(6):
            vi *= e
            ref_apex.append(t + vi / g)
            t += 2 * vi / g
            ref.append(t)
        assert max(abs(a - b) for a, b in zip(impacts, ref)) < 1e-60
        ref_apex = [a for a in ref_apex if a < 12]
        assert len(apexes) == len(ref_apex) == 6
        assert max(abs(a - b) for a, b in zip(apexes, ref_apex)) < 1e-60
    # without a callback the terminal event stops the propagation at the first impact;
    # a logged non-terminal event (the apex at t = 0)
    ta = tj.TaylorAdaptive([(y, w), (w, -tj.par[0])], ["10", "0"], pars=["9.8"], precision=P,
                           t_events=[tj.t_event(y)], nt_events=[tj.Event(w)])
    res = ta.propagate_until(12)
    assert res.outcome == tj.Outcome.event and res.event_index == 0 and int(res[0]) == -1
    assert [(i, d) for i, _, d in ta.event_log] == [(1, -1)] and ta.event_log[0][1] == 0
    with mpmath.workdps(100):
        assert abs(ta.time - mpmath.sqrt(20 / mpf_of("9.8"))) < 1e-60
    oc, h = ta.step(1)                   # the cooldown lets the step leave the root
    assert oc == tj.Outcome.time_limit and h == 1


def test_events_zero_crossings_backward():
    """x = cos t: its decreasing zeros (2k + 1/2) pi, forward then backward (the direction
    is that of g in time, also backwards, as in heyoka)."""
    x, v = tj.make_vars("x", "v")
    ta = MPTaylorAdaptive([(x, v), (v, -x)], ["1", "0"], precision=160,
                          events=[tj.Event(x, direction="negative")])
    ta.propagate_until(10)
    with mpmath.workdps(60):
        got = [t for _, t, _ in ta.event_log]
        ref = [(2 * k + mpmath.mpf(1) / 2) * mpmath.pi for k in range(2)]
        assert len(got) == 2 and max(abs(a - b) for a, b in zip(got, ref)) < 1e-45
        assert all(d == -1 for _, _, d in ta.event_log)
        ta.event_log.clear()
        ta.propagate_until(0)
        got = [t for _, t, _ in ta.event_log]            # the same crossings, in time order
        assert len(got) == 2 and max(abs(a - b) for a, b in zip(got, ref[::-1])) < 1e-45
        assert all(d == -1 for _, _, d in ta.event_log)
