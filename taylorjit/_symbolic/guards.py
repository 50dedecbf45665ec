"""Guards: comparisons, ``select`` and piecewise systems.

A comparison of symbolic values (``x < 2``, ``y[0] >= 0.5``) is a :class:`Cond`:
the sign test of a *guard* expression ``g = lhs - rhs``.  It is used in two ways.

* Symbolically, in :func:`select` (heyoka's name): ``select(x > 0, a, b)`` is an
  expression node that is ``a`` where ``g > 0`` and ``b`` elsewhere; ``abs``
  of a symbolic value is one.
* In Python control flow while a function is traced *at a point*
  (``solve_ivp`` traces the user's right-hand side at the initial state):
  ``bool(cond)`` evaluates the guard numerically at that point, records the
  decision and returns it, so ``if``/``else``, ``and``/``or``, ``min``/``max``,
  ``np.where``, ``np.maximum``/``np.minimum``/``np.clip``, ``np.sign`` ... trace
  the branch that holds there.

Either way a *piece* is a smooth system (no selects left) plus the list of
guards that decided it, each with the side (+1: ``g > 0``, -1: ``g < 0``) it
was on.  An integrator runs one piece until a guard changes sign, stops at the
root (event accuracy), takes the piece of the new sides and goes on: a Taylor
polynomial is never used across a discontinuity.

Outside such a context ``bool(cond)`` raises :class:`~taylorjit.TracingError`
(a decision taken once, at build time, would be silently wrong elsewhere).
"""
from __future__ import annotations

import math
import numbers
import threading

import numpy as np

from .expr import Expr, TracingError, _short, add, expr, neg, num, sub, topo_order

__all__ = ["Cond", "select", "compare", "has_select", "GuardContext", "resolve", "numeric_values",
           "Piece", "guard_scope", "current_context"]

_LOCAL = threading.local()
MAX_GUARDS = 64   # comparisons decided in one trace


def current_context():
    """The active :class:`GuardContext` of this thread, or None."""
    return getattr(_LOCAL, "ctx", None)


class guard_scope:  # noqa: N801 - used as a context manager
    """``with guard_scope(ctx):`` makes ``ctx`` decide comparisons in this thread."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.prev = None

    def __enter__(self):
        self.prev = current_context()
        _LOCAL.ctx = self.ctx
        return self.ctx

    def __exit__(self, *exc):
        _LOCAL.ctx = self.prev
        return False


# ------------------------------------------------------------------------ conditions
class Cond:
    """The comparison ``g > 0`` / ``g >= 0`` (``positive``) or ``g < 0`` / ``g <= 0``.

    Made by comparing expressions (``x < 1``); combine with ``&``, ``|`` and
    ``~``; use in :func:`taylorjit.select`.  Its truth value exists only while
    a function is traced at a point (``solve_ivp``), where it is decided there
    and recorded as a guard.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x = tj.var("x")
    >>> x < 1
    x < 1
    >>> tj.select(x < 1, x, 1.0)
    select(x < 1, x, 1)
    """

    __slots__ = ("g", "positive", "strict")

    def __init__(self, g, positive, strict):
        self.g = g
        self.positive = bool(positive)
        self.strict = bool(strict)

    def __repr__(self):
        return cond_text(self.g, _KIND[(self.positive, self.strict)], _short)

    def __bool__(self):
        ctx = current_context()
        if ctx is None:
            raise TracingError(
                f"the truth value of the comparison `{self!r}` between symbolic values is not "
                "known when the expression is built (Python `if`/`and`/`or`/`min`/`max` on a "
                "symbolic value). Use tj.select(cond, a, b) for a piecewise expression; "
                "tj.solve_ivp traces Python branches of a right-hand side automatically")
        return ctx.truth(self)

    def __invert__(self):
        return Cond(self.g, not self.positive, not self.strict)

    def __and__(self, other):
        return _CondAll("and", [self, _as_cond(other)])

    def __or__(self, other):
        return _CondAll("or", [self, _as_cond(other)])

    __rand__ = __and__
    __ror__ = __or__

    def _select(self, a, b):
        return _select_node(self.g, a, b, _KIND[(self.positive, self.strict)])


_KIND = {(True, True): "gt", (True, False): "ge", (False, True): "lt", (False, False): "le"}
_OPS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def kind_cond(g, kind):
    """The Cond of a select node's guard and kind."""
    return Cond(g, kind in ("gt", "ge"), kind in ("gt", "lt"))


