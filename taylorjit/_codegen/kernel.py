"""Kernels: machine code for the Taylor coefficients of a decomposition.

Every kernel is a *jet function* with one signature (:data:`JET_SIG`)::

    jet(tc, order, pars, t, full, prog, cvals)

``tc`` (``(n_slots, order + 1)``, C order) holds the coefficients.  For
``k = 0..order`` the jet first sets the state rows of an ODE
(``x_i[k] = rhs_i[k-1] / k``), then runs every operation at order ``k``
(at ``k = order`` only if ``full``; an integrator needs the right-hand sides
only up to ``order - 1``).  For an expression jet there are no state rows: the
caller fills the input rows for all orders first.

Three kinds of the same program:

``"spec"``     generated source for this decomposition, the registry kernels
               inlined at literal slot numbers, compiled by numba with
               ``cache=True`` (fastest per call; numba's compile time grows
               quickly with size: ~1 s for a few operations, minutes for
               hundreds).
``"compact"``  the *Taylor VM*: one numba function, compiled once per
               installation, that runs the program table ``prog``/``cvals``.
               A new system costs no compilation.  Big ODE systems run the
               VM's groups through per-(operation, order) group kernels on
               an order-major copy of the table (``Kernel.plan_for``,
               :mod:`taylorjit._codegen.gvm`).
``"python"``   the same generated source executed without numba (reference).

``prog`` (see :func:`build_prog`) starts with the ODE state rows
``[-1, state_slot, 0, 0, 0, rhs_slot, 0, 0]``, then holds groups of operations
(a header ``[opcode, count, ...]`` and ``count`` rows ``[opcode, out0..out3,
in0..in2]``), sorted by topological level and opcode so that the VM dispatches
once per group.  Every kind calls the same registry kernels with fastmath off;
each slot's coefficient is computed by the same arithmetic from the same
inputs whatever the order of independent operations, so the kinds agree to the
last bit (tested).  Since every jet has the same numba type, the
drivers (integrator loops, derivative drivers) take it as a first-class
function argument and are compiled once per installation, not per system.

This module chooses a kind and builds the :class:`Kernel` (:func:`get_kernel`,
:func:`auto_kind`, :func:`compiled_kind`) and the VM's program table
(:func:`build_prog`).  It sits on top of the kernel layer and imports its
siblings one way: the jet's signature and handles (:mod:`.jetabi`), the VM and
the generated source (:mod:`.vm`), the unrolled jets (:mod:`.unroll`, on the
tracer :mod:`.trace`) and the group kernels (:mod:`.gvm`).  Their names used
elsewhere (``JET_SIG``, ``vm_jet``, ``call_light`` ...) are re-exported here.
"""
from __future__ import annotations

import numpy as np

from . import cache as _cache, gvm as _gvm
from .. import _numba_compat as _nc
from .decompose import Decomposition
from .jetabi import (JET_SIG, JET_TYPE, jetref_class, KERNEL_LOCK,  # noqa: F401 - re-exported
                     call_group, call_jet, call_light, call_step, jet_from_addr)
from .trace import MAX_UNROLLED, UnsupportedUnroll, unrolled_size
from .unroll import is_cached as _unroll_cached, unrolled_jet
from .vm import (_load, group_rows, numba_cached,  # noqa: F401 - re-exported
                 spec_source, vm_jet, vm_loaded, vm_source)
from .._symbolic.registry import OPS

__all__ = ["Kernel", "get_kernel", "JET_SIG", "JET_TYPE", "KINDS"]

KINDS = ("spec", "compact", "python", "unrolled")
_SPEC_LAYOUT = 2
_NCOL = 8
_MEMO: dict = {}


