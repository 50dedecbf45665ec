"""Derivative front ends: ``taylor_coefficients``, ``derivatives``, ``cfunc``.

Each front end turns (expressions, variables) into a cached *plan*: the
decomposition, its kernel and the slots of the outputs.  The loops over points
and directions run in one compiled driver (:func:`_drivers`) that takes the
jet as a first-class function, so a new expression never compiles a driver.

Parameters ``par[i]`` take their values from ``pars=``; the time variable
``tj.time`` from ``time=``.  Either may also be listed among the variables,
then it is differentiated like a variable.
"""
from __future__ import annotations

import math
import numbers
import os
import threading
from collections import OrderedDict
from functools import lru_cache
from time import monotonic as _monotonic

import numpy as np

from ._decompose import decompose
from ._expr import Expr, expr, get_params, subs, time as _time, topo_order, var as _var
from ._kernel import JET_TYPE, auto_kind, can_unroll, get_kernel
from ._unroll import is_cached as unroll_cached
from ._multi import directions, interpolation_matrices
from ._registry import no_refcount_opts

__all__ = ["taylor_coefficients", "derivatives", "Derivatives", "cfunc", "CFunc", "default_kind",
           "taylor_jet", "TaylorJet"]


def default_kind() -> str:
    """Kernel kind used when ``kind=None`` before a plan exists: ``$TAYLORJIT_KERNEL``
    or ``"auto"`` (the specialised kernel if already compiled in the disk cache,
    else the compact VM; see :func:`taylorjit._kernel.auto_kind`)."""
    k = os.environ.get("TAYLORJIT_KERNEL", "auto")
    if k not in ("spec", "compact", "python", "unrolled", "auto"):
        raise ValueError(f"TAYLORJIT_KERNEL={k!r}: use 'unrolled', 'spec', 'compact' or 'python'")
    return k


# ------------------------------------------------------------------ compiled drivers
_DRIVERS = {}


def _drivers():
    """Compile (once per installation, then cached) the point/direction driver:
    ``driver(jaddr, prog, cvals, tc, order, pars, P, D, outs, res)`` with the jet
    at address ``jaddr`` (``Kernel.jet._addr``; see ``_kernel.jet_from_addr``).
    Returns the compiled entry point (called without numba's dispatch: the
    callers pass exactly the signature's types)."""
    if "points" in _DRIVERS:
        return _DRIVERS["points"]
    from numba import njit, types

    from ._kernel import jet_from_addr

    g = _run_points_addr.__globals__
    g["_jet_from_addr"] = jet_from_addr()
    g["_run_points_inl"] = njit(inline="always", error_model="numpy")(_run_points)
    sig = types.void(types.int64, types.int64[:, ::1], types.float64[::1], types.float64[:, ::1],
                     types.int64, types.float64[::1], types.float64[:, ::1], types.float64[:, ::1],
                     types.int64[::1], types.float64[:, :, ::1])
    fn = njit(sig, cache=True, nogil=True, error_model="numpy",
              **no_refcount_opts())(_run_points_addr)
    cres = fn.overloads.get(fn.signatures[0]) if fn.signatures else None
    _DRIVERS["points"] = getattr(cres, "entry_point", None) or fn
    return _DRIVERS["points"]


def _run_points_addr(jaddr, prog, cvals, tc, order, pars, P, D, outs, res):
    _run_points_inl(_jet_from_addr(jaddr), prog, cvals, tc, order, pars, P, D, outs, res)


def _run_points(jet, prog, cvals, tc, order, pars, P, D, outs, res):
    """For each row r: expand the inputs as P[r] + D[r] h, run the jet to
    ``order`` and store the coefficients of the outputs in res[r]."""
    n = P.shape[1]
    for r in range(P.shape[0]):
        for i in range(n):
            tc[i, 0] = P[r, i]
            if order >= 1:
                tc[i, 1] = D[r, i]
            for k in range(2, order + 1):
                tc[i, k] = 0.0
        jet(tc, order, pars, 0.0, 1, prog, cvals)
        for m in range(outs.shape[0]):
            for k in range(order + 1):
                res[r, m, k] = tc[outs[m], k]


