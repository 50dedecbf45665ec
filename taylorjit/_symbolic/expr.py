"""Symbolic expressions: an immutable, hash-consed DAG.

This module owns the :class:`Expr` node type and everything that walks a DAG
without knowing about kernels: construction (with light constant folding),
the numpy ufunc protocol, printing, iterative traversal, ``diff`` and ``subs``.

Node kinds (``Expr.op``):

``"num"``   a float constant (``value``)
``"var"``   a named variable (``value`` is the name)
``"par"``   runtime parameter ``par[i]`` (``value`` is ``i``)
``"time"``  the independent variable of an ODE
``"add" "sub" "mul" "div" "neg" "pow"``  arithmetic (``add``/``mul`` n-ary)
any registered function name (``"sin"``, ``"kepE"``, ...), see ``_registry``.

Equal expressions are the same object (hash-consing), so ``a is b`` is the
structural equality test, every phase can memoise on node identity and is
linear in the DAG size.  All traversals are iterative: a 10^5-deep chain
works.
"""
from __future__ import annotations

import math
import numbers
import sys
import weakref

import numpy as np

__all__ = [
    "Expr", "TracingError", "var", "make_vars", "par", "time", "expr", "expression", "num",
    "topo_order", "diff", "tangent", "subs", "get_variables", "get_params", "uses_time",
]


class TracingError(TypeError):
    """A Python construct that cannot be applied to a symbolic expression.

    Raised, for instance, when Python control flow (``if``, ``while``,
    ``bool()``, comparisons) is applied to a symbolic value, or when a symbolic
    value is converted to ``float``.  The message names the construct and how
    to rewrite it.
    """


class NotRealError(TypeError):
    """A complex value where a real expression is needed.  The arithmetic helpers
    (:func:`add` ...) catch it and build a complex value (:mod:`taylorjit._symbolic.complex`)."""


_TABLE: "weakref.WeakValueDictionary[tuple, Expr]" = weakref.WeakValueDictionary()

_ARITH = ("add", "sub", "mul", "div", "neg", "pow")
_LEAVES = ("num", "var", "par", "time")


