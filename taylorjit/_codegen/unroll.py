"""Unrolled kernels: straight-line machine code for a decomposition at one order.

The specialised kernel (``_kernel.spec_source``) loops over the orders and over
the terms of every Cauchy product, and its coefficients travel through memory
(``tc``).  heyoka's default mode instead emits every coefficient of every order
as straight-line code.  This module does the same, without a second
implementation of the recurrences:

1. **Trace.**  The registry's own Python kernels (``Op.py``) run on symbolic
   rows at concrete orders ``k``; every arithmetic operation they perform
   becomes a node of a straight-line SSA program.  So each coefficient is the
   same sequence of IEEE operations as in the looped kernels and the kinds agree
   to the last bit (tested).  Elementary functions of symbols become calls of
   the same C library functions that numba calls (:data:`LIBM_UNARY`), and so
   does a real power ``a ** c`` at order 0 (``pow``, in the unrolled jets).
   Whatever a kernel does that depends on a value (the domain checks at order 0
   of log, asin, acosh ...; the Kepler solver) cannot be traced: at
   order 0 those operations run in the compact VM on a small program table
   embedded in the code; an operation that refuses at an order above 0 makes the
   system unsupported (none of the registry does).
2. **Emit** LLVM IR for the program with the common jet signature (numba's C
   ABI of a ``JET_SIG`` function, so the compiled drivers call it as a
   first-class function like any other jet).  Called with another order,
   another ``full`` or a table of another shape, it runs the compact VM on the
   caller's program instead (same results), so it is always safe to call.
   The straight-line chunks are written as IR text (tens of thousands of
   instructions in a big system), the rest with llvmlite's builder.
3. **Compile** with llvmlite (numba's LLVM) for the host CPU, no fast-math
   flags: LLVM's O2 pipeline for programs up to :data:`IR_PASSES_MAX_NODES`
   nodes, then code generation at O3, in a tenth of a second for a small system
   (numba needs seconds for the same size of Python source), and cache the
   object code on disk.

Unlike the other kinds, an unrolled kernel leaves in ``tc`` only what its
callers read: every order of the state rows (ODE) and of the output rows, and
order 0 of every slot.  The other coefficients live in registers, and those
that feed no output (cos at the last order of a pendulum) are never computed.

The code size grows like ``ops * order**2``: :func:`unrolled_size` estimates it
so that callers keep huge systems on the VM.  In big programs the four partial
sums of every blocked convolution sum are emitted as ``<4 x double>`` code
(:func:`_vsum_twin`; same values): their time tracked code size (instruction fetch),
and it cut the outer solar system's code by 28%.  Kernels without VM groups also
export a *light* entry ``<name>_light(tc data, pars data, t)`` for the
integrator's compiled loop (``taylorjit._codegen.kernel.call_light``) and, for ODEs, a
*fused step* ``<name>_step`` (jet, step size and Horner update in one function,
:func:`_emit_step`; ``taylorjit._codegen.kernel.call_step``).
"""
from __future__ import annotations

import ctypes
import math
import struct
import threading
import types

from .. import _numba_compat as _nc
from .decompose import Decomposition
from .._symbolic.registry import OPS

__all__ = ["UnsupportedUnroll", "unrolled_size", "trace_program", "unrolled_jet"]

MAX_UNROLLED = 200000  # default bound on unrolled_size (compile time: ~10-40 s at the bound)


class UnsupportedUnroll(ValueError):
    """The decomposition cannot be unrolled (an operation refuses to trace above order 0)."""


class _NoTrace(Exception):
    """The kernel did something that depends on a coefficient's value."""


# --------------------------------------------------------------------------- tracing
class _Prog:
    """The straight-line program being traced: a list of nodes.

    Value nodes: ``("c", x)`` constant, ``("ld", slot, j)`` load of ``tc[slot, j]``,
    ``("par", i)``, ``("t",)``, ``(op, a, b)`` for op in ``+ - * /``, ``("neg", a)``,
    ``("fma", a, b, c)`` a * b + c rounded once (``_funcs._common.fma``),
    ``("call", name, a)`` a C library function (:data:`LIBM_UNARY`),
    ``("powc", a, c)`` the C library's ``pow(a, c)`` for a constant float ``c``
    (only when ``trace_pow``: the unrolled jets; the other emitters keep such
    operations in the VM).
    Effect nodes: ``("st", slot, j, a)`` store, ``("vm", g)`` run VM group ``g``.
    Value nodes are hash-consed (identical operations share one node).
    """

    def __init__(self):
        self.nodes = []
        self.memo = {}
        self.groups = []        # lists of operations run by the VM at order 0
        self.starts = []        # index of the first node of each order
        self.cuts = []          # node indices between operations (where chunks may end)
        self.vector_sums = False   # trace blocked sums as "vsum" nodes (see _vsum_twin)
        self.trace_pow = False     # trace a ** c (c a float constant) as "powc" nodes

    def node(self, *key):
        i = self.memo.get(key)
        if i is None:
            i = len(self.nodes)
            self.nodes.append(key)
            self.memo[key] = i
        return i

    def const(self, x):
        return self.node("c", float(x))

    def effect(self, *key):
        self.nodes.append(key)


class _V:
    """A symbolic double: a node of the program ``p``."""

    __slots__ = ("p", "i")

    def __init__(self, p, i):
        self.p, self.i = p, i

    def _arg(self, x):
        if isinstance(x, _V):
            return x.i
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            return self.p.const(x)
        raise _NoTrace(type(x).__name__)

    def _bin(self, op, other, rev=False):
        a, b = self.i, self._arg(other)
        return _V(self.p, self.p.node(op, b, a) if rev else self.p.node(op, a, b))

    def __add__(self, o):
        return self._bin("+", o)

    def __radd__(self, o):
        return self._bin("+", o, True)

    def __sub__(self, o):
        return self._bin("-", o)

    def __rsub__(self, o):
        return self._bin("-", o, True)

    def __mul__(self, o):
        return self._bin("*", o)

    def __rmul__(self, o):
        return self._bin("*", o, True)

    def __truediv__(self, o):
        return self._bin("/", o)

    def __rtruediv__(self, o):
        return self._bin("/", o, True)

    def __neg__(self):
        return _V(self.p, self.p.node("neg", self.i))

    def __pos__(self):
        return self

    def _refuse(self, *a):
        raise _NoTrace("value-dependent operation")

    def __pow__(self, c):
        # numba lowers float ** float to llvm.pow, i.e. the C library's pow (no checks,
        # numba.cpython.numbers.real_power_impl); float ** int is another algorithm
        if self.p.trace_pow and type(c) is float:
            return _V(self.p, self.p.node("powc", self.i, self.p.const(c)))
        raise _NoTrace("a ** b")

    __bool__ = __float__ = __index__ = __abs__ = __rpow__ = _refuse
    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = _refuse
    __mod__ = __rmod__ = __floordiv__ = __rfloordiv__ = _refuse
    __hash__ = None


