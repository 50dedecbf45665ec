"""Lyapunov exponents and the fast Lyapunov indicator (FLI).

Both integrate the system together with tangent vectors ``w`` obeying the
first-order variational equations ``w' = J(x, t) w`` (``J`` the Jacobian of
the right-hand side), built by :func:`taylorjit.var_ode_sys` and run by
:class:`taylorjit.TaylorAdaptive` like any system.

:func:`lyapunov_spectrum` (Benettin et al. 1980; Shimada & Nagashima 1979)
propagates ``n`` tangent vectors and every ``renorm`` time units replaces them
by the ``Q`` factor of their QR decomposition ``W = Q R`` (signs chosen so that
``diag R > 0``), accumulating ``log R_ii``; ``lambda_i = sum log R_ii / (t - t0)``.

:func:`fli` (Froeschle, Lega & Gonczi 1997) propagates one unit tangent vector
and returns ``FLI(T) = sup_{t <= T} log10 |w(t)|`` (the sup over a sample grid):
it grows linearly in time on chaotic orbits (slope ``lambda_1 / ln 10``) and
like ``log10 t`` on regular ones, so a short integration separates them.  Over
many initial conditions it runs on the ensemble machinery
(:func:`taylorjit.ensemble_propagate_grid`).
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

__all__ = ["lyapunov_spectrum", "LyapunovResult", "fli"]

_RATIO_WARN = 1e14        # stretching ratio within one renormalisation interval: R_nn
                          # then keeps only about 2 significant digits
_SEED = 12345             # the default initial tangent vectors (reproducible)


class LyapunovResult:
    """What :func:`lyapunov_spectrum` returns.

    Attributes
    ----------
    exponents : ndarray, shape (n,)
        The ``n`` leading Lyapunov exponents (inverse time units), largest
        first: the finite-time estimates at ``t0 + T``.
    times : ndarray, shape (K,)
        The renormalisation times ``t0 + renorm, t0 + 2 renorm, ..., t0 + T``.
    history : ndarray, shape (K, n)
        The finite-time exponents ``sum_k log R_ii / (t_k - t0)`` at ``times``
        (``history[-1]`` equals ``exponents``): plot them against ``times`` to
        judge the convergence.
    state : ndarray, shape (N,)
        The state of the original system at ``t0 + T``.
    n_steps : int
        Integration steps taken.
    t0, T, renorm : float
        The arguments of the run.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x, v = tj.make_vars("x", "v")
    >>> res = tj.lyapunov_spectrum([(x, v), (v, -x)], [1.0, 0.0], 100.0, renorm=2.0)
    >>> res.history.shape, float(res.times[-1])
    ((50, 2), 100.0)
    >>> bool(abs(res.exponents).max() < 0.02)       # the harmonic oscillator is regular
    True
    """

    __slots__ = ("exponents", "times", "history", "state", "n_steps", "t0", "T", "renorm")

    def __init__(self, exponents, times, history, state, n_steps, t0, T, renorm):
        self.exponents = exponents
        self.times = times
        self.history = history
        self.state = state
        self.n_steps = n_steps
        self.t0 = t0
        self.T = T
        self.renorm = renorm

    def __repr__(self):
        ex = ", ".join(f"{e:.6g}" for e in self.exponents)
        return f"LyapunovResult(exponents=[{ex}], T={self.T!r}, renorm={self.renorm!r})"


# --------------------------------------------------------------------------- argument checks
def _positive(v, what):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{what} must be a positive number, got {v!r:.60}")
    v = float(v)
    if not (math.isfinite(v) and v > 0.0):
        raise ValueError(f"{what} must be positive and finite, got {v!r}")
    return v


def _finite_time(v, what):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{what} must be a number, got {v!r:.60}")
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"{what} must be finite, got {v!r}")
    return v


def _system(sys, what):
    from .._integrate.odesys import parse_system
    from .._integrate.variational import VarODESys

    if isinstance(sys, VarODESys):
        raise TypeError(f"{what} takes the original system (list of (var, rhs) pairs), not a "
                        "variational one: it builds the variational equations itself")
    return parse_system(sys)


def _state(x0, N, what="x0"):
    x = np.array(x0, dtype=float, copy=True)
    if x.shape != (N,):
        raise ValueError(f"{what} has shape {x.shape} but the system has {N} equations: pass "
                         f"{N} initial values")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what} must be finite, got {x.tolist()}")
    return x


def _tangent_basis(w0, N, n):
    """(N, n) orthonormal initial tangent vectors."""
    if w0 is None:
        rng = np.random.default_rng(_SEED)
        W = rng.standard_normal((N, n))
    else:
        W = np.array(w0, dtype=float)
        if W.ndim == 1:
            W = W[:, None]
        if W.shape != (N, n):
            raise ValueError(f"w0 has shape {np.shape(w0)} but {n} tangent vectors of "
                             f"dimension {N} are needed: pass an array of shape ({N}, {n}) "
                             "(one column per vector)")
        if not np.all(np.isfinite(W)):
            raise ValueError("w0 must be finite")
    Q, R = np.linalg.qr(W)
    d = np.abs(np.diag(R))
    if d.min() <= 1e-12 * max(d.max(), 1e-300):
        raise ValueError("the initial tangent vectors w0 are linearly dependent: pass "
                         "independent columns (they are orthonormalised)")
    return Q * np.sign(np.diag(R))


def _run_error(res, t, what):
    return RuntimeError(
        f"{what}: the integration stopped at t = {t!r} with {res.outcome}: "
        f"{res.outcome.value}. An orbit that escapes to infinity or reaches a singularity "
        "has no Lyapunov exponents; for huge tangent vectors reduce renorm")


# --------------------------------------------------------------------------- Lyapunov spectrum
def lyapunov_spectrum(sys, x0, T, *, pars=None, n=None, renorm=1.0, t0=0.0, tol=None,
                      w0=None, progress=False):
    """The ``n`` leading Lyapunov exponents of an orbit, by QR re-orthonormalisation.

    The system is integrated with ``n`` tangent vectors (first-order
    variational equations, :func:`taylorjit.var_ode_sys`); every ``renorm``
    time units the tangent matrix ``W`` is factored as ``W = Q R`` and replaced
    by ``Q``; the exponents are the time averages of ``log R_ii``.

    Parameters
    ----------
    sys : list of (var, rhs)
        The system ``x' = f(x, par, t)`` (any taylorjit system).
    x0 : array_like, shape (N,)
        Initial state.  Start on the attractor (integrate a transient first)
        for dissipative systems.
    T : float
        Length of the integration (> 0); the exponents converge like ``1/T``.
    pars : array_like, optional
        Runtime parameters ``par[0], par[1], ...``.
    n : int, optional
        Number of exponents (1 <= n <= N; default N, the full spectrum).
        The cost grows with ``N * (n + 1)`` equations.
    renorm : float, optional
        Time between re-orthonormalisations (default 1).  It must be short
        enough that the vectors stay numerically independent: within one
        interval they separate by about ``exp((lambda_1 - lambda_n) renorm)``,
        and ``R_nn`` loses that factor times 1e-16 in relative accuracy (a
        warning is issued above 1e14).  A shorter ``renorm`` costs a little
        more (a shortened step and a QR per interval, ~70 us).
    t0 : float, optional
        Initial time (for non-autonomous systems).
    tol : float, optional
        Integration tolerance (default machine epsilon).
    w0 : array_like, shape (N, n), optional
        Initial tangent vectors (orthonormalised); default a fixed random
        orthonormal set (avoids invariant subspaces that coordinate vectors may
        span, and gives reproducible results).
    progress : bool, optional
        A tqdm progress bar over the integration time (needs ``tqdm``; a
        warning without it).

    Returns
    -------
    LyapunovResult
        ``.exponents`` (shape ``(n,)``), ``.times`` and ``.history`` (the
        finite-time exponents at every renormalisation, for convergence
        plots), ``.state``, ``.n_steps``.

    Raises
    ------
    ValueError, TypeError
        Malformed arguments.
    RuntimeError
        The integration failed (a non-finite state: an escaping orbit or a
        singularity).

    Examples
    --------
    The Lorenz system; the exponents sum to the divergence ``-(1 + s + b)``:

    >>> import taylorjit as tj
    >>> x, y, z = tj.make_vars("x", "y", "z")
    >>> lorenz = [(x, 10.0 * (y - x)), (y, x * (28.0 - z) - y), (z, x * y - 8.0 / 3.0 * z)]
    >>> res = tj.lyapunov_spectrum(lorenz, [-8.7, -12.3, 22.4], 50.0, renorm=0.5)
    >>> res.exponents.shape, res.history.shape
    ((3,), (100, 3))
    >>> bool(abs(res.exponents.sum() + 1.0 + 10.0 + 8.0 / 3.0) < 1e-3)
    True
    """
    from .._integrate.integrator import TaylorAdaptive, make_progress
    from .._integrate.odesys import Outcome
    from .._integrate.variational import var_ode_sys

    state, _ = _system(sys, "lyapunov_spectrum")
    N = len(state)
    x0 = _state(x0, N)
    T = _positive(T, "T (the integration time)")
    renorm = _positive(renorm, "renorm (the time between re-orthonormalisations)")
    t0 = _finite_time(t0, "t0")
    if n is None:
        n = N
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n (the number of exponents) must be an integer, got {n!r:.60}")
    n = int(n)
    if not 1 <= n <= N:
        raise ValueError(f"n (the number of exponents) must lie in 1..{N} for a system of {N} "
                         f"equations, got {n}")
    Q0 = _tangent_basis(w0, N, n)

    # the tangent vectors: derivatives with respect to the first n initial values (any n
    # columns: the first-order variational equations are the same linear ODE for each)
    vsys = var_ode_sys(sys, wrt=list(state[:n]), order=1)
    full = np.concatenate([x0, Q0.ravel()])
    ta = TaylorAdaptive(vsys, full, time=t0, pars=pars, tol=tol)

    K = max(1, math.ceil(T / renorm - 1e-9))
    times = t0 + renorm * np.arange(1, K + 1, dtype=float)
    times[-1] = t0 + T
    history = np.empty((K, n))
    sums = np.zeros(n)
    n_steps = 0
    warned = False
    bar = make_progress(progress, t0, t0 + T)
    tprev = t0
    st = ta.state
    try:
        for k in range(K):
            tk = float(times[k])
            res = ta.propagate_until(tk)
            n_steps += res.n_steps
            if res.outcome is not Outcome.time_limit:
                raise _run_error(res, ta.time, "lyapunov_spectrum")
            W = st[N:].reshape(N, n)
            Q, R = np.linalg.qr(W)
            d = np.diag(R)
            ad = np.abs(d)
            if not np.all(np.isfinite(ad)) or ad.min() == 0.0:
                raise RuntimeError(
                    f"lyapunov_spectrum: the tangent vectors became degenerate at t = {tk!r} "
                    f"(|R_ii| = {ad.tolist()}): reduce renorm (now {renorm!r})")
            if not warned and ad.max() > _RATIO_WARN * ad.min():
                warned = True
                warnings.warn(
                    f"lyapunov_spectrum: within one renormalisation interval the tangent "
                    f"vectors separated by a factor {ad.max() / ad.min():.1e}, which costs "
                    f"accuracy in the smallest exponents: reduce renorm (now {renorm!r})",
                    RuntimeWarning, stacklevel=2)
            st[N:] = (Q * np.sign(d)).ravel()
            sums += np.log(ad)
            history[k] = sums / (tk - t0)
            if bar is not None:
                bar.update(tk - tprev)
            tprev = tk
    finally:
        if bar is not None:
            bar.close()
    return LyapunovResult(history[-1].copy(), times, history, st[:N].copy(), n_steps, t0, T,
                          renorm)


# --------------------------------------------------------------------------- FLI
def _fli_template(sys, x0s, T, pars, w0, t0, tol, n_samples):
    """(template integrator, grid, N, initial tangent vector, x0s as (M, N), scalar?)."""
    from .._integrate.integrator import TaylorAdaptive
    from .._integrate.variational import var_ode_sys

    state, _ = _system(sys, "fli")
    N = len(state)
    X = np.array(x0s, dtype=float)
    scalar = X.ndim == 1
    if scalar:
        X = X[None]
    if X.ndim != 2 or X.shape[1] != N:
        raise ValueError(f"x0 has shape {np.shape(x0s)} but the system has {N} equations: "
                         f"pass one initial state ({N},) or a grid of them (M, {N})")
    if X.shape[0] == 0:
        raise ValueError("x0 holds no initial states")
    T = _positive(T, "T (the integration time)")
    t0 = _finite_time(t0, "t0")
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) \
            or n_samples < 1:
        raise ValueError(f"n_samples must be an integer >= 1 (points at which |w| is "
                         f"sampled for the sup), got {n_samples!r}")
    w = _tangent_basis(np.ones(N) if w0 is None else w0, N, 1)[:, 0]
    vsys = var_ode_sys(sys, wrt=[state[0]], order=1)
    P = None if pars is None else np.array(pars, dtype=float)
    per_member = P is not None and P.ndim == 2
    if per_member and P.shape[0] != X.shape[0]:
        raise ValueError(f"pars has shape {P.shape}: give one parameter vector (n_pars,) "
                         f"for all orbits or one row per orbit ({X.shape[0]}, n_pars)")
    ta = TaylorAdaptive(vsys, np.concatenate([X[0], w]), time=t0,
                        pars=P[0] if per_member else P, tol=tol)
    grid = t0 + np.linspace(0.0, T, int(n_samples) + 1)
    return ta, grid, N, w, X, P if per_member else None, scalar


def _fli_values(states, N):
    """Running sup of log10 |w| over the grid (NaN from a failed sample on)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.maximum.accumulate(np.log10(np.linalg.norm(states[:, N:], axis=1)))


