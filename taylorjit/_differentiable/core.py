"""Shared core of the differentiable integrations (:mod:`taylorjit.jax`, :mod:`taylorjit.torch`).

Nothing here imports JAX or PyTorch: this module works with numpy arrays and
taylorjit expressions; the framework modules wrap it into differentiable
operations.

The mathematics.  ``func(y, t, *args)`` is traced once into the system
``y' = f(y, t, p)`` whose runtime parameters ``p`` are the floating-point
leaves of ``args`` (one ``tj.par`` per element).  For a *selection* ``sel``
of what is differentiated -- the initial state, some argument leaves, the
initial time -- the order-``k`` variational system (:func:`taylorjit.var_ode_sys`)
has the augmented state ``Z_k`` holding ``c_{i,alpha} = D^alpha y_i / alpha!``
for ``|alpha| <= k``, whose first ``dim_k`` entries are the same in the
order-``k + 1`` system.  Two identities make every derivative of the states at
the output times ``t_i`` available, to any order:

* ``D_j c_{i,alpha} = (alpha_j + 1) c_{i,alpha+e_j}``: the derivative of
  ``Z_k`` with respect to the selected quantities is a fixed gather
  (:meth:`ODEProblem.gather`) of ``Z_{k+1}``;
* ``d Z_k(t_i) / d t_i = F_k(Z_k(t_i), t_i, p)``, the right-hand side of the
  variational system (:meth:`ODEProblem.rhs_set`); its derivatives come from
  symbolic differentiation of expressions (:class:`ExprSet`).

The initial time is ``t[0]``: it enters through the variational initial
conditions (``tj.time`` in ``wrt``).  A framework's tangent rule for ``Z_k``
is therefore ``gather(Z_{k+1}) . dw + F_k(Z_k) dt``, linear in the tangents
and itself built from differentiable operations, so reverse mode (the
transposed sensitivity matrix) and higher derivatives follow.

Event times are defined implicitly by ``g(y(t_e), t_e, p) = 0``; the implicit
function theorem gives ``dt_e = -(g_y . dy(t_e)|_fixed t + g_p . dp) /
(g_y . f + g_t)`` (:meth:`ODEProblem.event_set` holds ``f, g_y, g_t, g_p``).
"""
from __future__ import annotations

import math
import numbers
import sys
import threading
import types
import weakref

import numpy as np

from .._symbolic.expr import Expr, TracingError, expr, par, time as _time
from .._symbolic.expr import get_params
from .._symbolic.tracing import (_RandomWatch, _environment_key, _raise_traced, check_random,
    _to_components, _unwrap, _const_key)
from .._symbolic.tracing import _state as _state_vars
from .._symbolic.tracing_math import _copy_func, with_symbolic_math

__all__ = ["ODEProblem", "ExprSet", "tolerance", "trace_problem", "Selection"]

EPS = float(np.finfo(float).eps)
BATCH_MIN = 4       # batches of at least this many members run as lanes of a batch integrator


# ----------------------------------------------------------------------------- options
def tolerance(rtol, atol):
    """The Taylor tolerance for scipy/JAX-style ``rtol``/``atol``: ``max(eps, min(rtol, atol))``.

    The Taylor step-size rule controls the local error absolutely for state
    norms below 1 and relatively above (as :func:`taylorjit.solve_ivp`).

    Examples
    --------
    >>> from taylorjit._differentiable.core import tolerance
    >>> tolerance(1e-10, 1e-12)
    1e-12
    """
    try:
        r, a = float(rtol), float(atol)
    except (TypeError, ValueError):
        raise TypeError(f"rtol and atol must be numbers, got rtol={rtol!r}, "
                        f"atol={atol!r}") from None
    if not (r > 0 and a >= 0) or math.isnan(r) or math.isnan(a):
        raise ValueError(f"rtol must be positive and atol non-negative, got rtol={rtol!r}, "
                         f"atol={atol!r}")
    return max(EPS, min(r, a) if a > 0 else r)


def step_options(mxstep, hmax):
    """(max_steps per output interval or None, max_delta_t or None) from JAX's options."""
    ms = None
    try:
        m = float(mxstep)
    except (TypeError, ValueError):
        raise TypeError(f"mxstep must be a number of steps (or inf), got {mxstep!r}") from None
    if not math.isinf(m):
        if not (m >= 1 and m == int(m)):
            raise ValueError(f"mxstep must be a whole number of steps >= 1 (or inf), "
                             f"got {mxstep!r}")
        ms = int(m)
    try:
        h = float(hmax)
    except (TypeError, ValueError):
        raise TypeError(f"hmax must be a positive number (or inf), got {hmax!r}") from None
    if not h > 0:
        raise ValueError(f"hmax must be positive (the largest step), got {hmax!r}")
    return ms, (None if math.isinf(h) else h)


