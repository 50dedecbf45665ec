"""Taylor-map algebra: composition, inversion, derivatives, integrals and range bounds.

The functions here work on coefficient arrays in the layout of
:class:`~.tmap.TaylorMap` (:mod:`.tmap`, :mod:`.tmap_ops`): ``coeffs[i, q]`` multiplies the
monomial ``dw^alpha_q``, the monomials being all multi-indices of total degree
``<= k`` in ``m`` variables, by increasing degree and, within a degree, in
descending lexicographic order (heyoka's layout).  Because the order is graded,
the basis of order ``o <= k`` is a prefix of the basis of order ``k``:
truncating a map is slicing its coefficients.

Everything is vectorised over precomputed monomial index tables
(:class:`Basis`, cached per ``(m, k)``):

* the *rank* of a multi-index (its position in the layout) is computed in
  closed form (a sum of binomial coefficients), so index tables are built with
  array operations, never with dictionaries;
* a truncated product uses the table of all pairs ``(a, b)`` with
  ``deg a + deg b <= k``, sorted by the rank ``c`` of ``alpha_a + alpha_b``:
  ``(f g)_c = sum f_a g_b`` is one gather, one multiply and one
  ``np.add.reduceat`` (in chunks of bounded memory);
* composition ``P o N`` is Horner's scheme on the monomial tree (each
  multi-index is its parent times one variable): the node of degree ``d`` is
  needed only to order ``k - d``, so the work is far below that of forming
  all powers of ``N`` (for ``m = 6``, ``k = 10``: 32 million multiply-adds per
  output component, against 816 million to form the powers).  A constant part of ``N`` is first
  moved into ``P`` by an exact re-expansion (a Taylor shift, one variable at a
  time), so the Horner products never see a constant term;
* inversion is Berz's fixed point: for ``M = L + N`` (linear part ``L``,
  nonlinear part ``N``) ``M^-1 = L^-1 o (I - N o M^-1)``, iterated once per
  order (iteration ``j`` gains order ``j``, its composition is truncated at
  ``j``);
* range bounds are interval arithmetic with outward rounding (see
  :func:`bound_coeffs`).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

__all__ = ["Basis", "basis", "mul_coeffs", "compose_coeffs", "shift_coeffs", "inverse_coeffs",
           "deriv_coeffs", "integ_coeffs", "bound_coeffs"]

_CHUNK = 1 << 17          # elements of a gathered block in the truncated products (fits L2)


@lru_cache(maxsize=None)
def _exps_of_degree(m, d):
    """Multi-indices of total degree ``d`` in ``m`` variables, descending lex."""
    if m == 0:
        return np.zeros((1 if d == 0 else 0, 0), dtype=np.int64)
    if m == 1:
        return np.array([[d]], dtype=np.int64)
    parts = []
    for a0 in range(d, -1, -1):
        rest = _exps_of_degree(m - 1, d - a0)
        parts.append(np.concatenate([np.full((len(rest), 1), a0, dtype=np.int64), rest], axis=1))
    return np.concatenate(parts, axis=0)


class Basis:
    """Monomials of degree ``<= k`` in ``m`` variables and their index tables.

    Attributes
    ----------
    exps : int array (K, m)
        The multi-indices in the layout order.
    deg : int array (K,)
    off : int array (k + 2,)
        ``off[d]`` is the position of the first monomial of degree ``d``;
        ``off[o + 1]`` is the number of monomials of degree ``<= o``.
    parent, var : int arrays (K,)
        ``exps[q] = exps[parent[q]] + e_var[q]``, ``var[q]`` the first
        non-zero index (entry 0 unused).
    child : int array (K, m)
        Position of ``exps[q] + e_j``, ``-1`` at degree ``k``.
    """

    def __init__(self, m, k):
        self.m, self.k = m, k
        self.exps = np.concatenate([_exps_of_degree(m, d) for d in range(k + 1)], axis=0)
        self.deg = self.exps.sum(axis=1)
        self.off = np.array([math.comb(d - 1 + m, m) if d > 0 else 0 for d in range(k + 2)],
                            dtype=np.int64)
        n = k + m + 1
        b = np.zeros((n + 1, m + 1), dtype=np.int64)
        for i in range(n + 1):
            for j in range(min(i, m) + 1):
                b[i, j] = math.comb(i, j)
        self._binom = b
        K = len(self.exps)
        self.var = np.zeros(K, dtype=np.int64)
        self.parent = np.zeros(K, dtype=np.int64)
        if K > 1:
            e = self.exps[1:]
            self.var[1:] = np.argmax(e > 0, axis=1)
            dec = e.copy()
            dec[np.arange(K - 1), self.var[1:]] -= 1
            self.parent[1:] = self.rank(dec)
        self.child = np.full((K, m), -1, dtype=np.int64)
        low = self.off[k]                                    # monomials of degree < k
        for j in range(m):
            inc = self.exps[:low].copy()
            inc[:, j] += 1
            self.child[:low, j] = self.rank(inc)
        self._cache = {}

    @property
    def size(self):
        return len(self.exps)

    @property
    def monomials(self):
        """The multi-indices as a list of tuples (shared: do not modify)."""
        hit = self._cache.get("monomials")
        if hit is None:
            hit = self._cache["monomials"] = [tuple(int(a) for a in r) for r in self.exps]
        return hit

    def count(self, o):
        """Number of monomials of degree ``<= o``."""
        return int(self.off[o + 1])

    def rank(self, exps):
        """Positions of multi-indices (rows of an int array, degrees ``<= k``)."""
        exps = np.asarray(exps, dtype=np.int64)
        d = exps.sum(axis=-1)
        r = self.off[d].copy()
        rem = d.copy()
        m = self.m
        for j in range(m - 1):
            p = m - j - 1
            gap = rem - exps[..., j]          # >= 0; the term is C(gap - 1 + p, p), 0 if gap = 0
            r += self._binom[gap - 1 + p, p]
            rem = gap
        return r

    # ------------------------------------------------------------------ product tables
    def pairs(self, positive=False):
        """``(I, J, starts)``: pairs ``(a, b)`` with ``deg a + deg b <= k``
        sorted by the position ``c`` of ``exps[a] + exps[b]``; pairs for ``c``
        are ``starts[c]:starts[c + 1]``.  With ``positive`` only pairs with
        ``deg b >= 1`` (the product by a series without constant term)."""
        key = ("pairs", positive)
        hit = self._cache.get(key)
        if hit is None:
            I, J, C = [], [], []
            for da in range(self.k + 1):
                a = np.arange(self.off[da], self.off[da + 1])
                for db in range(self.k + 1 - da):
                    b = np.arange(self.off[db], self.off[db + 1])
                    A = np.repeat(a, len(b))
                    B = np.tile(b, len(a))
                    I.append(A)
                    J.append(B)
                    C.append(self.rank(self.exps[A] + self.exps[B]))
            I, J, C = (np.concatenate(x) for x in (I, J, C))
            srt = np.argsort(C, kind="stable")
            idt = np.int32 if self.size < 2 ** 31 else np.int64
            I, J, C = I[srt].astype(idt), J[srt].astype(idt), C[srt]
            grid = np.arange(self.size + 1)
            self._cache["pairs", False] = (I, J, np.searchsorted(C, grid))
            keep = J > 0
            self._cache["pairs", True] = (I[keep], J[keep], np.searchsorted(C[keep], grid))
            hit = self._cache[key]
        return hit

    def shift_sources(self, v, t):
        """Positions of ``exps[a] + t e_v`` for the monomials ``a`` of degree ``<= k - t``."""
        key = ("shift", v, t)
        hit = self._cache.get(key)
        if hit is None:
            e = self.exps[:self.count(self.k - t)].copy()
            e[:, v] += t
            hit = self._cache[key] = self.rank(e)
        return hit

    def horner_groups(self):
        """For each degree ``d >= 1`` and variable ``j``: local positions (within
        degree ``d``) of the monomials whose ``var`` is ``j`` and local positions
        (within degree ``d - 1``) of their parents."""
        hit = self._cache.get("horner")
        if hit is None:
            hit = {}
            for d in range(1, self.k + 1):
                q = np.arange(self.off[d], self.off[d + 1])
                for j in range(self.m):
                    sel = q[self.var[q] == j]
                    if len(sel):
                        hit[d, j] = (sel - self.off[d], self.parent[sel] - self.off[d - 1])
            self._cache["horner"] = hit
        return hit

    def even_mask(self):
        """Monomials whose exponents are all even (range ``[0, 1]`` on ``[-1, 1]^m``)."""
        return np.all(self.exps % 2 == 0, axis=1)


@lru_cache(maxsize=32)
def basis(m, k) -> Basis:
    """The cached :class:`Basis` of ``m`` variables and order ``k``."""
    return Basis(int(m), int(k))


# --------------------------------------------------------------------------- products
def _mul_rows(X, w, bas, o, positive):
    """``Y[c, :] = sum_{a + b = c} X[a, :] * w[b]`` for ``deg c <= o``.

    ``X`` (rows, cols) holds the coefficients of ``cols`` series; with
    ``positive`` the constant term of ``w`` is ignored (and ``X`` needs only
    the rows of degree ``<= o - 1``).  Returns ``(count(o), cols)``.
    """
    I, J, starts = bas.pairs(positive)
    nc = bas.count(o)
    cols = X.shape[1]
    Y = np.zeros((nc, cols))
    c_lo = 1 if positive else 0
    target = max(1, _CHUNK // max(cols, 1))
    while c_lo < nc:
        p_lo = starts[c_lo]
        c_hi = int(np.searchsorted(starts, p_lo + target, side="right")) - 1
        c_hi = min(max(c_hi, c_lo + 1), nc)
        p_hi = starts[c_hi]
        G = X[I[p_lo:p_hi]]
        G *= w[J[p_lo:p_hi], None]
        Y[c_lo:c_hi] = np.add.reduceat(G, starts[c_lo:c_hi] - p_lo, axis=0)
        c_lo = c_hi
    return Y


def mul_coeffs(A, B, bas, o=None):
    """Component-wise truncated product of two maps' coefficients ``(n, K)``."""
    o = bas.k if o is None else o
    nc = bas.count(o)
    I, J, starts = bas.pairs(False)
    p = starts[nc]
    G = A[:, I[:p]] * B[:, J[:p]]
    return np.add.reduceat(G, starts[:nc], axis=1)


