"""Reading a variational state: dense sensitivity tensors and Taylor maps.

The augmented state of a :class:`~taylorjit._integrate.variational.VarODESys` holds the
normalised derivatives ``c_{i,alpha} = D^alpha x_i / alpha!``.  This module
turns it into what users ask for:

* :func:`sensitivity` -- the dense, symmetric tensor of *true* partial
  derivatives of one order, shape ``(n, m, ..., m)``;
* :class:`TaylorMap` -- the order-``k`` polynomial
  ``x_i(w + dw) ~ sum_{|alpha| <= k} c_{i,alpha} dw^alpha``, evaluated for one
  or many displacements and printable;
* :class:`VariationalMixin` -- the same as methods of an integrator
  (``ta.sensitivity(order)``, ``ta.taylor_map``, ``ta.eval_taylor_map(dw)``,
  ``ta.get_vslice``, ``ta.get_mindex``, ``ta.event_sensitivity(g)``).

All functions accept a state of shape ``(dim,)`` or, in batch mode,
``(dim, B)``; the batch axis stays last in the results.
"""
from __future__ import annotations

import functools
import itertools

import numpy as np

from .variational import VarODESys, _alpha_factorial, event_sensitivity, evaluator, multi_indices

__all__ = ["sensitivity", "taylor_map", "eval_taylor_map", "TaylorMap", "VariationalMixin",
           "require_variational"]


def require_variational(vsys, what="sensitivities"):
    """Raise a clear TypeError unless ``vsys`` is a :class:`VarODESys`."""
    if not isinstance(vsys, VarODESys):
        raise TypeError(f"{what} need a variational system: this integrator was built from a "
                        "plain system. Build it from tj.var_ode_sys(sys, wrt=..., order=k) "
                        "instead, e.g. tj.TaylorAdaptive(tj.var_ode_sys(sys, 'vars', 1), x0)")
    return vsys


def _check_state(state, vsys):
    state = np.asarray(state, dtype=float)
    if state.ndim not in (1, 2) or state.shape[0] != vsys.dim:
        raise ValueError(f"state has shape {state.shape} but the variational system has "
                         f"{vsys.dim} variables: pass the full augmented state (dim, ) or "
                         "(dim, batch)")
    return state


def _dense_layout(vsys, order):
    """Positions in the state and factorial factors of the dense tensor entries."""
    cache = vsys.__dict__.setdefault("_dense_cache", {})
    hit = cache.get(order)
    if hit is None:
        n, m = vsys.n_orig, vsys.m
        pos = np.empty((n, m ** order), dtype=np.int64)
        fac = np.empty(m ** order)
        for flat, idx in enumerate(itertools.product(range(m), repeat=order)):
            alpha = [0] * m
            for j in idx:
                alpha[j] += 1
            alpha = tuple(alpha)
            fac[flat] = _alpha_factorial(alpha)
            for i in range(n):
                pos[i, flat] = vsys._pos[(i, alpha)]
        hit = cache[order] = (pos, fac)
    return hit


def sensitivity(state, vsys, order=1):
    """Dense tensor of the true partial derivatives of one order.

    Parameters
    ----------
    state : array (dim,) or (dim, B)
        Augmented state (e.g. ``ta.state`` after a propagation).
    vsys : VarODESys
    order : int
        ``1 <= order <= vsys.order``.

    Returns
    -------
    ndarray, shape ``(n,) + (m,) * order`` (``+ (B,)`` in batch)
        ``out[i, j1, .., jk] = d^k x_i / dw_j1 .. dw_jk`` (not divided by any
        factorial; symmetric in ``j1..jk``).  For ``order=1`` and
        ``wrt="vars"`` this is the state-transition matrix.

    Examples
    --------
    >>> import taylorjit as tj, numpy as np
    >>> from taylorjit._integrate.variational import var_ode_sys
    >>> from taylorjit._integrate.taylor_map import sensitivity
    >>> x = tj.var("x")
    >>> vsys = var_ode_sys([(x, x)], wrt="vars", order=2)
    >>> sensitivity(vsys.initial_state([2.0]), vsys, order=1)
    array([[1.]])
    """
    require_variational(vsys)
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not (
            1 <= order <= vsys.order):
        raise ValueError(f"order must be an integer in 1..{vsys.order} (the order of the "
                         f"variational system), got {order!r}")
    state = _check_state(state, vsys)
    pos, fac = _dense_layout(vsys, int(order))
    extra = state.shape[1:]
    fac = fac.reshape((1, -1) + (1,) * len(extra))
    out = state[pos] * fac
    return out.reshape((vsys.n_orig,) + (vsys.m,) * int(order) + extra)


