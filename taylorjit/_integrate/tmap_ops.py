"""Element-wise operations of a :class:`~.tmap.TaylorMap`: calculus in one
displacement, a guaranteed range bound over a box, and arithmetic with numbers,
per-component arrays or other maps (all truncated at the map's order).

:class:`TaylorMapOps` is the base class of :class:`~.tmap.TaylorMap` (in
:mod:`.tmap`, which holds the representation, evaluation, composition and
inversion); its methods work on the canonical coefficient layout the map
provides (``_basis``, ``_canonical``, ``_new``, ``_lanes``, ``_join``) with the
algorithms of :mod:`.tmap_algebra`.  ``TaylorMap`` is its only subclass, so an
``isinstance(other, TaylorMapOps)`` test is a test for a map.
"""
from __future__ import annotations

import itertools

import numpy as np

__all__ = ["TaylorMapOps"]


class TaylorMapOps:
    """Calculus, range bounds and arithmetic of :class:`~.tmap.TaylorMap` (its base class)."""

    # calculus
    def _var_index(self, i):
        if isinstance(i, str):
            if i not in self.names:
                raise ValueError(f"unknown variable {i!r}: the map's displacements are "
                                 f"{', '.join(self.names)}")
            return self.names.index(i)
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not (
                -self.m <= i < self.m):
            raise ValueError(f"variable must be an index in 0..{self.m - 1} or one of "
                             f"{', '.join(self.names)}, got {i!r}")
        return int(i) % self.m

    def derivative(self, i):
        """Partial derivative in displacement ``i`` (index or name), as a
        truncated power series: the result has the same order, and its terms
        of degree ``order`` are zero (they would need the map to order + 1).

        Examples
        --------
        >>> import taylorjit as tj
        >>> x, y = tj.TaylorMap.identity(["dx", "dy"], 3)
        >>> print((x ** 3 + x * y).derivative("dx"))
        TaylorMap of order 3 in (dx, dy), 1 components, 10 terms each:
          x = 1*dy + 3*dx^2
        """
        alg, bas = self._basis()
        return self._new(alg.deriv_coeffs(self._canonical(), bas, self._var_index(i)))

    def integrate(self, i):
        """Antiderivative in displacement ``i`` (index or name) that vanishes
        at ``d_i = 0``; terms beyond the order are dropped.

        Examples
        --------
        >>> import taylorjit as tj
        >>> x, y = tj.TaylorMap.identity(["dx", "dy"], 3)
        >>> print((1 + x * y).integrate(1))
        TaylorMap of order 3 in (dx, dy), 1 components, 10 terms each:
          x = 1*dy + 0.5*dx*dy^2
        """
        alg, bas = self._basis()
        return self._new(alg.integ_coeffs(self._canonical(), bas, self._var_index(i)))

    # range bound
    def bound(self, box, split=1):
        """Guaranteed enclosure of each component over a box of displacements.

        Parameters
        ----------
        box : float, array (m,) or array (m, 2)
            A radius (``|d_j| <= r`` for every ``j``), one radius per
            displacement, or the ``[lo, hi]`` rows of a general box.
        split : int
            Cut every side of the box into ``split`` equal parts and return
            the hull of the ``split**m`` sub-box enclosures: tighter for
            strongly nonlinear maps (the overestimation falls roughly like
            ``1 / split``), ``split**m`` times the work.

        Returns
        -------
        (lo, hi) : arrays (n,) (``(n, B)`` in batch)
            ``lo_i <= tm(d)[i] <= hi_i`` for every ``d`` in the box.

        The polynomial is re-expanded about the box centre and scaled to
        ``[-1, 1]^m`` in interval arithmetic rounded outward (every operation
        widened by one ulp with ``numpy.nextafter``), each monomial is replaced
        by its exact range and the terms are summed with ``math.fsum``: the
        result never under-estimates, rounding included.  It is exact for an
        affine map and overestimates nonlinear terms by the usual dependency
        effect of interval arithmetic (each monomial taken at its own worst
        case).  It bounds the polynomial, not the truncation error of the map.

        Examples
        --------
        >>> import taylorjit as tj
        >>> x, y = tj.TaylorMap.identity(["dx", "dy"], 2)
        >>> lo, hi = (1 + x - 2 * y).bound(0.1)
        >>> bool(lo[0] <= 0.7 and hi[0] >= 1.3 and hi[0] - lo[0] < 0.6 + 1e-12)
        True
        """
        alg, bas = self._basis()
        box = np.asarray(box, dtype=float)
        m = self.m
        if box.ndim == 0 or box.shape == (m,):
            r = np.broadcast_to(box, (m,))
            if (r < 0).any():
                raise ValueError(f"box radii must be >= 0, got {box}")
            lo, hi = -r, r
        elif box.shape == (m, 2):
            lo, hi = box[:, 0], box[:, 1]
            if (lo > hi).any():
                raise ValueError("box rows must be [lo, hi] with lo <= hi")
        else:
            raise ValueError(f"box has shape {box.shape}; give a radius, {m} radii or an "
                             f"({m}, 2) array of [lo, hi] rows, one per displacement "
                             f"({', '.join(self.names)})")
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            raise ValueError("the box must be finite")
        if isinstance(split, bool) or not isinstance(split, (int, np.integer)) or split < 1 or (
                split ** m > 100_000):
            raise ValueError(f"split must be an integer >= 1 with split**m <= 100000 (m = {m}), "
                             f"got {split!r}")
        c = self._canonical()
        if not np.isfinite(c).all():
            raise ValueError("the map has non-finite coefficients")
        split = int(split)
        # sub-box edges: the first and last are lo and hi, neighbours share their edge
        edges = lo[:, None] + (hi - lo)[:, None] * (np.arange(split + 1) / split)
        edges[:, 0], edges[:, -1] = lo, hi
        B, lanes = self._lanes(c)
        los, his = [], []
        for (q,) in lanes:
            lo_q, hi_q = np.full(self.n, np.inf), np.full(self.n, -np.inf)
            for cell in itertools.product(range(split), repeat=m):
                cell = np.array(cell, dtype=np.int64)
                a, b = alg.bound_coeffs(q, bas, edges[np.arange(m), cell],
                                        edges[np.arange(m), cell + 1])
                lo_q, hi_q = np.minimum(lo_q, a), np.maximum(hi_q, b)
            los.append(lo_q)
            his.append(hi_q)
        return self._join(B, los), self._join(B, his)

    # arithmetic
    def _check_other(self, other):
        if other.m != self.m or other.n != self.n:
            raise ValueError(f"maps do not match: {self.n} components in {self.m} "
                             f"displacements vs {other.n} in {other.m}")
        o = min(self.order, other.order)
        alg, bas = self._basis(o)
        a = self._canonical()[:, :bas.size]
        b = other._canonical()[:, :bas.size]
        if a.ndim != b.ndim:
            a, b = (a[..., None] if a.ndim == 2 else a), (b[..., None] if b.ndim == 2 else b)
        return alg, bas, o, a, b

    def _scalar(self, s, op):
        s = np.asarray(s, dtype=float)
        want = [(), (self.n,)] + ([(self.n, self.batch)] if self.batch else [])
        if s.shape not in want:
            raise TypeError(f"cannot {op} a TaylorMap and an array of shape {s.shape}: use a "
                            f"number, one value per component ({self.n},) or another TaylorMap")
        if s.ndim == 1 and self.batch:
            s = s[:, None]
        return s

    def __add__(self, other):
        if isinstance(other, TaylorMapOps):
            alg, bas, o, a, b = self._check_other(other)
            return self._new(a + b, o)
        try:
            s = self._scalar(other, "add")
        except (TypeError, ValueError):
            return NotImplemented
        c = self._canonical().copy()
        c[:, 0] += s
        return self._new(c)

    __radd__ = __add__

    def __neg__(self):
        return self._new(-self._canonical())

    def __pos__(self):
        return self

    def __sub__(self, other):
        if isinstance(other, TaylorMapOps):
            return self + (-other)
        try:
            return self + (-self._scalar(other, "subtract"))
        except (TypeError, ValueError):
            return NotImplemented

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
        if isinstance(other, TaylorMapOps):
            alg, bas, o, a, b = self._check_other(other)
            return self._new(alg.mul_coeffs(a, b, bas), o)
        try:
            s = self._scalar(other, "multiply")
        except (TypeError, ValueError):
            return NotImplemented
        c = self._canonical()
        return self._new(c * (s[:, None] if s.ndim else s))  # (n, 1) or (n, 1, B)

    __rmul__ = __mul__

    def __truediv__(self, other):
        if isinstance(other, TaylorMapOps):
            return NotImplemented
        try:
            self._scalar(other, "divide")
        except (TypeError, ValueError):
            return NotImplemented
        return self * (1.0 / np.asarray(other, dtype=float))

    def __pow__(self, p):
        if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 0:
            return NotImplemented
        out = self * 0.0 + 1.0
        base = self
        p = int(p)
        while p:
            if p & 1:
                out = out * base
            p >>= 1
            if p:
                base = base * base
        return out
