"""A drop-in for ``scipy.integrate.solve_ivp`` that integrates with the Taylor method.

:func:`solve_ivp` traces the user's numpy right-hand side once
(:mod:`taylorjit._symbolic.tracing`), builds (or reuses) a :class:`TaylorAdaptive` for
it and returns scipy's result fields.  Everything scipy users rely on maps as
follows:

* ``rtol``/``atol`` -> the Taylor tolerance ``tol = max(eps, min(rtol, min(atol)))``.
  The Taylor step-size rule controls the local error *absolutely* for state
  norms below 1 and *relatively* above (Jorba & Zou), so the smaller of the two
  scipy tolerances bounds the error under both of scipy's criteria
  (``atol + rtol*|y|``); below machine epsilon nothing is gained in double.
  ``tol`` may also be passed directly.
* ``max_step`` -> the integrator's ``max_delta_t``; ``first_step`` bounds the
  first step (as scipy: it is never longer); ``vectorized`` is accepted and
  ignored (the function is traced, never called on batches).  An ``rtol``
  below machine epsilon is raised to it with scipy's warning (scipy's bound is
  100 eps; the Taylor method reaches eps).
* Python branches on the state or on ``t`` (``if``, ``min``/``max``, ``abs``,
  ``np.where``, ``np.maximum``/``np.minimum``/``np.clip``/``np.sign``/
  ``np.heaviside``) are traced at the current point and recorded as *guards*
  (:mod:`taylorjit._symbolic.guards`): each smooth piece is integrated until a guard
  changes sign, the chunk is cut at the root, and the piece for the new
  branch takes over there.  Two branches that both push towards a switching
  surface (a sliding mode) stop the integration with ``status = -1``.
* ``nfev`` counts Taylor steps (one expansion of the right-hand side per step);
  ``njev`` and ``nlu`` are 0.
* Events follow scipy: callables ``event(t, y, *args)`` with optional
  ``terminal`` (bool, or the number of occurrences after which to stop) and
  ``direction`` (sign along the direction of integration) attributes.  They
  are traced like ``fun``; their Taylor polynomial over each step comes from a
  compiled expression kernel fed with the step's state coefficients, and its
  roots are isolated and polished by :func:`taylorjit._integrate.roots.event_roots`.
  With terminal events the propagation runs in chunks of steps and stops in the
  chunk where the event fires; the state at the event comes from the dense
  output.
"""
from __future__ import annotations

import math

import numpy as np

from .complex_ivp import solve_ivp_complex
from .coutput import ContinuousOutput
from .integrator import TaylorAdaptive
from .ivp_args import _check_options, _check_t_eval, _check_tol_shapes
from .ivp_events import _Events
from .ivp_result import (MESSAGES, STATUS_END, STATUS_EVENT, STATUS_FAILED, DenseSolution,
                         OdeResult, _concat, _trivial)
from .ivp_switching import _ZENO_SWITCHES, _cond, _GuardScan, _settle
from .odesys import Outcome
from .._symbolic.tracing import trace

__all__ = ["solve_ivp", "OdeResult", "DenseSolution"]

_CHUNK_MAX = 1 << 14   # steps per chunk of a propagation without dense output
_HORIZON_MAX = 1e300   # an infinite span ends here if no terminal event fired before
_SWITCH_MARK = -1      # event index of a switching point kept in ``found`` (not an event)


def _integrator(holder, state, outputs, y0, t0, pars, tol, compact, hacc):
    """A TaylorAdaptive for the traced system (or one piece of it), reused across calls
    (no rebuild); ``holder`` is the dict that keeps it.

    The integrator is taken out of the cache while in use (:func:`_release` puts
    it back), so concurrent calls with the same function never share one."""
    cache = holder.setdefault("_integrators", {})
    ta = cache.pop((tol, compact, hacc), None)
    if ta is None:
        return TaylorAdaptive(list(zip(state, outputs)), y0, time=t0, pars=pars,
                              tol=tol, compact=compact, high_accuracy=hacc)
    ta.time = t0
    ta.state = y0
    ta.pars = pars
    return ta


def _release(holder, ta, tol, compact, hacc):
    holder.setdefault("_integrators", {})[(tol, compact, hacc)] = ta


