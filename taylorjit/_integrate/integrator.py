"""The adaptive Taylor integrator (scalar): :class:`TaylorAdaptive`, and its propagation drivers.

Python owns the state arrays and the options; every step, the step-size
choice, the Horner update, grid and continuous output run in the compiled
loops of :mod:`taylorjit._integrate.stepper` (or the LLVM plain loop of
:mod:`taylorjit._integrate.plainloop`).  Python is re-entered only for callbacks
(one compiled step per call) and for the progress bar (chunks of steps).

The class is assembled from three parts:

* :mod:`taylorjit._integrate.integrator_core` -- construction, state properties,
  jet binding, pickling (:class:`~taylorjit._integrate.integrator_core.AdaptiveCore`);
* :mod:`taylorjit._integrate.integrator_step` -- ``step()``, dense output and the
  Python side of events and callbacks
  (:class:`~taylorjit._integrate.integrator_step.StepEventsMixin`);
* this module -- ``propagate_until`` / ``propagate_for`` / ``propagate_grid`` and the
  driver that picks the loop for a run (:meth:`TaylorAdaptive._run`).

The argument checks and bookkeeping shared with the batch integrator are in
:mod:`taylorjit._integrate.drivers_common`, the double-length time in
:mod:`taylorjit._dd.arith`.
"""
from __future__ import annotations

import math

import numpy as np

from . import stepper as S
from .coutput import ContinuousOutput
from .drivers_common import (_PROPAGATING, EMPTY1 as _EMPTY1, EMPTY2 as _EMPTY2,
    EMPTY3 as _EMPTY3, OUTCOMES, check_grid, check_max_dt, check_max_steps, grow_c,
    make_progress, reentrant_error)
from .._dd.arith import py_add as _dd_add
from .evloop import INIT as _EB_INIT
from .evloop import propagate_block as _propagate_block
from .integrator_core import AdaptiveCore
from .integrator_step import StepEventsMixin
from .pycbloop import cb_block as _cb_block, cb_loop as _cb_loop
from .plainloop import (B_BUDGET as _B_BUDGET, B_CAP as _B_CAP, B_CT as _B_CT, B_CTC as _B_CTC,
    B_GOUT as _B_GOUT, B_GRID as _B_GRID, B_INIT as _B_INIT, B_MAXDT as _B_MAXDT, B_NGRID as _B_NGRID,
    B_WANTC as _B_WANTC, B_WANTGRID as _B_WANTGRID, B_MAXSTEPS as _B_MAXSTEPS, B_TEND as _B_TEND,
    plain_loop as _plain_loop)
from .odesys import GridResult, Outcome, PropagateResult, check_time
from .stepcodes import CB_STOP

__all__ = ["TaylorAdaptive", "Outcome"]

_PROGRESS_CHUNK = 2000
_TIER_CHUNK = 1000        # steps per compiled call while a faster kernel is being built
_F_MINH, _F_MAXH, _I_NSTEPS = S.F_MINH, S.F_MAXH, S.I_NSTEPS
_PROP = None


def _prop_entry():
    """The compiled propagation entry without numba's dispatch
    (``stepper.entry_direct("propagate")``), kept in a global: one lookup per call."""
    global _PROP
    _PROP = S.entry_direct("propagate")
    return _PROP


_LOOP = None
_LOOP_KEEP: list = []


def _loop():
    """The plain loop's ctypes function (kept in a global: one lookup per call), with
    its execution engine (the code must live as long as the global points to it)."""
    global _LOOP
    from . import plainloop as _plainloop

    fn = _plain_loop()
    _LOOP_KEEP[:] = list(_plainloop._FN)
    _LOOP = fn
    return fn