# ----------------------------------------------------------------------------- tracing
_NP_OK = {
    # element-wise functions taylorjit traces (via Expr methods / registry)
    "sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh", "tanh",
    "arcsinh", "arccosh", "arctanh", "exp", "expm1", "log", "log1p", "log2", "log10", "exp2",
    "sqrt", "square", "power", "float_power", "add", "subtract", "multiply", "divide",
    "true_divide", "negative", "positive", "hypot", "reciprocal",
    # linear algebra, reductions, shapes
    "dot", "vdot", "matmul", "inner", "outer", "cross", "sum", "prod", "cumsum", "einsum",
    "tensordot", "trace", "stack", "concatenate", "hstack", "vstack", "column_stack",
    "reshape", "ravel", "transpose", "squeeze", "expand_dims", "atleast_1d", "atleast_2d",
    "split", "flip", "roll", "diag", "shape", "size", "ndim", "moveaxis", "swapaxes",
    "zeros", "ones", "zeros_like", "ones_like", "full", "eye", "identity", "arange", "linspace",
    # constants and dtypes
    "pi", "e", "inf", "newaxis", "float64", "float32", "float16", "int32", "int64",
}
_DROP_KW = ("dtype", "device", "requires_grad", "copy", "pin_memory", "layout", "precision",
            "preferred_element_type", "out")
_AXIS_FUNCS = {"sum", "prod", "cumsum", "stack", "concatenate", "squeeze", "expand_dims",
               "flip", "roll", "split", "moveaxis"}


def _np_function(name):
    fn = getattr(np, name)
    if not callable(fn) or isinstance(fn, type):
        return fn

    def wrapper(*args, **kwargs):
        for k in _DROP_KW:
            kwargs.pop(k, None)
        if "dim" in kwargs and name in _AXIS_FUNCS:
            kwargs["axis"] = kwargs.pop("dim")
        if "keepdim" in kwargs:
            kwargs["keepdims"] = kwargs.pop("keepdim")
        if name in ("array", "asarray"):
            return np.asarray(args[0]) if name == "asarray" else np.array(args[0])
        return fn(*args, **kwargs)

    wrapper.__name__ = name
    return wrapper


def _registry_unary(name):
    from .._symbolic.registry import FUNCTIONS

    f = FUNCTIONS[name]

    def g(x, *args, **kwargs):
        if isinstance(x, np.ndarray) and x.dtype == object:
            out = np.empty(x.shape, dtype=object)
            for idx in np.ndindex(x.shape):
                out[idx] = f(x[idx])
            return out
        return f(x)

    g.__name__ = name
    return g


def _softplus(x):
    return np.log1p(np.exp(x))


def _silu(x):
    return x * _registry_unary("sigmoid")(x)


_EXTRA = {
    "array": lambda: _np_function("array"), "asarray": lambda: _np_function("asarray"),
    "sigmoid": lambda: _registry_unary("sigmoid"), "relu": lambda: _registry_unary("relu"),
    "softplus": lambda: _softplus, "silu": lambda: _silu, "swish": lambda: _silu,
    "erf": lambda: _registry_unary("erf"),
}
_RENAMES = {"cat": "concatenate", "concat": "concatenate", "asin": "arcsin", "acos": "arccos",
            "atan": "arctan", "atan2": "arctan2", "asinh": "arcsinh", "acosh": "arccosh",
            "atanh": "arctanh", "pow": "power", "mul": "multiply", "div": "divide",
            "sub": "subtract", "neg": "negative", "tensor": "array", "as_tensor": "asarray",
            "from_numpy": "asarray", "permute": "transpose", "t": "transpose", "mm": "matmul",
            "bmm": "matmul", "mv": "matmul", "rsqrt": None}


class _ArrayModule(types.ModuleType):
    """``jax.numpy`` / ``torch`` (and friends) as seen by a traced function: the
    names taylorjit can trace map to numpy's functions on arrays of expressions;
    the others raise a :class:`TracingError` naming the function."""

    def __init__(self, name, submodules=()):
        super().__init__(name, f"{name} as seen by taylorjit's tracer")
        self._subs = dict(submodules)

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        if attr in self._subs:
            return self._subs[attr]
        target = _RENAMES.get(attr, attr)
        if target in _EXTRA:
            return _EXTRA[target]()
        if target in _NP_OK:
            return _np_function(target)
        if attr == "linalg":
            return _LINALG
        raise TracingError(
            f"{self.__name__}.{attr} cannot be traced: the right-hand side is traced by "
            "taylorjit with symbolic states, so write it with numpy, math or taylorjit "
            "functions (np.sin, np.sqrt, tj.sigmoid, ...). The mapped "
            f"{self.__name__} functions are the element-wise math functions, sum/prod/dot/"
            "matmul/stack/concatenate and array construction; branches (where, "
            "maximum, clip) and in-place updates (x.at[i].set) are not smooth or not traceable")