class _CondAll:
    """``c1 & c2`` / ``c1 | c2`` (nested selects when used in :func:`select`)."""

    __slots__ = ("kind", "parts")

    def __init__(self, kind, parts):
        self.kind = kind
        self.parts = parts

    def __repr__(self):
        j = " & " if self.kind == "and" else " | "
        return "(" + j.join(repr(p) for p in self.parts) + ")"

    def __bool__(self):
        if self.kind == "and":
            return all(bool(p) for p in self.parts)
        return any(bool(p) for p in self.parts)

    def __invert__(self):
        return _CondAll("or" if self.kind == "and" else "and", [~p for p in self.parts])

    def __and__(self, other):
        return _CondAll("and", [self, _as_cond(other)])

    def __or__(self, other):
        return _CondAll("or", [self, _as_cond(other)])

    __rand__ = __and__
    __ror__ = __or__

    def _select(self, a, b):
        if self.kind == "and":   # c1 & c2 ? a : b  ==  c1 ? (c2 ? a : b) : b
            out = a
            for p in reversed(self.parts):
                out = p._select(out, b)
        else:                    # c1 | c2 ? a : b  ==  c1 ? a : (c2 ? a : b)
            out = b
            for p in reversed(self.parts):
                out = p._select(a, out)
        return out


def _as_cond(c):
    if isinstance(c, (Cond, _CondAll)):
        return c
    if isinstance(c, (bool, np.bool_)):
        return bool(c)
    raise TypeError(f"cannot combine a comparison with {type(c).__name__} {c!r:.40}: combine "
                    "comparisons of expressions (x < 1) & (y > 0)")


def compare(a, b, op):
    """``a op b`` for ``op`` in ``<, <=, >, >=``: a bool if both sides are numbers, else a Cond."""
    if isinstance(b, np.ndarray) and b.ndim > 0:
        return NotImplemented
    if isinstance(b, (bool, np.bool_)) or not (isinstance(b, (Expr, numbers.Real))
                                                 or (isinstance(b, np.ndarray) and b.ndim == 0)):
        return NotImplemented
    if isinstance(b, numbers.Real) and b < 0:
        g = add(a, -float(b))   # prints x + 1 rather than x - -1
    else:
        g = sub(a, b)
    positive = op in (">", ">=")
    strict = op in (">", "<")
    if g.op == "num":
        v = g.value
        return (v > 0 if strict else v >= 0) if positive else (v < 0 if strict else v <= 0)
    return Cond(g, positive, strict)


def _select_node(g, a, b, kind):
    a, b = expr(a), expr(b)
    if a is b:
        return a
    if g.op == "num":
        return a if compare(g, 0.0, _OPS[kind]) else b
    return Expr("select", (g, a, b), kind)


def select(cond, a, b):
    """``a`` where ``cond`` holds, ``b`` elsewhere (heyoka's ``select``).

    ``cond`` is a comparison of expressions (``x < 1``, ``(x > 0) & (y > 0)``).
    Integrators never step across a change of ``cond``: they stop at the
    switch (with event accuracy) and go on with the other branch; Taylor
    coefficients and compiled functions use the branch active at the point.

    Parameters
    ----------
    cond : comparison of expressions, or bool
    a, b : Expr or numbers (or arrays of them: applied element by element)

    Examples
    --------
    >>> import taylorjit as tj
    >>> x = tj.var("x")
    >>> f = tj.select(x > 0, x**2, 0.0)
    >>> print(f)
    select(x > 0, x**2, 0)
    >>> tj.taylor_coefficients(f, [x], [2.0], order=2).tolist()    # the branch active at 2
    [4.0, 4.0, 1.0]
    >>> tj.taylor_coefficients(f, [x], [-1.0], order=2).tolist()
    [0.0, 0.0, 0.0]
    """
    if isinstance(cond, np.ndarray) or isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.frompyfunc(select, 3, 1)(np.asarray(cond, dtype=object),
                                           np.asarray(a, dtype=object), np.asarray(b, dtype=object))
    if isinstance(cond, (bool, np.bool_)):
        return expr(a) if cond else expr(b)
    if not isinstance(cond, (Cond, _CondAll)):
        raise TypeError(f"select() needs a comparison of expressions as its condition (x > 0), "
                        f"got {type(cond).__name__} {cond!r:.40}")
    if current_context() is not None:   # tracing at a point: decide here
        return expr(a) if bool(cond) else expr(b)
    return cond._select(a, b)


def abs_expr(x):
    """``|x|`` as ``select(x >= 0, x, -x)`` (decided at once while tracing at a point)."""
    x = expr(x)
    if x.op == "num":
        return num(abs(x.value))
    ctx = current_context()
    if ctx is not None:
        return x if ctx.truth(Cond(x, True, False)) else neg(x)
    return _select_node(x, x, neg(x), "ge")