class Kernel:
    """A compiled jet for one decomposition.

    Attributes
    ----------
    jet : callable
        The jet function: for compiled kinds a handle that numba drivers take as a
        first-class function argument cheaply (see ``jetref_class``) and that is
        callable from Python; for ``"python"`` the plain Python function.
    prog, cvals : ndarray
        Program table (used by the VM; the state rows are used by every kind).
    kind : str
    decomposition : Decomposition
    ode : bool
        Whether the first ``len(decomposition.outputs)`` inputs are ODE states.
    """

    quick = False       # an unrolled kernel compiled without optimisation (quick_kernel)

    def __init__(self, jet, prog, cvals, kind, decomposition, ode, key):
        self.jet = jet
        self.prog = prog
        self.cvals = cvals
        self.kind = kind
        self.decomposition = decomposition
        self.ode = ode
        self.key = key

    @property
    def n_slots(self):
        return self.decomposition.n_slots

    def new_tc(self, order, batch=None):
        """A zero table for ``order``; for a kernel that runs order-major at this
        order (:meth:`plan_for`), with ``n_slots`` extra rows of scratch."""
        if batch is not None:
            return np.zeros((batch, self.n_slots, order + 1))
        rows = self.n_slots
        if self.plan_for(order)[0] is not self.jet:
            rows *= 2
        return np.zeros((rows, order + 1))

    def __call__(self, tc, order, pars, t=0.0, full=1):
        """Run the jet once (from Python)."""
        self.jet(tc, order, pars, float(t), full, self.prog, self.cvals)

    def plan_for(self, order: int):
        """``(jet, prog, cvals)`` to run this kernel at ``order`` with a table from
        :meth:`new_tc`.  A compact ODE kernel of at least
        ``taylorjit._codegen.gvm.GROUP_MIN_OPS`` operations runs order-major group
        kernels (:func:`taylorjit._codegen.gvm.om_jet`, memoised per order); every other
        kernel is ``(jet, prog, cvals)`` itself."""
        memo = self.__dict__.setdefault("_plans", {})
        hit = memo.get(order)       # decided once per order (tables depend on it)
        if hit is not None:
            return hit
        if (self.kind != "compact" or not self.ode
                or len(self.decomposition.ops) < _gvm.GROUP_MIN_OPS):
            hit = (self.jet, self.prog, self.cvals)
        else:
            om = _gvm.order_major_prog(self.decomposition, self.prog, self.cvals, order)
            if om is None:      # pragma: no cover - every registry op traces above order 0
                hit = (self.jet, self.prog, self.cvals)
            else:
                hit = (_gvm.om_jet(),) + om
        memo[order] = hit
        return hit

    def __reduce__(self):
        if getattr(self, "quick", False):
            return (quick_kernel, (self.decomposition, self.order, self.full))
        return (get_kernel, (self.decomposition, self.ode, self.kind, getattr(self, "order", None),
                             getattr(self, "full", 0)))

    def __repr__(self):
        return (f"<taylorjit Kernel kind={self.kind!r} ops={len(self.decomposition.ops)} "
                f"slots={self.n_slots} ode={self.ode}>")


class _CompactKernel(Kernel):
    """A compact kernel: its ``jet`` (the VM) is looked up at first use."""

    @property
    def jet(self):
        j = self.__dict__.get("_jet")
        if j is None:
            j = self.__dict__["_jet"] = vm_jet()
        return j

    @jet.setter
    def jet(self, value):
        self.__dict__["_jet"] = value


# --------------------------------------------------------------------------- program table
def _levels_py(tab, nin, nout, int_in, n_slots):
    """Topological level of each operation (rows of ``tab``, in decomposition
    order): one more than the highest level among the producers of its inputs
    (input slots: level 0), so operations of one level are independent.
    Runs as Python (lists) for small tables and compiled for big ones."""
    slot_level = np.zeros(n_slots, dtype=np.int64)
    level = np.empty(len(tab), dtype=np.int64)
    for p in range(len(tab)):
        row = tab[p]
        opc = row[0]
        lv = 1
        if not int_in[opc]:
            for m in range(nin[opc]):
                li = slot_level[row[5 + m]] + 1
                if li > lv:
                    lv = li
        for m in range(nout[opc]):
            slot_level[row[1 + m]] = lv
        level[p] = lv
    return level


_LEVELS = []
_LEVELS_NUMBA_MIN = 2000     # below this many operations the Python loop is quicker than loading


def _levels(tab, n_slots):
    info = np.array([(op.n_in, op.n_out, op.int_in) for op in
                     sorted(OPS.values(), key=lambda o: o.opcode)], dtype=np.int64).reshape(-1, 3)
    nin, nout, int_in = info[:, 0].copy(), info[:, 1].copy(), info[:, 2].copy()
    if len(tab) < _LEVELS_NUMBA_MIN:
        return _levels_py(tab.tolist(), nin.tolist(), nout.tolist(), int_in.tolist(), n_slots)
    with KERNEL_LOCK:
        if not _LEVELS:
            from numba import njit, types

            i2, i1 = types.int64[:, ::1], types.int64[::1]
            fn = njit(types.int64[::1](i2, i1, i1, i1, types.int64), cache=True,
                      nogil=True)(_levels_py)
            # the compiled overload's own entry point: no type dispatch per call
            # (a dispatcher's first call in a process costs ~0.2 s)
            _LEVELS.append(_nc.entry_point(fn))
    return _LEVELS[0](np.ascontiguousarray(tab), nin, nout, int_in, int(n_slots))


