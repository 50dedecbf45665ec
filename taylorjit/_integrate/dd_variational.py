"""Variational systems in double-double: :class:`DDVariationalMixin` of
:class:`~taylorjit.DDTaylorAdaptive`.

A :class:`~taylorjit.VarODESys` is an ordinary list of ``(var, rhs)`` pairs, so the
dd integrator propagates it as any system (its constants are integers, exact in
dd).  What this module adds is the dd side of :mod:`.taylor_map`'s
:class:`~.taylor_map.VariationalMixin`:

* the augmented initial state from the ``n`` original values, in dd: the identity
  for the wrt state variables, zeros for the parameters, and for the initial time
  the values ``c_{i,alpha}(t0)`` of :mod:`.var_eval` (rebuilt here with the
  factorials as exact divisions, evaluated by the dd evaluator);
* ``sensitivity(order)`` and ``state_derivatives`` as DDArrays (the normalised
  derivatives times ``alpha!``, one dd-by-integer product each);
* ``eval_taylor_map(dw)``: the polynomial ``sum_alpha c_{i,alpha} dw^alpha`` of the
  state's normalised derivatives, evaluated in dd (the monomials by the recursion
  ``dw^alpha = dw^parent * dw_j``, products and sums in dd, the smallest degrees
  added last).  ``taylor_map`` stays unavailable: the :class:`~taylorjit.TaylorMap`
  object and its algebra hold double coefficients.
"""
from __future__ import annotations

import numpy as np

from .._dd.values import DDArray, dd_array, dd_scalar
from .mindex import _alpha_factorial, _first_nonzero, multi_indices
from .taylor_map import VariationalAccess, _dense_layout, _map_layout, require_variational
from .variational import VarODESys

__all__ = ["DDVariationalMixin", "dd_times_int"]

_SPLIT = 134217729.0        # 2^27 + 1 (Dekker's splitting)


def _split(a):
    t = _SPLIT * a
    hi = t - (t - a)
    return hi, a - hi


