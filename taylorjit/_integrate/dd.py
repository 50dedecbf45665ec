"""Adaptive Taylor integration in double-double arithmetic: :class:`DDTaylorAdaptive`.

The whole propagation runs in one compiled function (``dd_propagate`` in
:file:`_top.py`): the dd VM computes the Taylor coefficients of the step,
heyoka's step-size rule picks ``h`` (at the dd tolerance, order
``ceil(-ln(tol)/2 + 1)``: 38 at the default ``2^-104``), and Horner's scheme in dd
evaluates the new state.  Steps are doubles except the last one of a
propagation (the dd difference to the final time) and those cut at a terminal
event, so the time, a dd, stays exact over any practical number of steps and
the final time is hit exactly.

With events (:mod:`.dd_events`) or continuous output (:mod:`.dd_coutput`) the
propagation runs in the compiled loop of :file:`_ddev_top.py` instead, which
returns to Python for the events' callbacks.
"""
from __future__ import annotations

import math

import numpy as np

from .._dd.values import DDArray, dd_array, dd_scalar
from .dd_events import OC_BUFFER_FULL, OC_EVENT, OC_EVENT_PY
from .dd_variational import DDVariationalMixin

__all__ = ["DDTaylorAdaptive", "DD_EPS"]

#: the unit roundoff of double-double arithmetic (107-bit significand): 2^-104 as the
#: precision's "epsilon" (heyoka's convention for its floating-point types: 2^(1-p),
#: rounded to the dd operations' real error, a few 2^-106)
DD_EPS = 2.0 ** -104

_OC = {}


def _outcomes():
    if not _OC:
        from .odesys import Outcome

        _OC.update({0: Outcome.success, 1: Outcome.time_limit, 2: Outcome.step_limit,
                    3: Outcome.err_nf_state, OC_EVENT: Outcome.event})
    return _OC


def _rho_factor(order):
    """heyoka's safety factor exp(-0.7 / (order - 1)) / e^2 (the double integrator's ops)."""
    e = math.exp(1.0)
    return math.exp((-7.0 / 10.0) / float(order - 1)) / (e * e)


