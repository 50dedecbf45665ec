"""Tracing: plain numpy functions ``fun(t, y, *args)`` become taylorjit expressions.

:func:`trace` calls the user's function once with symbolic arguments:

* ``t`` is :data:`taylorjit.time`;
* ``y`` is a numpy object array of the state variables ``y0 .. y{n-1}``, so
  indexing, slicing, fancy indexing, ``len``, iteration, ``reshape``, ``@``,
  ``np.dot``, ``np.sum``, ``np.linalg.norm``, ``np.stack`` ... all run numpy's
  own object-dtype code on :class:`~taylorjit.Expr` elements;
* numeric ``args`` become runtime parameters (a float -> one ``par[i]``, a float
  array -> an object array of ``par`` of the same shape), so new values of the
  arguments reuse the compiled kernel.  Integers, booleans and other objects
  are passed through unchanged (they usually decide structure: loop counts,
  indices); they are part of the cache key.

If the function cannot run with parameters in place of its float arguments
(for instance ``range(int(n))`` with a float ``n``), or uses one as an exponent
(``x**p`` with a symbolic ``p`` would become ``exp(p log x)``, undefined for
``x < 0``), it is traced again with the float arguments as constants.

``math.sin`` and friends call ``float()`` on their argument; they are supported
by tracing a copy of the function (and of the functions of its module) whose
globals see a symbolic-aware ``math`` namespace -- nothing global is patched.
Untraceable constructs raise :class:`~taylorjit.TracingError` naming the
construct, the user's ``file:line`` and the rewrite.  Calls of random number
generators are detected (their value would be frozen into the compiled system).

Traced systems are cached per (function, its code, n, argument structure,
numeric globals and closure values it reads), so repeated calls do not retrace.
"""
from __future__ import annotations

import inspect
import numbers
import os
import random as _pyrandom
import sys
import traceback
import types
import weakref
from dataclasses import dataclass

import numpy as np

from .expr import Expr, TracingError, expr, par, time as _time, var
from .tracing_math import with_symbolic_math

__all__ = ["trace", "TracedFunction", "clear_trace_cache"]

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # taylorjit/
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__))
_STDLIB_DIR = os.path.dirname(os.path.abspath(os.__file__))


@dataclass
class TracedFunction:
    """A user function traced into expressions.

    Attributes
    ----------
    outputs : list of Expr
        The traced components (the right-hand sides, or one event function).
    state : list of Expr
        The state variables ``y0 .. y{n-1}``.
    n_pars : int
        Number of runtime parameters taken from the numeric arguments.
    par_layout : tuple
        Per argument: ``None`` (passed through) or ``(first_par, shape)``.
    constant_args : bool
        True if the float arguments were traced as constants (fallback).
    guards : list
        ``[(g, side)]``: the comparisons decided while tracing at the point
        (empty for a function without branches on symbolic values).
    piecewise : PiecewiseTrace or None
        For a function with such branches: gives the traced piece at any point.
    """

    outputs: list
    state: list
    n_pars: int
    par_layout: tuple
    constant_args: bool
    guards: list = ()
    piecewise: object = None
    selects: bool = False     # traced without a point, the outputs contain select nodes

    def pars(self, args) -> np.ndarray:
        """The runtime-parameter values for the arguments ``args``."""
        out = np.zeros(self.n_pars)
        for a, lay in zip(args, self.par_layout):
            if lay is None:
                continue
            first, shape = lay[:2]
            if len(lay) > 2:    # a complex argument (complex state): real parts, imag parts
                from .complex_state import complex_arg_values

                if np.shape(a) != shape:
                    raise ValueError(f"argument of shape {np.shape(a)} where the traced "
                                     f"function had shape {shape}")
                vals = complex_arg_values(a)
                out[first:first + vals.size] = vals
                continue
            vals = np.asarray(a, dtype=float)
            if vals.shape != shape:
                raise ValueError(f"argument of shape {vals.shape} where the traced function had "
                                 f"shape {shape}")
            out[first:first + vals.size] = vals.ravel()
        return out


# ----------------------------------------------------------------- argument classification
def _is_float_scalar(a):
    return (isinstance(a, numbers.Real) and not isinstance(a, (bool, numbers.Integral, np.bool_)))


def _is_float_array(a):
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _is_complex_arg(a):
    """A complex scalar or a non-empty complex array (parameters of a complex-state trace)."""
    return ((isinstance(a, numbers.Complex) and not isinstance(a, numbers.Real))
            or (isinstance(a, np.ndarray) and a.dtype.kind == "c" and a.size > 0))


