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

Argument handling and cache keys live in :mod:`.tracing_args`, error reporting
and random-number detection in :mod:`.tracing_errors`.

Traced systems are cached per (function, its code, n, argument structure,
numeric globals and closure values it reads), so repeated calls do not retrace.
"""
from __future__ import annotations

import numbers
import types
import weakref
from dataclasses import dataclass

import numpy as np

from .expr import Expr, TracingError, expr, time as _time, var
from .tracing_args import _arg_key, _environment_key, _par_values, _symbolic_args, _unwrap
from .tracing_args import _const_key  # noqa: F401  (re-exported)
from .tracing_errors import _RandomWatch, _raise_traced, check_random
from .tracing_math import with_symbolic_math

__all__ = ["trace", "TracedFunction", "clear_trace_cache"]


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
    (``tj.solve_ivp`` traces its right-hand side with this function.)

    >>> import numpy as np
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

