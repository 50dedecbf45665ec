"""Adaptive Taylor integration at arbitrary precision: :class:`MPTaylorAdaptive`.

The Python VM of :mod:`taylorjit._mp` computes the Taylor coefficients of the
step at ``p`` bits; the step size follows heyoka's rule (Jorba and Zou, as the
double and double-double integrators) on the base-2 logarithms of the
coefficients (no overflow at any exponent), at the order ``max(2, ceil(-ln(tol)/2
+ 1))`` (90 at 256 bits); the new state is the Taylor polynomial at ``h``, a sum
of exact products rounded once.  Steps are doubles except the last one of a
propagation (the exact difference to the final time) and those cut at a
terminal event, and the time is kept exactly (a sum of the steps with as many
bits as it needs), so the final time is hit exactly.  Events: :mod:`.mp_events`.

Everything runs in Python: a step of the pendulum takes a few milliseconds at
256 bits (docs/extended-precision.md).
"""
from __future__ import annotations

import math

import numpy as np

from .._mp.num import (ZERO, cmp, context, fdot, from_ctx as _pair, from_float, log2_abs, norm,
                       powers, to_ctx, to_float, to_tuple as _tuple, xadd)
from .._mp.values import MPReal, check_precision, mp_array, mp_scalar, out_array

__all__ = ["MPTaylorAdaptive"]

OC_SUCCESS, OC_TIME_LIMIT, OC_STEP_LIMIT, OC_ERR_NF, OC_EVENT = range(5)


def _outcome(code):
    from .odesys import Outcome

    return (Outcome.success, Outcome.time_limit, Outcome.step_limit, Outcome.err_nf_state,
            Outcome.event)[code]


def _rho_factor(order):
    """heyoka's safety factor exp(-0.7 / (order - 1)) / e^2."""
    e = math.exp(1.0)
    return math.exp((-7.0 / 10.0) / float(order - 1)) / (e * e)


def _neg(a):
    return (-a[0], a[1])