# ------------------------------------------------------------------ plans (cached)
class _Plan:
    __slots__ = ("kernel", "outs", "n_in", "n_pars", "time_par", "keep", "kind", "at", "looked",
                 "partials", "pcalls", "cjets", "ccalls")

    def __init__(self, kernel, outs, n_in, n_pars, time_par, keep, kind):
        self.kernel = kernel
        self.outs = outs
        self.n_in = n_in
        self.n_pars = n_pars
        self.time_par = time_par
        self.keep = keep
        self.kind = kind
        self.at = {}            # order -> kernel
        self.looked = {}        # order -> time of the last look for a cached unrolled kernel
        self.partials = {}      # order -> SIMD partials kernel, False (unsupported), "pending"
        self.pcalls = {}        # order -> derivatives() calls so far
        self.cjets = {}         # order -> direct coefficients kernel, False, "pending"
        self.ccalls = {}        # order -> single-point taylor_coefficients() calls so far

    def kernel_at(self, order):
        """The kernel to run at ``order``: the unrolled kernel at that order when
        asked for (``kind="unrolled"``) or, with ``kind="auto"``, when it is
        already compiled in the disk cache; else the plan's kernel.  All give the
        same results."""
        hit = self.at.get(order)
        if hit is not None:
            return hit
        k = self.kernel
        if self.kind not in ("unrolled", "auto"):
            return k
        d = k.decomposition
        if not can_unroll(d, order):
            self.at[order] = k
            return k
        if self.kind == "auto":
            # the disk is looked at most once a second per order (a stat costs more than
            # a small jet); a kernel compiled meanwhile is picked up at the next look
            now = _monotonic()
            if now - self.looked.get(order, -2.0) < 1.0:
                return k
            if not unroll_cached(d, False, order, 1):
                self.looked[order] = now
                return k
        k = self.at[order] = get_kernel(d, ode=False, kind="unrolled", order=order, full=1)
        return k


_PLANS: "OrderedDict[tuple, _Plan]" = OrderedDict()
_PLANS_LOCK = threading.Lock()


def _as_exprs(f):
    if isinstance(f, np.ndarray):
        if f.ndim > 1:
            raise ValueError(f"expected a scalar expression or a 1-D list of expressions, got an "
                             f"array of shape {f.shape}: pass f.ravel() and reshape the result")
        return [expr(x) for x in f], False
    if isinstance(f, (list, tuple)):
        if not f:
            raise ValueError("empty list of expressions")
        return [expr(x) for x in f], False
    return [expr(f)], True


def _as_vars(variables):
    if isinstance(variables, (Expr, str)):
        variables = [variables]
    out = []
    for v in variables:
        v = _var(v) if isinstance(v, str) else v
        if not isinstance(v, Expr) or v.op not in ("var", "par", "time"):
            raise TypeError(f"variables must be variables (tj.make_vars), tj.par[i] or tj.time, "
                            f"got {v!r}")
        out.append(v)
    if len(set(map(id, out))) != len(out):
        raise ValueError("a variable is listed twice")
    return out


def _plan(fs, variables, kind) -> _Plan:
    key = (tuple(map(id, fs)), tuple(map(id, variables)), kind)
    with _PLANS_LOCK:
        plan = _PLANS.get(key)
        if plan is not None:
            _PLANS.move_to_end(key)
            return plan
    inputs, mapping = [], {}
    for i, v in enumerate(variables):
        if v.op == "var":
            inputs.append(v)
        else:  # differentiate with respect to a parameter or time: a private variable
            nv = _var(f"__tj_in{i}")
            mapping[v] = nv
            inputs.append(nv)
    g = subs(fs, mapping) if mapping else list(fs)
    pars_used = get_params(g)
    n_pars = (max(pars_used) + 1) if pars_used else 0
    time_par = -1
    if any(n.op == "time" for n in topo_order(g)):
        time_par = n_pars
        g = subs(g, {_time: Expr("par", (), time_par)})
    d = decompose(g, inputs)
    base = "compact" if kind == "unrolled" else kind     # the VM where unrolling does not fit
    kern = get_kernel(d, ode=False, kind=auto_kind(d, ode=False) if base == "auto" else base)
    plan = _Plan(kern, np.array(d.outputs, dtype=np.int64), len(inputs), n_pars, time_par,
                 (fs, variables), kind)
    with _PLANS_LOCK:
        _PLANS[key] = plan
        while len(_PLANS) > 512:
            _PLANS.popitem(last=False)
    return plan


