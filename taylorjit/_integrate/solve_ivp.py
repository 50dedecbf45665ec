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
import warnings

import numpy as np
from numba import njit, types

from .coutput import ContinuousOutput
from .._codegen.decompose import decompose
from .integrator import TaylorAdaptive
from .._codegen.kernel import JET_TYPE, get_kernel
from .odesys import Outcome
from .roots import event_roots, make_workspace
from .._symbolic.expr import par, subs
from .._symbolic.tracing import trace
from .._symbolic.registry import no_refcount_opts

__all__ = ["solve_ivp", "OdeResult", "DenseSolution"]

EPS = float(np.finfo(float).eps)
_SCIPY_METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")
_KNOWN_OPTIONS = ("rtol", "atol", "max_step", "first_step", "tol", "compact", "high_accuracy")
MESSAGES = {0: "The solver successfully reached the end of the integration interval.",
            1: "A termination event occurred."}


class OdeResult(dict):
    """The result of :func:`solve_ivp`, with scipy's fields as attributes.

    Attributes
    ----------
    t : ndarray, shape (n_points,)
    y : ndarray, shape (n, n_points)
    sol : DenseSolution or None
    t_events, y_events : list of ndarray or None
    nfev, njev, nlu : int
    status : int
        -1 failure, 0 end of the interval reached, 1 termination event.
    message : str
    success : bool
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e

    __setattr__ = dict.__setitem__
    __delattr__ = dict.__delitem__

    def __repr__(self):
        keys = ["message", "success", "status", "t", "y", "sol", "t_events", "y_events", "nfev",
                "njev", "nlu"]
        w = max(map(len, keys))
        return "\n".join(f"{k.rjust(w)}: {self.get(k)!r}" for k in keys if k in self)

    def __dir__(self):
        return list(self.keys())


class DenseSolution:
    """Continuous solution of :func:`solve_ivp` (``sol`` with ``dense_output=True``).

    Called like scipy's ``OdeSolution``: ``sol(t)`` is the state, shape ``(n,)``
    for a scalar ``t`` and ``(n, len(t))`` for an array.  Between steps it is the
    Taylor polynomial of the step (accurate to the requested tolerance).
    """

    def __init__(self, c_output: ContinuousOutput | None, t0=0.0, y0=None):
        self._co = c_output
        if c_output is None:  # empty interval: the constant initial state
            self._y0 = np.asarray(y0, dtype=float)
            self.ts = np.array([t0, t0])
            self.t_min = self.t_max = float(t0)
            self.n_segments = 1
        else:
            self.ts = c_output.times
            self.t_min, self.t_max = sorted(c_output.bounds)
            self.n_segments = c_output.n_steps

    def __call__(self, t):
        t = np.asarray(t, dtype=float)
        if self._co is None:
            out = np.broadcast_to(self._y0, t.shape + self._y0.shape).copy()
        else:
            out = self._co(t)
        return out if t.ndim == 0 else np.moveaxis(out, -1, 0)

    def __repr__(self):
        return f"<DenseSolution on [{self.t_min}, {self.t_max}], {self.n_segments} Taylor steps>"


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
_CHUNK_MAX = 1 << 14   # steps per chunk of a propagation without dense output
_HORIZON_MAX = 1e300   # an infinite span ends here if no terminal event fired before


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


# ----------------------------------------------------------------- argument checks
def _check_options(options, method):
    if method != "taylor":
        if method in _SCIPY_METHODS or (isinstance(method, type)):
            warnings.warn(f"method={getattr(method, '__name__', method)!r} is scipy's; "
                          "taylorjit.solve_ivp always integrates with the adaptive Taylor "
                          "method (use scipy.integrate.solve_ivp for the others)", stacklevel=3)
        else:
            raise ValueError(f"unknown method {method!r}: taylorjit.solve_ivp implements "
                             "method='taylor'")
    unknown = sorted(set(options) - set(_KNOWN_OPTIONS))
    if unknown:
        warnings.warn(f"The following arguments have no effect for a chosen solver: "
                      f"{', '.join(unknown)}.", stacklevel=3)
    rtol = options.get("rtol", 1e-3)
    atol = options.get("atol", 1e-6)
    if options.get("tol") is not None:
        tol = float(options["tol"])
    else:
        rtol_a = np.asarray(rtol, dtype=float)
        atol_a = np.asarray(atol, dtype=float)
        if np.any(rtol_a <= 0) or np.any(atol_a < 0):
            raise ValueError(f"rtol must be positive and atol non-negative, got rtol={rtol!r}, "
                             f"atol={atol!r}")
        if np.any(rtol_a < EPS):
            # scipy's warning (its methods stop at 100 eps; the Taylor method reaches eps)
            warnings.warn(f"At least one element of `rtol` is too small. Setting "
                          f"`rtol = np.maximum(rtol, {EPS!r})`.", stacklevel=3)
        cand = [float(np.min(rtol_a))] + ([float(np.min(atol_a))] if np.any(atol_a > 0) else [])
        tol = min(cand)
    tol = max(tol, EPS)
    max_step = options.get("max_step", np.inf)
    if max_step is None or max_step == np.inf:
        max_dt = None
    else:
        max_dt = float(max_step)
        if not max_dt > 0:
            raise ValueError(f"max_step must be positive, got {max_step!r}")
    first_step = options.get("first_step")
    if first_step is not None:
        first_step = float(first_step)
        if not first_step > 0:
            raise ValueError("`first_step` must be positive.")
    return (tol, max_dt, options.get("compact"), bool(options.get("high_accuracy", False)),
            first_step)


def _check_tol_shapes(options, n):
    """scipy's rule: ``rtol`` and ``atol`` are scalars or have one value per component."""
    for name in ("rtol", "atol"):
        if options.get(name) is None:
            continue
        a = np.asarray(options[name], dtype=float)
        if a.ndim > 0 and a.shape != (n,):
            raise ValueError(f"`{name}` has shape {a.shape} but the state has {n} components: "
                             f"pass a scalar or one value per component (shape ({n},))")


