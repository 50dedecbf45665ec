"""Reading a variational state: dense sensitivity tensors and Taylor maps.

The augmented state of a :class:`~taylorjit._variational.VarODESys` holds the
normalised derivatives ``c_{i,alpha} = D^alpha x_i / alpha!``.  This module
turns it into what users ask for:

* :func:`sensitivity` -- the dense, symmetric tensor of *true* partial
  derivatives of one order, shape ``(n, m, ..., m)``;
* :class:`TaylorMap` -- the order-``k`` polynomial
  ``x_i(w + dw) ~ sum_{|alpha| <= k} c_{i,alpha} dw^alpha``, evaluated for one
  or many displacements and printable;
* :class:`VariationalMixin` -- the same as methods of an integrator
  (``ta.sensitivity(order)``, ``ta.taylor_map``, ``ta.eval_taylor_map(dw)``,
  ``ta.get_vslice``, ``ta.get_mindex``, ``ta.event_sensitivity(g)``).

All functions accept a state of shape ``(dim,)`` or, in batch mode,
``(dim, B)``; the batch axis stays last in the results.
"""
from __future__ import annotations

import itertools

import numpy as np

from ._variational import VarODESys, _alpha_factorial, event_sensitivity, evaluator, multi_indices

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
    >>> import taylorjit as tj, numpy as np
    >>> from taylorjit._variational import var_ode_sys
    >>> from taylorjit._taylor_map import sensitivity
    >>> x = tj.var("x")
    >>> vsys = var_ode_sys([(x, x)], wrt="vars", order=2)
    >>> sensitivity(vsys.initial_state([2.0]), vsys, order=1)
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


class TaylorMap:
    """The order-``k`` Taylor map of the state in the wrt displacements.

    ``x_i(w + dw) = sum_{|alpha| <= k} coeffs[i, a] * dw^monomials[a]``
    up to ``O(|dw|^(k+1))``.  Evaluate with ``tm(dw)`` / ``tm.eval(dw)``;
    ``print(tm)`` lists the polynomials.

    Attributes
    ----------
    coeffs : ndarray (n, K) (``(n, K, B)`` in batch)
        Normalised coefficients (``D^alpha x_i / alpha!``).
    monomials : list of tuple
        The ``K`` multi-indices, by increasing total order (the zero one first).
    names : list of str
        Names of the displacements (``dx``, ``dpar[0]``, ``dt0``).
    components : list of str
        Names of the state variables.
    order : int
    """

    def __init__(self, coeffs, monomials, names, components, order):
        self.coeffs = coeffs
        self.monomials = monomials
        self.names = names
        self.components = components
        self.order = order
        m = len(names)
        # monomial recursion: mono[a] = mono[parent[a]] * dw[var[a]]
        index = {a: q for q, a in enumerate(monomials)}
        self._parent = np.zeros(len(monomials), dtype=np.int64)
        self._var = np.zeros(len(monomials), dtype=np.int64)
        for q, a in enumerate(monomials[1:], start=1):
            j = next(j for j in range(m) if a[j])
            self._parent[q] = index[a[:j] + (a[j] - 1,) + a[j + 1:]]
            self._var[q] = j

    @property
    def n(self):
        return self.coeffs.shape[0]

    @property
    def m(self):
        return len(self.names)

    def eval(self, delta):
        """Evaluate the map at displacement(s) ``delta``.

        Parameters
        ----------
        delta : array (..., m) (``(..., m, B)`` in batch)
            One displacement of the wrt quantities, or a stack of them.

        Returns
        -------
        ndarray (..., n) (``(..., n, B)`` in batch)
        """
        delta = np.asarray(delta, dtype=float)
        batch = self.coeffs.ndim == 3
        ax = -2 if batch else -1
        if delta.ndim < (2 if batch else 1) or delta.shape[ax] != self.m or (
                batch and delta.shape[-1] != self.coeffs.shape[2]):
            want = f"(..., {self.m}, {self.coeffs.shape[2]})" if batch else f"(..., {self.m})"
            raise ValueError(f"displacement has shape {delta.shape}; expected {want}: one value "
                             f"per wrt quantity ({', '.join(self.names)})")
        dw = np.moveaxis(delta, ax, 0)                     # (m, ...)
        mono = np.empty((len(self.monomials),) + dw.shape[1:])
        mono[0] = 1.0
        for q in range(1, len(self.monomials)):
            mono[q] = mono[self._parent[q]] * dw[self._var[q]]
        if batch:  # mono (K, ..., B), coeffs (n, K, B)
            out = np.einsum("nkb,k...b->n...b", self.coeffs, mono)
            return np.moveaxis(out, 0, -2)
        out = np.tensordot(self.coeffs, mono, axes=([1], [0]))  # (n, ...)
        return np.moveaxis(out, 0, -1)

    __call__ = eval

    def _term(self, c, alpha):
        mono = "*".join(self.names[j] + (f"^{a}" if a > 1 else "")
                        for j, a in enumerate(alpha) if a)
        return f"{c:.10g}" + (f"*{mono}" if mono else "")

    def __str__(self, max_terms=12, max_components=12):
        lines = [f"TaylorMap of order {self.order} in ({', '.join(self.names)}), "
                 f"{self.n} components, {len(self.monomials)} terms each:"]
        if self.coeffs.ndim == 3:
            lines[0] += f" batch of {self.coeffs.shape[2]} (showing element 0)"
        c = self.coeffs if self.coeffs.ndim == 2 else self.coeffs[:, :, 0]
        for i in range(min(self.n, max_components)):
            terms = [self._term(c[i, q], a) for q, a in enumerate(self.monomials) if c[i, q] != 0.0]
            more = len(terms) - max_terms
            text = " + ".join(terms[:max_terms]).replace("+ -", "- ") or "0"
            if more > 0:
                text += f" + ... ({more} more terms)"
            lines.append(f"  {self.components[i]} = {text}")
        if self.n > max_components:
            lines.append(f"  ... ({self.n - max_components} more components)")
        return "\n".join(lines)

    def __repr__(self):
        return (f"<TaylorMap order={self.order} n={self.n} m={self.m} "
                f"terms={len(self.monomials)}>")


