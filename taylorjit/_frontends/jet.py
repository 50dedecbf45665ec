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
import operator
import os
import threading
from collections import OrderedDict
from functools import lru_cache
from time import monotonic as _monotonic

import numpy as np

from .._codegen.decompose import decompose
from .._symbolic.expr import (Expr, TracingError, expr, get_params, par as _par, subs, time as _time,
    topo_order, var as _var)
from .._codegen.kernel import JET_TYPE, auto_kind, can_unroll, get_kernel, vm_loaded
from .._codegen.unroll import is_cached as unroll_cached
from .._codegen.multi import directions, interpolation_matrices
from .._symbolic.registry import no_refcount_opts
from .._codegen.tiering import Upgrade as _Upgrade

__all__ = ["taylor_coefficients", "derivatives", "Derivatives", "cfunc", "CFunc", "default_kind",
           "taylor_jet", "TaylorJet"]


def default_kind() -> str:
    """Kernel kind used when ``kind=None`` before a plan exists: ``$TAYLORJIT_KERNEL``
    or ``"auto"`` (the specialised kernel if already compiled in the disk cache,
    else the compact VM; see :func:`taylorjit._codegen.kernel.auto_kind`)."""
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

    from .._codegen.kernel import jet_from_addr

    g = _run_points_addr.__globals__
    g["_jet_from_addr"] = jet_from_addr()
    g["_run_points_inl"] = njit(inline="always", error_model="numpy")(_run_points)
    sig = types.void(types.int64, types.int64[:, ::1], types.float64[::1], types.float64[:, ::1],
                     types.int64, types.float64[::1], types.float64[:, ::1], types.float64[:, ::1],
                     types.int64[::1], types.float64[:, :, ::1])
    fn = njit(sig, cache=True, nogil=True, error_model="numpy",
              **no_refcount_opts())(_run_points_addr)
    from .._numba_compat import entry_point

    _DRIVERS["points"] = entry_point(fn)
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
        self.partials = {}      # order -> SIMD partials kernel, False (unsupported), Upgrade
        self.pcalls = {}        # order -> derivatives() calls so far
        self.cjets = {}         # order -> direct coefficients kernel, False, Upgrade
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


def decompose_front(fs, variables):
    """``(decomposition, n_pars, time_par)`` of the front ends' expressions ``fs`` in
    ``variables``: parameters or the time listed among the variables become private
    variables (to differentiate with respect to them), the time otherwise becomes the
    parameter after the others (``time_par``, -1 if unused).  Shared by the double and
    the double-double front ends."""
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
    return decompose(g, inputs), n_pars, time_par


def _plan(fs, variables, kind) -> _Plan:
    key = (tuple(map(id, fs)), tuple(map(id, variables)), kind)
    with _PLANS_LOCK:
        plan = _PLANS.get(key)
        if plan is not None:
            _PLANS.move_to_end(key)
            return plan
    from .._symbolic.guards import has_select

    if has_select(fs):      # piecewise: resolved point by point (taylorjit._frontends.piecewise)
        plan = _PiecewisePlan(fs, variables, kind)
        with _PLANS_LOCK:
            _PLANS[key] = plan
        return plan
    d, n_pars, time_par = decompose_front(fs, variables)
    base = "compact" if kind == "unrolled" else kind     # the VM where unrolling does not fit
    kern = get_kernel(d, ode=False, kind=auto_kind(d, ode=False) if base == "auto" else base)
    plan = _Plan(kern, np.array(d.outputs, dtype=np.int64), len(variables), n_pars, time_par,
                 (fs, variables), kind)
    with _PLANS_LOCK:
        _PLANS[key] = plan
        while len(_PLANS) > 512:
            _PLANS.popitem(last=False)
    return plan


class _PiecewisePlan:
    """The plan of expressions with select nodes: the front ends group the points by
    the active branch (:class:`taylorjit._frontends.piecewise.PiecewiseFront`)."""

    def __init__(self, fs, variables, kind):
        from .piecewise import PiecewiseFront

        self.front = PiecewiseFront(fs, variables)
        self.kind = kind
        self.n_in = len(variables)


