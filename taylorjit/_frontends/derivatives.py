"""``derivatives``: all partial derivatives of total order <= k at one point, and
:class:`Derivatives`, the result indexed by multi-indices.

The partials come from univariate expansions along integer directions
(:mod:`taylorjit._codegen.multi`) recombined by an exact interpolation
(:func:`_deriv_layout`, :func:`_combine`), in one compiled call
(:func:`_partials_jit`, on the point loop of :mod:`.jet`) or in the plan's SIMD
partials kernel (:mod:`taylorjit._codegen.vjet`, built by :func:`_partials_simd`).
"""
from __future__ import annotations

import math
import numbers
from functools import lru_cache

import numpy as np

from .._codegen.kernel import JET_TYPE
from .._codegen.multi import directions, interpolation_matrices
from .._codegen.tiering import Upgrade as _Upgrade
from .._symbolic.registry import no_refcount_opts
from .args import _EMPTY, _finite_values, _pars_array, _point1
from .jet import _DRIVERS, _PiecewisePlan, _front, _run, _run_points, _tier


class Derivatives:
    """All partial derivatives of total order <= ``order`` at one point.

    Index with a multi-index: ``d[(2, 3)]`` is d^5 f / dx^2 dy^3 (a true
    derivative, not divided by factorials).  For a list of m functions each
    entry is an array of shape (m,).

    Examples
    --------
    >>> import taylorjit as tj
    >>> x, y = tj.make_vars("x", "y")
    >>> d = tj.derivatives(x**3 * y**2, [x, y], [1.0, 2.0], order=3)
    >>> round(d[(2, 1)], 12)      # d^3/dx^2 dy of x^3 y^2 = 6 x * 2 y
    24.0
    >>> d.gradient()
    array([12.,  4.])
    """

    def __init__(self, values: np.ndarray, index: dict, n: int, order: int, scalar: bool,
                 variables):
        self._values = values      # (n_multi_indices, m)
        self._index = index        # multi-index -> row
        self.n = n
        self.order = order
        self.scalar = scalar
        self.variables = list(variables)

    def _row(self, index):
        if isinstance(index, numbers.Integral) and self.n == 1:
            index = (int(index),)
        index = tuple(int(i) for i in index)
        if len(index) != self.n or any(i < 0 for i in index):
            raise KeyError(f"multi-index {index} must have {self.n} non-negative entries")
        if sum(index) > self.order:
            raise KeyError(f"total order {sum(index)} > {self.order}: compute with a higher order")
        return self._index[index]

    def __getitem__(self, index):
        v = self._values[self._row(index)]
        return float(v[0]) if self.scalar else v.copy()

    def __iter__(self):
        return iter(self._index)

    def __len__(self):
        return len(self._index)

    def keys(self):
        return self._index.keys()

    def items(self):
        return ((k, self[k]) for k in self._index)

    def as_array(self):
        """All derivatives as one array (rows in the order of :meth:`keys`)."""
        return self._values[:, 0].copy() if self.scalar else self._values.copy()

    def tensor(self, k: int) -> np.ndarray:
        """The symmetric tensor of all k-th derivatives, shape (n,)*k (or (m,)+(n,)*k)."""
        if k > self.order or k < 0:
            raise ValueError(f"tensor order {k} not available (computed up to {self.order})")
        m = self._values.shape[1]
        T = np.empty((m,) + (self.n,) * k)
        for idx in np.ndindex(*((self.n,) * k)):
            mi = [0] * self.n
            for a in idx:
                mi[a] += 1
            T[(slice(None),) + idx] = self._values[self._index[tuple(mi)]]
        return T[0] if self.scalar else T

    def gradient(self):
        """First derivatives: shape (n,) (Jacobian (m, n) for m functions)."""
        return self.tensor(1)

    def hessian(self):
        """Second derivatives: shape (n, n) (or (m, n, n))."""
        return self.tensor(2)

    def value(self):
        return self.tensor(0)

    def __repr__(self):
        return (f"<Derivatives of order <= {self.order} in {self.n} variables "
                f"({len(self._values)} multi-indices)>")


# C(n+order-1, order) directions; the interpolation matrix is that size squared
_MAX_DIRECTIONS = 5000
# the expansions run along directions of length ``order``: their coefficients grow up to
# order**k / k! (e**order at k = order), beyond the range of doubles above this order
DERIVATIVES_MAX_ORDER = 700
# bound on (rows x directions x order**3) of the exact interpolation table, a measure of
# the time to compute it once (2-8 s at this bound, then kept in the disk cache; order 44
# in 2 variables, 20 in 3, 13 in 4, 10 in 5)
_MAX_TABLE_WORK = 4e9