class TaylorAdaptive(StepEventsMixin, AdaptiveCore):
    """Adaptive Taylor integrator of an ODE system (heyoka's step-size rule).

    Parameters
    ----------
    sys : list of (variable, rhs) pairs, or dict
        The system ``x_i' = rhs_i``; right-hand sides may use the state
        variables, ``tj.par[i]`` and ``tj.time``.
    state : sequence of float
        Initial state, one value per equation.
    time : float, optional
        Initial time (default 0).
    pars : sequence of float, optional
        Values of ``par[0], par[1], ...`` (default zeros); writable later.
    tol : float, optional
        Tolerance (default machine epsilon).  Sets the order
        ``max(2, ceil(-ln(tol)/2 + 1))`` (20 at epsilon); the step size follows
        Jorba & Zou's rule as in heyoka, so step counts match heyoka's.
    compact : bool or None, optional
        True: the compact Taylor VM (no compilation for a new system); False:
        the unrolled kernel (fastest per step, compiled before the constructor
        returns, then cached on disk).  None (default, tiered): the fastest
        kernel already in the disk cache; else, for a small system, its
        unrolled kernel at once (0.1-0.3 s of LLVM); else the compact VM at
        once while the unrolled kernel is compiled in the background, taken at
        a step boundary when ready (``$TAYLORJIT_TIERING=0``: no background
        build).  ``$TAYLORJIT_KERNEL=unrolled|spec|compact`` overrides.  All
        kinds give bit-identical trajectories, so the choice affects speed only.
    high_accuracy : bool, optional
        Compensated summation for the state update and dense output.
    precision : {"double", "dd"} or int, optional
        ``"dd"``: double-double arithmetic (~32 digits, tolerance 2**-104 by
        default, order 38): returns a :class:`~taylorjit.DDTaylorAdaptive`, which
        takes ``time``, ``pars``, ``tol`` and events, and exact inputs (decimal
        strings, mpmath numbers, ``(hi, lo)`` pairs).  An int: that many bits of
        mpmath arbitrary precision (tolerance 2**-bits), returns a
        :class:`~taylorjit.MPTaylorAdaptive` (slow: ~1 ms per pendulum step at
        113 bits).  See the Extended precision page of the documentation.
    events : list of Event, optional
        Events located exactly during the propagation (see :class:`~taylorjit.Event`):
        a terminal event ends the step at the event and stops ``propagate_*``
        with ``Outcome.event`` (``res.event_index`` says which) unless its callback
        returns True; non-terminal events call their callback, or are recorded
        in :attr:`event_log` as ``(index, t, d_sgn)``.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x, v = tj.make_vars("x", "v")
    >>> ta = tj.TaylorAdaptive([(x, v), (v, -9.8 * tj.sin(x))], [0.05, 0.025], compact=True)
    >>> res = ta.propagate_until(1000.0)
    >>> res.outcome, res.n_steps
    (<Outcome.time_limit>, 4801)
    >>> ta.order, ta.time
    (20, 1000.0)
    """

    # ------------------------------------------------------------------ propagation
    def _run(self, tlim, *, max_delta_t, max_steps, callback, c_output, progress, grid=None):
        """The common driver of propagate_until / _grid: returns (code, c_output, gout).

        Written for a small fixed cost per call (~1.5 us of Python around the
        compiled loop, heyoka's is ~1 us): users call ``propagate_until`` in
        Python loops over output times, and short propagations (Lorenz to t = 10:
        ~260 steps of 0.35 us) feel every microsecond."""
        tlim = float(tlim)
        if not math.isfinite(tlim):
            check_time(tlim, "the final time")          # raises
        max_dt = math.inf if max_delta_t is None else check_max_dt(max_delta_t)
        max_steps = 0 if max_steps is None else check_max_steps(max_steps)
        iw, tm = self._iw, self._tm
        # (the bookkeeping in iw/fw is reset by the compiled loop: init=1 below)
        if grid is not None:
            gout = np.full((grid.shape[0], self._n), np.nan)
            gout[0] = self._state
            want_grid = 1
        else:
            grid, gout, want_grid = _EMPTY1, _EMPTY2, 0
        if c_output:
            cap = 64
            ctc = np.empty((cap, self._n, self._order + 1))
            ct = np.empty((cap + 1, 2))
            ct[0] = tm
        else:
            ctc, ct = _EMPTY3, _EMPTY2
        bar = make_progress(progress, self.time, tlim) if progress else None
        if callback is not None and hasattr(callback, "pre_hook"):
            callback.pre_hook(self)     # heyoka's step callbacks: before the propagation
        if self._pw is not None:
            self._pw_check()
        if self._upgrade is not None:
            self._tier_check()
        if (self._plain is not None and callback is not None and bar is None
                and not want_grid and not c_output):
            # the callback called from the compiled loop (taylorjit._integrate.pycbloop); a faster
            # kernel still being built is taken at the next call (the same bits)
            out = self._run_plain_cb(tlim, max_dt, max_steps, callback, gout)
            if self._upgrade is not None:
                self._tier_check()
            return out
        if self._plain is not None and callback is None and bar is None:
            return self._run_plain(tlim, max_dt, max_steps, grid, gout, want_grid, c_output,
                                   ctc, ct)
        budget = 1 if callback is not None else (_PROGRESS_CHUNK if bar else 0)
        if budget == 0 and self._upgrade is not None:
            budget = _TIER_CHUNK        # come back between chunks to take the upgrade
        head = self._head
        n_events = self._n_events
        t_start = self.time if bar is not None else 0.0
        init = 1
        want_c = 1 if c_output else 0
        eb = None
        key = id(self)
        _PROPAGATING.add(key)
        try:
            while True:
                if n_events and callback is None and bar is None and grid.shape[0] != 1:
                    code, ctc, ct = self._run_events(head, grid, gout, want_grid, ctc, ct,
                                                     want_c, tlim, max_dt, max_steps, budget)
                    break
                if not n_events and callback is not None and bar is None and \
                        grid.shape[0] != 1:
                    code, ctc, ct = self._run_callback(head, grid, gout, want_grid, ctc, ct,
                                                       want_c, tlim, max_dt, max_steps,
                                                       callback)
                    break
                if grid.shape[0] == 1:
                    code = S.OC_TIME_LIMIT  # a one-point grid: nothing to integrate
                    iw[S.I_NSTEPS] = 0
                    self._fw[S.F_MINH] = math.inf
                    self._fw[S.F_MAXH] = 0.0
                    break
                if n_events:
                    # the same compiled loop entered with two arguments: an integrator
                    # with events comes back to Python after every step with a Python
                    # event (taylorjit._integrate.evloop)
                    if eb is None or eb.head is not head:
                        eb = self._ev_block(head)
                        eb.set_run(grid, gout, want_grid, ctc, ct, want_c, tlim, max_dt,
                                   max_steps, budget)
                    eb.blk[_EB_INIT] = init
                    code = _propagate_block(eb.blk, eb.fblk)
                else:
                    code = (_PROP or _prop_entry())(*head, grid, gout, ctc, ct, self._xnew,
                                                    self._events.arrays, init, tlim, max_dt,
                                                    max_steps, budget, want_grid, want_c)
                init = 0
                if code == S.OC_BUFFER_FULL:
                    ctc, ct = grow_c(ctc, ct)
                    if eb is not None:
                        eb.set_c(ctc, ct, want_c)
                    continue
                if n_events:
                    code = self._handle_events(code)
                    head = self._head       # a select branch may have swapped the kernel
                    if code == S.OC_EVENT:
                        break
                if bar is not None:
                    bar.n = abs(float(tm[0]) - t_start)
                    bar.refresh()
                if callback is not None and code != S.OC_ERR_NF:
                    r = callback(self)
                    if r is not None and not r:
                        code = CB_STOP
                        break
                if code != S.OC_CONTINUE:
                    break
                if self._upgrade is not None and self._tier_check():
                    head = self._head
                    if callback is None and bar is None and self._upgrade is None:
                        iw[S.I_BUDGET] = 0      # nothing more to wait for: one call to the end
        finally:
            _PROPAGATING.discard(key)
            if bar is not None:
                bar.close()
        co = None
        if c_output and iw[S.I_CIDX] > 0:
            m = iw[S.I_CIDX]
            co = ContinuousOutput(ctc[:m].copy(), ct[: m + 1].copy(), self.high_accuracy)
        return code, co, gout

    def _result(self, code):
        if code == S.OC_EVENT:
            oc = Outcome.event
        else:
            oc = Outcome.cb_stop if code == CB_STOP else OUTCOMES[code]
        fw = self._fw
        return oc, fw.item(S.F_MINH), fw.item(S.F_MAXH), self._iw.item(S.I_NSTEPS)

    def _event_index(self, code):
        return self._last_event if code == S.OC_EVENT else None

    def propagate_until(self, t, *, max_delta_t=None, max_steps=None, callback=None,
                        c_output=False, progress=False):
        """Propagate to time ``t`` (forward or backward).

        Parameters
        ----------
        t : float
            Final time.
        max_delta_t : float, optional
            Largest step length.
        max_steps : int, optional
            Stop with ``Outcome.step_limit`` after this many steps (default: no limit).
        callback : callable, optional
            ``callback(ta)`` after each step; returning False stops the
            propagation with ``Outcome.cb_stop``.
        c_output : bool, optional
            Also return a :class:`~taylorjit.ContinuousOutput`.
        progress : bool, optional
            Show a tqdm progress bar (ignored with a warning without tqdm).

        Returns
        -------
        PropagateResult
            ``outcome, min_h, max_h, n_steps, c_output`` (unpacks like heyoka's tuple).
        """
        if _PROPAGATING and id(self) in _PROPAGATING:
            raise reentrant_error("propagate_until")     # (before a kernel switch, too)
        if self._upgrade is not None:
            self._tier_check()
        plain = self._plain
        if plain is not None and callback is None and not c_output and not progress:
            # the plain case (fused step, no events, nothing to call back): the LLVM loop
            # of taylorjit._integrate.plainloop (no numba code on this path), one ctypes argument
            tlim = float(t)
            if not math.isfinite(tlim):
                check_time(tlim, "the final time")          # raises
            blk, fblk = plain
            fblk[_B_TEND] = tlim
            fblk[_B_MAXDT] = math.inf if max_delta_t is None else check_max_dt(max_delta_t)
            blk[_B_MAXSTEPS] = 0 if max_steps is None else check_max_steps(max_steps)
            if self._upgrade is None:
                code = (_LOOP or _loop())(self._plain_addr)
            else:
                code = self._plain_chunks(blk)
            fw = self._fw
            return PropagateResult(OUTCOMES[code], fw.item(_F_MINH), fw.item(_F_MAXH),
                                   self._iw.item(_I_NSTEPS))
        code, co, _ = self._run(t, max_delta_t=max_delta_t, max_steps=max_steps,
                                callback=callback, c_output=c_output, progress=progress)
        oc, min_h, max_h, n_steps = self._result(code)
        return PropagateResult(oc, min_h, max_h, n_steps, co,
                               self._last_event if code == S.OC_EVENT else None, callback)

    def _run_plain(self, tlim, max_dt, max_steps, grid, gout, want_grid, c_output, ctc, ct):
        """``_run`` through the LLVM plain loop (a fused step, no events, no callback):
        grid and continuous output in the loop, the same operations as the general
        loop's (tested).  Returns ``(code, c_output, gout)``."""
        if grid.shape[0] == 1:
            self._iw[S.I_NSTEPS] = 0
            self._fw[S.F_MINH] = math.inf
            self._fw[S.F_MAXH] = 0.0
            return S.OC_TIME_LIMIT, None, gout
        key = id(self)
        _PROPAGATING.add(key)
        init = 1
        try:
            while True:
                blk, fblk = self._plain
                fblk[_B_TEND] = tlim
                fblk[_B_MAXDT] = max_dt
                blk[_B_MAXSTEPS] = max_steps
                blk[_B_INIT] = init
                blk[_B_BUDGET] = 0 if self._upgrade is None else _TIER_CHUNK
                if init == 0:
                    self._iw[S.I_BUDGET] = blk[_B_BUDGET]
                blk[_B_WANTGRID] = want_grid
                blk[_B_GRID], blk[_B_GOUT], blk[_B_NGRID] = (grid.ctypes.data, gout.ctypes.data,
                                                             grid.shape[0])
                blk[_B_WANTC] = 1 if c_output else 0
                blk[_B_CTC], blk[_B_CT], blk[_B_CAP] = ctc.ctypes.data, ct.ctypes.data, \
                    ctc.shape[0]
                code = _plain_loop()(self._plain_addr)
                init = 0
                if code == S.OC_BUFFER_FULL:
                    ctc, ct = grow_c(ctc, ct)
                    continue
                if code == S.OC_CONTINUE:           # a chunk ended: take the faster kernel
                    if self._upgrade is not None:
                        self._tier_check()
                    continue
                break
        finally:
            _PROPAGATING.discard(key)
            blk = self._plain[0]
            blk[_B_INIT], blk[_B_BUDGET], blk[_B_WANTGRID], blk[_B_WANTC] = 1, 0, 0, 0
            blk[_B_GRID] = blk[_B_GOUT] = blk[_B_CTC] = blk[_B_CT] = 0
        co = None
        if c_output and self._iw[S.I_CIDX] > 0:
            m = self._iw[S.I_CIDX]
            co = ContinuousOutput(ctc[:m].copy(), ct[: m + 1].copy(), self.high_accuracy)
        return code, co, gout

    def _run_plain_cb(self, tlim, max_dt, max_steps, callback, gout):
        """``_run`` through the LLVM plain loop with a step callback that the compiled
        code calls after every step (:mod:`taylorjit._integrate.pycbloop`): no return to Python
        between steps.  Returns ``(code, None, gout)``."""
        key = id(self)
        _PROPAGATING.add(key)
        args = (self,)
        blk, fblk = self._plain
        fblk[_B_TEND] = tlim
        fblk[_B_MAXDT] = max_dt
        blk[_B_MAXSTEPS] = max_steps
        blk[_B_INIT] = 1
        blk[_B_BUDGET] = 1
        blk[_B_WANTGRID] = 0
        blk[_B_WANTC] = 0
        cbk = _cb_block(_plain_loop_addr(), callback, args)
        try:
            code = _cb_loop()(self._plain_addr, cbk.ctypes.data)
        finally:
            _PROPAGATING.discard(key)
            blk[_B_INIT], blk[_B_BUDGET] = 1, 0
        return code, None, gout

    def _plain_chunks(self, blk):
        """The plain loop in chunks of :data:`_TIER_CHUNK` steps while a faster kernel
        is being built (a quick build's), switching to it between chunks; returns the
        outcome code."""
        blk[_B_BUDGET] = _TIER_CHUNK
        key = id(self)
        _PROPAGATING.add(key)
        try:
            code = _plain_loop()(self._plain_addr)
            while code == S.OC_CONTINUE:
                if self._upgrade is not None:
                    self._tier_check()          # a new kernel: a new block
                if self._plain is None:         # pragma: no cover - kernels only move up
                    raise RuntimeError("the integrator lost its fused step")
                self._plain[0][_B_INIT] = 0     # resume
                if self._upgrade is None:
                    self._iw[S.I_BUDGET] = 0    # nothing more to wait for: on to the end
                code = _plain_loop()(self._plain_addr)
        finally:
            _PROPAGATING.discard(key)
            self._plain[0][_B_INIT] = 1
            self._plain[0][_B_BUDGET] = 0
        return code

    def propagate_for(self, delta_t, **kwargs):
        """Propagate for ``delta_t`` (negative: backward); options as :meth:`propagate_until`."""
        if _PROPAGATING and id(self) in _PROPAGATING:
            raise reentrant_error("propagate_for")
        dt = check_time(delta_t, "delta_t")
        hi, lo = _dd_add(self._tm[0], self._tm[1], dt, 0.0)
        return self.propagate_until(hi, **kwargs)

    def propagate_grid(self, grid, *, max_delta_t=None, max_steps=None, callback=None,
                       progress=False):
        """Propagate over ``grid`` and return the states at the grid points.

        ``grid`` must be finite, strictly monotonic and start at the current
        time; the integrator ends at ``grid[-1]``.  States come from the dense
        output of the steps (no step is shortened to hit a grid point).

        Returns
        -------
        GridResult
            ``outcome, min_h, max_h, n_steps, states`` with ``states`` of shape
            ``(len(grid), n)`` (NaN rows after an early stop).
        """
        if _PROPAGATING and id(self) in _PROPAGATING:
            raise reentrant_error("propagate_grid")
        g = np.ascontiguousarray(grid, dtype=float).reshape(-1)
        check_grid(g, self.time)
        code, _, gout = self._run(g[-1], max_delta_t=max_delta_t, max_steps=max_steps,
                                  callback=callback, c_output=False, progress=progress, grid=g)
        return GridResult(*self._result(code), gout, event_index=self._event_index(code),
                          callback=callback)


_PLAIN_ADDR: list = []


def _plain_loop_addr():
    """The address of the LLVM plain loop (called by the callback loop)."""
    if not _PLAIN_ADDR:
        import ctypes

        _PLAIN_ADDR.append(ctypes.cast(_plain_loop(), ctypes.c_void_p).value)
    return _PLAIN_ADDR[0]
