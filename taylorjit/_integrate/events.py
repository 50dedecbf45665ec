"""Events: conditions ``g(t, x, par) = 0`` located exactly during integration.

This module owns the user-facing :class:`Event` and the glue between events
and the integrator:

* :func:`prepare_events` validates events against a system (variables,
  parameters) and returns their expressions, which the integrator appends to
  the decomposition outputs (extra rows of ``tc``: their Taylor coefficients
  over a step come from the same jet, and they take part in the step-size
  norms, as in heyoka);
* :class:`EventBundle` holds the preallocated arrays that the compiled loops
  use (configuration, cooldowns, root-finding workspace, the event log);
  its ``.arrays`` tuple is one numba argument of type :func:`EV_TYPE`;
* :func:`detect_events` (numba, inlined into the compiled step) finds the
  roots of every event polynomial on the step (:mod:`taylorjit._integrate.roots`),
  truncates the step at the first terminal event, logs the non-terminal events
  before it with their exact times, and manages cooldowns;
* :func:`drain_log` (Python) runs the callbacks in time order.

Semantics follow heyoka (``t_event`` / ``nt_event``): detection on the
half-open step ``[0, h)``; a terminal event ends the step exactly at the event;
its callback ``cb(ta, d_sgn)`` returns True to continue or False to stop (no
callback: stop); a non-terminal callback ``cb(ta, t, d_sgn)`` is called after
the step, in time order, with the exact event time (``ta.update_d_output(t)``
gives the state there); after a terminal event the event is ignored for a
cooldown (``10 g_eps / |g'|`` unless given) so it does not trigger again at
its own time.
"""
from __future__ import annotations

import enum
import math

import numpy as np
from numba import njit, types

from .._dd.arith import add_d as dd_add_d
from .._symbolic.expr import Expr, expr as _to_expr, get_variables
from .roots import (auto_cooldown, fast_exclude, make_workspace, roots_on_step, sort_rows_by_abs,
    wrong_direction)
from .._symbolic.registry import no_refcount_opts

__all__ = ["Event", "EventBundle", "EventBundleBatch", "prepare_events", "detect_events",
           "detect_events_full",
           "EV_TYPE", "EVB_TYPE", "lane_bundle", "drain_log", "run_terminal_callback",
           "terminal_result", "DIRECTIONS", "E_NLOG", "E_TERM", "E_NEEDPY", "NO_TERM", "EF_TOL",
           "EF_DSGN"]

DIRECTIONS = {"any": 0, "positive": 1, "negative": -1}
_DIR_NAMES = {v: k for k, v in DIRECTIONS.items()}

# evi columns (int config per event)
EI_SLOT, EI_DIR, EI_TERM, EI_CB = range(4)
# evf columns (float per event): user cooldown (-1: automatic), remaining cooldown
EF_CD, EF_REM = range(2)
# eiw (int state): log length, terminal event of the last step (NO_TERM: none), Python needed
E_NLOG, E_TERM, E_NEEDPY = range(3)
NO_TERM = -1
# efw (float state): tolerance, d_sgn of the terminal event of the last step
EF_TOL, EF_DSGN = range(2)
_EPS = float(np.finfo(float).eps)


