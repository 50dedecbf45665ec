"""The shared engine of the derivative front ends: plans, compiled drivers, tiering.

Each front end -- ``taylor_coefficients`` (:mod:`.coefficients`), ``derivatives``
(:mod:`.derivatives`), ``cfunc`` (:mod:`.cfunc`), ``taylor_jet`` (:mod:`.taylor_jet`)
-- turns (expressions, variables) into a cached *plan* (:func:`_front`,
:func:`_plan`): the decomposition (:func:`decompose_front`, shared with the
double-double front end :mod:`.dd`), its kernel and the slots of the outputs.
The loops over points and directions run in one compiled driver
(:func:`_drivers`) that takes the jet as a first-class function, so a new
expression never compiles a driver.  The front ends' compiled kernels (direct
coefficients, SIMD partials) are built by :func:`_tier`.  The argument checks
are in :mod:`.args`.

Parameters ``par[i]`` take their values from ``pars=``; the time variable
``tj.time`` from ``time=``.  Either may also be listed among the variables,
then it is differentiated like a variable.

The front ends import this module; it imports none of them.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from time import monotonic as _monotonic

import numpy as np

from .._codegen.decompose import decompose
from .._symbolic.expr import Expr, get_params, subs, time as _time, topo_order, var as _var
from .._codegen.kernel import auto_kind, can_unroll, get_kernel, vm_loaded
from .._codegen.unroll import is_cached as unroll_cached
from .._symbolic.registry import no_refcount_opts
from .args import MAX_ORDER, _as_exprs, _as_vars, _check_order

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


_DFAST: dict = {}


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


# Front-end kernels (taylorjit._codegen.cjet, taylorjit._codegen.vjet): with kind="unrolled" compiled at
# the first call; with the default kind loaded at once when cached on disk, else compiled
# by the background worker (taylorjit._codegen.tiering) from the TIER_CALLS-th call on (the VM
# answers meanwhile, with the same values to the last bit)
TIER_CALLS = 3
_BG_LOCK = threading.Lock()


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