class _Linalg(types.ModuleType):
    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        if attr == "norm":
            return np.linalg.norm
        raise TracingError(f"linalg.{attr} cannot be traced by taylorjit: only linalg.norm is "
                           "mapped; write the formula with sums and products")


_LINALG = _Linalg("linalg")
_PROXIES: dict = {}


def _proxy_for(v):
    """The tracer's stand-in for a JAX/PyTorch module or function ``v`` (None otherwise)."""
    if isinstance(v, types.ModuleType):
        name = v.__name__
        if name in ("jax.numpy", "torch", "jax.nn", "torch.nn.functional", "jax"):
            hit = _PROXIES.get(name)
            if hit is None:
                if name == "jax":
                    hit = _ArrayModule("jax", {"numpy": _proxy_for_name("jax.numpy"),
                                               "nn": _proxy_for_name("jax.nn")})
                else:
                    hit = _ArrayModule(name)
                _PROXIES[name] = hit
            return hit
        return None
    mod = getattr(v, "__module__", None) or ""
    framework = mod.startswith("jax") or mod.startswith("torch")
    if callable(v) and framework and not isinstance(v, type):
        name = getattr(v, "__name__", "")
        target = _RENAMES.get(name, name)
        if target in _EXTRA:
            return _EXTRA[target]()
        if target in _NP_OK:
            return _np_function(target)
    return None


def _proxy_for_name(name):
    hit = _PROXIES.get(name)
    if hit is None:
        hit = _PROXIES[name] = _ArrayModule(name)
    return hit


def _patch_globals(func):
    """A copy of ``func`` seeing symbolic ``math`` and the array-module stand-ins
    (None if nothing needs replacing)."""
    base = with_symbolic_math(func)
    f = base if base is not None else func
    g = f.__globals__
    repl = {}
    if "jax" in sys.modules or "torch" in sys.modules:
        for name, v in g.items():
            if isinstance(v, (types.ModuleType, types.FunctionType)) or callable(v):
                try:
                    r = _proxy_for(v)
                except Exception:  # noqa: BLE001 - exotic objects: leave them
                    r = None
                if r is not None:
                    repl[name] = r
    closure = f.__closure__
    new_closure = closure
    if closure and ("jax" in sys.modules or "torch" in sys.modules):
        cells = []
        for cell in closure:
            try:
                r = _proxy_for(cell.cell_contents)
            except ValueError:
                r = None
            cells.append(cell if r is None else types.CellType(r))
        if any(a is not b for a, b in zip(cells, closure)):
            new_closure = tuple(cells)
    if not repl and new_closure is closure:
        return base
    new_g = g
    if repl:
        new_g = dict(g)
        new_g.update(repl)
        for name, v in g.items():
            if isinstance(v, types.FunctionType) and (v.__globals__ is g
                                                      or v.__globals__ is func.__globals__):
                new_g[name] = _copy_func(v, new_g, v.__closure__)
    return _copy_func(f, new_g, new_closure)


