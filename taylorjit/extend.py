"""Adding elementary functions to taylorjit.

One call, :func:`register_function`, adds a named function defined by a
composition of the functions taylorjit already has (``softplus(x) =
log1p(exp(x))``, ``logaddexp(a, b) = a + log1p(exp(b - a))``, ...).  The new
function is a node of its own: it prints by its name, differentiates with its
own derivative (given, or derived from the definition), becomes a sympy
function of that name (with derivatives and arbitrary-precision ``evalf``) and
comes back from sympy as itself.  Its Taylor coefficients are those of its
definition: where an expression is turned into kernel operations, the
definition is expanded into the operations of the functions it is made of, so
every kernel kind (unrolled, spec, compact, group kernels, the SIMD front
ends), the integrators, ``diff``, ``derivatives``, ``cfunc`` and the sympy
bridge handle it with no new code, with the accuracy and the bit-for-bit
agreement between kernel kinds of those functions.

Only compositions are supported.  A function that is not a composition of
existing ones (a new special function with its own coefficient recurrence)
needs a new *kernel operation*: a numba-compiled Python kernel that the
unrolled kernels and the group kernels must be able to trace, whose source is
part of the key of every cached kernel, and that the compact VM (compiled once
per installation) dispatches by opcode.  Registering one at run time would
recompile the VM (tens of seconds) and invalidate every cached kernel, so that
is not a public API: such functions are added to ``taylorjit/_funcs/`` in the
package itself (see docs/extending.md).

Examples
--------
>>> import taylorjit as tj
>>> softplus = tj.extend.register_function(
...     "softplus", lambda x: tj.log1p(tj.exp(x)),
...     derivative=lambda x: [tj.sigmoid(x)], domain=[(-3.0, 3.0)],
...     doc="softplus(x) = log(1 + exp(x)).")
>>> x = tj.var("x")
>>> softplus(x) + x
softplus(x) + x
>>> tj.diff(softplus(2 * x), x)
sigmoid(2*x)*2
>>> c = tj.taylor_coefficients(softplus(x), [x], [0.0], order=2)
>>> [round(float(v), 12) for v in c]
[0.69314718056, 0.5, 0.125]
"""
from __future__ import annotations

import inspect
import keyword
import math

__all__ = ["register_function"]

# node operations of the expression DAG that are not registry functions
_RESERVED = frozenset({"num", "var", "par", "time", "add", "sub", "mul", "div", "neg", "pow",
                       "select"})
# name -> (definition DAG, partial derivative DAGs, the public function) of the functions
# registered here (a second registration with the same definition returns the first)
_EXTENSIONS: dict = {}