def _pars_array(plan, pars, time):
    p = np.zeros(plan.n_pars + (1 if plan.time_par >= 0 else 0))
    if plan.n_pars:
        if pars is None:
            raise ValueError(f"the expression uses runtime parameters par[0..{plan.n_pars - 1}]: "
                             f"pass pars=[...] with {plan.n_pars} values")
        pv = np.asarray(pars, dtype=np.float64).ravel()
        if pv.size < plan.n_pars:
            raise ValueError(f"the expression uses par[{plan.n_pars - 1}] but pars has only "
                             f"{pv.size} values")
        if not np.all(np.isfinite(pv[:plan.n_pars])):
            raise ValueError("pars contains NaN or infinity")
        p[:plan.n_pars] = pv[:plan.n_pars]
    if plan.time_par >= 0:
        if time is None:
            raise ValueError("the expression uses tj.time: pass time=<value> (or list tj.time "
                             "among the variables to expand in it)")
        p[plan.time_par] = float(time)
    return p


def _points(point, n, what="point"):
    P = np.asarray(point, dtype=np.float64)
    single = P.ndim <= 1
    P = np.atleast_2d(P) if P.ndim <= 1 else P
    if P.ndim == 2 and n == 1 and P.shape[1] != 1 and P.shape[0] == 1:
        P = P.reshape(-1, 1)
        single = P.shape[0] == 1
    if P.ndim != 2 or P.shape[1] != n:
        raise ValueError(f"{what} has shape {np.shape(point)} but there are {n} variables: pass "
                         f"{n} values (or an array of shape (npoints, {n}))")
    # a finite sum means every value is finite (one fast pass over big batches; a sum
    # that overflows falls through to the element check)
    if not math.isfinite(float(P.sum())) and not np.all(np.isfinite(P)):
        bad = np.argwhere(~np.isfinite(P))[0]
        raise ValueError(f"{what} contains a non-finite value at index {tuple(bad)}: "
                         f"{P[tuple(bad)]}")
    return np.ascontiguousarray(P), single


def _check_order(order):
    if isinstance(order, bool) or not isinstance(order, numbers.Integral):
        raise TypeError(f"order must be a non-negative integer, got {order!r}")
    if order < 0:
        raise ValueError(f"order must be >= 0, got {order}")
    return int(order)


def _run(plan, P, D, order, pars):
    m = plan.outs.shape[0]
    res = np.empty((P.shape[0], m, order + 1))
    k = plan.kernel_at(order)
    # (the kernels read only coefficients they computed: no need to zero the table)
    tc = np.empty((k.n_slots, order + 1))
    if k.kind == "python":
        _run_points(k.jet, k.prog, k.cvals, tc, order, pars, P, D, plan.outs, res)
    else:
        _drivers()(k.jet._addr, k.prog, k.cvals, tc, order, pars, P, D, plan.outs, res)
    return res