# --------------------------------------------------------------------------- composition
def shift_coeffs(P, c, bas, o=None):
    """Exact re-expansion ``P(c + y)`` of polynomials ``P`` (rows) about ``c``,
    truncated at order ``o`` (no truncation error when ``o >= deg P``)."""
    o = bas.k if o is None else o
    nc = bas.count(o)
    out = np.array(P[:, :nc], dtype=float)
    for v in range(bas.m):
        cv = float(c[v])
        if cv == 0.0:
            continue
        old = out.copy()
        for t in range(1, o + 1):
            dst = bas.count(o - t)
            src = bas.shift_sources(v, t)[:dst]
            # C(alpha_v + t, t) c^t
            w = np.array([math.comb(int(a) + t, t) for a in range(o + 1)], dtype=float)
            wt = w[bas.exps[:dst, v]] * cv ** t
            out[:, :dst] += old[:, src] * wt
    return out


def compose_coeffs(P, N, bas_p, bas_n, o):
    """Coefficients of ``P o N`` truncated at order ``o``.

    ``P`` (nP, >= count(o)) are polynomials in ``bas_p.m`` variables, ``N``
    (bas_p.m, >= count(o)) polynomials in ``bas_n.m`` variables.
    """
    m = bas_p.m
    if N.shape[0] != m:
        raise ValueError(f"composition needs {m} inner components, got {N.shape[0]}")
    Kn = [bas_n.count(d) for d in range(o + 1)]
    P = np.asarray(P[:, :bas_p.count(o)], dtype=float)
    N = np.array(N[:, :Kn[o]], dtype=float)
    nP = P.shape[0]
    if np.any(N[:, 0] != 0.0):
        P = shift_coeffs(P, N[:, 0], bas_p, o)
        N[:, 0] = 0.0
    off = bas_p.off
    groups = bas_p.horner_groups()
    # H[:, r, :] is the Horner value of node r at the current degree d (truncated at o - d)
    H = P[:, off[o]:off[o + 1]].T[None, :, :].copy()          # (1, n_o, nP)
    for d in range(o, 0, -1):
        Hp = np.zeros((Kn[o - d + 1], off[d] - off[d - 1], nP))
        Hp[0] = P[:, off[d - 1]:off[d]].T
        for j in range(m):
            g = groups.get((d, j))
            if g is None:
                continue
            sel, par = g
            X = H[:, sel, :].reshape(Kn[o - d], -1)
            Y = _mul_rows(X, N[j], bas_n, o - d + 1, positive=True)
            Hp[:, par, :] += Y.reshape(Kn[o - d + 1], len(sel), nP)
        H = Hp
    return np.ascontiguousarray(H[:, 0, :].T)


