"""The fused multiply-add of the recurrences (``_funcs._common.fma``): one rounding,
the same value compiled (numba, llvm.fma), in Python (the tracer's constant folding)
and against mpmath's exact product-sum."""
import math

import mpmath
import numpy as np
from numba import njit

from taylorjit._funcs._common import fma, fma_exact


@njit(cache=False)
def _fma_many(a, b, c, out):
    for i in range(a.shape[0]):
        out[i] = fma(a[i], b[i], c[i])


def _exact(a, b, c):
    with mpmath.workprec(4000):
        r = mpmath.mpf(a) * mpmath.mpf(b) + mpmath.mpf(c)
    return float(r) if r != 0 else 0.0       # mpf -> float rounds to nearest


def test_fma_single_rounding():
    # 0.1 * 10 - 1: plain arithmetic gives 0, the fused value is the rounding error of 0.1
    assert fma_exact(0.1, 10.0, -1.0) == 2.0 ** -54
    assert 0.1 * 10.0 - 1.0 == 0.0
    out = np.zeros(1)
    _fma_many(np.array([0.1]), np.array([10.0]), np.array([-1.0]), out)
    assert out[0] == 2.0 ** -54


def test_fma_compiled_python_mpmath_agree():
    rng = np.random.default_rng(7)
    n = 3000
    a = rng.normal(size=n) * 10.0 ** rng.integers(-20, 20, n)
    b = rng.normal(size=n) * 10.0 ** rng.integers(-20, 20, n)
    c = -a * b * (1 + rng.normal(size=n) * 1e-12)      # heavy cancellation half the time
    c[::2] = rng.normal(size=n // 2) * 10.0 ** rng.integers(-40, 40, n // 2)
    out = np.zeros(n)
    _fma_many(a, b, c, out)
    py = np.array([fma_exact(x, y, z) for x, y, z in zip(a, b, c)])
    ref = np.array([_exact(x, y, z) for x, y, z in zip(a, b, c)])
    assert np.array_equal(out, ref)
    assert np.array_equal(py, ref)
    assert np.count_nonzero(a * b + c != ref) > n // 10     # the test can tell the difference


def test_fma_special_values():
    out = np.zeros(4)
    a = np.array([math.inf, math.nan, 1.0, 0.0])
    b = np.array([0.0, 1.0, math.inf, -1.0])
    c = np.array([1.0, 1.0, -math.inf, 0.0])
    _fma_many(a, b, c, out)
    py = [fma_exact(x, y, z) for x, y, z in zip(a, b, c)]
    assert all(math.isnan(v) for v in out[:3]) and all(math.isnan(v) for v in py[:3])
    assert out[3] == 0.0 and py[3] == 0.0