def _call_user(func, y, args, what, n, scalar, flatten_out):
    """``func(y, tj.time, *args)`` with the tracer's checks (random numbers, messages)."""
    plain, self_obj = _unwrap(func)
    call = func
    if plain is not None:
        patched = _patch_globals(plain)
        if patched is not None:
            call = patched if self_obj is None else types.MethodType(patched, self_obj)
    flat_args = [a for a in args]
    with _RandomWatch(plain, flat_args) as watch:
        try:
            res = call(y, _time, *args)
        except RecursionError:
            raise
        except Exception as exc:  # noqa: BLE001 - re-raised with the user's line
            if watch.hit is None and not watch.changed():
                captured = _framework_values(plain, self_obj)
                if captured:
                    first = str(exc).splitlines()[0].split(". ")[0][:160] if str(exc) else ""
                    raise TracingError(
                        f"cannot trace {what}: it uses the array value(s) "
                        f"{', '.join(captured)} from its closure or globals ({type(exc).__name__}: "
                        f"{first}). Pass them to odeint as arguments "
                        "(odeint(func, y0, t, k)): floating-point arguments become runtime "
                        "parameters and are differentiable; or convert true constants with "
                        "float(...) / np.asarray(...)") from None
                try:
                    _raise_traced(exc, plain if plain is not None else func, what)
                except TracingError as err:
                    msg = str(err)
                    if ".at[" in msg:
                        msg += (". Hint: functional updates (x.at[i].set(v)) are not traced: "
                                "build the result with np.array([...]) / jnp.stack([...])")
                    elif "Tracer" in msg or "JAX" in msg or "jax" in msg.lower().split(":")[0]:
                        msg += (". Hint: the function is traced by taylorjit with symbolic "
                                "states; call numpy/math functions (or the jax.numpy / torch "
                                "functions taylorjit maps), not jax.lax or jitted helpers")
                    new = TracingError(msg)
                    new.filename, new.lineno = err.filename, err.lineno
                    raise new from None
            res = None
    check_random(watch, plain, what)
    if flatten_out is not None:
        res = flatten_out(res)
    return _to_components(res, n, scalar, what)


def _framework_values(func, self_obj, values=False):
    """Names of JAX/PyTorch arrays that ``func`` reads from its closure or globals
    (``values=True``: ``(name, snapshot)`` pairs of the concrete ones, part of the
    cache key, since a constant baked into the traced system must invalidate it)."""
    if func is None:
        return []
    found = []

    def is_array(v):
        mod = type(v).__module__ or ""
        return ((mod.startswith("jax") or mod.startswith("torch"))
                and hasattr(v, "shape") and hasattr(v, "dtype"))

    def add(name, v):
        if not is_array(v):
            return
        if not values:
            found.append(name)
            return
        try:
            a = np.asarray(v.detach().cpu() if hasattr(v, "detach") else v)
            found.append((name, a.dtype.str, a.shape, a.tobytes() if a.size <= 10_000 else id(v)))
        except Exception:  # noqa: BLE001 - a traced value: its use fails with a clear message
            found.append((name, id(v)))

    g = func.__globals__
    for name in func.__code__.co_names:
        if name in g:
            add(name, g[name])
    for name, cell in zip(func.__code__.co_freevars, func.__closure__ or ()):
        try:
            v = cell.cell_contents
        except ValueError:
            continue
        add(name, v)
    if self_obj is not None:
        for name, v in getattr(self_obj, "__dict__", {}).items():
            add("self." + name, v)
    return found


class ArgSpec:
    """How one argument leaf enters the traced function: ``("par", shape)`` (a block of
    runtime parameters, differentiable) or ``("const", value)`` (passed through)."""

    __slots__ = ("kind", "shape", "value")

    def __init__(self, kind, shape=(), value=None):
        self.kind, self.shape, self.value = kind, tuple(shape), value

    def key(self):
        return ("par", self.shape) if self.kind == "par" else ("const", _const_key(self.value))


def _symbolic_leaves(specs):
    out, k, sizes = [], 0, []
    for s in specs:
        if s.kind == "par":
            size = int(np.prod(s.shape, dtype=np.int64)) if s.shape else 1
            if s.shape == ():
                out.append(par[k])
            else:
                a = np.empty(s.shape, dtype=object)
                for i, idx in enumerate(np.ndindex(s.shape)):
                    a[idx] = par[k + i]
                out.append(a)
            k += size
            sizes.append(size)
        else:
            out.append(s.value)
    return out, sizes


