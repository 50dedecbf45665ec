"""Symbolic expressions: an immutable, hash-consed DAG.

This module owns the :class:`Expr` node type: the hash-consing table, immutability,
pickling, the Python protocols (operators, conversions, control flow on symbols
as a :class:`TracingError`) and the numpy ufunc protocol.  Its siblings hold what
builds and walks a DAG without knowing about kernels, and every name they define
is re-exported here (``from taylorjit._symbolic.expr import add, topo_order``):

* :mod:`.construct`: leaves (``num``, ``var``, ``make_vars``, ``par``, ``time``),
  ``expr``/``expression`` conversion, arithmetic with light constant folding;
* :mod:`.traversal`: iterative topological order, variables/parameters used;
* :mod:`.calculus`: ``diff``, ``subs``, ``tangent``; :mod:`.printing`: text, LaTeX.

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


# The builders and walkers live in sibling modules that import Expr from here; the
# operators and protocols above call them through these module globals (a genuine
# cycle: a node's operators build nodes), so they are bound after Expr is defined,
# and re-exported for the rest of the package.
from .construct import (_call, add, div, expr, expression, make_vars, mul, nary_prod,  # noqa: E402,F401
    nary_sum, neg, num, par, power, sub, time, var)
from .traversal import get_params, get_variables, topo_order, uses_time  # noqa: E402,F401
# substitution/differentiation and printing live in their own modules (re-exported here)
from .calculus import diff, subs, tangent  # noqa: E402,F401
from .printing import to_latex, to_string  # noqa: E402,F401