def register_function(name, definition, *, derivative=None, value=None, mp=None, sympy=None,
                      domain=None, doc=None):
    """Register a new elementary function defined by a composition of existing ones.

    Parameters
    ----------
    name : str
        The function's name (a Python identifier): its node's name in printed
        expressions, its sympy function's name and its registry key.  It must not
        be a function taylorjit already has.
    definition : callable
        ``definition(*args) -> expression``: the function in terms of its arguments
        (positional parameters, one per argument), built from numbers, arithmetic
        and taylorjit functions (``tj.exp``, ``tj.log1p``, functions registered
        before ...).  It may not use other variables, ``tj.par``, ``tj.time`` or
        ``tj.select`` (``abs``, ``min``, ``max``): the function must be a smooth
        composition of its arguments.  Its Taylor coefficients are computed by the
        recurrences of the functions it uses.
    derivative : callable, optional
        ``derivative(*args) -> [d/d arg_0, d/d arg_1, ...]``, one expression per
        argument: the partial derivatives that ``tj.diff``, variational equations
        and sympy use.  Default: derived from ``definition``.  A given derivative is
        checked numerically against the definition's (at the middle of ``domain``,
        or at 0.5 for each argument) and rejected if they disagree.
    value : callable, optional
        ``value(*floats) -> float``: the function in double precision, used to fold
        calls on numbers (``softplus(1.0)`` is a number).  Default: the definition
        evaluated in double precision.
    mp : callable, optional
        ``mp(*mpfs) -> mpf``: the function in mpmath, used by sympy's ``evalf`` and
        by tests as the reference.  Default: the definition evaluated with mpmath.
    sympy : str or callable, optional
        The sympy counterpart: the name of a sympy function (``"erf"``) or
        ``sympy(sp, *args)`` building the sympy call.  Default: a sympy function
        class named ``name`` (derivatives from ``derivative``, ``evalf`` from
        ``mp``, ``sympy.expand_func`` gives the definition) that ``tj.from_sympy``
        maps back to this function.  A builder that returns an expansion instead
        of a function of its own makes the round trip return the expansion.
    domain : list of (float, float), optional
        One interval per argument where the function is real and smooth: used by
        the check of ``derivative`` and by taylorjit's registry tests.
    doc : str, optional
        The docstring of the returned function.

    Returns
    -------
    callable
        The function: ``f(*args)`` builds an expression (or folds numbers to a
        number); numpy arrays of expressions are mapped element by element.
        ``f.definition(*args)`` is the definition applied to ``args`` (the
        expression written out).  Registering again under the same name with the same definition (and
        derivative) returns the function registered first, so a script or a
        notebook cell can run twice; anything else under a used name raises
        ValueError.

    Raises
    ------
    TypeError
        ``name`` or ``definition`` of the wrong type, or ``definition`` failing on
        symbolic arguments.
    ValueError
        The name is taken, the definition or derivative uses something other than
        its arguments, or the derivative disagrees with the definition.

    Notes
    -----
    The registry is per process: worker processes (``ensemble_propagate_*`` with
    processes, ``multiprocessing``) must register the function too, e.g. by
    importing the module that registers it.

    Examples
    --------
    >>> import taylorjit as tj
    >>> logaddexp = tj.extend.register_function(
    ...     "logaddexp", lambda a, b: a + tj.log1p(tj.exp(b - a)),
    ...     domain=[(-2.0, 2.0), (-2.0, 2.0)])
    >>> a, b = tj.make_vars("a", "b")
    >>> logaddexp(a, b)
    logaddexp(a, b)
    >>> tj.diff(logaddexp(a, b), b)
    1/(1 + exp(b - a))*exp(b - a)
    >>> logaddexp(0.0, 0.0)                 # numbers fold
    0.6931471805599453
    """
    from ._symbolic.expr import Expr, topo_order
    from ._symbolic.registry import FUNCTIONS, register_function as _register

    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise TypeError(f"the function name must be a Python identifier, got {name!r}")
    if name in _RESERVED:
        raise ValueError(f"{name!r} is an operation of taylorjit's expressions: choose another "
                         "name")
    if not callable(definition):
        raise TypeError(f"definition must be a callable building the expression of {name} from "
                        f"its arguments (e.g. lambda x: tj.log1p(tj.exp(x))), got "
                        f"{type(definition).__name__}")
    nargs = _count_args(name, definition)
    holders = [Expr("var", (), f"_tj_{name}_arg{i}") for i in range(nargs)]
    body = _build(name, "definition", definition, holders)
    if derivative is None:
        from ._symbolic.calculus import diff

        partials = [_as_expr(diff(body, h)) for h in holders]
    else:
        if not callable(derivative):
            raise TypeError(f"derivative of {name} must be a callable returning the list of "
                            f"partial derivatives, got {type(derivative).__name__}")
        partials = _build(name, "derivative", derivative, holders, many=nargs)
    for what, e in [("definition", body)] + [(f"derivative {i}", p) for i, p in
                                               enumerate(partials)]:
        _check_closed(name, what, e, holders, topo_order)

    old = _EXTENSIONS.get(name)
    if old is not None and old[0] is body and len(old[1]) == nargs and all(
            p is q for p, q in zip(old[1], partials)):
        return old[2]
    if name in FUNCTIONS:
        raise ValueError(f"a function named {name!r} is already registered"
                         + (" (with another definition or derivative)" if old else "")
                         + ": choose another name (registering again with the same definition "
                         "returns the function registered first)")
    if domain is not None:
        domain = _check_domain(name, domain, nargs)
    if derivative is not None:
        _check_derivative(name, body, partials, holders, domain)

    value = value if value is not None else _double_value(body, holders)
    mp = mp if mp is not None else _mp_value(body, holders)
    if sympy is None:
        sympy = _sympy_builder(name, nargs, body, partials, holders, lambda: FUNCTIONS[name])
    elif not (isinstance(sympy, str) or callable(sympy)):
        raise TypeError(f"sympy must be a sympy function name or a callable (sp, *args) -> "
                        f"sympy expression, got {type(sympy).__name__}")

    def decompose(b, *slots):
        return _emit(b, body, dict(zip(map(id, holders), slots)))

    def partial_derivatives(*args):
        from ._symbolic.calculus import subs

        return subs(list(partials), dict(zip(holders, args)))

    public = _register(name, nargs, value=value, derivative=partial_derivatives,
                       decompose=decompose, mp=mp, domain=domain, sympy=sympy, numpy=None,
                       doc=doc or f"{name}: a function registered with "
                                  f"taylorjit.extend.register_function.")
    public.definition = lambda *args: _substitute(body, holders, args)
    _EXTENSIONS[name] = (body, tuple(partials), public)
    return public


