"""Decomposition: an expression DAG becomes a list of kernel operations.

The result (:class:`Decomposition`) is a three-address program over *slots*
``u0, u1, ...``: the input variables come first (slots ``0..n_in-1``), then
every operation writes fresh slots, in topological order.  Along the way:

* common sub-expressions are removed (hash-consed nodes map to one slot, and
  operations are memoised by ``(op, inputs, constant)``);
* n-ary sums and products are split into binary operations;
* operations with a constant-in-time operand (numbers, ``par[i]``) use the
  scalar variants (``mul_s``, ``add_s``, ``div_su`` ...), O(1) per coefficient;
* powers with a numeric exponent are specialised: 2 -> square, 0.5 -> sqrt,
  -1 -> reciprocal, small positive integers -> products of squares, anything
  else -> the real-power recurrence; symbolic exponents become exp(b log a);
* functions add their companions (sin/cos pairs, tan^2, sqrt(1 - a^2) for asin,
  ...) through their registry entry, and share them (sin(kepE(e, M)) reuses the
  sin E that kepE needs).
"""
from __future__ import annotations

import gc
import hashlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain

import numpy as np

from .._symbolic.expr import expr, var as _var
from .._symbolic.registry import FUNCTIONS, OPS

__all__ = ["Decomposition", "decompose"]


@contextmanager
def gc_paused():
    """Pause Python's cyclic garbage collector for a burst of allocations that
    create no cycles (the tuples of a decomposition, the rows of a program
    table): a 50-body system allocates ~200k of them, and the full
    collections they trigger (which walk every live object, e.g. the
    user's expression DAGs) took the set-up of a never-seen system from
    0.14 s to 0.28-0.30 s in some runs.  Restores the previous state."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@dataclass
class Decomposition:
    """A system or expression list in three-address form.

    Attributes
    ----------
    inputs : list of Expr
        The input variables (slots ``0..n_in-1``).
    ops : list of tuple
        ``(op_name, outs, ins, c)``; ``c`` is the float constant of the op or None.
    outputs : list of int
        Slot of each output expression (ODE right-hand sides, or the functions).
    n_slots : int
    n_pars : int
        1 + the largest parameter index used (0 if none).
    uses_time : bool
    """

    inputs: list
    ops: list
    outputs: list
    n_slots: int
    n_pars: int
    uses_time: bool
    scalar: frozenset = field(default_factory=frozenset)

    @property
    def n_in(self):
        return len(self.inputs)

    def table(self):
        """``(tab, cvals)``: the operations as ``(n_ops, 8)`` int64 rows ``[opcode,
        out0..out3, in0..in2]`` (unused places 0) and their constants as float64
        (0.0 for none); computed once (a decomposition is not modified after it
        is built).  The VM's program table and the content key are made from it."""
        hit = self.__dict__.get("_table")
        if hit is not None:
            return hit
        opcodes = {name: op.opcode for name, op in OPS.items()}
        pad = [(0,) * n for n in range(5)]
        ops = self.ops
        with gc_paused():
            rows = [(opcodes[name],) + outs + pad[4 - len(outs)] + ins + pad[3 - len(ins)]
                    for name, outs, ins, _ in ops]
            tab = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=8 * len(rows))
            cvals = np.array([0.0 if op[3] is None else op[3] for op in ops], dtype=np.float64)
        hit = (tab.reshape(-1, 8), cvals)
        self.__dict__["_table"] = hit
        return hit

    def key(self) -> str:
        """Content hash identifying the program (part of every kernel's cache key;
        computed once).  Made of :meth:`table` (opcodes, slots, the constants'
        bits): opcodes follow the registration order of the operations, which
        the registry hash in the cache directory's name covers."""
        hit = self.__dict__.get("_key")
        if hit is not None:
            return hit
        tab, cvals = self.table()
        h = hashlib.sha256()
        h.update(repr((self.n_in, self.n_slots, self.outputs, tab.shape)).encode())
        h.update(tab.tobytes())
        h.update(cvals.tobytes())
        key = h.hexdigest()[:24]
        self.__dict__["_key"] = key
        return key

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_table", None)   # cheap to rebuild, large for big systems
        return state

    def __repr__(self):
        lines = [f"Decomposition: {self.n_in} inputs, {len(self.ops)} operations, "
                 f"{self.n_slots} slots"]
        for i, v in enumerate(self.inputs):
            lines.append(f"  u{i} = {v}")
        for name, outs, ins, c in self.ops:
            lhs = ", ".join(f"u{o}" for o in outs)
            if name == "par":
                rhs = f"par[{ins[0]}]"
            else:
                args = [f"u{i}" for i in ins] + ([repr(c)] if c is not None else [])
                rhs = f"{name}({', '.join(args)})"
            lines.append(f"  {lhs} = {rhs}")
        lines.append("  outputs: " + ", ".join(f"u{o}" for o in self.outputs))
        return "\n".join(lines)

    def __len__(self):
        return len(self.ops)


