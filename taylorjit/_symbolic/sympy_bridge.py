"""The sympy bridge: :func:`to_sympy` and :func:`from_sympy`.

Both directions are driven by the function registry: ``FUNCTIONS[name].sympy``
builds the sympy call of each function, and the reverse map (sympy function
class -> registry name) is derived by calling every builder on symbols and
taking ``.func`` (builders that produce ``Pow``/``Add``/``Mul``, such as
``square`` and ``sqrt``, are covered by the arithmetic rules).  Adding a
function to the registry therefore never touches this module.

Conventions
-----------
* a variable ``x`` <-> ``sympy.Symbol("x")``;
* ``tj.par[i]`` <-> ``sympy.Symbol("par[i]")``;
* ``tj.time`` <-> ``sympy.Symbol("tj_time")``;
* numbers: an integral float becomes a sympy ``Integer``, any other float a
  sympy ``Float`` with 53 bits (the exact binary value); the exponent of a
  power that is a multiple of 1/2 becomes a ``Rational`` (``x**0.5`` <->
  ``sqrt(x)``, ``x**-1.5`` <-> ``x**(-3/2)``).  In the other direction every
  sympy number (``Rational``, ``Float``, ``pi``, ...) becomes the nearest float,
  except that rational coefficients of products become a division
  (``x/3`` -> ``x/3``, not ``0.333...*x``).

Two sympy functions live here because sympy has no equivalent: :class:`kepE`
(eccentric anomaly, with derivatives and high-precision ``evalf``) and
:class:`sigmoid`.

The round trip ``to_sympy(from_sympy(to_sympy(f))) == to_sympy(f)`` holds
structurally, with one exception due to sympy's own evaluation: when sympy
combines floats into an integral ``Float`` (``x + 0.5 + 0.5`` becomes
``x + 1.0``), the second pass prints it as the ``Integer`` 1; the values are
identical.
"""
from __future__ import annotations

import math
import re

import mpmath
import sympy as sp

from .expr import expr as _expr, topo_order, num, var, par, time, neg, sub, div, power, nary_sum, nary_prod

__all__ = ["to_sympy", "from_sympy", "kepE", "sigmoid", "TIME_SYMBOL"]

#: name of the sympy Symbol that stands for ``tj.time``
TIME_SYMBOL = "tj_time"
_PAR_RE = re.compile(r"^par\[(\d+)\]$")


# ----------------------------------------------------------------------------- sympy functions
def _mp_args(fn, prec):
    """The arguments of a sympy function call as mpmath numbers (None if symbolic)."""
    vals = []
    for a in fn.args:
        v = a.evalf(mpmath.libmp.prec_to_dps(prec) + 5)
        if not v.is_Number:
            return None
        vals.append(v._to_mpmath(prec + 10))
    return vals


class kepE(sp.Function):  # noqa: N801 - the registry's name
    """Eccentric anomaly ``E = kepE(e, M)``, the solution of ``E - e sin(E) = M``.

    Derivatives: ``dE/de = sin(E) / (1 - e cos(E))``, ``dE/dM = 1 / (1 - e cos(E))``.
    ``evalf`` solves the equation with mpmath at the requested precision.

    Examples
    --------
    >>> import sympy as sp, taylorjit as tj
    >>> kepE = type(tj.to_sympy(tj.kepE(tj.var("e"), tj.var("M"))))   # this sympy class
    >>> e, M = sp.symbols("e M")
    >>> sp.diff(kepE(e, M), M)
    1/(-e*cos(kepE(e, M)) + 1)
    >>> kepE(sp.Rational(1, 2), 1).evalf(20)
    1.4987011335178483141
    """

    nargs = 2

    def fdiff(self, argindex=1):
        e, _ = self.args
        den = 1 - e * sp.cos(self)
        if argindex == 1:
            return sp.sin(self) / den
        if argindex == 2:
            return 1 / den
        raise sp.core.function.ArgumentIndexError(self, argindex)

    def _eval_evalf(self, prec):
        from .registry import FUNCTIONS

        vals = _mp_args(self, prec)
        if vals is None:
            return None
        e, M = vals
        with mpmath.workprec(prec + 20):
            if not (0 <= e < 1):
                return None
            E = FUNCTIONS["kepE"].mp(e, M)
        return sp.Float(E, precision=prec)