def _const_key(a, depth=0):
    """Hashable key of a pass-through argument: its value where possible (sequences,
    dicts and arrays of numbers), else its identity plus a snapshot of its numeric
    attributes, so that mutating an argument in place is seen as a change."""
    if isinstance(a, np.ndarray):
        return ("arr", a.dtype.str, a.shape, a.tobytes() if a.dtype.kind in "biufc" else id(a))
    if depth < 4 and isinstance(a, (list, tuple)):
        return (type(a).__name__,) + tuple(_const_key(x, depth + 1) for x in a)
    if depth < 4 and isinstance(a, dict):
        return ("dict",) + tuple((repr(k), _const_key(v, depth + 1)) for k, v in a.items())
    if isinstance(a, (numbers.Number, str, bytes, type(None), bool)):
        return ("val", type(a).__name__, a)
    attrs = getattr(a, "__dict__", None)
    snap = ()
    if isinstance(attrs, dict):
        snap = tuple((k, s) for k, v in sorted(attrs.items()) if (s := _snapshot_value(v)))
    return ("id", id(a), snap)


def _symbolic_args(args, constant, cplx=False):
    """Replace numeric arguments by parameters; return (new_args, layout, n_pars)."""
    new, layout, k = [], [], 0
    for a in args:
        if not constant and cplx and _is_complex_arg(a):
            from .complex_state import complex_args

            sym, m = complex_args(a, k)
            new.append(sym)
            layout.append((k, np.shape(a), "complex"))
            k += m
        elif not constant and _is_float_scalar(a):
            new.append(par[k])
            layout.append((k, ()))
            k += 1
        elif not constant and _is_float_array(a) and a.size > 0:
            p = np.empty(a.shape, dtype=object)
            for i, idx in enumerate(np.ndindex(a.shape)):
                p[idx] = par[k + i]
            new.append(p)
            layout.append((k, a.shape))
            k += a.size
        else:
            new.append(a)
            layout.append(None)
    return tuple(new), tuple(layout), k


def _arg_key(args, constant, cplx=False):
    key = []
    for a in args:
        if not constant and cplx and _is_complex_arg(a):
            key.append(("cpars", np.shape(a)))
        elif not constant and _is_float_scalar(a):
            key.append(("par",))
        elif not constant and _is_float_array(a) and a.size > 0:
            key.append(("pars", a.shape))
        else:
            key.append(_const_key(a))
    return tuple(key)


# ----------------------------------------------------------------- what the function reads
def _unwrap(fun):
    """(python function, bound self or None) behind ``fun``."""
    if isinstance(fun, types.FunctionType):
        return fun, None
    if isinstance(fun, types.MethodType) and isinstance(fun.__func__, types.FunctionType):
        return fun.__func__, fun.__self__
    call = getattr(type(fun), "__call__", None)
    if isinstance(call, types.FunctionType):
        return call, fun
    return None, None


def _snapshot_value(v):
    if isinstance(v, (bool, numbers.Number)):
        return ("num", type(v).__name__, v)
    if isinstance(v, np.ndarray) and v.dtype.kind in "biufc" and v.size <= 10_000:
        return ("arr", v.dtype.str, v.shape, v.tobytes())
    return None


def _environment_key(func, self_obj):
    """Numeric globals / closure cells / attributes that ``func`` reads (cache validity)."""
    key = []
    g = func.__globals__
    for name in func.__code__.co_names:
        if name in g:
            s = _snapshot_value(g[name])
            if s is not None:
                key.append((name, s))
    for name, cell in zip(func.__code__.co_freevars, func.__closure__ or ()):
        try:
            s = _snapshot_value(cell.cell_contents)
        except ValueError:  # empty cell
            continue
        if s is not None:
            key.append((name, s))
    if self_obj is not None:
        for name, v in sorted(getattr(self_obj, "__dict__", {}).items()):
            s = _snapshot_value(v)
            if s is not None:
                key.append(("self." + name, s))
    return tuple(key)


# ----------------------------------------------------------------- random-number detection
_RNG_TYPES = (np.random.RandomState, np.random.Generator, _pyrandom.Random)


def _is_library_file(filename):
    fn = os.path.abspath(filename)
    return (fn.startswith(_PKG_DIR) or fn.startswith(_NUMPY_DIR) or fn.startswith(_STDLIB_DIR)
            or filename.startswith("<frozen"))