class TaylorMap:
    """The order-``k`` Taylor map of the state in the wrt displacements.

    ``x_i(w + dw) = sum_{|alpha| <= k} coeffs[i, a] * dw^monomials[a]``
    up to ``O(|dw|^(k+1))``.  Evaluate with ``tm(dw)`` / ``tm.eval(dw)``;
    ``print(tm)`` lists the polynomials.

    Map algebra, truncated at the order: :meth:`compose` (also ``tm @ other``
    and ``tm(other)``), :meth:`inverse`, :meth:`derivative`, :meth:`integrate`,
    :meth:`bound` (guaranteed range over a box), ``+ - * / **`` with numbers,
    per-component arrays or maps, :meth:`truncate`, :attr:`constant_part`,
    :attr:`linear_part`, ``tm[i]``, :meth:`stack`; :meth:`identity` starts
    maps built by hand.  The algorithms are in
    ``taylorjit._integrate.tmap_algebra``.

    Attributes
    ----------
    coeffs : ndarray (n, K) (``(n, K, B)`` in batch)
        Normalised coefficients (``D^alpha x_i / alpha!``).
    monomials : list of tuple
        The ``K`` multi-indices, by increasing total order (the zero one first).
    names : list of str
        Names of the displacements (``dx``, ``dpar[0]``, ``dt0``).
    components : list of str
        Names of the state variables.
    order : int
    """

    def __init__(self, coeffs, monomials, names, components, order):
        self.coeffs = coeffs
        self.monomials = monomials
        self.names = names
        self.components = components
        self.order = order

    @functools.cached_property
    def _tree(self):
        """Monomial recursion ``mono[a] = mono[parent[a]] * dw[var[a]]``, or
        ``None`` when the monomials are not listed parents first (then
        :meth:`eval` uses the canonical layout)."""
        m = len(self.names)
        index = {a: q for q, a in enumerate(self.monomials)}
        parent = np.zeros(len(self.monomials), dtype=np.int64)
        var = np.zeros(len(self.monomials), dtype=np.int64)
        if not self.monomials or any(self.monomials[0]):
            return None
        for q, a in enumerate(self.monomials[1:], start=1):
            j = next((j for j in range(m) if a[j]), None)
            p = None if j is None else index.get(a[:j] + (a[j] - 1,) + a[j + 1:])
            if p is None or p >= q:
                return None
            parent[q] = p
            var[q] = j
        return parent, var

    @property
    def n(self):
        return self.coeffs.shape[0]

    @property
    def m(self):
        return len(self.names)

    def eval(self, delta):
        """Evaluate the map at displacement(s) ``delta``.

        Parameters
        ----------
        delta : array (..., m) (``(..., m, B)`` in batch)
            One displacement of the wrt quantities, or a stack of them.

        Returns
        -------
        ndarray (..., n) (``(..., n, B)`` in batch)
        """
        delta = np.asarray(delta, dtype=float)
        batch = self.coeffs.ndim == 3
        if delta.ndim == 1 and not batch:
            return self._eval_one(delta)
        ax = -2 if batch else -1
        if delta.ndim < (2 if batch else 1) or delta.shape[ax] != self.m or (
                batch and delta.shape[-1] != self.coeffs.shape[2]):
            want = f"(..., {self.m}, {self.coeffs.shape[2]})" if batch else f"(..., {self.m})"
            raise ValueError(f"displacement has shape {delta.shape}; expected {want}: one value "
                             f"per wrt quantity ({', '.join(self.names)})")
        dw = np.moveaxis(delta, ax, 0)                     # (m, ...)
        coeffs, tree = self.coeffs, self._tree
        if tree is None:
            coeffs = self._canonical()
            bas = self._basis()[1]
            tree = bas.parent, bas.var
        parent, var = tree
        mono = np.empty((coeffs.shape[1],) + dw.shape[1:])
        mono[0] = 1.0
        for q in range(1, len(mono)):
            mono[q] = mono[parent[q]] * dw[var[q]]
        if batch:  # mono (K, ..., B), coeffs (n, K, B)
            out = np.einsum("nkb,k...b->n...b", coeffs, mono)
            return np.moveaxis(out, 0, -2)
        out = np.tensordot(coeffs, mono, axes=([1], [0]))  # (n, ...)
        return np.moveaxis(out, 0, -1)

    def _eval_one(self, dw):
        """:meth:`eval` at one displacement ``dw`` (m,) of a scalar map: the same
        operations (monomials by the same products, then ``coeffs . mono``), the
        monomials in compiled code instead of one numpy call per monomial
        (pendulum at order 3: ~40 -> ~4 us a call)."""
        if dw.shape[0] != self.m:
            raise ValueError(f"displacement has shape {dw.shape}; expected (..., {self.m}): one "
                             f"value per wrt quantity ({', '.join(self.names)})")
        coeffs, tree = self.coeffs, self._tree
        if tree is None:
            coeffs = self._canonical()
            bas = self._basis()[1]
            tree = bas.parent, bas.var
        parent, var = tree
        mono = np.empty(coeffs.shape[1])
        _monomials_entry()(np.ascontiguousarray(parent, dtype=np.int64),
                           np.ascontiguousarray(var, dtype=np.int64),
                           np.ascontiguousarray(dw), mono)
        return np.dot(coeffs, mono)

    def __call__(self, delta):
        """``tm(delta)`` evaluates at displacement(s) (see :meth:`eval`);
        ``tm(other)`` with a :class:`TaylorMap` composes (see :meth:`compose`)."""
        if isinstance(delta, TaylorMap):
            return self.compose(delta)
        return self.eval(delta)

    # ------------------------------------------------------------------ algebra
    # The algorithms live in taylorjit._integrate.tmap_algebra (imported on first use).
    __array_ufunc__ = None          # ndarray <op> TaylorMap defers to the map's operators

    @property
    def batch(self):
        """Batch size, or ``None`` for a scalar map."""
        return self.coeffs.shape[2] if np.ndim(self.coeffs) == 3 else None

    @property
    def constant_part(self):
        """The map at zero displacement, shape ``(n,)`` (``(n, B)`` in batch)."""
        return np.array(self._canonical()[:, 0])

    @property
    def linear_part(self):
        """The Jacobian at zero displacement, shape ``(n, m)`` (``(n, m, B)``):
        ``linear_part[i, j] = d x_i / d dw_j``."""
        if self.order < 1:
            return np.zeros((self.n, self.m) + self.coeffs.shape[2:])
        return np.array(self._canonical()[:, 1:1 + self.m])

    def _basis(self, order=None):
        from . import tmap_algebra
        return tmap_algebra, tmap_algebra.basis(self.m, self.order if order is None else order)

    def _canonical(self):
        """Coefficients in the canonical layout of ``basis(m, order)`` (graded,
        descending lexicographic: the layout of :func:`taylor_map`); monomials
        missing from ``self.monomials`` get zero coefficients."""
        coeffs = np.asarray(self.coeffs, dtype=float)
        if coeffs.ndim not in (2, 3) or coeffs.shape[:2] != (len(self.components),
                                                              len(self.monomials)):
            raise ValueError(f"coeffs has shape {coeffs.shape}; expected (n, K) or (n, K, B) "
                             f"with n = {len(self.components)} components and K = "
                             f"{len(self.monomials)} monomials")
        perm = self.__dict__.get("_perm", False)
        if perm is False:
            alg, bas = self._basis()
            exps = np.array(self.monomials, dtype=np.int64).reshape(len(self.monomials), -1)
            if exps.shape[1] != self.m or (exps < 0).any() or (exps.sum(axis=1) > self.order).any():
                raise ValueError(f"monomials must be multi-indices over {self.m} variables of "
                                 f"degree <= order = {self.order}")
            rank = bas.rank(exps)
            if len(np.unique(rank)) != len(rank):
                raise ValueError("monomials contain duplicates")
            perm = None if np.array_equal(rank, np.arange(bas.size)) else rank
            self.__dict__["_perm"] = perm
        if perm is None:
            return coeffs
        alg, bas = self._basis()
        out = np.zeros((coeffs.shape[0], bas.size) + coeffs.shape[2:])
        out[:, perm] = coeffs
        return out

    def _new(self, coeffs, order=None, names=None, components=None):
        alg, bas = self._basis(order)
        return TaylorMap(coeffs, bas.monomials, list(self.names if names is None else names),
                         list(self.components if components is None else components),
                         self.order if order is None else order)

    @staticmethod
    def _lanes(*arrays):
        """Split coefficient arrays into batch lanes (broadcasting scalar maps)."""
        sizes = {a.shape[2] for a in arrays if a.ndim == 3}
        if len(sizes) > 1:
            raise ValueError(f"batch sizes differ: {sorted(sizes)}")
        if not sizes:
            return None, [arrays]
        B = sizes.pop()
        return B, [tuple(a[:, :, b] if a.ndim == 3 else a for a in arrays) for b in range(B)]

    @staticmethod
    def _join(B, outs):
        return outs[0] if B is None else np.stack(outs, axis=-1)

    def truncate(self, order):
        """The same map truncated at a lower ``order`` (terms of higher degree dropped).

        Examples
        --------
        >>> import taylorjit as tj
        >>> x, = tj.TaylorMap.identity(["dx"], 4)
        >>> print(((1 + x) ** 3).truncate(2))
        TaylorMap of order 2 in (dx), 1 components, 3 terms each:
          x = 1 + 3*dx + 3*dx^2
        """
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not (
                0 <= order <= self.order):
            raise ValueError(f"order must be an integer in 0..{self.order}, got {order!r}")
        alg, bas = self._basis(int(order))
        return self._new(self._canonical()[:, :bas.size].copy(), int(order))

    # composition and inversion
    def compose(self, other):
        """The composition ``self o other``, truncated at the lower of the two orders.

        ``other`` gives one value per displacement of ``self`` (``other.n ==
        self.m``); the result is a map in ``other``'s displacements with
        ``self``'s components: ``(self o other)(d) = self(other(d))`` up to
        terms of degree ``> order``.  ``other``'s constant part is plugged in
        as it is (``self`` is re-expanded about it exactly); to chain flow
        maps ``M2`` (expanded about ``M1``'s end point) after ``M1``, compose
        with the deviation ``M1 - M1.constant_part``.  Also written
        ``self @ other`` and ``self(other)``.

        Method: Horner's scheme on the monomial tree, vectorised over
        truncated-product index tables (see ``taylorjit._integrate.tmap_algebra``).

        Examples
        --------
        >>> import taylorjit as tj
        >>> x, = tj.TaylorMap.identity(["dx"], 3)
        >>> print((x + x ** 2) @ (2 * x))
        TaylorMap of order 3 in (dx), 1 components, 4 terms each:
          x = 2*dx + 4*dx^2
        """
        if not isinstance(other, TaylorMap):
            raise TypeError(f"compose needs a TaylorMap, got {type(other).__name__}; to "
                            "evaluate at numbers call tm(delta)")
        if other.n != self.m:
            raise ValueError(f"cannot compose: this map has {self.m} displacements "
                             f"({', '.join(self.names)}) but the inner map has {other.n} "
                             "components; the inner map must give one value per displacement")
        o = min(self.order, other.order)
        alg, bp = self._basis(o)
        bn = alg.basis(other.m, o)
        B, lanes = self._lanes(self._canonical(), other._canonical())
        outs = [alg.compose_coeffs(p, q, bp, bn, o) for p, q in lanes]
        return other._new(self._join(B, outs), o, names=other.names, components=self.components)

    def __matmul__(self, other):
        if not isinstance(other, TaylorMap):
            return NotImplemented
        return self.compose(other)

    def inverse(self):
        """The inverse of ``dw -> self(dw) - self.constant_part``, truncated at the order.

        Needs a square map (``n == m``) with an invertible linear part.  The
        result maps deviations of the components from the constant part back
        to the displacements: ``self.compose(self.inverse())`` is
        ``constant_part + identity`` and
        ``self.inverse().compose(self - self.constant_part)`` is the identity,
        both up to rounding.  Method: Berz's fixed point ``M^-1 = L^-1 o (I -
        N o M^-1)`` for ``M = L + N`` (linear part ``L``), one iteration per
        order.

        Examples
        --------
        >>> import taylorjit as tj
        >>> x, = tj.TaylorMap.identity(["dx"], 3)
        >>> print((x + x ** 2).inverse())
        TaylorMap of order 3 in (dx), 1 components, 4 terms each:
          dx = 1*dx - 1*dx^2 + 2*dx^3
        """
        if self.n != self.m:
            raise ValueError(f"only a square map can be inverted: this one has {self.n} "
                             f"components and {self.m} displacements")
        alg, bas = self._basis()
        B, lanes = self._lanes(self._canonical())
        outs = [alg.inverse_coeffs(c, bas) for (c,) in lanes]
        return self._new(self._join(B, outs), names=["d" + c for c in self.components],
                         components=self.names)

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
        if isinstance(other, TaylorMap):
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
        if isinstance(other, TaylorMap):
            return self + (-other)
        try:
            return self + (-self._scalar(other, "subtract"))
        except (TypeError, ValueError):
            return NotImplemented

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
        if isinstance(other, TaylorMap):
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
        if isinstance(other, TaylorMap):
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

    # components
    def __getitem__(self, i):
        """One component (``tm[i]``) or several (``tm[[0, 2]]``, ``tm[1:]``) as a map."""
        idx = np.arange(self.n)[i]
        idx = np.atleast_1d(idx)
        return self._new(self._canonical()[idx], components=[self.components[j] for j in idx])

    def __iter__(self):
        for i in range(self.n):
            yield self[i]

    @classmethod
    def stack(cls, maps):
        """The maps' components side by side (same displacements; the lowest order).

        Examples
        --------
        >>> import taylorjit as tj
        >>> x, y = tj.TaylorMap.identity(["dx", "dy"], 2)
        >>> tj.TaylorMap.stack([x * y, x + y]).n
        2
        """
        maps = list(maps)
        if not maps or not all(isinstance(t, TaylorMap) for t in maps):
            raise TypeError("stack needs a non-empty list of TaylorMaps")
        m = maps[0].m
        if any(t.m != m for t in maps):
            raise ValueError("stack needs maps in the same displacements")
        o = min(t.order for t in maps)
        alg, bas = maps[0]._basis(o)
        cs = [t._canonical()[:, :bas.size] for t in maps]
        if len({c.ndim for c in cs}) > 1:
            B = next(c.shape[2] for c in cs if c.ndim == 3)
            cs = [c if c.ndim == 3 else np.repeat(c[..., None], B, axis=2) for c in cs]
        return maps[0]._new(np.concatenate(cs, axis=0), o,
                            components=[s for t in maps for s in t.components])

    @classmethod
    def identity(cls, names, order, constant=None):
        """The identity map ``x_j = constant_j + d_j``, to build polynomial maps by hand.

        Parameters
        ----------
        names : int or list of str
            Number of displacements (named ``dx0, dx1, ...``) or their names.
            A name ``"dq"`` gives the component ``"q"``.
        order : int
        constant : array (m,), optional
            The expansion point (default zero).

        Examples
        --------
        >>> import taylorjit as tj
        >>> x, v = tj.TaylorMap.identity(["dx", "dv"], 3, constant=[1.0, 0.0])
        >>> print(x * v)
        TaylorMap of order 3 in (dx, dv), 1 components, 10 terms each:
          x = 1*dv + 1*dx*dv
        """
        if isinstance(names, (int, np.integer)) and not isinstance(names, bool):
            names = [f"dx{j}" for j in range(int(names))]
        names = [str(s) for s in names]
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 0:
            raise ValueError(f"order must be an integer >= 0, got {order!r}")
        from . import tmap_algebra
        m = len(names)
        bas = tmap_algebra.basis(m, int(order))
        c = np.zeros((m, bas.size))
        if order >= 1:
            c[:, 1:1 + m] = np.eye(m)
        if constant is not None:
            constant = np.asarray(constant, dtype=float)
            if constant.shape != (m,):
                raise ValueError(f"constant has shape {constant.shape}; expected ({m},)")
            c[:, 0] = constant
        comps = [s[1:] if len(s) > 1 and s.startswith("d") else s for s in names]
        return cls(c, bas.monomials, names, comps, int(order))

    def _term(self, c, alpha):
        mono = "*".join(self.names[j] + (f"^{a}" if a > 1 else "")
                        for j, a in enumerate(alpha) if a)
        return f"{c:.10g}" + (f"*{mono}" if mono else "")

    def __str__(self, max_terms=12, max_components=12):
        lines = [f"TaylorMap of order {self.order} in ({', '.join(self.names)}), "
                 f"{self.n} components, {len(self.monomials)} terms each:"]
        if self.coeffs.ndim == 3:
            lines[0] += f" batch of {self.coeffs.shape[2]} (showing element 0)"
        c = self.coeffs if self.coeffs.ndim == 2 else self.coeffs[:, :, 0]
        for i in range(min(self.n, max_components)):
            terms = [self._term(c[i, q], a) for q, a in enumerate(self.monomials) if c[i, q] != 0.0]
            more = len(terms) - max_terms
            text = " + ".join(terms[:max_terms]).replace("+ -", "- ") or "0"
            if more > 0:
                text += f" + ... ({more} more terms)"
            lines.append(f"  {self.components[i]} = {text}")
        if self.n > max_components:
            lines.append(f"  ... ({self.n - max_components} more components)")
        return "\n".join(lines)

    def __repr__(self):
        return (f"<TaylorMap order={self.order} n={self.n} m={self.m} "
                f"terms={len(self.monomials)}>")