def _maximum(a, b):
    c = compare(expr(a), b, ">=")
    return (expr(a) if c else expr(b)) if isinstance(c, bool) else select(c, a, b)


def _minimum(a, b):
    c = compare(expr(a), b, "<=")
    return (expr(a) if c else expr(b)) if isinstance(c, bool) else select(c, a, b)


def _sign(x):
    x = expr(x)
    return select(x > 0, 1.0, select(x < 0, -1.0, 0.0))


def _heaviside(x, h0):
    x = expr(x)
    return select(x > 0, 1.0, select(x < 0, 0.0, h0))


def _clip(x, lo, hi):
    return _maximum(_minimum(x, hi), lo)


def _cmp_ufunc(op):
    return lambda a, b: compare(expr(a), b, op)


# numpy ufuncs of symbolic scalars that are piecewise (Expr.__array_ufunc__ looks them up)
PIECEWISE_UFUNCS = {
    "absolute": abs_expr, "fabs": abs_expr, "sign": _sign, "heaviside": _heaviside,
    "maximum": _maximum, "minimum": _minimum, "fmax": _maximum, "fmin": _minimum,
    "clip": _clip, "greater": _cmp_ufunc(">"), "greater_equal": _cmp_ufunc(">="),
    "less": _cmp_ufunc("<"), "less_equal": _cmp_ufunc("<="),
}


def lie_derivative(g, state, rhs):
    """``dg/dt`` along the flow ``state' = rhs``: the rate of a guard at a switch."""
    from .calculus import diff
    from .expr import nary_sum, time as _t

    return nary_sum([diff(g, v) * f for v, f in zip(state, rhs)] + [diff(g, _t)])


def has_select(exprs) -> bool:
    """True if a select node is reachable from ``exprs``."""
    return any(n.op == "select" for n in topo_order([expr(e) for e in exprs]))


def cond_text(g, kind, fmt=str):  # noqa: D103
    """``g op 0`` printed as ``lhs op rhs`` when ``g`` is ``lhs - number``."""
    if g.op == "sub" and g.args[1].op == "num":
        return f"{fmt(g.args[0])} {_OPS[kind]} {fmt(g.args[1])}"
    if g.op == "add" and len(g.args) == 2 and g.args[1].op == "num" and g.args[1].value < 0:
        return f"{fmt(g.args[0])} {_OPS[kind]} {fmt(num(-g.args[1].value))}"
    return f"{fmt(g)} {_OPS[kind]} 0"


# ------------------------------------------------------------------------ numeric evaluation
def numeric_values(exprs, env, pars=(), t=0.0):
    """Values of ``exprs`` (double precision, IEEE semantics) with variables from ``env``
    (``{id(var): value}``), parameters ``pars`` and time ``t``.  Select nodes take
    their active branch."""
    from .registry import FUNCTIONS

    vals = {}
    pars = np.asarray(pars, dtype=float).ravel()
    with np.errstate(all="ignore"):
        for node in topo_order(list(exprs)):
            op = node.op
            if op == "num":
                v = node.value
            elif op == "var":
                try:
                    v = env[id(node)]
                except KeyError:
                    raise ValueError(f"no value for the variable {node.value!r}") from None
            elif op == "par":
                if node.value >= pars.shape[0]:
                    raise ValueError(f"the expression uses par[{node.value}] but only "
                                     f"{pars.shape[0]} parameter value(s) were given")
                v = float(pars[node.value])
            elif op == "time":
                v = float(t)
            else:
                a = [vals[id(x)] for x in node.args]
                if op == "add":
                    v = float(np.sum(np.array(a))) if len(a) > 2 else float(np.float64(a[0]) + a[1])
                elif op == "sub":
                    v = float(np.float64(a[0]) - a[1])
                elif op == "mul":
                    v = float(np.prod(np.array(a)))
                elif op == "div":
                    v = float(np.float64(a[0]) / np.float64(a[1]))
                elif op == "neg":
                    v = -a[0]
                elif op == "pow":
                    v = float(np.power(np.float64(a[0]), a[1]))
                elif op == "select":
                    v = a[1] if compare(num(a[0]), 0.0, _OPS[node.value]) else a[2]
                else:
                    try:
                        v = float(FUNCTIONS[op].value(*a))
                    except (ValueError, OverflowError, ZeroDivisionError):
                        v = math.nan
            vals[id(node)] = v
    return [vals[id(e)] for e in exprs]