def _rng_state(g):
    st = g.bit_generator.state if isinstance(g, np.random.Generator) else g.get_state(legacy=False)
    return _freeze(st)


def _freeze(obj):
    """A cheaply comparable copy of a generator state (dicts of ints and arrays)."""
    if isinstance(obj, dict):
        return tuple((k, _freeze(v)) for k, v in obj.items())
    if isinstance(obj, np.ndarray):
        return obj.tobytes()
    return obj


class _RandomWatch:
    """Detects random numbers drawn while tracing.

    Python's ``random`` functions are seen by a profile hook (with the user's
    line); numpy generators are Cython methods that profile hooks do not see, so
    the states of the global numpy generator and of the generators the function
    can reach (arguments, globals, closure) are compared before and after.
    """

    def __init__(self, func, args):
        self.hit = None
        self.previous = None
        rngs = [np.random.mtrand._rand]
        cands = list(args)
        if func is not None:
            g = func.__globals__
            cands += [g[nm] for nm in func.__code__.co_names if nm in g]
            for cell in func.__closure__ or ():
                try:
                    cands.append(cell.cell_contents)
                except ValueError:
                    pass
        rngs += [c for c in cands if isinstance(c, (np.random.Generator, np.random.RandomState))]
        self.rngs = rngs
        self.before = [_rng_state(r) for r in rngs]

    def changed(self):
        return any(_rng_state(r) != b for r, b in zip(self.rngs, self.before))

    def __call__(self, frame, event, arg):
        if self.hit is None and event == "c_call":
            owner = getattr(arg, "__self__", None)
            if isinstance(owner, _RNG_TYPES) and not _is_library_file(frame.f_code.co_filename):
                self.hit = (getattr(arg, "__name__", "?"), frame.f_code.co_filename,
                            frame.f_lineno, frame.f_code.co_name, "random")

    def __enter__(self):
        self.previous = sys.getprofile()
        if self.previous is None:
            sys.setprofile(self)
        return self

    def __exit__(self, *exc):
        if self.previous is None:
            sys.setprofile(None)
        return False


def _random_line(func):
    """(file, line, name) of the first source line of ``func`` mentioning random numbers."""
    try:
        lines, first = inspect.getsourcelines(func)
        fname = inspect.getsourcefile(func)
    except (OSError, TypeError):
        return None
    for i, ln in enumerate(lines):
        if "random" in ln or "rng" in ln:
            return fname, first + i, func.__name__
    return fname, first, func.__name__


# ----------------------------------------------------------------- error reporting
_BRANCH_HINT = ("a branch on a symbolic value is decided where the function is traced at a "
                "point: tj.solve_ivp's right-hand side handles it (each branch becomes a "
                "smooth piece, switched at the exact crossing). Elsewhere (event functions, "
                "expressions built for tj.TaylorAdaptive/cfunc) write tj.select(cond, a, b)")
_HINTS = [
    ("np.where", "np.where: " + _BRANCH_HINT),
    ("np.select", "np.select: " + _BRANCH_HINT),
    ("np.piecewise", "np.piecewise: " + _BRANCH_HINT),
    ("np.clip", "np.clip: " + _BRANCH_HINT),
    ("np.maximum", "np.maximum/np.minimum: " + _BRANCH_HINT),
    ("np.minimum", "np.maximum/np.minimum: " + _BRANCH_HINT),
    ("max(", "max()/min(): " + _BRANCH_HINT),
    ("min(", "max()/min(): " + _BRANCH_HINT),
    ("np.sign", "np.sign: " + _BRANCH_HINT),
    ("if ", _BRANCH_HINT),
    ("math.", "math.* functions convert their argument to float; use np.sin, np.sqrt ... (or "
              "tj.sin ...) inside the right-hand side"),
    ("np.empty(", "do not write into a float array created with np.empty/np.zeros: build the "
                  "result with np.array([...]) or a list, or create it with "
                  "np.zeros(n, dtype=object)"),
    ("np.zeros(", "do not write into a float array created with np.empty/np.zeros: build the "
                  "result with np.array([...]) or a list, or create it with "
                  "np.zeros(n, dtype=object)"),
]


def _user_frame(tb, func):
    """(filename, lineno, name, line) of the innermost frame in user code."""
    best = None
    code = getattr(func, "__code__", None)
    for fs, (frame, lineno) in zip(traceback.extract_tb(tb), traceback.walk_tb(tb)):
        if frame.f_code is code:
            best = (fs.filename, lineno, fs.name, fs.line or "")
        elif not _is_library_file(fs.filename):
            best = (fs.filename, lineno, fs.name, fs.line or "")
    return best


