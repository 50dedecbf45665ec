"""Argument handling of the tracer (:mod:`.tracing`): parameters, cache keys, what a function reads.

Numeric arguments of ``fun(t, y, *args)`` become runtime parameters
(:func:`_symbolic_args`, with :func:`_par_values` their values); the other
arguments, and the numeric globals, closure cells and attributes the function
reads (:func:`_environment_key`), are part of the trace cache key, so that a
change of any of them retraces.  Used by :mod:`.tracing` and the
differentiable front end.
"""
from __future__ import annotations

import numbers
import types

import numpy as np

from .expr import par


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