class Builder:
    """Emits kernel operations with memoisation (the API used by registry
    ``decompose`` functions).  Slots are ints; methods also accept floats,
    which become constant slots."""

    def __init__(self, n_in):
        self.n = n_in
        self.ops = []
        self.memo = {}
        self.scalar = set()

    def _new(self):
        s = self.n
        self.n += 1
        return s

    def op(self, name, *ins, c=None):
        """Emit (or reuse) operation ``name`` on input slots; return its output slots."""
        opdef = OPS[name]
        if not opdef.int_in:
            for i in ins:
                if type(i) is not int:
                    ins = tuple(self.slot(i) for i in ins)
                    break
        key = (name, ins) if c is None else (name, ins, float(c).hex())
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        n = self.n
        n_out = opdef.n_out
        outs = (n,) if n_out == 1 else tuple(range(n, n + n_out))
        self.n = n + n_out
        self.ops.append((name, outs, ins, None if c is None else float(c)))
        if not opdef.uses_t:
            sc = self.scalar
            if opdef.int_in:
                sc.update(outs)
            else:
                for i in ins:
                    if i not in sc:
                        break
                else:
                    sc.update(outs)
        self.memo[key] = outs
        return outs

    def alias(self, name, ins, outs, c=None):
        """Declare that ``op(name, *ins)`` is already available in ``outs`` (a companion)."""
        ins = tuple(ins)
        key = (name, ins) if c is None else (name, ins, float(c).hex())
        self.memo.setdefault(key, tuple(outs))

    def slot(self, x):
        if isinstance(x, int) and not isinstance(x, bool):
            return x
        return self.const(float(x))

    def const(self, v):
        return self.op("const", c=float(v))[0]

    def is_scalar(self, s):
        return s in self.scalar

    def _slots(self, a, b):
        """Both operands as slots (hot: a 50-body system has ~40k binary operations;
        ``type(x) is int`` skips :meth:`slot`)."""
        return (a if type(a) is int else self.slot(a)), (b if type(b) is int else self.slot(b))

    # arithmetic with scalar specialisation -------------------------------------------
    def add(self, a, b):
        a, b = self._slots(a, b)
        sc = self.scalar
        if b in sc:
            return self.op("add_s", a, b)[0]
        if a in sc:
            return self.op("add_s", b, a)[0]
        return self.op("add", *((a, b) if a <= b else (b, a)))[0]

    def sub(self, a, b):
        a, b = self._slots(a, b)
        sc = self.scalar
        if b in sc:
            return self.op("sub_us", a, b)[0]
        if a in sc:
            return self.op("sub_su", a, b)[0]
        return self.op("sub", a, b)[0]

    def mul(self, a, b):
        a, b = self._slots(a, b)
        sc = self.scalar
        if b in sc:
            return self.op("mul_s", a, b)[0]
        if a in sc:
            return self.op("mul_s", b, a)[0]
        if a == b:
            return self.op("square", a)[0]
        return self.op("mul", a, b)[0]

    def div(self, a, b):
        a, b = self._slots(a, b)
        if self.is_scalar(b):
            return self.op("div_us", a, b)[0]
        if self.is_scalar(a):
            return self.op("div_su", a, b)[0]
        return self.op("div", a, b)[0]

    def neg(self, a):
        return self.op("neg", self.slot(a))[0]

    def pow(self, a, p: float):
        a = self.slot(a)
        if p == 0.0:
            return self.const(1.0)
        if p == 1.0:
            return a
        if p == 2.0:
            return self.op("square", a)[0]
        if p == 0.5:
            return self.op("sqrt", a)[0]
        if p == -1.0:
            return self.div(1.0, a)
        if p.is_integer() and 2 < p <= 16:
            # binary powering: products of squares
            n = int(p)
            result, base = None, a
            while n:
                if n & 1:
                    result = base if result is None else self.mul(result, base)
                n >>= 1
                if n:
                    base = self.op("square", base)[0]
            return result
        return self.op("pow", a, c=p)[0]


def decompose(outputs, inputs, *, allow_unknown=False) -> Decomposition:
    """Decompose expressions ``outputs`` over the input variables ``inputs``.

    Parameters
    ----------
    outputs : list of Expr or numbers
    inputs : list of Expr
        Variables, in slot order (for an ODE: the state variables).
    allow_unknown : bool
        If False (default), a variable not in ``inputs`` raises ValueError.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x, v = tj.make_vars("x", "v")
    >>> print(tj.decompose([v, -9.8 * tj.sin(x)], [x, v]))   # doctest: +NORMALIZE_WHITESPACE
    Decomposition: 2 inputs, 3 operations, 6 slots
      u0 = x
      u1 = v
      u2, u3 = sincos(u0)
      u4 = const(-9.8)
      u5 = mul_s(u2, u4)
      outputs: u1, u5
    """
    outputs = [expr(o) for o in outputs]
    inputs = [_var(i) if isinstance(i, str) else expr(i) for i in inputs]
    for v in inputs:
        if v.op != "var":
            raise TypeError(f"inputs must be variables, got {v}")
    if len(set(map(id, inputs))) != len(inputs):
        raise ValueError("the same variable appears twice among the inputs")
    with gc_paused():
        return _decompose(outputs, inputs, allow_unknown)


