"""Copies and pickles of integrators for ensembles (:mod:`taylorjit._integrate.ensemble`).

:func:`clone` is the deep copy a member starts from: arrays copied, the
immutable parts (kernel, system, ...) shared.  :func:`dumps` / :func:`loads`
pickle integrators compactly for processes and clusters: only the state rows
of ``tc`` (the Taylor polynomial of the last step; the other rows are scratch
space that the next step recomputes), and the objects of a ``shared`` dict
(the template's kernel and system, which the receiving side already has) as
references by name.  A kernel that does travel pickles as its decomposition
and is reloaded from the disk cache by :func:`taylorjit._codegen.kernel.get_kernel`.
"""
from __future__ import annotations

import copy
import io
import pickle

import numpy as np

from .batch import TaylorAdaptiveBatch
from .events import EventBundle, EventBundleBatch
from .integrator import TaylorAdaptive

__all__ = ["clone", "ClonePlan", "dumps", "loads", "shared_of", "SHARED"]

# attributes of an integrator that are never modified in place: a copy shares them
# (``_build_args``: the expressions a select branch's kernel is built from)
SHARED = ("_kernel", "_sys", "_hrows", "_vsys", "_build_args")
_ATOMIC = (int, float, bool, str, complex, bytes)
# attributes rebuilt from the others (TaylorAdaptive._bind_jet; a batch integrator's
# blocks of its own arrays' addresses, found again lazily): never copied or pickled
DERIVED = ("_head", "_plain", "_plain_addr", "_plainb", "_simdb", "_evblk", "_tmap_cache",
           "_tstate")
_F8 = np.dtype(np.float64)


def clone(ta, plan=None):
    """A deep copy of an integrator that shares its immutable parts (kernel, system).

    ``copy.deepcopy`` would rebuild the expression DAG and the kernel (100 ms for
    the outer solar system) and walks every attribute generically (~150 us for
    Kepler); this copies the arrays and deep-copies only what may hold user
    objects (events and their callbacks).  With ``plan`` (:func:`clone_plan` of
    ``ta``, unchanged since) the arrays of a scalar integrator are copied in one
    block and its jet binding is derived from the template's (~10 us instead of
    ~40 us for Kepler).
    """
    if plan is not None and plan.fast:
        return plan.clone()
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
        elif t is list and all(x is None or type(x) in _ATOMIC for x in v):
            d[k] = list(v)
        elif t is list and all(type(x) is list and not x for x in v):
            d[k] = [[] for _ in v]          # a batch integrator's per-lane event logs
        elif t is EventBundle and v.n_events == 0:
            d[k] = v.copy()
        elif t is EventBundleBatch and v.n_events == 0:
            nb = object.__new__(EventBundleBatch)
            nb.events = []
            nb.arrays = tuple(a if a.size == 0 else a.copy() for a in v.arrays)
            d[k] = nb
        elif k == "_simd" and (v is False or type(v).__name__ == "BatchKernel"):
            d[k] = v        # compiled code of this process (the blocks are per object)
        elif k == "_plainok" and t is tuple and v and id(v[0]) in memo:
            d[k] = v        # (kernel, bool)
        else:
            d[k] = copy.deepcopy(v, memo)
    new = object.__new__(type(ta))
    new.__dict__.update(d)
    if isinstance(new, TaylorAdaptive):
        new._bind_jet()             # the call arguments of its own arrays
    return new


