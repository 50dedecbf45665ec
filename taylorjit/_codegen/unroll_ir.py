"""IR emission of the unrolled jets: LLVM IR for a traced program.

:func:`build_ir` turns a program of the tracer (:class:`taylorjit._codegen.trace.Prog`)
into the module of an unrolled jet, in named steps:

1. the VM groups (operations left to the compact VM at order 0) as constant
   program tables (:func:`_vm_groups`, rows of :func:`taylorjit._codegen.vm.group_rows`);
2. where every value lives (:class:`_Plan`): the chunks of about :data:`CHUNK`
   nodes (:func:`_chunks`), the last chunk that reads each node
   (:func:`_last_uses`), which stores happen (:func:`_stores`) and which
   blocked sums read four consecutive coefficients as one vector
   (:func:`_vector_blocks`);
3. one function per chunk, its straight-line body written as IR text
   (:class:`taylorjit._codegen.chunk_text.ChunkText`: tens of thousands of
   instructions in a big system, formatted directly);
4. the jet's entry with numba's C ABI (:func:`_emit_entry`: the chunks if the
   call matches the kernel, else the VM) and, when no chunk calls the VM, the
   light entry and the fused steps (:func:`_emit_light`,
   :func:`taylorjit._codegen.step_ir.emit_step`).

:func:`emit_scalar` writes one scalar node with llvmlite's builder (the group
kernels of :mod:`.gvm` use it; the chunks write the same instructions as
text).  No fast-math flags anywhere: the code performs the traced IEEE
operations in their order.  Sits above :mod:`.trace`, :mod:`.vm`,
:mod:`.chunk_text` and :mod:`.step_ir`; :mod:`.unroll` compiles and loads what it emits.
"""
from __future__ import annotations

from .. import _numba_compat as _nc
from .chunk_text import ChunkText, text_function_class
from .step_ir import emit_step
from .trace import Prog
from .vm import group_rows

__all__ = ["build_ir", "emit_scalar", "CHUNK", "INLINE_MAX_NODES"]

CHUNK = 600   # nodes per generated function (LLVM's code generation is superlinear in it)
# programs up to this size: the chunk functions may be inlined (LLVM's O2 does it) into one
INLINE_MAX_NODES = 3000


def ir_types():
    """``(ir, f64, i64, ptr, a1, a2)``: llvmlite's ``ir`` module, its double, int64 and
    pointer types, and numba's 1-D and 2-D array structs (the jet's C ABI)."""
    import llvmlite.ir as ir

    f64, i64, ptr = ir.DoubleType(), ir.IntType(64), ir.PointerType()
    return ir, f64, i64, ptr, _nc.array_struct_type(ir, 1), _nc.array_struct_type(ir, 2)


def _const_array(ir, mod, name, elt, values):
    ty = ir.ArrayType(elt, len(values))
    g = ir.GlobalVariable(mod, ty, name)
    g.global_constant = True
    g.linkage = "internal"
    g.initializer = ir.Constant(ty, [ir.Constant(elt, v) for v in values])
    return g


def _array_struct(ir, i64, a_ty, data, shape):
    """A numba array struct (no meminfo: the VM never touches it) over constant data."""
    return _nc.array_struct_constant(ir, a_ty, data, shape)


def emit_scalar(ir, b, nd, get, addr, t, pdata, libm):
    """IR of a scalar node of a traced program (``c``, ``t``, ``par``, ``ld``,
    ``neg``, ``call``, ``fma``, ``+ - * /``; see :class:`taylorjit._codegen.trace.Prog`):
    ``get(node)`` gives an operand's value, ``addr(slot, j)`` the address of a coefficient, ``t`` the
    time, ``pdata`` the parameters' data, ``libm(name)`` a C function.  (The
    unrolled jets' chunks write the same instructions as text: ``build_ir``.)"""
    f64, i64 = ir.DoubleType(), ir.IntType(64)
    kind = nd[0]
    if kind == "c":
        return ir.Constant(f64, nd[1])
    if kind == "t":
        return t
    if kind == "par":
        return b.load(b.gep(pdata, [ir.Constant(i64, nd[1])], inbounds=True, source_etype=f64),
                      typ=f64)
    if kind == "ld":
        return b.load(addr(nd[1], nd[2]), typ=f64)
    if kind == "neg":
        return b.fneg(get(nd[1]))
    if kind == "call":
        return b.call(libm(nd[1]), [get(nd[2])])
    if kind == "powc":
        # the C library's pow, as numba's llvm.pow at run time; "nobuiltin": LLVM must not
        # rewrite pow of a constant exponent (numba's VM sees the exponent at run time)
        fn = b.module.globals.get("pow")
        if fn is None:
            fn = ir.Function(b.module, ir.FunctionType(f64, [f64, f64]), name="pow")
            fn.attributes.add("nobuiltin")
        return b.call(fn, [get(nd[1]), get(nd[2])])
    if kind == "fma":
        fn = b.module.globals.get("llvm.fma.f64") or b.module.declare_intrinsic(
            "llvm.fma", [f64], ir.FunctionType(f64, [f64] * 3))
        return b.call(fn, [get(nd[1]), get(nd[2]), get(nd[3])])
    x, y = get(nd[1]), get(nd[2])
    return {"+": b.fadd, "-": b.fsub, "*": b.fmul, "/": b.fdiv}[kind](x, y)