def build_prog(d: Decomposition, ode: bool):
    """Program table of the VM and its constants ``(prog, cvals)``.

    Rows: the ODE state rows ``[-1, i, 0, 0, 0, rhs slot, 0, 0]`` first; then
    the operations sorted into topological levels (see :func:`_levels`) and,
    within a level, by opcode (stable: decomposition order among equals), with a
    header ``[opcode, count, 0...]`` before each run of equal opcodes, then one
    row ``[opcode, out0..out3, in0..in2]`` per operation (as
    :func:`group_rows`).  Operations of one level are independent, so this
    order computes every slot exactly as the decomposition's order does;
    grouping equal opcodes lets the VM dispatch once per group instead of once
    per operation (the idea of heyoka's compact mode).  ``cvals`` is aligned
    with the rows (0.0 on state and header rows)."""
    if ode and len(d.outputs) < d.n_in:
        raise ValueError("an ODE decomposition needs one right-hand side per state variable")
    n_state = d.n_in if ode else 0
    tab, cv = d.table()
    n_ops = len(tab)
    if n_ops:
        srt = np.lexsort((tab[:, 0], _levels(tab, d.n_slots)))   # stable
        tab, cv = tab[srt], cv[srt]
        opc = tab[:, 0]
        start = np.empty(n_ops, dtype=bool)
        start[0] = True
        np.not_equal(opc[1:], opc[:-1], out=start[1:])
        run = np.cumsum(start) - 1              # run number of each operation
        n_runs = int(run[-1]) + 1
        firsts = np.flatnonzero(start)
        row_at = n_state + np.arange(n_ops) + run + 1
        head_at = n_state + firsts + np.arange(n_runs)
    else:
        n_runs = 0
    prog = np.zeros((n_state + n_ops + n_runs, _NCOL), dtype=np.int64)
    cvals = np.zeros(len(prog))
    # outputs after the right-hand sides (event functions ...) are plain slots
    prog[:n_state, 0] = -1
    prog[:n_state, 1] = np.arange(n_state)
    prog[:n_state, 5] = d.outputs[:n_state]
    if n_ops:
        prog[row_at] = tab
        cvals[row_at] = cv
        prog[head_at, 0] = opc[firsts]
        prog[head_at, 1] = np.diff(np.append(firsts, n_ops))
    return prog, cvals


def _spec_name(d: Decomposition, ode: bool) -> str:
    return f"spec{_SPEC_LAYOUT}_{d.key()}_{'ode' if ode else 'expr'}"


def spec_is_compiled(d: Decomposition, ode: bool) -> bool:
    """Whether the specialised kernel of ``d`` is already compiled in the disk cache
    (then loading it costs milliseconds instead of a numba compilation)."""
    key = (d.key(), bool(ode), "spec")
    if key in _MEMO:
        return True
    name = _spec_name(d, ode)
    cdir = _cache.cache_dir()
    return (cdir / f"{name}.py").exists() and numba_cached(cdir, name)


def auto_kind(d: Decomposition, ode: bool, max_spec_ops: int = 400, order: int | None = None,
              full: int = 0) -> str:
    """The automatic kernel kind: ``$TAYLORJIT_KERNEL`` if set, else the fastest
    kind that is already compiled in the disk cache -- the unrolled kernel at
    ``order`` (if given and the system is not too big to unroll), else the
    specialised kernel (if the system is not huge) -- else the compact VM, which
    needs no compilation.  All kinds give identical results, so the choice only
    affects speed."""
    import os

    env = os.environ.get("TAYLORJIT_KERNEL")
    if env and env != "auto":
        if env not in KINDS:
            raise ValueError(f"TAYLORJIT_KERNEL={env!r}: use one of {KINDS} or 'auto'")
        if env == "unrolled" and order is None:
            return "spec"
        return env
    if order is not None and can_unroll(d, order):
        if _unroll_cached(d, ode, order, full):
            return "unrolled"
    if len(d.ops) <= max_spec_ops and spec_is_compiled(d, ode):
        return "spec"
    return "compact"


def can_unroll(d: Decomposition, order: int) -> bool:
    """Whether ``d`` at ``order`` is small enough for an unrolled kernel
    (:data:`taylorjit._codegen.trace.MAX_UNROLLED` scalar operations)."""
    return unrolled_size(d, order) <= MAX_UNROLLED


# numba compiles a specialised kernel (every operation inlined into one function) in time
# and memory that grow faster than its size: pendulum variational systems of 31, 96 and 233
# operations took 27 s / 74 MB, 77 s / 0.4 GB and 6 min / 2.9 GB
MAX_SPEC_OPS = 100


