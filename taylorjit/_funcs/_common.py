"""Recurrence pieces shared by several kernels (jitted, inlined into callers)."""
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def quot_rec(tc, k, o, num_k, d):
    """Solve ``b' d = n'`` for b_k (k >= 1), given ``num_k`` = coefficient k of n:
    k b_k d_0 + sum_{j=1}^{k-1} j b_j d_{k-j} = k n_k, so
    b_k = (n_k - (1/k) sum_{j=1}^{k-1} j b_j d_{k-j}) / d_0.
    Used by log, log1p, atan, asin, acos, asinh, acosh, atanh, atan2."""
    acc = 0.0
    for j in range(1, k):
        acc += j * tc[o, j] * tc[d, k - j]
    tc[o, k] = (num_k - acc / k) / tc[d, 0]


@njit(cache=True, nogil=True, inline="always")
def dsum(tc, k, a, b):
    """(1/k) sum_{j=1}^{k} j a_j b_{k-j}: coefficient k of the integral of a' b."""
    acc = 0.0
    for j in range(1, k + 1):
        acc += j * tc[a, j] * tc[b, k - j]
    return acc / k