class _State:
    """Where each coefficient currently is: a value node (``vals``), else memory."""

    def __init__(self, p):
        self.p = p
        self.vals = {}
        self.st_at = {}         # (slot, j) -> index of the store effect of its current value

    def get(self, slot, j):
        i = self.vals.get((slot, j))
        if i is None:
            i = len(self.p.nodes)              # a fresh load (after any VM call)
            self.p.nodes.append(("ld", slot, j))
            self.vals[(slot, j)] = i
        return i

    def set(self, slot, j, i):
        self.vals[(slot, j)] = i
        self.st_at[(slot, j)] = len(self.p.nodes)
        self.p.effect("st", slot, j, i)


class _Row:
    __slots__ = ("tc", "slot")

    def __init__(self, tc, slot):
        self.tc, self.slot = tc, slot

    def __getitem__(self, j):
        if type(j) is not int:
            raise _NoTrace("symbolic index")
        key = (self.slot, j)
        hit = self.tc.pending.get(key)
        if hit is not None:
            return hit
        return _V(self.tc.p, self.tc.st.get(self.slot, j))

    def __setitem__(self, j, value):
        if type(j) is not int:
            raise _NoTrace("symbolic index")
        if isinstance(value, _V):
            self.tc.pending[(self.slot, j)] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            self.tc.pending[(self.slot, j)] = _V(self.tc.p, self.tc.p.const(value))
        else:
            raise _NoTrace(type(value).__name__)


class _TC:
    """Symbolic coefficient table; writes are buffered until the kernel returns,
    so a kernel that refuses half way leaves nothing behind (the nodes it made
    are dead and never emitted)."""

    def __init__(self, p, st):
        self.p, self.st = p, st
        self.pending = {}

    def __getitem__(self, slot):
        if type(slot) is not int:
            raise _NoTrace("2-D indexing")
        return _Row(self, slot)


class _Pars:
    def __init__(self, p):
        self.p = p

    def __getitem__(self, i):
        return _V(self.p, self.p.node("par", int(i)))


# math functions that numba lowers to a call of the C library function of the same name
# (an LLVM intrinsic or an extern call: numba/cpython/mathimpl.py); traced, they become
# calls of that same function, so the values are bit-identical to the compiled kernels'
LIBM_UNARY = frozenset(["sin", "cos", "tan", "exp", "expm1", "log", "log1p", "atan", "sinh",
                        "cosh", "tanh", "asinh", "erf", "sqrt"])


class _MathProxy(types.ModuleType):
    """``math`` for traced kernels: numbers pass through; symbols become libm calls
    (:data:`LIBM_UNARY`) or refuse."""

    def __getattr__(self, name):
        f = getattr(math, name)
        if not callable(f):
            return f

        def g(*args):
            if any(isinstance(a, _V) for a in args):
                if name in LIBM_UNARY and len(args) == 1:
                    a = args[0]
                    return _V(a.p, a.p.node("call", name, a.i))
                raise _NoTrace(f"math.{name}")
            return f(*args)

        return g


_TRACED: dict = {}


def _plain(fn, memo):
    """``fn`` (a Python function or numba dispatcher) with its globals rebound so
    it runs on symbols: dispatchers become their Python functions, ``math`` the
    proxy."""
    fn = getattr(fn, "py_func", fn)
    hit = memo.get(fn)
    if hit is not None:
        return hit
    g = dict(fn.__globals__)
    new = types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)
    memo[fn] = new
    twins = _blocked_sums()
    fma_py = _fma_py()
    for name, val in list(g.items()):
        if val is math:
            g[name] = _MathProxy("math")
        elif getattr(val, "py_func", None) is fma_py:
            g[name] = _trace_fma
        elif getattr(val, "py_func", None) in twins:
            g[name] = _vsum_twin(twins[val.py_func], _plain(val, memo))
        elif callable(getattr(val, "py_func", None)):
            g[name] = _plain(val, memo)
    return new


def _fma_py():
    from .._funcs._common import fma

    return fma.py_func


def _trace_fma(a, b, c):
    """Traced ``_funcs._common.fma``: an ``fma`` node, or the fused value of numbers."""
    v = next((x for x in (a, b, c) if isinstance(x, _V)), None)
    if v is None:
        from .._funcs._common import fma_exact

        return fma_exact(a, b, c)
    p = v.p
    return _V(p, p.node("fma", v._arg(a), v._arg(b), v._arg(c)))


# ----------------------------------------------------------------------- blocked sums as vectors
def _blocked_sums():
    """The recurrences' blocked convolution sums (``_funcs._common`` module doc) that
    the tracer may emit as SIMD code: Python function -> kind."""
    from .._funcs._common import psum, pwsum
    from .._funcs.arith import _pow_sum

    return {psum.py_func: "psum", pwsum.py_func: "pwsum", _pow_sum.py_func: "pow"}


def _sum_terms(kind, a, b, k, rest):
    """The terms of a blocked sum in summation order: ``(coef, x row, x index,
    y row, y index)`` for ``coef * x * y`` (``coef`` None: ``x * y``), exactly as
    the Python kernels compute them."""
    if kind == "pow":            # _pow_sum: sum_{j=1}^{k-1} (k c - j (c + 1)) a_{k-j} b_j
        c = rest[0]
        kc, c1 = k * c, c + 1.0
        return [(kc - j * c1, a, k - j, b, j) for j in range(1, k)]
    lo, hi = rest
    if kind == "psum":           # sum_{j=lo}^{hi-1} a_j b_{k-j}
        return [(None, a, j, b, k - j) for j in range(lo, hi)]
    return [(j, a, j, b, k - j) for j in range(lo, hi)]      # pwsum: j a_j b_{k-j}


def _vsum_twin(kind, plain):
    """The traced stand-in of a blocked sum.  With ``vector_sums`` set on the
    program, the four interleaved partial sums of the middle terms (n >= 6)
    become one ``vsum`` node, which the emitter turns into ``<4 x double>``
    multiplies and fused multiply-adds of the coefficients loaded from ``tc``
    (lane i is partial sum s_i: the same IEEE operations in the same order, so
    the values are bit-identical); the end terms and the final additions stay
    scalar nodes as in ``plain``."""

    def twin(a, b, k, *rest):
        if not (isinstance(a, _Row) and isinstance(b, _Row) and a.tc.p.vector_sums
                and type(k) is int and all(type(r) in (int, float) for r in rest)):
            return plain(a, b, k, *rest)
        terms = _sum_terms(kind, a, b, k, rest)
        if len(terms) < 6:
            return plain(a, b, k, *rest)

        def fused(t, acc):     # acc + x * y (times coef), as the Python kernels
            c, xr, xi, yr, yi = t
            x = xr[xi]
            return _trace_fma(x if c is None else c * x, yr[yi], acc)

        return fused(terms[-1], fused(terms[0], _vsum(a.tc, terms[1:-1])))

    return twin