class Event:
    """An event ``g = 0`` for :class:`~taylorjit.TaylorAdaptive` (``events=[...]``).

    Parameters
    ----------
    expr : Expr or number
        The event function ``g``; may use the state variables of the system,
        ``tj.par[i]`` and ``tj.time``.  The event triggers where ``g`` crosses
        zero (a tangential contact, e.g. a double root, is not a crossing).
    direction : {"any", "positive", "negative"}
        Only crossings where ``g`` increases (``"positive"``) or decreases
        (``"negative"``) in time -- also when integrating backwards, as in
        heyoka; with ``"any"`` both (default).
    terminal : bool
        A terminal event ends the step exactly at the event time; the
        propagation stops there unless its callback returns True.
    callback : callable, optional
        Terminal: ``callback(ta, d_sgn) -> bool``, called with the integrator at
        the event (state and time at the event; the callback may change
        ``ta.state`` and ``ta.pars``); return True to continue the propagation,
        False to stop it.  Without a callback a terminal event stops.  Either
        way ``ta.step()`` reports ``Outcome.event`` (as heyoka).
        Non-terminal: ``callback(ta, t, d_sgn)``, called after the step in
        which the event occurred, in time order, with the exact event time
        ``t`` (``ta.update_d_output(t)`` gives the state at ``t``); the return
        value is ignored.  Without a callback a non-terminal event is recorded
        in ``ta.event_log`` as ``(index, t, d_sgn)`` (detection then runs
        entirely in compiled code).  ``d_sgn`` is the sign of ``dg/dt`` at the
        event (+1, -1, or 0).
    cooldown : float, optional
        Terminal events only: after triggering, the event is ignored for this
        long (in time), so that it does not trigger again at its own time.
        Default: automatic, ``10 g_eps / |dg/dt|`` with ``g_eps`` the error
        estimate of the step (heyoka's rule).

    Examples
    --------
    A ball dropped from 10 m, bouncing with restitution 0.9:

    >>> import taylorjit as tj
    >>> y, v = tj.make_vars("y", "v")
    >>> impacts = []
    >>> def bounce(ta, d_sgn):
    ...     impacts.append(ta.time)
    ...     ta.state[1] = -0.9 * ta.state[1]
    ...     return True                       # continue (False: stop here)
    >>> ground = tj.Event(y, direction="negative", terminal=True, callback=bounce)
    >>> ta = tj.TaylorAdaptive([(y, v), (v, -9.8)], [10.0, 0.0], events=[ground], compact=True)
    >>> res = ta.propagate_until(5.0)
    >>> [round(t, 12) for t in impacts]        # sqrt(20 / 9.8), then + 2 * 0.9 * 14 / 9.8
    [1.428571428571, 4.0]

    Without a callback, the terminal event stops the propagation:

    >>> ta = tj.TaylorAdaptive([(y, v), (v, -9.8)], [10.0, 0.0],
    ...                        events=[tj.Event(y, terminal=True)], compact=True)
    >>> res = ta.propagate_until(5.0)
    >>> res.outcome, res.event_index, round(ta.time, 12)
    (<Outcome.event>, 0, 1.428571428571)
    """

    __slots__ = ("expr", "direction", "terminal", "callback", "cooldown")

    def __init__(self, expr, *, direction="any", terminal=False, callback=None, cooldown=None):
        if isinstance(expr, bool) or not isinstance(expr, (Expr, int, float, np.floating,
                                                             np.integer)):
            raise TypeError(f"the event function must be a taylorjit expression (built from "
                            f"tj.make_vars, tj.par, tj.time), got {type(expr).__name__} "
                            f"{expr!r}")
        direction = getattr(direction, "value", direction)     # event_direction members
        if direction not in DIRECTIONS:
            raise ValueError(f"invalid event direction {direction!r}: use 'any', 'positive' "
                             "(g increasing) or 'negative' (g decreasing)")
        if callback is not None and not callable(callback):
            raise TypeError(f"the event callback must be callable (a function "
                            f"{'cb(ta, d_sgn)' if terminal else 'cb(ta, t, d_sgn)'}), got "
                            f"{type(callback).__name__} {callback!r}")
        if cooldown is not None:
            if not terminal:
                raise ValueError("cooldown applies to terminal events only (a non-terminal "
                                 "event never stops the step at its own time): drop cooldown= "
                                 "or pass terminal=True")
            cooldown = float(cooldown)
            if not (cooldown >= 0.0 and math.isfinite(cooldown)):
                raise ValueError(f"cooldown must be a finite number >= 0, got {cooldown!r} "
                                 "(None: automatic)")
        self.expr = _to_expr(expr)
        self.direction = direction
        self.terminal = bool(terminal)
        self.callback = callback
        self.cooldown = cooldown

    def __repr__(self):
        kind = "terminal" if self.terminal else "non-terminal"
        name = getattr(self.callback, "__name__", "cb")
        cb = "" if self.callback is None else f", callback={name}"
        cd = "" if self.cooldown is None else f", cooldown={self.cooldown!r}"
        return f"Event({self.expr}, direction={self.direction!r}, {kind}{cb}{cd})"


def prepare_events(events, svars):
    """Validate ``events`` for a system with state variables ``svars``.

    Returns the list of :class:`Event` (a new list) and their expressions.
    Raises clear errors for non-events and for unknown variables.
    """
    if events is None:
        return [], []
    if isinstance(events, Event):
        events = [events]
    try:
        events = list(events)
    except TypeError:
        raise TypeError(f"events must be a list of tj.Event, got {type(events).__name__}") from None
    names = [v.value for v in svars]
    known = set(names)
    for i, ev in enumerate(events):
        if not isinstance(ev, Event):
            raise TypeError(f"events[{i}] is a {type(ev).__name__}, not a tj.Event: wrap the "
                            f"expression as tj.Event(expr, ...)")
        for u in get_variables(ev.expr):
            if u.value not in known:
                raise ValueError(f"event {i} ({ev.expr}) uses the variable '{u.value}', which is "
                                 f"not a state variable of the system ({', '.join(names)}): "
                                 "events may use the state variables, tj.par[i] and tj.time")
    return events, [ev.expr for ev in events]