def fli(sys, x0, T, *, pars=None, w0=None, t0=0.0, tol=None, n_samples=200, executor=None,
        max_workers=None, progress=False, return_history=False):
    """Fast Lyapunov indicator ``FLI(T) = sup_{t0 <= t <= t0 + T} log10 |w(t)|``.

    ``w`` is a tangent vector (first-order variational equations) starting as
    a unit vector; the sup is taken over ``n_samples + 1`` equally spaced
    times (dense output).  On chaotic orbits the FLI grows linearly,
    ``~ lambda_1 T / ln 10``; on regular (quasi-periodic) orbits only like
    ``log10 T`` (linear growth of ``|w|``), and on stable periodic orbits it
    stays bounded (Froeschle, Lega & Gonczi 1997; Guzzo, Lega & Froeschle
    2002).  Compare values from the same ``T`` and ``w0``.

    Parameters
    ----------
    sys : list of (var, rhs)
        The system.
    x0 : array_like, shape (N,) or (M, N)
        One initial state, or M of them (a grid of initial conditions).  With
        M states the orbits run as an ensemble
        (:func:`taylorjit.ensemble_propagate_grid`) on threads by default.
    T : float
        Integration time (> 0).
    pars : array_like, shape (n_pars,) or (M, n_pars), optional
        Runtime parameters, the same for every orbit or one row per orbit.
    w0 : array_like, shape (N,), optional
        Initial tangent vector (normalised); default ``(1, ..., 1) / sqrt(N)``,
        the same for every orbit, as FLI maps require.
    t0 : float, optional
        Initial time.
    tol : float, optional
        Integration tolerance (default machine epsilon).
    n_samples : int, optional
        Number of sampling intervals for the sup (default 200).
    executor, max_workers, progress
        Passed to :func:`taylorjit.ensemble_propagate_grid` (``progress``
        shows a bar over the orbits) when ``x0`` holds several states.
    return_history : bool, optional
        Also return the sample times and the running FLI at them.

    Returns
    -------
    float or ndarray
        The FLI of each orbit (a float for one state, shape ``(M,)`` for M);
        NaN for an orbit whose integration failed (a non-finite state, e.g.
        an escaping orbit).  With ``return_history=True``:
        ``(values, times, history)``, ``history`` of shape ``(n_samples + 1,)``
        or ``(M, n_samples + 1)``.

    Examples
    --------
    The Hénon-Heiles system at energy 1/8: a regular orbit and a chaotic one.

    >>> import numpy as np, taylorjit as tj
    >>> x, y, px, py = tj.make_vars("x", "y", "px", "py")
    >>> H = (px**2 + py**2 + x**2 + y**2) / 2 + x**2 * y - y**3 / 3
    >>> sys = tj.hamiltonian(H, [x, y], [px, py])
    >>> def on_shell(y0, py0, E=0.125):      # x = 0, px > 0 on the energy surface
    ...     return [0.0, y0, np.sqrt(2 * E - py0**2 - y0**2 + 2 * y0**3 / 3), py0]
    >>> vals = tj.fli(sys, [on_shell(0.0, 0.0), on_shell(-0.2, 0.0)], 200.0)
    >>> bool(vals[0] < 4 < vals[1])          # regular < 4 < chaotic
    True
    """
    from .._integrate.ensemble import ensemble_propagate_grid
    from .._integrate.odesys import Outcome

    ta, grid, N, w, X, P, scalar = _fli_template(sys, x0, T, pars, w0, t0, tol, n_samples)
    M = X.shape[0]
    hist = np.full((M, grid.shape[0]), np.nan)
    if M == 1:
        res = ta.propagate_grid(grid)
        if res.outcome is Outcome.time_limit:
            hist[0] = _fli_values(np.asarray(res.states), N)
    else:
        t0f = float(grid[0])

        def gen(ta, i):
            st = ta.state
            st[:N] = X[i]
            st[N:] = w
            ta.time = t0f
            if P is not None:
                ta.pars[:] = P[i]
            return ta

        members = ensemble_propagate_grid(ta, grid, M, gen, executor=executor,
                                          max_workers=max_workers, progress=progress)
        for i, m in enumerate(members):
            if not m.ok:
                raise RuntimeError(f"fli: orbit {i} failed with {m.error!r}:\n{m.traceback}")
            if m.outcome is Outcome.time_limit:
                hist[i] = _fli_values(np.asarray(m.result.states), N)
    vals = hist[:, -1].copy()
    if scalar:
        vals, hist = float(vals[0]), hist[0]
    return (vals, grid, hist) if return_history else vals
