"""The scalar integrator's construction and state: the base of :class:`~taylorjit.TaylorAdaptive`.

:class:`AdaptiveCore` holds what a :class:`~taylorjit.TaylorAdaptive` is between two
calls: the constructor (system, kernel, order, work arrays, events), the branches
of a system with ``tj.select`` (piecewise right-hand sides switched at guard
events), the state properties (``state``, ``time``, ``pars``, ``tc``...), the
binding of the jet the compiled loops call (:meth:`AdaptiveCore._bind_jet`, redone
after a kernel switch or unpickling) and copying/pickling.  The stepping and event
glue are in :mod:`taylorjit._integrate.integrator_step`, the propagation drivers in
:mod:`taylorjit._integrate.integrator`, whose :class:`TaylorAdaptive` combines them.
"""
from __future__ import annotations

import warnings

import numpy as np

from . import stepper as S
from .events import EventBundle
from .odesys import as_pars, as_state, build_kernel, check_time, tier_up
from .plainloop import B_INIT as _B_INIT, new_block
from .stepcodes import JET_FC, JET_FUSED, JET_LIGHT
from .integrator_base import IntegratorBase
from .._symbolic.guards import has_select

__all__ = ["AdaptiveCore"]


class AdaptiveCore(IntegratorBase):
    """Construction, state, jet binding and pickling of :class:`~taylorjit.TaylorAdaptive`
    (see there for the constructor's parameters)."""

    def __new__(cls, *args, precision="double", **kwargs):
        if precision in ("double", None):
            return super().__new__(cls)
        if precision == "dd":
            # double-double: its own integrator (DDTaylorAdaptive), the same constructor
            extra = sorted(set(kwargs) - {"time", "pars", "tol", "events", "t_events", "nt_events"})
            if extra:
                raise ValueError(f"precision='dd' integrators take time=, pars=, tol= and events "
                                 f"(events=, t_events=, nt_events=); "
                                 f"{', '.join(extra)} are not supported in double-double yet "
                                 "(docs/extended-precision.md)")
            from .dd import DDTaylorAdaptive

            return DDTaylorAdaptive(*args, **kwargs)
        if isinstance(precision, (int, np.integer)) and not isinstance(precision, bool):
            # arbitrary precision (mpmath numbers): MPTaylorAdaptive, the same constructor
            extra = sorted(set(kwargs) - {"time", "pars", "tol", "events", "t_events", "nt_events"})
            if extra:
                raise ValueError(f"precision=<bits> integrators take time=, pars=, tol= and "
                                 f"events (events=, t_events=, nt_events=); "
                                 f"{', '.join(extra)} are not supported at arbitrary precision "
                                 "(docs/extended-precision.md)")
            from .mp import MPTaylorAdaptive

            return MPTaylorAdaptive(*args, precision=int(precision), **kwargs)
        raise ValueError(f"precision must be 'double', 'dd' or a number of bits (e.g. 256), got "
                         f"{precision!r}")

    def __init__(self, sys, state, *, time=0.0, pars=None, tol=None, compact=None,
                 high_accuracy=False, events=None, compact_mode=None, t_events=None,
                 nt_events=None, precision="double", _extra=()):
        compact, state, svars, rhs, events, ev_exprs = self._read_system(
            sys, state, pars, time, tol, compact, events, compact_mode, t_events, nt_events)
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
        self._fw = np.zeros(S.NFW)
        self._init_words(self._iw, self._fw, n, full, len(events), high_accuracy, t0)
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
    def high_accuracy(self):
        return bool(self._iw[S.I_HACC])

    @property
    def compact(self):
        """True when the compact Taylor VM runs the system."""
        return self._kernel.kind == "compact"

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

    # ------------------------------------------------------------------ jet binding
    def _bind_jet(self):
        """The jet address the compiled loop calls: an unrolled kernel's fused step
        (``_kernel.call_step``) in the plain case, else its light entry
        (``_kernel.call_light``: built for this order, ``full`` and table shape) when
        it has one, else the first-class jet; the register step and light entry
        addresses go to ``iw`` for the plain loop (``steploop.propagate_fused``).
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
        self._iw[S.I_LIGHT] = JET_FUSED if step else (JET_LIGHT if light else JET_FC)
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



def _guard_callback(ta, d_sgn):
    """The callback of a select guard's terminal event (a function, not a bound method:
    copies of the integrator share their events)."""
    return ta._on_guard(d_sgn)
