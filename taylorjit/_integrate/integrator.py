"""The adaptive Taylor integrator (scalar): :class:`TaylorAdaptive`.

Python owns the state arrays and the options; every step, the step-size
choice, the Horner update, grid and continuous output run in the compiled
loops of :mod:`taylorjit._integrate.stepper`.  Python is re-entered only for callbacks
(one compiled step per call) and for the progress bar (chunks of steps).
"""
from __future__ import annotations

import math
import operator
import warnings

import numpy as np

from . import stepper as S
from .coutput import ContinuousOutput
from .events import E_NEEDPY as _E_NEEDPY, E_NLOG as _E_NLOG, E_TERM as _E_TERM
from .events import EF_DSGN as _EF_DSGN
from .events import EventBundle, drain_log, prepare_events, run_terminal_callback, terminal_result
from .evloop import INIT as _EB_INIT, EvBlock, entry as _evloop_entry
from .evloop import propagate_block as _propagate_block
from .._symbolic.guards import has_select
from .pycbloop import cb_block as _cb_block, cb_loop as _cb_loop
from .taylor_map import VariationalMixin
from .plainloop import (B_BUDGET as _B_BUDGET, B_CAP as _B_CAP, B_CT as _B_CT, B_CTC as _B_CTC,
    B_GOUT as _B_GOUT, B_GRID as _B_GRID, B_INIT as _B_INIT, B_MAXDT as _B_MAXDT, B_NGRID as _B_NGRID,
    B_WANTC as _B_WANTC, B_WANTGRID as _B_WANTGRID, B_MAXSTEPS as _B_MAXSTEPS, B_TEND as _B_TEND,
    new_block, plain_loop as _plain_loop, dense as _dense, single_step as _single_step)
from .odesys import (GridResult, Outcome, PropagateResult, StepResult, as_pars, as_state, build_kernel,
    check_time, check_tol, heyoka_options, order_from_tol, parse_system, tier_up)

__all__ = ["TaylorAdaptive", "Outcome"]

OUTCOMES = {S.OC_SUCCESS: Outcome.success, S.OC_TIME_LIMIT: Outcome.time_limit,
            S.OC_STEP_LIMIT: Outcome.step_limit, S.OC_ERR_NF: Outcome.err_nf_state}
_EMPTY1 = np.zeros(0)
_EMPTY2 = np.zeros((0, 0))
_EMPTY3 = np.zeros((0, 0, 0))
_PROGRESS_CHUNK = 2000
_TIER_CHUNK = 1000        # steps per compiled call while a faster kernel is being built
_F_MINH, _F_MAXH, _I_NSTEPS = S.F_MINH, S.F_MAXH, S.I_NSTEPS
_OC_EVENT_PY, _OC_EVENT = S.OC_EVENT_PY, S.OC_EVENT


def check_max_dt(max_delta_t):
    if max_delta_t is None:
        return math.inf
    m = float(max_delta_t)
    if math.isnan(m) or m <= 0.0:
        raise ValueError(f"max_delta_t must be positive (a step length limit), got {m!r}")
    return m


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


def check_max_steps(max_steps):
    """``max_steps`` as an int (0: no limit): integers (numpy's too) and integral floats;
    anything else raises instead of being truncated."""
    if max_steps is None:
        return 0
    if isinstance(max_steps, (float, np.floating)):
        if not (math.isfinite(max_steps) and float(max_steps).is_integer()):
            raise ValueError(f"max_steps must be a whole number of steps (0: no limit), got "
                             f"{float(max_steps)!r}: pass an int")
        m = int(max_steps)
    else:
        try:
            if isinstance(max_steps, (bool, np.bool_)):
                raise TypeError
            m = operator.index(max_steps)
        except TypeError:
            raise TypeError(f"max_steps must be a whole number of steps (an int, 0: no limit), "
                            f"got {type(max_steps).__name__} {max_steps!r}") from None
    if m < 0 or m >= 2**63:
        raise ValueError(f"max_steps must be a non-negative integer below 2**63 (0: no limit), "
                         f"got {m}")
    return m


# ids of the integrators inside a step or propagation that can call user code (step
# callbacks, event callbacks): a nested step or propagation of the same integrator from
# there would reset the bookkeeping (final time, step counts, limits) of the outer call
_PROPAGATING = set()


def reentrant_error(what):
    return RuntimeError(
        f"{what}() was called while this integrator is already propagating (from a callback "
        "of its own step, propagate_* call or event): a nested propagation would corrupt the "
        "outer one. Propagate a copy instead (copy.deepcopy(ta)), or return False from the "
        "callback to stop the outer propagation and continue after it returns")