class Expr:
    """A node of the expression DAG.  Build expressions with :func:`make_vars`,
    :data:`par`, :data:`time`, arithmetic operators and the elementary functions
    (``taylorjit.sin`` ... or the numpy ufuncs ``np.sin`` ...); never call the
    constructor directly.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x, y = tj.make_vars("x", "y")
    >>> f = tj.sin(x) * y + 1
    >>> print(f)
    sin(x)*y + 1
    >>> (x + y) is (x + y)          # hash-consed: equal expressions are one node
    True
    """

    __slots__ = ("op", "args", "value", "_hash", "__weakref__")
    __array_priority__ = 1000

    def __new__(cls, op, args=(), value=None):  # noqa: D102 - internal
        if op == "num":
            key = ("num", float(value).hex())
        else:
            key = (op, tuple(id(a) for a in args), value)
        node = _TABLE.get(key)
        if node is not None:
            return node
        node = object.__new__(cls)
        object.__setattr__(node, "op", op)
        object.__setattr__(node, "args", tuple(args))
        object.__setattr__(node, "value", float(value) if op == "num" else value)
        object.__setattr__(node, "_hash", hash(key))
        _TABLE[key] = node
        return node

    def __setattr__(self, name, value):
        raise AttributeError("Expr objects are immutable")

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        if isinstance(other, Expr):
            return self is other
        if isinstance(other, numbers.Real) and not isinstance(other, bool):
            return self.op == "num" and self.value == other
        return NotImplemented

    def __ne__(self, other):
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    # -- pickling: rebuild through the hash-consing constructor, flat (no recursion)
    def __reduce__(self):
        nodes = topo_order([self])
        index = {id(n): i for i, n in enumerate(nodes)}
        table = [(n.op, tuple(index[id(a)] for a in n.args), n.value) for n in nodes]
        return (_rebuild, (table,))

    # -- Python control flow on symbols is a tracing error --------------------
    def __bool__(self):
        if self.op == "num":
            return self.value != 0.0
        raise TracingError(
            f"the truth value of the symbolic expression {_short(self)} is unknown at tracing "
            "time (Python `if`/`while`/`and`/`or` on a symbolic value). Rewrite the branch "
            "without Python control flow, e.g. with a smooth formula, or split the problem into "
            "phases with events (tj.Event)")

    def _cmp(self, other, what):
        from .guards import compare

        return compare(self, other, what)

    __lt__ = lambda self, o: self._cmp(o, "<")  # noqa: E731
    __le__ = lambda self, o: self._cmp(o, "<=")  # noqa: E731
    __gt__ = lambda self, o: self._cmp(o, ">")  # noqa: E731
    __ge__ = lambda self, o: self._cmp(o, ">=")  # noqa: E731

    def __float__(self):
        if self.op == "num":
            return self.value
        raise TracingError(
            f"cannot convert the symbolic expression {_short(self)} to a float. This happens "
            "with in-place writes into a float array (`out = np.empty(n); out[i] = expr`), "
            "math functions outside taylorjit's list, or numeric libraries called on symbols. "
            "Build the result with np.array([...]) / a list instead, and use np.* or tj.* "
            "functions")

    def __int__(self):
        if self.op == "num" and self.value.is_integer():
            return int(self.value)
        raise TracingError(f"cannot convert the symbolic expression {_short(self)} to an int")

    __index__ = None  # symbols cannot be used as indices

    def __complex__(self):
        raise TracingError(
            f"cannot convert the symbolic expression {_short(self)} to a Python complex number. "
            "This happens with in-place writes into a complex array (`out = np.zeros(n, "
            "dtype=complex); out[i] = expr`): build the result with np.array([...]) instead")

    # a real expression as a number: real part itself, imaginary part 0
    @property
    def real(self):
        return self

    @property
    def imag(self):
        return num(0.0)

    # -- arithmetic ------------------------------------------------------------
    def __add__(self, o):
        if _is_array(o):
            return NotImplemented  # numpy applies the operation per element
        return add(self, o)

    def __radd__(self, o):
        if _is_array(o):
            return NotImplemented  # numpy applies the operation per element
        return add(o, self)

    def __sub__(self, o):
        if _is_array(o):
            return NotImplemented  # numpy applies the operation per element
        return sub(self, o)

    def __rsub__(self, o):
        if _is_array(o):
            return NotImplemented  # numpy applies the operation per element
        return sub(o, self)

    def __mul__(self, o):
        if _is_array(o):
            return NotImplemented  # numpy applies the operation per element
        return mul(self, o)

    def __rmul__(self, o):
        if _is_array(o):
            return NotImplemented  # numpy applies the operation per element
        return mul(o, self)

    def __truediv__(self, o):
        if _is_array(o):
            return NotImplemented  # numpy applies the operation per element
        return div(self, o)

    def __rtruediv__(self, o):
        if _is_array(o):
            return NotImplemented  # numpy applies the operation per element
        return div(o, self)

    def __pow__(self, o):
        if _is_array(o):
            return NotImplemented  # numpy applies the operation per element
        return power(self, o)

    def __rpow__(self, o):
        if _is_array(o):
            return NotImplemented  # numpy applies the operation per element
        return power(o, self)

    def __neg__(self):
        return neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        from .guards import abs_expr

        return abs_expr(self)

    def __matmul__(self, o):
        raise TracingError("`@` needs arrays of expressions on both sides, not a scalar")

    # -- numpy protocol --------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from .registry import NUMPY_UFUNCS

        if method != "__call__" or kwargs.get("out") is not None:
            return NotImplemented
        fn = NUMPY_UFUNCS.get(ufunc.__name__) or _ARITH_UFUNCS.get(ufunc.__name__)
        if fn is None:
            from .guards import PIECEWISE_UFUNCS

            fn = PIECEWISE_UFUNCS.get(ufunc.__name__)
        if fn is None:
            raise TracingError(
                f"numpy function np.{ufunc.__name__} is not supported on symbolic expressions; "
                "supported: " + ", ".join(sorted(NUMPY_UFUNCS)))
        if any(isinstance(a, np.ndarray) and a.ndim > 0 for a in inputs):
            arrs = []
            for a in inputs:  # every input as an object array: no __array_ufunc__ recursion
                o = np.empty((), dtype=object)
                o[()] = a
                arrs.append(np.asarray(a, dtype=object) if isinstance(a, np.ndarray) else o)
            out = np.frompyfunc(fn, len(inputs), 1)(*arrs)
            if any(isinstance(a, np.ndarray) and a.dtype.kind == "c" for a in inputs):
                from .complex import as_complex_array

                out = as_complex_array(out)   # .real/.imag per element (_complex)
            return out
        return fn(*inputs)

    # numpy's object loops call methods of these names, e.g. np.sin(array_of_exprs)
    def sin(self):
        return _call("sin", self)

    def cos(self):
        return _call("cos", self)

    def tan(self):
        return _call("tan", self)

    def arcsin(self):
        return _call("asin", self)

    def arccos(self):
        return _call("acos", self)

    def arctan(self):
        return _call("atan", self)

    def arctan2(self, x):
        return _call("atan2", self, x)

    def sinh(self):
        return _call("sinh", self)

    def cosh(self):
        return _call("cosh", self)

    def tanh(self):
        return _call("tanh", self)

    def arcsinh(self):
        return _call("asinh", self)

    def arccosh(self):
        return _call("acosh", self)

    def arctanh(self):
        return _call("atanh", self)

    def exp(self):
        return _call("exp", self)

    def expm1(self):
        return _call("expm1", self)

    def log(self):
        return _call("log", self)

    def log1p(self):
        return _call("log1p", self)

    def sqrt(self):
        return _call("sqrt", self)

    def square(self):
        return _call("square", self)

    def log10(self):
        return _ARITH_UFUNCS["log10"](self)

    def log2(self):
        return _ARITH_UFUNCS["log2"](self)

    def exp2(self):
        return _ARITH_UFUNCS["exp2"](self)

    def hypot(self, other):
        return _ARITH_UFUNCS["hypot"](self, other)

    def conjugate(self):
        return self

    # -- printing --------------------------------------------------------------
    def __repr__(self):
        return to_string(self)

    __str__ = __repr__

    def _repr_latex_(self):
        return "$" + to_latex(self) + "$"

    # -- convenience -------------------------------------------------------------
    @property
    def is_number(self):
        return self.op == "num"

    def diff(self, v):
        """Symbolic derivative with respect to ``v`` (see :func:`diff`)."""
        return diff(self, v)

    def subs(self, mapping):
        """Substitution (see :func:`subs`)."""
        return subs(self, mapping)