def _check_derivatives_size(n, order):
    """Refuse (ValueError) an order that :func:`derivatives` cannot compute in a
    reasonable time or in the range of doubles."""
    if order > DERIVATIVES_MAX_ORDER:
        raise ValueError(
            f"derivatives of order {order}: the maximum is {DERIVATIVES_MAX_ORDER} (the "
            f"expansions along directions of length {order} reach {order}**k/k!, beyond the "
            "range of double precision): lower the order, or use taylor_coefficients (the "
            "normalised coefficients f^(k)/k!, up to order 10000)")
    if n < 2 or order == 0:
        return
    ndirs = math.comb(n + order - 1, order)
    if ndirs > _MAX_DIRECTIONS:
        raise ValueError(
            f"all partial derivatives of order <= {order} in {n} variables need {ndirs} "
            f"directional expansions and a {ndirs} x {ndirs} interpolation matrix, more than "
            f"the limit of {_MAX_DIRECTIONS}: lower the order or the number of variables, or "
            "use taylor_coefficients along the directions you need")
    rows = math.comb(n + order, order)
    if rows * ndirs * order ** 3 > _MAX_TABLE_WORK:
        raise ValueError(
            f"all partial derivatives of order <= {order} in {n} variables need an exact "
            f"interpolation table of {rows} x {ndirs} rational numbers with long integer "
            "terms (minutes to hours to compute), and at such orders the interpolation "
            "amplifies rounding errors by many orders of magnitude (see docs/accuracy.md): "
            "lower the order, or use taylor_coefficients along the directions you need")


@lru_cache(maxsize=64)
def _deriv_layout(n, order):
    """Directions, the stacked interpolation matrix (one row per multi-index of order
    <= ``order``), the degree of each row and the multi-index -> row map."""
    if order == 0:
        return np.zeros((1, n)), np.ones((1, 1)), np.zeros(1, dtype=np.int64), {(0,) * n: 0}
    mats = interpolation_matrices(n, order)
    index, rows, degs = {}, [], []
    for deg, (js, C) in enumerate(mats):
        for a, j in enumerate(js):
            index[j] = len(rows)
            rows.append(C[a])
            degs.append(deg)
    return (directions(n, order), np.ascontiguousarray(np.array(rows)),
            np.array(degs, dtype=np.int64), index)


def _combine(C, degs, res, out):
    """out[r, m] = sum_b C[r, b] res[b, m, degs[r]]: the interpolation of every
    partial from the directional coefficients of its degree (one compiled pass
    instead of one numpy product per degree).  Terms with a zero coefficient are
    skipped (most of them; see taylorjit._codegen.vjet, which sums in the same order)."""
    for r in range(C.shape[0]):
        d = degs[r]
        for m in range(res.shape[1]):
            acc = 0.0
            for b in range(C.shape[1]):
                c = C[r, b]
                if c != 0.0:
                    acc += c * res[b, m, d]
            out[r, m] = acc


def _partials(jet, prog, cvals, tc, order, pars, P, D, outs, res, C, degs, out):
    """The directional jets and their interpolation in one compiled call (one
    crossing from Python instead of two)."""
    _run_points_inl(jet, prog, cvals, tc, order, pars, P, D, outs, res)
    _combine_inl(C, degs, res, out)


def _partials_jit():
    if "partials" not in _DRIVERS:
        from numba import njit, types

        f8 = types.float64
        i8 = types.int64
        inl = dict(inline="always", error_model="numpy")
        g = _partials.__globals__      # the inlined pieces, bound before _partials compiles
        g["_run_points_inl"] = njit(**inl)(_run_points)
        g["_combine_inl"] = njit(**inl)(_combine)
        sig = types.void(JET_TYPE(), i8[:, ::1], f8[::1], f8[:, ::1], i8, f8[::1], f8[:, ::1],
                         f8[:, ::1], i8[::1], f8[:, :, ::1], f8[:, ::1], i8[::1], f8[:, ::1])
        _DRIVERS["partials"] = njit(sig, cache=True, nogil=True, error_model="numpy",
                                    **no_refcount_opts())(_partials)
    return _DRIVERS["partials"]


