"""The tracer of the recurrences: the registry's Python kernels run on symbols.

The registry's Python kernels (``Op.py``) run on symbolic rows (:class:`TC`) at
a concrete order ``k``; every arithmetic operation they perform becomes a node
of a straight-line SSA program (:class:`Prog`, hash-consed).  So each
coefficient of the code made from it is the same sequence of IEEE operations as
in the looped kernels, and every kind agrees to the last bit (tested).
Elementary functions of symbols become calls of the C library functions that
numba calls (:data:`LIBM_UNARY`), ``_funcs._common.fma`` an ``fma`` node, and
(with ``trace_pow``) a real power ``a ** c`` at order 0 a call of ``pow``.
Whatever a kernel does that depends on a value (the domain checks at order 0 of
log, asin, acosh ...; the Kepler solver) cannot be traced (:class:`NoTrace`):
:func:`trace_program` leaves such operations at order 0 to the compact VM (a
``("vm", g)`` node) and raises :class:`UnsupportedUnroll` if one refuses above
order 0 (none of the registry does).

This module is the bottom of the LLVM code generators: the unrolled jets
(:mod:`.unroll_ir`, :mod:`.unroll`), the group kernels (:mod:`.gvm`: one
operation traced alone with :class:`Prog`, :class:`State`, :class:`TC`,
:class:`Pars`, :class:`Sym` and :func:`traced`), the SIMD evaluators and
derivative kernels (:mod:`.vcfunc`, :mod:`.vjet`, :mod:`.cjet`) all emit code
from its programs.  :func:`unrolled_size` and :func:`op_weight` estimate the
size of the unrolled code so that callers keep huge systems on the VM.
"""
from __future__ import annotations

import math
import types

from .decompose import Decomposition
from .._symbolic.registry import OPS

__all__ = ["UnsupportedUnroll", "NoTrace", "Prog", "Sym", "State", "TC", "Pars", "LIBM_UNARY",
           "traced", "trace_program", "unrolled_size", "op_weight", "MAX_UNROLLED"]

MAX_UNROLLED = 200000  # default bound on unrolled_size (compile time: ~10-40 s at the bound)


class UnsupportedUnroll(ValueError):
    """The decomposition cannot be unrolled (an operation refuses to trace above order 0)."""


class NoTrace(Exception):
    """The kernel did something that depends on a coefficient's value."""


# --------------------------------------------------------------------------- tracing
class Prog:
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


class Sym:
    """A symbolic double: a node of the program ``p``."""

    __slots__ = ("p", "i")

    def __init__(self, p, i):
        self.p, self.i = p, i

    def _arg(self, x):
        if isinstance(x, Sym):
            return x.i
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            return self.p.const(x)
        raise NoTrace(type(x).__name__)

    def _bin(self, op, other, rev=False):
        a, b = self.i, self._arg(other)
        return Sym(self.p, self.p.node(op, b, a) if rev else self.p.node(op, a, b))

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
        return Sym(self.p, self.p.node("neg", self.i))

    def __pos__(self):
        return self

    def _refuse(self, *a):
        raise NoTrace("value-dependent operation")

    def __pow__(self, c):
        # numba lowers float ** float to llvm.pow, i.e. the C library's pow (no checks,
        # numba.cpython.numbers.real_power_impl); float ** int is another algorithm
        if self.p.trace_pow and type(c) is float:
            return Sym(self.p, self.p.node("powc", self.i, self.p.const(c)))
        raise NoTrace("a ** b")

    __bool__ = __float__ = __index__ = __abs__ = __rpow__ = _refuse
    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = _refuse
    __mod__ = __rmod__ = __floordiv__ = __rfloordiv__ = _refuse
    __hash__ = None


class State:
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


class Row:
    """Row ``slot`` of a :class:`TC`: reads give symbols, writes are buffered."""

    __slots__ = ("tc", "slot")

    def __init__(self, tc, slot):
        self.tc, self.slot = tc, slot

    def __getitem__(self, j):
        if type(j) is not int:
            raise NoTrace("symbolic index")
        key = (self.slot, j)
        hit = self.tc.pending.get(key)
        if hit is not None:
            return hit
        return Sym(self.tc.p, self.tc.st.get(self.slot, j))

    def __setitem__(self, j, value):
        if type(j) is not int:
            raise NoTrace("symbolic index")
        if isinstance(value, Sym):
            self.tc.pending[(self.slot, j)] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            self.tc.pending[(self.slot, j)] = Sym(self.tc.p, self.tc.p.const(value))
        else:
            raise NoTrace(type(value).__name__)


class TC:
    """Symbolic coefficient table; writes are buffered until the kernel returns,
    so a kernel that refuses half way leaves nothing behind (the nodes it made
    are dead and never emitted)."""

    def __init__(self, p, st):
        self.p, self.st = p, st
        self.pending = {}

    def __getitem__(self, slot):
        if type(slot) is not int:
            raise NoTrace("2-D indexing")
        return Row(self, slot)


class Pars:
    def __init__(self, p):
        self.p = p

    def __getitem__(self, i):
        return Sym(self.p, self.p.node("par", int(i)))


# math functions that numba lowers to a call of the C library function of the same name
# (an LLVM intrinsic or an extern call: numba/cpython/mathimpl.py); traced, they become
# calls of that same function, so the values are bit-identical to the compiled kernels'
LIBM_UNARY = frozenset(["sin", "cos", "tan", "exp", "expm1", "log", "log1p", "atan", "sinh",
                        "cosh", "tanh", "asinh", "erf", "sqrt"])


class MathProxy(types.ModuleType):
    """``math`` for traced kernels: numbers pass through; symbols become libm calls
    (:data:`LIBM_UNARY`) or refuse."""

    def __getattr__(self, name):
        f = getattr(math, name)
        if not callable(f):
            return f

        def g(*args):
            if any(isinstance(a, Sym) for a in args):
                if name in LIBM_UNARY and len(args) == 1:
                    a = args[0]
                    return Sym(a.p, a.p.node("call", name, a.i))
                raise NoTrace(f"math.{name}")
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
            g[name] = MathProxy("math")
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
    v = next((x for x in (a, b, c) if isinstance(x, Sym)), None)
    if v is None:
        from .._funcs._common import fma_exact

        return fma_exact(a, b, c)
    p = v.p
    return Sym(p, p.node("fma", v._arg(a), v._arg(b), v._arg(c)))


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
        if not (isinstance(a, Row) and isinstance(b, Row) and a.tc.p.vector_sums
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
    return Sym(p, len(p.nodes) - 1)



def traced(op):
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
                  vector_sums: bool = False, trace_pow: bool = False) -> Prog:
    """The straight-line program of the jet of ``d`` at ``order`` (see module doc);
    ``vector_sums``: blocked sums as ``vsum`` nodes (:func:`_vsum_twin`);
    ``trace_pow``: real powers at order 0 as ``powc`` nodes (else in the VM)."""
    p = Prog()
    p.vector_sums = vector_sums
    p.trace_pow = trace_pow
    st = State(p)
    pars = Pars(p)
    t = Sym(p, p.node("t"))
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
            tc = TC(p, st)
            try:
                traced(op)(*op.args(tc, k, outs, ins, c, pars, t))
            except (NoTrace, TypeError, IndexError, ValueError, ArithmeticError) as exc:
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