# numpy scalars and float arrays combined with an Expr (np.float64(2) * x, np.ones(3) * x)
# reach Expr.__array_ufunc__ with these ufuncs
_ARITH_UFUNCS = {
    "add": lambda a, b: add(a, b), "subtract": lambda a, b: sub(a, b),
    "multiply": lambda a, b: mul(a, b), "true_divide": lambda a, b: div(a, b),
    "divide": lambda a, b: div(a, b), "power": lambda a, b: power(a, b),
    "float_power": lambda a, b: power(a, b), "negative": lambda a: neg(a),
    "positive": lambda a: expr(a),
    # composites of registered functions (numpy code uses them)
    "log10": lambda a: div(_call("log", a), math.log(10.0)),
    "log2": lambda a: div(_call("log", a), math.log(2.0)),
    "exp2": lambda a: power(2.0, a),
    "hypot": lambda a, b: _call("sqrt", add(mul(a, a), mul(b, b))),
    "conjugate": lambda a: expr(a),
}


def _is_array(o):
    return isinstance(o, np.ndarray) and o.ndim > 0


def _rebuild(table):
    nodes = []
    for op, args, value in table:
        nodes.append(Expr(op, tuple(nodes[i] for i in args), value))
    return nodes[-1]


def _short(e, limit=60):
    s = to_string(e)
    return s if len(s) <= limit else s[: limit - 3] + "..."


