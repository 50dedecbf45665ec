"""The scalar integrator's single steps and the Python side of its events and callbacks.

:class:`StepEventsMixin` gives :class:`~taylorjit.TaylorAdaptive` its ``step()`` /
``step_backward()`` (the fused step through the LLVM plain loop, or the compiled
``step_entry`` of :mod:`taylorjit._integrate.stepper`), dense output inside the last
step (``update_d_output``), and the glue between the compiled loops and Python
code: the event callbacks after a compiled call (:meth:`StepEventsMixin._handle_events`)
and the two Python loops around the two-argument event loop of
:mod:`taylorjit._integrate.evloop` (events without a step callback, a step callback
without events).  The propagation drivers that call them are in
:mod:`taylorjit._integrate.integrator`; the state they act on is built by
:mod:`taylorjit._integrate.integrator_core`.
"""
from __future__ import annotations

import math

from . import stepper as S
from .drivers_common import (_PROPAGATING, EMPTY1 as _EMPTY1, EMPTY2 as _EMPTY2,
    EMPTY3 as _EMPTY3, OUTCOMES, grow_c, reentrant_error)
from .._dd.arith import py_add as _dd_add
from .events import E_NEEDPY as _E_NEEDPY, E_NLOG as _E_NLOG, E_TERM as _E_TERM
from .events import EF_DSGN as _EF_DSGN
from .events import drain_log, run_terminal_callback, terminal_result
from .evloop import INIT as _EB_INIT, EvBlock, entry as _evloop_entry
from .odesys import Outcome, StepResult, check_time
from .plainloop import dense as _dense, single_step as _single_step
from .stepcodes import CB_STOP

__all__ = ["StepEventsMixin"]

_OC_EVENT_PY, _OC_EVENT = S.OC_EVENT_PY, S.OC_EVENT
_STEP = None


def _step_entry():
    """The compiled one-step entry without numba's dispatch
    (``stepper.entry_direct("step_entry")``), kept in a global: one lookup per call."""
    global _STEP
    _STEP = S.entry_direct("step_entry")
    return _STEP