def _chunks(p: Prog, size: int):
    """Node ranges of about ``size`` nodes, cut between operations (so that no
    partial sum crosses a boundary)."""
    bounds = sorted(set(p.cuts) | set(p.starts) | {len(p.nodes)})
    out = []
    lo = 0
    for cut in bounds:
        if cut - lo >= size or cut == len(p.nodes):
            if cut > lo:
                out.append((lo, cut))
            lo = cut
    return out


def _contiguous(blk, side):
    """``(slot, first index, reversed)`` of four lanes that are consecutive
    coefficients of one row, else None."""
    keys = [m[side] for m in blk]
    slot, j0 = keys[0][0], keys[0][1]
    for step, rev in ((1, False), (-1, True)):
        if all(kk[0] == slot and kk[1] == j0 + step * i for i, kk in enumerate(keys)):
            return slot, (j0 if not rev else j0 - 3), rev
    return None


# --------------------------------------------------------------------------- where values live
def _last_uses(p: Prog, chunk_of: list) -> list:
    """The last chunk that reads each node (directly or through a store)."""
    last_use = list(chunk_of)
    for i, nd in enumerate(p.nodes):
        kind = nd[0]
        if kind in ("+", "-", "*", "/"):
            used = nd[1:3]
        elif kind == "fma":
            used = nd[1:4]
        elif kind == "neg":
            used = (nd[1],)
        elif kind == "call":
            used = (nd[2],)
        elif kind == "powc":
            used = nd[1:3]
        elif kind == "st":
            used = (nd[3],)
        elif kind == "vsum":
            used = [x for t in nd[1] for x in t[1:]]
        else:
            continue
        for a in used:
            if last_use[a] < chunk_of[i]:
                last_use[a] = chunk_of[i]
    return last_use


def _stores(p: Prog, keep: set, chunk_of: list, last_use: list):
    """``(stored, loc, loc_at)``: the store effects that happen, and for a value node
    the coefficient ``(slot, j)`` where it is stored and the index of that store.

    Stores: the rows the caller reads (``keep``), everything at order 0 (the VM
    groups read it) and values that later chunks reload; the other coefficients
    stay in registers and dead ones (e.g. cos at the last order) are never computed.
    Constants, the time and parameters are never reloaded (get() re-emits them), so
    a later use does not call for their store -- unless VM groups run, whose reads
    of tc are not traced (Lorenz: 60 stores of zeros per step fewer)."""
    has_vm = any(nd[0] == "vm" for nd in p.nodes)
    reemitted = () if has_vm else ("c", "t", "par")
    stored = set()
    loc = {}                      # value node -> (slot, j) where it is stored
    loc_at = {}                   # value node -> index of that store
    written = set()
    for i, nd in enumerate(p.nodes):
        if nd[0] == "st":
            key = (nd[1], nd[2])
            if key in written:        # rewritten coefficient: its old node is not there
                loc = {v: kj for v, kj in loc.items() if kj != key}
            written.add(key)
            if nd[1] in keep or nd[2] == 0 or (last_use[nd[3]] > chunk_of[i]
                                               and p.nodes[nd[3]][0] not in reemitted):
                stored.add(i)
                if nd[3] not in loc:
                    loc[nd[3]] = key
                    loc_at[nd[3]] = i
    return stored, loc, loc_at


