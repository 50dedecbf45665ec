"""Copies and pickles of integrators for ensembles (:mod:`taylorjit._ensemble`).

:func:`clone` is the deep copy a member starts from: arrays copied, the
immutable parts (kernel, system, ...) shared.  :func:`dumps` / :func:`loads`
pickle integrators compactly for processes and clusters: only the state rows
of ``tc`` (the Taylor polynomial of the last step; the other rows are scratch
space that the next step recomputes), and the objects of a ``shared`` dict
(the template's kernel and system, which the receiving side already has) as
references by name.  A kernel that does travel pickles as its decomposition
and is reloaded from the disk cache by :func:`taylorjit._kernel.get_kernel`.
"""
from __future__ import annotations

import copy
import io
import pickle

import numpy as np

from ._batch import TaylorAdaptiveBatch
from ._events import EventBundle
from ._integrator import TaylorAdaptive

__all__ = ["clone", "dumps", "loads", "shared_of", "SHARED"]

# attributes of an integrator that are never modified in place: a copy shares them
SHARED = ("_kernel", "_sys", "_hrows", "_vsys")
_ATOMIC = (int, float, bool, str, complex, bytes)
# attributes rebuilt from the others (TaylorAdaptive._bind_jet): never copied or pickled
DERIVED = ("_head", "_plain", "_plain_addr")


def clone(ta):
    """A deep copy of an integrator that shares its immutable parts (kernel, system).

    ``copy.deepcopy`` would rebuild the expression DAG and the kernel (100 ms for
    the outer solar system) and walks every attribute generically (~150 us for
    Kepler); this copies the arrays and deep-copies only what may hold user
    objects (events and their callbacks).
    """
    memo = {}
    for name in SHARED:
        obj = ta.__dict__.get(name)
        if obj is not None:
            memo[id(obj)] = obj
    d = {}
    for k, v in ta.__dict__.items():
        if k in DERIVED:
            continue
        t = type(v)
        if t is np.ndarray:
            d[k] = v.copy()
        elif v is None or t in _ATOMIC or id(v) in memo:
            d[k] = v
        elif t is list and not v:
            d[k] = []
        elif t is EventBundle and v.n_events == 0:
            d[k] = v.copy()
        else:
            d[k] = copy.deepcopy(v, memo)
    new = object.__new__(type(ta))
    new.__dict__.update(d)
    if isinstance(new, TaylorAdaptive):
        new._bind_jet()             # the call arguments of its own arrays
    return new


def _compact_state(obj):
    """An integrator's ``__dict__`` without the scratch rows of ``tc``: only the
    state rows (the Taylor polynomial of the last step, used by dense output)
    survive a step; the other rows are recomputed by the next one."""
    state = {k: v for k, v in obj.__dict__.items() if k not in DERIVED}
    tc = state.get("_tc")
    if isinstance(tc, np.ndarray):
        n = int(obj._state.shape[0] if isinstance(obj, TaylorAdaptive) else obj._st.shape[1])
        rows = tc[:n] if tc.ndim == 2 else tc[:, :n]
        state["_tc"] = _TcRows(np.ascontiguousarray(rows), tc.shape)
    return state


class _TcRows:
    __slots__ = ("rows", "shape")

    def __init__(self, rows, shape):
        self.rows = rows
        self.shape = shape

    def expand(self):
        tc = np.zeros(self.shape)
        if tc.ndim == 2:
            tc[: self.rows.shape[0]] = self.rows
        else:
            tc[:, : self.rows.shape[1]] = self.rows
        return tc


def _new(cls):
    return object.__new__(cls)


def _set_state(obj, state):
    tc = state.get("_tc")
    if isinstance(tc, _TcRows):
        state["_tc"] = tc.expand()
    setstate = getattr(type(obj), "__setstate__", None)
    if setstate is not None and setstate is not getattr(object, "__setstate__", None):
        obj.__setstate__(state)     # e.g. TaylorAdaptive rebinds its jet address
    else:
        obj.__dict__.update(state)


def _pickle_module():
    try:
        import cloudpickle

        return cloudpickle
    except ImportError:   # pragma: no cover - cloudpickle comes with dask
        return pickle


class _Pickler(_pickle_module().Pickler):
    """Pickles integrators compactly and the objects in ``shared`` by name."""

    def __init__(self, file, shared):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._shared = {id(v): k for k, v in shared.items()}

    def persistent_id(self, obj):
        return self._shared.get(id(obj))

    def reducer_override(self, obj):
        if isinstance(obj, (TaylorAdaptive, TaylorAdaptiveBatch)):
            return _new, (type(obj),), _compact_state(obj), None, None, _set_state
        return super().reducer_override(obj) if hasattr(super(), "reducer_override") \
            else NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, shared):
        super().__init__(file)
        self._shared = shared

    def persistent_load(self, pid):
        return self._shared[pid]


def dumps(obj, shared=None):
    """Pickle ``obj``; integrators inside lose their scratch ``tc`` rows, and the
    objects of the dict ``shared`` are written as references to their names
    (give :func:`loads` a dict with the same names)."""
    buf = io.BytesIO()
    _Pickler(buf, shared or {}).dump(obj)
    return buf.getvalue()


def loads(data, shared=None):
    """Inverse of :func:`dumps`."""
    return _Unpickler(io.BytesIO(data), shared or {}).load()


def shared_of(ta):
    return {name: ta.__dict__[name] for name in SHARED if ta.__dict__.get(name) is not None}