def _pw_coefficients(plan, scalar, point, direction, order, pars, time, kind):
    front = plan.front
    P, single = _points(point, plan.n_in)
    D = None
    if direction is not None:
        D, _ = _points(direction, plan.n_in, "direction")
        if D.shape[0] == 1 and P.shape[0] > 1:
            D = np.broadcast_to(D, P.shape).copy()
        elif D.shape[0] > 1 and P.shape[0] == 1:
            P = np.broadcast_to(P, D.shape).copy()
            single = False
    out = None
    for idx, fs in front.groups(P, pars, time):
        r = taylor_coefficients(fs, front.variables, P[idx], None if D is None else D[idx],
                                order, pars=pars, time=time, kind=kind)
        if out is None:
            out = np.empty((P.shape[0],) + r.shape[1:])
        out[idx] = r
    if scalar:
        out = out[:, 0, :]
    return out[0] if single else out


def _pars_array(plan, pars, time):
    """The parameter vector of one jet call: ``par[0..n_pars-1]`` then the time."""
    p = np.zeros(plan.n_pars + (1 if plan.time_par >= 0 else 0))
    if plan.n_pars:
        if pars is None:
            raise ValueError(f"the expression uses runtime parameters par[0..{plan.n_pars - 1}]: "
                             f"pass pars=[...] with {plan.n_pars} values")
        pv = _float_array(pars, "pars")
        if pv.ndim > 1 and sorted(pv.shape)[-2] > 1:
            raise ValueError(f"pars has shape {pv.shape}: one value per parameter is expected "
                             f"(shape ({plan.n_pars},)); per-point parameters are supported by "
                             "tj.cfunc (shape (npars, npoints)), else loop over the points")
        pv = pv.ravel()
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
        p[plan.time_par] = _float_scalar(time, "time")
    return p


_COMPLEX = (complex, np.complexfloating)


def _complex_error(what, value):
    return TypeError(f"{what} has a complex value ({value!r}): taylorjit computes with real "
                     "numbers; pass the real part (np.real(...)) if the imaginary parts are 0, "
                     "or make the real and imaginary parts separate variables")