def _decompose(outputs, inputs, allow_unknown):
    b = Builder(len(inputs))
    slot = {id(v): i for i, v in enumerate(inputs)}
    info = [0, False]   # n_pars, uses time
    memo, sc, append = b.memo, b.scalar, b.ops.append

    def other(node):
        """The slot (or float, for a number) of a node that is not a binary
        add/sub/mul."""
        op = node.op
        if op == "num":
            return node.value  # a float: becomes a const slot only where it is used
        if op == "var":
            if not allow_unknown:
                known = ", ".join(str(v) for v in inputs) or "none"
                raise ValueError(f"the expression uses the variable '{node.value}', which is not "
                                 f"among the inputs ({known}): add it to the list of variables "
                                 f"or substitute a value for it")
            raise ValueError(node.value)
        if op == "par":
            info[0] = max(info[0], node.value + 1)
            return b.op("par", node.value)[0]
        if op == "time":
            info[1] = True
            return b.op("time")[0]
        a = [slot[id(x)] for x in node.args]
        if op == "add":
            s = a[0]
            for x in a[1:]:
                s = b.add(s, x)
            return s
        if op == "mul":
            s = a[0]
            for x in a[1:]:
                s = b.mul(s, x)
            return s
        if op == "sub":
            return b.sub(a[0], a[1])
        if op == "div":
            return b.div(a[0], a[1])
        if op == "neg":
            return b.neg(a[0])
        if op == "pow":
            ex = node.args[1]
            if ex.op == "num":
                return b.pow(a[0], ex.value)
            return b.op("exp", b.mul(a[1], b.op("log", a[0])[0]))[0]
        if op == "select":
            from .._symbolic.expr import TracingError

            raise TracingError(
                "tj.select (or abs/min/max/np.where of a symbolic value) is not supported "
                "here: it is supported in TaylorAdaptive, taylor_coefficients, derivatives, "
                "cfunc and solve_ivp; batch integrators and variational systems need smooth "
                "right-hand sides")
        fn = FUNCTIONS.get(op)
        if fn is None:
            raise ValueError(
                f"the expression uses the function {op!r}, which is not registered in this "
                "process: a function added with tj.extend.register_function must be registered "
                "in every process that builds a kernel for it (register it at import of the "
                "module that defines it, so that worker processes register it too)")
        return fn.decompose(b, *a)

    consts = {}     # id(number node) -> its const slot, once made (where first used)

    def const(node):
        s = consts.get(id(node))
        if s is None:
            s = consts[id(node)] = b.slot(slot[id(node)])
        return s

    # Post-order DFS, arguments left to right (the order of topo_order); a node
    # gets its slot when it is popped, its arguments having theirs.  A node not in
    # ``slot`` is never on the stack (that would be a cycle), so ``slot`` doubles
    # as the visited set.  Binary sums, differences and products (almost every
    # node of a big system) take an inlined copy of Builder.add/sub/mul and
    # Builder.op: the same operations in the same order, the same memo keys.
    for root in outputs:
        if id(root) in slot:
            continue
        stack = [(root, iter(root.args))]
        push, pop = stack.append, stack.pop
        while stack:
            node, it = stack[-1]
            for a in it:
                if id(a) not in slot:
                    push((a, iter(a.args)))
                    break
            else:
                pop()
                args = node.args
                op = node.op
                if len(args) != 2 or not (op == "mul" or op == "add" or op == "sub"):
                    slot[id(node)] = other(node)
                    continue
                x = slot[id(args[0])]
                if type(x) is not int:
                    x = const(args[0])
                y = slot[id(args[1])]
                if type(y) is not int:
                    y = const(args[1])
                if op == "mul":
                    if y in sc:
                        key = ("mul_s", (x, y))
                    elif x in sc:
                        key = ("mul_s", (y, x))
                    elif x == y:
                        key = ("square", (x,))
                    else:
                        key = ("mul", (x, y))
                elif op == "add":
                    if y in sc:
                        key = ("add_s", (x, y))
                    elif x in sc:
                        key = ("add_s", (y, x))
                    else:
                        key = ("add", (x, y) if x <= y else (y, x))
                elif y in sc:
                    key = ("sub_us", (x, y))
                elif x in sc:
                    key = ("sub_su", (x, y))
                else:
                    key = ("sub", (x, y))
                hit = memo.get(key)
                if hit is not None:
                    slot[id(node)] = hit[0]
                    continue
                n = b.n
                b.n = n + 1
                outs = (n,)
                ins = key[1]
                append((key[0], outs, ins, None))
                for i in ins:
                    if i not in sc:
                        break
                else:
                    sc.add(n)
                memo[key] = outs
                slot[id(node)] = n
    n_pars, has_time = info
    outs = [b.slot(slot[id(o)]) for o in outputs]
    return Decomposition(inputs=inputs, ops=b.ops, outputs=outs, n_slots=b.n, n_pars=n_pars,
                         uses_time=has_time, scalar=frozenset(b.scalar))