def dd_times_int(h, l, f):
    """The dd arrays ``(h, l)`` times the exact doubles ``f`` (integers below 2^53):
    Dekker's exact product of the heads (no fma: numpy), the tails' product added,
    renormalised (relative error <= 2u^2, as the compiled ``mul_d``)."""
    h = np.asarray(h, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    p = h * f
    ah, al = _split(h)
    bh, bl = _split(f)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    e = e + np.asarray(l, dtype=np.float64) * f
    s = p + e
    return s, e - (s - p)


def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _fast_two_sum(a, b):
    s = a + b
    return s, b - (s - a)


def dd_mul(ah, al, bh, bl):
    """The dd product of dd arrays (Dekker's exact product of the heads, no fma:
    numpy; relative error a few u^2)."""
    p = ah * bh
    xh, xl = _split(ah)
    yh, yl = _split(bh)
    e = ((xh * yh - p) + xh * yl + xl * yh) + xl * yl
    e = e + (ah * bl + al * bh)
    return _fast_two_sum(p, e)


def dd_add(ah, al, bh, bl):
    """The dd sum of dd arrays (the accurate two-sum of heads and of tails)."""
    s, e = _two_sum(ah, bh)
    t, f = _two_sum(al, bl)
    s, e = _fast_two_sum(s, e + t)
    return _fast_two_sum(s, e + f)


def _monomial_tree(vsys):
    """``(parent, var)``: ``dw^alpha = dw^alpha[parent] * dw[var]`` for the monomials
    of :func:`.taylor_map._map_layout` (listed by degree: parents come first)."""
    hit = vsys.__dict__.get("_dd_tmap_tree")
    if hit is None:
        monomials = _map_layout(vsys)[0]
        index = {a: q for q, a in enumerate(monomials)}
        parent = np.zeros(len(monomials), dtype=np.int64)
        var = np.zeros(len(monomials), dtype=np.int64)
        for q, a in enumerate(monomials[1:], start=1):
            j = _first_nonzero(a)
            parent[q] = index[a[:j] + (a[j] - 1,) + a[j + 1:]]
            var[q] = j
        hit = vsys.__dict__["_dd_tmap_tree"] = (parent, var)
    return hit


def _t0_exprs(vsys, jt):
    """``(targets, expressions)`` of the initial values involving t0 (as in
    :func:`.var_eval._t0_initial_program`, with ``(-1)^q / gamma!`` as an exact
    division by the integer ``gamma!`` instead of a double constant)."""
    from .._symbolic.expr import diff, div, mul, nary_sum, neg
    from .._symbolic.expr import time as _time

    state = vsys.state_vars[:vsys.n_orig]
    f = vsys._orig_rhs
    n, m, k = vsys.n_orig, vsys.m, vsys.order
    s = [list(state)]
    for q in range(1, k + 1):
        nxt = []
        for g in s[-1]:
            terms = [mul(diff(g, v), fi) for v, fi in zip(state, f)]
            terms.append(diff(g, _time))
            nxt.append(div(nary_sum(terms), float(q)))
        s.append(nxt)
    leaf = list(vsys.wrt)
    derivs = {}

    def dgamma(q, gamma):
        key = (q, gamma)
        if key not in derivs:
            if not any(gamma):
                derivs[key] = s[q]
            else:
                j = _first_nonzero(gamma)
                prev = dgamma(q, gamma[:j] + (gamma[j] - 1,) + gamma[j + 1:])
                derivs[key] = [diff(g, leaf[j]) for g in prev]
        return derivs[key]

    targets, outs = [], []
    for order in range(1, k + 1):
        for i in range(n):
            for alpha in multi_indices(m, order):
                a = alpha[jt]
                if a == 0:
                    continue
                terms = []
                for q in range(1, a + 1):
                    gamma = alpha[:jt] + (a - q,) + alpha[jt + 1:]
                    t = dgamma(q, gamma)[i]
                    fac = _alpha_factorial(gamma)
                    if fac != 1:
                        t = div(t, float(fac))
                    terms.append(neg(t) if q % 2 else t)
                targets.append(vsys._pos[(i, alpha)])
                outs.append(nary_sum(terms))
    return np.array(targets, dtype=np.int64), outs


class DDVariationalMixin(VariationalAccess):
    """Variational methods of the dd integrator (the names of
    :class:`taylorjit.TaylorAdaptive`'s), with DDArray values."""

    _vsys = None

    def _init_variational(self, sys, state, pars=None, time=0.0):
        """Record a :class:`VarODESys` and return the full augmented initial state (a
        DDArray) when ``state`` holds the ``n`` original values; else ``state``."""
        self._vsys = sys if isinstance(sys, VarODESys) else None
        vsys = self._vsys
        if vsys is None:
            return state
        h, l = dd_array(list(state) if isinstance(state, tuple) else state, "state")
        h = np.atleast_1d(h)
        l = np.atleast_1d(l)
        if h.shape == (vsys.dim,) or vsys.dim == vsys.n_orig:
            return DDArray(h, l)
        if h.shape != (vsys.n_orig,):
            raise ValueError(f"initial state has shape {h.shape} but the system has "
                             f"{vsys.n_orig} original equations ({vsys.dim} with the variational "
                             f"ones): pass {vsys.n_orig} initial values (the variational ones are "
                             "filled in) or all of them")
        H = np.zeros(vsys.dim)
        L = np.zeros(vsys.dim)
        H[:vsys.n_orig] = h
        L[:vsys.n_orig] = l
        svars = vsys.state_vars[:vsys.n_orig]
        for j, w in enumerate(vsys.wrt):
            if w.op == "var":
                i = next(q for q, v in enumerate(svars) if v is w)
                H[vsys._pos[(i, tuple(int(q == j) for q in range(vsys.m)))]] = 1.0
        if any(w.op == "time" for w in vsys.wrt):
            jt = next(j for j, w in enumerate(vsys.wrt) if w.op == "time")
            hit = vsys.__dict__.get("_dd_t0")
            if hit is None:
                from .._frontends.dd_cfunc import cfunc_dd

                targets, outs = _t0_exprs(vsys, jt)
                hit = vsys.__dict__["_dd_t0"] = (targets, cfunc_dd(outs, svars, False))
            targets, g = hit
            v = g(DDArray(h, l), pars=pars, time=DDArray(*dd_scalar(time, "time")))
            H[targets] = v.hi
            L[targets] = v.lo
        return DDArray(H, L)

    @property
    def state_derivatives(self) -> DDArray:
        """The state as heyoka stores a variational state, in dd: the true derivatives
        ``D^alpha x_i`` (the state holds ``D^alpha x_i / alpha!``)."""
        vsys = require_variational(self._vsys)
        st = self.state
        return DDArray(*dd_times_int(st.hi, st.lo, vsys.factorials))

    def sensitivity(self, order=1) -> DDArray:
        """Dense tensor of the derivatives of the current state of one order, in dd
        (``1 <= order <= vorder``): shape ``(n,) + (m,) * order``, ``out[i, j1, ..,
        jk] = d^k x_i / dw_j1 .. dw_jk`` (true derivatives); for ``order=1`` and
        ``wrt="vars"`` the state-transition matrix."""
        vsys = require_variational(self._vsys)
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not (
                1 <= order <= vsys.order):
            raise ValueError(f"order must be an integer in 1..{vsys.order} (the order of the "
                             f"variational system), got {order!r}")
        pos, fac = _dense_layout(vsys, int(order))
        st = self.state
        h, l = dd_times_int(st.hi[pos], st.lo[pos], fac)
        shape = (vsys.n_orig,) + (vsys.m,) * int(order)
        return DDArray(h.reshape(shape), l.reshape(shape))

    def _no_dd(self, what):
        raise NotImplementedError(f"{what} is not available in double-double yet: read "
                                  "ta.sensitivity(k) or ta.state_derivatives (DDArrays), or use "
                                  "the double integrator")

    @property
    def taylor_map(self):
        """Not available in dd (a :class:`~taylorjit.TaylorMap` holds doubles): use
        :meth:`eval_taylor_map`, or ``ta.sensitivity(k)``."""
        raise NotImplementedError("ta.taylor_map is not available in double-double (a "
                                  "TaylorMap holds double coefficients): evaluate the map with "
                                  "ta.eval_taylor_map(dw) (in dd), or read ta.sensitivity(k)")

    def eval_taylor_map(self, delta) -> DDArray:
        """The current state predicted by the Taylor map of the variational state for
        displacement(s) ``delta`` of the wrt quantities, in dd: ``x_i(w + dw) ~
        sum_{|alpha| <= vorder} c_{i,alpha} dw^alpha`` with ``c_{i,alpha} = D^alpha x_i
        / alpha!`` the state's dd values.

        ``delta``: shape ``(m,)`` (one displacement) or ``(..., m)``, any values the dd
        integrator reads without loss (floats, decimal strings, mpmath numbers, (hi, lo)
        pairs, DDArrays).  Returns a DDArray of shape ``(n,)`` or ``(..., n)``; the
        evaluation adds a few dd units of rounding (relative to the sum of the terms'
        magnitudes) to the truncation error of the map."""
        vsys = require_variational(self._vsys, "a Taylor map")
        dh, dl = dd_array(list(delta) if isinstance(delta, tuple) else delta, "displacement")
        if dh.ndim == 0 or dh.shape[-1] != vsys.m:
            names = ", ".join(vsys.wrt_names())
            raise ValueError(f"displacement has shape {dh.shape}; expected (..., {vsys.m}): one "
                             f"value per wrt quantity ({names})")
        pos = _map_layout(vsys)[1]
        parent, var = _monomial_tree(vsys)
        lead = dh.shape[:-1]
        dwh, dwl = np.moveaxis(dh, -1, 0), np.moveaxis(dl, -1, 0)
        nmono = len(parent)
        mh = np.empty((nmono,) + lead)
        ml = np.zeros((nmono,) + lead)
        mh[0] = 1.0
        for q in range(1, nmono):
            mh[q], ml[q] = dd_mul(mh[parent[q]], ml[parent[q]], dwh[var[q]], dwl[var[q]])
        st = self.state
        ch = st.hi[pos].reshape(pos.shape + (1,) * len(lead))      # (n, nmono, 1...)
        cl = st.lo[pos].reshape(ch.shape)
        ah = np.zeros((vsys.n_orig,) + lead)
        al = np.zeros_like(ah)
        for q in range(nmono - 1, -1, -1):                  # highest degrees first
            ph, pl = dd_mul(ch[:, q], cl[:, q], mh[q], ml[q])
            ah, al = dd_add(ah, al, ph, pl)
        return DDArray(np.moveaxis(ah, 0, -1), np.moveaxis(al, 0, -1))

    def event_sensitivity(self, g):
        self._no_dd("ta.event_sensitivity")
