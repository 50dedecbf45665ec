"""numpy_quaddtype values in and out of the extended-precision layers.

A quad has a 113-bit significand: read into double-double (106 bits) it is rounded
once to the nearest dd; read at precision >= 113 bits it is kept exactly.  Quad
outputs round once to 113 bits.  References: exact rationals (``as_integer_ratio``),
mpmath at 50 digits and mpmath's own rounding to 113 bits.
"""
import subprocess
import sys
from fractions import Fraction

import mpmath
import numpy as np
import pytest

import taylorjit as tj
from taylorjit import DDArray

nq = pytest.importorskip("numpy_quaddtype")

U = 2.0 ** -104            # the dd epsilon
Q = nq.QuadPrecision
QT = nq.QuadPrecDType()


def exact(q):
    return Fraction(*q.as_integer_ratio())


def nearest_dd(f):
    hi = float(f)
    return hi, float(f - Fraction(hi))


def mp_exact(f):
    with mpmath.workprec(4000):
        return mpmath.mpf(f.numerator) / f.denominator


def quad_of_mp(v):
    """The nearest 113-bit number of an mpf / rational, rounded by mpmath, as a Fraction."""
    with mpmath.workprec(113):
        r = +v if isinstance(v, mpmath.mpf) else mpmath.mpf(v.numerator) / v.denominator
    m, e = r.man_exp
    return (-1 if r < 0 else 1) * Fraction(int(m)) * Fraction(2) ** int(e)


THIRD = Q(1) / Q(3)                  # 113 significant bits: its str() is not exact
VALS = [THIRD, Q(2) / Q(7), Q("0.1"), -Q(5) / Q(11) * Q("1e-200"), Q(12345), Q(-0.0)]


def test_quad_str_is_not_exact_but_input_is():
    assert Fraction(str(THIRD)) != exact(THIRD)        # why str() must not be used
    a = DDArray.from_values(THIRD)
    assert (float(a.hi), float(a.lo)) == nearest_dd(exact(THIRD))
    arr = np.array(VALS, dtype=QT)
    d = DDArray.from_values(arr)
    assert d.shape == (len(VALS),)
    for i, q in enumerate(VALS):
        assert (d.hi[i], d.lo[i]) == nearest_dd(exact(q)), i
    assert DDArray.from_values([VALS[:2], VALS[2:4]]) == DDArray.from_values(
        arr[:4].reshape(2, 2))
    tiny = Q(2) ** -130                                # a (hi, lo) pair of quads: the exact sum
    assert DDArray.from_values((THIRD, tiny)) == DDArray(*nearest_dd(exact(THIRD) + exact(tiny)))
    with pytest.raises(ValueError, match="finite"):
        DDArray.from_values(Q("nan"))
    with pytest.raises(ValueError, match="range"):
        DDArray.from_values(Q("1e400"))


def test_dd_quad_round_trip():
    d = DDArray.from_values(["1/3", "-2/7", "0.1", "1e-300", "12345678901234567890123", 0.0])
    q = d.to_quad()
    assert q.dtype == QT and q.shape == d.shape
    for i in range(d.size):
        ex = Fraction(float(d.hi[i])) + Fraction(float(d.lo[i]))
        assert exact(q[i]) == quad_of_mp(mp_exact(ex)), i
        with mpmath.workprec(113):                      # quad -> mpmath at 113 bits: exact
            assert mpmath.mpf(exact(q[i]).numerator) / exact(q[i]).denominator == \
                mp_exact(exact(q[i]))
    # these dd tails lie within 113 bits of the heads: quad -> dd gives the same pairs
    assert DDArray.from_values(q) == d
    # a tail far below the head's last bit: rounded once, ties to even
    far = DDArray(1.0, 2.0 ** -200)
    assert exact(far.to_quad()[()]) == 1
    tie = DDArray(1.0, 2.0 ** -113)               # exactly half a quad ulp above 1
    assert exact(tie.to_quad()[()]) == 1
    tie2 = DDArray(1.0, 3 * 2.0 ** -113)  # 1.5 quad ulps: between 1 ulp (odd) and 2 (even)
    assert exact(tie2.to_quad()[()]) == 1 + Fraction(2) ** -111
    assert np.signbit(float(DDArray(-0.0, 0.0).to_quad()[()]))
    # to mpmath through quad agrees with mpmath's own 113-bit rounding of the dd value
    with mpmath.workprec(113):
        assert mpmath.mpf(exact(d[0].to_quad()[()]).numerator) / \
            exact(d[0].to_quad()[()]).denominator == +d[0].to_mpmath()


