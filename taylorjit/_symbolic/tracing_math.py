"""``math`` as seen by a traced function (see :mod:`taylorjit._symbolic.tracing`).

``math.sin(x)`` calls ``float(x)``, which a symbolic expression refuses.  Instead of
patching the ``math`` module, :func:`with_symbolic_math` returns a *copy* of the
user's function (and of the plain functions of its module) whose globals see
:data:`MATH`: a namespace with the same names, whose functions build
taylorjit expressions when given one and defer to ``math`` otherwise.  Nothing
global is modified.
"""
from __future__ import annotations

import math
import types

import numpy as np

from .expr import Expr

__all__ = ["MATH", "with_symbolic_math"]


def _unary(name, tj_name=None):
    real = getattr(math, name)
    sym = None

    def f(x):
        nonlocal sym
        if isinstance(x, Expr) or isinstance(x, np.ndarray):
            if sym is None:
                from .registry import FUNCTIONS

                sym = FUNCTIONS[tj_name or name]
            return sym(x)
        return real(x)

    f.__name__ = name
    return f


def _m_log(x, base=None):
    if isinstance(x, Expr) or isinstance(base, Expr):
        from .registry import FUNCTIONS

        ln = FUNCTIONS["log"]
        return ln(x) if base is None else ln(x) / ln(base)
    return math.log(x) if base is None else math.log(x, base)


def _m_log2(x):
    return _m_log(x) / math.log(2.0) if isinstance(x, Expr) else math.log2(x)


def _m_log10(x):
    return _m_log(x) / math.log(10.0) if isinstance(x, Expr) else math.log10(x)


def _m_exp2(x):
    return 2.0 ** x if isinstance(x, Expr) else 2.0 ** float(x)


def _m_pow(x, y):
    return x ** y if isinstance(x, Expr) or isinstance(y, Expr) else math.pow(x, y)


def _m_atan2(y, x):
    if isinstance(x, Expr) or isinstance(y, Expr):
        from .registry import FUNCTIONS

        return FUNCTIONS["atan2"](y, x)
    return math.atan2(y, x)


def _m_hypot(*xs):
    if any(isinstance(x, Expr) for x in xs):
        from .registry import FUNCTIONS

        return FUNCTIONS["sqrt"](sum(x * x for x in xs))
    return math.hypot(*xs)


class _SymbolicMath(types.ModuleType):
    """``math`` as seen by a traced function: symbolic-aware where taylorjit can."""

    def __getattr__(self, name):
        return getattr(math, name)


MATH = _SymbolicMath("math", "math module seen by taylorjit tracing")
for _n, _t in [("sin", None), ("cos", None), ("tan", None), ("asin", None), ("acos", None),
               ("atan", None), ("sinh", None), ("cosh", None), ("tanh", None), ("asinh", None),
               ("acosh", None), ("atanh", None), ("exp", None), ("expm1", None),
               ("log1p", None), ("sqrt", None), ("erf", None)]:
    setattr(MATH, _n, _unary(_n, _t))
for _n, _f in [("log", _m_log), ("log2", _m_log2), ("log10", _m_log10), ("pow", _m_pow),
               ("atan2", _m_atan2), ("hypot", _m_hypot), ("exp2", _m_exp2)]:
    setattr(MATH, _n, _f)
_MATH_FUNCS = {n for n in dir(MATH) if n in MATH.__dict__ and callable(MATH.__dict__[n])}


def _symbolic(v):
    """The symbolic-aware replacement of ``v`` (math or one of its functions), or None."""
    if v is math:
        return MATH
    if (isinstance(v, types.BuiltinFunctionType) and getattr(v, "__self__", None) is math
            and v.__name__ in _MATH_FUNCS):
        return MATH.__dict__[v.__name__]
    return None


def with_symbolic_math(func):
    """A copy of ``func`` whose globals and closure see :data:`MATH` (None if not needed).

    Plain functions of the same module are copied too, so helpers called by
    ``func`` see the symbolic math as well."""
    g = func.__globals__
    repl = {}
    for name, v in g.items():
        r = _symbolic(v)
        if r is not None:
            repl[name] = r
    closure = func.__closure__
    if closure:
        cells = []
        for cell in closure:
            try:
                r = _symbolic(cell.cell_contents)
            except ValueError:  # empty cell
                r = None
            cells.append(cell if r is None else types.CellType(r))
        new_closure = tuple(cells)
        if all(a is b for a, b in zip(new_closure, closure)):
            new_closure = closure
    else:
        new_closure = closure
    if not repl and new_closure is closure:
        return None
    new_g = g
    if repl:
        new_g = dict(g)
        new_g.update(repl)
        # helper functions of the same module see the symbolic math as well
        for name, v in g.items():
            if isinstance(v, types.FunctionType) and v.__globals__ is g:
                new_g[name] = _copy_func(v, new_g, v.__closure__)
    return _copy_func(func, new_g, new_closure)


def _copy_func(f, g, closure):
    c = types.FunctionType(f.__code__, g, f.__name__, f.__defaults__, closure)
    c.__kwdefaults__ = f.__kwdefaults__
    c.__dict__.update(f.__dict__)
    c.__qualname__ = f.__qualname__
    return c