def _float_array(value, what):
    """``value`` (numbers, nested sequences, an array) as a float64 array.

    Complex values, strings and other non-numbers raise a TypeError naming
    ``what``: numpy's own conversion would drop an imaginary part with only a
    ComplexWarning, and parse strings."""
    a = value if type(value) is np.ndarray else np.asarray(value)
    kind = a.dtype.kind
    if kind in "fiub":
        return a.astype(np.float64, copy=False)
    if kind == "c":
        bad = a.ravel()[np.flatnonzero(a.ravel().imag)[:1]]
        raise _complex_error(what, (bad if bad.size else a.ravel()[:1])[0].item())
    if kind == "O":
        for v in a.ravel():
            if isinstance(v, _COMPLEX) or (isinstance(v, numbers.Complex)
                                           and not isinstance(v, numbers.Real)):
                raise _complex_error(what, v)
        try:
            return a.astype(np.float64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise TypeError(f"{what} must be real numbers: {exc}") from None
    raise TypeError(f"{what} must be real numbers, got {type(value).__name__} of dtype "
                    f"{a.dtype} ({value!r:.60})")


def _float_scalar(value, what):
    """One real number (a Python or numpy scalar, a 0-d or one-element array)."""
    if value.__class__ is float:
        return value
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be a real number, got the boolean {value!r}")
    a = _float_array(value, what)
    if a.size != 1:
        raise ValueError(f"{what} must be one number, got an array of shape {a.shape}")
    return float(a.ravel()[0])


def _points(point, n, what="point"):
    P = _float_array(point, what)
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


# highest order the front ends compute: the work grows as order**2 (0.1 s per point at
# order 10000 for a small expression, ~20 minutes at 10**6), each point in one compiled call
# that Ctrl-C cannot interrupt, and normalised coefficients that high are below or above the
# range of doubles unless the direction is scaled to the radius of convergence
MAX_ORDER = 10000


def _check_order(order, maximum=MAX_ORDER):
    """``order`` as a Python int in 0..``maximum``.  Integers of any kind (numpy's,
    0-d arrays) and integral floats (``3.0``) are accepted; booleans, fractions,
    NaN and non-numbers raise a TypeError."""
    if isinstance(order, np.ndarray) and order.ndim == 0:
        order = order[()]
    if isinstance(order, (bool, np.bool_)):
        raise TypeError(f"order must be a non-negative integer, got the boolean {order!r}")
    try:
        k = operator.index(order)
    except TypeError:
        k = None
        if isinstance(order, numbers.Real) and math.isfinite(order) and \
                float(order).is_integer():
            k = int(order)
        if k is None:
            raise TypeError(f"order must be a non-negative integer, got {order!r} "
                            f"({type(order).__name__})") from None
    if k < 0:
        raise ValueError(f"order must be >= 0, got {k}")
    if k > maximum:
        raise ValueError(
            f"order={k} is above the maximum of {maximum}: the work grows as order**2 (about "
            "0.1 s per point at order 10000 for a small expression, each point in one compiled "
            "call that cannot be interrupted), and normalised Taylor coefficients that high "
            "under- or "
            "overflow double precision unless the direction is scaled to the radius of "
            "convergence; ask for a lower order")
    return k


# compiled calls over many points are split into chunks of about this many slot-coefficient
# products (~0.05 s), so that Ctrl-C stops a long batch between two chunks
_CHUNK_WORK = 1 << 25


def _run(plan, P, D, order, pars):
    m = plan.outs.shape[0]
    res = np.empty((P.shape[0], m, order + 1))
    k = plan.kernel_at(order)
    # (the kernels read only coefficients they computed: no need to zero the table)
    tc = np.empty((k.n_slots, order + 1))
    if k.kind == "python":
        _run_points(k.jet, k.prog, k.cvals, tc, order, pars, P, D, plan.outs, res)
        return res
    drive, addr = _drivers(), k.jet._addr
    npts = P.shape[0]
    step = max(1, _CHUNK_WORK // (k.n_slots * (order + 1) ** 2))
    if npts <= step:
        drive(addr, k.prog, k.cvals, tc, order, pars, P, D, plan.outs, res)
    else:       # (slices along the first axis stay C-contiguous, as the driver needs)
        for a in range(0, npts, step):
            b = a + step
            drive(addr, k.prog, k.cvals, tc, order, pars, P[a:b], D[a:b], plan.outs, res[a:b])
    return res


# ------------------------------------------------------------------ taylor_coefficients
def taylor_coefficients(f, variables, point, direction=None, order=10, *, pars=None, time=None,
                        kind=None, precision=None):
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
        Highest coefficient, at most 10000 (numpy integers and integral floats
        are accepted).
    pars : array_like, optional
        Values of the runtime parameters ``par[i]`` used in ``f``, shape (npars,).
    time : float, optional
        Value of ``tj.time`` if ``f`` uses it (and it is not among ``variables``).
    kind : {"unrolled", "spec", "compact", "python"}, optional
        Kernel kind (see :func:`default_kind`): ``"unrolled"`` compiles straight-line
        code for each order asked (LLVM, ~0.1 s for a small expression, cached on
        disk; fastest per call), ``"spec"`` a looped specialised kernel (numba),
        ``"compact"`` the VM (no compilation).  ``None``: the fastest kind already
        compiled in the disk cache, else the VM.
    precision : {None, "double", "dd"}, optional
        ``"dd"``: double-double arithmetic (~32 significant digits, see
        docs/extended-precision.md); points, directions, ``pars`` and ``time`` are then
        read without loss (decimal strings such as ``"0.1"`` exactly, mpmath numbers,
        ``(hi, lo)`` tuples) and the result is a ``DDArray`` (``kind`` is ignored).

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
    if precision is not None and precision != "double":
        if precision == "dd":
            from .dd import taylor_coefficients_dd

            return taylor_coefficients_dd(f, variables, point, direction, order, pars=pars,
                                          time=time)
        raise ValueError(f"precision={precision!r}: use None or 'double' (double precision) or "
                         "'dd' (double-double, ~32 digits)")
    order, fs, scalar, variables, plan = _front(f, variables, kind, order)
    if plan.__class__ is _PiecewisePlan:
        return _pw_coefficients(plan, scalar, point, direction, order, pars, time, kind)
    n = plan.n_in
    # one point, one direction: the direct kernel (taylorjit._codegen.cjet) once it exists
    ck = plan.cjets.get(order)
    if ck is not False:
        vals = _finite_values(point, n)
        dvals = (_ONE_DIR if n == 1 else None) if direction is None else \
            _finite_values(direction, n)
        if vals is not None and dvals is not None:
            if ck is None or ck.__class__ is _Upgrade:
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


def derivatives(f, variables, point, order=2, *, pars=None, time=None, kind=None) -> Derivatives:
    """All partial derivatives of total order <= ``order`` at ``point``.

    Uses C(n+order-1, order) univariate Taylor expansions along integer
    directions, run in one compiled loop, and recombines them exactly
    (Griewank, Utke & Walther 2000; see ``taylorjit._codegen.multi``).

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
    if order.__class__ is not int or not 0 <= order <= MAX_ORDER:
        order = _check_order(order)     # numpy integers, 3.0: a Python int in the key
    fkey = (tuple(map(id, f)) if fl else id(f), tuple(map(id, variables)) if vl else id(variables),
            kind, order, default_kind() if kind is None else 0)
    hit = _DFAST.get(fkey)
    if hit is not None:
        return hit[0]
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
            s = sum(vals)       # complex if any value is (then _points explains)
            if (s.__class__ is float or not isinstance(s, _COMPLEX)) and math.isfinite(s):
                return vals
        except (TypeError, OverflowError):
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


# Front-end kernels (taylorjit._codegen.cjet, taylorjit._codegen.vjet): with kind="unrolled" compiled at
# the first call; with the default kind loaded at once when cached on disk, else compiled
# by the background worker (taylorjit._codegen.tiering) from the TIER_CALLS-th call on (the VM
# answers meanwhile, with the same values to the last bit)
TIER_CALLS = 3
_BG_LOCK = threading.Lock()


_ONE_DIR = (1.0,)


def _tier(plan, store, calls, order, too_big, cached, build, what):
    """Tiering of a plan's compiled front-end kernels (``store[order]``: the
    kernel, False when it cannot or must not exist, an
    :class:`~taylorjit._codegen.tiering.Upgrade` while the background worker builds it):
    with ``kind="unrolled"`` built at the first call; with the default kind built
    at the first call if ``cached()`` or the VM is not loaded in this process, else
    in the background (:mod:`taylorjit._codegen.tiering`, off with
    ``TAYLORJIT_TIERING=0``) from the TIER_CALLS-th call on.  A failed build of
    the default kind warns once (:class:`~taylorjit.TierWarning`) and the VM goes
    on answering, with the same values.  Returns the kernel or None."""
    from .._codegen import tiering as _tiering
    from .._codegen.vcfunc import UnsupportedSIMD

    k = store.get(order)
    if isinstance(k, _tiering.Upgrade):
        kern, up = k.claim()            # between calls: take the kernel once it is built
        if up is None:
            store[order] = kern if kern is not None else False
        return kern or None
    if k is not None:
        return k or None
    if plan.kind not in ("unrolled", "auto") or too_big():
        store[order] = False
        return None
    n = calls[order] = calls.get(order, 0) + 1
    # at once: when asked for, when cached, or when the VM is not loaded in this process
    # (its LLVM kernel compiles in ~0.1 s; loading the VM costs a fresh process more, and
    # its first use after installation compiles it for tens of seconds)
    sync = plan.kind == "unrolled" or (n == 1 and (cached() or not vm_loaded()))
    if not sync and n < TIER_CALLS:
        return None

    def run():
        try:
            return build()
        except UnsupportedSIMD:
            return False

    if sync:
        try:
            store[order] = run()
        except Exception as exc:        # noqa: BLE001 - the VM computes the same values
            if plan.kind == "unrolled":
                raise
            import warnings

            warnings.warn(f"taylorjit could not compile the {what} kernel at order {order} "
                          f"({type(exc).__name__}: {exc}); the compact VM computes it, with "
                          "identical results", _tiering.TierWarning, stacklevel=4)
            store[order] = False
        return store[order] or None
    with _BG_LOCK:
        if store.get(order) is None:
            up = _tiering.submit((what, id(store), order), run, f"the {what} of an expression")
            store[order] = up if up is not None else False
    return None


def _coefficients_direct(plan, order):
    """The plan's direct coefficients kernel at ``order`` (taylorjit._codegen.cjet) when
    it should be used, else None (see :func:`_tier`)."""
    from .._codegen import cjet as _cjet
    from .._codegen.unroll import unrolled_size

    d = plan.kernel.decomposition
    return _tier(plan, plan.cjets, plan.ccalls, order,
                 lambda: unrolled_size(d, order) > _cjet.MAX_OPS,
                 lambda: _cjet.is_cached(d, order),
                 lambda: _cjet.coefficients_kernel(d, order), "coefficients")


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


# ------------------------------------------------------------------ cfunc
class CFunc:
    """A compiled evaluator of a list of expressions (see :func:`cfunc`)."""

    def __init__(self, plan, fs, variables, scalar, parallel, simd, kind=None):
        self._plan = plan
        self.functions = list(fs)
        self.variables = list(variables)
        self._scalar = scalar
        self.parallel = parallel
        self.simd = simd
        self._kind = kind
        self._simd_fn = None
        self._pp = None         # (plan, SIMD evaluator) with per-point parameters as inputs

    @property
    def n_in(self):
        return self._plan.n_in

    @property
    def n_out(self):
        return self._plan.outs.shape[0]

    def __reduce__(self):
        # rebuilt from the expressions (compiled code reloads from the disk cache)
        f = self.functions[0] if self._scalar else self.functions
        return (_rebuild_cfunc, (f, self.variables, self._kind, self.parallel, self.simd))

    def _simd_of(self, plan):
        """The SIMD evaluator of ``plan``, compiled (or loaded from the disk cache)
        on first use; None when this evaluator uses the scalar kernels."""
        if self.simd is False:
            return None
        from .._codegen.vcfunc import UnsupportedSIMD, simd_cfunc

        d = plan.kernel.decomposition
        try:
            if self.simd is None and len(d.ops) > _SIMD_AUTO_MAX_OPS:
                raise UnsupportedSIMD("too large for an automatic compilation")
            return simd_cfunc(d)
        except UnsupportedSIMD as exc:
            if self.simd:
                raise ValueError(f"simd=True: {exc}; use simd=False (scalar kernels)") from None
            self.simd = False
        return None

    def _simd(self):
        if self._simd_fn is None and self.simd is not False:
            self._simd_fn = self._simd_of(self._plan)
        return self._simd_fn

    def _per_point_plan(self):
        """The plan with the parameters (and time) as extra inputs after the
        variables, and its SIMD evaluator: ``(plan, simd, param indices)``."""
        if self._pp is None:
            plan = self._plan
            listed = {id(v) for v in self.variables}
            idx = [i for i in range(plan.n_pars) if id(_par[i]) not in listed]
            extra = [_par[i] for i in idx] + ([_time] if plan.time_par >= 0 else [])
            pplan = _plan(self.functions, self.variables + extra, plan.kind)
            self._pp = (pplan, self._simd_of(pplan), idx)
        return self._pp

    def __call__(self, x, *, pars=None, time=None, parallel=None, layout=None, outputs=None):
        """Evaluate at one point (shape (n,)) or many (shape (npoints, n)).

        ``pars``: shape (npars,), the same parameters for every point, or
        (npars, npoints), one column per point (heyoka's layout); ``time``: a
        number, or one per point (shape (npoints,)).  ``parallel`` overrides
        the evaluator's setting for this call.  ``layout="columns"`` (or
        ``"heyoka"``): heyoka's layout, inputs ``(n, npoints)`` and results
        ``(nouts, npoints)``, one column per point; ``outputs``: an array to
        write the results into (and return), as heyoka's ``outputs=``."""
        if layout is not None or outputs is not None:
            return _layout_call(self, x, layout, outputs, pars=pars, time=time,
                                parallel=parallel)
        plan = self._plan
        X, single = _points(x, plan.n_in, "input")
        cols = None
        if (plan.n_pars and pars is not None) or (plan.time_par >= 0 and time is not None):
            cols = _per_point_columns(plan, pars, time, X.shape[0])
        if cols is None:
            res = self._eval(plan, self._simd(), X, _pars_array(plan, pars, time), parallel)
        else:
            pplan, g, idx = self._per_point_plan()
            keep = idx + ([plan.n_pars] if plan.time_par >= 0 else [])
            XP = np.empty((X.shape[0], X.shape[1] + len(keep)))    # C-contiguous
            XP[:, :X.shape[1]] = X
            XP[:, X.shape[1]:] = cols[:, keep]
            res = self._eval(pplan, g, XP, _EMPTY, parallel)
        if self._scalar:
            res = res[:, 0]
        return res[0] if single else res

    def _eval(self, plan, g, X, p, parallel):
        """Values (npoints, n_out) of ``plan`` at the rows of ``X``."""
        parallel = self.parallel if parallel is None else parallel
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
            res = np.empty((npts, plan.outs.shape[0]))
            pp = p if p.size else _ONE
            if chunks is None:
                g(X, res, pp)
            else:       # ctypes releases the GIL
                list(_pool().map(lambda c: g(X[c[0]:c[1]], res[c[0]:c[1]], pp), chunks))
            return res
        if chunks is None:
            res = _run(plan, X, X, 0, p)
        else:
            parts = list(_pool().map(lambda c: _run(plan, X[c[0]:c[1]], X[c[0]:c[1]], 0, p),
                                     chunks))
            res = np.concatenate(parts)
        return res[:, :, 0]

    def __repr__(self):
        how = "SIMD" if self._simd_fn is not None else f"kernel={self._plan.kernel.kind}"
        return f"<CFunc {self.n_out} output(s) of {self.n_in} variable(s), {how}>"


class PiecewiseCFunc:
    """A compiled evaluator of expressions with ``tj.select`` branches: the points are
    grouped by their active branch, each branch a compiled :class:`CFunc` (built on
    first use)."""

    def __init__(self, plan, fs, variables, scalar, parallel, simd, kind):
        self._plan = plan
        self.functions = list(fs)
        self.variables = list(variables)
        self._scalar = scalar
        self._opts = (parallel, simd, kind)
        self._parts = {}

    n_in = property(lambda self: len(self.variables))
    n_out = property(lambda self: len(self.functions))

    def __reduce__(self):
        f = self.functions[0] if self._scalar else self.functions
        parallel, simd, kind = self._opts
        return (_rebuild_cfunc, (f, self.variables, kind, parallel, simd))

    def __call__(self, x, *, pars=None, time=None, parallel=None, layout=None, outputs=None):
        if layout is not None or outputs is not None:
            return _layout_call(self, x, layout, outputs, pars=pars, time=time,
                                parallel=parallel)
        X, single = _points(x, self.n_in, "input")
        per_point = (pars is not None and np.ndim(pars) == 2) or \
            (time is not None and np.ndim(time) == 1)
        res = np.empty((X.shape[0], self.n_out))
        p_par, simd, kind = self._opts
        for idx, fs in self._plan.front.groups(X, pars, time, per_point):
            key = tuple(map(id, fs))
            g = self._parts.get(key)
            if g is None:
                g = self._parts[key] = cfunc(fs, self.variables, kind=kind, parallel=p_par,
                                             simd=simd)
            p = pars
            if pars is not None and np.ndim(pars) == 2:
                p = np.asarray(pars, dtype=float)[:, idx]
            t = time
            if time is not None and np.ndim(time) == 1:
                t = np.asarray(time, dtype=float)[idx]
            res[idx] = np.asarray(g(X[idx], pars=p, time=t, parallel=parallel)).reshape(
                idx.shape[0], self.n_out)
        if self._scalar:
            res = res[:, 0]
        return res[0] if single else res

    def __repr__(self):
        return (f"<CFunc {self.n_out} output(s) of {self.n_in} variable(s), piecewise: "
                f"{len(self._plan.front.guards)} condition(s)>")


_ROWS = ("rows", "points")
_COLUMNS = ("columns", "heyoka")


def _layout_call(g, x, layout, outputs, **kw):
    """``g(x, **kw)`` with heyoka's layout (``layout="columns"``: inputs ``(nvars,
    npoints)``, results ``(nouts, npoints)``) and/or heyoka's ``outputs=`` array."""
    if layout is None or layout in _ROWS:
        res = g(x, **kw)
    elif layout in _COLUMNS:
        a = _float_array(x, "input")
        if a.ndim == 1:             # one point: the same in both layouts
            if a.shape[0] != g.n_in:
                raise ValueError(f"input has shape {a.shape} but there are {g.n_in} variables: "
                                 f"with layout='columns' pass {g.n_in} values (one point) or "
                                 f"an array of shape ({g.n_in}, npoints)")
            res = g(a, **kw)
        elif a.ndim == 2:
            if a.shape[0] != g.n_in:
                raise ValueError(f"input has shape {a.shape}: with layout='columns' (heyoka's) "
                                 f"pass shape ({g.n_in}, npoints), one column per point "
                                 "(layout='rows', the default, takes (npoints, nvars))")
            res = g(np.ascontiguousarray(a.T), **kw)
            res = np.ascontiguousarray(res.T) if res.ndim == 2 else res
        else:
            raise ValueError(f"input has shape {a.shape}: with layout='columns' pass "
                             f"({g.n_in},) or ({g.n_in}, npoints)")
    else:
        raise ValueError(f"layout must be 'rows' (one row per point, (npoints, nvars): "
                         "taylorjit's default) or 'columns' (one column per point, (nvars, "
                         f"npoints): heyoka's), got {layout!r}")
    if outputs is None:
        return res
    if not isinstance(outputs, np.ndarray) or outputs.dtype != np.float64:
        raise TypeError(f"outputs must be a float64 numpy array of shape {np.shape(res)}, "
                        f"got {type(outputs).__name__}")
    if outputs.shape != np.shape(res):
        raise ValueError(f"outputs has shape {outputs.shape}; the results have shape "
                         f"{np.shape(res)}")
    outputs[...] = res
    return outputs


def _per_point_columns(plan, pars, time, npts):
    """Per-point parameters and time as columns ``(npts, n_pars + (1 if time))``,
    or None when every point shares them (then :func:`_pars_array` applies).

    Per-point ``pars`` have shape (npars, npoints) (heyoka's layout: one column
    per point); an array of shape (npoints, npars) is refused (unless square,
    which is read as heyoka's layout), as is any other 2-D shape; per-point
    ``time`` has shape (npoints,)."""
    npar = plan.n_pars
    pv = tv = None
    if npar and pars is not None:
        pv = _float_array(pars, "pars")
        if pv.ndim > 2:
            raise ValueError(f"pars has shape {pv.shape}: pass shape ({npar},) (the same "
                             f"parameters for every point) or ({npar}, {npts}) (one column per "
                             "point)")
        if pv.ndim == 2 and npts == 1 and 1 in pv.shape:
            pv = None       # one point: a row or a column is its parameters
        elif pv.ndim == 2:
            if pv.shape[1] == npts and pv.shape[0] >= npar:
                pv = pv[:npar]
            elif pv.shape[0] == npts and pv.shape[1] >= npar:
                raise ValueError(
                    f"pars has shape {pv.shape} for {npts} points and {npar} parameters: "
                    f"per-point parameters are one column per point (heyoka's layout), shape "
                    f"({npar}, {npts}): pass pars.T")
            else:
                raise ValueError(
                    f"pars has shape {pv.shape} for {npts} point(s) and {npar} parameter(s): "
                    f"pass shape ({npar},) (the same parameters for every point) or "
                    f"({npar}, {npts}) (one column per point)")
            if not np.all(np.isfinite(pv)):
                raise ValueError("pars contains NaN or infinity")
        else:
            pv = None
    if plan.time_par >= 0 and time is not None and not isinstance(time, (float, int)):
        tv = _float_array(time, "time")
        if tv.ndim > 1 or (tv.ndim == 1 and tv.size != npts and tv.size != 1):
            raise ValueError(f"time has shape {tv.shape} for {npts} point(s): pass one number "
                             f"or one per point (shape ({npts},))")
        tv = tv.ravel() if tv.ndim == 1 and tv.size == npts and npts > 1 else None
    if pv is None and tv is None:
        return None
    shared = _pars_array(plan, pars if pv is None else np.zeros(npar),
                         0.0 if tv is not None else time)
    cols = np.empty((npts, shared.size))
    cols[:] = shared
    if pv is not None:
        cols[:, :npar] = pv.T
    if tv is not None:
        cols[:, npar] = tv
    return cols


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


def cfunc(f=None, variables=None, *, kind=None, parallel=None, simd=None, vars=None,  # noqa: A002
          fn=None, outputs=None) -> CFunc:
    """Compile expressions into a fast evaluator.

    Parameters
    ----------
    f : Expr or list of Expr
        (heyoka's keywords ``fn=`` and ``outputs=`` are accepted too)
    variables : list of variables (order of the inputs; heyoka's ``vars=``)
    kind : {"unrolled", "spec", "compact", "python"}, optional
        Kernel kind of the scalar evaluation (as in :func:`taylor_coefficients`).
    parallel : bool, optional
        Evaluate batches on all cores (threads; the compiled code releases the
        GIL).  ``None`` (default): for batches of at least 65536 points (as
        heyoka's cfunc does); ``False``: one thread.  Values do not depend on it.
    simd : bool, optional
        Evaluate W points at a time with SIMD instructions (W = 8 with AVX-512,
        4 with AVX2; see ``taylorjit._codegen.vcfunc``), compiled with LLVM on the first
        call (~0.1 s for a small expression, then cached on disk).  exp, log,
        sin, cos, tan, expm1, log1p, atan, sinh, cosh and tanh are then
        taylorjit's vector functions, within 1 ulp like heyoka's (SLEEF), so a
        value may differ in its last bit from the C library's; every other
        operation is the same IEEE operation as in the scalar kernels.
        ``None`` (default): SIMD unless ``kind`` is given, the expression has
        an operation SIMD does not cover (kepE) or more than 5000 operations;
        ``False``: the scalar kernels (C library values, bit-identical to
        :func:`taylor_coefficients`); ``True``: SIMD or an error.

    The evaluator takes ``g(x, pars=None, time=None)``: ``x`` of shape (n,) or
    (npoints, n); ``pars`` of shape (npars,), the same parameters for every
    point, or (npars, npoints), one column per point as in heyoka (an array of
    shape (npoints, npars) is refused with a hint to transpose it; a square
    one is read in heyoka's layout); ``time`` a number or one per point, shape
    (npoints,).  Per-point parameters and time are evaluated as extra inputs
    (a second compiled evaluator, built on first use), with the same values
    as evaluating point by point.  Evaluators pickle and copy (the copy reloads
    its compiled code from the disk cache).  Inputs hold one row per point;
    ``g(x, layout="columns")`` takes heyoka's ``(nvars, npoints)`` and returns
    ``(nouts, npoints)``, and ``outputs=`` (heyoka's keyword) is an array to write
    the results into.

    Examples
    --------
    >>> import numpy as np, taylorjit as tj
    >>> x, y = tj.make_vars("x", "y")
    >>> g = tj.cfunc([x * y, tj.sin(x) + y], [x, y])
    >>> g(np.array([2.0, 3.0]))
    array([6.        , 3.90929743])
    >>> g(np.ones((4, 2))).shape
    (4, 2)
    >>> h = tj.cfunc(tj.par[0] * x + tj.par[1], [x])
    >>> h(np.array([[1.0], [2.0], [3.0]]), pars=[[1.0, 2.0, 3.0], [0.0, 0.5, 1.0]])
    array([ 1. ,  4.5, 10. ])
    """
    given = [(nm, v) for nm, v in (("f", f), ("fn", fn), ("outputs", outputs)) if v is not None]
    if len(given) != 1:
        raise TypeError("cfunc needs the expressions once: cfunc(f, variables) (heyoka's "
                        f"keywords fn= or outputs= work too); got {[nm for nm, _ in given] or 'none'}")
    if (variables is None) == (vars is None):
        raise TypeError("cfunc needs the variables once: cfunc(f, variables) or heyoka's "
                        "cfunc(fn, vars=[...])")
    f = given[0][1]
    variables = vars if variables is None else variables
    fs, scalar = _as_exprs(f)
    variables = _as_vars(variables)
    if simd is None and kind is not None:
        simd = False
    plan = _plan(fs, variables, kind or default_kind())
    if plan.__class__ is _PiecewisePlan:
        return PiecewiseCFunc(plan, fs, variables, scalar, parallel, simd, kind)
    return CFunc(plan, fs, variables, scalar, parallel, simd, kind)


def _rebuild_cfunc(f, variables, kind, parallel, simd):
    return cfunc(f, variables, kind=kind, parallel=parallel, simd=simd)


# ------------------------------------------------------------------ taylor_jet
class TaylorJet:
    """A compiled function ``point -> Taylor coefficients`` (see :func:`taylor_jet`)."""

    def __init__(self, plan, fs, variables, scalar, order, kernel, kind="unrolled"):
        self._plan = plan
        self._kind = kind
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

    def __reduce__(self):
        # rebuilt from the expressions (compiled code reloads from the disk cache)
        f = self.functions[0] if self._scalar else self.functions
        return (_rebuild_taylor_jet, (f, self.variables, self.order, self._kind))

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
        At most 10000, as in :func:`taylor_coefficients`.
    kind : {"unrolled", "compact", "spec"}
        ``"unrolled"`` (default) compiles the direct kernel; the others use
        that kernel kind through :func:`taylor_coefficients`.

    The callable pickles and copies: the copy is rebuilt from the expressions
    and reloads its compiled code from the disk cache (same values to the
    last bit).

    Examples
    --------
    >>> import taylorjit as tj
    >>> x = tj.var("x")
    >>> J = tj.taylor_jet(tj.exp(x), [x], order=3)
    >>> [round(float(c), 12) for c in J(0.0)]
    [1.0, 1.0, 0.5, 0.166666666667]
    """
    order, fs, scalar, variables, plan = _front(f, variables, kind, order)
    if plan.__class__ is _PiecewisePlan:
        raise TracingError("taylor_jet compiles one smooth function, and this one has "
                           "tj.select branches: use tj.taylor_coefficients (the branch active "
                           "at each point) or tj.cfunc")
    k = None
    if kind == "unrolled":
        k = _coefficients_direct(plan, order)
    return TaylorJet(plan, fs, variables, scalar, order, k, kind)


def _rebuild_taylor_jet(f, variables, order, kind):
    return taylor_jet(f, variables, order, kind=kind)
