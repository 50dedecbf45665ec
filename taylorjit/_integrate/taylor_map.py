"""Reading a variational state: dense sensitivity tensors and Taylor maps.

The augmented state of a :class:`~.variational.VarODESys` holds the
normalised derivatives ``c_{i,alpha} = D^alpha x_i / alpha!``.  This module
turns it into what users ask for:

* :func:`sensitivity` -- the dense, symmetric tensor of *true* partial
  derivatives of one order, shape ``(n, m, ..., m)``;
* :func:`taylor_map` -- the order-``k`` polynomial
  ``x_i(w + dw) ~ sum_{|alpha| <= k} c_{i,alpha} dw^alpha`` as a
  :class:`~.tmap.TaylorMap` (the object and its algebra: :mod:`.tmap`,
  :mod:`.tmap_ops`), evaluated for one or many displacements and printable;
* :class:`VariationalMixin` -- the same as methods of an integrator
  (``ta.sensitivity(order)``, ``ta.taylor_map``, ``ta.eval_taylor_map(dw)``,
  ``ta.get_vslice``, ``ta.get_mindex``, ``ta.event_sensitivity(g)``).

All functions accept a state of shape ``(dim,)`` or, in batch mode,
``(dim, B)``; the batch axis stays last in the results.
"""
from __future__ import annotations

import itertools

import numpy as np

from .mindex import _alpha_factorial, multi_indices
from .tmap import TaylorMap
from .var_eval import evaluator, event_sensitivity
from .variational import VarODESys

__all__ = ["sensitivity", "taylor_map", "eval_taylor_map", "TaylorMap", "VariationalMixin",
           "require_variational"]


def require_variational(vsys, what="sensitivities"):
    """Raise a clear TypeError unless ``vsys`` is a :class:`VarODESys`."""
    if not isinstance(vsys, VarODESys):
        raise TypeError(f"{what} need a variational system: this integrator was built from a "
                        "plain system. Build it from tj.var_ode_sys(sys, wrt=..., order=k) "
                        "instead, e.g. tj.TaylorAdaptive(tj.var_ode_sys(sys, 'vars', 1), x0)")
    return vsys


def _check_state(state, vsys):
    state = np.asarray(state, dtype=float)
    if state.ndim not in (1, 2) or state.shape[0] != vsys.dim:
        raise ValueError(f"state has shape {state.shape} but the variational system has "
                         f"{vsys.dim} variables: pass the full augmented state (dim, ) or "
                         "(dim, batch)")
    return state


def _dense_layout(vsys, order):
    """Positions in the state and factorial factors of the dense tensor entries."""
    cache = vsys.__dict__.setdefault("_dense_cache", {})
    hit = cache.get(order)
    if hit is None:
        n, m = vsys.n_orig, vsys.m
        pos = np.empty((n, m ** order), dtype=np.int64)
        fac = np.empty(m ** order)
        for flat, idx in enumerate(itertools.product(range(m), repeat=order)):
            alpha = [0] * m
            for j in idx:
                alpha[j] += 1
            alpha = tuple(alpha)
            fac[flat] = _alpha_factorial(alpha)
            for i in range(n):
                pos[i, flat] = vsys._pos[(i, alpha)]
        hit = cache[order] = (pos, fac)
    return hit


