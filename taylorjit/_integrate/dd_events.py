"""Events of the double-double integrator (:class:`~taylorjit.DDTaylorAdaptive`).

The same :class:`~taylorjit.Event` objects and semantics as the double
integrator (:mod:`.events`, heyoka's ``t_event`` / ``nt_event``); what differs
is the arithmetic of the detection, done in the compiled loop of
:file:`_ddev_top.py` (loaded by :func:`ev_entry_points`):

* the event functions are extra outputs of the decomposition: their dd Taylor
  coefficients over a step come from the same jet, and their rows take part in
  the step-size norms (as in heyoka and the double integrator);
* on each step the roots of an event polynomial are isolated on the heads of
  its coefficients by the double root finder (:mod:`.roots`: the exclusion
  tests, Descartes' rule with bisection, Brent), then each root is polished by
  Newton's method in dd on the dd polynomial (``taylorjit._dd.poly``) and
  kept if it lies in the step ``[0, h)`` and past the cooldown, compared in dd;
* a terminal event ends the step at its dd time; the non-terminal events
  before it are logged with their absolute dd times.

This module holds the per-integrator arrays (:class:`DDEventBundle`) and the
Python side: the callbacks, called in time order after the compiled call
(:func:`drain_log`, :func:`terminal_callback`), with times as 0-d DDArrays.
"""
from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np

from .._dd.values import DDArray
from .events import DIRECTIONS, terminal_result

__all__ = ["DDEventBundle", "ev_entry_points", "drain_log", "terminal_callback",
           "OC_EVENT", "OC_EVENT_PY", "OC_BUFFER_FULL"]

# outcome codes of the compiled loop beyond dd_propagate's 0..3 (see _ddev_top.py)
OC_EVENT = 4
OC_EVENT_PY = 5
OC_BUFFER_FULL = 6

_HERE = Path(__file__).resolve().parent
_DD = _HERE.parent / "_dd"
# (the double root finder: roots.py and the modules split from it, roots_*.py)
_DEPS = [_HERE / "_ddev_top.py", _DD / "arith.py", _DD / "poly.py"]

_lock = threading.Lock()
_MOD: dict = {}


def _key() -> str:
    import numba

    from .._dd._build import source_key

    h = hashlib.sha256(numba.__version__.encode() + source_key().encode())
    for p in _DEPS + sorted(_HERE.glob("roots*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def ev_entry_points():
    """The module of ``dd_propagate_ev`` and ``dd_c_eval`` (the dd loop with events
    and continuous output): from the disk cache, compiled on first use (~30 s)."""
    mod = _MOD.get("m")
    if mod is not None:
        return mod
    with _lock:
        mod = _MOD.get("m")
        if mod is None:
            from .._codegen import cache as _cache

            name = f"ddev_{_key()}"
            path = _cache.write_source(name, (_HERE / "_ddev_top.py").read_text(encoding="utf-8"))
            mod = _cache.load_module(path, f"taylorjit_cache_{name}", {})
            _MOD["m"] = mod
    return mod


class DDEventBundle:
    """The arrays of the events of one dd integrator (all empty without events).

    ``evi`` (n_ev, 4) int: tc row, direction, terminal, has a callback; ``evf``
    (n_ev, 2): user cooldown (-1: automatic), remaining cooldown; ``rws, riv,
    rout``: the double root finder's workspace; ``cand`` (n_ev (order + 2), 5):
    the roots of a step (event, tau hi, tau lo, d_sgn, |g'|); ``elog`` (L, 4): the
    non-terminal events not yet handed to Python (event, t hi, t lo, d_sgn);
    ``eiw``: log length, terminal event of the last step (-1), Python needed;
    ``efw``: tol, d_sgn of the terminal event."""

    LOG_CAP = 256

    def __init__(self, events, slots, order, tol):
        from .roots import make_workspace

        n_ev = len(events)
        self.events = list(events)
        self.evi = np.zeros((n_ev, 4), dtype=np.int64)
        self.evf = np.zeros((n_ev, 2))
        for i, (ev, s) in enumerate(zip(events, slots)):
            self.evi[i] = (s, DIRECTIONS[ev.direction], int(ev.terminal),
                           int(ev.callback is not None))
            self.evf[i] = (-1.0 if ev.cooldown is None else ev.cooldown, 0.0)
        if n_ev:
            self.rws, self.riv, self.rout = make_workspace(order)
            self.riv = np.ascontiguousarray(self.riv)
            self.cand = np.zeros((n_ev * (order + 2), 5))
            self.elog = np.zeros((max(self.LOG_CAP, 2 * n_ev * (order + 2)), 4))
        else:
            self.rws = np.zeros((0, 0))
            self.riv = self.rout = self.cand = self.elog = np.zeros((0, 0))
        self.eiw = np.array([0, -1, 0], dtype=np.int64)
        self.efw = np.array([float(tol), 0.0])

    @property
    def n_events(self):
        return self.evi.shape[0]

    @property
    def arrays(self):
        """The arguments of the compiled loop, in its order."""
        return (self.evi, self.evf, self.rws, self.riv, self.rout, self.cand, self.elog,
                self.eiw, self.efw)

    def reset_cooldowns(self):
        self.evf[:, 1] = 0.0


def drain_log(ta, bundle, event_log):
    """The logged non-terminal events, in time order: their callbacks
    ``cb(ta, t, d_sgn)`` (``t`` a 0-d DDArray), or ``(index, t, d_sgn)`` appended to
    ``event_log``."""
    eiw = bundle.eiw
    nl = int(eiw[0])
    eiw[2] = 0
    if nl == 0:
        return
    rows = bundle.elog[:nl].tolist()
    eiw[0] = 0
    events = bundle.events
    for e, th, tl, sg in rows:
        cb = events[int(e)].callback
        t = DDArray(th, tl)
        if cb is None:
            event_log.append((int(e), t, int(sg)))
        else:
            cb(ta, t, int(sg))


def terminal_callback(ta, bundle):
    """The callback of the terminal event that ended the last step, ``cb(ta, d_sgn)``:
    True to continue, False to stop (no callback: stop)."""
    te = int(bundle.eiw[1])
    ev = bundle.events[te]
    if ev.callback is None:
        return False
    return terminal_result(ev.callback(ta, int(bundle.efw[1])), te, ev)
