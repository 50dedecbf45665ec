"""Group kernels: straight-line machine code for one operation at one order,
looped over a whole group of the compact VM.

The compact VM (``taylorjit._codegen.vm.vm_source``) runs a program table of groups (runs of
one opcode at one topological level): for every order ``k`` and every group it
loops over the rows and calls the numba kernel of the operation with ``k`` as
a run-time value.  On big systems that costs a call per row and order and
loops of run-time length inside every convolution, and the slot-major table
(``tc[slot, k]``, 5.6 MB for the 33k slots of a 50-body system) is read one
cache line per row and order: ~240 ns per operation and step there.

This module compiles, for an operation ``op`` and an order ``k``, one function
that does ``op`` at order ``k`` for every row of a group::

    void g(double *tc, int64 ncol, int64 *rows, int64 n, double *cv,
           double *pars, double t)

The body is the registry's own Python kernel traced at the concrete order ``k``
(the tracer :mod:`taylorjit._codegen.trace`, on a template row whose slots are read from
the group's rows), so every coefficient is the same sequence of IEEE
operations as in the other kinds and the results are bit-identical (tested).
The constant of a row (a real power's exponent) is a value read from
``cvals``, not a constant of the code.  The functions prefetch what the row
:data:`PREFETCH` rows ahead will touch.  Nothing in them depends on the system:
they are compiled once per operation and maximum order, cached on disk and
shared by every system using that operation.

The functions work on an *order-major* table (coefficient ``j`` of slot ``s``
at ``j * n_slots + s``: the layout of heyoka's compact mode) with the slots
renumbered so that the outputs of a group are consecutive
(:func:`order_major_prog`), driven by :func:`om_jet`; ``Kernel.plan_for`` uses
them for compact ODE kernels of at least :data:`GROUP_MIN_OPS` operations, in
a second half of the integrator's table.  On the 50-body system the jet took
9.2 ms on the VM; prototypes measured 6.0 ms for such functions on the VM's
slot-major table (with ``<4 x double>`` sums), 5.5 ms order-major without the
renumbering and 3.3 ms with it (heyoka's compact mode: 3.2-5.8 ms per step
in the same runs).

Imports the tracer (:mod:`.trace`), the IR helpers (:mod:`.unroll_ir`), the
LLVM loader (:mod:`.unroll`), the jet handles (:mod:`.jetabi`) and the VM
(:mod:`.vm`); the kernel selection (:mod:`.kernel`) imports it.
"""
from __future__ import annotations

import threading

import numpy as np

from .jetabi import JET_SIG, jetref_class, call_group, jet_from_addr
from .trace import NoTrace, Pars, Prog, State, Sym, TC, traced
from .unroll import target_machine, load_module
from .unroll_ir import emit_scalar, ir_types
from .vm import vm_jet
from .._symbolic.registry import OPS, no_refcount_opts, registry_hash

__all__ = ["GROUP_MIN_OPS", "order_major_prog", "om_jet", "group_functions"]

# ODE systems with at least this many operations get order-major group kernels in compact
# mode (Kernel.plan_for).  Measured per step: outer solar system (408 ops) 51 -> 31 us, 50
# bodies (33k ops) 9.2 -> 3.3 ms (jet); neutral on Lorenz and the pendulum (11 and 3 ops),
# where the first use would only add the compilation of their operations' group functions.
GROUP_MIN_OPS = 200
PREFETCH = 8         # rows ahead (0: no prefetching)
_LAYOUT = 5          # bump when the generated code changes (part of the cache key)
_lock = threading.RLock()
_MODS: dict = {}     # (op name, max order) -> (addresses by order, execution engine)