def test_quad_inputs_dd_integrator():
    """x' = -p x with x0, t0, p quad values (113-bit rationals): at t = t0 + 2,
    x = x0 exp(-2 p), against mpmath at 50 digits on the exact quad inputs."""
    x = tj.var("x")
    x0, t0, p = Q(1) / Q(3), Q(1) / Q(7), Q(1) / Q(5)
    ta = tj.TaylorAdaptive([(x, -tj.par[0] * x)], np.array([x0], dtype=QT), time=t0,
                           pars=np.array([p], dtype=QT), precision="dd")
    assert (float(ta.state.hi[0]), float(ta.state.lo[0])) == nearest_dd(exact(x0))
    assert ta.time == DDArray(*nearest_dd(exact(t0)))
    t1 = t0 + Q(2)
    ta.propagate_until(t1)
    assert ta.time == DDArray(*nearest_dd(exact(t1)))
    with mpmath.workdps(50):
        tt = mp_exact(exact(t1)) - mp_exact(exact(t0))
        ref = mp_exact(exact(x0)) * mpmath.exp(-tt * mp_exact(exact(p)))
        assert abs(ta.state[0].to_mpmath() - ref) <= 16 * U * abs(ref)
        q = ta.state.to_quad()[0]
        assert abs(mp_exact(exact(q)) - ref) <= 16 * U * abs(ref)


def test_quad_points_dd_coefficients():
    x, y = tj.make_vars("x", "y")
    pt = np.array([Q(3) / Q(10), Q(2) / Q(5)], dtype=QT)
    c = tj.taylor_coefficients(tj.exp(x) * y, [x, y], pt, [Q(1), Q(0)], order=10,
                               precision="dd")
    assert isinstance(c, DDArray) and c.shape == (11,)
    # the points enter as the nearest dd of the exact quad values
    X, Y = (mp_exact(sum(map(Fraction, nearest_dd(exact(v))))) for v in pt)
    with mpmath.workdps(50):
        for k in range(11):
            ref = mpmath.exp(X) * Y / mpmath.factorial(k)
            assert abs(c[k].to_mpmath() - ref) <= 8 * U * abs(ref), k


def test_quad_inputs_exact_at_128_bits():
    x = tj.var("x")
    arr = np.array(VALS[:5], dtype=QT)
    c = tj.taylor_coefficients(x, [x], arr, order=1, precision=128)
    for v, q in zip(c[:, 0], VALS):
        assert mp_exact(exact(q)) == v                 # kept exactly (128 >= 113)
        assert v.to_quad() == q and exact(v.to_quad()) == exact(q)
    v, w = tj.make_vars("v", "w")
    ta = tj.TaylorAdaptive([(v, w), (w, -v)], [THIRD, Q(0)], time=Q(1) / Q(7), precision=128)
    assert ta.state[0] == mp_exact(exact(THIRD)) and ta.time == mp_exact(exact(Q(1) / Q(7)))
    t1 = Q(1) / Q(7) + Q(1)
    ta.propagate_until(t1)
    with mpmath.workdps(50):
        ref = mp_exact(exact(THIRD)) * mpmath.cos(mp_exact(exact(t1) - exact(Q(1) / Q(7))))
        assert abs(ta.state[0] - ref) <= 2.0 ** -110
    # a 256-bit value to quad: rounded once, as mpmath rounds to 113 bits
    c = tj.taylor_coefficients(x, [x], [["1/3"], ["-2/7"]], order=0, precision=256)
    assert c.shape == (2, 1) and exact(c[0, 0].to_quad()) == quad_of_mp(c[0, 0])
    from taylorjit._mp.values import to_quad
    qa = to_quad(c)
    assert qa.dtype == QT and qa.shape == c.shape and exact(qa[1, 0]) == quad_of_mp(c[1, 0])
    from taylorjit._dd.values import to_quad as dd_to_quad      # the dd module's, on mpf too
    assert all(exact(a) == exact(b) for a, b in zip(dd_to_quad(c).ravel(), qa.ravel()))
    assert exact(to_quad("1/3")[()]) == quad_of_mp(Fraction(1, 3))


def test_import_taylorjit_does_not_import_quaddtype():
    code = "import sys, taylorjit; print('numpy_quaddtype' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
