"""The traced problem and its forward-sensitivity solves: :class:`ODEProblem` (a
system ``y' = f(y, t, p)`` with its variational systems, gathers, restrictions
and integrations), :class:`Selection` (what is differentiated) and
:class:`ExprSet` (expressions evaluated at many points, with their derivative
sets).  :mod:`.trace` builds the problems; nothing here imports JAX or PyTorch.

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

import threading

import numpy as np

from .._symbolic.expr import expr, get_params, par, time as _time
from .options import _check_times

BATCH_MIN = 4       # batches of at least this many members run as lanes of a batch integrator


# ----------------------------------------------------------------------------- expressions
class ExprSet:
    """Expressions ``e(x, t, p)`` evaluated at many points, with their derivative sets.

    ``eval(X, ts, p)``: ``X`` (B, T, d), ``ts`` (B, T), ``p`` (B, P) -> (B, T, out).
    ``d_inputs()``, ``d_time()``, ``d_pars()`` are the ExprSets of the partial
    derivatives, flattened ``(out, d)``, ``(out,)``, ``(out, P)`` row-major.

    Examples
    --------
    >>> import numpy as np, taylorjit as tj
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


def _new_integrator(system, x0, t0, pars, tol, events=None):
    from .._integrate.integrator import TaylorAdaptive

    return TaylorAdaptive(system, x0, time=t0, pars=pars, tol=tol, events=events)