_MONO = []


def _monomials_entry():
    """The compiled ``mono[q] = mono[parent[q]] * dw[var[q]]`` (``mono[0] = 1``),
    the recursion of :meth:`TaylorMap.eval`, without numba's dispatch."""
    if not _MONO:
        from numba import njit, types

        from .._numba_compat import entry_point

        i1, a1 = types.int64[::1], types.float64[::1]

        def mono_rec(parent, var, dw, mono):
            mono[0] = 1.0
            for q in range(1, mono.shape[0]):
                mono[q] = mono[parent[q]] * dw[var[q]]

        fn = njit(types.void(i1, i1, a1, a1), cache=True, nogil=True,
                  error_model="numpy")(mono_rec)
        _MONO.append(entry_point(fn))
    return _MONO[0]


def _map_layout(vsys):
    """``(monomials, pos, names, components)`` of :func:`taylor_map` for ``vsys``
    (cached on it: built by Python loops over every augmented variable)."""
    hit = vsys.__dict__.get("_tmap_layout")
    if hit is None:
        n, m = vsys.n_orig, vsys.m
        monomials = [a for k in range(vsys.order + 1) for a in multi_indices(m, k)]
        pos = np.array([[vsys._pos[(i, a)] for a in monomials] for i in range(n)],
                       dtype=np.int64)
        names = ["d" + w for w in vsys.wrt_names()]
        comps = [str(v) for v in vsys.state_vars[:n]]
        hit = vsys.__dict__["_tmap_layout"] = (monomials, pos, names, comps)
    return hit