def inverse_coeffs(M, bas, o=None):
    """Coefficients of the inverse of ``dw -> M(dw) - M(0)`` (square, invertible
    linear part), truncated at order ``o``; the result has no constant term."""
    o = bas.k if o is None else o
    m = bas.m
    if M.shape[0] != m:
        raise ValueError(f"only a square map can be inverted: {M.shape[0]} components in "
                         f"{m} variables")
    nc = bas.count(o)
    L = np.asarray(M[:, 1:1 + m], dtype=float)
    if not np.all(np.isfinite(L)):
        raise ValueError("the linear part of the map is not finite")
    s = np.linalg.svd(L, compute_uv=False) if m else np.ones(1)
    if s[-1] == 0.0 or s[-1] <= s[0] * 1e3 * np.finfo(float).eps * m:
        raise ValueError(f"the linear part of the map is singular (condition number "
                         f"{s[0] / s[-1] if s[-1] else np.inf:.3g}): the map has no local inverse")
    Linv = np.linalg.inv(L)
    Nl = np.array(M[:, :nc], dtype=float)
    Nl[:, :1 + m] = 0.0
    A = np.zeros((m, nc))
    A[:, 1:1 + m] = Linv
    for j in range(2, o + 1):
        NA = compose_coeffs(Nl, A, bas, bas, j)             # degrees 2..j
        kj = bas.count(j)
        A[:, bas.off[j]:kj] = -(Linv @ NA[:, bas.off[j]:kj])
        # lower degrees are unchanged: A_{j-1} is exact up to j-1 and N o A depends on A
        # only up to order j-1 at order j
    return A


