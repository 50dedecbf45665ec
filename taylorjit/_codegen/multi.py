"""Exact interpolation of multivariate partial derivatives from directional jets.

All partial derivatives of total order <= p of f: R^n -> R^m are recovered from
the univariate Taylor coefficients of f(x0 + t i) along the C(n+p-1, p)
integer directions i with |i| = p (Griewank, Utke & Walther, *Evaluating higher
derivative tensors by forward propagation of univariate Taylor series*, Math.
Comp. 69 (2000) 1117-1130; Griewank & Walther, *Evaluating Derivatives*,
section 13.3).  For |j| = d <= p:

    d^j f (x0) = sum_{|i| = p} c_{j,i} f_d(i),
    c_{j,i} = sum_{0 < k <= j} (-1)^{|j - k|} binom(j, k) binom(p k / |k|, i) (|k| / p)^d,

where f_d(i) is the *normalised* d-th Taylor coefficient along i, binomials of
multi-indices are products over components, and binom(r, i) for rational r is
the generalised binomial.  The coefficients are computed once per (n, p) in
exact rational arithmetic and kept as float matrices (one per degree).
(The formula was verified exactly on random polynomials; see
tests/test_derivatives.py.)
"""
from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from itertools import product

import numpy as np

__all__ = ["multi_indices", "directions", "interpolation_matrices"]


def multi_indices(n: int, d: int):
    """All multi-indices of length n and total degree d, in lexicographically
    decreasing order ((d,0,..), (d-1,1,0,..), ...)."""
    out = []
    stack = [((), d)]
    while stack:
        prefix, rest = stack.pop()
        if len(prefix) == n - 1:
            out.append(prefix + (rest,))
            continue
        for first in range(0, rest + 1):
            stack.append((prefix + (first,), rest - first))
    return out


def directions(n: int, p: int) -> np.ndarray:
    """The integer directions |i| = p, shape (C(n+p-1, p), n)."""
    return np.array(multi_indices(n, p), dtype=np.float64).reshape(-1, n)


def _falling(pkm: int, ak: int, im: int) -> int:
    """prod_{l < im} (p k_m - l |k|): numerator of binom(p k_m/|k|, i_m) * |k|^i_m * i_m!."""
    out = 1
    for l in range(im):
        out *= pkm - l * ak
    return out


def exact_rows(n: int, p: int):
    """The interpolation weights as exact fractions (n > 1 variables, degree p): for
    each degree d = 0..p, the list of ``(j, {direction b: c_{j,b}})`` over the
    multi-indices j of degree d (zero weights left out).  With r = p k_m/|k|,
    binom(r, i_m) = prod_l (p k_m - l|k|) / (|k|^i_m i_m!), and since |i| = p each
    term of c_{j,i} is  +-binom(j,k) N(k,i) |k|^(d-p) / (p^d i!),  N = prod_m falling.
    Terms are summed as integers over the common denominator L p^d i!, with
    L = lcm(1..d)^(p-d).  N(k, i) is 0 unless i is 0 wherever k is (the falling
    factorial of 0 starts with a factor 0), so only those directions are visited
    (C(s+p-1, p) of them for k with s non-zero entries, instead of all)."""
    dirs = multi_indices(n, p)
    index = {i: b for b, i in enumerate(dirs)}
    ifact = [math.prod(math.factorial(x) for x in i) for i in dirs]
    sub, ncache, out = {}, {}, []           # s -> multi_indices(s, p); k -> its nonzero row

    def nonzero_row(k, ak):
        """[(b, N(k, dirs[b])) for the directions where N is not 0]."""
        supp = [m for m, km in enumerate(k) if km]
        s = len(supp)
        if s not in sub:
            sub[s] = multi_indices(s, p)
        row = []
        for c in sub[s]:
            val = math.prod(_falling(p * k[m], ak, cm) for m, cm in zip(supp, c))
            if val:
                i = [0] * n
                for m, cm in zip(supp, c):
                    i[m] = cm
                row.append((index[tuple(i)], val))
        return row

    for d in range(p + 1):
        js = multi_indices(n, d)
        if d == 0:
            out.append([(js[0], {0: Fraction(1)})])   # the value, the same along every direction
            continue
        L = math.lcm(*range(1, d + 1)) ** (p - d)
        den = L * p ** d
        rows = []
        for j in js:
            acc = {}
            for k in product(*[range(jm + 1) for jm in j]):
                ak = sum(k)
                if ak == 0:
                    continue
                w = math.prod(math.comb(jm, km) for jm, km in zip(j, k)) * (L // ak ** (p - d))
                if (d - ak) % 2:
                    w = -w
                row = ncache.get(k)
                if row is None:
                    row = ncache[k] = nonzero_row(k, ak)
                for b, val in row:
                    acc[b] = acc.get(b, 0) + w * val
            rows.append((j, {b: Fraction(x, den * ifact[b]) for b, x in sorted(acc.items())
                             if x}))
        out.append(rows)
    return out


def _compute(n: int, p: int):
    """The weights of :func:`exact_rows` rounded once to doubles, a matrix per degree
    (one variable: :func:`_compute1`)."""
    if n == 1:
        return _compute1(p)
    ndirs = len(multi_indices(n, p))
    out = []
    for rows in exact_rows(n, p):
        C = np.zeros((len(rows), ndirs))
        for a, (_, wts) in enumerate(rows):
            for b, f in wts.items():
                C[a, b] = float(f)
        out.append(([j for j, _ in rows], C))
    return tuple(out)


def _compute1(p: int):
    """One variable: the only direction is p and the formula reduces to
    c_d = d! / p^d (the general sum's common denominator lcm(1..d)^(p-d) makes
    it take minutes from p ~ 400 on).  Rounded once, like the general case; a
    value below half the smallest subnormal (log c_d < -745.2) rounds to 0."""
    out = [([(0,)], np.ones((1, 1)))]
    fact, pw, small = 1, 1, False
    for d in range(1, p + 1):
        # c_d decreases with d: once it underflows, so do all later ones
        small = small or math.lgamma(d + 1) - d * math.log(p) < -760.0
        if not small:
            fact *= d
            pw *= p
        out.append(([(d,)], np.array([[0.0 if small else fact / pw]])))
    return tuple(out)


@lru_cache(maxsize=64)
def interpolation_matrices(n: int, p: int):
    """For each degree d = 0..p: ``(js, C_d)`` with ``js`` the multi-indices of
    degree d and ``C_d`` the float matrix (#js, #directions) such that the true
    partial derivatives are ``C_d @ f_d`` (``f_d``: normalised d-th coefficients
    along :func:`directions`).  Exact integer arithmetic, rounded once; stored in
    the kernel cache directory after the first computation."""
    import io

    from .cache import read_blob, write_blob

    name = f"guw_{n}_{p}.npz"
    data = read_blob(name)      # checksummed: a damaged or swapped file reads as None
    if data is not None:
        with np.load(io.BytesIO(data)) as z:
            return tuple((multi_indices(n, d), z[f"d{d}"]) for d in range(p + 1))
    mats = _compute(n, p)
    buf = io.BytesIO()
    np.savez(buf, **{f"d{d}": C for d, (_, C) in enumerate(mats)})
    write_blob(name, buf.getvalue())
    return mats