def derivatives(f, variables, point, order=2, *, pars=None, time=None, kind=None,
                precision=None) -> Derivatives:
    """All partial derivatives of total order <= ``order`` at ``point``.

    Uses C(n+order-1, order) univariate Taylor expansions along integer
    directions, run in one compiled loop, and recombines them exactly
    (Griewank, Utke & Walther 2000; see "How it works" in the documentation).

    Parameters
    ----------
    f : Expr or list of Expr
    variables : list of variables (or tj.par[i], tj.time)
    point : array_like, shape (n,)
    order : int
        At most 700 (the expansions run along directions of length ``order``,
        whose coefficients reach order**k/k!); in several variables also bounded
        by the size of the exact interpolation table: 44 in 2 variables, 20 in
        3, 13 in 4, 10 in 5 (see docs/accuracy.md for the digits lost at high
        orders).
    pars, time, kind
        As in :func:`taylor_coefficients`.
    precision : {None, "double", "dd"}, optional
        ``"dd"``: double-double arithmetic (~32 significant digits, see
        docs/extended-precision.md): the point, ``pars`` and ``time`` are read
        without loss and the result's values are DDArrays (``kind`` is ignored).

    Returns
    -------
    Derivatives
        ``d[(i1, ..., in)]`` = d^|i| f / dx1^i1 ... dxn^in, ``d.gradient()``,
        ``d.hessian()``, ``d.tensor(k)``.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x, y = tj.make_vars("x", "y")
    >>> d = tj.derivatives(tj.exp(x) * tj.sin(y), [x, y], [0.0, 0.0], order=4)
    >>> round(d[(3, 1)], 12)      # d^4/dx^3 dy of e^x sin y at 0 = 1
    1.0
    """
    if precision is not None and precision != "double":
        if precision == "dd":
            from .dd_derivatives import derivatives_dd

            return derivatives_dd(f, variables, point, order, pars=pars, time=time)
        raise ValueError(f"precision={precision!r}: use None or 'double' (double precision) or "
                         "'dd' (double-double, ~32 digits)")
    order, fs, scalar, variables, plan = _front(f, variables, kind, order)
    if plan.__class__ is _PiecewisePlan:     # the derivatives of the branch active there
        P = _point1(point, plan.n_in)
        (_, rfs), = plan.front.groups(P, pars, time)
        return derivatives(rfs[0] if scalar else rfs, variables, P[0], order, pars=pars,
                           time=time, kind=kind)
    n = plan.n_in
    pk = plan.partials.get(order)
    if pk is not None and pk is not False and pk.__class__ is not _Upgrade:    # the fast path
        vals = _finite_values(point, n)
        if vals is not None:
            pars_arr = _pars_array(plan, pars, time) if plan.n_pars or plan.time_par >= 0 \
                else _EMPTY
            return Derivatives(pk.run(vals, pars_arr), pk.index, n, order, scalar, variables)
    P = _point1(point, n)
    pars_arr = _pars_array(plan, pars, time)
    _check_derivatives_size(n, order)
    dirs, C, degs, index = _deriv_layout(n, order)
    pk = _partials_simd(plan, order, dirs, C, degs) if order else None
    if pk is not None:
        return Derivatives(pk.run(P[0], pars_arr), index, n, order, scalar, variables)
    if order == 0:
        res = _run(plan, P, np.zeros_like(P), 0, pars_arr)
        values = res[:, :, 0].copy()
    else:
        Pm = np.empty(dirs.shape)
        Pm[:] = P
        k = plan.kernel_at(order)
        m = plan.outs.shape[0]
        res = np.empty((Pm.shape[0], m, order + 1))       # (ndirs, m, order+1)
        values = np.empty((C.shape[0], m))
        tc = np.zeros((k.n_slots, order + 1))
        if k.kind == "python":
            _run_points(k.jet, k.prog, k.cvals, tc, order, pars_arr, Pm, dirs, plan.outs, res)
            _combine(C, degs, res, values)
        else:
            _partials_jit()(k.jet, k.prog, k.cvals, tc, order, pars_arr, Pm, dirs, plan.outs, res,
                            C, degs, values)
    return Derivatives(values, index, n, order, scalar, variables)


def _partials_simd(plan, order, dirs, C, degs):
    """The plan's SIMD partials kernel at ``order`` (taylorjit._codegen.vjet) when it
    should be used, else None (see :func:`_tier`)."""
    from .._codegen import vjet as _vjet

    d = plan.kernel.decomposition

    def build():
        k = _vjet.partials_kernel(d, order, dirs, C, degs)
        k.index = _deriv_layout(dirs.shape[1], order)[3]
        return k

    return _tier(plan, plan.partials, plan.pcalls, order,
                 lambda: _vjet.size(d, order, dirs.shape[0], C.shape[0]) > _vjet.MAX_OPS,
                 lambda: _vjet.is_cached(d, order, dirs, C), build, "partials")