# --------------------------------------------------------------------------- compiled part
def EV_TYPE():  # noqa: N802 - a type computed lazily
    """numba type of :attr:`EventBundle.arrays` (one argument of the compiled loops)."""
    i1, i2 = types.int64[::1], types.int64[:, ::1]
    a1, a2 = types.float64[::1], types.float64[:, ::1]
    return types.Tuple((i2, a2, a2, a2, a2, a2, a2, i1, a1))


def EVB_TYPE():  # noqa: N802
    """numba type of :attr:`EventBundleBatch.arrays` (per-lane evf, log, eiw, efw)."""
    i2 = types.int64[:, ::1]
    a2, a3 = types.float64[:, ::1], types.float64[:, :, ::1]
    return types.Tuple((i2, a3, a2, a2, a2, a2, a3, i2, a2))


class EventBundle:
    """Preallocated event arrays for one integrator (or one batch lane).

    ``arrays = (evi, evf, ws, iv, out, cand, log, eiw, efw)``:

    ``evi`` (n_ev, 4) int: tc row, direction, terminal, has callback;
    ``evf`` (n_ev, 2): user cooldown (-1 automatic), remaining cooldown;
    ``ws``, ``iv``, ``out``: root-finding workspace (:func:`taylorjit._integrate.roots.make_workspace`);
    ``cand`` (n_ev * (order + 2), 4): roots of the step (event, tau, d_sgn, |g'|);
    ``log`` (L, 4): non-terminal events (event, t_hi, t_lo, d_sgn) not yet handed to Python;
    ``eiw``: ``[n_log, terminal event of the last step or -1, python needed]``;
    ``efw``: ``[tol, d_sgn of the terminal event]``.
    With no events all arrays are empty and detection costs nothing.
    """

    LOG_CAP = 256

    def __init__(self, events, slots, order, tol):
        n_ev = len(events)
        self.events = list(events)
        evi = np.zeros((n_ev, 4), dtype=np.int64)
        evf = np.zeros((n_ev, 2))
        for i, (ev, s) in enumerate(zip(events, slots)):
            evi[i] = (s, DIRECTIONS[ev.direction], int(ev.terminal), int(ev.callback is not None))
            evf[i] = (-1.0 if ev.cooldown is None else ev.cooldown, 0.0)
        if n_ev:
            ws, iv, out = make_workspace(order)
            cand = np.zeros((n_ev * (order + 2), 4))
            log = np.zeros((max(self.LOG_CAP, 2 * n_ev * (order + 2)), 4))
        else:
            ws = np.zeros((0, 0))
            iv = out = cand = log = np.zeros((0, 0))
        eiw = np.array([0, NO_TERM, 0], dtype=np.int64)
        efw = np.array([float(tol), 0.0])
        self.arrays = (evi, evf, ws, np.ascontiguousarray(iv), out, cand, log, eiw, efw)

    @property
    def n_events(self):
        return self.arrays[0].shape[0]

    def reset_cooldowns(self):
        self.arrays[1][:, EF_REM] = 0.0

    @property
    def last_terminal(self):
        """Index of the terminal event that ended the last step, or -1."""
        return int(self.arrays[7][E_TERM])

    @property
    def last_dsgn(self):
        return int(self.arrays[8][EF_DSGN])

    def copy(self):
        new = object.__new__(EventBundle)
        new.events = list(self.events)
        new.arrays = tuple(a.copy() for a in self.arrays)
        return new


class EventBundleBatch:
    """The arrays of :class:`EventBundle` for a batch integrator: the per-lane
    state (cooldowns, log, flags) gets a leading lane axis, the configuration
    and the scratch space are shared (lanes run one after the other)."""

    def __init__(self, events, slots, order, tol, batch):
        one = EventBundle(events, slots, order, tol)
        evi, evf, ws, iv, out, cand, log, eiw, efw = one.arrays
        self.events = one.events
        rep = lambda a: np.ascontiguousarray(np.repeat(a[None], batch, axis=0))  # noqa: E731
        self.arrays = (evi, rep(evf), ws, iv, out, cand, rep(log), rep(eiw), rep(efw))

    @property
    def n_events(self):
        return self.arrays[0].shape[0]

    def lane(self, b):
        """An :class:`EventBundle` view of lane ``b`` (shares memory)."""
        new = object.__new__(EventBundle)
        new.events = self.events
        a = self.arrays
        new.arrays = (a[0], a[1][b], a[2], a[3], a[4], a[5], a[6][b], a[7][b], a[8][b])
        return new

    def reset_cooldowns(self):
        self.arrays[1][:, :, EF_REM] = 0.0