# ------------------------------------------------------------------ taylor_coefficients
def taylor_coefficients(f, variables, point, direction=None, order=10, *, pars=None, time=None,
                        kind=None):
    """Normalised Taylor coefficients of ``f(point + h * direction)`` in ``h``.

    Parameters
    ----------
    f : Expr or list of Expr
        The function(s).
    variables : list of variables (or tj.par[i], tj.time)
        The inputs, in the order of ``point``.
    point : array_like, shape (n,) or (npoints, n)
        Expansion point(s); many points are handled in one compiled loop.
    direction : array_like, shape (n,) or (npoints, n), optional
        Direction of the expansion (default: 1 for a single variable; required otherwise).
    order : int
        Highest coefficient.
    pars : array_like, optional
        Values of the runtime parameters ``par[i]`` used in ``f``.
    time : float, optional
        Value of ``tj.time`` if ``f`` uses it (and it is not among ``variables``).
    kind : {"unrolled", "spec", "compact", "python"}, optional
        Kernel kind (see :func:`default_kind`): ``"unrolled"`` compiles straight-line
        code for each order asked (LLVM, ~0.1 s for a small expression, cached on
        disk; fastest per call), ``"spec"`` a looped specialised kernel (numba),
        ``"compact"`` the VM (no compilation).  ``None``: the fastest kind already
        compiled in the disk cache, else the VM.

    Returns
    -------
    ndarray
        ``c[k] = (d/dh)^k f / k!`` at h = 0: shape ``(order+1,)`` for one function at
        one point, ``(m, order+1)`` for m functions, with a leading ``npoints``
        axis when several points are given.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x = tj.var("x")
    >>> c = tj.taylor_coefficients(tj.exp(x), [x], [0.0], order=4)
    >>> [round(float(v), 12) for v in c]
    [1.0, 1.0, 0.5, 0.166666666667, 0.041666666667]
    """
    order, fs, scalar, variables, plan = _front(f, variables, kind, order)
    n = plan.n_in
    # one point, one direction: the direct kernel (taylorjit._cjet) once it exists
    ck = plan.cjets.get(order)
    if ck is None or ck.__class__ is not str and ck is not False:
        vals = _finite_values(point, n)
        dvals = (_ONE_DIR if n == 1 else None) if direction is None else \
            _finite_values(direction, n)
        if vals is not None and dvals is not None:
            if ck is None:
                ck = _coefficients_direct(plan, order)
            if ck is not None:
                p = _pars_array(plan, pars, time) if plan.n_pars or plan.time_par >= 0 \
                    else _EMPTY
                res = ck.run(vals, dvals, p)
                return res[0] if scalar else res
    P = _point1(point, n, many=True) if type(point) is not np.ndarray or point.ndim == 1 \
        else None
    if P is not None:
        single = True
    else:
        P, single = _points(point, n)
    if direction is None:
        if n != 1:
            raise ValueError(f"direction is required with {n} variables (e.g. direction=[1.0] + "
                             f"[0.0]*{n - 1} to expand along the first one)")
        D = np.ones_like(P)
    else:
        D, dsingle = _points(direction, n, "direction")
        if D.shape[0] == 1 and P.shape[0] > 1:
            D = np.broadcast_to(D, P.shape).copy()
        elif D.shape[0] > 1 and P.shape[0] == 1:
            P = np.broadcast_to(P, D.shape).copy()
            single = False
        elif D.shape[0] != P.shape[0]:
            raise ValueError(f"{P.shape[0]} points but {D.shape[0]} directions")
    res = _run(plan, P, D, order, _pars_array(plan, pars, time))
    if scalar:
        res = res[:, 0, :]
    return res[0] if single else res