def sensitivity(state, vsys, order=1):
    """Dense tensor of the true partial derivatives of one order.

    Parameters
    ----------
    state : array (dim,) or (dim, B)
        Augmented state (e.g. ``ta.state`` after a propagation).
    vsys : VarODESys
    order : int
        ``1 <= order <= vsys.order``.

    Returns
    -------
    ndarray, shape ``(n,) + (m,) * order`` (``+ (B,)`` in batch)
        ``out[i, j1, .., jk] = d^k x_i / dw_j1 .. dw_jk`` (not divided by any
        factorial; symmetric in ``j1..jk``).  For ``order=1`` and
        ``wrt="vars"`` this is the state-transition matrix.

    Examples
    --------
    On an integrator built from a variational system, ``ta.sensitivity(order)``:

    >>> import taylorjit as tj
    >>> x = tj.var("x")
    >>> ta = tj.TaylorAdaptive(tj.var_ode_sys([(x, x)], wrt="vars", order=2), [2.0])
    >>> ta.sensitivity(1)
    array([[1.]])
    """
    require_variational(vsys)
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not (
            1 <= order <= vsys.order):
        raise ValueError(f"order must be an integer in 1..{vsys.order} (the order of the "
                         f"variational system), got {order!r}")
    state = _check_state(state, vsys)
    pos, fac = _dense_layout(vsys, int(order))
    extra = state.shape[1:]
    fac = fac.reshape((1, -1) + (1,) * len(extra))
    out = state[pos] * fac
    return out.reshape((vsys.n_orig,) + (vsys.m,) * int(order) + extra)



def _map_layout(vsys):
    """``(monomials, pos, names, components)`` of :func:`taylor_map` for ``vsys``
    (cached on it: built by Python loops over every augmented variable)."""
    hit = vsys.__dict__.get("_tmap_layout")
    if hit is None:
        n, m = vsys.n_orig, vsys.m
        monomials = [a for k in range(vsys.order + 1) for a in multi_indices(m, k)]
        pos = np.array([[vsys._pos[(i, a)] for a in monomials] for i in range(n)],
                       dtype=np.int64)
        names = ["d" + w for w in vsys.wrt_names()]
        comps = [str(v) for v in vsys.state_vars[:n]]
        hit = vsys.__dict__["_tmap_layout"] = (monomials, pos, names, comps)
    return hit


def taylor_map(state, vsys) -> TaylorMap:
    """The :class:`TaylorMap` stored in an augmented state.

    Examples
    --------
    On an integrator built from a variational system, ``ta.taylor_map``:

    >>> import taylorjit as tj, numpy as np
    >>> x = tj.var("x")
    >>> ta = tj.TaylorAdaptive(tj.var_ode_sys([(x, -x)], wrt="vars", order=2), [0.5])
    >>> tm = ta.taylor_map
    >>> print(tm)
    TaylorMap of order 2 in (dx), 1 components, 3 terms each:
      x = 0.5 + 1*dx
    >>> float(tm(0.25 * np.ones(1))[0])
    0.75
    """
    require_variational(vsys, "a Taylor map")
    state = _check_state(state, vsys)
    monomials, pos, names, comps = _map_layout(vsys)
    tm = TaylorMap(state[pos], list(monomials), list(names), list(comps), vsys.order)
    tree = vsys.__dict__.get("_tmap_tree")          # the same monomials: the same tree
    if tree is None:
        tree = vsys.__dict__["_tmap_tree"] = tm._tree
    tm.__dict__["_tree"] = tree
    return tm


def eval_taylor_map(state, vsys, delta):
    """``taylor_map(state, vsys).eval(delta)`` (see :class:`TaylorMap`)."""
    return taylor_map(state, vsys).eval(delta)


class VariationalAccess:
    """The layout accessors of a variational integrator (``is_variational``, ``vsys``,
    ``n_orig_sv``, ``vorder``, ``get_vslice``, ``get_mindex``), shared by the double
    (:class:`VariationalMixin`) and double-double variational integrators; a plain
    system raises a TypeError explaining how to build a variational integrator."""

    _vsys = None

    @property
    def is_variational(self) -> bool:
        return self._vsys is not None

    @property
    def vsys(self) -> VarODESys:
        return require_variational(self._vsys, "the variational system")

    @property
    def n_orig_sv(self) -> int:
        """Number of original state variables (as heyoka)."""
        return self.vsys.n_orig

    @property
    def vorder(self) -> int:
        return self.vsys.order

    def get_vslice(self, order, component=None):
        return self.vsys.get_vslice(order, component)

    def get_mindex(self, i, flat=False):
        """``(component, alpha)`` of state variable ``i``; ``flat=True``: heyoka's list
        ``[component, *alpha]`` (see :meth:`taylorjit.VarODESys.get_mindex`)."""
        return self.vsys.get_mindex(i, flat)


