"""Taylor maps of double-double variational integrators: ``ta.eval_taylor_map(dw)``
against closed forms expanded with mpmath at 50 digits (at the exact dd values of
the inputs)."""
import mpmath
import numpy as np
import pytest

import taylorjit as tj
from taylorjit import DDArray

U = 2.0 ** -104            # the dd epsilon


def mq(v):
    """The exact value of a dd input (a decimal string read to the nearest dd)."""
    return DDArray.from_values(v).to_mpmath()


def within(got, ref, scale, units):
    return abs(got.to_mpmath() - ref) <= units * U * scale


def test_eval_taylor_map_x_squared():
    """x' = x^2, x(t) = x0 / (1 - x0 t): the map of order 5 in dx0 at x0 = 1/2, t = 1 is
    sum_k c_k dx^k with c_0 = 1, c_k = t^(k-1) / (1 - x0 t)^(k+1) = 2^(k+1)."""
    x = tj.var("x")
    ta = tj.TaylorAdaptive(tj.var_ode_sys([(x, x * x)], "vars", order=5), ["1/2"],
                           precision="dd")
    ta.propagate_until("1")
    ds = ["1/100", "-3/70", "0", "0.001"]
    got = ta.eval_taylor_map([[d] for d in ds])
    assert isinstance(got, DDArray) and got.shape == (4, 1)
    with mpmath.workdps(50):
        for i, d in enumerate(ds):
            dd = mq(d)
            terms = [mpmath.mpf(1)] + [2 ** (k + 1) * dd ** k for k in range(1, 6)]
            ref = mpmath.fsum(terms)
            assert within(got[i, 0], ref, mpmath.fsum(abs(t) for t in terms), 16), d
            one = ta.eval_taylor_map([d])              # one displacement: shape (n,)
            assert one.shape == (1,) and one == got[i]
        # the map agrees with the true solution to the truncation error (order 6 term)
        dd = mq("1/100")
        true = (mq("1/2") + dd) / (1 - (mq("1/2") + dd))
        assert abs(got[0, 0].to_mpmath() - true) <= 2 * 2 ** 7 * dd ** 6
    assert ta.eval_taylor_map(np.zeros(1)) == DDArray.from_values(ta.state[:1])


def test_eval_taylor_map_decay_wrt_state_and_parameter():
    """x' = -p x wrt (x0, p), order 3: x = (x0 + dx) exp(-(p + dp) t); the map's
    coefficients c_{a,b} = x0^(1-a) (-t)^b exp(-p t) / b! for a <= 1, b <= 3 - a."""
    x = tj.var("x")
    ta = tj.TaylorAdaptive(tj.var_ode_sys([(x, -tj.par[0] * x)], [x, tj.par[0]], order=3),
                           ["3/4"], pars=["1/3"], precision="dd")
    ta.propagate_until("2")
    dws = DDArray.from_values([["1/64", "-1/128"], ["-0.01", "0.02"]])
    got = ta.eval_taylor_map(dws)
    assert got.shape == (2, 1)
    with mpmath.workdps(50):
        x0, p, t = mq("3/4"), mq("1/3"), mpmath.mpf(2)
        e = mpmath.exp(-p * t)
        for r in range(2):
            dx, dp = dws[r, 0].to_mpmath(), dws[r, 1].to_mpmath()
            terms = [(x0 if a == 0 else 1) * (-t) ** b * e / mpmath.factorial(b) * dx ** a * dp ** b
                     for a in (0, 1) for b in range(4 - a)]
            assert within(got[r, 0], mpmath.fsum(terms), mpmath.fsum(abs(v) for v in terms), 16)


def test_eval_taylor_map_harmonic_is_exact_linear():
    """The oscillator's map is linear: (x0 + dx) cos t + (v0 + dv) sin t, and the
    second-order coefficients vanish (to dd rounding)."""
    x, v = tj.make_vars("x", "v")
    ta = tj.TaylorAdaptive(tj.var_ode_sys([(x, v), (v, -x)], "vars", order=2), ["1/3", "0"],
                           precision="dd")
    ta.propagate_until("1")
    dw = ["1/10", "-1/5"]
    got = ta.eval_taylor_map(dw)
    assert got.shape == (2,)
    with mpmath.workdps(50):
        X, V = mq("1/3") + mq("1/10"), mq("-1/5")
        c, s = mpmath.cos(1), mpmath.sin(1)
        assert within(got[0], X * c + V * s, 1, 32)
        assert within(got[1], -X * s + V * c, 1, 32)
    with pytest.raises(ValueError, match="expected"):
        ta.eval_taylor_map(["1"])
    with pytest.raises(NotImplementedError, match="eval_taylor_map"):
        ta.taylor_map
    xp = tj.TaylorAdaptive([(x, v), (v, -x)], [1, 0], precision="dd")
    with pytest.raises(TypeError, match="variational"):
        xp.eval_taylor_map([0.1, 0.0])