# ------------------------------------------------------------------ derivatives
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
    skipped (most of them; see taylorjit._vjet, which sums in the same order)."""
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


def derivatives(f, variables, point, order=2, *, pars=None, time=None, kind=None) -> Derivatives:
    """All partial derivatives of total order <= ``order`` at ``point``.

    Uses C(n+order-1, order) univariate Taylor expansions along integer
    directions, run in one compiled loop, and recombines them exactly
    (Griewank, Utke & Walther 2000; see ``taylorjit._multi``).

    Parameters
    ----------
    f : Expr or list of Expr
    variables : list of variables (or tj.par[i], tj.time)
    point : array_like, shape (n,)
    order : int
    pars, time, kind
        As in :func:`taylor_coefficients`.

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
    order, fs, scalar, variables, plan = _front(f, variables, kind, order)
    n = plan.n_in
    pk = plan.partials.get(order)
    if pk is not None and pk is not False and pk != "pending":    # the fast path
        vals = _finite_values(point, n)
        if vals is not None:
            pars_arr = _pars_array(plan, pars, time) if plan.n_pars or plan.time_par >= 0 \
                else _EMPTY
            return Derivatives(pk.run(vals, pars_arr), pk.index, n, order, scalar, variables)
    P = _point1(point, n)
    pars_arr = _pars_array(plan, pars, time)
    ndirs = math.comb(n + order - 1, order) if order else 1
    if ndirs > _MAX_DIRECTIONS:
        raise ValueError(
            f"all partial derivatives of order <= {order} in {n} variables need {ndirs} "
            f"directional expansions and a {ndirs} x {ndirs} interpolation matrix, more than "
            f"the limit of {_MAX_DIRECTIONS}: lower the order or the number of variables, or "
            "use taylor_coefficients along the directions you need")
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


_DFAST: dict = {}
_EMPTY = np.zeros(0)


def _front(f, variables, kind, order):
    """``(order, fs, scalar, variables, plan)`` for the arguments of a front end;
    repeated calls with the same objects skip the argument analysis (~8 us).

    The key holds the ids of ``f`` and of the variables (of the elements of
    lists); each entry keeps those objects alive (snapshots of the lists, so a
    list mutated later cannot free them), and the ids of live objects are
    unique, so an equal key means the same objects."""
    fl = type(f) in (list, tuple)
    vl = type(variables) in (list, tuple)
    fkey = (tuple(map(id, f)) if fl else id(f), tuple(map(id, variables)) if vl else id(variables),
            kind, order if type(order) is int else None, default_kind() if kind is None else 0)
    hit = _DFAST.get(fkey)
    if hit is not None:
        return hit[0]
    order = _check_order(order)
    fs, scalar = _as_exprs(f)
    vlist = _as_vars(variables)
    plan = _plan(fs, vlist, kind or default_kind())
    if len(_DFAST) > 256:
        _DFAST.clear()
    res = (order, fs, scalar, vlist, plan)
    _DFAST[fkey] = (res, tuple(f) if fl else f, tuple(variables) if vl else variables)
    return res


def _finite_values(point, n):
    """``point`` as a list of n finite numbers, or None (then ``_points`` checks it
    and explains).  A finite sum means all values are finite: numpy's reductions
    cost ~2 us on tiny arrays, a Python sum ~0.1 us."""
    vals = point.tolist() if type(point) is np.ndarray else point
    if type(vals) in (list, tuple) and len(vals) == n:
        try:
            if math.isfinite(sum(vals)):
                return vals
        except TypeError:
            pass
    return None


def _point1(point, n, many=False):
    """One point of n values as a float array of shape (1, n) (``_points`` for a
    single point).  ``many``: return None instead of an error for anything else
    (the caller then uses ``_points``)."""
    vals = _finite_values(point, n)
    if vals is not None:
        return np.array(vals, dtype=np.float64).reshape(1, n)
    if many:
        return None
    P, single = _points(point, n)
    if not single:
        raise ValueError("derivatives() takes one point; loop over points or use "
                         "taylor_coefficients with many points")
    return P


# SIMD partials kernels (taylorjit._vjet): with kind="unrolled" compiled at the first
# call; with the default kind loaded at once when cached on disk, else compiled in a
# background thread from the TIER_CALLS-th call on (the VM answers meanwhile, with the
# same values to the last bit)
TIER_CALLS = 3
_BG_LOCK = threading.Lock()


_ONE_DIR = (1.0,)


