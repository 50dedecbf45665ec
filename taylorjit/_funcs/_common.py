"""Recurrence pieces shared by several kernels (jitted, inlined into callers).

They take 1-D coefficient rows (``tc[slot]``), not slot numbers: indexing a
row is markedly cheaper in numba than indexing the 2-D ``tc`` (measured 1.5x
on the whole pendulum jet).
"""
from numba import njit


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def quot_rec(o, d, k, num_k):
    """Solve ``b' d = n'`` for b_k (k >= 1), given ``num_k`` = coefficient k of n:
    k b_k d_0 + sum_{j=1}^{k-1} j b_j d_{k-j} = k n_k, so
    b_k = (n_k - (1/k) sum_{j=1}^{k-1} j b_j d_{k-j}) / d_0.
    Used by log, log1p, atan, asin, acos, asinh, acosh, atanh, atan2."""
    acc = 0.0
    for j in range(1, k):
        acc += j * o[j] * d[k - j]
    o[k] = (num_k - acc / k) / d[0]


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def dsum(a, b, k):
    """(1/k) sum_{j=1}^{k} j a_j b_{k-j}: coefficient k of the integral of a' b."""
    acc = 0.0
    for j in range(1, k + 1):
        acc += j * a[j] * b[k - j]
    return acc / k


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def square_rec(a, k):
    """Coefficient k of a^2: the Cauchy product folded by symmetry,
    2 sum_{j=0}^{(k-1)//2} a_j a_{k-j} (+ a_{k/2}^2 when k is even).
    Used by square and by the squared companions of tan, tanh and sigmoid."""
    acc = 0.0
    for j in range(1, (k + 1) // 2):
        acc += a[j] * a[k - j]
    if k > 0:
        acc += a[0] * a[k]          # the newest coefficient last
    acc = 2.0 * acc
    if k % 2 == 0:
        acc += a[k // 2] * a[k // 2]
    return acc