class VariationalMixin(VariationalAccess):
    """Variational methods for an integrator class.

    The integrator calls ``state = self._init_variational(sys, state, pars,
    time)`` in its constructor (it records the system and, for a
    :class:`VarODESys` given the original ``n`` initial values, returns the
    full augmented initial state) and exposes ``self.state`` (``(dim,)`` or
    ``(dim, B)``).  A plain system gets the same methods, which raise a
    TypeError explaining how to build a variational integrator.
    """

    _vsys = None

    def _init_variational(self, sys, state, pars=None, time=0.0):
        self._vsys = sys if isinstance(sys, VarODESys) else None
        if self._vsys is None:
            return state
        return self._vsys.initial_state(state, pars=pars, time=time)

    @property
    def state_derivatives(self):
        """The state as heyoka stores a variational state: the true derivatives
        ``D^alpha x_i`` (taylorjit's state holds ``D^alpha x_i / alpha!``; the layout,
        ``get_vslice`` and ``get_mindex`` are the same).  A new array: to set a
        state given in heyoka's storage, ``ta.state[:] =
        ta.vsys.from_derivatives(d)``.

        Examples
        --------
        >>> import taylorjit as tj
        >>> x = tj.var("x")
        >>> ta = tj.TaylorAdaptive(tj.var_ode_sys([(x, x * x)], "vars", order=2), [0.5])
        >>> res = ta.propagate_until(1.0)
        >>> # x(t) = x0 / (1 - x0 t), so d2x/dx0^2 = 2 t / (1 - x0 t)^3 = 16 at t = 1
        >>> round(float(ta.state_derivatives[2]), 9), round(float(ta.state[2]), 9)
        (16.0, 8.0)
        """
        return require_variational(self._vsys).to_derivatives(self.state)

    def sensitivity(self, order=1):
        """Dense tensor of the derivatives of the current state of one order
        (``1 <= order <= vorder``): shape ``(n,) + (m,) * order`` (``+ (B,)`` in
        batch), ``out[i, j1, .., jk] = d^k x_i / dw_j1 .. dw_jk`` (true
        derivatives, symmetric in ``j1..jk``); for ``order=1`` and ``wrt="vars"``
        the state-transition matrix."""
        return sensitivity(self.state, require_variational(self._vsys), order)

    @property
    def taylor_map(self) -> TaylorMap:
        """The Taylor map of the current state (a :class:`TaylorMap`)."""
        return taylor_map(self.state, require_variational(self._vsys, "a Taylor map"))

    def _current_map(self):
        """The Taylor map of the current state, cached until the state changes (a
        propagation, or a write to ``ta.state``: the cache key is the state's
        bytes, compared at each call)."""
        vsys = require_variational(self._vsys, "a Taylor map")
        st = self.state
        key = st.tobytes()
        hit = self.__dict__.get("_tmap_cache")
        if hit is not None and hit[0] == key:
            return hit[1]
        tm = taylor_map(st, vsys)
        self.__dict__["_tmap_cache"] = (key, tm)
        return tm

    def eval_taylor_map(self, delta):
        """The current state predicted by the Taylor map for displacement(s)
        ``delta`` of the wrt quantities: shape ``(m,)`` (one displacement, heyoka's
        call) or ``(..., m)``; returns ``(n,)`` or ``(..., n)``, also kept in
        :attr:`tstate` (read-only).  The map is built once per state (cached until a
        propagation or a write to the state changes it): calling this in a loop over
        displacements costs a few microseconds a call, about heyoka's cost
        (``ta.taylor_map.eval(deltas)`` on a stack is faster still).  The result is a
        new array; :attr:`tstate` is a read-only view of it."""
        out = self._current_map().eval(delta)
        ts = out.view()
        ts.flags.writeable = False
        self.__dict__["_tstate"] = ts
        return out

    @property
    def tstate(self):
        """heyoka's ``tstate``: the result of the last :meth:`eval_taylor_map`, a
        read-only view (zeros, shape ``(n,)``, before the first evaluation).  heyoka
        keeps nothing else under that name: a plain integrator raises.

        Examples
        --------
        >>> import taylorjit as tj, numpy as np
        >>> x, v = tj.make_vars("x", "v")
        >>> ta = tj.TaylorAdaptive(tj.var_ode_sys([(x, v), (v, -x)], "vars", order=1),
        ...                        [0.0, 1.0])
        >>> ta.tstate
        array([0., 0.])
        >>> out = ta.eval_taylor_map(np.array([0.5, 0.0]))
        >>> ta.tstate.tolist(), ta.tstate.flags.writeable
        ([0.5, 1.0], False)
        """
        vsys = require_variational(self._vsys, "tstate (the last Taylor-map evaluation)")
        ts = self.__dict__.get("_tstate")
        if ts is None:
            extra = np.shape(self.state)[1:]
            ts = np.zeros((vsys.n_orig,) + tuple(extra))
            ts.flags.writeable = False
            self.__dict__["_tstate"] = ts
        return ts

    def event_sensitivity(self, g):
        """First-order sensitivities at a terminal event ``g(x, t) = 0`` that
        stopped the integration, corrected for the event time; returns
        ``(dx_e/dw, dt_e/dw)`` with ``dt_e/dw = -(dg/dx . phi) / (dg/dx . f +
        dg/dt)`` and ``dx_e/dw = phi + f dt_e/dw`` (``phi = sensitivity(1)``, ``f``
        the right-hand side at the event)."""
        vsys = require_variational(self._vsys)
        return state_event_sensitivity(self.state, vsys, g, getattr(self, "pars", None),
                                       float(getattr(self, "time", 0.0)))