def _check_t_eval(t_eval, t0, tf):
    t_eval = np.asarray(t_eval, dtype=float)
    if t_eval.ndim != 1:
        raise ValueError("`t_eval` must be 1-dimensional.")
    lo, hi = min(t0, tf), max(t0, tf)
    if np.any(t_eval < lo) or np.any(t_eval > hi):
        raise ValueError("Values in `t_eval` are not within `t_span`.")
    d = np.diff(t_eval)
    if (tf >= t0 and np.any(d <= 0)) or (tf < t0 and np.any(d >= 0)):
        raise ValueError("Values in `t_eval` are not properly sorted.")
    return t_eval


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


# ----------------------------------------------------------------- guards (piecewise systems)
_ZENO_SWITCHES = 64   # this many switches in a vanishing time interval: chattering


def _cond(g, side):
    from .._symbolic.guards import cond_text

    return cond_text(g, "gt" if side > 0 else "lt")


class _GuardScan:
    """The guards of a piece as one expression kernel; roots are the crossings away from
    the piece's side (in the direction of integration)."""

    def __init__(self, piece, state, sign):
        hit = piece.cache.get("_scan")
        if hit is None:
            hit = piece.cache["_scan"] = _expr_kernel([g for g, _ in piece.guards], state)
        self.kernel, self.outs = hit
        # crossings from side s to -s along the integration: dg/dt has the sign -s * sign
        self.dirs = np.array([-s_ * sign for _, s_ in piece.guards], dtype=np.int64)

    def roots(self, co, times, pars):
        return _roots(self.kernel, self.outs, co, times, pars, self.dirs)


def _lie(piece, g, state):
    """dg/dt along the piece's flow (symbolic, cached on the piece)."""
    from .._symbolic.guards import lie_derivative

    key = ("_lie", id(g))
    hit = piece.cache.get(key)
    if hit is None:
        hit = piece.cache[key] = lie_derivative(g, state, piece.outputs)
    return hit