class ClonePlan:
    """How to clone one template (a :class:`TaylorAdaptive`) fast, many times.

    Its arrays are packed in one buffer: a clone copies the buffer and takes views
    of it; the other attributes are shared or deep-copied as :func:`clone` does,
    and ``_bind_jet``'s results (the call arguments, and the plain loop's block
    whose words are the arrays' addresses) are derived from the buffer's address.
    :meth:`clone_group` makes ``b`` clones at once whose arrays are the rows of
    lane-major ``(b, ...)`` arrays, as a batch integrator keeps its lanes: the
    ensemble's batch groups propagate them in place, with nothing to copy.

    The plan is a snapshot of the template: make it after the last change.  It
    checks itself once against ``_bind_jet``; ``fast`` is False (clone falls back
    to the generic copy) when anything differs or the template is not a scalar
    integrator.
    """

    def __init__(self, ta):
        self.fast = False
        self._groups = {}
        if type(ta) is not TaylorAdaptive or not isinstance(ta.__dict__.get("_head"), tuple):
            return
        try:
            self._build(ta)
            self.fast = self._check()
        except Exception:                   # noqa: BLE001 - the generic copy then
            self.fast = False

    def _build(self, ta):
        shared = {id(ta.__dict__[n]) for n in SHARED if ta.__dict__.get(n) is not None}
        self.shared, self.lists, self.events, self.deep = {}, [], [], {}
        packed = []         # (array, name or (bundle name, index))

        def packable(v):
            return (type(v) is np.ndarray and v.flags.c_contiguous and v.dtype.itemsize == 8
                    and v.dtype.kind in "fi")

        for k, v in ta.__dict__.items():
            t = type(v)
            if k in DERIVED:
                continue
            if v is None or t in _ATOMIC or id(v) in shared:
                self.shared[k] = v
            elif packable(v):
                packed.append((v, k))
            elif t is list and not v:
                self.lists.append(k)
            elif t is EventBundle and v.n_events == 0 and all(map(packable, v.arrays)):
                # no events: the empty arrays shared, the others (words) packed
                self.events.append((k, list(v.arrays)))
                packed.extend((a, (k, i)) for i, a in enumerate(v.arrays) if a.size)
            else:
                self.deep[k] = v
        self.packed = [(key, v.copy()) for v, key in packed]
        self.named = [key for _, key in packed if type(key) is str]
        where = {id(v): key for v, key in packed}
        self.shared_memo = {id(ta.__dict__[n]): ta.__dict__[n] for n in SHARED
                            if ta.__dict__.get(n) is not None}
        # _head: the template's arrays by name, the rest as they are
        self.head = [(True, where[id(x)]) if id(x) in where else (False, x) for x in ta._head]
        self.blk_words = None
        if ta._plain is not None:
            from .plainloop import B_INIT, B_STEP, B_TC, B_XNEW, BLOCK

            blk = ta._plain[0]
            addr = {v.ctypes.data: key for v, key in packed}
            words = [("c", 0)] * BLOCK
            words[B_STEP] = ("c", int(blk[B_STEP]))
            words[B_INIT] = ("c", 1)
            for i in range(B_TC, B_XNEW + 1):       # new_block's address words
                key = addr.get(int(blk[i]))
                if key is None:
                    raise ValueError("a block word that is not an array of the integrator")
                words[i] = ("a", key)
            self.blk_words = words
        self.cls = type(ta)

    def _group_layout(self, b):
        """The buffer of ``b`` clones: each array as a ``(b, ...)`` block (64-byte
        aligned), then the ``(b, BLOCK)`` plain-loop blocks; with the template's
        values, and the blocks' address words relative to the buffer."""
        hit = self._groups.get(b)
        if hit is not None:
            return hit
        specs, off, pos = [], 0, {}
        for key, v in self.packed:
            specs.append((key, v.dtype.kind == "i", off, off + b * v.size, (b,) + v.shape))
            pos[key] = (off, v.size)
            off += -(-max(b * v.size, 1) // 8) * 8
        buf = np.zeros(off + (b * len(self.blk_words) if self.blk_words else 0))
        ibuf = buf.view(np.int64)
        for (key, isint, lo, hi, shape), (_, v) in zip(specs, self.packed):
            (ibuf if isint else buf)[lo:hi].reshape(shape)[...] = v
        blk = None
        if self.blk_words:
            nw = len(self.blk_words)
            words = ibuf[off:].reshape(b, nw)
            mask = np.zeros(nw, dtype=np.int64)
            for i, (kind, x) in enumerate(self.blk_words):
                if kind == "c":
                    words[:, i] = x
                else:
                    o, size = pos[x]
                    words[:, i] = 8 * (o + size * np.arange(b))
                    mask[i] = 1
            blk = (off, nw, mask)
        hit = self._groups[b] = (buf, specs, blk)
        return hit

    def clone(self):
        return self.clone_group(1)[0][0]

    def clone_group(self, b):
        """``(members, blocks)``: ``b`` clones, and the ``(b, ...)`` arrays whose rows
        are their arrays (``blocks[name]``)."""
        buf0, specs, blk = self._group_layout(b)
        buf = buf0.copy()
        ibuf = buf.view(np.int64)
        blocks = {}
        for key, isint, lo, hi, shape in specs:
            blocks[key] = (ibuf if isint else buf)[lo:hi].reshape(shape)
        if blk is not None:
            off, nw, mask = blk
            base = buf.ctypes.data
            words = ibuf[off:].reshape(b, nw)
            words += mask * base
            fwords = buf[off:].reshape(b, nw)
        memo0 = self.shared_memo
        members = []
        for j in range(b):
            d = self.shared.copy()
            for key in self.named:
                d[key] = blocks[key][j]
            for k in self.lists:
                d[k] = []
            for k, arrays in self.events:
                nb = object.__new__(EventBundle)
                nb.events = []
                nb.arrays = tuple([blocks[(k, i)][j] if (k, i) in blocks else a
                                   for i, a in enumerate(arrays)])
                d[k] = nb
            if self.deep:
                memo = dict(memo0)
                for k, v in self.deep.items():
                    d[k] = copy.deepcopy(v, memo)
            d["_head"] = tuple([d[x] if isa else x for isa, x in self.head])
            if blk is None:
                d["_plain"] = None
            else:
                d["_plain"] = (words[j], fwords[j])
                d["_plain_addr"] = base + 8 * (off + j * nw)
            new = object.__new__(self.cls)
            new.__dict__ = d
            members.append(new)
        return members, blocks

    def _check(self):
        """Clones against ``_bind_jet`` run on them: the same call arguments, block
        and attributes (one alone, and the last of a group)."""
        return all(self._check_one(m) for m in (self.clone(), self.clone_group(3)[0][2]))

    @staticmethod
    def _check_one(new):
        keys = set(new.__dict__)
        head, plain = new._head, new._plain
        blk = None if plain is None else plain[0].copy()
        iw = new._iw.copy()
        new._bind_jet()
        if set(new.__dict__) != keys or not np.array_equal(iw, new._iw):
            return False
        if len(head) != len(new._head) or not all(
                a is b or (type(a) is int and type(b) is int and a == b)
                for a, b in zip(head, new._head)):
            return False
        if (plain is None) != (new._plain is None):
            return False
        if plain is None:
            return True
        # words of empty arrays (never read) may differ: numpy's address of an empty view
        ref = new._plain[0].copy()
        from .plainloop import B_TC, B_XNEW

        arrs = [new._tc, new._iw, new._fw, new._state, new._pars, new._tm, new._tlim,
                new._xnew]
        for i, a in zip(range(B_TC, B_XNEW + 1), arrs):
            if a.size == 0:
                ref[i] = blk[i]
        return bool(np.array_equal(blk, ref))


def _compact_state(obj):
    """An integrator's ``__dict__`` without the scratch rows of ``tc``: only the
    state rows (the Taylor polynomial of the last step, used by dense output)
    survive a step; the other rows are recomputed by the next one."""
    state = obj.__getstate__() if hasattr(type(obj), "__getstate__") else dict(obj.__dict__)
    state = {k: v for k, v in state.items() if k not in DERIVED}
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
