"""The :class:`TaylorMap` object: a truncated multivariate polynomial map.

A map holds normalised coefficients ``coeffs[i, a]`` of the monomials
``dw^monomials[a]`` for each component ``i``.  This module holds the
representation (the canonical layout of :mod:`.tmap_algebra`, batch lanes),
evaluation (one displacement in compiled code, stacks of them with numpy),
truncation, composition, inversion, components, stacking, the identity map and
printing.  Calculus, range bounds and arithmetic come from the base class
:class:`~.tmap_ops.TaylorMapOps` (:mod:`.tmap_ops`).  Maps of a variational
state are made by :func:`.taylor_map.taylor_map`.
"""
from __future__ import annotations

import functools

import numpy as np

from .tmap_ops import TaylorMapOps

__all__ = ["TaylorMap"]


class TaylorMap(TaylorMapOps):
    """The order-``k`` Taylor map of the state in the wrt displacements.

    ``x_i(w + dw) = sum_{|alpha| <= k} coeffs[i, a] * dw^monomials[a]``
    up to ``O(|dw|^(k+1))``.  Evaluate with ``tm(dw)`` / ``tm.eval(dw)``;
    ``print(tm)`` lists the polynomials.

    Map algebra, truncated at the order: :meth:`compose` (also ``tm @ other``
    and ``tm(other)``), :meth:`inverse`, :meth:`derivative`, :meth:`integrate`,
    :meth:`bound` (guaranteed range over a box), ``+ - * / **`` with numbers,
    per-component arrays or maps, :meth:`truncate`, :attr:`constant_part`,
    :attr:`linear_part`, ``tm[i]``, :meth:`stack`; :meth:`identity` starts
    maps built by hand.

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
        truncated-product index tables.

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