def taylor_map(state, vsys) -> TaylorMap:
    """The :class:`TaylorMap` stored in an augmented state.

    Examples
    --------
    >>> import taylorjit as tj
    >>> from taylorjit._variational import var_ode_sys
    >>> from taylorjit._taylor_map import taylor_map
    >>> x = tj.var("x")
    >>> vsys = var_ode_sys([(x, -x)], wrt="vars", order=2)
    >>> tm = taylor_map(vsys.initial_state([0.5]), vsys)
    >>> print(tm)
    TaylorMap of order 2 in (dx), 1 components, 3 terms each:
      x = 0.5 + 1*dx
    >>> float(tm(0.25 * np.ones(1))[0])
    0.75
    """
    require_variational(vsys, "a Taylor map")
    state = _check_state(state, vsys)
    n, m = vsys.n_orig, vsys.m
    monomials = [a for k in range(vsys.order + 1) for a in multi_indices(m, k)]
    pos = np.array([[vsys._pos[(i, a)] for a in monomials] for i in range(n)], dtype=np.int64)
    names = ["d" + w for w in vsys.wrt_names()]
    comps = [str(v) for v in vsys.state_vars[:n]]
    return TaylorMap(state[pos], monomials, names, comps, vsys.order)


def eval_taylor_map(state, vsys, delta):
    """``taylor_map(state, vsys).eval(delta)`` (see :class:`TaylorMap`)."""
    return taylor_map(state, vsys).eval(delta)


class VariationalMixin:
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

    def get_mindex(self, i):
        """``(component, alpha)`` of state variable ``i`` (see
        :meth:`taylorjit.VarODESys.get_mindex`)."""
        return self.vsys.get_mindex(i)

    def sensitivity(self, order=1):
        """Dense tensor of the derivatives of the current state of one order
        (see :func:`taylorjit._taylor_map.sensitivity`)."""
        return sensitivity(self.state, require_variational(self._vsys), order)

    @property
    def taylor_map(self) -> TaylorMap:
        """The Taylor map of the current state (a :class:`TaylorMap`)."""
        return taylor_map(self.state, require_variational(self._vsys, "a Taylor map"))

    def eval_taylor_map(self, delta):
        """The current state predicted by the Taylor map for displacement(s)
        ``delta`` of the wrt quantities."""
        return self.taylor_map.eval(delta)

    def event_sensitivity(self, g):
        """First-order sensitivities at a terminal event ``g(x, t) = 0`` that
        stopped the integration, corrected for the event time; returns
        ``(dx_e/dw, dt_e/dw)`` (see
        :func:`taylorjit._variational.event_sensitivity`)."""
        vsys = require_variational(self._vsys)
        return state_event_sensitivity(self.state, vsys, g, getattr(self, "pars", None),
                                       float(getattr(self, "time", 0.0)))


def state_event_sensitivity(state, vsys, g, pars=None, time=0.0):
    """Corrected first-order sensitivities at an event ``g(x, t) = 0``.

    Evaluates the right-hand side and the gradient of ``g`` at the state, then
    applies :func:`taylorjit._variational.event_sensitivity`.

    Examples
    --------
    >>> import taylorjit as tj, numpy as np
    >>> from taylorjit._variational import var_ode_sys
    >>> from taylorjit._taylor_map import state_event_sensitivity
    >>> x = tj.var("x")
    >>> vsys = var_ode_sys([(x, 1.0 + 0 * x)], wrt="vars", order=1)
    >>> dxdw, dtdw = state_event_sensitivity(np.array([1.0, 1.0]), vsys, x - 1.0)
    >>> dxdw.tolist(), dtdw.tolist()
    ([[0.0]], [-1.0])
    """
    from ._expr import diff, expr
    from ._expr import time as _t

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