class StepEventsMixin:
    """``step()``, dense output and the event / callback glue of
    :class:`~taylorjit.TaylorAdaptive` (see :mod:`taylorjit._integrate.integrator_step`)."""

    def _step(self, max_h, what="step"):
        if math.isnan(max_h):
            raise ValueError("max_delta_t must not be NaN")
        if _PROPAGATING and id(self) in _PROPAGATING:
            raise reentrant_error(what)
        if self._pw is not None:
            self._pw_check()
        if self._upgrade is not None:
            self._tier_check()
        if self._plain is not None:
            # the fused step through the LLVM plain loop (no numba code on this path)
            oc, h = _single_step(*self._plain, max_h, self._iw, self._fw, self._tlim,
                                 self._plain_addr)
            return StepResult(OUTCOMES[oc], h)
        oc = (_STEP or _step_entry())(*self._head[:10], max_h, self._xnew,
                                      self._events.arrays)
        h = self._fw.item(S.F_H)
        if self._n_events:
            key = id(self)
            _PROPAGATING.add(key)
            try:
                handled = self._handle_events(oc)
            finally:
                _PROPAGATING.discard(key)
            if (oc == S.OC_EVENT and self._pw is not None and handled != S.OC_EVENT
                    and self._last_event >= self._pw.n_user):
                return StepResult(Outcome.success, h)     # a select branch switched: a step
            if oc == S.OC_EVENT:
                # as heyoka: the step reports the terminal event whatever its callback
                # returned (True only lets propagate_* go on)
                return StepResult(Outcome.event, h, self._last_event)
        return StepResult(OUTCOMES[oc], h)

    def _handle_events(self, code):
        """After a compiled call: run the logged non-terminal callbacks, then the
        terminal event's callback.  Returns OC_EVENT if a terminal event stops
        the propagation, OC_CONTINUE if its callback chose to continue, else ``code``."""
        ev = self._events
        drain_log(self, ev, self.event_log)
        if code == S.OC_EVENT:
            self._last_event = ev.last_terminal
            return S.OC_CONTINUE if run_terminal_callback(self, ev) else S.OC_EVENT
        if code == S.OC_EVENT_PY:
            return S.OC_CONTINUE
        if code == S.OC_ERR_NF:
            ev.reset_cooldowns()       # as heyoka: cooldowns are meaningless after a failure
        return code

    def _run_events(self, head, grid, gout, want_grid, ctc, ct, want_c, tlim, max_dt,
                    max_steps, budget):
        """``_run``'s loop for an integrator with events, without a step callback or
        progress bar; returns ``(code, ctc, ct)``.

        The compiled loop (:mod:`taylorjit._integrate.evloop`: two arguments) returns after
        every step with an event that needs Python; non-terminal callbacks run here
        (``drain_log``, inlined), the rest goes through :meth:`_handle_events`, with
        as little Python as possible between two compiled calls: a Poincaré section
        with a Python callback costs ~1 us per crossing on top of the compiled
        detection (heyoka's C++ to Python call is about the same)."""
        eb = self._ev_block(head)
        eb.set_run(grid, gout, want_grid, ctc, ct, want_c, tlim, max_dt, max_steps, budget)
        blk, fblk = eb.blk, eb.fblk
        call = _evloop_entry()
        arrays = self._events.arrays
        log, eiw, efw = arrays[6], arrays[7], arrays[8]
        events = self._events.events
        elog = self.event_log
        blk[_EB_INIT] = 1
        code = call(blk, fblk)
        blk[_EB_INIT] = 0
        while True:
            if code == _OC_EVENT_PY or code == _OC_EVENT:
                # the logged non-terminal events, in time order (drain_log, inlined)
                nl = eiw.item(_E_NLOG)
                eiw[_E_NEEDPY] = 0
                if nl:
                    rows = log[:nl].tolist()
                    eiw[_E_NLOG] = 0
                    for e, thi, _, sg in rows:
                        cb = events[int(e)].callback
                        if cb is None:
                            elog.append((int(e), thi, int(sg)))
                        else:
                            cb(self, thi, int(sg))
                if code == _OC_EVENT_PY:
                    code = call(blk, fblk)
                    continue
                # the terminal event that ended the step (run_terminal_callback, inlined)
                te = eiw.item(_E_TERM)
                self._last_event = te
                cb = events[te].callback
                if cb is None or not terminal_result(cb(self, int(efw.item(_EF_DSGN))), te,
                                                     events[te]):
                    return S.OC_EVENT, ctc, ct
            elif code == S.OC_BUFFER_FULL:
                ctc, ct = grow_c(ctc, ct)
                eb.set_c(ctc, ct, want_c)
                code = call(blk, fblk)
                continue
            else:
                code = self._handle_events(code)
                if code != S.OC_CONTINUE:
                    return code, ctc, ct
            if self._upgrade is not None:
                self._tier_check()
                if self._upgrade is None:
                    self._iw[S.I_BUDGET] = 0    # nothing more to wait for: on to the end
            if self._head is not head:          # a kernel switch (select branch, tiering)
                head = self._head
                eb = self._ev_block(head)
                eb.set_run(grid, gout, want_grid, ctc, ct, want_c, tlim, max_dt, max_steps,
                           budget)
                blk, fblk = eb.blk, eb.fblk
                blk[_EB_INIT] = 0
            code = call(blk, fblk)

    def _run_callback(self, head, grid, gout, want_grid, ctc, ct, want_c, tlim, max_dt,
                      max_steps, callback):
        """``_run``'s loop with a step callback and no events: one compiled step per
        call of the two-argument loop (taylorjit._integrate.evloop, ~0.2 us to enter instead of
        ~1.2 us), the callback after each step; returns ``(code, ctc, ct)``."""
        eb = self._ev_block(head)
        eb.set_run(grid, gout, want_grid, ctc, ct, want_c, tlim, max_dt, max_steps, 1)
        blk, fblk = eb.blk, eb.fblk
        call = _evloop_entry()
        blk[_EB_INIT] = 1
        code = call(blk, fblk)
        blk[_EB_INIT] = 0
        err, cont, full = S.OC_ERR_NF, S.OC_CONTINUE, S.OC_BUFFER_FULL
        while True:
            if code == full:
                ctc, ct = grow_c(ctc, ct)
                eb.set_c(ctc, ct, want_c)
                code = call(blk, fblk)
                continue
            if code != err:
                r = callback(self)
                if r is not None and not r:
                    return CB_STOP, ctc, ct
            if code != cont:
                return code, ctc, ct
            if self._upgrade is not None and self._tier_check():
                head = self._head
                eb = self._ev_block(head)
                eb.set_run(grid, gout, want_grid, ctc, ct, want_c, tlim, max_dt, max_steps, 1)
                blk, fblk = eb.blk, eb.fblk
                blk[_EB_INIT] = 0
            code = call(blk, fblk)

    def _ev_block(self, head):
        """The argument block of the event loop for the binding ``head`` (cached; a
        kernel switch makes a new ``_head``, hence a new block)."""
        eb = self.__dict__.get("_evblk")
        if eb is None or eb.head is not head:
            eb = EvBlock(head, self._xnew, self._events.arrays, (_EMPTY1, _EMPTY2, _EMPTY3))
            self._evblk = eb
        return eb

    @property
    def events(self):
        """The events of this integrator (list of :class:`~taylorjit.Event`)."""
        evs = list(self._events.events)
        return evs if self._pw is None else evs[: self._pw.n_user]

    def step(self, max_delta_t=None, write_tc=True):
        """One step forward (at most ``max_delta_t`` long; negative: backward).

        Returns a :class:`StepResult` ``(outcome, h)``: ``Outcome.time_limit`` when
        the step was clamped to ``max_delta_t``, ``Outcome.err_nf_state`` when it
        would produce a non-finite state (the state is then left unchanged),
        ``Outcome.event`` when a terminal event ended the step (``event_index``
        says which; also when its callback returned True, as in heyoka).
        ``write_tc`` is accepted for heyoka's code: the step's Taylor coefficients
        are always in :attr:`tc` afterwards.
        """
        return self._step(math.inf if max_delta_t is None else float(max_delta_t))

    def step_backward(self, max_delta_t=None, write_tc=True):
        """One step backward in time (at most ``|max_delta_t|`` long)."""
        return self._step(-math.inf if max_delta_t is None else -abs(float(max_delta_t)),
                          "step_backward")

    def update_d_output(self, t, rel_time=False):
        """Dense output: the state at time ``t`` inside the last step (Taylor polynomial).

        With ``rel_time=True``, ``t`` is relative to the current time.  Returns
        (and stores in :attr:`dense_output`) an array of shape ``(n,)``.
        """
        t = check_time(t, "t")
        tshi, tslo = self._fw[S.F_TSHI], self._fw[S.F_TSLO]
        if rel_time:
            a = _dd_add(self._tm[0], self._tm[1], t, 0.0)
        else:
            a = (t, 0.0)
        delta = _dd_add(a[0], a[1], -tshi, -tslo)[0]
        if self._iw[S.I_HACC]:
            S.eval_poly_entry(self._tc, self._iw[S.I_N], self._order, delta, self._d_output, 1)
        else:       # the same operations as LLVM code (no numba compilation on first use)
            _dense()[0](self._tc.ctypes.data, self._tc.shape[1], self._n, delta,
                        self._d_output.ctypes.data)
        return self._d_output