# --------------------------------------------------------------------------- checks
def _count_args(name, definition) -> int:
    try:
        params = inspect.signature(definition).parameters.values()
    except (TypeError, ValueError):
        raise TypeError(f"cannot read the parameters of the definition of {name}: pass a "
                        "function or lambda with one positional parameter per argument") from None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    pos = [p for p in params if p.kind in kinds and p.default is inspect.Parameter.empty]
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params) or not pos:
        raise TypeError(f"the definition of {name} must take a fixed number (at least one) of "
                        "positional arguments, e.g. lambda a, b: ...")
    return len(pos)


def _as_expr(e):
    from ._symbolic.expr import expr

    return expr(e)


def _build(name, what, fn, holders, many=None):
    try:
        out = fn(*holders)
    except Exception as exc:
        raise TypeError(f"the {what} of {name} failed on symbolic arguments ({type(exc).__name__}: "
                        f"{exc}); build it from arithmetic and taylorjit functions (tj.exp, "
                        "tj.log1p ...), not math functions of floats") from exc
    if many is None:
        try:
            return _as_expr(out)
        except TypeError as exc:
            raise TypeError(f"the {what} of {name} must return an expression or a number: {exc}"
                            ) from None
    try:
        out = list(out)
    except TypeError:
        raise TypeError(f"the {what} of {name} must return a list of {many} partial derivatives "
                        f"(one per argument), got {type(out).__name__}") from None
    if len(out) != many:
        raise ValueError(f"the {what} of {name} must return {many} partial derivative(s) (one "
                         f"per argument), got {len(out)}")
    try:
        return [_as_expr(p) for p in out]
    except TypeError as exc:
        raise TypeError(f"the {what} of {name} must return expressions or numbers: {exc}"
                        ) from None


def _check_closed(name, what, e, holders, topo_order):
    """``e`` uses no variable but the arguments, no parameter, no time, no select."""
    ok = set(map(id, holders))
    for n in topo_order([e]):
        bad = None
        if n.op == "var" and id(n) not in ok:
            bad = f"the variable {n.value!r}"
        elif n.op == "par":
            bad = f"the parameter par[{n.value}]"
        elif n.op == "time":
            bad = "tj.time"
        elif n.op == "select":
            bad = "a piecewise choice (tj.select, abs, min, max)"
        if bad:
            raise ValueError(f"the {what} of {name} uses {bad}: a registered function may depend "
                             "only on its arguments, smoothly (pass anything else as an "
                             "argument)")


def _check_domain(name, domain, nargs):
    try:
        dom = [(float(lo), float(hi)) for lo, hi in domain]
    except (TypeError, ValueError):
        raise TypeError(f"domain of {name} must be a list of (lo, hi) intervals, one per "
                        f"argument, got {domain!r}") from None
    if len(dom) != nargs or not all(math.isfinite(lo) and math.isfinite(hi) and lo < hi
                                    for lo, hi in dom):
        raise ValueError(f"domain of {name} must hold {nargs} finite interval(s) (lo, hi) with "
                         f"lo < hi, one per argument, got {domain!r}")
    return dom


def _check_derivative(name, body, partials, holders, domain):
    """Reject a derivative that disagrees with the definition's at one point."""
    from ._symbolic.calculus import diff
    from ._symbolic.guards import numeric_values

    point = [0.5 * (lo + hi) for lo, hi in domain] if domain else [0.5] * len(holders)
    env = dict(zip(map(id, holders), point))
    auto = [_as_expr(diff(body, h)) for h in holders]
    got = numeric_values(partials, env)
    want = numeric_values(auto, env)
    for i, (g, w) in enumerate(zip(got, want)):
        if not (math.isfinite(g) and math.isfinite(w)):
            continue        # outside the function's domain: nothing to compare
        if abs(g - w) > 1e-8 * max(1.0, abs(w)):
            raise ValueError(f"the derivative of {name} with respect to argument {i} is {g!r} at "
                             f"{point}, but the definition's is {w!r}: fix the derivative (or "
                             "leave it out to have it derived from the definition)")


# --------------------------------------------------------------------------- the function's parts
def _substitute(body, holders, args):
    from ._symbolic.calculus import subs

    if len(args) != len(holders):
        raise TypeError(f"the definition takes {len(holders)} argument(s), got {len(args)}")
    return subs(body, dict(zip(holders, args)))