@njit(inline="always", error_model="numpy")
def lane_bundle(evb, b):
    """Lane ``b`` of a batch event bundle, as the scalar bundle tuple."""
    return (evb[0], evb[1][b], evb[2], evb[3], evb[4], evb[5], evb[6][b], evb[7][b], evb[8][b])


@njit(inline="always", error_model="numpy")
def detect_events(tc, order, hrows, tm, h, ev):
    """Events of the step of size ``h`` starting at time ``tm`` (double-length): see
    :func:`detect_events_full`, which this calls unless every event is excluded on
    the step by :func:`taylorjit._integrate.roots.fast_exclude` and none is in its cooldown
    (then the result is the same: no root, no log, nothing to advance).

    Inlined into the compiled step: on most steps that is all the event detection
    costs (no call passing the event arrays, ~100 words, for nothing)."""
    evi = ev[0]
    evf = ev[1]
    n_ev = evi.shape[0]
    if n_ev == 0:
        ev[7][E_TERM] = NO_TERM
        return h
    if h == 0.0 or not math.isfinite(h):
        ev[7][E_TERM] = NO_TERM
        return h
    for e in range(n_ev):
        if evf[e, EF_REM] > 0.0 or not fast_exclude(tc[evi[e, EI_SLOT]], order, h):
            return detect_events_full(tc, order, hrows, tm, h, ev)
    ev[7][E_TERM] = NO_TERM
    return h


@njit(cache=True, nogil=True, error_model="numpy", **no_refcount_opts())
def detect_events_full(tc, order, hrows, tm, h, ev):
    """Events of the step of size ``h`` starting at time ``tm`` (double-length).

    Returns the step to take: ``h``, or the time offset of the first terminal
    event (then ``eiw[E_TERM]`` is its index and ``efw[EF_DSGN]`` the sign of
    ``dg/dt``).  Non-terminal events before it are appended to the log with
    their absolute times; ``eiw[E_NEEDPY]`` is set when one of them has a
    Python callback or the log is half full.  Cooldowns are advanced by the
    returned step, and set for a triggering terminal event.
    """
    evi, evf, ws, iv, out, cand, log, eiw, efw = ev
    n_ev = evi.shape[0]
    eiw[E_TERM] = NO_TERM
    if n_ev == 0:
        return h
    if h == 0.0 or not math.isfinite(h):
        return h
    # g_eps: error estimate of the Taylor series of state and events (heyoka)
    a = 0.0
    for j in range(hrows.shape[0]):
        v = abs(tc[hrows[j], 0])
        if not (v <= a):
            a = v
    if not math.isfinite(a):
        return h
    tol = efw[EF_TOL]
    r = tol if a < 1.0 else tol * a
    g_eps = _EPS * a if r < _EPS * a else r
    nc = 0
    for e in range(n_ev):
        g = tc[evi[e, EI_SLOT]]
        if fast_exclude(g, order, h):      # (the prefilter's steps with a cooldown)
            continue
        cd = evf[e, EF_REM] if evi[e, EI_TERM] == 1 else 0.0
        if wrong_direction(g, order, h, evi[e, EI_DIR]):
            continue
        m = roots_on_step(g, order, h, evi[e, EI_DIR], cd, ws, iv, out)
        for i in range(m):
            if nc < cand.shape[0]:
                cand[nc, 0] = e
                cand[nc, 1] = out[i, 0]
                cand[nc, 2] = out[i, 1]
                cand[nc, 3] = out[i, 2]
                nc += 1
    # time order (stable, so ties keep the event order)
    sort_rows_by_abs(cand, nc, 1)
    best = -1
    for c in range(nc):
        if evi[int(cand[c, 0]), EI_TERM] == 1:
            best = c
            break
    h_new = h if best < 0 else cand[best, 1]
    lim = math.inf if best < 0 else abs(h_new)
    nl = eiw[E_NLOG]
    for c in range(nc):
        e = int(cand[c, 0])
        if evi[e, EI_TERM] == 1:
            continue
        if not (abs(cand[c, 1]) < lim):
            break
        if nl < log.shape[0]:
            thi, tlo = dd_add_d(tm[0], tm[1], cand[c, 1])
            log[nl, 0] = e
            log[nl, 1] = thi
            log[nl, 2] = tlo
            log[nl, 3] = cand[c, 2]
            nl += 1
        if evi[e, EI_CB] == 1:
            eiw[E_NEEDPY] = 1
    eiw[E_NLOG] = nl
    if 2 * nl >= log.shape[0]:
        eiw[E_NEEDPY] = 1
    ah = abs(h_new)
    for e in range(n_ev):
        if evf[e, EF_REM] > 0.0:
            rem = evf[e, EF_REM] - ah
            evf[e, EF_REM] = rem if rem > 0.0 else 0.0
    if best >= 0:
        e = int(cand[best, 0])
        cdu = evf[e, EF_CD]
        evf[e, EF_REM] = cdu if cdu >= 0.0 else auto_cooldown(g_eps, cand[best, 3])
        eiw[E_TERM] = e
        efw[EF_DSGN] = cand[best, 2]
        eiw[E_NEEDPY] = 1
    return h_new