def trace_problem(func, n, make_y, specs, rebuild_args, *, key=(), event=None,
                  flatten_out=None, what=None):
    """The :class:`ODEProblem` of ``func(y, t, *args)``, traced once and cached.

    Parameters
    ----------
    func : callable
        ``func(y, t, *args)``.
    n : int
        Number of state components.
    make_y : callable
        ``make_y(flat)``: the ``y`` passed to ``func`` from the flat object array of
        state variables (reshaping, pytrees).
    specs : list of ArgSpec
        One per argument leaf.
    rebuild_args : callable
        ``rebuild_args(leaves)``: the positional arguments from the leaves.
    key : tuple
        Structure of ``y0`` and of the arguments (part of the cache key).
    event : callable, optional
        ``event(y, t, *args)``, a scalar event function traced with the same
        arguments.
    flatten_out : callable, optional
        Turns ``func``'s result into a flat sequence of components.
    """
    plain, self_obj = _unwrap(func)
    owner = plain if plain is not None else func
    env = _environment_key(plain, self_obj) if plain is not None else ()
    if "jax" in sys.modules or "torch" in sys.modules:
        env = env + tuple(_framework_values(plain, self_obj, values=True))
    full_key = (getattr(plain, "__code__", None), id(self_obj) if self_obj is not None else None,
                env, int(n), tuple(s.key() for s in specs), key)
    if event is not None:
        ep, eself = _unwrap(event)
        full_key += (getattr(ep, "__code__", None), id(ep) if ep is not None else id(event),
                     _environment_key(ep, eself) if ep is not None else ())
    try:
        per = _PROBLEMS.setdefault(owner, {})
    except TypeError:
        per = _PROBLEMS_STRONG.setdefault(id(func), {})
    hit = per.get(full_key)
    if hit is not None:
        return hit
    leaves, sizes = _symbolic_leaves(specs)
    args = rebuild_args(leaves)
    name = what or f"{getattr(func, '__qualname__', None) or type(func).__name__}(y, t, *args)"
    flat = _state_vars(n)
    rhs = _call_user(func, make_y(flat), args, name, n, False, flatten_out)
    g = None
    if event is not None:
        ename = f"{getattr(event, '__qualname__', None) or type(event).__name__}(y, t, *args)"
        g = _call_user(event, make_y(flat), args, ename, n, True, flatten_out)[0]
    prob = ODEProblem(list(flat), rhs, sizes, event=g)
    per[full_key] = prob
    if len(per) > 32:
        per.pop(next(iter(per)))
    return prob


_PROBLEMS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_PROBLEMS_STRONG: dict = {}


# ----------------------------------------------------------------------------- expressions
class ExprSet:
    """Expressions ``e(x, t, p)`` evaluated at many points, with their derivative sets.

    ``eval(X, ts, p)``: ``X`` (B, T, d), ``ts`` (B, T), ``p`` (B, P) -> (B, T, out).
    ``d_inputs()``, ``d_time()``, ``d_pars()`` are the ExprSets of the partial
    derivatives, flattened ``(out, d)``, ``(out,)``, ``(out, P)`` row-major.

    Examples
    --------
    >>> import numpy as np, taylorjit as tj
    >>> from taylorjit._differentiable.core import ExprSet
    >>> x = tj.var("x")
    >>> es = ExprSet([tj.par[0] * x * x + tj.time], [x], 1)
    >>> es.eval(np.array([[[3.0]]]), np.array([[0.5]]), np.array([[2.0]])).ravel().tolist()
    [18.5]
    >>> X, ts, p = np.array([[[3.0]]]), np.array([[0.5]]), np.array([[2.0]])
    >>> es.d_inputs().eval(X, ts, p).ravel().tolist()
    [12.0]
    """

    def __init__(self, exprs, inputs, n_pars):
        self.exprs = [expr(e) for e in exprs]
        self.inputs = list(inputs)
        self.n_pars = int(n_pars)
        self.is_zero = all(e.op == "num" and e.value == 0.0 for e in self.exprs)
        self._ev = None
        self._d = {}
        self._lock = threading.Lock()

    @property
    def n_out(self):
        return len(self.exprs)

    def _evaluator(self):
        if self._ev is None:
            from .._integrate.variational import evaluator

            self._ev = evaluator(self.exprs, self.inputs)
        return self._ev

    def eval(self, X, ts, p):
        X = np.asarray(X, dtype=float)
        ts = np.asarray(ts, dtype=float)
        p = np.asarray(p, dtype=float)
        B, T = ts.shape
        out = np.zeros((B, T, self.n_out))
        if self.is_zero or self.n_out == 0:
            return out
        with self._lock:
            ev = self._evaluator()
            pp = np.zeros((B, max(self.n_pars, 1)))
            pp[:, :p.shape[1]] = p
            for b in range(B):
                for i in range(T):
                    out[b, i] = ev(X[b, i], pp[b], ts[b, i])
        return out

    def _derived(self, kind):
        with self._lock:
            hit = self._d.get(kind)
            if hit is not None:
                return hit
        from .._symbolic.calculus import tangent
        from .._symbolic.expr import num

        one = num(1.0)
        if kind == "x":
            cols = []
            for v in self.inputs:
                cols.append(tangent(self.exprs, {id(v): one}, {}))
            exprs = [cols[j][i] for i in range(self.n_out) for j in range(len(self.inputs))]
        elif kind == "t":
            exprs = tangent(self.exprs, {id(_time): one}, {})
        else:
            cols = [tangent(self.exprs, {id(par[q]): one}, {}) for q in range(self.n_pars)]
            exprs = [cols[q][i] for i in range(self.n_out) for q in range(self.n_pars)]
        res = ExprSet(exprs, self.inputs, self.n_pars)
        with self._lock:
            self._d.setdefault(kind, res)
            return self._d[kind]

    def d_inputs(self):
        return self._derived("x")

    def d_time(self):
        return self._derived("t")

    def d_pars(self):
        return self._derived("p")