def _trace(op, k: int):
    """The traced program of ``op`` at order ``k`` on a template row: inputs are
    slots ``0..n_in-1``, outputs ``n_in..``; the constant is the node ``("cv",)``.
    None if the kernel cannot be traced at this order (value-dependent)."""
    p = Prog()            # no vector sums: order-major terms are not contiguous
    st = State(p)
    tc = TC(p, st)
    t = Sym(p, p.node("t"))
    c = Sym(p, p.node("cv")) if op.has_c else None
    ins = list(range(op.n_in))
    outs = [op.n_in + m for m in range(op.n_out)]
    try:
        traced(op)(*op.args(tc, k, outs, ins, c, Pars(p), t))
    except (NoTrace, TypeError, IndexError, ValueError, ArithmeticError):
        return None
    for (slot, j), v in tc.pending.items():
        st.set(slot, j, v.i)
    if any(nd[0] == "par" for nd in p.nodes):
        return None         # a parameter index of the template row (par at order 0)
    return p


def touched(p) -> list:
    """The template slots the traced program ``p`` loads or stores."""
    return sorted({nd[1] for nd in p.nodes if nd[0] in ("ld", "st")})


def build_ir(op, kmax: int, name: str):
    """``(IR text, orders with a function)`` of the module of ``op`` for orders
    ``0..kmax``: functions ``<name>_<k>`` (see the module docstring) on an
    order-major table (coefficient j of slot s at ``tc[j * ncol + s]``, ``ncol``
    = the number of slots)."""
    ir, f64, i64, ptr, _, _ = ir_types()
    mod = ir.Module(name=name)
    fnty = ir.FunctionType(ir.VoidType(), [ptr, i64, ptr, i64, ptr, ptr, f64])
    i32 = ir.IntType(32)
    decls = {}
    done = []
    pf = ir.Function(mod, ir.FunctionType(ir.VoidType(), [ptr, i32, i32, i32]),
                     name="llvm.prefetch.p0")

    def libm(fname):
        f = decls.get(fname)
        if f is None:
            f = decls[fname] = ir.Function(mod, ir.FunctionType(f64, [f64]), name=fname)
        return f

    for k in range(kmax + 1):
        p = _trace(op, k)
        if p is None:
            continue
        done.append(k)
        f = ir.Function(mod, fnty, name=f"{name}_{k}")
        tc_a, ncol_a, rows_a, n_a, cv_a, pars_a, t_a = f.args
        entry = f.append_basic_block("entry")
        body = f.append_basic_block("body")
        out = f.append_basic_block("out")
        b = ir.IRBuilder(entry)
        b.cbranch(b.icmp_signed(">", n_a, ir.Constant(i64, 0)), body, out)
        b = ir.IRBuilder(body)
        r = b.phi(i64)
        r.add_incoming(ir.Constant(i64, 0), entry)
        rowp = b.gep(rows_a, [b.mul(r, ir.Constant(i64, 8))], inbounds=True, source_etype=i64)
        bases = {}
        vals = {}
        if PREFETCH:
            # prefetch coefficient k of the slots of row r + PREFETCH (the older
            # orders' planes are re-read at every order and stay in cache)
            ahead = b.add(r, ir.Constant(i64, PREFETCH))
            ahead = b.select(b.icmp_signed("<", ahead, n_a), ahead, r)
            rowq = b.gep(rows_a, [b.mul(ahead, ir.Constant(i64, 8))], inbounds=True,
                         source_etype=i64)
            for slot in touched(p):
                col = 5 + slot if slot < op.n_in else 1 + slot - op.n_in
                idx = b.load(b.gep(rowq, [ir.Constant(i64, col)], inbounds=True,
                                   source_etype=i64), typ=i64)
                a = b.gep(tc_a, [b.add(idx, b.mul(ir.Constant(i64, k), ncol_a))],
                          inbounds=True, source_etype=f64)
                b.call(pf, [a, ir.Constant(i32, 0 if slot < op.n_in else 1),
                            ir.Constant(i32, 3), ir.Constant(i32, 1)])

        def base(slot):
            v = bases.get(slot)
            if v is None:
                col = 5 + slot if slot < op.n_in else 1 + slot - op.n_in
                idx = b.load(b.gep(rowp, [ir.Constant(i64, col)], inbounds=True,
                                   source_etype=i64), typ=i64)
                v = bases[slot] = b.gep(tc_a, [idx], inbounds=True, source_etype=f64)
            return v

        def addr(slot, j):
            return b.gep(base(slot), [b.mul(ir.Constant(i64, j), ncol_a)], inbounds=True,
                         source_etype=f64)

        def get(i):
            v = vals.get(i)
            if v is None:
                v = vals[i] = value(p.nodes[i], i)
            return v

        def value(nd, i):
            if nd[0] == "cv":
                return b.load(b.gep(cv_a, [r], inbounds=True, source_etype=f64), typ=f64)
            return emit_scalar(ir, b, nd, get, addr, t_a, pars_a, libm)

        for idx, nd in enumerate(p.nodes):
            if nd[0] == "st":
                b.store(get(nd[3]), addr(nd[1], nd[2]))
            elif nd[0] == "vm":      # pragma: no cover - _trace runs one traced kernel
                raise AssertionError("VM call in a group kernel")
        rn = b.add(r, ir.Constant(i64, 1))
        r.add_incoming(rn, b.block)
        b.cbranch(b.icmp_signed("<", rn, n_a), body, out)
        b = ir.IRBuilder(out)
        b.ret_void()
    # a marker every module has (the load check: order 0 may have no function)
    mk = ir.Function(mod, ir.FunctionType(ir.VoidType(), []), name=f"{name}_mod")
    ir.IRBuilder(mk.append_basic_block("entry")).ret_void()
    return str(mod), done


