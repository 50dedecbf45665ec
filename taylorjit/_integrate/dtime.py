"""Double-length time: the ``(hi, lo)`` pair arithmetic of the integrators, in one place.

The integrators keep their time as an unevaluated sum ``hi + lo`` of two doubles,
updated with heyoka's ``dfloat`` addition (error-free transformations), so long and
back-and-forth propagations keep full accuracy.  The same IEEE operations, in the same
order, are needed in three kinds of code, all written here side by side:

* numba functions (``inline="always"``) for the compiled loops
  (:mod:`taylorjit._integrate.stepphases`, :mod:`taylorjit._integrate.steploop`,
  :mod:`taylorjit._integrate.events`): :func:`dd_add`, :func:`dd_sub`, :func:`dd_lt`,
  :func:`dd_add_d`;
* Python floats for the drivers (:func:`py_dd_add`: ``propagate_for``, dense output at
  a relative time);
* an llvmlite builder (:class:`DD`) for the loops written as LLVM code
  (:mod:`taylorjit._integrate.plainloop`, the SIMD batch loop).

Every spelling gives the same bits, so a trajectory does not depend on which loop
ran it.  (The double-double package ``taylorjit._dd.arith`` has the same two-sum
algorithms, ``add`` and ``add_d`` operation for operation, compiled into its own
cached entry points; this module is the integrators' time layer.)
"""
from __future__ import annotations

from numba import njit

__all__ = ["two_sum", "fast_two_sum", "dd_add", "dd_sub", "dd_lt", "dd_add_d", "py_dd_add",
           "DD"]


# --------------------------------------------------------------------------- numba (inlined)
@njit(inline="always", error_model="numpy")
def two_sum(a, b):
    """``s + e = a + b`` exactly, ``s = fl(a + b)`` (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@njit(inline="always", error_model="numpy")
def fast_two_sum(a, b):
    """``s + e = a + b`` exactly when ``|a| >= |b|`` (Dekker)."""
    s = a + b
    return s, b - (s - a)


@njit(inline="always", error_model="numpy")
def dd_add(ahi, alo, bhi, blo):
    """``(ahi, alo) + (bhi, blo)`` as heyoka's ``dfloat`` operator+."""
    xh, yh = two_sum(ahi, bhi)
    xl, yl = two_sum(alo, blo)
    yh += xl
    xh, yh = fast_two_sum(xh, yh)
    yh += yl
    return fast_two_sum(xh, yh)


@njit(inline="always", error_model="numpy")
def dd_sub(ahi, alo, bhi, blo):
    """``(ahi, alo) - (bhi, blo)``: :func:`dd_add` of the negated pair."""
    return dd_add(ahi, alo, -bhi, -blo)


@njit(inline="always", error_model="numpy")
def dd_lt(ahi, alo, bhi, blo):
    """``(ahi, alo) < (bhi, blo)`` for normalised pairs."""
    return ahi < bhi or (ahi == bhi and alo < blo)


@njit(inline="always", error_model="numpy")
def dd_add_d(ahi, alo, b):
    """(ahi, alo) + b as heyoka's dfloat addition with b = (b, 0)."""
    xh, yh = two_sum(ahi, b)
    yh += alo
    s = xh + yh
    yh = yh - (s - xh)
    return s, yh


# --------------------------------------------------------------------------- Python floats
def py_dd_add(ahi, alo, bhi, blo):
    """heyoka's dfloat addition (Python floats), as the compiled ``dd_add``."""
    s = ahi + bhi
    bb = s - ahi
    yh = (ahi - (s - bb)) + (bhi - bb)
    s2 = alo + blo
    bb2 = s2 - alo
    yl = (alo - (s2 - bb2)) + (blo - bb2)
    xh = s
    yh += s2
    t = xh + yh
    yh = yh - (t - xh)
    xh = t
    yh += yl
    t = xh + yh
    return t, yh - (t - xh)


# --------------------------------------------------------------------------- LLVM builder
class DD:
    """Double-double arithmetic written with an llvmlite builder: the IEEE operations of
    :func:`dd_add` / :func:`dd_sub` / :func:`dd_lt`, in the same order (the LLVM loops
    keep double-length times bit for bit as the numba loops do)."""

    def __init__(self, b):
        self.b = b

    def two_sum(self, x, y):
        b = self.b
        s = b.fadd(x, y)
        bb = b.fsub(s, x)
        return s, b.fadd(b.fsub(x, b.fsub(s, bb)), b.fsub(y, bb))

    def fast_two_sum(self, x, y):
        b = self.b
        s = b.fadd(x, y)
        return s, b.fsub(y, b.fsub(s, x))

    def add(self, ahi, alo, bhi, blo):
        b = self.b
        xh, yh = self.two_sum(ahi, bhi)
        xl, yl = self.two_sum(alo, blo)
        yh = b.fadd(yh, xl)
        xh, yh = self.fast_two_sum(xh, yh)
        yh = b.fadd(yh, yl)
        return self.fast_two_sum(xh, yh)

    def sub(self, ahi, alo, bhi, blo):
        return self.add(ahi, alo, self.b.fneg(bhi), self.b.fneg(blo))

    def lt(self, ahi, alo, bhi, blo):
        b = self.b
        return b.or_(b.fcmp_ordered("<", ahi, bhi),
                     b.and_(b.fcmp_ordered("==", ahi, bhi), b.fcmp_ordered("<", alo, blo)))