def state_event_sensitivity(state, vsys, g, pars=None, time=0.0):
    """Corrected first-order sensitivities at an event ``g(x, t) = 0``.

    Evaluates the right-hand side and the gradient of ``g`` at the state, then
    applies :func:`.var_eval.event_sensitivity`.

    Examples
    --------
    On an integrator built from a variational system, ``ta.event_sensitivity(g)``
    (``x' = 1``, event ``x = 1``: ``t_e = 1 - x0`` and ``x(t_e) = 1`` whatever
    ``x0``):

    >>> import taylorjit as tj
    >>> x = tj.var("x")
    >>> ta = tj.TaylorAdaptive(tj.var_ode_sys([(x, 1.0 + 0 * x)], wrt="vars", order=1), [1.0])
    >>> dxdw, dtdw = ta.event_sensitivity(x - 1.0)
    >>> dxdw.tolist(), dtdw.tolist()
    ([[0.0]], [-1.0])
    """
    from .._symbolic.expr import diff, expr
    from .._symbolic.expr import time as _t

    require_variational(vsys)
    state = _check_state(state, vsys)
    if state.ndim != 1:
        raise ValueError("state_event_sensitivity works on one state: call it per batch element")
    n = vsys.n_orig
    xs = vsys.state_vars[:n]
    g = expr(g)
    key = ("_event_ev", id(g))
    cache = vsys.__dict__.setdefault("_event_cache", {})
    hit = cache.get(key)
    if hit is None:
        exprs = list(vsys._orig_rhs) + [diff(g, v) for v in xs] + [diff(g, _t)]
        hit = cache[key] = (g, evaluator(exprs, xs))
    ev = hit[1]
    vals = ev(state[:n], pars, time)
    phi = sensitivity(state, vsys, 1)
    return event_sensitivity(phi, vals[:n], vals[n:2 * n], vals[2 * n])