# ----------------------------------------------------------------------------- selections
class Selection(tuple):
    """What is differentiated: ``(y0, leaves, t0)`` with ``leaves`` a tuple of booleans,
    one per parameter leaf of the arguments."""

    def __new__(cls, y0, leaves, t0):
        return super().__new__(cls, (bool(y0), tuple(bool(x) for x in leaves), bool(t0)))

    @property
    def y0(self):
        return self[0]

    @property
    def leaves(self):
        return self[1]

    @property
    def t0(self):
        return self[2]

    def union(self, other):
        return Selection(self.y0 or other.y0, tuple(a or b for a, b in zip(self.leaves,
                                                                            other.leaves)),
                         self.t0 or other.t0)

    def contains(self, other):
        return self.union(other) == self

    @property
    def empty(self):
        return not (self.y0 or self.t0 or any(self.leaves))


# ----------------------------------------------------------------------------- the problem
class ODEProblem:
    """A traced system ``y' = f(y, t, p)`` and its variational integrations.

    Attributes
    ----------
    state, rhs : list of Expr
    n : int
    leaf_sizes : tuple of int
        Number of parameters of each parameter leaf of the arguments (in order).
    n_pars : int
    event : Expr or None
        A traced event function ``g(y, t, p)``.
    fns : dict
        Per-framework caches (differentiable functions built on this problem).
    """

    def __init__(self, state, rhs, leaf_sizes, event=None):
        self.state = list(state)
        self.rhs = list(rhs)
        self.n = len(self.state)
        self.leaf_sizes = tuple(int(s) for s in leaf_sizes)
        self.offsets = tuple(int(x) for x in np.cumsum((0,) + self.leaf_sizes))
        self.n_pars = self.offsets[-1]
        self.used_pars = set(get_params(self.rhs))
        self.event = event
        self.fns = {}
        self._lock = threading.Lock()
        self._vsys = {}
        self._cols = {}
        self._gather = {}
        self._restrict = {}
        self._sets = {}
        self._pool = {}

    def __repr__(self):
        return (f"<ODEProblem: {self.n} equations, {self.n_pars} parameters in "
                f"{len(self.leaf_sizes)} leaves>")

    # -- layout --------------------------------------------------------------
    def full_selection(self):
        return Selection(True, (True,) * len(self.leaf_sizes), True)

    def columns(self, sel):
        """``(wrt, used)``: the ``wrt`` list of the variational system for ``sel`` and,
        for each of its entries, the position in the tangent vector ``dw`` (the
        selected groups concatenated: initial state, parameter leaves, initial time).
        Parameters that the right-hand side does not use are left out of ``wrt``."""
        hit = self._cols.get(sel)
        if hit is None:
            wrt, used, pos = [], [], 0
            if sel.y0:
                wrt += self.state
                used += range(self.n)
                pos += self.n
            for leaf, on in enumerate(sel.leaves):
                if not on:
                    continue
                off = self.offsets[leaf]
                for q in range(self.leaf_sizes[leaf]):
                    if off + q in self.used_pars:
                        wrt.append(par[off + q])
                        used.append(pos + q)
                pos += self.leaf_sizes[leaf]
            if sel.t0:
                wrt.append(_time)
                used.append(pos)
                pos += 1
            hit = self._cols[sel] = (wrt, np.array(used, dtype=np.int64), pos)
        return hit

    def vsys(self, sel, k):
        """The order-``k`` variational system for ``sel`` (None for ``k = 0`` or when
        nothing selected enters the right-hand side)."""
        if k == 0:
            return None
        key = (sel, k)
        with self._lock:
            hit = self._vsys.get(key, False)
        if hit is False:
            from .._integrate.variational import var_ode_sys

            wrt = self.columns(sel)[0]
            hit = var_ode_sys(list(zip(self.state, self.rhs)), wrt=wrt, order=k) if wrt else None
            with self._lock:
                hit = self._vsys.setdefault(key, hit)
        return hit

    def dim(self, sel, k):
        v = self.vsys(sel, k)
        return self.n if v is None else v.dim

    def gather(self, sel, k):
        """``(pos, fac)`` with ``dZ_k/dw'[..., q, j] = fac[q, j] * Z_{k+1}[..., pos[q, j]]``
        (``w'`` the variational system's ``wrt``)."""
        key = (sel, k)
        hit = self._gather.get(key)
        if hit is None:
            v1 = self.vsys(sel, k + 1)
            m = v1.m
            d = self.dim(sel, k)
            pos = np.empty((d, m), dtype=np.int64)
            fac = np.empty((d, m))
            for q in range(d):
                i, alpha = v1.mindex[q]
                for j in range(m):
                    a2 = alpha[:j] + (alpha[j] + 1,) + alpha[j + 1:]
                    pos[q, j] = v1._pos[(i, a2)]
                    fac[q, j] = alpha[j] + 1
            hit = self._gather[key] = (pos, fac)
        return hit

    def restrict(self, big, small, k):
        """Positions of the entries of ``Z_k`` for selection ``small`` in ``Z_k`` for
        ``big`` (``big`` contains ``small``)."""
        key = (big, small, k)
        hit = self._restrict.get(key)
        if hit is None:
            vb, vs = self.vsys(big, k), self.vsys(small, k)
            if vs is None:
                hit = np.arange(self.n, dtype=np.int64)
            else:
                where = [next(jb for jb, wb in enumerate(vb.wrt) if wb is ws) for ws in vs.wrt]
                idx = []
                for i, alpha in vs.mindex:
                    ab = [0] * vb.m
                    for j, a in enumerate(alpha):
                        ab[where[j]] = a
                    idx.append(vb._pos[(i, tuple(ab))])
                hit = np.array(idx, dtype=np.int64)
            self._restrict[key] = hit
        return hit

    # -- expression sets ---------------------------------------------------------
    def rhs_set(self, sel, k):
        """The right-hand side of ``Z_k`` (the time derivative at the output times)."""
        key = ("rhs", sel if k else None, k)
        hit = self._sets.get(key)
        if hit is None:
            v = self.vsys(sel, k)
            if v is None:
                hit = ExprSet(self.rhs, self.state, self.n_pars)
            else:
                hit = ExprSet(v.rhs, v.state_vars, self.n_pars)
            hit = self._sets.setdefault(key, hit)
        return hit

    def event_set(self):
        """``[f (n), dg/dy (n), dg/dt, dg/dp (n_pars)]`` as functions of ``(y, t, p)``."""
        hit = self._sets.get("event")
        if hit is None:
            from .._symbolic.calculus import diff

            g = self.event
            exprs = list(self.rhs) + [diff(g, v) for v in self.state] + [diff(g, _time)]
            exprs += [diff(g, par[q]) for q in range(self.n_pars)]
            hit = self._sets.setdefault("event", ExprSet(exprs, self.state, self.n_pars))
        return hit

    # -- integrations ------------------------------------------------------------
    def _take(self, key, build):
        with self._lock:
            lst = self._pool.get(key)
            if lst:
                return lst.pop()
        return build()

    def _give(self, key, ta):
        with self._lock:
            lst = self._pool.setdefault(key, [])
            if len(lst) < 4:
                lst.append(ta)

    def _system(self, sel, k):
        v = self.vsys(sel, k)
        return (list(zip(self.state, self.rhs)) if v is None else v), v

    def solve(self, sel, k, y0, ts, pars, tol, max_steps=None, hmax=None):
        """``Z_k`` at the output times: ``y0`` (B, n), ``ts`` (B, T), ``pars`` (B, P)
        -> (B, T, dim_k).  The initial time is ``ts[:, 0]``.  Rows after a failed
        integration (non-finite state, step limit) are NaN."""
        y0 = np.asarray(y0, dtype=float)
        ts = np.asarray(ts, dtype=float)
        pars = np.asarray(pars, dtype=float)
        B, T = ts.shape
        system, v = self._system(sel, k)
        dim = self.n if v is None else v.dim
        out = np.full((B, T, dim), np.nan)
        sel_key = sel if v is not None else None
        key = ("flow", sel_key, k if v is not None else 0, float(tol))
        P = max(self.n_pars, 1)
        pp = np.zeros((B, P))
        pp[:, :pars.shape[1]] = pars
        if B >= BATCH_MIN and T > 1:
            return self._solve_batch(system, v, key, y0, ts, pp, tol, max_steps, hmax, out)
        for b in range(B):
            t0 = float(ts[b, 0])
            x0 = y0[b] if v is None else v.initial_state(y0[b], pp[b], t0)
            ta = self._take(key, lambda: _new_integrator(system, x0, t0, pp[b], tol))
            try:
                ta.time = t0
                ta.state = x0
                ta.pars = pp[b]
                if T == 1:
                    out[b, 0] = x0
                    continue
                _check_times(ts[b])
                ms = None if max_steps is None else max_steps * (T - 1)
                res = ta.propagate_grid(ts[b], max_delta_t=hmax, max_steps=ms)
                out[b] = res.states
            finally:
                self._give(key, ta)
        return out

    def _solve_batch(self, system, v, key, y0, ts, pp, tol, max_steps, hmax, out):
        """``solve`` for B >= BATCH_MIN members: one batch integrator (SIMD lanes)."""
        from .._integrate.batch import TaylorAdaptiveBatch

        B, T = ts.shape
        for b in range(B):
            _check_times(ts[b])
        t0 = ts[:, 0].copy()
        x0 = y0.T.copy() if v is None else v.initial_state(y0.T, pp.T, t0)
        key = key + (B,)
        tb = self._take(key, lambda: TaylorAdaptiveBatch(system, x0, time=t0, pars=pp.T.copy(),
                                                          tol=tol))
        try:
            tb.set_time(t0)
            tb.state[:] = x0
            tb.pars[:] = pp.T
            ms = None if max_steps is None else max_steps * (T - 1)
            res = tb.propagate_grid(np.ascontiguousarray(ts.T), max_delta_t=hmax, max_steps=ms)
            out[:] = np.moveaxis(res.states, -1, 0)
        finally:
            self._give(key, tb)
        return out

    def solve_event(self, y0, t0, pars, tol, t_max, direction, max_steps=None, hmax=None):
        """First event ``g = 0`` strictly after ``t0`` (before ``t_max``): ``y0`` (B, n),
        ``t0`` (B,), ``pars`` (B, P) -> ``t_e`` (B,), ``y_e`` (B, n); NaN where no event
        occurs."""
        from .._integrate.events import Event
        from .._integrate.odesys import Outcome

        if self.event is None:
            raise ValueError("this problem has no event function")
        y0 = np.asarray(y0, dtype=float)
        t0 = np.asarray(t0, dtype=float).reshape(-1)
        B = y0.shape[0]
        P = max(self.n_pars, 1)
        pp = np.zeros((B, P))
        pp[:, :np.shape(pars)[1]] = pars
        te = np.full(B, np.nan)
        ye = np.full((B, self.n), np.nan)
        key = ("event", float(tol), direction)
        system = list(zip(self.state, self.rhs))
        ev = Event(self.event, direction=direction, terminal=True)
        for b in range(B):
            ta = self._take(key, lambda: _new_integrator(system, y0[b], float(t0[b]), pp[b],
                                                          tol, events=[ev]))
            try:
                ta.time = float(t0[b])
                ta.state = y0[b]
                ta.pars = pp[b]
                ta.reset_cooldowns()
                for _ in range(2):
                    res = ta.propagate_until(float(t_max), max_delta_t=hmax, max_steps=max_steps)
                    if res.outcome != Outcome.event or ta.time != float(t0[b]):
                        break
                if res.outcome == Outcome.event:
                    te[b] = ta.time
                    ye[b] = ta.state
            finally:
                self._give(key, ta)
        return te, ye