# --------------------------------------------------------------------------- calculus
def deriv_coeffs(C, bas, i):
    """Partial derivative in variable ``i`` (coefficients along axis 1); the
    top-degree terms of the result are zero (they would need order k+1)."""
    low = bas.count(bas.k - 1) if bas.k > 0 else 0
    out = np.zeros_like(C, dtype=float)
    fac = (bas.exps[:low, i] + 1).astype(float)
    fac = fac.reshape((1, -1) + (1,) * (C.ndim - 2))
    out[:, :low] = C[:, bas.child[:low, i]] * fac
    return out


def integ_coeffs(C, bas, i):
    """Antiderivative in variable ``i`` with zero integration constant (the
    result vanishes at ``dw_i = 0``); terms beyond order ``k`` are dropped."""
    low = bas.count(bas.k - 1) if bas.k > 0 else 0
    out = np.zeros_like(C, dtype=float)
    fac = 1.0 / (bas.exps[:low, i] + 1).astype(float)
    fac = fac.reshape((1, -1) + (1,) * (C.ndim - 2))
    out[:, bas.child[:low, i]] = C[:, :low] * fac
    return out


# --------------------------------------------------------------------------- bounds
_INF = np.inf


def _down(x):
    return np.nextafter(x, -_INF)


def _up(x):
    return np.nextafter(x, _INF)