def _tier(plan, store, calls, order, too_big, cached, build, what):
    """Tiering of a plan's compiled front-end kernels (``store[order]``: the
    kernel, False when it cannot or must not exist, "pending" while a background
    thread builds it): with ``kind="unrolled"`` built at the first call; with the
    default kind loaded at once if ``cached()``, else built in a background
    thread from the TIER_CALLS-th call on.  Returns the kernel or None."""
    k = store.get(order)
    if k is not None:
        return k if k is not False and k != "pending" else None
    if plan.kind not in ("unrolled", "auto") or too_big():
        store[order] = False
        return None
    from ._vcfunc import UnsupportedSIMD

    n = calls[order] = calls.get(order, 0) + 1
    sync = plan.kind == "unrolled" or (n == 1 and cached())
    if not sync and n < TIER_CALLS:
        return None

    def run():
        try:
            store[order] = build()
        except UnsupportedSIMD:
            store[order] = False

    if sync:
        run()
        return store[order] or None
    with _BG_LOCK:
        if store.get(order) is None:
            store[order] = "pending"
            threading.Thread(target=run, name=f"taylorjit-{what}", daemon=True).start()
    return None


def _coefficients_direct(plan, order):
    """The plan's direct coefficients kernel at ``order`` (taylorjit._cjet) when
    it should be used, else None (see :func:`_tier`)."""
    from . import _cjet
    from ._unroll import unrolled_size

    d = plan.kernel.decomposition
    return _tier(plan, plan.cjets, plan.ccalls, order,
                 lambda: unrolled_size(d, order) > _cjet.MAX_OPS,
                 lambda: _cjet.is_cached(d, order),
                 lambda: _cjet.coefficients_kernel(d, order), "coefficients")


def _partials_simd(plan, order, dirs, C, degs):
    """The plan's SIMD partials kernel at ``order`` (taylorjit._vjet) when it
    should be used, else None (see :func:`_tier`)."""
    from . import _vjet

    d = plan.kernel.decomposition

    def build():
        k = _vjet.partials_kernel(d, order, dirs, C, degs)
        k.index = _deriv_layout(dirs.shape[1], order)[3]
        return k

    return _tier(plan, plan.partials, plan.pcalls, order,
                 lambda: _vjet.size(d, order, dirs.shape[0], C.shape[0]) > _vjet.MAX_OPS,
                 lambda: _vjet.is_cached(d, order, dirs, C), build, "partials")