class DDTaylorAdaptive(DDVariationalMixin):
    """Adaptive Taylor integrator in double-double arithmetic (~32 significant digits).

    Parameters
    ----------
    sys : list of (variable, expression) pairs, or dict
        The ODE system, as for :class:`taylorjit.TaylorAdaptive` (``tj.par[i]`` and
        ``tj.time`` allowed), or a variational system (:func:`taylorjit.var_ode_sys`):
        then ``ta.sensitivity(k)`` and ``ta.state_derivatives`` are DDArrays.
    state : sequence
        Initial state, converted without loss: floats, decimal strings (``"0.05"`` is
        exactly 1/20), mpmath numbers, ``(hi, lo)`` tuples, or a DDArray (for a
        variational system, the original ``n`` values: the variational ones are filled
        in, in dd; or all of them).
    time : number, str, mpf or (hi, lo), optional
        Initial time (default 0).
    pars : sequence, optional
        Values of the runtime parameters (same conversions as ``state``).
    tol : float, optional
        Tolerance (default ``2**-104``, the dd epsilon); order ``ceil(-ln(tol)/2 + 1)``.
    events : list of Event, optional
        Events located to dd accuracy, as for :class:`taylorjit.TaylorAdaptive` (see
        :class:`taylorjit.Event`; heyoka's ``t_events=`` / ``nt_events=`` too): a
        terminal event ends the step at the event and stops ``propagate_*`` with
        ``Outcome.event`` unless its callback ``cb(ta, d_sgn)`` returns True;
        non-terminal events call ``cb(ta, t, d_sgn)`` after the step (``t`` a 0-d
        DDArray) or are recorded in :attr:`event_log` as ``(index, t, d_sgn)``.

    Attributes
    ----------
    state, time, pars : DDArray
        Current values (copies; assign to set them).
    tc : DDArray
        Taylor coefficients ``(n, order + 1)`` of the state at the start of the last step.
    order, tol, dim

    Examples
    --------
    >>> import mpmath, taylorjit as tj
    >>> x, v = tj.make_vars("x", "v")
    >>> ta = tj.TaylorAdaptive([(x, v), (v, -x)], ["1", "0"], precision="dd")
    >>> ta.order
    38
    >>> res = ta.propagate_until("0.1")           # exactly one tenth
    >>> res.outcome, res.n_steps, str(ta.time)
    (<Outcome.time_limit>, 1, '0.1')
    >>> with mpmath.workdps(40):
    ...     bool(abs(ta.state.to_mpmath()[0] - mpmath.cos(mpmath.mpf(1) / 10)) < 1e-32)
    True

    The first zero of the cosine, to dd accuracy:

    >>> ta = tj.DDTaylorAdaptive([(x, v), (v, -x)], ["1", "0"], events=[tj.t_event(x)])
    >>> res = ta.propagate_until(10)
    >>> res.outcome, res.event_index
    (<Outcome.event>, 0)
    >>> with mpmath.workdps(40):
    ...     bool(abs(ta.time.to_mpmath() - mpmath.pi / 2) < 1e-31)
    True
    """

    def __init__(self, sys, state, time=0.0, pars=None, tol=None, *, events=None,
                 t_events=None, nt_events=None):
        from .._codegen.decompose import decompose
        from .odesys import check_variables, heyoka_options, order_from_tol, parse_system
        from .events import prepare_events
        from .._dd._build import entry_points, program

        svars, rhs = parse_system(sys)
        _, events = heyoka_options(None, events, None, t_events, nt_events)
        events, ev_exprs = prepare_events(events, svars)
        try:
            d = decompose(list(rhs) + list(ev_exprs), svars)
        except ValueError:
            check_variables(svars, rhs)
            raise
        self._prog, self._cv, self._upd = program(d, ode=True)
        self._decomposition = d
        self._n = n = len(svars)
        self._svars = svars
        self._hrows = np.array(list(range(n)) + list(d.outputs[n:]), dtype=np.int64)
        self._full = 1 if np.any(self._hrows[n:] >= n) else 0
        if tol is None:
            tol = DD_EPS
        tol = float(dd_scalar(tol, "tol")[0]) if not isinstance(tol, float) else tol
        if not (tol > 0.0) or not math.isfinite(tol):
            raise ValueError(f"tol must be a positive finite number, got {tol!r} (the default "
                             "is the double-double epsilon 2**-104)")
        self._tol = tol
        self._order = order = order_from_tol(tol)
        from .dd_events import DDEventBundle

        self._ev = DDEventBundle(events, d.outputs[n:], order, tol)
        self.event_log = []
        self._last_event = None
        self._busy = False
        self._XH = np.zeros(n)
        self._XL = np.zeros(n)
        self.state = self._init_variational(sys, state, pars, time)
        self._n_pars = d.n_pars
        self._pH = np.zeros(d.n_pars)
        self._pL = np.zeros(d.n_pars)
        if pars is not None or d.n_pars:
            self.pars = pars
        self._H = np.zeros((d.n_slots, order + 1))
        self._L = np.zeros((d.n_slots, order + 1))
        self._NH = np.zeros(n)
        self._NL = np.zeros(n)
        self._ws = np.zeros(15)
        self._iw = np.zeros(8, dtype=np.int64)
        self.time = time
        self._ws[5] = _rho_factor(order)
        self._ws[6] = 1.0 / order
        self._ws[7] = 1.0 / (order - 1)
        self._ep = entry_points()

    # ------------------------------------------------------------------ values
    @property
    def state(self) -> DDArray:
        return DDArray(self._XH.copy(), self._XL.copy())

    @state.setter
    def state(self, value):
        if isinstance(value, tuple):
            value = list(value)
        h, l = dd_array(value, "state")
        h = np.atleast_1d(h)
        l = np.atleast_1d(l)
        if h.shape != (self._n,):
            raise ValueError(f"state has shape {h.shape} but the system has {self._n} "
                             "equations: pass one initial value per equation (a (hi, lo) pair "
                             "is a tuple inside the list)")
        self._XH[:] = h
        self._XL[:] = l

    @property
    def time(self) -> DDArray:
        return DDArray(self._ws[0], self._ws[1])

    @time.setter
    def time(self, value):
        self._ws[0], self._ws[1] = dd_scalar(value, "time")

    @property
    def pars(self) -> DDArray:
        return DDArray(self._pH.copy(), self._pL.copy())

    @pars.setter
    def pars(self, value):
        if value is None:
            raise ValueError(f"the system uses runtime parameters par[0..{self._n_pars - 1}]: "
                             f"pass pars=[...] with {self._n_pars} values")
        if isinstance(value, tuple):
            value = list(value)
        h, l = dd_array(value, "pars")
        h = np.atleast_1d(h).reshape(-1)
        l = np.atleast_1d(l).reshape(-1)
        if h.size < self._n_pars:
            raise ValueError(f"pars has {h.size} values but the system uses {self._n_pars} "
                             f"parameters (par[0]..par[{self._n_pars - 1}])")
        self._pH = np.ascontiguousarray(h, dtype=np.float64)
        self._pL = np.ascontiguousarray(l, dtype=np.float64)

    @property
    def tc(self) -> DDArray:
        return DDArray(self._H[:self._n].copy(), self._L[:self._n].copy())

    @property
    def order(self) -> int:
        return self._order

    @property
    def tol(self) -> float:
        return self._tol

    @property
    def dim(self) -> int:
        return self._n

    @property
    def decomposition(self):
        return self._decomposition

    @property
    def events(self):
        """The events of this integrator (list of :class:`~taylorjit.Event`)."""
        return list(self._ev.events)

    def reset_cooldowns(self):
        """Forget the cooldowns of the terminal events (e.g. after moving the state by hand)."""
        self._ev.reset_cooldowns()

    # ------------------------------------------------------------------ stepping
    def _run(self, has_tf, tf, single, max_delta_t, max_steps, direction, grid=None,
             c_output=False):
        """One compiled propagation: ``(code, OH, OL, c_output)``."""
        if self._busy:
            raise RuntimeError("this integrator is already propagating (a step or propagate_* "
                               "call from one of its own event callbacks): a nested "
                               "propagation would corrupt the outer one; return False from a "
                               "terminal event's callback to stop it and continue after it "
                               "returns")
        ws, iw = self._ws, self._iw
        ws[2], ws[3] = tf
        if max_delta_t is None:
            ws[4] = math.inf
        else:
            m = abs(float(max_delta_t))
            if not (m > 0.0) or m != m:
                raise ValueError(f"max_delta_t must be a non-zero step length limit, got "
                                 f"{max_delta_t!r}")
            ws[4] = m
        ws[8] = direction
        ws[9] = math.inf
        ws[10] = 0.0
        ws[11] = ws[12] = 0.0
        iw[0] = 1 if has_tf else 0
        iw[1] = 1 if single else 0
        if max_steps is None:
            max_steps = 0
        max_steps = int(max_steps)
        if max_steps < 0:
            raise ValueError(f"max_steps must be >= 0 (0: no limit), got {max_steps}")
        iw[2] = max_steps
        iw[3] = 0
        iw[4] = 0
        if grid is None:
            gH = gL = np.zeros(0)
            OH = OL = np.zeros((0, self._n))
        else:
            gH, gL = grid
            OH = np.full((gH.shape[0], self._n), np.nan)
            OL = np.full((gH.shape[0], self._n), np.nan)
        self._last_event = None
        if self._ev.n_events or c_output:
            self._busy = True
            try:
                code, co = self._run_ev(single, gH, gL, OH, OL, c_output)
            finally:
                self._busy = False
            return code, OH, OL, co
        code = self._ep.dd_propagate(self._prog, self._cv, self._upd, self._H, self._L,
                                     self._order, self._pH, self._pL, self._XH, self._XL,
                                     self._NH, self._NL, ws, iw, gH, gL, OH, OL)
        return code, OH, OL, None

    def _run_ev(self, single, gH, gL, OH, OL, c_output):
        """The loop with events / continuous output (:mod:`.dd_events`): the compiled
        loop returns for the callbacks, run here in time order."""
        from .dd_coutput import DDContinuousOutput, grow_buffers
        from .dd_events import drain_log, ev_entry_points, terminal_callback

        call = ev_entry_points().dd_propagate_ev
        ev, iw, n = self._ev, self._iw, self._n
        iw[5] = 1 if c_output else 0
        iw[6] = 0
        if c_output:
            CH = np.empty((64, n, self._order + 1))
            CL = np.empty((64, n, self._order + 1))
            CT = np.empty((65, 2))
            CT[0] = self._ws[:2]
        else:
            CH = CL = np.zeros((0, 0, 0))
            CT = np.zeros((0, 2))
        while True:
            code = call(self._prog, self._cv, self._upd, self._H, self._L, self._order,
                        self._full, self._pH, self._pL, self._XH, self._XL, self._NH, self._NL,
                        self._ws, iw, gH, gL, OH, OL, self._hrows, *ev.arrays, CH, CL, CT)
            if code == OC_BUFFER_FULL:
                CH, CL, CT = grow_buffers(CH, CL, CT)
                continue
            drain_log(self, ev, self.event_log)
            if code == OC_EVENT:
                self._last_event = int(ev.eiw[1])
                if terminal_callback(self, ev) and not single:
                    continue
            elif code == OC_EVENT_PY:
                continue
            elif code == 3:
                ev.reset_cooldowns()    # as heyoka: meaningless after a failure
            break
        co = None
        if c_output and iw[6] > 0:
            co = DDContinuousOutput.from_buffers(CH, CL, CT, int(iw[6]))
        return code, co

    def step(self, max_delta_t=None):
        """One step forward (at most ``max_delta_t`` long; negative: backward).

        Returns a :class:`~taylorjit.StepResult` ``(outcome, h)`` with the step ``h`` as
        a 0-d DDArray: ``Outcome.time_limit`` when the step was clamped to
        ``max_delta_t``, ``Outcome.err_nf_state`` when it would produce a non-finite
        state (left unchanged), ``Outcome.event`` when a terminal event ended the step
        (``event_index`` says which; also when its callback returned True, as in
        heyoka)."""
        from .odesys import Outcome, StepResult

        direction = -1.0 if (max_delta_t is not None and float(max_delta_t) < 0) else 1.0
        return self._one_step(max_delta_t, direction, Outcome, StepResult)

    def step_backward(self, max_delta_t=None):
        """One step backward in time (at most ``|max_delta_t|`` long)."""
        from .odesys import Outcome, StepResult

        return self._one_step(max_delta_t, -1.0, Outcome, StepResult)

    def _one_step(self, max_delta_t, direction, Outcome, StepResult):
        code = self._run(False, (0.0, 0.0), True, max_delta_t, 0, direction)[0]
        oc = _outcomes()[code]
        h = DDArray(self._ws[11], self._ws[12])
        if oc is Outcome.event:
            return StepResult(oc, h, self._last_event)
        if oc is Outcome.success and max_delta_t is not None and \
                abs(self._ws[11]) == abs(float(max_delta_t)):
            oc = Outcome.time_limit
        return StepResult(oc, h)

    def update_d_output(self, t, rel_time=False):
        """Dense output: the state at time ``t`` (absolute, or relative to the current
        time with ``rel_time=True``) from the Taylor polynomial of the last step (exact
        inside the step to the integration's accuracy).  Returns (and stores in
        :attr:`d_output`) a DDArray of shape ``(n,)``."""
        from .._dd.arith import add

        th, tl = dd_scalar(t, "t")
        if rel_time:
            th, tl = add.py_func(self._ws[0], self._ws[1], th, tl)
        dh, dl = add.py_func(th, tl, -self._ws[13], -self._ws[14])
        OH = np.empty(self._n)
        OL = np.empty(self._n)
        self._ep.dd_dense(self._H, self._L, self._n, self._order, dh, dl, OH, OL)
        self._d_output = DDArray(OH, OL)
        return self._d_output

    @property
    def d_output(self) -> DDArray:
        """The last result of :meth:`update_d_output` (NaN before the first call)."""
        d = getattr(self, "_d_output", None)
        return DDArray(np.full(self._n, np.nan)) if d is None else d

    def propagate_until(self, t, *, max_delta_t=None, max_steps=None, c_output=False):
        """Propagate to time ``t`` (a number, decimal string, mpf or (hi, lo) pair; the
        final time is reached exactly in dd).

        Returns a :class:`~taylorjit.PropagateResult` ``(outcome, min_h, max_h,
        n_steps, c_output, ...)`` (step sizes as floats; ``event_index`` after a
        terminal event).  ``c_output=True``: ``c_output`` is a continuous output of the
        propagation evaluated in dd (``res.c_output(t)``, a DDArray)."""
        from .odesys import PropagateResult

        tf = dd_scalar(t, "t")
        code, _, _, co = self._run(True, tf, False, max_delta_t, max_steps,
                                   self._direction(tf), c_output=c_output)
        return PropagateResult(_outcomes()[code], *self._stats(), co,
                               self._last_event if code == OC_EVENT else None)

    def propagate_for(self, delta_t, *, max_delta_t=None, max_steps=None, c_output=False):
        """Propagate for ``delta_t`` (negative: backward); the final time is the dd sum."""
        from .._dd.arith import add

        dh, dl = dd_scalar(delta_t, "delta_t")
        tf = add.py_func(self._ws[0], self._ws[1], dh, dl)
        return self.propagate_until(tf, max_delta_t=max_delta_t, max_steps=max_steps,
                                    c_output=c_output)

    def propagate_grid(self, grid, *, max_delta_t=None, max_steps=None):
        """Propagate over ``grid`` (monotonic, starting at or after the current time in
        the direction of integration) and return the states there.

        Returns a :class:`~taylorjit.GridResult` whose ``states`` is a DDArray of shape
        ``(len(grid), n)`` (NaN rows after an early stop, e.g. a terminal event:
        ``event_index`` says which), evaluated from the Taylor polynomial of the step
        containing each grid point (no step is shortened for a grid point)."""
        from .odesys import GridResult
        from .._dd.arith import add

        if isinstance(grid, tuple):
            grid = list(grid)
        gH, gL = dd_array(grid, "grid")
        gH = np.ascontiguousarray(np.atleast_1d(gH).reshape(-1))
        gL = np.ascontiguousarray(np.atleast_1d(gL).reshape(-1))
        if gH.size == 0:
            raise ValueError("the grid is empty: pass at least one time")
        tf = (float(gH[-1]), float(gL[-1]))
        direction = self._direction(tf)
        prev = (self._ws[0], self._ws[1])
        for j in range(gH.size):
            d = add.py_func(gH[j], gL[j], -prev[0], -prev[1])
            if d[0] * direction < 0.0 or (j > 0 and d[0] == 0.0):
                what = "the current time" if j == 0 else f"grid[{j - 1}]"
                raise ValueError(f"grid[{j}] = {DDArray(gH[j], gL[j])} is not after {what} in "
                                 "the direction of integration: the grid must be strictly "
                                 "monotonic and start at or after the current time")
            prev = (gH[j], gL[j])
        code, OH, OL, _ = self._run(True, tf, False, max_delta_t, max_steps, direction,
                                    grid=(gH, gL))
        return GridResult(_outcomes()[code], *self._stats(), DDArray(OH, OL),
                          event_index=self._last_event if code == OC_EVENT else None)

    def _direction(self, tf):
        from .._dd.arith import add

        d = add.py_func(tf[0], tf[1], -self._ws[0], -self._ws[1])
        return -1.0 if d[0] < 0.0 else 1.0

    def _stats(self):
        ws = self._ws
        return float(ws[9]), float(ws[10]), int(self._iw[4])

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_ep", None)          # the compiled module: reloaded on unpickling
        return state

    def __setstate__(self, state):
        from .._dd._build import entry_points

        self.__dict__.update(state)
        self._ep = entry_points()
        self._busy = False

    def __repr__(self):
        return (f"DDTaylorAdaptive(dim={self._n}, order={self._order}, tol={self._tol!r}, "
                f"time={self.time}, state={self.state})")