def taylor_map(state, vsys) -> TaylorMap:
    """The :class:`TaylorMap` stored in an augmented state.

    Examples
    --------
    >>> import taylorjit as tj
    >>> from taylorjit._integrate.variational import var_ode_sys
    >>> from taylorjit._integrate.taylor_map import taylor_map
    >>> x = tj.var("x")
    >>> vsys = var_ode_sys([(x, -x)], wrt="vars", order=2)
    >>> tm = taylor_map(vsys.initial_state([0.5]), vsys)
    >>> print(tm)
    TaylorMap of order 2 in (dx), 1 components, 3 terms each:
      x = 0.5 + 1*dx
    >>> float(tm(0.25 * np.ones(1))[0])
    0.75
    """
    require_variational(vsys, "a Taylor map")
    state = _check_state(state, vsys)
    monomials, pos, names, comps = _map_layout(vsys)
    tm = TaylorMap(state[pos], list(monomials), list(names), list(comps), vsys.order)
    tree = vsys.__dict__.get("_tmap_tree")          # the same monomials: the same tree
    if tree is None:
        tree = vsys.__dict__["_tmap_tree"] = tm._tree
    tm.__dict__["_tree"] = tree
    return tm


def eval_taylor_map(state, vsys, delta):
    """``taylor_map(state, vsys).eval(delta)`` (see :class:`TaylorMap`)."""
    return taylor_map(state, vsys).eval(delta)


