"""Framework-neutral tracing of a right-hand side ``func(y, t, *args)`` written for
JAX or PyTorch: :func:`trace_problem` calls it once with symbolic states (and
symbolic parameters for the floating-point argument leaves, :class:`ArgSpec`),
with ``jax.numpy``/``torch`` replaced by stand-ins that map their functions to
numpy's on arrays of expressions, and caches the resulting
:class:`~.problem.ODEProblem`.  Nothing here imports JAX or PyTorch.
"""
from __future__ import annotations

import numbers
import sys
import types
import weakref

import numpy as np

from .._symbolic.expr import Expr, TracingError, par, time as _time
from .._symbolic.tracing import _state as _state_vars, _to_components
from .._symbolic.tracing_args import _const_key, _environment_key, _unwrap
from .._symbolic.tracing_errors import _RandomWatch, _raise_traced, check_random
from .._symbolic.tracing_math import _copy_func, with_symbolic_math
from .problem import ODEProblem


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


def as_expr_list(x):
    """A flat list of components from a traced function's result (Expr, numbers, arrays)."""
    if isinstance(x, Expr) or isinstance(x, numbers.Real):
        return [x]
    return list(np.asarray(x, dtype=object).reshape(-1))