def compiled_kind(d: Decomposition, order: int) -> str:
    """The kind built when a compiled kernel is asked for (``compact=False``):
    the unrolled kernel at ``order`` if :func:`can_unroll`, else the specialised
    kernel up to :data:`MAX_SPEC_OPS` operations, else the compact VM (same
    results) with a ``RuntimeWarning`` naming the size: compiling such a system
    would take many minutes and gigabytes of memory."""
    if can_unroll(d, order):
        return "unrolled"
    if len(d.ops) <= MAX_SPEC_OPS:
        return "spec"
    import warnings

    warnings.warn(f"compact=False: the system has {len(d.ops)} operations, "
                  f"{unrolled_size(d, order)} once unrolled at order {order} (more than "
                  f"MAX_UNROLLED = {MAX_UNROLLED}) and too many for a specialised kernel "
                  f"(more than {MAX_SPEC_OPS}): compiling "
                  "it would take many minutes and gigabytes of memory, so it runs on the compact "
                  "VM (identical results; pass compact=True to silence this warning)",
                  RuntimeWarning, stacklevel=4)
    return "compact"


def get_kernel(d: Decomposition, ode: bool = False, kind: str = "compact",
               order: int | None = None, full: int = 0) -> Kernel:
    """The kernel of kind ``kind`` for decomposition ``d`` (memoised per process).

    ``kind="unrolled"`` needs the ``order`` (and ``full``) the kernel will be
    called with; called otherwise, it runs the VM (same results).  If the
    decomposition cannot be unrolled, the specialised kernel is returned."""
    if kind not in KINDS:
        raise ValueError(f"unknown kernel kind {kind!r}: use one of {KINDS}")
    if kind == "unrolled" and order is None:
        raise ValueError("an unrolled kernel needs the order it will be called with")
    full = int(bool(full))
    key = (d.key(), bool(ode), kind) + ((order, full) if kind == "unrolled" else ())
    hit = _MEMO.get(key)
    if hit is not None:
        return hit
    if kind == "unrolled":
        # built without this module's lock (a background build must not hold up the
        # foreground's kernels); unrolled_jet builds each kernel once
        try:
            jet = unrolled_jet(d, ode, order, full)
        except UnsupportedUnroll:
            return get_kernel(d, ode, "spec")
        prog, cvals = build_prog(d, ode)
        with KERNEL_LOCK:
            hit = _MEMO.get(key)
            if hit is None:
                hit = Kernel(jet, prog, cvals, kind, d, bool(ode), key)
                hit.order, hit.full = order, full
                _MEMO[key] = hit
            return hit
    with KERNEL_LOCK:
        hit = _MEMO.get(key)
        if hit is not None:
            return hit
        prog, cvals = build_prog(d, ode)
        if kind == "compact":
            # the VM is loaded (or, on a first use after installation, compiled) when the
            # kernel first runs: a front end whose LLVM kernel answers first never waits
            kern = _CompactKernel(None, prog, cvals, kind, d, bool(ode), key)
            kern.order, kern.full = None, 0
            _MEMO[key] = kern
            return kern
        name = _spec_name(d, ode)
        jet = _load(name, spec_source(d, ode), python=(kind == "python"))
        if kind == "spec":
            jet = jetref_class()(jet)
        kern = Kernel(jet, prog, cvals, kind, d, bool(ode), key)
        kern.order, kern.full = (order, full) if kind == "unrolled" else (None, 0)
        _MEMO[key] = kern
        return kern


def quick_kernel(d: Decomposition, order: int, full: int = 0) -> Kernel:
    """The unrolled ODE kernel of ``d`` at ``order`` if it is loaded or in the
    disk cache, else its *quick* build (``taylorjit._codegen.unroll.unrolled_jet`` with
    ``quick=True``: compiled without optimisation in a few tens of ms; same
    results; ``kernel.quick`` is True).  The integrator runs the quick kernel
    while the optimised one builds in the background
    (``taylorjit._integrate.odesys.tier_up``).  Raises ``UnsupportedUnroll`` like
    ``unrolled_jet``."""
    full = int(bool(full))
    hit = _MEMO.get((d.key(), True, "unrolled", order, full))
    if hit is not None:
        return hit
    jet = unrolled_jet(d, True, order, full, quick=True)
    if not jet.quick:       # the optimised kernel was in the disk cache
        return get_kernel(d, ode=True, kind="unrolled", order=order, full=full)
    key = (d.key(), True, "unrolled", order, full, "quick")
    with KERNEL_LOCK:
        hit = _MEMO.get(key)
        if hit is None:
            prog, cvals = build_prog(d, True)
            hit = Kernel(jet, prog, cvals, "unrolled", d, True, key)
            hit.order, hit.full, hit.quick = order, full, True
            _MEMO[key] = hit
        return hit