# ------------------------------------------------------------------ leaves
def num(value) -> Expr:
    """A numeric constant node."""
    return Expr("num", (), float(value))


def var(name: str) -> Expr:
    """A named variable.  Variables with the same name are the same node.

    Examples
    --------
    >>> import taylorjit as tj
    >>> tj.var("x") is tj.var("x")
    True
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"variable name {name!r} is not a valid identifier: use names like 'x', 'v1'")
    return Expr("var", (), name)


def make_vars(*names: str):
    """Create several variables at once.

    ``make_vars("x", "y")`` returns a tuple ``(x, y)``; a single name returns the
    variable itself.  A string with spaces or commas is split:
    ``make_vars("x y z")``.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x, v = tj.make_vars("x", "v")
    >>> x + v
    x + v
    """
    if len(names) == 1 and isinstance(names[0], str) and any(c in names[0] for c in " ,"):
        names = tuple(n for n in names[0].replace(",", " ").split() if n)
    out = tuple(var(n) for n in names)
    return out[0] if len(out) == 1 else out


class _ParFactory:
    """``par[i]``: runtime parameter number ``i`` (values are passed at run time,
    so changing them does not rebuild any kernel)."""

    def __getitem__(self, i):
        if isinstance(i, bool) or not isinstance(i, numbers.Integral) or i < 0:
            raise IndexError(f"parameter index must be a non-negative integer, got {i!r}")
        return Expr("par", (), int(i))

    def __repr__(self):
        return "par"


par = _ParFactory()
time = Expr("time", (), None)


def expression(x=0.0) -> Expr:
    """heyoka's ``expression`` constructor: a number becomes a constant, a string a
    variable, an expression stays itself.

    As ``hy.expression(x)``: ``expression()`` is the constant 0, ``expression(1.5)``
    and ``expression(3)`` constants (integers converted to double precision, as
    heyoka does; numpy scalars too), ``expression("x")`` the variable ``x`` (the
    same node as ``tj.var("x")``).  taylorjit computes in double precision only: a
    ``numpy.longdouble`` is rounded to a float.  Booleans are refused (heyoka
    reads True as 1.0; in taylorjit a boolean in an expression is taken for a
    mistake).  Numbers mix with expressions without it (``x + 1.5``); it is there
    for code written for heyoka, e.g. a constant right-hand side
    ``(v, expression(0.0))``.

    Examples
    --------
    >>> import taylorjit as tj
    >>> tj.expression(1.5), tj.expression("x") is tj.var("x"), tj.expression()
    (1.5, True, 0)
    >>> x, v = tj.make_vars("x", "v")
    >>> ta = tj.TaylorAdaptive([(x, v), (v, tj.expression(-9.8))], [10.0, 0.0])
    >>> res = ta.propagate_until(1.0)
    >>> round(float(ta.state[0]), 12)
    5.1
    """
    if isinstance(x, Expr):
        return x
    if isinstance(x, str):
        return var(x)
    if isinstance(x, (bool, np.bool_)):
        raise TypeError("expression(): booleans are not numbers in taylorjit expressions: pass "
                        "0.0 or 1.0")
    if isinstance(x, (numbers.Real, np.floating, np.integer)):
        return num(float(x))
    raise TypeError(f"expression() takes a number, a variable name (str) or an expression, "
                    f"got {type(x).__name__} {x!r:.60}")


def expr(x) -> Expr:
    """Convert a Python/numpy number or an Expr to an Expr (clear error otherwise)."""
    if isinstance(x, Expr):
        return x
    if isinstance(x, bool):
        raise TypeError("booleans are not numbers in taylorjit expressions: use 0.0 or 1.0")
    if isinstance(x, numbers.Real):
        v = float(x)
        return num(v)
    if isinstance(x, np.ndarray) and x.ndim == 0:
        return expr(x[()])
    if isinstance(x, numbers.Complex) or getattr(x, "_tj_complex", False):
        from .complex import as_real

        return as_real(x)   # a real value, else NotRealError (arithmetic then goes complex)
    sympy = sys.modules.get("sympy")   # a sympy object implies sympy is imported
    if sympy is not None and isinstance(x, sympy.Basic):
        from .sympy_bridge import from_sympy

        return from_sympy(x)
    raise TypeError(
        f"cannot use an object of type {type(x).__name__} ({x!r:.60}) in an expression: "
        "expressions are built from numbers, variables (tj.make_vars), parameters (tj.par[i]), "
        "tj.time and taylorjit/numpy functions")


# ------------------------------------------------------------------ arithmetic with light folding
def _isnum(e, v=None):
    return e.op == "num" and (v is None or e.value == v)


def add(a, b) -> Expr:
    try:
        a, b = expr(a), expr(b)
    except NotRealError:
        return _complex_arith("add", a, b)
    if a.op == "num" and b.op == "num":
        return num(a.value + b.value)
    if _isnum(a, 0.0):
        return b
    if _isnum(b, 0.0):
        return a
    if b.op == "neg":
        return sub(a, b.args[0])
    return Expr("add", (a, b))


def sub(a, b) -> Expr:
    try:
        a, b = expr(a), expr(b)
    except NotRealError:
        return _complex_arith("sub", a, b)
    if a.op == "num" and b.op == "num":
        return num(a.value - b.value)
    if _isnum(b, 0.0):
        return a
    if _isnum(a, 0.0):
        return neg(b)
    return Expr("sub", (a, b))


def mul(a, b) -> Expr:
    try:
        a, b = expr(a), expr(b)
    except NotRealError:
        return _complex_arith("mul", a, b)
    if a.op == "num" and b.op == "num":
        return num(a.value * b.value)
    if _isnum(a, 1.0):
        return b
    if _isnum(b, 1.0):
        return a
    if _isnum(a, -1.0):
        return neg(b)
    if _isnum(b, -1.0):
        return neg(a)
    if _isnum(a, 0.0) or _isnum(b, 0.0):
        return num(0.0)
    return Expr("mul", (a, b))


def div(a, b) -> Expr:
    try:
        a, b = expr(a), expr(b)
    except NotRealError:
        return _complex_arith("div", a, b)
    if b.op == "num":
        if b.value == 0.0:
            raise ZeroDivisionError(f"division of {_short(a)} by the constant 0")
        if a.op == "num":
            return num(a.value / b.value)
        if b.value == 1.0:
            return a
    if _isnum(a, 0.0):
        return num(0.0)
    return Expr("div", (a, b))


def neg(a) -> Expr:
    a = expr(a)
    if a.op == "num":
        return num(-a.value)
    if a.op == "neg":
        return a.args[0]
    return Expr("neg", (a,))


def power(a, b) -> Expr:
    try:
        a, b = expr(a), expr(b)
    except NotRealError:
        return _complex_arith("pow", a, b)
    if a.op == "num" and b.op == "num":
        # fold a real result; a complex one (negative base, fractional exponent), an
        # overflow or 0 ** negative stays symbolic, as sqrt(-2) or exp(1000): the kernels
        # then give the IEEE result (NaN, inf) like numpy's float64 power
        try:
            v = a.value ** b.value
        except (OverflowError, ZeroDivisionError):
            v = None
        if v.__class__ is float:
            return num(v)
        return Expr("pow", (a, b))
    if b.op == "num":
        if b.value == 1.0:
            return a
        if b.value == 0.0:
            return num(1.0)
        if a.op == "sqrt" and b.value % 2.0 == 0.0 and _sum_of_squares(a.args[0]):
            # |z|**2 of a modulus sqrt(re*re + im*im) (abs of a complex value, a norm): the
            # sum itself, smooth where z = 0 (the sqrt is not); exact since the sum is >= 0
            return power(a.args[0], b.value / 2.0)
    return Expr("pow", (a, b))


def _sum_of_squares(e, limit=10_000):
    """True if ``e`` is a sum of products ``x*x`` (so ``e >= 0``)."""
    stack = [e]
    while stack:
        limit -= 1
        if limit < 0:
            return False
        n = stack.pop()
        if n.op == "mul" and len(n.args) == 2 and n.args[0] is n.args[1]:
            continue
        if n.op == "add":
            stack.extend(n.args)
            continue
        return False
    return True


def _complex_arith(op, a, b):
    from .complex import arith

    return arith(op, a, b)


def nary_sum(terms) -> Expr:
    """Sum of many terms as one n-ary node (the decomposition splits it).

    Cheaper than ``a + b + c + ...`` for thousands of terms, and printed flat.
    """
    terms = [expr(t) for t in terms]
    terms = [t for t in terms if not _isnum(t, 0.0)]
    if not terms:
        return num(0.0)
    if len(terms) == 1:
        return terms[0]
    if len(terms) == 2:
        return add(terms[0], terms[1])
    return Expr("add", tuple(terms))


def nary_prod(factors) -> Expr:
    """Product of many factors as one n-ary node."""
    factors = [expr(t) for t in factors]
    if any(_isnum(f, 0.0) for f in factors):
        return num(0.0)
    factors = [f for f in factors if not _isnum(f, 1.0)]
    if not factors:
        return num(1.0)
    if len(factors) == 1:
        return factors[0]
    if len(factors) == 2:
        return mul(factors[0], factors[1])
    return Expr("mul", tuple(factors))


def _call(name, *args) -> Expr:
    from .registry import FUNCTIONS

    return FUNCTIONS[name](*args)


# ------------------------------------------------------------------ traversal
def topo_order(roots) -> list:
    """All nodes reachable from ``roots``, children before parents (iterative DFS,
    post-order, arguments left to right)."""
    seen = set()
    mark = seen.add
    order = []
    emit = order.append
    for root in roots:
        if id(root) in seen:
            continue
        mark(id(root))
        if not root.args:
            emit(root)
            continue
        stack = [(root, iter(root.args))]
        push, pop = stack.append, stack.pop
        while stack:
            node, it = stack[-1]
            for a in it:
                if id(a) not in seen:
                    mark(id(a))
                    if a.args:
                        push((a, iter(a.args)))
                        break
                    emit(a)
            else:
                pop()
                emit(node)
    return order


def get_variables(e) -> list:
    """Variables in ``e`` (an Expr or a list of them), sorted by name."""
    roots = [expr(x) for x in (e if isinstance(e, (list, tuple)) else [e])]
    return sorted({n for n in topo_order(roots) if n.op == "var"}, key=lambda n: n.value)


def get_params(e) -> list:
    """Indices of the runtime parameters used in ``e``, sorted."""
    roots = [expr(x) for x in (e if isinstance(e, (list, tuple)) else [e])]
    return sorted({n.value for n in topo_order(roots) if n.op == "par"})


def uses_time(e) -> bool:
    roots = [expr(x) for x in (e if isinstance(e, (list, tuple)) else [e])]
    return any(n.op == "time" for n in topo_order(roots))


# substitution/differentiation and printing live in their own modules (re-exported here)
from .calculus import diff, subs, tangent  # noqa: E402,F401
from .printing import to_latex, to_string  # noqa: E402,F401