class VariationalMixin:
    """Variational methods for an integrator class.

    The integrator calls ``state = self._init_variational(sys, state, pars,
    time)`` in its constructor (it records the system and, for a
    :class:`VarODESys` given the original ``n`` initial values, returns the
    full augmented initial state) and exposes ``self.state`` (``(dim,)`` or
    ``(dim, B)``).  A plain system gets the same methods, which raise a
    TypeError explaining how to build a variational integrator.
    """

    _vsys = None

    def _init_variational(self, sys, state, pars=None, time=0.0):
        self._vsys = sys if isinstance(sys, VarODESys) else None
        if self._vsys is None:
            return state
        return self._vsys.initial_state(state, pars=pars, time=time)

    @property
    def is_variational(self) -> bool:
        return self._vsys is not None

    @property
    def vsys(self) -> VarODESys:
        return require_variational(self._vsys, "the variational system")

    @property
    def n_orig_sv(self) -> int:
        """Number of original state variables (as heyoka)."""
        return self.vsys.n_orig

    @property
    def vorder(self) -> int:
        return self.vsys.order

    def get_vslice(self, order, component=None):
        return self.vsys.get_vslice(order, component)

    def get_mindex(self, i, flat=False):
        """``(component, alpha)`` of state variable ``i``; ``flat=True``: heyoka's list
        ``[component, *alpha]`` (see :meth:`taylorjit.VarODESys.get_mindex`)."""
        return self.vsys.get_mindex(i, flat)

    @property
    def state_derivatives(self):
        """The state as heyoka stores a variational state: the true derivatives
        ``D^alpha x_i`` (taylorjit's state holds ``D^alpha x_i / alpha!``; the layout,
        ``get_vslice`` and ``get_mindex`` are the same).  A new array: to set a
        state given in heyoka's storage, ``ta.state[:] =
        ta.vsys.from_derivatives(d)``.

        Examples
        --------
        >>> import taylorjit as tj
        >>> x = tj.var("x")
        >>> ta = tj.TaylorAdaptive(tj.var_ode_sys([(x, x * x)], "vars", order=2), [0.5])
        >>> res = ta.propagate_until(1.0)
        >>> # x(t) = x0 / (1 - x0 t), so d2x/dx0^2 = 2 t / (1 - x0 t)^3 = 16 at t = 1
        >>> round(float(ta.state_derivatives[2]), 9), round(float(ta.state[2]), 9)
        (16.0, 8.0)
        """
        return require_variational(self._vsys).to_derivatives(self.state)

    def sensitivity(self, order=1):
        """Dense tensor of the derivatives of the current state of one order
        (see :func:`taylorjit._integrate.taylor_map.sensitivity`)."""
        return sensitivity(self.state, require_variational(self._vsys), order)

    @property
    def taylor_map(self) -> TaylorMap:
        """The Taylor map of the current state (a :class:`TaylorMap`)."""
        return taylor_map(self.state, require_variational(self._vsys, "a Taylor map"))

    def _current_map(self):
        """The Taylor map of the current state, cached until the state changes (a
        propagation, or a write to ``ta.state``: the cache key is the state's
        bytes, compared at each call)."""
        vsys = require_variational(self._vsys, "a Taylor map")
        st = self.state
        key = st.tobytes()
        hit = self.__dict__.get("_tmap_cache")
        if hit is not None and hit[0] == key:
            return hit[1]
        tm = taylor_map(st, vsys)
        self.__dict__["_tmap_cache"] = (key, tm)
        return tm

    def eval_taylor_map(self, delta):
        """The current state predicted by the Taylor map for displacement(s)
        ``delta`` of the wrt quantities: shape ``(m,)`` (one displacement, heyoka's
        call) or ``(..., m)``; returns ``(n,)`` or ``(..., n)``, also kept in
        :attr:`tstate` (read-only).  The map is built once per state (cached until a
        propagation or a write to the state changes it): calling this in a loop over
        displacements costs a few microseconds a call, about heyoka's cost
        (``ta.taylor_map.eval(deltas)`` on a stack is faster still).  The result is a
        new array; :attr:`tstate` is a read-only view of it."""
        out = self._current_map().eval(delta)
        ts = out.view()
        ts.flags.writeable = False
        self.__dict__["_tstate"] = ts
        return out

    @property
    def tstate(self):
        """heyoka's ``tstate``: the result of the last :meth:`eval_taylor_map`, a
        read-only view (zeros, shape ``(n,)``, before the first evaluation).  heyoka
        keeps nothing else under that name: a plain integrator raises.

        Examples
        --------
        >>> import taylorjit as tj, numpy as np
        >>> x, v = tj.make_vars("x", "v")
        >>> ta = tj.TaylorAdaptive(tj.var_ode_sys([(x, v), (v, -x)], "vars", order=1),
        ...                        [0.0, 1.0])
        >>> ta.tstate
        array([0., 0.])
        >>> out = ta.eval_taylor_map(np.array([0.5, 0.0]))
        >>> ta.tstate.tolist(), ta.tstate.flags.writeable
        ([0.5, 1.0], False)
        """
        vsys = require_variational(self._vsys, "tstate (the last Taylor-map evaluation)")
        ts = self.__dict__.get("_tstate")
        if ts is None:
            extra = np.shape(self.state)[1:]
            ts = np.zeros((vsys.n_orig,) + tuple(extra))
            ts.flags.writeable = False
            self.__dict__["_tstate"] = ts
        return ts

    def event_sensitivity(self, g):
        """First-order sensitivities at a terminal event ``g(x, t) = 0`` that
        stopped the integration, corrected for the event time; returns
        ``(dx_e/dw, dt_e/dw)`` (see
        :func:`taylorjit._integrate.variational.event_sensitivity`)."""
        vsys = require_variational(self._vsys)
        return state_event_sensitivity(self.state, vsys, g, getattr(self, "pars", None),
                                       float(getattr(self, "time", 0.0)))


