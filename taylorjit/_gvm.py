"""Group kernels: straight-line machine code for one operation at one order,
looped over a whole group of the compact VM.

The compact VM (``_kernel.vm_source``) runs a program table of groups (runs of
one opcode at one topological level): for every order ``k`` and every group it
loops over the rows and calls the numba kernel of the operation with ``k`` as
a run-time value.  On big systems that costs a call per row and order, and
loops of unknown length inside every convolution: on a 50-body system (33k
operations) ~240 ns per operation and step, while the summing itself needs
far less.

This module compiles, for an operation ``op`` and an order ``k``, one function
that does ``op`` at order ``k`` for every row of a group::

    void g(double *tc, int64 ncol, int64 *rows, int64 n, double *cv,
           double *pars, double t)

The body is the registry's own Python kernel traced at the concrete order ``k``
(:mod:`taylorjit._unroll`'s tracer, on a template row whose slots are read from
the group's rows), so every coefficient is the same sequence of IEEE
operations as in the other kinds and the results are bit-identical (tested);
the blocked convolution sums become ``<4 x double>`` code as in big unrolled
kernels.  The constant of a row (a real power's exponent) is a value read
from ``cvals``, not a constant of the code.  Nothing in these functions depends
on the system: they are compiled once per operation and maximum order, cached
on disk, and shared by every system using that operation, so a never-seen
system costs no compilation once its operations have been seen.

:func:`group_prog` attaches them to a VM program: the VM runs a group through
its function when the group's header points to an address table (rows after
a terminator row) with a non-zero entry for the running order, and through
its own loop otherwise (order 0 of the operations that are not traceable
there, e.g. ``pow``, ``log``: value-dependent checks).
"""
from __future__ import annotations

import threading

import numpy as np

from ._registry import OPS, registry_hash

__all__ = ["GROUP_MIN_OPS", "group_prog", "group_functions"]

# ODE systems with at least this many operations get group kernels in the compact VM.
# On small systems the VM's per-row cost is small next to the per-group work
# and their first use would compile the group functions of their operations.
GROUP_MIN_OPS = 1000
PREFETCH = 8         # rows ahead (0: no prefetching)
_LAYOUT = 2          # bump when the generated code changes (part of the cache key)
_lock = threading.RLock()
_MODS: dict = {}     # (op name, max order) -> (addresses by order, execution engine)


def _trace(op, k: int):
    """The traced program of ``op`` at order ``k`` on a template row: inputs are
    slots ``0..n_in-1``, outputs ``n_in..``; the constant is the node ``("cv",)``.
    None if the kernel cannot be traced at this order (value-dependent)."""
    from ._unroll import _NoTrace, _Pars, _Prog, _State, _TC, _V, _traced

    p = _Prog()
    p.vector_sums = True
    st = _State(p)
    tc = _TC(p, st)
    t = _V(p, p.node("t"))
    c = _V(p, p.node("cv")) if op.has_c else None
    ins = list(range(op.n_in))
    outs = [op.n_in + m for m in range(op.n_out)]
    try:
        _traced(op)(*op.args(tc, k, outs, ins, c, _Pars(p), t))
    except (_NoTrace, TypeError, IndexError, ValueError, ArithmeticError):
        return None
    for (slot, j), v in tc.pending.items():
        st.set(slot, j, v.i)
    return p


def touched(p) -> dict:
    """Template slot -> the coefficients the traced program ``p`` loads or stores."""
    out = {}
    for nd in p.nodes:
        if nd[0] in ("ld", "st"):
            out.setdefault(nd[1], set()).add(nd[2])
        elif nd[0] == "vsum" and nd[2] is not None:
            for pair in nd[2]:
                for slot, j, _ in pair:
                    out.setdefault(slot, set()).add(j)
    return out


def _supported(op) -> bool:
    return not op.int_in