def _where(tc, slot, j, node):
    """``(slot, j, index of the store of its value or -1)`` if coefficient
    ``(slot, j)`` holds ``node`` in ``tc`` memory once its store (if any) has run;
    None if it is only in registers (written by the running operation)."""
    key = (slot, j)
    if key in tc.pending or tc.st.vals.get(key) != node:
        return None
    return (slot, j, tc.st.st_at.get(key, -1))


def _vsum(tc, mid):
    """A ``("vsum", terms, mem)`` node for the middle terms of a blocked sum:
    ``terms`` = ``(coef, x node, y node)``, ``mem`` = where each x and y is in
    memory (None if one is not).  Never hash-consed: its memory reads belong to
    this point of the program."""
    p = tc.p
    terms, mem = [], []
    for c, xr, xi, yr, yi in mid:
        x, y = xr[xi], yr[yi]
        terms.append((None if c is None else float(c), x.i, y.i))
        mem.append((_where(tc, xr.slot, xi, x.i), _where(tc, yr.slot, yi, y.i)))
    ok = all(m is not None for pair in mem for m in pair)
    p.nodes.append(("vsum", tuple(terms), tuple(mem) if ok else None))
    return _V(p, len(p.nodes) - 1)


def _contiguous(blk, side):
    """``(slot, first index, reversed)`` of four lanes that are consecutive
    coefficients of one row, else None."""
    keys = [m[side] for m in blk]
    slot, j0 = keys[0][0], keys[0][1]
    for step, rev in ((1, False), (-1, True)):
        if all(kk[0] == slot and kk[1] == j0 + step * i for i, kk in enumerate(keys)):
            return slot, (j0 if not rev else j0 - 3), rev
    return None


def _traced(op):
    f = _TRACED.get(op.name)
    if f is None:
        f = _TRACED[op.name] = _plain(op.py, {})
    return f


