"""Recurrence pieces shared by several kernels (jitted, inlined into callers).

They take 1-D coefficient rows (``tc[slot]``), not slot numbers: indexing a
row is markedly cheaper in numba than indexing the 2-D ``tc`` (measured 1.5x
on the whole pendulum jet).

Summation order.  Every convolution sum of a recurrence at order k is added in
one fixed *blocked* order (:func:`psum`, :func:`pwsum`): the inner terms,
whose coefficients are the oldest, in four interleaved partial sums
(``(s0 + s1) + (s2 + s3)``), then the two end terms, which hold the most recent
coefficients of the previous order, and finally (in the callers) the terms with
the newest coefficient of this order.  The order is the same for every kernel
kind, so the kinds agree to the last bit; in straight-line (unrolled) code it
makes the chain of dependent additions per order ~k/4 + 3 long instead of k
(measured: Lorenz jet 0.33 -> 0.22 us, pendulum 0.47 -> 0.36 us).

Every product that is added to a sum is a fused multiply-add (:func:`fma`,
``llvm.fma.f64``: one rounding), in the compiled kernels and in the traced
(unrolled, group) ones alike; the tracer turns the calls into ``fma`` nodes.
"""
import math
from fractions import Fraction

from numba import njit, types
from numba.extending import intrinsic


def fma_exact(a, b, c):
    """``a * b + c`` rounded once (IEEE fusedMultiplyAdd), in Python: the value of
    :func:`fma` for numbers (the tracer folds constant operands with it)."""
    a, b, c = float(a), float(b), float(c)
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
        return a * b + c            # inf/nan: the same as the fused operation
    r = Fraction(a) * Fraction(b) + Fraction(c)
    if r == 0:                      # the sign of an exact zero: as IEEE's a * b + c
        return a * b + c
    return float(r)                 # Fraction -> float rounds correctly


@intrinsic
def _llvm_fma(typingctx, a, b, c):
    if not all(isinstance(x, (types.Float, types.Integer)) for x in (a, b, c)):
        return None

    def codegen(context, builder, signature, args):
        from llvmlite import ir

        f64 = ir.DoubleType()
        vals = [context.cast(builder, v, t, types.float64)
                for v, t in zip(args, signature.args)]
        fn = builder.module.declare_intrinsic("llvm.fma", [f64], ir.FunctionType(f64, [f64] * 3))
        return builder.call(fn, vals)

    return types.float64(a, b, c), codegen


@njit(cache=True, nogil=True, error_model="numpy")
def fma(a, b, c):
    """``a * b + c`` with one rounding (``llvm.fma.f64``; the tracer emits the same
    intrinsic, so every kernel kind agrees to the last bit).  Not ``inline="always"``:
    numba's IR-level inlining of the hundreds of calls made every kernel's one-time
    compilation ~10-25% slower; LLVM inlines this call anyway (the VM's Lorenz jets
    ran as fast)."""
    return _llvm_fma(a, b, c)


# the blocked sums are inlined into every kernel: called instead, they cut the VM's one-time
# compilation from ~31 s to ~17 s but slowed the VM's jets (Lorenz 2.0 -> 2.8 us)


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def psum(a, b, k, lo, hi):
    """sum_{j=lo}^{hi-1} a_j b_{k-j}, in the blocked order (module docstring)."""
    n = hi - lo
    if n <= 0:
        return 0.0
    if n == 1:
        return a[lo] * b[k - lo]
    if n == 2:
        return fma(a[hi - 1], b[k - hi + 1], a[lo] * b[k - lo])
    j = lo + 1
    end = hi - 1
    if n < 6:
        acc = a[j] * b[k - j]
        j += 1
        while j < end:
            acc = fma(a[j], b[k - j], acc)
            j += 1
    else:
        s0 = a[j] * b[k - j]
        s1 = a[j + 1] * b[k - j - 1]
        s2 = a[j + 2] * b[k - j - 2]
        s3 = a[j + 3] * b[k - j - 3]
        j += 4
        while j + 3 < end:
            s0 = fma(a[j], b[k - j], s0)
            s1 = fma(a[j + 1], b[k - j - 1], s1)
            s2 = fma(a[j + 2], b[k - j - 2], s2)
            s3 = fma(a[j + 3], b[k - j - 3], s3)
            j += 4
        while j < end:
            s0 = fma(a[j], b[k - j], s0)
            j += 1
        acc = (s0 + s1) + (s2 + s3)
    return fma(a[hi - 1], b[k - hi + 1], fma(a[lo], b[k - lo], acc))


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def pwsum(a, b, k, lo, hi):
    """sum_{j=lo}^{hi-1} j a_j b_{k-j}, in the blocked order (module docstring)."""
    n = hi - lo
    if n <= 0:
        return 0.0
    if n == 1:
        return lo * a[lo] * b[k - lo]
    if n == 2:
        return fma((hi - 1) * a[hi - 1], b[k - hi + 1], lo * a[lo] * b[k - lo])
    j = lo + 1
    end = hi - 1
    if n < 6:
        acc = j * a[j] * b[k - j]
        j += 1
        while j < end:
            acc = fma(j * a[j], b[k - j], acc)
            j += 1
    else:
        s0 = j * a[j] * b[k - j]
        s1 = (j + 1) * a[j + 1] * b[k - j - 1]
        s2 = (j + 2) * a[j + 2] * b[k - j - 2]
        s3 = (j + 3) * a[j + 3] * b[k - j - 3]
        j += 4
        while j + 3 < end:
            s0 = fma(j * a[j], b[k - j], s0)
            s1 = fma((j + 1) * a[j + 1], b[k - j - 1], s1)
            s2 = fma((j + 2) * a[j + 2], b[k - j - 2], s2)
            s3 = fma((j + 3) * a[j + 3], b[k - j - 3], s3)
            j += 4
        while j < end:
            s0 = fma(j * a[j], b[k - j], s0)
            j += 1
        acc = (s0 + s1) + (s2 + s3)
    return fma((hi - 1) * a[hi - 1], b[k - hi + 1], fma(lo * a[lo], b[k - lo], acc))


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def quot_rec(o, d, k, num_k):
    """Solve ``b' d = n'`` for b_k (k >= 1), given ``num_k`` = coefficient k of n:
    k b_k d_0 + sum_{j=1}^{k-1} j b_j d_{k-j} = k n_k, so
    b_k = (n_k - (1/k) sum_{j=1}^{k-1} j b_j d_{k-j}) / d_0.
    Used by log, log1p, atan, asin, acos, asinh, acosh, atanh, atan2."""
    o[k] = (num_k - pwsum(o, d, k, 1, k) / k) / d[0]


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def dsum(a, b, k):
    """(1/k) sum_{j=1}^{k} j a_j b_{k-j}: coefficient k of the integral of a' b
    (k >= 1; the newest coefficient, a_k, added last)."""
    return fma(k * a[k], b[0], pwsum(a, b, k, 1, k)) / k


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def square_rec(a, k):
    """Coefficient k of a^2: the Cauchy product folded by symmetry,
    2 sum_{j=0}^{(k-1)//2} a_j a_{k-j} (+ a_{k/2}^2 when k is even).
    Used by square and by the squared companions of tan, tanh and sigmoid."""
    if k == 0:
        return a[0] * a[0]
    acc = fma(a[0], a[k], psum(a, a, k, 1, (k + 1) // 2))    # the newest coefficient last
    acc = 2.0 * acc
    if k % 2 == 0:
        acc = fma(a[k // 2], a[k // 2], acc)
    return acc