class sigmoid(sp.Function):  # noqa: N801 - the registry's name
    """Logistic function ``sigmoid(x) = 1 / (1 + exp(-x))``.

    Examples
    --------
    >>> import sympy as sp, taylorjit as tj
    >>> sigmoid = type(tj.to_sympy(tj.sigmoid(tj.var("x"))))        # this sympy class
    >>> x = sp.Symbol("x")
    >>> sp.diff(sigmoid(x), x)
    (1 - sigmoid(x))*sigmoid(x)
    >>> sigmoid(x).rewrite(sp.exp)
    1/(1 + exp(-x))
    """

    nargs = 1

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise sp.core.function.ArgumentIndexError(self, argindex)
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))

    def _eval_evalf(self, prec):
        vals = _mp_args(self, prec)
        if vals is None:
            return None
        with mpmath.workprec(prec + 20):
            v = 1 / (1 + mpmath.exp(-vals[0]))
        return sp.Float(v, precision=prec)


# ----------------------------------------------------------------------------- registry maps
_REVERSE: dict = {}  # registry size -> {sympy function class: registry name}


def _reverse_map() -> dict:
    """sympy function class -> registry name, derived from the registry builders
    (rebuilt if functions were registered since)."""
    from .registry import FUNCTIONS

    rev = _REVERSE.get(len(FUNCTIONS))
    if rev is None:
        rev = {}
        for name, f in FUNCTIONS.items():
            built = _build(f, sp.symbols(f"_tj_a0:{f.nargs}", seq=True))
            if built.func in (sp.Pow, sp.Add, sp.Mul):
                continue  # square, sqrt, ...: covered by the arithmetic rules
            rev[built.func] = name
        _REVERSE.clear()
        _REVERSE[len(FUNCTIONS)] = rev
    return rev


def _build(f, args):
    if callable(f.sympy):
        return f.sympy(sp, *args)
    return getattr(sp, f.sympy)(*args)


def _supported() -> str:
    names = sorted(k.__name__ for k in _reverse_map())
    return ", ".join(names) + ", and + - * / ** with numbers, symbols"


# ----------------------------------------------------------------------------- to_sympy
def _num_to_sympy(v: float):
    if math.isnan(v):
        return sp.nan
    if math.isinf(v):
        return sp.oo if v > 0 else -sp.oo
    if v.is_integer():
        return sp.Integer(int(v))
    return sp.Float(v, precision=53)


def _exponent_to_sympy(v: float):
    if math.isfinite(v) and (2.0 * v).is_integer():
        return sp.Rational(int(2.0 * v), 2)
    return _num_to_sympy(v)


def to_sympy(e):
    """Convert an expression (or a list of them) to sympy.

    Parameters
    ----------
    e : Expr, number, or list/tuple of them

    Returns
    -------
    sympy.Expr or list of sympy.Expr
        Variables become ``Symbol``\\ s of the same name, ``tj.par[i]`` the Symbol
        ``par[i]`` and ``tj.time`` the Symbol ``tj_time``; ``kepE`` and
        ``sigmoid`` become the sympy functions of this module.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x, y = tj.make_vars("x", "y")
    >>> tj.to_sympy(tj.sin(x) * y**0.5 - 2 * tj.par[0])
    -2*par[0] + sqrt(y)*sin(x)
    """
    from .registry import FUNCTIONS

    many = isinstance(e, (list, tuple))
    roots = [_expr(x) for x in (e if many else [e])]
    out = {}
    for n in topo_order(roots):
        op = n.op
        if op == "num":
            r = _num_to_sympy(n.value)
        elif op == "var":
            r = sp.Symbol(n.value)
        elif op == "par":
            r = sp.Symbol(f"par[{n.value}]")
        elif op == "time":
            r = sp.Symbol(TIME_SYMBOL)
        else:
            a = [out[id(x)] for x in n.args]
            if op == "add":
                r = sp.Add(*a)
            elif op == "sub":
                r = a[0] - a[1]
            elif op == "mul":
                r = sp.Mul(*a)
            elif op == "div":
                # one n-ary Mul: sympy distributes a number over a sum in a binary
                # product (2*(x + y) -> 2*x + 2*y) but not inside a longer one
                num_args = ([out[id(x)] for x in n.args[0].args] if n.args[0].op == "mul"
                            else [a[0]])
                r = sp.Mul(*num_args, sp.Pow(a[1], -1))
            elif op == "neg":
                r = -a[0]
            elif op == "pow":
                ex = n.args[1]
                r = sp.Pow(a[0], _exponent_to_sympy(ex.value) if ex.op == "num" else a[1])
            else:
                r = _build(FUNCTIONS[op], a)
        out[id(n)] = r
    res = [out[id(r)] for r in roots]
    return res if many else res[0]