def unrolled_size(d: Decomposition, order: int) -> int:
    """An upper estimate of the operations of the unrolled code (callers keep
    systems above :data:`MAX_UNROLLED` on the VM: code size, compile time and
    memory): every operation counts as a Cauchy product, ``k + 1`` operations at
    order ``k``, times its :func:`op_weight`.  Measured on systems of every
    registered function, the traced programs stay below it (tested)."""
    counts: dict = {}
    for row in d.ops:
        counts[row[0]] = counts.get(row[0], 0) + 1
    ops = sum(n * op_weight(name) for name, n in counts.items())
    return math.ceil((ops + 1) * ((order + 1) * (order + 2) // 2))


_WEIGHTS: dict = {}
_WEIGHT_ORDER = 16      # weights from traces up to this order (~1 ms per operation)


def op_weight(name: str) -> float:
    """The unrolled code of operation ``name`` per order relative to that of a
    Cauchy product, at least 1: measured once per process by tracing it alone
    (the largest ratio of its count per order, orders 1 to :data:`_WEIGHT_ORDER`,
    and of its growth per order from 8 to :data:`_WEIGHT_ORDER`).  1 to 1.9 for
    products, quotients, exp, log, asin ...; 2 for sin/cos pairs, 3 for real
    powers, 6 for atan2, 10 for kepE."""
    w = _WEIGHTS.get(name)
    if w is None:
        c, m = _per_order(name), _per_order("mul")
        lo, hi = 8, _WEIGHT_ORDER
        w = max([1.0, (c[hi] - c[lo]) / (m[hi] - m[lo])]
                + [c[k] / m[k] for k in range(1, hi + 1)])
        _WEIGHTS[name] = w
    return w


def _per_order(name: str) -> list:
    """Nodes traced at each order ``0.._WEIGHT_ORDER`` by operation ``name`` alone."""
    op = OPS[name]
    ins = (0,) * op.n_in if op.int_in else tuple(range(op.n_in))
    c = 0.618034 if op.has_c else None       # an exponent that cancels no term
    row = (name, tuple(range(op.n_in, op.n_in + op.n_out)), ins, c)
    alone = types.SimpleNamespace(ops=[row], outputs=[], n_in=0)
    try:
        p = trace_program(alone, False, _WEIGHT_ORDER, 1, trace_pow=True)
    except UnsupportedUnroll:       # never unrolled: no weight needed
        return [1] * (_WEIGHT_ORDER + 1)
    ends = p.starts[1:] + [len(p.nodes)]
    return [e - s for s, e in zip(p.starts, ends)]


def trace_program(d: Decomposition, ode: bool, order: int, full: int,
                  vector_sums: bool = False, trace_pow: bool = False) -> _Prog:
    """The straight-line program of the jet of ``d`` at ``order`` (see module doc);
    ``vector_sums``: blocked sums as ``vsum`` nodes (:func:`_vsum_twin`);
    ``trace_pow``: real powers at order 0 as ``powc`` nodes (else in the VM)."""
    p = _Prog()
    p.vector_sums = vector_sums
    p.trace_pow = trace_pow
    st = _State(p)
    pars = _Pars(p)
    t = _V(p, p.node("t"))
    n_ord = order + 1 if full else order
    state = list(enumerate(d.outputs[:d.n_in])) if ode else []
    for k in range(order + 1):
        p.starts.append(len(p.nodes))
        if k > 0:
            for i, r in state:
                st.set(i, k, p.node("/", st.get(r, k - 1), p.const(k)))
        if k >= n_ord:
            break
        pending_vm = []
        for op_row in d.ops:
            name, outs, ins, c = op_row
            op = OPS[name]
            if pending_vm and not op.int_in and any(i in _outs(pending_vm) for i in ins):
                _flush_vm(p, st, pending_vm)    # its inputs come from the VM: run it first
            tc = _TC(p, st)
            try:
                _traced(op)(*op.args(tc, k, outs, ins, c, pars, t))
            except (_NoTrace, TypeError, IndexError, ValueError, ArithmeticError) as exc:
                if k > 0:
                    raise UnsupportedUnroll(f"operation {name!r} cannot be unrolled at order "
                                            f"{k}: {exc}") from None
                pending_vm.append(op_row)
                continue
            for (slot, j), v in tc.pending.items():
                st.set(slot, j, v.i)
            p.cuts.append(len(p.nodes))
        if pending_vm:
            _flush_vm(p, st, pending_vm)
    return p


def _outs(rows):
    return {o for _, outs, _, _ in rows for o in outs}


def _flush_vm(p, st, rows):
    """Run ``rows`` (order 0) in the VM: inputs are in memory (every traced value
    is stored at once); afterwards their outputs must be loaded again."""
    p.groups.append(list(rows))
    p.effect("vm", len(p.groups) - 1)
    for o in _outs(rows):
        st.vals.pop((o, 0), None)
        st.st_at.pop((o, 0), None)
    rows.clear()


# --------------------------------------------------------------------------- LLVM IR
def _ir_types():
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
    ``neg``, ``call``, ``fma``, ``+ - * /``; see :class:`_Prog`): ``get(node)`` gives an
    operand's value, ``addr(slot, j)`` the address of a coefficient, ``t`` the
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


_FBINOP = {"+": "fadd", "-": "fsub", "*": "fmul", "/": "fdiv"}
_REV4 = "<4 x i32> <i32 3, i32 2, i32 1, i32 0>"    # shufflevector mask: lanes reversed


def _hex(x: float) -> str:
    """A double constant in LLVM IR text, exactly (its IEEE bits in hex, as llvmlite
    prints it)."""
    return format(struct.unpack("<Q", struct.pack("<d", x))[0], "#16x")


_TEXT_FN = []


def _text_function_class():
    """``llvmlite.ir.Function`` whose body is IR text (its attribute ``body``, the
    entry block's label and instructions): the chunks' straight-line code is
    formatted directly, over ten times faster than llvmlite's per-instruction
    objects (the outer solar system's chunks hold ~10^5 instructions).  Its
    prototype, attributes and the calls of it stay llvmlite's."""
    if _TEXT_FN:
        return _TEXT_FN[0]
    import llvmlite.ir as ir

    class TextFunction(ir.Function):
        body = ""

        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            self.append_basic_block("entry")    # a definition, not a declaration

        def descr_body(self, buf):
            buf.append(self.body)

    _TEXT_FN.append(TextFunction)
    return TextFunction


CHUNK = 600   # nodes per generated function (LLVM's code generation is superlinear in it)


def _chunks(p: _Prog, size: int):
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


def build_ir(p: _Prog, name: str, n_slots: int, order: int, full: int, keep=None,
             n_state: int = 0) -> str:
    """LLVM IR (text) of the unrolled jet ``name`` for the traced program ``p``.

    The function has numba's C ABI of a :data:`taylorjit._codegen.kernel.JET_SIG`
    function (arrays as by-value structs, ``ptr`` return); the compact VM's
    address is read from the global ``<name>_vm``, set after loading.  The
    straight-line body is split into functions of whole orders (:data:`CHUNK`
    nodes each): values from earlier chunks are reloaded from ``tc`` (every
    coefficient is stored) or recomputed if they are intermediate.

    Only the rows in ``keep`` (default: all) are guaranteed in ``tc`` afterwards
    (all orders), plus every slot's order 0.  ``n_state > 0`` (an ODE jet whose
    chunks are all light) also emits the fused step ``<name>_step`` and, for
    programs of at most :data:`INLINE_MAX_NODES` nodes, the register step
    ``<name>_stepr`` (:func:`_emit_step`)."""
    from .kernel import group_rows

    ir, f64, i64, ptr, a1, a2 = _ir_types()
    keep = set(range(n_slots)) if keep is None else set(keep)
    mod = ir.Module(name=name)
    ret = _nc.cfunc_void_return_type(ir)     # numba's C ABI of a function returning nothing
    fnty = ir.FunctionType(ret, [a2, i64, a1, f64, i64, a2, a1])
    vm_p = ir.PointerType(fnty)
    vm_g = ir.GlobalVariable(mod, ptr, name + "_vm")
    vm_g.initializer = ir.Constant(ptr, None)
    ncol = order + 1

    groups = []
    for gi, rows in enumerate(p.groups):
        prows, cv = group_rows(rows)
        flat = [int(x) for r in prows for x in r]
        gp = _const_array(ir, mod, f"{name}_p{gi}", i64, flat)
        gc = _const_array(ir, mod, f"{name}_c{gi}", f64, [float(x) for x in cv])
        groups.append((_array_struct(ir, i64, a2, gp, [len(prows), len(prows[0])]),
                       _array_struct(ir, i64, a1, gc, [len(cv)])))

    chunks = _chunks(p, CHUNK)
    chunk_of = [0] * len(p.nodes)
    for ci, (lo, hi) in enumerate(chunks):
        chunk_of[lo:hi] = [ci] * (hi - lo)
    # the last chunk that reads each node (directly or through a store)
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
    # stores: the rows the caller reads (``keep``), everything at order 0 (the VM
    # groups read it) and values that later chunks reload; the other coefficients
    # stay in registers and dead ones (e.g. cos at the last order) are never computed.
    # Constants, the time and parameters are never reloaded (get() re-emits them), so
    # a later use does not call for their store -- unless VM groups run, whose reads
    # of tc are not traced (Lorenz: 60 stores of zeros per step fewer)
    has_vm = any(nd[0] == "vm" for nd in p.nodes)
    reemitted = () if has_vm else ("c", "t", "par")
    stored = set()
    loc = {}                      # value node -> (slot, j) where it is stored
    loc_at = {}                   # value node -> index of that store
    early = {}                    # value node -> chunk that stored it before loc_at
    written = set()
    decls = {}

    def libm(fname):
        f = decls.get(fname)
        if f is None:
            f = decls[fname] = ir.Function(mod, ir.FunctionType(f64, [f64]), name=fname)
        return f

    def pow_decl():
        # the C library's pow, as numba's llvm.pow at run time; "nobuiltin": LLVM must not
        # rewrite pow of a constant exponent (numba's VM sees the exponent at run time)
        f = decls.get(("pow",))
        if f is None:
            f = decls[("pow",)] = ir.Function(mod, ir.FunctionType(f64, [f64, f64]), name="pow")
            f.attributes.add("nobuiltin")
        return f

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

    # a vsum reads its coefficients from tc: their stores must happen
    vec_ok = {}
    for i, nd in enumerate(p.nodes):
        if nd[0] == "vsum" and nd[2] is not None:
            m = len(nd[1]) // 4
            blocks = [nd[2][4 * q:4 * q + 4] for q in range(m)]
            spec = [(_contiguous(blk, 0), _contiguous(blk, 1)) for blk in blocks]
            if all(x is not None and y is not None for x, y in spec):
                vec_ok[i] = spec
                stored.update(w[2] for pair in nd[2][:4 * m] for w in pair if w[2] >= 0)
    v4 = ir.VectorType(f64, 4)
    # chunks that call the VM take the jet's arguments (numba's by-value array structs:
    # ~30 pushes per call); the others only the table and parameter pointers and t
    light_ty = ir.FunctionType(ir.VoidType(), [ptr, ptr, f64])
    small = len(p.nodes) <= INLINE_MAX_NODES
    text_fn = _text_function_class()
    vm_call = [f"{a2}", f"{a1}", f"load {vm_p}, ptr {vm_g.get_reference()}",
               [f"{gp.type} {gp.get_reference()}, {gc.type} {gc.get_reference()}"
                for gp, gc in groups]]

    def emit_chunk(ci, lo, hi):
        """The chunk's function, its body written as IR text (:func:`_text_function_class`):
        instructions numbered as llvmlite numbers them, so the module is the one its
        builder would make."""
        light = not any(p.nodes[i][0] == "vm" for i in range(lo, hi))
        f = text_fn(mod, light_ty if light else fnty, name=f"{name}_k{ci}")
        f.linkage = "internal"
        if not small:
            f.attributes.add("noinline")
        lines = ["entry:"]
        line = lines.append
        n = len(f.args) + 1       # llvmlite names the arguments and the return value first

        def emit(instr):          # an instruction: its value's name
            nonlocal n
            n += 1
            r = f'%".{n}"'
            line(f"  {r} = {instr}")
            return r

        def emit_void(instr):     # an instruction without a value (llvmlite numbers it too)
            nonlocal n
            n += 1
            line("  " + instr)

        args = [a.get_reference() for a in f.args]
        if light:
            data, pdata, t_a = args
        else:
            tc_a, pars_a, t_a = args[0], args[2], args[3]
            data = emit(f"extractvalue {vm_call[0]} {tc_a}, 4")
            pdata = emit(f"extractvalue {vm_call[1]} {pars_a}, 4")
        vals = {}

        def addr(slot, j):
            return emit(f"getelementptr inbounds double, ptr {data}, i64 {slot * ncol + j}")

        def get(i):
            v = vals.get(i)
            if v is not None:
                return v
            nd = p.nodes[i]
            # a value of an earlier chunk: reloaded if an earlier chunk stored it.  A
            # hash-consed node may be stored only by a later chunk (a later order
            # reuses it): it is then stored early, where it is first computed, at its
            # final place (written once, read by nothing before), else recomputed
            if i < lo and nd[0] not in ("c", "t", "par") and (
                    loc_at.get(i, hi) < lo or early.get(i, ci) < ci):
                v = emit(f"load double, ptr {addr(*loc[i])}")     # from an earlier chunk
            else:
                v = value(nd, i)
                if i in loc and loc_at[i] >= hi and last_use[i] > ci and i not in early:
                    a = addr(*loc[i])
                    emit_void(f"store double {v}, ptr {a}")
                    early[i] = ci
            vals[i] = v
            return v

        fma_s = mod.declare_intrinsic("llvm.fma", [f64], ir.FunctionType(f64, [f64] * 3))
        fma_v = mod.globals.get("llvm.fma.v4f64") or ir.Function(
            mod, ir.FunctionType(v4, [v4] * 3), name="llvm.fma.v4f64")
        fma_s, fma_v = fma_s.get_reference(), fma_v.get_reference()

        def fma(x, y, z):
            return emit(f"call double {fma_s}(double {x}, double {y}, double {z})")

        def scaled(c, x):
            xv = get(x)
            return xv if c is None else emit(f"fmul double {_hex(c)}, {xv}")

        def term(t):
            c, x, y = t
            xv = scaled(c, x)
            return emit(f"fmul double {xv}, {get(y)}")

        def fused(t, acc):
            c, x, y = t
            xv = scaled(c, x)
            return fma(xv, get(y), acc)

        def vload(slot, j0, rev):
            v = emit(f"load <4 x double>, ptr {addr(slot, j0)}, align 8")
            return emit(f"shufflevector <4 x double> {v}, <4 x double> {v}, {_REV4}") if rev else v

        def vsum(i, nd):
            # the blocked sum's four partial sums s0..s3 (lane i = s_i), the tail into s0
            terms = nd[1]
            m = len(terms) // 4
            spec = vec_ok.get(i)
            if spec is not None:
                acc = None
                for q, (xs, ys) in enumerate(spec):
                    xv = vload(*xs)
                    cs = [terms[4 * q + r][0] for r in range(4)]
                    if cs[0] is not None:
                        cv = ", ".join(f"double {_hex(c)}" for c in cs)
                        xv = emit(f"fmul <4 x double> <{cv}>, {xv}")
                    yv = vload(*ys)
                    acc = (emit(f"fmul <4 x double> {xv}, {yv}") if acc is None else
                           emit(f"call <4 x double> {fma_v}(<4 x double> {xv}, "
                                f"<4 x double> {yv}, <4 x double> {acc})"))
                s = [emit(f"extractelement <4 x double> {acc}, i32 {r}") for r in range(4)]
            else:
                s = [term(terms[r]) for r in range(4)]
                for q in range(1, m):
                    for r in range(4):
                        s[r] = fused(terms[4 * q + r], s[r])
            for t in terms[4 * m:]:
                s[0] = fused(t, s[0])
            s01 = emit(f"fadd double {s[0]}, {s[1]}")
            s23 = emit(f"fadd double {s[2]}, {s[3]}")
            return emit(f"fadd double {s01}, {s23}")

        def value(nd, i):
            # the operations of emit_scalar (and vsum), written as text
            kind = nd[0]
            if kind in _FBINOP:
                x = get(nd[1])
                return emit(f"{_FBINOP[kind]} double {x}, {get(nd[2])}")
            if kind == "c":
                return _hex(nd[1])
            if kind == "ld":
                return emit(f"load double, ptr {addr(nd[1], nd[2])}")
            if kind == "fma":
                x, y = get(nd[1]), get(nd[2])
                return fma(x, y, get(nd[3]))
            if kind == "vsum":
                return vsum(i, nd)
            if kind == "t":
                return t_a
            if kind == "par":
                a = emit(f"getelementptr inbounds double, ptr {pdata}, i64 {nd[1]}")
                return emit(f"load double, ptr {a}")
            if kind == "neg":
                return emit(f"fneg double {get(nd[1])}")
            if kind == "call":
                fn = libm(nd[1]).get_reference()
                return emit(f"call double {fn}(double {get(nd[2])})")
            if kind == "powc":
                fn = pow_decl().get_reference()
                x = get(nd[1])
                return emit(f"call double {fn}(double {x}, double {get(nd[2])})")
            raise AssertionError(f"unknown node {nd!r}")  # pragma: no cover

        for idx in range(lo, hi):
            nd = p.nodes[idx]
            if nd[0] == "st":
                if idx in stored:
                    v = get(nd[3])
                    a = addr(nd[1], nd[2])
                    emit_void(f"store double {v}, ptr {a}")
            elif nd[0] == "vm":
                assert not light
                fp = emit(vm_call[2])
                emit(f"call ptr {fp}({vm_call[0]} {tc_a}, i64 0, {vm_call[1]} {pars_a}, "
                     f"double {t_a}, i64 1, {vm_call[3][nd[1]]})")
            elif nd[0] == "ld" or idx in vec_ok:
                get(idx)         # loads happen where they were traced (after VM calls)
        emit_void("ret void" if light else "ret ptr null")
        line("")
        f.body = "\n".join(lines)
        return f, light

    chunk_fns = [emit_chunk(ci, lo, hi) for ci, (lo, hi) in enumerate(chunks)]

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
    ok = b.and_(ok, b.icmp_signed("==", sh1, ir.Constant(i64, ncol)))
    b.cbranch(ok, fast, slow)
    b = ir.IRBuilder(slow)
    b.call(b.load(vm_g, typ=vm_p), list(fn.args))
    b.ret(ir.Constant(ret, None))
    b = ir.IRBuilder(fast)
    data, pdata = b.extract_value(tc_a, _nc.ARRAY_DATA), b.extract_value(pars_a, _nc.ARRAY_DATA)
    for f, light in chunk_fns:
        b.call(f, [data, pdata, t_a] if light else list(fn.args))
    b.ret(ir.Constant(ret, None))
    if all(light for _, light in chunk_fns):
        # the light entry (taylorjit._codegen.kernel.call_light): pointers in registers, no checks
        fl = ir.Function(mod, light_ty, name=name + "_light")
        b = ir.IRBuilder(fl.append_basic_block("entry"))
        for f, _ in chunk_fns:
            b.call(f, list(fl.args))
        b.ret_void()
        if n_state > 0 and order >= 2 and not full:
            fns = [f for f, _ in chunk_fns]
            _emit_step(ir, mod, name, fns, n_state, order)
            if small:
                # the register step: the chunks inlined (everywhere: a small program) and
                # the table a local array, so that LLVM keeps the coefficients in registers
                for f in fns:
                    f.attributes.add("alwaysinline")
                _emit_step(ir, mod, name, fns, n_state, order, local_slots=n_slots)
    return str(mod)


def _emit_step(ir, mod, name, chunk_fns, n, order, local_slots=0):
    """The fused step ``double <name>_step(tc, pars, t, state, xnew, max_h, rhofac,
    inv_o, inv_om1)`` (pointers to the data of the integrator's arrays): order 0 of
    the ``n`` state rows from ``state``, the jet, the step size over the state rows
    and the Horner evaluation of the new state into ``xnew``; returns the signed
    step size.  It performs exactly the IEEE operations of the numba phases
    :func:`taylorjit._integrate.stepper.compute_jet`, :func:`~taylorjit._integrate.stepper.step_size`
    and :func:`~taylorjit._integrate.stepper.eval_poly` (Horner with fused multiply-adds),
    in the same order, so trajectories are bit-identical to the other kernels'
    (tested).  One function instead of three phases in numba: the coefficients
    that the step size and Horner read come from registers or store forwarding,
    the Horner chains are unrolled, and the loop keeps one call per step (heyoka's
    step function fuses the same phases).  Only for integrators without events,
    extra rows or compensated summation (:mod:`taylorjit._integrate.stepper` checks).

    ``local_slots > 0`` emits the *register step* ``<name>_stepr`` instead: the
    same function on a table of its own (a local array of ``local_slots`` rows,
    the chunks inlined), so that no coefficient goes through memory and the
    caller's ``tc`` is not touched; the caller recomputes ``tc`` with the light
    entry when it needs it (:func:`taylorjit._integrate.stepper.propagate_fused`).  Same
    operations, same results."""
    f64, i64 = ir.DoubleType(), ir.IntType(64)
    ptr = ir.PointerType()
    ncol = order + 1
    fn = ir.Function(mod, ir.FunctionType(f64, [ptr, ptr, f64, ptr, ptr, f64, f64, f64, f64]),
                     name=name + ("_stepr" if local_slots else "_step"))
    tc, pars, t, state, xnew, max_h, rhofac, inv_o, inv_om1 = fn.args
    for a in (tc, pars, state, xnew):
        a.add_attribute("noalias")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    if local_slots:
        tc = b.alloca(f64, size=ir.Constant(i64, local_slots * (order + 1)))

    def at(base, i):
        return b.gep(base, [ir.Constant(i64, i)], inbounds=True, source_etype=f64)

    def c(x):
        return ir.Constant(f64, x)

    def decl(nm, nargs):
        return mod.declare_intrinsic(nm, [f64], ir.FunctionType(f64, [f64] * nargs))

    fabs, fma, pow_ = decl("llvm.fabs", 1), decl("llvm.fma", 3), decl("llvm.pow", 2)
    # phase 1 (compute_jet): order 0 of the state rows, then the jet's chunks
    for i in range(n):
        b.store(b.load(at(state, i), typ=f64), at(tc, i * ncol))
    for f in chunk_fns:
        b.call(f, [tc, pars, t])
    # phase 2 (step_size): the largest |x_i[0]|, |x_i[p]|, |x_i[p-1]| (``if m < v: m = v``)
    def vmax(j):
        m = None
        for i in range(n):
            v = b.call(fabs, [b.load(at(tc, i * ncol + j), typ=f64)])
            m = v if m is None else b.select(b.fcmp_ordered("<", m, v), v, m)
        return m

    a, mo, mom1 = vmax(0), vmax(order), vmax(order - 1)
    num = b.select(b.fcmp_ordered("<=", a, c(1.0)), c(1.0), a)
    ra, rb = b.fdiv(num, mo), b.fdiv(num, mom1)

    def log2_rough(x):          # _stepper._log2_rough, the same operations
        bits = b.bitcast(x, i64)
        e = b.and_(b.ashr(bits, ir.Constant(i64, 52)), ir.Constant(i64, 0x7FF))
        bad = b.or_(b.icmp_signed("<", bits, ir.Constant(i64, 0)),
                    b.or_(b.icmp_signed("==", e, ir.Constant(i64, 0)),
                          b.icmp_signed("==", e, ir.Constant(i64, 0x7FF))))
        m = b.bitcast(b.or_(b.and_(bits, ir.Constant(i64, 0xFFFFFFFFFFFFF)),
                            ir.Constant(i64, 0x3FF0000000000000)), f64)
        s = b.fdiv(b.fsub(m, c(1.0)), b.fadd(m, c(1.0)))
        s2 = b.fmul(s, s)
        poly = b.fadd(c(0.5770780163555854), b.fmul(s2, c(0.4121985831111324)))
        poly = b.fadd(c(0.9617966939259756), b.fmul(s2, poly))
        poly = b.fadd(c(2.8853900817779268), b.fmul(s2, poly))
        r = b.fadd(b.sitofp(b.sub(e, ir.Constant(i64, 1023)), f64), b.fmul(s, poly))
        return b.select(bad, c(math.nan), r)

    la = b.fmul(log2_rough(ra), inv_o)
    lb = b.fmul(log2_rough(rb), inv_om1)
    a_small = b.fcmp_ordered("<", la, b.fsub(lb, c(1e-4)))
    b_small = b.fcmp_ordered("<", lb, b.fsub(la, c(1e-4)))
    # the pows are calls: branch so that only the ones the rule needs run
    bb_a = fn.append_basic_block("rho_a")
    bb_nota = fn.append_basic_block("not_a")
    bb_b = fn.append_basic_block("rho_b")
    bb_both = fn.append_basic_block("rho_both")
    bb_h = fn.append_basic_block("h")
    b.cbranch(a_small, bb_a, bb_nota)
    b.position_at_end(bb_a)
    rho_a = b.call(pow_, [ra, inv_o])
    b.branch(bb_h)
    b.position_at_end(bb_nota)
    b.cbranch(b_small, bb_b, bb_both)
    b.position_at_end(bb_b)
    rho_b = b.call(pow_, [rb, inv_om1])
    b.branch(bb_h)
    b.position_at_end(bb_both)
    rho_o = b.call(pow_, [ra, inv_o])
    rho_om1 = b.call(pow_, [rb, inv_om1])
    rho_ab = b.select(b.fcmp_ordered("<", rho_om1, rho_o), rho_om1, rho_o)
    b.branch(bb_h)
    b.position_at_end(bb_h)
    rho = b.phi(f64)
    rho.add_incoming(rho_a, bb_a)
    rho.add_incoming(rho_b, bb_b)
    rho.add_incoming(rho_ab, bb_both)
    h = b.fmul(rho, rhofac)
    amh = b.call(fabs, [max_h])
    h = b.select(b.fcmp_ordered("<", amh, h), amh, h)
    h = b.select(b.fcmp_ordered("<", max_h, c(0.0)), b.fneg(h), h)
    # phase 3 (eval_poly): Horner with fused multiply-adds, every row's chain unrolled
    out = []
    for i in range(n):
        acc = b.load(at(tc, i * ncol + order), typ=f64)
        for k in range(order - 1, -1, -1):
            acc = b.call(fma, [acc, h, b.load(at(tc, i * ncol + k), typ=f64)])
        out.append(acc)
    for i, v in enumerate(out):
        b.store(v, at(xnew, i))
    b.ret(h)


# --------------------------------------------------------------------------- compile and load
_lock = threading.RLock()
_ENGINE = []
_LOADED: dict = {}
CODEGEN_OPT = 3     # LLVM code generation level (modules that LLVM's IR passes optimise)
# code generation level of big modules (no IR passes): outer solar system (unrolled_size
# 101k), same machine: level 1 emits in 2.2 s instead of 3.6 s, and its code ran faster
# (0.74x instead of 0.88-0.93x heyoka per step); Lorenz and the pendulum (IR passes) at
# level 1 were 0-2% slower, so they keep level 3
CODEGEN_OPT_BIG = 1
IR_PASSES_MAX_NODES = 30000   # LLVM's O2 IR pipeline on programs up to this size
# blocked sums as <4 x double> code (_vsum_twin) for programs of at least this size: on the
# outer solar system (unrolled_size 94k) it cut the object code from 789 to 567 KB and the
# step from 1.43x to 1.09x heyoka's; on Lorenz and the pendulum (2.8k, 0.9k) it was neutral
VECTOR_SUMS_MIN_SIZE = 5000
# programs up to this size: the chunk functions may be inlined (LLVM's O2 does it) into one
INLINE_MAX_NODES = 3000
_LAYOUT = 14        # bump when the generated code changes (part of the cache key)


def _target_machine(fresh=False, opt=None):
    """``(target machine, cache key of the target)``; ``fresh``: a new machine
    (an execution engine takes ownership of its machine) at code generation level
    ``opt`` (default :data:`CODEGEN_OPT`)."""
    import llvmlite.binding as llb

    if not _ENGINE or fresh:
        _nc.init_native_target()
        cpu, feats = llb.get_host_cpu_name(), llb.get_host_cpu_features().flatten()
        tm = llb.Target.from_default_triple().create_target_machine(
            cpu=cpu, features=feats, opt=CODEGEN_OPT if opt is None else opt, jit=True)
        if fresh:
            return tm, None
        key = _hash16(f"{cpu}|{feats}|{llb.llvm_version_info}|{CODEGEN_OPT}|{CODEGEN_OPT_BIG}|{CHUNK}|"
                          f"{IR_PASSES_MAX_NODES}|{VECTOR_SUMS_MIN_SIZE}|{INLINE_MAX_NODES}|{_LAYOUT}")
        _ENGINE.extend([tm, key])
    return _ENGINE[0], _ENGINE[1]


def _hash16(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _vector_sums(d: Decomposition, order: int) -> bool:
    return unrolled_size(d, order) >= VECTOR_SUMS_MIN_SIZE


def _name(d: Decomposition, ode: bool, order: int, full: int) -> str:
    key = _target_machine()[1]
    v = "v" if _vector_sums(d, order) else "s"
    return (f"tj_unrolled_{d.key()}_{'ode' if ode else 'expr'}_o{order}_f{int(bool(full))}{v}_"
            f"{key}")


def is_cached(d: Decomposition, ode: bool, order: int, full: int) -> bool:
    """Whether the unrolled kernel is loaded or its object code is in the disk cache."""
    from . import cache as _cache

    name = _name(d, ode, order, full)
    return name in _LOADED or (_cache.cache_dir() / f"{name}.o").exists()


def load_module(name: str, make_ir, passes=True, symbol: str | None = None,
                quick: bool = False):
    """``(address of symbol, execution engine)`` of the LLVM module ``name``: its
    object code from the disk cache, else ``make_ir()`` (IR text) compiled for the
    host (LLVM's O2 pipeline if ``passes``, a bool or a function asked after
    ``make_ir()``; no fast-math flags; codegen at :data:`CODEGEN_OPT`, or
    :data:`CODEGEN_OPT_BIG` without the IR passes) and
    cached.  ``quick``: no IR passes, codegen at level 0 and nothing written to
    the disk cache (a stand-in while the optimised build runs, see
    :func:`unrolled_jet`).  One MCJIT engine per module: its own symbol table (a module loaded
    again after a cache reset does not clash) and its own memory.  ``symbol``
    defaults to ``name``.  Used by every LLVM kernel (unrolled jets and the
    front ends' kernels in taylorjit._codegen.vcfunc, _vjet, _cjet)."""
    import llvmlite.binding as llb

    from . import cache as _cache

    obj = None if quick else _cache.read_blob(f"{name}.o")
    if obj is None:
        # traced and compiled without taylorjit's or numba's locks, in an LLVM context of
        # its own (contexts are independent; numba compiles in the global one), so a
        # background build does not hold up the foreground
        _target_machine()
        text = make_ir()
        run_passes = not quick and (passes() if callable(passes) else passes)
        opt = 0 if quick else CODEGEN_OPT if run_passes else CODEGEN_OPT_BIG
        tm = _target_machine(fresh=True, opt=opt)[0]
        ctx = llb.create_context()
        mod = llb.parse_assembly(text, context=ctx)
        del text
        mod.triple = tm.triple
        mod.data_layout = str(tm.target_data)
        mod.verify()
        if run_passes:
            pb = llb.create_pass_builder(tm, llb.create_pipeline_tuning_options(speed_level=2))
            pb.getModulePassManager().run(mod, pb)
        obj = tm.emit_object(mod)
        del mod, ctx
        if not quick:
            _cache.write_blob(f"{name}.o", obj)
    # numba's lock: the engine is made in LLVM's global context, shared with numba
    with _lock, _nc.compiler_lock():
        ee = llb.create_mcjit_compiler(llb.parse_assembly(""), _target_machine(fresh=True)[0])
        ee.add_object_file(llb.ObjectFileRef.from_data(obj))
        ee.finalize_object()
        addr = ee.get_function_address(symbol or name)
        if not addr:    # pragma: no cover - a broken object file
            raise RuntimeError(f"the compiled module {name} did not load")
        return addr, ee


def unrolled_jet(d: Decomposition, ode: bool, order: int, full: int, quick: bool = False):
    """The unrolled jet of ``d`` at ``order`` as a first-class jet handle (see
    ``_kernel._jetref_class``): loaded from the disk cache, else traced,
    compiled by LLVM and cached.  Raises :class:`UnsupportedUnroll` if some
    operation cannot be traced above order 0.

    ``quick=True`` (when the optimised kernel is neither loaded nor cached): the
    same IR compiled without optimisation (:func:`load_module`), not cached on
    disk; the handle's ``quick`` is True.  It computes the same bits (IEEE
    operations in the same order; LLVM changes no rounding without fast-math
    flags, tested).  Pendulum, never-seen, warm process: 25 ms instead of 0.2 s
    to build, 1.25x the optimised kernel's time per step."""
    name = _name(d, ode, order, full)
    hit = _LOADED.get(name)
    if hit is not None:
        return hit
    if quick:
        from . import cache as _cache

        if (_cache.cache_dir() / f"{name}.o").exists():
            quick = False
        else:
            name += "_q"
            hit = _LOADED.get(name)
            if hit is not None:
                return hit
    with _building(name):       # one build of a kernel at a time; others wait for it
        hit = _LOADED.get(name)
        if hit is not None:
            return hit
        nodes = []

        def make_ir():
            # the optimised build after a quick one reuses its IR (no Python tracing in
            # the background thread: it holds the GIL only between LLVM calls)
            done = None if quick else _QUICK_IR.pop(name, None)
            if done is not None:
                nodes.append(done[1])
                return done[0].replace(name + "_q", name)
            p = trace_program(d, ode, order, full, vector_sums=_vector_sums(d, order),
                              trace_pow=True)
            nodes.append(len(p.nodes))
            keep = set(d.outputs) | (set(range(d.n_in)) if ode else set())
            text = build_ir(p, name, d.n_slots, order, full, keep,
                            n_state=d.n_in if ode else 0)
            if quick:
                _QUICK_IR[name[:-2]] = (text, len(p.nodes))
            return text

        # LLVM's O2 pipeline up to IR_PASSES_MAX_NODES nodes (no fast-math flags in the
        # IR: results unchanged, tested): Lorenz jet 0.33 -> 0.27 us, pendulum 0.31 ->
        # 0.27 us, compile 0.10 -> 0.16 s
        addr, ee = load_module(name, make_ir, passes=lambda: nodes[0] <= IR_PASSES_MAX_NODES,
                               quick=quick)
        g = ee.get_global_value_address(name + "_vm")
        if not g:   # pragma: no cover - a broken object file
            raise RuntimeError(f"the unrolled kernel {name} did not load")
        # the VM runs the kernel's VM groups and calls at another order or table shape:
        # bound when first needed (UnrolledRef.vm_bound), so that a kernel without VM
        # groups loads without numba (loading the VM costs a fresh process ~0.3-1.4 s,
        # compiling it on a first use after installation tens of seconds)
        handle = _unrolled_ref_class()(addr, [None, ee])
        handle.vm_global = g
        handle.quick = quick
        handle.light_addr = ee.get_function_address(name + "_light")   # 0: none (VM groups)
        handle.step_addr = ee.get_function_address(name + "_step")     # 0: none (_emit_step)
        handle.stepr_addr = ee.get_function_address(name + "_stepr")   # 0: none (big program)
        if not handle.light_addr:
            handle.vm_bound()
        with _lock:
            _LOADED[name] = handle
        return handle


_BUILDING: dict = {}
_QUICK_IR: dict = {}    # name -> (IR text of its quick build, traced nodes), until built


class _building:
    """A per-name lock (held while one kernel is built, not while others are)."""

    def __init__(self, name):
        with _lock:
            self.lock = _BUILDING.setdefault(name, threading.Lock())

    def __enter__(self):
        self.lock.acquire()

    def __exit__(self, *exc):
        self.lock.release()


_REF = []


def _unrolled_ref_class():
    """Jet handle of an unrolled kernel: numba drivers take it as a first-class
    function (wrapper-address protocol, like ``JetRef``); called from Python it
    goes through a small compiled trampoline."""
    if _REF:
        return _REF[0]
    from .kernel import _jetref_class

    base = _jetref_class()

    class UnrolledRef(base):
        __slots__ = ("keep", "light_addr", "step_addr", "stepr_addr", "vm_global", "quick")

        def __init__(self, addr, keep):
            self._addr = addr
            self.dispatcher = None
            self.keep = keep        # [the VM fallback, the execution engine]: kept alive
            self.light_addr = 0     # the light entry, for tables of the kernel's own shape
            self.step_addr = 0      # the fused step (ODE kernels with a light entry)
            self.stepr_addr = 0     # its register variant (small ODE kernels)
            self.vm_global = 0      # address of the kernel's pointer to the VM
            self.quick = False      # compiled without optimisation (unrolled_jet)

        def vm_bound(self):
            """The handle, with the kernel's VM fallback bound (the VM loaded or
            compiled first if needed).  Every use of the full jet entry goes through
            here (numba drivers take the handle by its wrapper address); the light
            entry and the fused steps never call the VM."""
            if self.keep[0] is None:
                from .kernel import vm_jet

                vm = vm_jet()
                ctypes.c_void_p.from_address(self.vm_global).value = vm._addr
                self.keep[0] = vm
            elif not ctypes.c_void_p.from_address(self.vm_global).value:
                ctypes.c_void_p.from_address(self.vm_global).value = self.keep[0]._addr
            return self

        def __wrapper_address__(self):
            if self.keep[0] is None:
                self.vm_bound()
            return self._addr

        def __call__(self, *args):
            from .kernel import call_jet

            call_jet()(self.vm_bound(), *args)

    _REF.append(UnrolledRef)
    return UnrolledRef