def _double_value(body, holders):
    """``value(*floats)``: the definition in double precision (IEEE semantics); a
    result that is NaN for non-NaN arguments raises ValueError, so that the call
    stays symbolic, as the built-in functions' do outside their domain."""
    from ._symbolic.guards import numeric_values

    keys = [id(h) for h in holders]

    def value(*xs):
        v = numeric_values([body], dict(zip(keys, map(float, xs))))[0]
        if math.isnan(v) and not any(math.isnan(float(x)) for x in xs):
            raise ValueError("outside the function's domain")
        return v

    return value


def _mp_value(body, holders):
    """``mp(*mpfs)``: the definition evaluated with mpmath at the working precision."""
    from ._symbolic.expr import topo_order

    nodes = topo_order([body])
    keys = [id(h) for h in holders]

    def mp(*xs):
        import mpmath

        from ._symbolic.registry import FUNCTIONS

        val = dict(zip(keys, (mpmath.mpf(x) for x in xs)))
        for n in nodes:
            if id(n) in val:
                continue
            op = n.op
            if op == "num":
                v = mpmath.mpf(n.value)
            else:
                a = [val[id(x)] for x in n.args]
                if op == "add":
                    v = mpmath.fsum(a)
                elif op == "sub":
                    v = a[0] - a[1]
                elif op == "mul":
                    v = a[0]
                    for x in a[1:]:
                        v = v * x
                elif op == "div":
                    v = a[0] / a[1]
                elif op == "neg":
                    v = -a[0]
                elif op == "pow":
                    v = mpmath.power(a[0], a[1])
                else:
                    v = FUNCTIONS[op].mp(*a)
            val[id(n)] = v
        return val[id(body)]

    return mp


def _emit(b, body, env):
    """Kernel operations of the definition ``body`` on the argument slots ``env``
    (``{id(placeholder): slot}``), through the decomposition's builder: the
    operations (and their sharing) that the definition written out in full
    would get."""
    from ._symbolic.expr import topo_order
    from ._symbolic.registry import FUNCTIONS

    val = {}
    for n in topo_order([body]):
        key = id(n)
        if key in env:
            val[key] = env[key]
            continue
        op = n.op
        if op == "num":
            val[key] = n.value      # a float: a constant slot where it is used
            continue
        a = [val[id(x)] for x in n.args]
        if op == "add":
            v = a[0]
            for x in a[1:]:
                v = b.add(v, x)
        elif op == "mul":
            v = a[0]
            for x in a[1:]:
                v = b.mul(v, x)
        elif op == "sub":
            v = b.sub(a[0], a[1])
        elif op == "div":
            v = b.div(a[0], a[1])
        elif op == "neg":
            v = b.neg(a[0])
        elif op == "pow":
            ex = n.args[1]
            if ex.op == "num":
                v = b.pow(a[0], ex.value)
            else:
                v = b.op("exp", b.mul(a[1], b.op("log", a[0])[0]))[0]
        else:
            v = FUNCTIONS[op].decompose(b, *a)
        val[key] = v
    out = val[id(body)]
    return out if type(out) is int else b.slot(out)


def _sympy_builder(name, nargs, body, partials, holders, function):
    """``sympy(sp, *args)``: a call of a sympy function class named ``name``
    (made on first use): ``fdiff`` from the partial derivatives, ``evalf`` from
    the mpmath value, ``expand_func`` the definition."""
    cls = []

    def make():
        import mpmath
        import sympy as sp

        from ._symbolic.sympy_bridge import _mp_args, to_sympy

        syms = [sp.Symbol(h.value) for h in holders]
        sdefs = []

        def swap(e, args):
            if not sdefs:
                sdefs.extend([to_sympy(body)] + [to_sympy(p) for p in partials])
            return sdefs[e].xreplace(dict(zip(syms, args)))

        def fdiff(self, argindex=1):
            if not 1 <= argindex <= nargs:
                raise sp.core.function.ArgumentIndexError(self, argindex)
            return swap(argindex, self.args)

        def _eval_evalf(self, prec):
            vals = _mp_args(self, prec)
            if vals is None:
                return None
            with mpmath.workprec(prec + 20):
                v = function().mp(*vals)
            if not isinstance(v, mpmath.mpf) or not mpmath.isfinite(v):
                return None
            return sp.Float(v, precision=prec)

        def _eval_expand_func(self, **hints):
            return swap(0, self.args)

        doc = f"{name}: registered with taylorjit.extend.register_function."
        cls.append(type(name, (sp.Function,), {
            "nargs": nargs, "fdiff": fdiff, "_eval_evalf": _eval_evalf,
            "_eval_expand_func": _eval_expand_func, "__doc__": doc,
            "__module__": __name__}))

    def build(sp, *args):
        if not cls:
            make()
        return cls[0](*args)

    return build