# ------------------------------------------------------------------------ deciding at a point
class GuardContext:
    """Decides conditions at one point and records them.

    Parameters
    ----------
    env : dict
        ``{id(var): value}`` for the state variables.
    pars, t : parameter values and time of the point.
    forced : dict, optional
        ``{id(g): side}``: sides imposed (the guard that just changed sign).
    """

    def __init__(self, env, pars, t, forced=None):
        self.env = env
        self.pars = pars
        self.t = t
        self.forced = dict(forced or {})
        self.sides = {}      # id(g) -> side (+1 / -1)
        self.guards = []     # [(g, side)] in the order first met

    def side(self, g, strict_positive_at_zero):
        key = id(g)
        s = self.sides.get(key)
        if s is not None:
            return s
        if len(self.guards) >= MAX_GUARDS:
            raise TracingError(
                f"more than {MAX_GUARDS} comparisons of symbolic values were decided in one "
                "evaluation (a loop whose trip count depends on the state or on t?): each "
                "would be a switching surface of the integration. Use a fixed number of "
                "iterations, or a smooth formula")
        s = self.forced.get(key)
        if s is None:
            v = numeric_values([g], self.env, self.pars, self.t)[0]
            if math.isnan(v):
                raise TracingError(f"the guard {_short(g)} (a comparison in the right-hand side) "
                                   f"is NaN at t = {self.t!r}: its operands are undefined there")
            s = 1 if v > 0 else -1 if v < 0 else (1 if strict_positive_at_zero else -1)
        self.sides[key] = s
        self.guards.append((g, s))
        return s

    def truth(self, cond):
        # at g == 0 exactly, the comparison's own strictness decides (the driver then checks
        # the direction of motion): g >= 0 and g <= 0 hold there, g > 0 and g < 0 do not
        at_zero_positive = cond.positive != cond.strict
        s = self.side(cond.g, at_zero_positive)
        return s > 0 if cond.positive else s < 0


def resolve(exprs, ctx):
    """``exprs`` with every select node replaced by its branch active in ``ctx``
    (only live branches are visited, so guards of dead branches are not recorded)."""
    memo = {}

    def walk(root):
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            if id(node) in memo:
                continue
            if node.op == "select":
                g, a, b = node.args
                if not done:
                    if id(g) not in memo:
                        stack.append((node, False))
                        stack.append((g, False))
                        continue
                    gg = memo[id(g)]
                    take_a = ctx.truth(kind_cond(gg, node.value))
                    br = a if take_a else b
                    if id(br) not in memo:
                        stack.append((node, True))
                        stack.append((br, False))
                        continue
                else:
                    gg = memo[id(g)]
                    take_a = ctx.truth(kind_cond(gg, node.value))
                    br = a if take_a else b
                memo[id(node)] = memo[id(br)]
                continue
            if not node.args:
                memo[id(node)] = node
                continue
            if not done:
                pending = [x for x in node.args if id(x) not in memo]
                if pending:
                    stack.append((node, True))
                    for x in reversed(pending):
                        stack.append((x, False))
                    continue
            args = tuple(memo[id(x)] for x in node.args)
            if all(x is y for x, y in zip(args, node.args)):
                memo[id(node)] = node
            else:
                from .calculus import _rebuild_node

                memo[id(node)] = _rebuild_node(node, args)
        return memo[id(root)]

    return [walk(expr(e)) for e in exprs]


class Piece:
    """One smooth branch of a piecewise system: its outputs and the guards that chose it."""

    __slots__ = ("outputs", "guards", "key", "cache")

    def __init__(self, outputs, guards):
        self.outputs = list(outputs)
        self.guards = list(guards)
        self.key = tuple((id(g), s) for g, s in guards)
        self.cache = {}

    def matches(self, env, pars, t, forced):
        """True if every guard of this piece is on its recorded side at the point."""
        if not self.guards:
            return True
        free = [g for g, _ in self.guards if id(g) not in forced]
        vals = dict(zip((id(g) for g in free), numeric_values(free, env, pars, t))) if free else {}
        for g, s in self.guards:
            f = forced.get(id(g))
            if f is not None:
                if f != s:
                    return False
                continue
            v = vals[id(g)]
            if (v > 0 and s < 0) or (v < 0 and s > 0) or math.isnan(v):
                return False
            if v == 0:
                return False   # undecided at zero: retrace (the strictness decides)
        return True

    def __repr__(self):
        gs = ", ".join(f"{_short(g)} {'>' if s > 0 else '<'} 0" for g, s in self.guards)
        return f"<Piece [{gs}]>"
