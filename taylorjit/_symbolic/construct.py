"""Building expressions: leaves, conversion and arithmetic with light constant folding.

The constructors of :class:`~taylorjit._symbolic.expr.Expr` nodes: the leaves
(:func:`num`, :func:`var`, :func:`make_vars`, :data:`par`, :data:`time`), the
conversions :func:`expr` and heyoka's :func:`expression`, the arithmetic helpers
(:func:`add`, :func:`sub`, :func:`mul`, :func:`div`, :func:`neg`, :func:`power`,
the n-ary :func:`nary_sum` / :func:`nary_prod`) and ``_call`` of a registered
function.  The operators of ``Expr`` dispatch here; a complex operand makes the
arithmetic go complex (:mod:`.complex`).

Imports the node type from :mod:`.expr`, which re-exports every name defined
here: other modules import them from :mod:`taylorjit._symbolic.expr`.
"""
from __future__ import annotations

import numbers
import sys

import numpy as np

from .expr import Expr, NotRealError, _short


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