# ----------------------------------------------------------------------------- from_sympy
def _children(s):
    return s.args if isinstance(s, sp.Basic) else ()


def from_sympy(s):
    """Convert a sympy expression (or a list of them) to a taylorjit expression.

    Parameters
    ----------
    s : sympy.Basic, number, or list/tuple of them

    Returns
    -------
    Expr or list of Expr

    Raises
    ------
    TypeError
        For sympy functions or objects taylorjit does not support (the message
        lists the supported ones).

    Examples
    --------
    >>> import sympy as sp, taylorjit as tj
    >>> x, y = sp.symbols("x y")
    >>> tj.from_sympy(sp.exp(x) - y / 3)
    exp(x) - y/3
    """
    from .registry import FUNCTIONS

    many = isinstance(s, (list, tuple))
    roots = [sp.sympify(x) for x in (s if many else [s])]
    rev = _reverse_map()
    out: dict = {}
    # iterative post-order traversal with memoisation (sympy trees can be large)
    for root in roots:
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            if node in out:
                continue
            if not done:
                stack.append((node, True))
                for a in _children(node):
                    if a not in out:
                        stack.append((a, False))
                continue
            out[node] = _convert(node, out, rev, FUNCTIONS)
    res = [out[r] for r in roots]
    return res if many else res[0]


def _convert(s, out, rev, FUNCTIONS):  # noqa: N803
    if isinstance(s, sp.Symbol):
        name = s.name
        if name == TIME_SYMBOL:
            return time
        m = _PAR_RE.match(name)
        if m:
            return par[int(m.group(1))]
        try:
            return var(name)
        except ValueError as exc:
            raise ValueError(f"sympy symbol {name!r} cannot be a taylorjit variable: {exc}") from None
    if s is sp.I or s is sp.zoo:
        raise TypeError(f"the sympy number {s} is not real: taylorjit works with real numbers")
    if s.is_Number or isinstance(s, sp.NumberSymbol):
        try:
            return num(float(s))
        except TypeError:
            raise TypeError(f"the sympy number {s} is not real: taylorjit works with real "
                            "numbers") from None
    if s.is_Add:
        pos, negs, const = [], [], None
        for t in s.args:
            c = out[t]
            if t.is_Number:
                if c.value < 0:
                    negs.append(num(-c.value))
                else:
                    const = c
            elif c.op == "neg":
                negs.append(c.args[0])
            else:
                pos.append(c)
        if const is not None:
            pos.append(const)
        if pos:
            r = nary_sum(pos)
            for t in negs:
                r = sub(r, t)
            return r
        r = neg(negs[0])
        for t in negs[1:]:
            r = sub(r, t)
        return r
    if s.is_Mul:
        nums, dens, sign = [], [], 1
        for f in s.args:
            if f.is_Number:
                if f.is_Rational:
                    p, q = int(f.p), int(f.q)
                    if p < 0:
                        sign, p = -sign, -p
                    if p != 1:
                        nums.insert(0, num(float(p)))
                    if q != 1:
                        dens.insert(0, num(float(q)))
                else:
                    v = float(f)
                    if v < 0:
                        sign, v = -sign, -v
                    if v != 1.0:
                        nums.insert(0, num(v))
            elif f.is_Pow and f.exp.is_Number and f.exp.is_negative:
                dens.append(power(out[f.base], float(-f.exp)))
            else:
                nums.append(out[f])
        r = nary_prod(nums)
        if dens:
            r = div(r, nary_prod(dens))
        return neg(r) if sign < 0 else r
    if s.is_Pow:
        return power(out[s.base], out[s.exp])
    if isinstance(s, sp.Function):
        name = rev.get(s.func)
        if name is None:
            raise TypeError(f"the sympy function {s.func.__name__} (in {str(s)[:60]}) has no "
                            f"taylorjit equivalent; supported: {_supported()}. Rewrite it in "
                            "terms of these (e.g. sec(x) -> 1/cos(x))")
        return FUNCTIONS[name](*(out[a] for a in s.args))
    raise TypeError(f"cannot convert the sympy object {str(s)[:60]} (type {type(s).__name__}) "
                    f"to a taylorjit expression; supported: {_supported()}")