def drain_log(ta, bundle, event_log, lane=None):
    """Hand the logged non-terminal events to Python, in time order: call their
    callbacks ``cb(ta, t, d_sgn)`` (batch: ``cb(ta, t, d_sgn, lane)``) or append
    ``(index, t, d_sgn)`` to ``event_log``.

    Called once per compiled call that logged an event with a Python callback
    (Hénon–Heiles section: 310 times in 2 ms), so it is written for a small fixed
    cost: one ``tolist`` of the log rows (Python floats, no numpy scalars), the
    callbacks looked up in a list."""
    arrays = bundle.arrays
    eiw = arrays[7]
    nl = eiw.item(E_NLOG)
    if nl == 0:
        eiw[E_NEEDPY] = 0
        return
    rows = arrays[6][:nl].tolist()
    eiw[E_NLOG] = 0
    eiw[E_NEEDPY] = 0
    events = bundle.events
    for e, thi, tlo, sg in rows:
        cb = events[int(e)].callback
        if cb is None:
            event_log.append((int(e), thi, int(sg)))
        elif lane is None:
            cb(ta, thi, int(sg))
        else:
            cb(ta, thi, int(sg), lane)


def run_terminal_callback(ta, bundle, lane=None):
    """Callback of the terminal event that ended the last step (batch: called
    as ``cb(ta, d_sgn, lane)``).  Returns True to continue, False to stop."""
    te = bundle.last_terminal
    ev = bundle.events[te]
    if ev.callback is None:
        return False
    if lane is None:
        r = ev.callback(ta, bundle.last_dsgn)
    else:
        r = ev.callback(ta, bundle.last_dsgn, lane)
    return terminal_result(r, te, ev)


def terminal_result(r, te, ev):
    """The terminal callback's return value ``r`` as a bool (True: continue), or a
    TypeError naming event ``te`` when it is not a bool."""
    if r is True or r is False:
        return r
    if not isinstance(r, np.bool_):
        raise TypeError(f"the callback of terminal event {te} ({ev.expr}) returned {r!r}: "
                        "return True to continue the propagation or False to stop it")
    return bool(r)


class event_direction(enum.Enum):  # noqa: N801 - heyoka's name
    """heyoka's event directions, accepted wherever taylorjit takes ``direction=``
    (``"any"``, ``"positive"``, ``"negative"``)."""

    any = "any"
    positive = "positive"
    negative = "negative"


def t_event(expr_, callback=None, direction="any", cooldown=None):
    """heyoka's terminal event: ``Event(expr_, terminal=True, ...)``.

    ``callback(ta, d_sgn)`` returns True to continue the propagation, False to stop
    it; ``direction`` is a string or an :class:`event_direction`.  Pass the events
    to an integrator as ``t_events=[...]`` (heyoka's keyword) or ``events=[...]``.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x, v = tj.make_vars("x", "v")
    >>> ev = tj.t_event(v, direction=tj.event_direction.negative)
    >>> ta = tj.TaylorAdaptive([(x, v), (v, -x)], [0.0, 1.0], t_events=[ev])
    >>> oc = ta.propagate_until(10.0)[0]
    >>> oc == tj.Outcome.event, -int(oc) - 1, round(ta.time, 12)
    (True, 0, 1.570796326795)
    """
    return Event(expr_, direction=direction, terminal=True, callback=callback, cooldown=cooldown)


def nt_event(expr_, callback, direction="any"):
    """heyoka's non-terminal event: ``Event(expr_, terminal=False, callback=...)`` with
    ``callback(ta, t, d_sgn)``.  Pass it as ``nt_events=[...]`` or ``events=[...]``."""
    return Event(expr_, direction=direction, terminal=False, callback=callback)