def _vector_blocks(p: Prog, stored: set) -> dict:
    """``vsum`` node -> for each block of four lanes, where its x and y vectors are
    in ``tc`` (:func:`_contiguous`), for the blocked sums whose coefficients are all
    consecutive in memory.  A vsum reads its coefficients from tc: their stores
    are added to ``stored``."""
    vec_ok = {}
    for i, nd in enumerate(p.nodes):
        if nd[0] == "vsum" and nd[2] is not None:
            m = len(nd[1]) // 4
            blocks = [nd[2][4 * q:4 * q + 4] for q in range(m)]
            spec = [(_contiguous(blk, 0), _contiguous(blk, 1)) for blk in blocks]
            if all(x is not None and y is not None for x, y in spec):
                vec_ok[i] = spec
                stored.update(w[2] for pair in nd[2][:4 * m] for w in pair if w[2] >= 0)
    return vec_ok


class _Plan:
    """Where the values of a traced program live across its chunk functions
    (:func:`_chunks`, :func:`_last_uses`, :func:`_stores`, :func:`_vector_blocks`);
    ``early`` (value node -> chunk that stored it before ``loc_at``) is filled
    while the chunks are written."""

    def __init__(self, p: Prog, keep: set, size: int):
        self.chunks = _chunks(p, size)
        chunk_of = [0] * len(p.nodes)
        for ci, (lo, hi) in enumerate(self.chunks):
            chunk_of[lo:hi] = [ci] * (hi - lo)
        self.chunk_of = chunk_of
        self.last_use = _last_uses(p, chunk_of)
        self.stored, self.loc, self.loc_at = _stores(p, keep, chunk_of, self.last_use)
        self.vec_ok = _vector_blocks(p, self.stored)
        self.early = {}


# --------------------------------------------------------------------------- the module
def _vm_groups(ir, mod, name, groups, a1, a2):
    """The VM groups of a program as constant tables: ``(prog, cvals)`` numba array
    structs (``a2``, ``a1``) per group."""
    f64, i64 = ir.DoubleType(), ir.IntType(64)
    out = []
    for gi, rows in enumerate(groups):
        prows, cv = group_rows(rows)
        flat = [int(x) for r in prows for x in r]
        gp = _const_array(ir, mod, f"{name}_p{gi}", i64, flat)
        gc = _const_array(ir, mod, f"{name}_c{gi}", f64, [float(x) for x in cv])
        out.append((_array_struct(ir, i64, a2, gp, [len(prows), len(prows[0])]),
                    _array_struct(ir, i64, a1, gc, [len(cv)])))
    return out