def state_event_sensitivity(state, vsys, g, pars=None, time=0.0):
    """Corrected first-order sensitivities at an event ``g(x, t) = 0``.

    Evaluates the right-hand side and the gradient of ``g`` at the state, then
    applies :func:`taylorjit._integrate.variational.event_sensitivity`.

    Examples
    --------
    >>> import taylorjit as tj, numpy as np
    >>> from taylorjit._integrate.variational import var_ode_sys
    >>> from taylorjit._integrate.taylor_map import state_event_sensitivity
    >>> x = tj.var("x")
    >>> vsys = var_ode_sys([(x, 1.0 + 0 * x)], wrt="vars", order=1)
    >>> dxdw, dtdw = state_event_sensitivity(np.array([1.0, 1.0]), vsys, x - 1.0)
    >>> dxdw.tolist(), dtdw.tolist()
    ([[0.0]], [-1.0])
    """
    from .._symbolic.expr import diff, expr
    from .._symbolic.expr import time as _t

    require_variational(vsys)
    state = _check_state(state, vsys)
    if state.ndim != 1:
        raise ValueError("state_event_sensitivity works on one state: call it per batch element")
    n = vsys.n_orig
    xs = vsys.state_vars[:n]
    g = expr(g)
    key = ("_event_ev", id(g))
    cache = vsys.__dict__.setdefault("_event_cache", {})
    hit = cache.get(key)
    if hit is None:
        exprs = list(vsys._orig_rhs) + [diff(g, v) for v in xs] + [diff(g, _t)]
        hit = cache[key] = (g, evaluator(exprs, xs))
    ev = hit[1]
    vals = ev(state[:n], pars, time)
    phi = sensitivity(state, vsys, 1)
    return event_sensitivity(phi, vals[:n], vals[n:2 * n], vals[2 * n])