# ----------------------------------------------------------------- solve_ivp
def solve_ivp(fun, t_span, y0, method="taylor", t_eval=None, dense_output=False, events=None,
              vectorized=False, args=None, **options):
    """Solve an initial value problem like ``scipy.integrate.solve_ivp``, with Taylor's method.

    ``fun(t, y, *args)`` is a numpy function written for scipy; it is traced
    once into symbolic expressions (float arguments become runtime parameters,
    so new ``args`` values reuse the compiled kernel) and integrated by the
    adaptive Taylor integrator.

    Parameters
    ----------
    fun : callable
        ``fun(t, y, *args)`` returning the ``n`` derivatives (list, tuple or array).
    t_span : (float, float)
        ``(t0, tf)``; ``tf < t0`` integrates backwards.  ``tf`` may be infinite
        (``np.inf`` or ``-np.inf``) only with a terminal event, which ends the
        integration.
    y0 : array_like, shape (n,)
        Initial state.  A complex ``y0`` integrates in complex arithmetic, as
        scipy: ``y`` is complex while ``fun`` is traced and the results
        (``y``, ``sol(t)``, ``y_events``) are complex (internally ``2n`` real
        equations, real parts then imaginary parts; the supported complex
        operations are listed under "Complex states" in the documentation's solve_ivp page).
    method : str
        ``"taylor"``.  scipy's method names are accepted with a warning.
    t_eval : array_like, optional
        Times at which to store the solution (sorted in the direction of
        integration, inside ``t_span``); default: the end of every step.
    dense_output : bool
        Return the continuous solution as ``sol``.
    events : callable or list of callables, optional
        ``event(t, y, *args)``; optional attributes ``terminal`` (bool or int
        count) and ``direction`` (sign of the crossing along the integration).
    vectorized : bool
        Ignored (the function is traced, not called on batches of states).
    args : tuple, optional
        Extra arguments of ``fun`` and of the events.
    **options
        ``rtol`` (default 1e-3), ``atol`` (1e-6): the Taylor tolerance is
        ``max(eps, min(rtol, min(atol)))``; ``tol``: the Taylor tolerance
        directly; ``max_step``: largest step; ``first_step``: bound of the
        first step (as scipy); ``compact``: kernel kind (see
        :class:`~taylorjit.TaylorAdaptive`); ``high_accuracy``: compensated
        summation.

    Returns
    -------
    OdeResult
        ``t, y, sol, t_events, y_events, nfev, njev, nlu, status, message,
        success`` as in scipy (``nfev`` counts Taylor steps).

    Raises
    ------
    TracingError
        If ``fun`` or an event contains code that cannot be traced (random
        numbers, writes into a float array, a loop whose trip count follows
        the state, a branch inside an event function); the message names the
        line and the rewrite.  Branches of ``fun`` on ``t``, the state or
        ``args`` (``if``, ``min``/``max``/``abs``, ``np.where`` ...) are traced
        at the current point and integrated piecewise (``n_switches`` in the
        result counts the switches; see ``docs/piecewise.md``).

    Examples
    --------
    >>> import numpy as np, taylorjit as tj
    >>> def kepler(t, y, mu):
    ...     r = np.sqrt(y[0]**2 + y[1]**2)
    ...     return np.array([y[2], y[3], -mu * y[0] / r**3, -mu * y[1] / r**3])
    >>> def periapsis(t, y, mu): return y[0]*y[2] + y[1]*y[3]
    >>> periapsis.direction = 1
    >>> sol = tj.solve_ivp(kepler, (0, 20), [0.5, 0, 0, np.sqrt(3)], args=(1.0,), rtol=1e-13,
    ...                    atol=1e-13, dense_output=True, events=periapsis)
    >>> sol.status, sol.message
    (0, 'The solver successfully reached the end of the integration interval.')
    >>> bool(np.allclose(sol.t_events[0], [0.0, 2 * np.pi, 4 * np.pi, 6 * np.pi], atol=1e-12))
    True
    >>> bool(np.allclose(sol.sol(2 * np.pi), [0.5, 0, 0, np.sqrt(3)], atol=1e-12))
    True
    """
    cplx = bool(options.pop("_complex_state", False))   # set by _complex.solve_ivp_complex
    tol, max_dt, compact, hacc, first_step = _check_options(options, method)
    del vectorized  # the function is traced, never called on batches
    t0, tf = (float(x) for x in t_span)
    if not math.isfinite(t0) or math.isnan(tf):
        raise ValueError(f"t_span must be (finite t0, tf), got {t_span!r}")
    y0 = np.asarray(y0)
    if np.iscomplexobj(y0):   # integrated as 2n real equations (real parts, imaginary parts)
        return solve_ivp_complex(solve_ivp, fun, t_span, y0, t_eval, dense_output, events, args,
                                 dict(options, tol=tol))
    y0 = np.asarray(y0, dtype=float)
    if y0.ndim != 1:
        raise ValueError(f"`y0` must be 1-dimensional, got shape {y0.shape}.")
    if not np.all(np.isfinite(y0)):
        raise ValueError("All components of the initial state `y0` must be finite.")
    if args is not None:
        try:
            _ = iter(args)
        except TypeError:
            raise TypeError("Supplied 'args' cannot be unpacked. Pass a tuple: args=(a,) for "
                            "a single argument") from None
        args = tuple(args)
    else:
        args = ()
    if t_eval is not None:
        t_eval = _check_t_eval(t_eval, t0, tf)
    n = y0.shape[0]
    _check_tol_shapes(options, n)
    if n == 0 or tf == t0:
        return _trivial(t0, y0, t_eval, dense_output, events)
    n_fun = n // 2 if cplx else n     # components of the state fun sees
    traced = trace(fun, n_fun, args, point=(t0, y0), complex_state=cplx)
    pars = traced.pars(args)
    if events is not None and callable(events):
        events = [events]
    ev = _Events(events, n_fun, args, traced.state, cplx) if events else None
    if not math.isfinite(tf) and not (ev is not None and any(ev.terminal)):
        # the solution would be stored step after step until memory runs out
        raise ValueError(f"t_span={t_span!r} has an infinite end but no terminal event: pass a "
                         "finite end, or an event with `terminal = True` that stops the "
                         "integration")
    if first_step is not None and first_step > abs(tf - t0):
        raise ValueError("`first_step` exceeds bounds.")
    sign = 1.0 if tf >= t0 else -1.0
    pw = traced.piecewise
    piece, why = None, None
    if pw is not None:
        piece, why = _settle(pw, pw.at(t0, y0, pars), t0, y0, pars, sign, {}, traced.state)
    holder = traced.__dict__ if pw is None else piece.cache
    ta = _integrator(holder, traced.state, traced.outputs if pw is None else piece.outputs,
                     y0, t0, pars, tol, compact, hacc)
    guards = _GuardScan(piece, traced.state, sign) if piece is not None and piece.guards else None

    terminal = ev is not None and any(ev.terminal)
    ev_pars = ev.pars(args) if ev is not None else None
    counts = [0] * (len(ev.funcs) if ev else 0)
    # without dense output the propagation runs in chunks of steps whose Taylor
    # coefficients are dropped once used (memory stays bounded on long runs); with
    # terminal events or guards, small chunks first so that an early event or switch
    # wastes few steps
    chunk = 64 if (terminal or pw is not None) else (None if dense_output else _CHUNK_MAX)
    # an infinite span (with a terminal event) runs to targets t0 + sign * horizon, the horizon
    # doubled whenever reached: a single target far away lets a step run as far (a polynomial
    # solution's Taylor series is exact, so its step size is unbounded) and the state overflow
    horizon = None if math.isfinite(tf) else max(1.0, abs(t0))
    kept, found, status, n_steps, t_stop = [], [], STATUS_END, 0, None
    step_t, step_y, out_t, out_y = [], [], [], []
    j_eval = 0
    n_switch, recent = 0, []
    first = first_step is not None
    message = None
    try:
        while why is None:
            if horizon is None:
                t_lim = tf
            else:
                t_lim = t0 + sign * horizon if horizon < _HORIZON_MAX else sign * _HORIZON_MAX
            if first:   # scipy's first_step: the first step is never longer
                mdt = first_step if max_dt is None else min(first_step, max_dt)
                res = ta.propagate_until(t_lim, max_delta_t=mdt, max_steps=1, c_output=True)
                first = False
            else:
                res = ta.propagate_until(t_lim, max_delta_t=max_dt, max_steps=chunk,
                                         c_output=True)
            co = res.c_output
            switch = None
            if co is not None:
                times = co._times
                if guards is not None:
                    # a guard changing sign ends the piece: the chunk is cut at the root
                    hits = guards.roots(co, times, pars)
                    if hits:
                        s_, t_root, e = hits[0]
                        times = times[: s_ + 2].copy()
                        times[-1] = (t_root, 0.0)
                        co = ContinuousOutput(co.tcs[: s_ + 1], times, hacc)
                        switch = (e, t_root)
                for s_, t_root, e in (ev.roots(co, times, ev_pars, sign) if ev else ()):
                    found.append((t_root, e, co(t_root)))
                    counts[e] += 1
                    if ev.terminal[e] and counts[e] >= ev.terminal[e]:
                        # the solution ends at the event, inside step s of this chunk
                        times = times[: s_ + 2].copy()
                        times[-1] = (t_root, 0.0)
                        co = ContinuousOutput(co.tcs[: s_ + 1], times, hacc)
                        status, t_stop, switch = STATUS_EVENT, t_root, None
                        break
                t_b = float(times[-1, 0])
                step_t.append(times[:-1, 0].copy())
                step_y.append(co.tcs[:, :, 0].copy())
                if t_eval is not None:
                    j_end = j_eval
                    while j_end < t_eval.shape[0] and sign * (t_eval[j_end] - t_b) <= 0:
                        j_end += 1
                    if j_end > j_eval:
                        out_t.append(t_eval[j_eval:j_end])
                        out_y.append(co(t_eval[j_eval:j_end]))
                        j_eval = j_end
                if dense_output:
                    kept.append(co)
                n_steps += co.n_steps
            if status == STATUS_EVENT:
                break
            if switch is not None:
                e, t_sw = switch
                y_sw = co(t_sw)
                g, side = piece.guards[e]
                forced = {id(g): -side}
                new, why = _settle(pw, pw.at(t_sw, y_sw, pars, forced), t_sw, y_sw, pars, sign,
                                   forced, traced.state)
                n_switch += 1
                recent.append(t_sw)
                if len(recent) > _ZENO_SWITCHES:
                    recent.pop(0)
                    if abs(recent[-1] - recent[0]) <= 1e-10 * max(1.0, abs(t_sw)):
                        why = (f"the right-hand side switched branches {_ZENO_SWITCHES} times "
                               f"within {abs(recent[-1] - recent[0]):.3g} time units up to "
                               f"t = {float(t_sw)!r} (chattering on the switching surface of "
                               f"`{_cond(g, side)}`, or a Zeno accumulation of switches)")
                if why is not None:
                    status, t_stop = STATUS_FAILED, t_sw
                    found.append((t_sw, _SWITCH_MARK, y_sw))
                    break
                _release(holder, ta, tol, compact, hacc)
                piece = new
                holder = piece.cache
                ta = _integrator(holder, traced.state, piece.outputs, y_sw, t_sw, pars, tol,
                                 compact, hacc)
                guards = _GuardScan(piece, traced.state, sign) if piece.guards else None
                continue
            if res.outcome == Outcome.err_nf_state:
                status = STATUS_FAILED
                break
            if (horizon is not None and res.outcome == Outcome.time_limit
                    and horizon < _HORIZON_MAX):
                horizon *= 2.0
                continue
            if res.outcome != Outcome.step_limit:
                break
            chunk = min(4 * chunk, _CHUNK_MAX)
        t_last, y_last = ta.time, ta.state.copy()
    finally:
        _release(holder, ta, tol, compact, hacc)

    if why is not None:
        status = STATUS_FAILED
        if t_stop is None:     # sliding at the initial point
            t_last, y_last = t0, y0.copy()
        message = (f"The integration stopped at t = {float(t_stop if t_stop is not None else t0)!r}: "
                   f"{why}. The solution up to there is returned; rewrite the switch with a "
                   "smooth formula (e.g. tanh(k*g)) or model the sliding motion explicitly.")
    if t_stop is not None:
        t_last, y_last = t_stop, found[-1][2]
        found = [f for f in found if f[1] != _SWITCH_MARK]
    if t_eval is None:
        t_out = np.concatenate(step_t + [np.array([t_last])])
        y_out = np.concatenate(step_y + [y_last[None, :]]).T.copy()
    elif out_t:
        t_out = np.concatenate(out_t)
        y_out = np.concatenate(out_y).T.copy()
    else:
        t_out, y_out = [], []     # scipy's result when no t_eval point was reached
    if ev is not None:
        t_events = [np.array([t for t, e, _ in found if e == i]) for i in range(len(ev.funcs))]
        y_events = [np.array([y for _, e, y in found if e == i]) if t_events[i].size
                    else np.empty((0,)) for i in range(len(ev.funcs))]
    else:
        t_events = y_events = None
    if message is None and status == STATUS_FAILED:
        message = (f"The integration failed at t = {t_last!r}: the state became non-finite "
                   "(a singularity of the right-hand side?).")
    elif message is None:
        message = MESSAGES[status]
    sol = DenseSolution(_concat(kept)) if (dense_output and kept) else None
    extra = {} if pw is None else {"n_switches": n_switch}   # a piecewise right-hand side
    return OdeResult(t=t_out, y=y_out, sol=sol, t_events=t_events, y_events=y_events,
                     nfev=n_steps, njev=0, nlu=0, status=status, message=message,
                     success=status != STATUS_FAILED, **extra)