def _raise_traced(exc, func, what):
    where = _user_frame(exc.__traceback__, func)
    msg = str(exc)
    if isinstance(exc, TypeError) and "loop of ufunc does not support" in msg:
        msg = ("a numpy function that taylorjit cannot trace was applied to an array of "
               f"symbolic expressions ({msg}). Supported numpy functions: arithmetic, **, "
               "np.sin/cos/tan/arcsin/arccos/arctan/arctan2/sinh/cosh/tanh/exp/expm1/log/"
               "log1p/sqrt/square, np.dot, @, np.sum, np.linalg.norm")
    elif not isinstance(exc, TracingError):
        msg = f"{type(exc).__name__}: {msg}"
    line = ""
    if where is not None:
        fname, lineno, name, src = where
        line = f"\n    {fname}:{lineno}, in {name}: {src.strip()}"
        for key, hint in _HINTS:
            if key in src:
                msg += f". Hint: {hint}"
                break
    err = TracingError(f"cannot trace {what}: {msg}{line}")
    err.filename, err.lineno = (where[0], where[1]) if where else (None, None)
    raise err from None


# ----------------------------------------------------------------- tracing proper
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_CACHE_STRONG: dict = {}


def clear_trace_cache():
    """Forget all traced functions."""
    _CACHE.clear()
    _CACHE_STRONG.clear()


def _state(n):
    y = np.empty(n, dtype=object)
    for i in range(n):
        y[i] = var(f"y{i}")
    return y


def _to_components(res, n, scalar, what):
    if isinstance(res, Expr) or isinstance(res, numbers.Real):
        arr = np.empty(1, dtype=object)
        arr[0] = res
    else:
        try:
            arr = np.asarray(res, dtype=object)
        except ValueError as e:
            raise TracingError(f"{what} returned a ragged sequence ({e}): return a flat list or "
                               "np.array of its components") from None
        arr = arr.reshape(-1)
        for i, a in enumerate(arr):     # np.where(cond, a, b) of scalars is a 0-d array
            if isinstance(a, np.ndarray) and a.ndim == 0:
                arr[i] = a[()]
        if arr.size and any(isinstance(a, (np.ndarray, list, tuple)) for a in arr):
            raise TracingError(f"{what} returned nested sequences: return a flat list or "
                               "np.array of its components")
    want = 1 if scalar else n
    if arr.size != want:
        if scalar:
            raise TracingError(f"{what} returned {arr.size} values: an event function must "
                               "return one scalar")
        raise TracingError(f"{what} returned {arr.size} components but the state has {n}: "
                           "return one derivative per state component (y0 has length "
                           f"{n})")
    out = []
    for i, a in enumerate(arr):
        if a is None:
            raise TracingError(f"component {i} returned by {what} is None (was it created with "
                               "np.empty_like(y) and never assigned?): assign every component "
                               "or build the result with np.array([...])")
        try:
            out.append(expr(a))
        except TypeError as e:
            raise TracingError(f"component {i} returned by {what}: {e}") from None
    return out


def check_random(watch, plain, what):
    """Raise the TracingError of a :class:`_RandomWatch` that saw random numbers drawn
    while ``plain`` (the user's function, or None) was traced."""
    if watch.hit is None and watch.changed():
        where = _random_line(plain) if plain is not None else None
        fname, lineno, code_name = where or ("?", 0, "?")
        watch.hit = ("<generator>", fname, lineno, code_name, "numpy.random")
    if watch.hit is not None:
        name, fname, lineno, code_name, mod = watch.hit
        err = TracingError(
            f"cannot trace {what}: it draws random numbers ({mod}.{name}) at "
            f"{fname}:{lineno}, in {code_name}. The value drawn while tracing would be frozen "
            "into the compiled system. Draw the random values outside and pass them in args "
            "(float arguments become runtime parameters); stochastic equations are not "
            "supported")
        err.filename, err.lineno = fname, lineno
        raise err


def _call_traced(func, n, args, t_symbol, scalar, what):
    y = _state(n)
    user = getattr(func, "_tj_traced_fun", func)   # the user's function behind a complex state
    plain, _ = _unwrap(user)
    with _RandomWatch(plain, args) as watch:
        try:
            res = func(t_symbol, y, *args)
        except RecursionError:
            raise
        except Exception as exc:  # noqa: BLE001 - re-raised with the user's line
            if watch.hit is None and not watch.changed():
                _raise_traced(exc, user, what)
            res = None
    check_random(watch, plain, what)
    return _to_components(res, n, scalar, what)