def _check_times(ts):
    if not np.all(np.isfinite(ts)):
        raise ValueError("the output times t contain non-finite values: pass finite times")
    d = np.diff(ts)
    if not (np.all(d > 0) or np.all(d < 0)):
        raise ValueError("the output times t must be strictly monotonic (increasing, or "
                         "decreasing to integrate backwards; no repeated times)")


def _new_integrator(system, x0, t0, pars, tol, events=None):
    from .._integrate.integrator import TaylorAdaptive

    return TaylorAdaptive(system, x0, time=t0, pars=pars, tol=tol, events=events)


# ----------------------------------------------------------------------------- helpers
def is_float_dtype(dtype):
    return np.dtype(dtype).kind == "f"


def check_direction(direction):
    """Event direction as taylorjit's word: 'any', 'positive', 'negative' (also 0, 1, -1)."""
    if isinstance(direction, str):
        if direction in ("any", "positive", "negative"):
            return direction
    elif isinstance(direction, numbers.Real) and not isinstance(direction, bool):
        if direction == 0:
            return "any"
        return "positive" if direction > 0 else "negative"
    raise ValueError(f"direction must be 'any', 'positive', 'negative' (or 0, +1, -1 as scipy), "
                     f"got {direction!r}")


def as_expr_list(x):
    """A flat list of components from a traced function's result (Expr, numbers, arrays)."""
    if isinstance(x, Expr) or isinstance(x, numbers.Real):
        return [x]
    return list(np.asarray(x, dtype=object).reshape(-1))