def _mod_name(op, kmax: int) -> str:
    return (f"tj_group_{op.name}_k{kmax}om_L{_LAYOUT}p{PREFETCH}_"
            f"{registry_hash()}_{target_machine()[1]}")


def group_functions(name: str, kmax: int) -> list:
    """Addresses of the group functions of operation ``name`` for orders
    ``0..kmax`` (0 where the operation is not traceable at that order): loaded
    from the disk cache, else compiled and cached.  Modules cover orders up to
    a multiple of 8 minus 1 (one module serves integrators of nearby
    tolerances); one loaded for a higher order is reused."""
    op = OPS[name]
    with _lock:
        for (nm, km), (addrs, _) in _MODS.items():
            if nm == name and km >= kmax:
                return addrs[:kmax + 1]
        top = 8 * (kmax // 8) + 7
        mname = _mod_name(op, top)
        _, ee = load_module(mname, lambda: build_ir(op, top, mname)[0], symbol=f"{mname}_mod")
        addrs = [ee.get_function_address(f"{mname}_{k}") for k in range(top + 1)]
        _MODS[(name, top)] = (addrs, ee)
        return addrs[:kmax + 1]


def _attach(prog: np.ndarray, order: int) -> np.ndarray:
    """The VM program ``prog`` with the group functions for orders ``0..order``
    attached (a new array): each group header gets in column 2 the row of its
    operation's address table (column 3 stays 0: the VM ignores it); a
    terminator row (opcode -2) ends the groups and the tables follow, eight
    addresses per row.  Addresses belong to the process."""
    prog = np.array(prog, dtype=np.int64)
    n = len(prog)
    h = 0
    while h < n and prog[h, 0] == -1:
        h += 1
    headers = []
    while h < n:
        if prog[h, 0] < 0:          # already attached
            raise ValueError("_attach: the program already has group functions")
        headers.append(h)
        h += 1 + int(prog[h, 1])
    names = {op.opcode: op for op in OPS.values()}
    tables = []
    where = {}
    nrow = -(-(order + 1) // 8)
    for hh in headers:
        op = names[int(prog[hh, 0])]
        if op.opcode not in where:
            addrs = group_functions(op.name, order)
            if not any(addrs):      # pragma: no cover - every supported op traces above 0
                continue
            t = np.zeros((nrow, 8), dtype=np.int64)
            t.reshape(-1)[:order + 1] = addrs
            where[op.opcode] = n + 1 + sum(len(x) for x in tables)
            tables.append(t)
        prog[hh, 2] = where[op.opcode]
    term = np.zeros((1, prog.shape[1]), dtype=np.int64)
    term[0, 0] = -2
    return np.ascontiguousarray(np.vstack([prog, term] + tables))


# ------------------------------------------------------------------ order-major mode
def _groups(prog: np.ndarray):
    """``(n_state, [(first row, end row, Op), ...])``: the state rows and the
    groups of a VM program (up to its first row with a negative opcode after
    the state rows)."""
    byop = {op.opcode: op for op in OPS.values()}
    n = len(prog)
    n_state = int(np.argmax(prog[:, 0] != -1)) if n and prog[-1, 0] != -1 else n
    groups = []
    h = n_state
    while h < n and prog[h, 0] >= 0:
        cnt = int(prog[h, 1])
        groups.append((h + 1, h + 1 + cnt, byop[int(prog[h, 0])]))
        h += 1 + cnt
    return n_state, groups


def renumbering(prog: np.ndarray, n_slots: int) -> np.ndarray:
    """``P[slot]`` -> new slot number: the ODE state slots keep theirs, then the
    outputs of the groups in program order (a group's outputs become
    consecutive, so in an order-major table the coefficients a group writes at
    one order are contiguous), then any other slot."""
    P = np.full(n_slots, -1, dtype=np.int64)
    n_state, groups = _groups(prog)
    st = prog[:n_state, 1]
    P[st] = st
    nxt = int(st.max()) + 1 if n_state else 0
    outs = [prog[r0:r1, 1:1 + op.n_out].ravel() for r0, r1, op in groups]
    if outs:
        seq = np.concatenate(outs)
        seq = seq[P[seq] < 0]
        seq = seq[np.sort(np.unique(seq, return_index=True)[1])]   # first occurrences, in order
        P[seq] = nxt + np.arange(len(seq))
        nxt += len(seq)
    rest = np.flatnonzero(P < 0)
    P[rest] = nxt + np.arange(len(rest))
    return P


def _renumber(prog: np.ndarray, P: np.ndarray) -> np.ndarray:
    """``prog`` with its slots renamed by ``P`` (state rows and operation rows;
    parameter indices and headers unchanged)."""
    out = prog.copy()
    n_state, groups = _groups(prog)
    out[:n_state, 1] = P[prog[:n_state, 1]]
    out[:n_state, 5] = P[prog[:n_state, 5]]
    for r0, r1, op in groups:
        out[r0:r1, 1:1 + op.n_out] = P[prog[r0:r1, 1:1 + op.n_out]]
        if not op.int_in:
            out[r0:r1, 5:5 + op.n_in] = P[prog[r0:r1, 5:5 + op.n_in]]
    return out


def _rows8(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.int64)
    t = np.zeros((max(1, -(-len(v) // 8)), 8), dtype=np.int64)
    t.reshape(-1)[:len(v)] = v
    return t


def order_major_prog(d, prog: np.ndarray, cvals: np.ndarray, order: int):
    """``(prog, cvals)`` for :func:`om_jet`, or None if some group has no
    order-major function at some order ``1..order``.

    Layout (rows of 8 int64): row 0 ``[-3, n_slots, r_o, n_o, r_m, n_m, 0,
    n_keep]``, row 1 ``[VM address, order, n_state, r_k, 0...]``; rows ``r_o``:
    the VM program ``prog`` (the fallback); rows ``r_m``: the renumbered program
    (state rows, groups, terminator, order-major address tables: indices
    relative to ``r_m``); rows ``r_k``: the slots whose
    coefficients are copied back (states and outputs) and their new numbers.
    ``cvals`` is aligned with the rows."""
    NS = d.n_slots
    P = renumbering(prog, NS)
    om = _attach(_renumber(prog, P), order)
    n_state = int((prog[:, 0] == -1).sum())
    h = n_state
    if h >= len(om) or om[h, 0] < 0:
        return None             # no operations
    while h < len(om) and om[h, 0] >= 0:
        tb = int(om[h, 2])
        if tb <= 0 or not all(om[tb + k // 8, k % 8] for k in range(1, order + 1)):
            return None
        h += 1 + int(om[h, 1])
    keep = sorted(set(range(n_state)) | set(int(s) for s in d.outputs))
    kp = _rows8(list(keep) + [int(P[s]) for s in keep])
    r_o = 2
    r_m = r_o + len(prog)
    r_k = r_m + len(om)
    head = np.zeros((2, 8), dtype=np.int64)
    head[0] = [-3, NS, r_o, len(prog), r_m, len(om), 0, len(keep)]
    head[1, :4] = [vm_jet()._addr, order, n_state, r_k]
    full = np.ascontiguousarray(np.vstack([head, prog, om, kp]))
    cv = np.zeros(len(full))
    cv[r_o:r_o + len(cvals)] = cvals
    cv[r_m:r_m + len(cvals)] = cvals
    return full, cv


# numba intrinsics, bound by om_jet() before compiling (taylorjit._codegen.jetabi)
_jet_from_addr = _call_group = None


def _om_jet_py(tc, order, pars, t, full, prog, cvals):
    NS = prog[0, 1]
    r_o, n_o, r_m = prog[0, 2], prog[0, 3], prog[0, 4]
    n_keep = prog[0, 7]
    vm = _jet_from_addr(prog[1, 0])
    n_state, r_k = prog[1, 2], prog[1, 3]
    ncol = order + 1
    if tc.shape[0] < 2 * NS or tc.shape[1] != ncol or order > prog[1, 1]:
        # not a table from Kernel.new_tc for this order: the VM, slot-major (same values)
        vm(tc, order, pars, t, full, prog[r_o:r_o + n_o], cvals[r_o:r_o + n_o])
        return
    tcf = tc.reshape(tc.shape[0] * ncol)
    base = NS * ncol                    # the order-major table: rows NS..2NS-1 of tc
    plane0 = tcf[base:base + NS].reshape(NS, 1)
    for s in range(n_state):            # the states keep their numbers
        tcf[base + s] = tc[s, 0]
    for k in range(ncol):
        if k > 0:
            for r in range(n_state):
                tcf[base + k * NS + prog[r_m + r, 1]] = (
                    tcf[base + (k - 1) * NS + prog[r_m + r, 5]] / k)
        if k == order and full == 0:
            break
        h = r_m + n_state
        while prog[h, 0] >= 0:
            r0 = h + 1
            r1 = r0 + prog[h, 1]
            a = prog[r_m + prog[h, 2] + k // 8, k % 8]
            if a != 0:
                _call_group(a, tcf, base, NS, prog, r0, r1 - r0, cvals, pars, t)
            else:       # order 0 of an operation that does not trace there (pow, log ...)
                vm(plane0, 0, pars, t, 1, prog[h:r1], cvals[h:r1])
            h = r1
    for q in range(n_keep):
        s = prog[r_k + q // 8, q % 8]
        ps = prog[r_k + (n_keep + q) // 8, (n_keep + q) % 8]
        # the last order of an output exists only if full (states: always)
        for j in range(ncol if full != 0 or s < n_state else order):
            tc[s, j] = tcf[base + j * NS + ps]


_OM_JET = []


def om_jet():
    """The order-major driver (a jet, :data:`taylorjit._codegen.jetabi.JET_SIG`; compiled
    once per installation) for programs from :func:`order_major_prog`:

    1. the order-0 coefficients of the states copied into the order-major half
       of ``tc`` (rows ``n_slots..2 n_slots - 1``, read as ``order + 1`` planes
       of ``n_slots`` coefficients, slots renumbered);
    2. for each order: the state rows, then every group through its
       order-major group function (at order 0, the groups of operations that do
       not trace there run in the VM on plane 0);
    3. the coefficients of the states and outputs copied back to their rows.

    A table without the extra rows (or of another order) runs the VM on the
    slot-major program instead (same values).  Like an unrolled kernel, it
    leaves in the caller's rows of ``tc`` only the states and outputs."""
    with _lock:
        if not _OM_JET:
            from numba import njit

            g = _om_jet_py.__globals__
            g["_jet_from_addr"] = jet_from_addr()
            g["_call_group"] = call_group()
            fn = njit(JET_SIG(), cache=True, nogil=True, error_model="numpy",
                      **no_refcount_opts())(_om_jet_py)
            _OM_JET.append(jetref_class()(fn))
        return _OM_JET[0]