def build_ir(p: Prog, name: str, n_slots: int, order: int, full: int, keep=None,
             n_state: int = 0, chunk: int | None = None) -> str:
    """LLVM IR (text) of the unrolled jet ``name`` for the traced program ``p``.

    The function has numba's C ABI of a :data:`taylorjit._codegen.jetabi.JET_SIG`
    function (arrays as by-value structs, ``ptr`` return); the compact VM's
    address is read from the global ``<name>_vm``, set after loading.  The
    straight-line body is split into functions of whole orders (``chunk``
    nodes each, default :data:`CHUNK`): values from earlier chunks are reloaded
    from ``tc`` (every coefficient is stored) or recomputed if they are intermediate.

    Only the rows in ``keep`` (default: all) are guaranteed in ``tc`` afterwards
    (all orders), plus every slot's order 0.  ``n_state > 0`` (an ODE jet whose
    chunks are all light) also emits the fused step ``<name>_step`` and, for
    programs of at most :data:`INLINE_MAX_NODES` nodes, the register step
    ``<name>_stepr`` (:func:`taylorjit._codegen.step_ir.emit_step`)."""
    ir, f64, i64, ptr, a1, a2 = ir_types()
    keep = set(range(n_slots)) if keep is None else set(keep)
    mod = ir.Module(name=name)
    ret = _nc.cfunc_void_return_type(ir)     # numba's C ABI of a function returning nothing
    fnty = ir.FunctionType(ret, [a2, i64, a1, f64, i64, a2, a1])
    vm_p = ir.PointerType(fnty)
    vm_g = ir.GlobalVariable(mod, ptr, name + "_vm")
    vm_g.initializer = ir.Constant(ptr, None)
    groups = _vm_groups(ir, mod, name, p.groups, a1, a2)
    plan = _Plan(p, keep, CHUNK if chunk is None else chunk)
    # chunks that call the VM take the jet's arguments (numba's by-value array structs:
    # ~30 pushes per call); the others only the table and parameter pointers and t
    light_ty = ir.FunctionType(ir.VoidType(), [ptr, ptr, f64])
    small = len(p.nodes) <= INLINE_MAX_NODES
    # the text of a VM call in a chunk: the 2-D and 1-D array types, the load of the
    # VM's address and each group's (prog, cvals) arguments
    vm_call = [f"{a2}", f"{a1}", f"load {vm_p}, ptr {vm_g.get_reference()}",
               [f"{gp.type} {gp.get_reference()}, {gc.type} {gc.get_reference()}"
                for gp, gc in groups]]
    chunk_fns = []
    for ci, (lo, hi) in enumerate(plan.chunks):
        light = not any(p.nodes[i][0] == "vm" for i in range(lo, hi))
        f = text_function_class()(mod, light_ty if light else fnty, name=f"{name}_k{ci}")
        f.linkage = "internal"
        if not small:
            f.attributes.add("noinline")
        ChunkText(p, plan, f, ci, lo, hi, light, order + 1, vm_call).write()
        chunk_fns.append((f, light))
    _emit_entry(ir, mod, name, fnty, vm_g, vm_p, chunk_fns, n_slots, order, full)
    if all(light for _, light in chunk_fns):
        _emit_light(ir, mod, name, light_ty, [f for f, _ in chunk_fns])
        if n_state > 0 and order >= 2 and not full:
            fns = [f for f, _ in chunk_fns]
            emit_step(ir, mod, name, fns, n_state, order)
            if small:
                # the register step: the chunks inlined (everywhere: a small program) and
                # the table a local array, so that LLVM keeps the coefficients in registers
                for f in fns:
                    f.attributes.add("alwaysinline")
                emit_step(ir, mod, name, fns, n_state, order, local_slots=n_slots)
    return str(mod)


def _emit_entry(ir, mod, name, fnty, vm_g, vm_p, chunk_fns, n_slots, order, full):
    """The jet ``name`` (numba's C ABI): the chunks if the order, ``full`` and the
    table's shape are the kernel's, else the VM on the caller's program."""
    i64 = ir.IntType(64)
    ret = fnty.return_type
    fn = ir.Function(mod, fnty, name=name)
    tc_a, order_a, pars_a, t_a, full_a, prog_a, cvals_a = fn.args
    entry = fn.append_basic_block("entry")
    fast = fn.append_basic_block("fast")
    slow = fn.append_basic_block("slow")
    b = ir.IRBuilder(entry)
    sh0 = b.extract_value(tc_a, [_nc.ARRAY_SHAPE, 0])
    sh1 = b.extract_value(tc_a, [_nc.ARRAY_SHAPE, 1])
    ok = b.and_(b.icmp_signed("==", order_a, ir.Constant(i64, order)),
                b.icmp_signed("==", full_a, ir.Constant(i64, int(bool(full)))))
    ok = b.and_(ok, b.icmp_signed(">=", sh0, ir.Constant(i64, n_slots)))
    ok = b.and_(ok, b.icmp_signed("==", sh1, ir.Constant(i64, order + 1)))
    b.cbranch(ok, fast, slow)
    b = ir.IRBuilder(slow)
    b.call(b.load(vm_g, typ=vm_p), list(fn.args))
    b.ret(ir.Constant(ret, None))
    b = ir.IRBuilder(fast)
    data, pdata = b.extract_value(tc_a, _nc.ARRAY_DATA), b.extract_value(pars_a, _nc.ARRAY_DATA)
    for f, light in chunk_fns:
        b.call(f, [data, pdata, t_a] if light else list(fn.args))
    b.ret(ir.Constant(ret, None))


def _emit_light(ir, mod, name, light_ty, fns):
    """The light entry ``<name>_light(tc data, pars data, t)``
    (taylorjit._codegen.jetabi.call_light): pointers in registers, no checks."""
    fl = ir.Function(mod, light_ty, name=name + "_light")
    b = ir.IRBuilder(fl.append_basic_block("entry"))
    for f in fns:
        b.call(f, list(fl.args))
    b.ret_void()