def build_ir(op, kmax: int, name: str):
    """``(IR text, orders with a function)`` of the module of ``op`` for orders
    ``0..kmax``: functions ``<name>_<k>`` (see the module docstring)."""
    from ._unroll import _contiguous, _ir_types

    ir, f64, i64, ptr, _, _ = _ir_types()
    mod = ir.Module(name=name)
    fnty = ir.FunctionType(ir.VoidType(), [ptr, i64, ptr, i64, ptr, ptr, f64])
    v4 = ir.VectorType(f64, 4)
    i32 = ir.IntType(32)
    rev4 = ir.Constant(ir.VectorType(i32, 4), [3, 2, 1, 0])
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
            # prefetch coefficient k of the rows of row r + PREFETCH: a group's rows are
            # scattered over a table bigger than L2 (the loads are latency bound)
            ahead = b.add(r, ir.Constant(i64, PREFETCH))
            ahead = b.select(b.icmp_signed("<", ahead, n_a), ahead, r)
            rowq = b.gep(rows_a, [b.mul(ahead, ir.Constant(i64, 8))], inbounds=True,
                         source_etype=i64)
            for slot, js in sorted(touched(p).items()):
                col = 5 + slot if slot < op.n_in else 1 + slot - op.n_in
                idx = b.load(b.gep(rowq, [ir.Constant(i64, col)], inbounds=True,
                                   source_etype=i64), typ=i64)
                row = b.gep(tc_a, [b.mul(idx, ncol_a)], inbounds=True, source_etype=f64)
                lo, hi = min(js), max(js)
                for j in sorted(set(range(lo, hi + 1, 8)) | {hi}):
                    a = b.gep(row, [ir.Constant(i64, j)], inbounds=True, source_etype=f64)
                    b.call(pf, [a, ir.Constant(i32, 0 if slot < op.n_in else 1),
                                ir.Constant(i32, 3), ir.Constant(i32, 1)])

        def base(slot):
            v = bases.get(slot)
            if v is None:
                col = 5 + slot if slot < op.n_in else 1 + slot - op.n_in
                idx = b.load(b.gep(rowp, [ir.Constant(i64, col)], inbounds=True,
                                   source_etype=i64), typ=i64)
                v = bases[slot] = b.gep(tc_a, [b.mul(idx, ncol_a)], inbounds=True,
                                        source_etype=f64)
            return v

        def addr(slot, j):
            return b.gep(base(slot), [ir.Constant(i64, j)], inbounds=True, source_etype=f64)

        def get(i):
            v = vals.get(i)
            if v is None:
                v = vals[i] = value(p.nodes[i], i)
            return v

        def term(tm):
            c, x, y = tm
            xv = get(x)
            if c is not None:
                xv = b.fmul(ir.Constant(f64, c), xv)
            return b.fmul(xv, get(y))

        def vload(slot, j0, rev):
            v = b.load(addr(slot, j0), typ=v4)
            v.align = 8
            return b.shuffle_vector(v, v, rev4) if rev else v

        def vsum(nd):
            # lanes = the four partial sums s0..s3 of the blocked order, tail into s0
            terms = nd[1]
            m = len(terms) // 4
            spec = None
            if nd[2] is not None:
                spec = [(_contiguous(nd[2][4 * q:4 * q + 4], 0),
                         _contiguous(nd[2][4 * q:4 * q + 4], 1)) for q in range(m)]
                if not all(x is not None and y is not None for x, y in spec):
                    spec = None
            if spec is not None:
                acc = None
                for q, (xs, ys) in enumerate(spec):
                    xv = vload(*xs)
                    cs = [terms[4 * q + s][0] for s in range(4)]
                    if cs[0] is not None:
                        xv = b.fmul(ir.Constant(v4, [ir.Constant(f64, c) for c in cs]), xv)
                    prod = b.fmul(xv, vload(*ys))
                    acc = prod if acc is None else b.fadd(acc, prod)
                s = [b.extract_element(acc, ir.Constant(i32, q)) for q in range(4)]
            else:
                s = [term(terms[q]) for q in range(4)]
                for q in range(1, m):
                    for lane in range(4):
                        s[lane] = b.fadd(s[lane], term(terms[4 * q + lane]))
            for tm in terms[4 * m:]:
                s[0] = b.fadd(s[0], term(tm))
            return b.fadd(b.fadd(s[0], s[1]), b.fadd(s[2], s[3]))

        def value(nd, i):
            kind = nd[0]
            if kind == "vsum":
                return vsum(nd)
            if kind == "c":
                return ir.Constant(f64, nd[1])
            if kind == "t":
                return t_a
            if kind == "cv":
                return b.load(b.gep(cv_a, [r], inbounds=True, source_etype=f64), typ=f64)
            if kind == "par":
                return b.load(b.gep(pars_a, [ir.Constant(i64, nd[1])], inbounds=True,
                                    source_etype=f64), typ=f64)
            if kind == "ld":
                return b.load(addr(nd[1], nd[2]), typ=f64)
            if kind == "neg":
                return b.fneg(get(nd[1]))
            if kind == "call":
                return b.call(libm(nd[1]), [get(nd[2])])
            if kind in ("+", "-", "*", "/"):
                x, y = get(nd[1]), get(nd[2])
                return {"+": b.fadd, "-": b.fsub, "*": b.fmul, "/": b.fdiv}[kind](x, y)
            raise AssertionError(f"node {kind!r} in a group kernel")   # pragma: no cover

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
    return str(mod), done