def make_progress(progress, t0, t1):
    """A tqdm bar over |t - t0|, or None (with a warning when tqdm is missing)."""
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        warnings.warn("progress=True needs the tqdm package (pip install tqdm); "
                      "continuing without a progress bar", stacklevel=3)
        return None
    return tqdm(total=abs(t1 - t0), unit="time")


class TaylorAdaptive(VariationalMixin):
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
    precision : {"double", "dd"}, optional
        ``"dd"``: double-double arithmetic (~32 digits, tolerance 2**-104 by
        default, order 38): returns a :class:`~taylorjit.DDTaylorAdaptive`, which
        takes ``time``, ``pars`` and ``tol`` and exact inputs (decimal strings,
        mpmath numbers, ``(hi, lo)`` pairs); see docs/extended-precision.md.
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

    def __new__(cls, *args, precision="double", **kwargs):
        if precision in ("double", None):
            return super().__new__(cls)
        if precision == "dd":
            # double-double: its own integrator (taylorjit._dd), the same constructor
            extra = sorted(set(kwargs) - {"time", "pars", "tol"})
            if extra:
                raise ValueError(f"precision='dd' integrators take time=, pars= and tol=; "
                                 f"{', '.join(extra)} are not supported in double-double yet "
                                 "(docs/extended-precision.md)")
            from .dd import DDTaylorAdaptive

            return DDTaylorAdaptive(*args, **kwargs)
        raise ValueError(f"precision must be 'double' or 'dd', got {precision!r}")

    def __init__(self, sys, state, *, time=0.0, pars=None, tol=None, compact=None,
                 high_accuracy=False, events=None, compact_mode=None, t_events=None,
                 nt_events=None, precision="double", _extra=()):
        compact, events = heyoka_options(compact, events, compact_mode, t_events, nt_events)
        state = self._init_variational(sys, state, pars, time)
        svars, rhs = parse_system(sys, check_vars=False)   # build_kernel checks
        self._sys = list(zip(svars, rhs))
        self._tol = check_tol(tol)
        self._order = order_from_tol(self._tol)
        events, ev_exprs = prepare_events(events, svars)
        self._pw = None
        if has_select(rhs):
            rhs, events, ev_exprs = self._init_piecewise(svars, rhs, events, ev_exprs, state,
                                                         pars, time, _extra)
        self._build_args = (svars, list(ev_exprs) + list(_extra), compact)
        self._kernel, self._hrows, full = build_kernel(
            svars, rhs, list(ev_exprs) + list(_extra), compact, self._order)
        n = len(svars)
        self._events = EventBundle(events, self._hrows[n:n + len(events)], self._order,
                                   self._tol)
        self.event_log = []
        self._last_event = None
        d = self._kernel.decomposition
        self._state = as_state(state, n)
        self._pars = as_pars(pars, d.n_pars if self._pw is None else
                             max(d.n_pars, self._pw.n_pars))
        t0 = check_time(time)
        self._tm = np.array([t0, 0.0])
        self._tc = self._kernel.new_tc(self._order)
        self._iw = np.zeros(S.NIW, dtype=np.int64)
        self._iw[S.I_ORDER] = self._order
        self._iw[S.I_N] = n
        # extra rows need the last order only if they are not state rows (an event on a
        # state variable, e.g. a Poincare section x = 0, is complete without it)
        self._iw[S.I_FULL] = full
        self._iw[S.I_NEV] = len(events)
        self._iw[S.I_HACC] = int(bool(high_accuracy))
        self._fw = np.zeros(S.NFW)
        self._fw[S.F_RHOFAC] = S.rho_factor(self._order)
        self._fw[S.F_INVO] = 1.0 / float(self._order)
        self._fw[S.F_INVOM1] = 1.0 / float(self._order - 1)
        self._fw[S.F_TSHI] = t0
        self._xnew = np.zeros(n)
        self._d_output = np.zeros(n)
        self._n = n
        self._tlim = np.zeros(2)         # double-length final time of a propagation
        # the unrolled kernel built in the background when the VM was chosen automatically
        # (taken at a step boundary by _tier_check; the same bits either way)
        self._auto = compact is None
        self._upgrade = tier_up(self._kernel, self._order, full, compact)
        self._bind_jet()

    # ------------------------------------------------------------------ select branches
    def _init_piecewise(self, svars, rhs, events, ev_exprs, state, pars, time, extra):
        """A system with tj.select: the branch active at the initial point, the guards as
        terminal events after the user's (see :class:`taylorjit._frontends.piecewise.PiecewiseODE`)."""
        from .events import Event
        from .._symbolic.expr import get_params
        from .._frontends.piecewise import PiecewiseODE

        if self._vsys is not None or extra:
            raise ValueError("variational systems with tj.select (or abs/min/max) branches are "
                             "not supported: the sensitivities jump at a switching surface "
                             "(saltation), which is not computed; use a smooth formula")
        pw = PiecewiseODE(svars, rhs, len(events))
        used = get_params(list(rhs) + list(ev_exprs))
        pw.n_pars = (max(used) + 1) if used else 0     # every branch's parameters
        p = as_pars(pars, pw.n_pars)
        x = as_state(state, len(svars))
        t0 = check_time(time)
        res, live = pw.resolve_at(t0, x, p)
        pw.set_piece(res, live)
        guard_events = [Event(g, terminal=True, callback=_guard_callback) for g in pw.guards]
        self._pw = pw
        return res, list(events) + guard_events, list(ev_exprs) + list(pw.guards)

    def _on_guard(self, d_sgn):
        """A guard changed sign: take the branches of the new sides (a kernel swap at
        this step boundary), or stop on a sliding mode."""
        pw = self._pw
        k = self._events.last_terminal - pw.n_user
        g = pw.guards[k]
        dirn = 1.0 if self.last_h >= 0 else -1.0
        old = pw.sides.get(id(g))
        side = int(d_sgn * dirn) if d_sgn != 0 else (-old if old else 1)
        t, x, p = self.time, self._state, self._pars
        rhs, live = pw.resolve_at(t, x, p, {id(g): side})
        if id(g) in {id(h) for h, _ in live}:
            r = pw.rate(g, rhs, t, x, p) * dirn
            if r * side < 0:
                from .._symbolic.guards import cond_text

                warnings.warn(f"t = {t!r}: on the switching surface of "
                              f"`{cond_text(g, 'gt' if side > 0 else 'lt')}` both branches push "
                              "the state towards the surface (a sliding mode): the propagation "
                              "stops there (outcome event, event_index "
                              f"{pw.n_user + k}); write the switch as a smooth formula",
                              RuntimeWarning, stacklevel=2)
                return False
        self._swap_rhs(rhs, live)
        return True

    def _swap_rhs(self, rhs, live):
        """Run the branch ``rhs`` from this step boundary on (kernels kept per branch)."""
        pw = self._pw
        key = tuple(map(id, rhs))
        if key == pw.key:
            pw.set_piece(rhs, live)
            return
        pw.kernels[pw.key] = (pw.current, self._kernel, self._hrows, int(self._iw[S.I_FULL]),
                              self._upgrade)
        hit = pw.kernels.get(key)
        if hit is None:
            svars, extra, compact = self._build_args
            kern, hrows, full = build_kernel(svars, rhs, extra, compact, self._order)
            hit = (rhs, kern, hrows, full, tier_up(kern, self._order, full, compact))
        _, kern, hrows, full, up = hit
        n = self._n
        old = self._tc
        self._kernel, self._hrows, self._upgrade = kern, hrows, up
        self._iw[S.I_FULL] = full
        self._tc = kern.new_tc(self._order)
        self._tc[:n] = old[:n]
        ev = self._events.arrays[0]
        ev[:, 0] = hrows[n:n + ev.shape[0]]
        pw.set_piece(rhs, live)
        self._bind_jet()

    def _pw_check(self):
        """Before a propagation: the branch of the current point (state or time may have
        been set by hand)."""
        pw = self._pw
        t, x, p = self.time, self._state, self._pars
        if pw.stale(t, x, p):
            rhs, live = pw.resolve_at(t, x, p)
            self._swap_rhs(rhs, live)

    # ------------------------------------------------------------------ properties
    @property
    def state(self):
        """The state (a writable view: ``ta.state[:] = ...`` changes the integrator)."""
        return self._state

    @state.setter
    def state(self, value):
        self._state[:] = as_state(value, self._state.shape[0])

    @property
    def time(self):
        """Current time (the high part of the double-length time, see ``dtime``)."""
        return float(self._tm[0])

    @time.setter
    def time(self, value):
        tm = self._tm
        tm[0] = check_time(value)
        tm[1] = 0.0

    @property
    def dtime(self):
        """Current time as the double-length pair ``(hi, lo)``."""
        return float(self._tm[0]), float(self._tm[1])

    @property
    def pars(self):
        """Runtime parameters (a writable view)."""
        return self._pars

    @pars.setter
    def pars(self, value):
        self._pars[:] = as_pars(value, self._pars.shape[0])[: self._pars.shape[0]]

    @property
    def tc(self):
        """Taylor coefficients of the last step, shape ``(n, order + 1)``, expanded at its start."""
        return self._tc[: self._iw[S.I_N]]

    @property
    def order(self):
        return self._order

    @property
    def tol(self):
        return self._tol

    @property
    def high_accuracy(self):
        return bool(self._iw[S.I_HACC])

    @property
    def compact(self):
        """True when the compact Taylor VM runs the system."""
        return self._kernel.kind == "compact"

    @property
    def decomposition(self):
        """The :class:`~taylorjit.Decomposition` of the right-hand sides."""
        return self._kernel.decomposition

    @property
    def sys(self):
        return list(self._sys)

    @property
    def last_h(self):
        """Size of the last step taken."""
        return float(self._fw[S.F_LASTH])

    @property
    def dense_output(self):
        """The state computed by the last :meth:`update_d_output`."""
        return self._d_output

    d_output = dense_output     # heyoka's name

    def _summary(self):
        n = self._state.shape[0]
        return (f"{n} equations, order {self._order}, tol {self._tol:g}, "
                f"{'compact' if self.compact else 'specialised'} kernel, t = {self.time!r}")

    def __repr__(self):
        n = self._state.shape[0]
        st = self._state.tolist() if n <= 12 else f"[{n} values]"
        return f"<TaylorAdaptive: {self._summary()}, state = {st}>"

    def _repr_latex_(self):
        """Jupyter: the settings and the equations (the first 20) in LaTeX."""
        from .._symbolic.expr import to_latex

        rows = [rf"{to_latex(v)}' &= {to_latex(f)}" for v, f in self._sys[:20]]
        if len(self._sys) > 20:
            rows.append(rf"&\dots \text{{ ({len(self._sys) - 20} more equations)}}")
        body = r" \\ ".join(rows)
        return (rf"$\text{{TaylorAdaptive: {self._summary()}}}$" + "\n"
                + rf"$$\begin{{aligned}} {body} \end{{aligned}}$$")

    # ------------------------------------------------------------------ stepping
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
        oc = S.step_entry_direct(*self._head[:10], max_h, self._xnew, self._events.arrays)
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
                    return -1, ctc, ct
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

    def reset_cooldowns(self):
        """Forget the cooldowns of the terminal events (e.g. after moving the state by hand)."""
        self._events.reset_cooldowns()

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
                    code = S.propagate_direct(*head, grid, gout, ctc, ct, self._xnew,
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
                        code = -1
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
            oc = Outcome.cb_stop if code == -1 else OUTCOMES[code]
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
            Also return a :class:`~taylorjit._integrate.coutput.ContinuousOutput`.
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

    # ------------------------------------------------------------------ jet binding
    def _bind_jet(self):
        """The jet address the compiled loop calls: an unrolled kernel's fused step
        (``_kernel.call_step``) in the plain case, else its light entry
        (``_kernel.call_light``: built for this order, ``full`` and table shape) when
        it has one, else the first-class jet; the register step and light entry
        addresses go to ``iw`` for the plain loop (``_stepper.propagate_fused``).
        Addresses belong to the process: recomputed after unpickling."""
        jet, prog, cvals = self._kernel.plan_for(self._order)
        light = getattr(jet, "light_addr", 0)
        step = getattr(jet, "step_addr", 0)
        n = self._n
        # the fused step (jet, step size, Horner in one function) covers the plain case:
        # no events or extra rows (step size over the state rows only), Horner
        if not (step and self._iw[S.I_NEV] == 0 and self._iw[S.I_HACC] == 0
                and self._iw[S.I_FULL] == 0 and np.array_equal(self._hrows, np.arange(n))):
            step = 0
        self._iw[S.I_LIGHT] = 2 if step else (1 if light else 0)
        self._iw[S.I_RADDR] = getattr(jet, "stepr_addr", 0) if step else 0
        self._iw[S.I_LADDR] = light
        self._jaddr = step or light or jet.__wrapper_address__()
        self._n_events = self._events.n_events
        # the leading arguments of every call of the compiled loops (fixed arrays:
        # the state, pars, time and tables are only ever written in place)
        self._head = (self._jaddr, prog, cvals, self._tc, self._iw, self._fw, self._hrows,
                      self._state, self._pars, self._tm, self._tlim)
        # plain propagations of a fused step take the LLVM loop (taylorjit._integrate.plainloop)
        if step:
            blk, fblk = new_block(self._jaddr, self._tc, self._iw, self._fw, self._state,
                                  self._pars, self._tm, self._tlim, self._xnew)
            blk[_B_INIT] = 1
            self._plain = (blk, fblk)
            self._plain_addr = blk.ctypes.data
        else:
            self._plain = None

    def _tier_check(self):
        """Take the background-built kernel if it is ready (see
        :mod:`taylorjit._codegen.tiering`); returns whether the kernel changed.  Called at step
        boundaries only: the table of the last step is carried over (dense output)."""
        kern, self._upgrade = self._upgrade.claim()
        if kern is None or kern is self._kernel:
            return False
        old = self._tc
        rows = self._kernel.n_slots
        self._kernel = kern
        self._tc = kern.new_tc(self._order)
        self._tc[:rows] = old[:rows]
        self._bind_jet()
        return True

    # ------------------------------------------------------------------ copy / pickle
    # (the pickling of __dict__ applies; the kernel pickles by reference to the disk
    # cache, see Kernel.__reduce__)
    def __copy__(self):
        import copy

        return copy.deepcopy(self)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_head", None)        # rebuilt by _bind_jet (holds this process's address)
        state.pop("_plain", None)
        state.pop("_plain_addr", None)
        state.pop("_evblk", None)       # raw addresses (rebuilt on the next propagation)
        state.pop("_upgrade", None)     # a build of this process (resubmitted on unpickling)
        tc = state.get("_tc")
        n_slots = self._kernel.n_slots
        if isinstance(tc, np.ndarray) and tc.ndim == 2 and tc.shape[0] > n_slots:
            state["_tc"] = tc[:n_slots].copy()     # the order-major scratch holds nothing
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._upgrade = (tier_up(self._kernel, self._order, self._iw[S.I_FULL], None)
                         if self.__dict__.get("_auto") else None)
        want = self._kernel.new_tc(self._order)
        if self._tc.shape[0] < want.shape[0]:
            want[: self._tc.shape[0]] = self._tc
            self._tc = want
        self._bind_jet()


_PLAIN_ADDR: list = []


def _plain_loop_addr():
    """The address of the LLVM plain loop (called by the callback loop)."""
    if not _PLAIN_ADDR:
        import ctypes

        _PLAIN_ADDR.append(ctypes.cast(_plain_loop(), ctypes.c_void_p).value)
    return _PLAIN_ADDR[0]


def _guard_callback(ta, d_sgn):
    """The callback of a select guard's terminal event (a function, not a bound method:
    copies of the integrator share their events)."""
    return ta._on_guard(d_sgn)


def check_grid(g, t_now):
    if g.shape[0] == 0:
        raise ValueError("the grid is empty: pass at least the current time")
    if not np.all(np.isfinite(g)):
        raise ValueError("the grid contains non-finite values: pass finite times")
    if g[0] != t_now:
        raise ValueError(f"the grid starts at {float(g[0])!r} but the integrator is at "
                         f"t = {float(t_now)!r}: start the grid at the current time (ta.time), "
                         "or propagate_until(grid[0]) first")
    if g.shape[0] > 1:
        d = np.diff(g)
        if not (np.all(d > 0) or np.all(d < 0)):
            raise ValueError("the grid must be strictly monotonic (all increasing or all "
                             "decreasing, no repeated times)")


def grow_c(ctc, ct):
    """Continuous-output buffers (coefficients of each step, step boundaries) of twice
    the capacity, the stored steps kept."""
    cap = 2 * ctc.shape[0]
    return _grow(ctc, cap), _grow(ct, cap + 1)


def _grow(a, rows):
    b = np.empty((rows,) + a.shape[1:])
    b[: a.shape[0]] = a
    return b


def _dd_add(ahi, alo, bhi, blo):
    """heyoka's dfloat addition (Python floats), as the compiled ``dd_add``."""
    s = ahi + bhi
    bb = s - ahi
    yh = (ahi - (s - bb)) + (bhi - bb)
    s2 = alo + blo
    bb2 = s2 - alo
    yl = (alo - (s2 - bb2)) + (blo - bb2)
    xh = s
    yh += s2
    t = xh + yh
    yh = yh - (t - xh)
    xh = t
    yh += yl
    t = xh + yh
    return t, yh - (t - xh)
