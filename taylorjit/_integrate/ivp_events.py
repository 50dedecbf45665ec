"""Events of :func:`~.solve_ivp.solve_ivp`: scipy-style event functions traced
and compiled into one expression kernel (:class:`_Events`), and the compiled
scan that finds the roots of expressions over every step of a chunk of
continuous output (:func:`_roots`, :func:`scan_events_jit`).  The guards of a
piecewise right-hand side (:mod:`.ivp_switching`) use the same scan.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, types

from .coutput import ContinuousOutput
from .._codegen.decompose import decompose
from .._codegen.kernel import JET_TYPE, get_kernel
from .roots import event_roots, make_workspace
from .._symbolic.expr import par, subs
from .._symbolic.tracing import trace
from .._symbolic.registry import no_refcount_opts

__all__ = ["scan_events_jit"]

# ----------------------------------------------------------------- compiled event scan
_SCAN = []


def _scan_sig():
    a1, a2, a3 = types.float64[::1], types.float64[:, ::1], types.float64[:, :, ::1]
    i1, i2 = types.int64[::1], types.int64[:, ::1]
    return types.int64(JET_TYPE(), i2, a1, a2, a3, a2, a1, i1, i1, a2, a2, a2, a2)


def scan_events_jit():
    """The compiled :func:`_scan_events` (compiled or loaded from numba's cache on first
    use, not at import)."""
    if not _SCAN:
        _SCAN.append(njit(_scan_sig(), cache=True, nogil=True, error_model="numpy",
                          **no_refcount_opts())(_scan_events))
    return _SCAN[0]


def _scan_events(jet, prog, cvals, tc, tcs, times, pars, outs, dirs, ws, iv, rout, found):
    """Roots of every event function over every step of a continuous output.

    For step ``s`` the state rows of ``tc`` get the step's Taylor coefficients,
    the expression jet computes the event functions' coefficients (rows
    ``outs``) and :func:`event_roots` finds their roots in ``[0, h)``.  Rows of
    ``found`` are ``(s, event, tau, sign of g')``; returns their number, or -1
    if ``found`` is too small."""
    ns = tcs.shape[0]
    n = tcs.shape[1]
    order = tcs.shape[2] - 1
    nf = 0
    for s in range(ns):
        for i in range(n):
            for k in range(order + 1):
                tc[i, k] = tcs[s, i, k]
        jet(tc, order, pars, times[s, 0], 1, prog, cvals)
        h = (times[s + 1, 0] - times[s, 0]) + (times[s + 1, 1] - times[s, 1])
        if h == 0.0:
            continue
        for e in range(outs.shape[0]):
            m = event_roots(tc[outs[e]], order, h, dirs[e], 0.0, ws, iv, rout)
            for r in range(m):
                if nf >= found.shape[0]:
                    return -1
                found[nf, 0] = s
                found[nf, 1] = e
                found[nf, 2] = rout[r, 0]
                found[nf, 3] = rout[r, 1]
                nf += 1
    return nf


_EVENT_KERNELS: dict = {}


class _Events:
    """scipy-style event functions, traced and compiled into one expression kernel."""

    def __init__(self, events, n, args, state_vars, complex_state=False):
        self.funcs = list(events)
        self.terminal = []
        self.direction = []
        exprs, pars = [], []
        for ev in self.funcs:
            if not callable(ev):
                raise TypeError(f"events must be callables event(t, y, *args), got {ev!r}")
            term = getattr(ev, "terminal", None)
            if term is None:
                term = 0
            elif isinstance(term, (bool, np.bool_)):
                term = 1 if term else 0
            elif isinstance(term, (int, np.integer)) and term >= 0:
                term = int(term)
            else:
                raise ValueError("The `terminal` attribute of each event must be a boolean or "
                                 f"a non-negative integer (number of occurrences), got {term!r} "
                                 f"on {getattr(ev, '__name__', ev)!r}")
            self.terminal.append(term)
            dirn = getattr(ev, "direction", 0.0)
            try:
                dirn = float(dirn)
            except (TypeError, ValueError):
                dirn = math.nan
            if math.isnan(dirn) or isinstance(getattr(ev, "direction", 0.0), (bool, np.bool_)):
                raise ValueError(f"The `direction` attribute of an event must be a number (as "
                                 f"scipy: > 0 rising, < 0 falling, 0 both), got "
                                 f"{getattr(ev, 'direction', None)!r} on "
                                 f"{getattr(ev, '__name__', ev)!r}")
            self.direction.append(int(np.sign(dirn)))
            tf = trace(ev, n, args, scalar=True, complex_state=complex_state)
            exprs.append(tf.outputs[0])
            pars.append(tf)
        # one parameter vector for all event functions (each event's parameters are
        # renumbered after the previous ones) and one expression kernel, memoised on the
        # (hash-consed) event expressions
        offset, self._par_map = 0, []
        for tf in pars:
            self._par_map.append((offset, tf))
            offset += tf.n_pars
        self.n_pars = offset
        shifted = []
        for e, (off, tf) in zip(exprs, self._par_map):
            if tf.n_pars and off:
                e = subs(e, {par[i]: par[off + i] for i in range(tf.n_pars)})
            shifted.append(e)
        self.kernel, self.outs = _expr_kernel(shifted, state_vars)

    def pars(self, args):
        p = np.zeros(max(self.n_pars, 1))
        for off, tf in self._par_map:
            p[off:off + tf.n_pars] = tf.pars(args)
        return p

    def roots(self, co: ContinuousOutput, times, pars, sign):
        """Sorted list of (step, t, event index) of the roots over the steps of ``co``."""
        dirs = np.array([d * sign for d in self.direction], dtype=np.int64)
        return _roots(self.kernel, self.outs, co, times, pars, dirs)


def _expr_kernel(exprs, state_vars):
    """(compact expression kernel, output rows) of ``exprs``, memoised on the (hash-consed)
    expressions."""
    key = (tuple(exprs), tuple(state_vars))
    hit = _EVENT_KERNELS.get(key)
    if hit is None:
        d = decompose(list(exprs), list(state_vars))
        hit = (get_kernel(d, ode=False, kind="compact"), np.array(d.outputs, dtype=np.int64))
        if len(_EVENT_KERNELS) > 256:
            _EVENT_KERNELS.pop(next(iter(_EVENT_KERNELS)))
        _EVENT_KERNELS[key] = hit
    return hit


def _roots(k, outs, co, times, pars, dirs):
    """Sorted (step, t, index) of the roots of the expressions ``outs`` of kernel ``k`` over
    the steps of ``co`` (``dirs``: crossing directions, 0 for both)."""
    tcs = co.tcs
    order = tcs.shape[2] - 1
    tc = k.new_tc(order)
    ws, iv, rout = make_workspace(order)
    cap = 8 * tcs.shape[0] * outs.shape[0] + 16
    while True:
        found = np.empty((cap, 4))
        nf = scan_events_jit()(k.jet, k.prog, k.cvals, tc, tcs, times, pars, outs, dirs, ws,
                               iv, rout, found)
        if nf >= 0:
            break
        cap *= 4
    out = []
    for s, e, tau, _ in found[:nf]:
        s = int(s)
        t = times[s, 0] + (times[s, 1] + tau)
        out.append((s, abs(tau), t, int(e)))
    out.sort()
    return [(s, t, e) for s, _, t, e in out]