def _imul(al, ah, bl, bh):
    """Outward-rounded interval product (arrays)."""
    p = np.stack([al * bl, al * bh, ah * bl, ah * bh])
    with np.errstate(invalid="ignore"):
        lo, hi = np.nanmin(p, axis=0), np.nanmax(p, axis=0)   # 0 * inf -> nan: dropped
    return _down(lo), _up(hi)


def _ipow(l, h, t):
    """Outward enclosure of ``[l, h]^t`` for point intervals (l == h) by repeated products."""
    rl, rh = np.ones_like(l), np.ones_like(h)
    for _ in range(t):
        rl, rh = _imul(rl, rh, l, h)
    return rl, rh


def bound_coeffs(C, bas, lo, hi):
    """Guaranteed enclosure of each polynomial (rows of ``C``) over the box
    ``lo <= dw <= hi``.

    Method: the box is written ``dw = mid + rad * t``, ``t in [-1, 1]^m``
    (``rad`` rounded up so the box is covered); the coefficients in ``t`` are
    computed in interval arithmetic with every operation rounded outward by
    one ulp (``numpy.nextafter``), then each monomial ``t^alpha`` is replaced
    by its exact range (``[0, 1]`` if every exponent is even, else
    ``[-1, 1]``) and the terms are summed with ``math.fsum`` (correctly
    rounded) and widened by one more ulp.  The enclosure is exact for the
    constant and linear parts; nonlinear terms add their absolute values
    (the "dependency" overestimation of interval arithmetic).
    """
    lo = np.asarray(lo, dtype=float)
    hi = np.asarray(hi, dtype=float)
    mid = 0.5 * lo + 0.5 * hi
    mid = np.where(np.isfinite(mid), mid, 0.0)
    rad = _up(np.maximum(_up(hi - mid), _up(mid - lo)))
    nc = bas.count(bas.k)
    cl = np.array(C[:, :nc], dtype=float)
    ch = cl.copy()
    # re-expand about mid: c(mid + y) in interval arithmetic
    for v in range(bas.m):
        cv = float(mid[v])
        if cv == 0.0:
            continue
        oll, olh = cl.copy(), ch.copy()
        for t in range(1, bas.k + 1):
            dst = bas.count(bas.k - t)
            src = bas.shift_sources(v, t)[:dst]
            binom = np.array([math.comb(int(a) + t, t) for a in range(bas.k + 1)], dtype=float)
            pl, ph = _ipow(np.array(cv), np.array(cv), t)       # cv^t enclosure
            wl, wh = _imul(binom[bas.exps[:dst, v]], binom[bas.exps[:dst, v]], pl, ph)
            tl, th = _imul(oll[:, src], olh[:, src], wl, wh)
            cl[:, :dst] = _down(cl[:, :dst] + tl)
            ch[:, :dst] = _up(ch[:, :dst] + th)
    # scale by rad^alpha
    rl = np.ones(nc)
    rh = np.ones(nc)
    for v in range(bas.m):
        for t in range(1, bas.k + 1):
            sel = bas.exps[:, v] == t
            if not sel.any():
                continue
            pl, ph = _ipow(np.array(rad[v]), np.array(rad[v]), t)
            rl[sel], rh[sel] = _imul(rl[sel], rh[sel], pl, ph)
    cl, ch = _imul(cl, ch, rl, rh)
    even = bas.even_mask()
    even[0] = False
    mag = np.maximum(np.abs(cl), np.abs(ch))
    tlo = np.where(even, np.minimum(cl, 0.0), -mag)
    thi = np.where(even, np.maximum(ch, 0.0), mag)
    tlo[:, 0], thi[:, 0] = cl[:, 0], ch[:, 0]
    out_lo = np.array([math.fsum(r) for r in tlo])
    out_hi = np.array([math.fsum(r) for r in thi])
    return _down(out_lo), _up(out_hi)