# ------------------------------------------------------------------ cfunc
class CFunc:
    """A compiled evaluator of a list of expressions (see :func:`cfunc`)."""

    def __init__(self, plan, fs, variables, scalar, parallel, simd):
        self._plan = plan
        self.functions = list(fs)
        self.variables = list(variables)
        self._scalar = scalar
        self.parallel = parallel
        self.simd = simd
        self._simd_fn = None

    @property
    def n_in(self):
        return self._plan.n_in

    @property
    def n_out(self):
        return self._plan.outs.shape[0]

    def _simd(self):
        """The SIMD evaluator, compiled (or loaded from the disk cache) on first use;
        None when this evaluator uses the scalar kernels."""
        if self._simd_fn is None and self.simd is not False:
            from ._vcfunc import UnsupportedSIMD, simd_cfunc

            d = self._plan.kernel.decomposition
            try:
                if self.simd is None and len(d.ops) > _SIMD_AUTO_MAX_OPS:
                    raise UnsupportedSIMD("too large for an automatic compilation")
                self._simd_fn = simd_cfunc(d)
            except UnsupportedSIMD as exc:
                if self.simd:
                    raise ValueError(f"simd=True: {exc}; use simd=False (scalar kernels)") \
                        from None
                self.simd = False
        return self._simd_fn

    def __call__(self, x, *, pars=None, time=None, parallel=None):
        """Evaluate at one point (shape (n,)) or many (shape (npoints, n)).
        ``parallel`` overrides the evaluator's setting for this call."""
        plan = self._plan
        X, single = _points(x, plan.n_in, "input")
        p = _pars_array(plan, pars, time)
        parallel = self.parallel if parallel is None else parallel
        g = self._simd()
        npts = X.shape[0]
        nthreads = min(os.cpu_count() or 1, 64)
        if parallel is None:
            parallel = npts >= PARALLEL_MIN_POINTS
        chunks = None
        if parallel and nthreads > 1 and npts >= 2 * nthreads * 64:
            # contiguous chunks of whole SIMD blocks, one per core
            step = -(-npts // nthreads)
            step = -(-step // 64) * 64
            chunks = [(a, min(a + step, npts)) for a in range(0, npts, step)]
        if g is not None:
            res = np.empty((npts, self.n_out))
            pp = p if p.size else _ONE
            if chunks is None:
                g(X, res, pp)
            else:       # ctypes releases the GIL
                list(_pool().map(lambda c: g(X[c[0]:c[1]], res[c[0]:c[1]], pp), chunks))
        else:
            if chunks is None:
                res = _run(plan, X, X, 0, p)
            else:
                parts = list(_pool().map(lambda c: _run(plan, X[c[0]:c[1]], X[c[0]:c[1]], 0, p),
                                         chunks))
                res = np.concatenate(parts)
            res = res[:, :, 0]
        if self._scalar:
            res = res[:, 0]
        return res[0] if single else res

    def __repr__(self):
        how = "SIMD" if self._simd_fn is not None else f"kernel={self._plan.kernel.kind}"
        return f"<CFunc {self.n_out} output(s) of {self.n_in} variable(s), {how}>"


_ONE = np.zeros(1)
PARALLEL_MIN_POINTS = 65536     # parallel=None: threads from this many points on
_POOL = []


def _pool():
    """The process's evaluation threads (one per core, created once)."""
    if not _POOL:
        with _BG_LOCK:
            if not _POOL:
                from concurrent.futures import ThreadPoolExecutor

                _POOL.append(ThreadPoolExecutor(min(os.cpu_count() or 1, 64),
                                                thread_name_prefix="taylorjit-cfunc"))
    return _POOL[0]
# above this many operations simd=None keeps the scalar kernels (LLVM compile time)
_SIMD_AUTO_MAX_OPS = 5000


def cfunc(f, variables, *, kind=None, parallel=None, simd=None) -> CFunc:
    """Compile expressions into a fast evaluator.

    Parameters
    ----------
    f : Expr or list of Expr
    variables : list of variables (order of the inputs)
    kind : {"unrolled", "spec", "compact", "python"}, optional
        Kernel kind of the scalar evaluation (as in :func:`taylor_coefficients`).
    parallel : bool, optional
        Evaluate batches on all cores (threads; the compiled code releases the
        GIL).  ``None`` (default): for batches of at least 65536 points (as
        heyoka's cfunc does); ``False``: one thread.  Values do not depend on it.
    simd : bool, optional
        Evaluate W points at a time with SIMD instructions (W = 8 with AVX-512,
        4 with AVX2; see ``taylorjit._vcfunc``), compiled with LLVM on the first
        call (~0.1 s for a small expression, then cached on disk).  exp, log,
        sin, cos, tan, expm1, log1p, atan, sinh, cosh and tanh are then
        taylorjit's vector functions, within 1 ulp like heyoka's (SLEEF), so a
        value may differ in its last bit from the C library's; every other
        operation is the same IEEE operation as in the scalar kernels.
        ``None`` (default): SIMD unless ``kind`` is given, the expression has
        an operation SIMD does not cover (kepE) or more than 5000 operations;
        ``False``: the scalar kernels (C library values, bit-identical to
        :func:`taylor_coefficients`); ``True``: SIMD or an error.

    Examples
    --------
    >>> import numpy as np, taylorjit as tj
    >>> x, y = tj.make_vars("x", "y")
    >>> g = tj.cfunc([x * y, tj.sin(x) + y], [x, y])
    >>> g(np.array([2.0, 3.0]))
    array([6.        , 3.90929743])
    >>> g(np.ones((4, 2))).shape
    (4, 2)
    """
    fs, scalar = _as_exprs(f)
    variables = _as_vars(variables)
    if simd is None and kind is not None:
        simd = False
    plan = _plan(fs, variables, kind or default_kind())
    return CFunc(plan, fs, variables, scalar, parallel, simd)


# ------------------------------------------------------------------ taylor_jet
class TaylorJet:
    """A compiled function ``point -> Taylor coefficients`` (see :func:`taylor_jet`)."""

    def __init__(self, plan, fs, variables, scalar, order, kernel):
        self._plan = plan
        self.functions = list(fs)
        self.variables = list(variables)
        self.order = order
        self._scalar = scalar
        self._k = kernel                  # direct kernel, or None: taylor_coefficients
        n = plan.n_in
        self._n = n
        self._needs_pars = bool(plan.n_pars or plan.time_par >= 0)
        # one variable, no parameters: a float point goes straight to the kernel
        self._fast1 = kernel is not None and n == 1 and not self._needs_pars
        self._fn = kernel.fn if kernel is not None else None
        if kernel is not None:
            kernel.run([0.0] * n, [1.0] * n, _EMPTY)   # allocate this thread's buffers

    def __call__(self, point, direction=None, *, pars=None, time=None):
        """Coefficients 0..order of the functions at ``point`` along ``direction``
        (default: 1 for one variable).  Shape ``(order + 1,)`` for one function,
        ``(m, order + 1)`` for m; several points (shape (npoints, n)) are handled
        as in :func:`taylor_coefficients`."""
        if self._fast1 and direction is None and point.__class__ is float:
            b = self._k._tls.__dict__.get("b")
            if b is not None and point - point == 0.0:         # finite
                b[0][0] = point
                b[1][0] = 1.0
                self._fn(b[4])
                return b[6].copy() if self._scalar else b[3].copy()
        k = self._k
        if k is not None and not self._needs_pars:
            n = self._n
            vals = _finite_values(point if point.__class__ is not float else [point], n)
            dvals = (_ONE_DIR if n == 1 else None) if direction is None else \
                _finite_values(direction, n)
            if vals is not None and dvals is not None:
                res = k.run(vals, dvals, _EMPTY)
                return res[0] if self._scalar else res
        fs = self.functions[0] if self._scalar else self.functions
        return taylor_coefficients(fs, self.variables, point, direction, self.order, pars=pars,
                                   time=time, kind=self._plan.kind)

    def __repr__(self):
        how = "direct kernel" if self._k is not None else f"kernel={self._plan.kernel.kind}"
        return (f"<TaylorJet order {self.order} of {len(self.functions)} function(s) of "
                f"{self._n} variable(s), {how}>")


def taylor_jet(f, variables, order=10, *, kind="unrolled") -> TaylorJet:
    """Compile ``point -> Taylor coefficients`` for repeated calls.

    The callable computes what :func:`taylor_coefficients` computes (the same
    values to the last bit) with the least overhead per call: the coefficients
    function is compiled here (LLVM, ~0.1-0.5 s for a small expression, cached
    on disk), and a call with one point (a float for one variable, or n
    numbers) goes straight to it (2-3 us per call from Python on the project's
    2-core machine for order 20 of a small expression, of which ~0.7 us is the
    kernel and its C call; see benchmarks/bench_derivatives.py).  Anything else --
    several points, parameters, ``kepE`` -- takes the general path.

    Parameters
    ----------
    f : Expr or list of Expr
    variables : list of variables (or tj.par[i], tj.time)
    order : int
    kind : {"unrolled", "compact", "spec"}
        ``"unrolled"`` (default) compiles the direct kernel; the others use
        that kernel kind through :func:`taylor_coefficients`.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x = tj.var("x")
    >>> J = tj.taylor_jet(tj.exp(x), [x], order=3)
    >>> [round(float(c), 12) for c in J(0.0)]
    [1.0, 1.0, 0.5, 0.166666666667]
    """
    order, fs, scalar, variables, plan = _front(f, variables, kind, order)
    k = None
    if kind == "unrolled":
        k = _coefficients_direct(plan, order)
    return TaylorJet(plan, fs, variables, scalar, order, k)