def _parametric_exponent(outputs):
    """True if some power has a non-numeric exponent made of parameters only."""
    from .expr import topo_order

    for node in topo_order(outputs):
        if node.op == "pow" and node.args[1].op != "num":
            leaves = {x.op for x in topo_order([node.args[1]]) if not x.args}
            if leaves <= {"par", "num"}:
                return True
    return False


class PiecewiseTrace:
    """The pieces of a function with Python branches on symbolic values.

    :meth:`at` returns the smooth :class:`~taylorjit._symbolic.guards.Piece` that the
    function traces to at a point: a known piece whose guards all hold there,
    else a new trace with the guards decided at the point (``forced`` imposes
    the sides of guards that have just changed sign)."""

    MAX_PIECES = 256

    def __init__(self, call, n, sym_args, t_symbol, what, state, par_values):
        self._call, self._n, self._sym_args = call, n, sym_args
        self._t_symbol, self._what = t_symbol, what
        self.state = state
        self.pieces = []
        self.default_pars = par_values

    def env(self, y):
        return {id(v): float(x) for v, x in zip(self.state, y)}

    def at(self, t, y, pars, forced=None):
        from .guards import Piece

        forced = forced or {}
        env = self.env(y)
        for p in self.pieces:
            if p.matches(env, pars, t, forced):
                return p
        outputs, guards = _trace_at(self._call, self._n, self._sym_args, self._t_symbol,
                                    self._what, env, pars, t, forced)
        piece = Piece(outputs, guards)
        for p in self.pieces:
            if p.key == piece.key:
                return p
        if len(self.pieces) >= self.MAX_PIECES:
            raise TracingError(f"{self._what} traced to more than {self.MAX_PIECES} different "
                               "branch combinations: its comparisons do not partition the state "
                               "space into a few smooth regions (a data-dependent loop?)")
        self.pieces.append(piece)
        return piece


def _trace_at(call, n, sym_args, t_symbol, what, env, pars, t, forced):
    """Trace ``call`` deciding comparisons at the point; return (outputs, guards)."""
    from .guards import GuardContext, guard_scope, resolve

    ctx = GuardContext(env, pars, t, forced)
    with guard_scope(ctx):
        outputs = _call_traced(call, n, sym_args, t_symbol, False, what)
        outputs = resolve(outputs, ctx)
    return outputs, ctx.guards


def _par_values(args, layout, n_pars):
    out = np.zeros(n_pars)
    for a, lay in zip(args, layout):
        if lay is not None and len(lay) > 2:    # a complex argument
            from .complex_state import complex_arg_values

            vals = complex_arg_values(a)
            out[lay[0]:lay[0] + vals.size] = vals
        elif lay is not None:
            first, shape = lay
            out[first:first + int(np.prod(shape, dtype=int))] = np.asarray(a, dtype=float).ravel()
    return out