def _mod_name(op, kmax: int) -> str:
    from ._unroll import _target_machine

    return f"tj_group_{op.name}_k{kmax}_L{_LAYOUT}p{PREFETCH}_{registry_hash()}_{_target_machine()[1]}"


def group_functions(name: str, kmax: int) -> list:
    """Addresses of the group functions of operation ``name`` for orders
    ``0..kmax`` (0 where the operation is not traceable at that order): loaded
    from the disk cache, else compiled and cached.  A module compiled for a
    higher maximum order is reused."""
    from ._unroll import load_module

    op = OPS[name]
    with _lock:
        for (nm, km), (addrs, _) in _MODS.items():
            if nm == name and km >= kmax:
                return addrs[:kmax + 1]
        mname = _mod_name(op, kmax)
        made = []

        def make_ir():
            text, done = build_ir(op, kmax, mname)
            made.append(done)
            return text

        # the first function always exists: order kmax traces for every operation
        # the tracer supports above order 0 (_unroll.trace_program's contract)
        _, ee = load_module(mname, make_ir, symbol=f"{mname}_{kmax}")
        addrs = [ee.get_function_address(f"{mname}_{k}") for k in range(kmax + 1)]
        _MODS[(name, kmax)] = (addrs, ee)
        return addrs


def group_prog(prog: np.ndarray, cvals: np.ndarray, order: int):
    """The VM program ``prog`` with group kernels for orders ``0..order`` attached
    (a new array; ``cvals`` is unchanged and returned): each group header gets
    the row of its operation's address table (column 2) and the number of
    orders in it (column 3); a terminator row (opcode -2) ends the groups and
    the tables follow, eight addresses per row.  Addresses belong to the
    process: build it again after unpickling."""
    prog = np.array(prog, dtype=np.int64)
    n = len(prog)
    h = 0
    while h < n and prog[h, 0] == -1:
        h += 1
    headers = []
    while h < n:
        if prog[h, 0] < 0:          # already attached
            raise ValueError("group_prog: the program already has group kernels")
        headers.append(h)
        h += 1 + int(prog[h, 1])
    names = {op.opcode: op for op in OPS.values()}
    tables = []
    where = {}
    nrow = -(-(order + 1) // 8)
    for hh in headers:
        op = names[int(prog[hh, 0])]
        if not _supported(op):
            continue
        if op.opcode not in where:
            addrs = group_functions(op.name, order)
            if not any(addrs):      # pragma: no cover - every supported op traces above 0
                continue
            t = np.zeros((nrow, 8), dtype=np.int64)
            t.reshape(-1)[:order + 1] = addrs
            where[op.opcode] = n + 1 + sum(len(x) for x in tables)
            tables.append(t)
        prog[hh, 2] = where[op.opcode]
        prog[hh, 3] = order + 1
    if not tables:
        return np.ascontiguousarray(prog), cvals
    term = np.zeros((1, prog.shape[1]), dtype=np.int64)
    term[0, 0] = -2
    return np.ascontiguousarray(np.vstack([prog, term] + tables)), cvals