def _settle(pw, piece, t, y, pars, sign, forced, state):
    """The piece to integrate from (t, y): every guard at its switching surface (forced or
    exactly 0) must be on the side the flow moves into.  Returns (piece, None), or
    (piece, reason) when the flows on both sides push towards the surface (sliding)."""
    from .._symbolic.guards import numeric_values

    forced = dict(forced)
    flipped = set()
    for _ in range(4 * len(piece.guards) + 4):
        env = pw.env(y)
        vals = numeric_values([g for g, _ in piece.guards], env, pars, t)
        bad = None
        for (g, side), v in zip(piece.guards, vals):
            if v != 0.0 and id(g) not in forced:
                continue      # strictly inside its side: the flow cannot leave it at once
            rate = numeric_values([_lie(piece, g, state)], env, pars, t)[0] * sign
            if rate * side < 0:
                bad = (g, side)
                break
        if bad is None:
            return piece, None
        g, side = bad
        if id(g) in flipped:
            return piece, (f"on the switching surface of `{_cond(g, side)}` the flows of both "
                           "branches point towards the surface (a sliding mode: the solution "
                           "would chatter between the branches)")
        flipped.add(id(g))
        forced[id(g)] = -side
        piece = pw.at(t, y, pars, forced)
    return piece, "the branches at the switching point could not be settled"


def _concat(chunks):
    """One ContinuousOutput from consecutive chunks."""
    if len(chunks) == 1:
        return chunks[0]
    tcs = np.concatenate([c.tcs for c in chunks])
    times = np.concatenate([chunks[0]._times] + [c._times[1:] for c in chunks[1:]])
    return ContinuousOutput(tcs, times, chunks[0]._hacc)


def _trivial(t0, y0, t_eval, dense_output, events):
    """Result for an empty interval or an empty state (no integration)."""
    n_ev = 0 if events is None else (1 if callable(events) else len(events))
    t = np.array([t0]) if t_eval is None else np.asarray(t_eval, dtype=float)
    return OdeResult(t=t, y=np.repeat(y0[:, None], t.shape[0], axis=1),
                     sol=DenseSolution(None, t0, y0) if dense_output else None,
                     t_events=[np.empty(0) for _ in range(n_ev)] if events is not None else None,
                     y_events=[np.empty((0,)) for _ in range(n_ev)] if events is not None else None,
                     nfev=0, njev=0, nlu=0, status=0, message=MESSAGES[0], success=True)


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
        equations, real parts then imaginary parts; see
        :mod:`taylorjit._symbolic.complex`).
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
        from .complex_ivp import solve_ivp_complex

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
    kept, found, status, n_steps, t_stop = [], [], 0, 0, None
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
                        status, t_stop, switch = 1, t_root, None
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
            if status == 1:
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
                    status, t_stop = -1, t_sw
                    found.append((t_sw, -1, y_sw))
                    break
                _release(holder, ta, tol, compact, hacc)
                piece = new
                holder = piece.cache
                ta = _integrator(holder, traced.state, piece.outputs, y_sw, t_sw, pars, tol,
                                 compact, hacc)
                guards = _GuardScan(piece, traced.state, sign) if piece.guards else None
                continue
            if res.outcome == Outcome.err_nf_state:
                status = -1
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
        status = -1
        if t_stop is None:     # sliding at the initial point
            t_last, y_last = t0, y0.copy()
        message = (f"The integration stopped at t = {float(t_stop if t_stop is not None else t0)!r}: "
                   f"{why}. The solution up to there is returned; rewrite the switch with a "
                   "smooth formula (e.g. tanh(k*g)) or model the sliding motion explicitly.")
    if t_stop is not None:
        t_last, y_last = t_stop, found[-1][2]
        found = [f for f in found if f[1] >= 0]
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
    if message is None and status == -1:
        message = (f"The integration failed at t = {t_last!r}: the state became non-finite "
                   "(a singularity of the right-hand side?).")
    elif message is None:
        message = MESSAGES[status]
    sol = DenseSolution(_concat(kept)) if (dense_output and kept) else None
    extra = {} if pw is None else {"n_switches": n_switch}   # a piecewise right-hand side
    return OdeResult(t=t_out, y=y_out, sol=sol, t_events=t_events, y_events=y_events,
                     nfev=n_steps, njev=0, nlu=0, status=status, message=message,
                     success=status >= 0, **extra)