def trace(fun, n, args=(), *, t_symbol=None, scalar=False, mode="auto",
          point=None, complex_state=False) -> TracedFunction:
    """Trace a numpy function ``fun(t, y, *args)`` into taylorjit expressions.

    Parameters
    ----------
    fun : callable
        ``fun(t, y, *args)`` written for ``scipy.integrate.solve_ivp``.
    n : int
        Number of state components.
    args : tuple
        Extra arguments.  Floats and float arrays become runtime parameters
        (``par[i]``); other values are passed through as they are.
    t_symbol : Expr, optional
        What ``t`` is during tracing (default: :data:`taylorjit.time`).
    scalar : bool
        ``fun`` returns one scalar (an event function) instead of ``n`` components.
    mode : {"auto", "pars", "const"}
        ``"pars"``: float arguments are parameters; ``"const"``: they are baked in
        as constants; ``"auto"``: parameters, falling back to constants if the
        function cannot run with symbolic arguments.
    point : (t, y), optional
        Trace at this point: comparisons of symbolic values (``if``, ``min``,
        ``np.where`` ...) are decided there and recorded as guards, and the
        result's ``piecewise`` gives the pieces at other points.  Without a
        point such comparisons raise :class:`~taylorjit.TracingError`.
    complex_state : bool
        ``y`` is complex with ``n`` components (:mod:`taylorjit._symbolic.complex`): the
        traced system has ``2n`` real variables, real parts first, then imaginary
        parts (``point`` gives them in this layout); the outputs are the ``2n``
        real parts of the derivatives (an event function returns a real value).
        Complex arguments become pairs of runtime parameters.

    Returns
    -------
    TracedFunction

    Raises
    ------
    TracingError
        For constructs that cannot be traced; the message names the construct,
        the source line and the rewrite.

    Examples
    --------
    >>> import numpy as np
    >>> from taylorjit._symbolic.tracing import trace
    >>> def f(t, y, k):
    ...     return np.array([y[1], -k * np.sin(y[0])])
    >>> tf = trace(f, 2, args=(9.8,))
    >>> tf.outputs
    [y1, (-par[0])*sin(y0)]
    >>> tf.pars((9.8,))
    array([9.8])
    """
    if mode not in ("auto", "pars", "const"):
        raise ValueError(f"mode must be 'auto', 'pars' or 'const', not {mode!r}")
    n = int(n)
    if n < 1:
        raise ValueError(f"the state must have at least one component, got n = {n}")
    args = tuple(args or ())
    t_symbol = _time if t_symbol is None else t_symbol
    cplx = bool(complex_state)
    n_c, n = n, (2 * n if cplx else n)   # a complex state: 2n real variables
    func, self_obj = _unwrap(fun)
    what = f"{getattr(fun, '__qualname__', None) or type(fun).__name__}(t, y, *args)"

    cache_owner = func if func is not None else fun
    env = _environment_key(func, self_obj) if func is not None else ()
    base = (getattr(func, "__code__", None), id(self_obj) if self_obj is not None else None,
            n, scalar, id(t_symbol), env) + (("complex",) if cplx else ())
    try:
        per_fun = _CACHE.setdefault(cache_owner, {})
    except TypeError:  # not weak-referenceable
        per_fun = _CACHE_STRONG.setdefault(id(fun), {})
    for constant in ((False, True) if mode == "auto" else ((mode == "const"),)):
        key = base + (constant, _arg_key(args, constant, cplx))
        hit = per_fun.get(key)
        if hit is not None and not (hit.selects and point is not None and not scalar) \
                and not (point is None and hit.piecewise is not None):
            if hit.piecewise is None:
                return hit
            pars = _par_values(args, hit.par_layout, hit.n_pars)
            piece = hit.piecewise.at(float(point[0]), point[1], pars)
            return TracedFunction(piece.outputs, hit.state, hit.n_pars, hit.par_layout,
                                  hit.constant_args, piece.guards, hit.piecewise)

    call = fun
    if func is not None:
        patched = with_symbolic_math(func)
        if patched is not None:
            call = patched if self_obj is None else types.MethodType(patched, self_obj)
    if cplx:
        from .complex_state import complex_call

        call = complex_call(call, n_c, scalar)

    attempts = (False, True) if mode == "auto" else ((mode == "const"),)
    for i, constant in enumerate(attempts):
        sym_args, layout, n_pars = _symbolic_args(args, constant, cplx)
        guards = ()
        try:
            if point is None or scalar:
                outputs = _call_traced(call, n, sym_args, t_symbol, scalar, what)
            else:
                state = list(_state(n))
                pars = _par_values(args, layout, n_pars)
                env = {id(v): float(x) for v, x in zip(state, point[1])}
                outputs, guards = _trace_at(call, n, sym_args, t_symbol, what, env, pars,
                                            float(point[0]), {})
        except TracingError:
            if i + 1 < len(attempts) and n_pars > 0:
                continue
            raise
        if not constant and i + 1 < len(attempts) and _parametric_exponent(outputs):
            continue  # x**p with p a parameter would become exp(p*log(x)): use constants
        pw = None
        if guards:
            from .guards import Piece

            pw = PiecewiseTrace(call, n, sym_args, t_symbol, what, list(_state(n)), None)
            pw.pieces.append(Piece(outputs, guards))
        tf = TracedFunction(outputs, list(_state(n)), n_pars, layout, constant, list(guards), pw)
        if point is None:
            from .guards import has_select

            tf.selects = has_select(outputs)
        per_fun[base + (constant, _arg_key(args, constant, cplx))] = tf
        if len(per_fun) > 64:  # a function traced with many different constants
            per_fun.pop(next(iter(per_fun)))
        return tf
    raise AssertionError("unreachable")  # pragma: no cover