class MPTaylorAdaptive:
    """Adaptive Taylor integrator at arbitrary precision (``precision`` bits, mpmath numbers).

    Built by ``tj.TaylorAdaptive(sys, state, precision=<bits>, ...)``.  A Python VM:
    a few milliseconds per step for small systems at 256 bits, ~1000x the double
    integrator (docs/extended-precision.md).

    Parameters
    ----------
    sys : list of (variable, expression) pairs, or dict
        The ODE system, as for :class:`taylorjit.TaylorAdaptive` (``tj.par[i]`` and
        ``tj.time`` allowed).
    state : sequence
        Initial state, converted without loss and rounded once to ``precision``
        bits: floats, decimal strings (``"0.05"`` is 1/20), Fraction, Decimal, mpmath
        numbers, ``(hi, lo)`` tuples, a DDArray.
    time : number, str, mpf, optional
        Initial time (default 0), kept exactly.
    pars : sequence, optional
        Values of the runtime parameters (same conversions as ``state``).
    tol : number, optional
        Tolerance (default ``2**-precision``); order ``max(2, ceil(-ln(tol)/2 + 1))``.
    precision : int
        Number of bits of the significand (e.g. 113 as IEEE quad, 256).
    events : list of Event, optional
        As for :class:`taylorjit.TaylorAdaptive` (heyoka's ``t_events=`` / ``nt_events=``
        too): a terminal event ends the step at the event and stops ``propagate_*``
        with ``Outcome.event`` unless its callback ``cb(ta, d_sgn)`` returns True;
        non-terminal events call ``cb(ta, t, d_sgn)`` after the step or are recorded
        in :attr:`event_log` as ``(index, t, d_sgn)``.

    Attributes
    ----------
    state, pars : ndarray of mpf
        Current values (object arrays of mpmath numbers, copies; assign to set them).
    time : mpf
        Current time (exact).
    tc : ndarray of mpf
        Taylor coefficients ``(n, order + 1)`` of the state at the start of the last step.
    order, tol, dim, precision

    Examples
    --------
    >>> import mpmath, taylorjit as tj
    >>> x, v = tj.make_vars("x", "v")
    >>> ta = tj.TaylorAdaptive([(x, v), (v, -x)], ["1", "0"], precision=128)
    >>> ta.order
    46
    >>> res = ta.propagate_until("0.5")
    >>> res.outcome, str(ta.time)
    (<Outcome.time_limit>, '0.5')
    >>> with mpmath.workprec(140):
    ...     bool(abs(ta.state[0] - mpmath.cos(mpmath.mpf("0.5"))) < 2.0 ** -125)
    True
    """

    def __init__(self, sys, state, time=0, pars=None, tol=None, *, precision=256, events=None,
                 t_events=None, nt_events=None):
        from .._codegen.decompose import decompose
        from .._mp.vm import MPProgram, new_tables
        from .events import prepare_events
        from .mp_events import MPEventBundle
        from .odesys import check_variables, heyoka_options, parse_system

        self._p = p = check_precision(precision)
        svars, rhs = parse_system(sys)
        _, events = heyoka_options(None, events, None, t_events, nt_events)
        events, ev_exprs = prepare_events(events, svars)
        try:
            d = decompose(list(rhs) + list(ev_exprs), svars)
        except ValueError:
            check_variables(svars, rhs)
            raise
        self._prog = MPProgram(d, p, ode=True)
        self._decomposition = d
        self._n = n = len(svars)
        self._hrows = list(range(n)) + list(d.outputs[n:])
        self._full = any(r >= n for r in self._hrows[n:])
        tolp = (1, -p) if tol is None else mp_scalar(tol, p, "tol")
        if tolp[0] <= 0:
            raise ValueError(f"tol must be a positive number, got {tol!r} (the default is "
                             f"2**-{p})")
        self._tolp = norm(*tolp, p)
        lt = log2_abs(*tolp)
        self._order = order = max(2, int(math.ceil(lt * -math.log(2.0) / 2.0 + 1.0)))
        self._rhofac = _rho_factor(order)
        self._ev = MPEventBundle(events, d.outputs[n:], order, p)
        self.event_log = []
        self._last_event = None
        self._last_dsgn = 0
        self._busy = False
        self._M, self._E = new_tables(d.n_slots, order)
        self._X = [ZERO] * n
        self.state = state
        self._n_pars = d.n_pars
        if pars is not None or d.n_pars:
            self.pars = pars
        self.time = time
        self._t_start = self._t        # start of the last step (dense output)
        self._h_last = ZERO
        self._d_output = None

    # ------------------------------------------------------------------ values
    @property
    def state(self):
        return out_array(self._X, (self._n,), self._p)

    @state.setter
    def state(self, value):
        if isinstance(value, tuple):
            value = list(value)
        vals, shape = mp_array(value, self._p, "state")
        if len(vals) != self._n or len(shape) > 1:
            raise ValueError(f"state has shape {shape} but the system has {self._n} equations: "
                             "pass one initial value per equation (a (hi, lo) pair is a tuple "
                             "inside the list)")
        self._X = vals

    @property
    def time(self):
        return MPReal(_tuple(self._t), self._p)

    @time.setter
    def time(self, value):
        self._t = mp_scalar(value, self._p, "time")

    @property
    def pars(self):
        return out_array(self._prog.env.pars, (len(self._prog.env.pars),), self._p)

    @pars.setter
    def pars(self, value):
        if value is None:
            raise ValueError(f"the system uses runtime parameters par[0..{self._n_pars - 1}]: "
                             f"pass pars=[...] with {self._n_pars} values")
        if isinstance(value, tuple):
            value = list(value)
        vals, _ = mp_array(value, self._p, "pars")
        if len(vals) < self._n_pars:
            raise ValueError(f"pars has {len(vals)} values but the system uses {self._n_pars} "
                             f"parameters (par[0]..par[{self._n_pars - 1}])")
        self._prog.env.pars = vals

    @property
    def tc(self):
        o = self._order + 1
        return out_array([(self._M[i][k], self._E[i][k]) for i in range(self._n)
                          for k in range(o)], (self._n, o), self._p)

    @property
    def order(self) -> int:
        return self._order

    @property
    def tol(self):
        return MPReal(_tuple(self._tolp), self._p)

    @property
    def precision(self) -> int:
        """Number of bits of the significand."""
        return self._p

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

    # ------------------------------------------------------------------ one step
    def _step_size(self):
        """heyoka's step size (a positive double, inf or nan) from the coefficients."""
        M, E, o = self._M, self._E, self._order
        la = lo = lom1 = -math.inf
        for i in self._hrows:
            la = max(la, log2_abs(M[i][0], E[i][0]))
            lo = max(lo, log2_abs(M[i][o], E[i][o]))
            lom1 = max(lom1, log2_abs(M[i][o - 1], E[i][o - 1]))
        lnum = la if la > 0.0 else 0.0
        r = min((lnum - lo) / o, (lnum - lom1) / (o - 1))
        if r != r:
            return math.nan
        try:
            return 2.0 ** r * self._rhofac if r < 1100 else math.inf
        except OverflowError:
            return math.inf

    def _take_step(self, tf, max_h, sgn, grid, gi, OUT):
        """One step (ODE jet, size, events, new state, grid points in it).  Returns
        ``(code, gi, logged, limited, h_abs_float)``; code None: a step was taken."""
        p, n, order = self._p, self._n, self._order
        M, E = self._M, self._E
        t0 = self._t
        self._prog.env.t = norm(*t0, p)
        for i in range(n):
            M[i][0], E[i][0] = self._X[i]
        try:
            self._prog.jet(M, E, order, self._full)
        except (ZeroDivisionError, ValueError):
            return OC_ERR_NF, gi, [], False, 0.0
        h = min(self._step_size(), max_h)
        limited = False
        dt = None
        if tf is not None:
            dt = xadd(tf, _neg(t0))
            limited = not (abs(to_float(*dt)) > h)
        if limited:
            hp = norm(*dt, p)
        else:
            if not (0.0 < h < math.inf):
                return OC_ERR_NF, gi, [], False, 0.0
            hp = from_float(sgn * h, p)
        cands, best = [], -1
        AH = None
        if self._ev.n_events and hp[0] != 0:
            Hm, He = powers(hp, order, p)
            AH = ([abs(m) for m in Hm], He)
            cands = self._ev.detect(M, E, order, hp, AH)
            for c, cand in enumerate(cands):
                if self._ev.events[cand[1]].terminal:
                    best = c
                    break
            if best >= 0:
                hp = _pair(cands[best][0], p)
                limited = False
        Hm, He = powers(hp, order, p)
        new = [fdot(M[i][:order + 1], E[i][:order + 1], Hm, He, p) for i in range(n)]
        logged = []
        if cands:
            from .mp_events import g_eps_of

            ctx = context(p)
            g_eps = g_eps_of(M, E, self._hrows, to_ctx(ctx, self._tolp), p)
            logged = [(c[1], xadd(t0, _pair(c[0], p)), c[2])
                      for c in self._ev.commit(cands, best, to_ctx(ctx, hp), g_eps)]
            if best >= 0:
                self._last_event = cands[best][1]
                self._last_dsgn = cands[best][2]
        elif self._ev.n_events:
            self._ev.advance(to_ctx(context(p), hp))
        t1 = tf if limited else xadd(t0, hp)
        while grid is not None and gi < len(grid):     # grid points in [t0, t1]
            if cmp(grid[gi], t1) * sgn > 0:
                break
            OUT[gi] = self._eval_at(norm(*xadd(grid[gi], _neg(t0)), p))
            gi += 1
        self._X = new
        self._t_start = t0
        self._t = t1
        self._h_last = hp
        return (OC_EVENT if best >= 0 else None), gi, logged, limited, abs(to_float(*hp))

    def _eval_at(self, dt):
        """The Taylor polynomials of the state rows at the offset ``dt`` (a pair)."""
        o = self._order + 1
        Hm, He = powers(dt, self._order, self._p)
        return [fdot(self._M[i][:o], self._E[i][:o], Hm, He, self._p) for i in range(self._n)]

    def _report(self, logged):
        """Non-terminal events of the last step, in time order: callbacks or the log."""
        for e, t, dsg in logged:
            t = MPReal(_tuple(t), self._p)
            cb = self._ev.events[e].callback
            if cb is None:
                self.event_log.append((e, t, dsg))
            else:
                cb(self, t, dsg)

    def _run(self, tf, single, max_delta_t, max_steps, sgn, grid=None, OUT=None):
        """The propagation loop: ``(code, min_h, max_h, n_steps, grid index)``."""
        from .mp_events import terminal_callback

        if self._busy:
            raise RuntimeError("this integrator is already propagating (a step or propagate_* "
                               "call from one of its own event callbacks): return False from a "
                               "terminal event's callback to stop it and continue after it "
                               "returns")
        if max_delta_t is None:
            max_h = math.inf
        else:
            max_h = abs(float(max_delta_t))
            if not (max_h > 0.0) or max_h != max_h:
                raise ValueError(f"max_delta_t must be a non-zero step length limit, got "
                                 f"{max_delta_t!r}")
        max_steps = 0 if max_steps is None else int(max_steps)
        if max_steps < 0:
            raise ValueError(f"max_steps must be >= 0 (0: no limit), got {max_steps}")
        self._last_event = None
        min_h, mx_h, nsteps, gi = math.inf, 0.0, 0, 0
        m = 0 if grid is None else len(grid)
        self._busy = True
        try:
            while True:
                if tf is not None and cmp(tf, self._t) == 0 and gi >= m:
                    return OC_TIME_LIMIT, min_h, mx_h, nsteps, gi
                code, gi, logged, limited, ah = self._take_step(tf, max_h, sgn, grid, gi, OUT)
                if code == OC_ERR_NF:
                    self._ev.reset_cooldowns()
                    return code, min_h, mx_h, nsteps, gi
                if not limited:
                    min_h, mx_h = min(min_h, ah), max(mx_h, ah)
                if self._h_last[0] != 0:
                    nsteps += 1
                self._busy = False
                try:
                    self._report(logged)
                    if code == OC_EVENT:
                        if not terminal_callback(self, self._ev, self._last_event) or single:
                            return code, min_h, mx_h, nsteps, gi
                        self._last_event = None
                finally:
                    self._busy = True
                if limited and gi >= m:
                    return OC_TIME_LIMIT, min_h, mx_h, nsteps, gi
                if single:
                    return (OC_TIME_LIMIT if limited else OC_SUCCESS), min_h, mx_h, nsteps, gi
                if max_steps and nsteps >= max_steps:
                    return OC_STEP_LIMIT, min_h, mx_h, nsteps, gi
        finally:
            self._busy = False

    # ------------------------------------------------------------------ public stepping
    def step(self, max_delta_t=None):
        """One step forward (at most ``max_delta_t`` long; negative: backward).

        Returns a :class:`~taylorjit.StepResult` ``(outcome, h)`` with ``h`` an mpmath
        number: ``Outcome.time_limit`` when the step was clamped to ``max_delta_t``,
        ``Outcome.err_nf_state`` when the coefficients are not finite (state left
        unchanged), ``Outcome.event`` when a terminal event ended the step."""
        sgn = -1.0 if (max_delta_t is not None and float(max_delta_t) < 0) else 1.0
        return self._one_step(max_delta_t, sgn)

    def step_backward(self, max_delta_t=None):
        """One step backward in time (at most ``|max_delta_t|`` long)."""
        return self._one_step(max_delta_t, -1.0)

    def _one_step(self, max_delta_t, sgn):
        from .odesys import Outcome, StepResult

        code = self._run(None, True, max_delta_t, 0, sgn)[0]
        oc = _outcome(code)
        h = MPReal(_tuple(self._h_last), self._p)
        if oc is Outcome.event:
            return StepResult(oc, h, self._last_event)
        if oc is Outcome.success and max_delta_t is not None and \
                abs(to_float(*self._h_last)) == abs(float(max_delta_t)):
            oc = Outcome.time_limit
        return StepResult(oc, h)

    def update_d_output(self, t, rel_time=False):
        """Dense output: the state at time ``t`` (absolute, or relative to the current
        time with ``rel_time=True``) from the Taylor polynomial of the last step.
        Returns (and stores in :attr:`d_output`) an object array of shape ``(n,)``."""
        tp = mp_scalar(t, self._p, "t")
        if rel_time:
            tp = xadd(self._t, tp)
        vals = self._eval_at(norm(*xadd(tp, _neg(self._t_start)), self._p))
        self._d_output = out_array(vals, (self._n,), self._p)
        return self._d_output

    @property
    def d_output(self):
        """The last result of :meth:`update_d_output` (NaN before the first call)."""
        if self._d_output is None:
            import mpmath

            return np.array([mpmath.nan] * self._n, dtype=object)
        return self._d_output

    def propagate_until(self, t, *, max_delta_t=None, max_steps=None, c_output=False):
        """Propagate to time ``t`` (reached exactly).

        Returns a :class:`~taylorjit.PropagateResult` ``(outcome, min_h, max_h, n_steps,
        ...)`` (step sizes as floats; ``event_index`` after a terminal event).
        Continuous output is not available at arbitrary precision (use
        :meth:`propagate_grid` or :meth:`update_d_output`)."""
        from .odesys import PropagateResult

        _no_c_output(c_output)
        tf = mp_scalar(t, self._p, "t")
        code, mn, mx, ns, _ = self._run(tf, False, max_delta_t, max_steps, self._sign(tf))
        return PropagateResult(_outcome(code), mn, mx, ns, None,
                               self._last_event if code == OC_EVENT else None)

    def propagate_for(self, delta_t, *, max_delta_t=None, max_steps=None, c_output=False):
        """Propagate for ``delta_t`` (negative: backward); the final time is the exact sum."""
        _no_c_output(c_output)
        tf = xadd(self._t, mp_scalar(delta_t, self._p, "delta_t"))
        return self._until_pair(tf, max_delta_t, max_steps)

    def _until_pair(self, tf, max_delta_t, max_steps):
        from .odesys import PropagateResult

        code, mn, mx, ns, _ = self._run(tf, False, max_delta_t, max_steps, self._sign(tf))
        return PropagateResult(_outcome(code), mn, mx, ns, None,
                               self._last_event if code == OC_EVENT else None)

    def propagate_grid(self, grid, *, max_delta_t=None, max_steps=None):
        """Propagate over ``grid`` (strictly monotonic, starting at or after the current
        time in the direction of integration) and return the states there.

        Returns a :class:`~taylorjit.GridResult` whose ``states`` is an object array
        ``(len(grid), n)`` of mpmath numbers (NaN rows after an early stop), evaluated
        from the Taylor polynomial of the step containing each grid point."""
        import mpmath

        from .odesys import GridResult

        if isinstance(grid, tuple):
            grid = list(grid)
        g, shape = mp_array(grid, self._p, "grid")
        if not g:
            raise ValueError("the grid is empty: pass at least one time")
        if len(shape) > 1:
            raise ValueError(f"the grid must be one-dimensional, got shape {shape}")
        sgn = self._sign(g[-1])
        prev = self._t
        for j, gj in enumerate(g):
            c = cmp(gj, prev)
            if c * sgn < 0 or (j > 0 and c == 0):
                what = "the current time" if j == 0 else f"grid[{j - 1}]"
                raise ValueError(f"grid[{j}] is not after {what} in the direction of "
                                 "integration: the grid must be strictly monotonic and start "
                                 "at or after the current time")
            prev = gj
        OUT = [None] * len(g)
        code, mn, mx, ns, _ = self._run(g[-1], False, max_delta_t, max_steps, sgn, g, OUT)
        states = np.empty((len(g), self._n), dtype=object)
        for j, row in enumerate(OUT):
            states[j] = [mpmath.nan] * self._n if row is None else \
                out_array(row, (self._n,), self._p)
        return GridResult(_outcome(code), mn, mx, ns, states,
                          event_index=self._last_event if code == OC_EVENT else None)

    def _sign(self, tf):
        return -1.0 if cmp(tf, self._t) < 0 else 1.0

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_busy"] = False
        return state

    def __repr__(self):
        return (f"MPTaylorAdaptive(dim={self._n}, precision={self._p}, order={self._order}, "
                f"time={self.time}, state=[{', '.join(str(v) for v in self.state)}])")


def _no_c_output(c_output):
    if c_output:
        raise NotImplementedError("continuous output (c_output=True) is not available at "
                                  "arbitrary precision: use propagate_grid or update_d_output")
