"""taylorjit as a differentiable JAX operation: ``odeint`` and event times.

``import taylorjit.jax`` imports JAX (``import taylorjit`` never does).

* :func:`odeint` has the call and results of ``jax.experimental.ode.odeint``:
  ``func(y, t, *args)`` is written with numpy/math (traced once by taylorjit
  into expressions; ``jax.numpy`` element-wise functions, ``stack``,
  ``concatenate``, ``sum``, ``dot`` ... are mapped to their numpy
  counterparts while tracing), the result holds the states at the times ``t``.
* It is differentiable in ``y0``, in the floating-point arguments ``args`` and
  in ``t`` by ``jax.jvp``, ``jax.grad``, ``jax.vjp``, ``jax.jacfwd/jacrev`` and
  ``jax.hessian``, to any order, with gradients as accurate as the states:
  the tangent rule integrates the variational equations of order ``k + 1``
  (forward sensitivities with respect to the initial state, the parameters and
  the initial time) and reverse mode contracts the transposed sensitivity
  matrix.  Only what is differentiated enters the variational equations (a
  ``jax.grad`` with respect to one argument integrates ``n`` extra equations
  per parameter of that argument).
* It works under ``jax.jit`` (the integration is a ``jax.pure_callback``) and
  ``jax.vmap`` (the callback receives the whole batch and runs its members one
  after the other in compiled code; ``vmap_method="broadcast_all"``).
* :func:`odeint_event` / :func:`event_time`: the first event ``g(y, t, *args) = 0``
  after ``t0`` and the state there, differentiable (implicit function theorem
  on top of the same sensitivities, to any order).

Traced systems, variational systems and their integrators are cached per
(function, shapes of ``y0`` and of the arguments, tolerance), so an
optimisation loop compiles once.  JAX computes in float32 unless
``jax.config.update("jax_enable_x64", True)``: taylorjit always integrates in
float64 and rounds the results to the dtype of ``y0``.
"""
from __future__ import annotations

import math

import numpy as np

try:
    import jax
    import jax.numpy as jnp
    from jax.custom_derivatives import SymbolicZero
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise ImportError("taylorjit.jax needs JAX: pip install taylorjit[jax] (or pip install "
                      "jax)") from _exc

from ._differentiable import core
from ._differentiable.core import ArgSpec, Selection

__all__ = ["odeint", "odeint_event", "event_time"]

_VMAP = "broadcast_all"


# ----------------------------------------------------------------------------- arguments
def _zero(t):
    return t is None or isinstance(t, SymbolicZero)


def _inst(t, like):
    return jnp.zeros(jnp.shape(like), jnp.result_type(like)) if _zero(t) else t


def _float_dtype(*xs):
    return jnp.result_type(*xs, float)


def _classify_args(args):
    """(specs, float leaves, treedef) of the arguments: floating-point leaves become
    runtime parameters, the others are passed through as constants."""
    leaves, tree = jax.tree_util.tree_flatten(args)
    specs, pleaves = [], []
    for i, a in enumerate(leaves):
        if isinstance(a, jax.core.Tracer):
            kind = np.dtype(a.dtype).kind
            if kind == "f":
                specs.append(ArgSpec("par", a.shape))
                pleaves.append(a)
                continue
            raise TypeError(f"argument leaf {i} has dtype {a.dtype} and is traced by JAX (under "
                            "jit/vmap/grad): non-float arguments decide the structure of the "
                            "system and must be concrete; close over them in func, or mark them "
                            "static in jax.jit (static_argnums)")
        if isinstance(a, (bool, np.bool_)) or (isinstance(a, int) and not isinstance(a, bool)):
            specs.append(ArgSpec("const", value=a))
            continue
        if isinstance(a, float):
            specs.append(ArgSpec("par", ()))
            pleaves.append(jnp.asarray(a))
            continue
        if hasattr(a, "dtype") and hasattr(a, "shape"):
            kind = np.dtype(a.dtype).kind
            if kind == "f":
                specs.append(ArgSpec("par", tuple(a.shape)))
                pleaves.append(jnp.asarray(a))
            elif kind == "c":
                raise TypeError(f"argument leaf {i} is complex: taylorjit integrates real "
                                "systems; split it into real and imaginary parts")
            else:
                v = np.asarray(a)
                specs.append(ArgSpec("const", value=v.item() if v.ndim == 0 else v))
            continue
        specs.append(ArgSpec("const", value=a))
    return specs, pleaves, tree


def _rebuild(specs, tree):
    def rebuild(sym_leaves):
        return tuple(jax.tree_util.tree_unflatten(tree, list(sym_leaves)))

    return rebuild


def _state_struct(y0):
    leaves, tree = jax.tree_util.tree_flatten(y0)
    if not leaves:
        raise ValueError("y0 is empty: pass an array (or pytree of arrays) of initial values")
    arrs = []
    for a in leaves:
        if not hasattr(a, "dtype"):
            a = jnp.asarray(a)
        if np.dtype(a.dtype).kind == "c":
            raise TypeError("complex y0 is not supported: split the state into real and "
                            "imaginary parts")
        if np.dtype(a.dtype).kind not in "fiub":
            raise TypeError(f"y0 must hold numbers, got dtype {a.dtype}")
        arrs.append(a)
    shapes = [tuple(a.shape) for a in arrs]
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
    n = sum(sizes)
    if n == 0:
        raise ValueError("y0 has no components: pass at least one initial value")
    dtype = _float_dtype(*arrs)

    def make_y(flat):
        parts, k = [], 0
        for s, z in zip(shapes, sizes):
            block = flat[k:k + z]
            parts.append(block[0] if s == () else block.reshape(s))
            k += z
        return jax.tree_util.tree_unflatten(tree, parts)

    def flatten_out(res):
        out = []
        try:
            res_leaves = jax.tree_util.tree_leaves(res)
        except Exception:  # noqa: BLE001 - odd objects: let the tracer's checks speak
            return res
        for leaf in res_leaves:
            out.extend(core.as_expr_list(leaf))
        arr = np.empty(len(out), dtype=object)
        arr[:] = out
        return arr

    def unflatten(Z):
        parts, k = [], 0
        lead = Z.shape[:-1]
        for s, z in zip(shapes, sizes):
            parts.append(Z[..., k:k + z].reshape(lead + s))
            k += z
        return jax.tree_util.tree_unflatten(tree, parts)

    y0f = jnp.concatenate([jnp.ravel(jnp.asarray(a)).astype(dtype) for a in arrs])
    return y0f, n, dtype, (tree, tuple(shapes)), make_y, flatten_out, unflatten


def _problem(func, y0, args, event=None):
    if not callable(func):
        raise TypeError(f"func must be a callable func(y, t, *args), got {func!r:.60}")
    if event is not None and not callable(event):
        raise TypeError(f"event must be a callable event(y, t, *args), got {event!r:.60}")
    y0f, n, dtype, ykey, make_y, flatten_out, unflatten = _state_struct(y0)
    specs, pleaves, tree = _classify_args(args)
    prob = core.trace_problem(func, n, make_y, specs, _rebuild(specs, tree),
                              key=(ykey, tree), event=event, flatten_out=flatten_out)
    leaves = [jnp.ravel(jnp.asarray(p)).astype(dtype) for p in pleaves]
    return prob, y0f, dtype, leaves, unflatten


def _opts(rtol, atol, mxstep, hmax):
    tol = core.tolerance(rtol, atol)
    ms, hm = core.step_options(mxstep, hmax)
    return (tol, ms, hm)


# ----------------------------------------------------------------------------- callbacks
def _batch(x, tail):
    """(array reshaped to (B,) + tail, batch shape)."""
    x = np.asarray(x, dtype=float)
    lead = x.shape[:x.ndim - len(tail)]
    return x.reshape((-1,) + tuple(tail)), lead


def _pars_of(leaves, B):
    if not leaves:
        return np.zeros((B, 0))
    return np.concatenate([np.asarray(p, dtype=float).reshape(B, -1) for p in leaves], axis=1)


def _cb_flow(prob, opts, k, sel, dtype, y0f, ts, *leaves):
    tol, ms, hm = opts
    y0, lead = _batch(y0f, (prob.n,))
    T = np.shape(ts)[-1]
    ts2, _ = _batch(ts, (T,))
    B = y0.shape[0]
    Z = prob.solve(sel, k, y0, ts2, _pars_of(leaves, B), tol, ms, hm)
    return Z.reshape(lead + Z.shape[1:]).astype(dtype)


def _cb_expr(es, dtype, X, ts, p):
    T = np.shape(ts)[-1]
    ts2, lead = _batch(ts, (T,))
    B = ts2.shape[0]
    X2 = np.asarray(X, dtype=float).reshape(B, T, -1)
    p2 = np.asarray(p, dtype=float).reshape(B, -1)
    out = es.eval(X2, ts2, p2)
    return out.reshape(lead + out.shape[1:]).astype(dtype)


def _cb_event(prob, opts, t_max, direction, dtype, y0f, t0, *leaves):
    tol, ms, hm = opts
    y0, lead = _batch(y0f, (prob.n,))
    B = y0.shape[0]
    t0 = np.asarray(t0, dtype=float).reshape(B)
    te, ye = prob.solve_event(y0, t0, _pars_of(leaves, B), tol, t_max, direction, ms, hm)
    return te.reshape(lead).astype(dtype), ye.reshape(lead + (prob.n,)).astype(dtype)


# ----------------------------------------------------------------------------- expression functions
def _expr_fn(es):
    """``X (T, d), ts (T,), p (P,) -> (T, out)``: an :class:`ExprSet` as a JAX function,
    differentiable to any order (its derivatives are ExprSets too)."""
    fn = es.__dict__.get("_jax_fn")
    if fn is not None:
        return fn

    def primal(X, ts, p):
        dtype = _float_dtype(X, ts, p)
        shape = jax.ShapeDtypeStruct(jnp.shape(ts) + (es.n_out,), dtype)
        if es.is_zero:
            return jnp.zeros(shape.shape, dtype)
        return jax.pure_callback(lambda X, ts, p: _cb_expr(es, dtype, X, ts, p), shape,
                                 X, ts, p, vmap_method=_VMAP)

    fn = jax.custom_jvp(primal)

    def rule(primals, tangents):
        X, ts, p = primals
        dX, dts, dp = tangents
        out = fn(X, ts, p)
        T = jnp.shape(ts)[0]
        tout = jnp.zeros_like(out)
        if not _zero(dX):
            d = es.d_inputs()
            if not d.is_zero:
                J = _expr_fn(d)(X, ts, p).reshape(T, es.n_out, len(es.inputs))
                tout = tout + jnp.einsum("toi,ti->to", J, dX)
        if not _zero(dts):
            d = es.d_time()
            if not d.is_zero:
                tout = tout + _expr_fn(d)(X, ts, p) * dts[:, None]
        if not _zero(dp) and es.n_pars:
            d = es.d_pars()
            if not d.is_zero:
                J = _expr_fn(d)(X, ts, p).reshape(T, es.n_out, es.n_pars)
                tout = tout + jnp.einsum("top,p->to", J, dp)
        return out, tout

    fn.defjvp(rule, symbolic_zeros=True)
    es.__dict__["_jax_fn"] = fn
    return fn


def _pvec(leaves, dtype):
    return jnp.concatenate(leaves) if leaves else jnp.zeros((0,), dtype)


# ----------------------------------------------------------------------------- the flow
def _flow_fn(prob, opts, k, sel):
    """``(y0 (n,), ts (T,), *leaves) -> Z_k (T, dim_k)``: the order-``k`` variational
    state for selection ``sel`` at the times ``ts`` (``k = 0``: the states)."""
    key = ("jax-flow", opts, k, sel if k else None)
    fn = prob.fns.get(key)
    if fn is not None:
        return fn
    dim = prob.dim(sel, k) if k else prob.n

    def primal(y0f, ts, *leaves):
        dtype = _float_dtype(y0f, ts, *leaves)
        shape = jax.ShapeDtypeStruct(jnp.shape(ts) + (dim,), dtype)
        return jax.pure_callback(
            lambda y0f, ts, *leaves: _cb_flow(prob, opts, k, sel, dtype, y0f, ts, *leaves),
            shape, y0f, ts, *leaves, vmap_method=_VMAP)

    fn = jax.custom_jvp(primal)
    fn.defjvp(lambda primals, tangents: _flow_rule(prob, opts, k, sel, primals, tangents),
              symbolic_zeros=True)
    return prob.fns.setdefault(key, fn)


def _flow_rule(prob, opts, k, sel, primals, tangents):
    y0f, ts, *leaves = primals
    dy0, dts, *dleaves = tangents
    nz = Selection(not _zero(dy0), [not _zero(d) for d in dleaves], not _zero(dts))
    if k == 0:
        S = nz
    else:
        S = sel.union(nz)
        if S != sel:        # a direction outside this variational system: the larger one
            pout, tout = _flow_rule(prob, opts, k, S, primals, tangents)
            idx = prob.restrict(S, sel, k)
            return pout[..., idx], tout[..., idx]
    if S.empty:
        out = _flow_fn(prob, opts, k, sel)(*primals)
        return out, jnp.zeros_like(out)
    wrt, used, _ = prob.columns(S)
    dtype = _float_dtype(y0f, ts, *leaves)
    if not wrt:             # only parameters that the right-hand side does not use
        out = _flow_fn(prob, opts, k, sel)(*primals)
        return out, jnp.zeros_like(out)
    dimk = prob.dim(S, k) if k else prob.n
    Z1 = _flow_fn(prob, opts, k + 1, S)(*primals)
    pout = Z1[:, :dimk]
    parts = []
    if S.y0:
        parts.append(_inst(dy0, y0f))
    for leaf, on in enumerate(S.leaves):
        if on:
            parts.append(_inst(dleaves[leaf], leaves[leaf]))
    if S.t0:
        parts.append(_inst(dts, ts)[:1])
    dw = jnp.concatenate(parts)[used]
    pos, fac = prob.gather(S, k)
    jac = Z1[:, pos] * jnp.asarray(fac, dtype)
    tout = jnp.einsum("tqj,j->tq", jac, dw)
    if not _zero(dts):
        es = prob.rhs_set(S, k)
        if not es.is_zero:
            F = _expr_fn(es)(pout, ts, _pvec(leaves, dtype))
            tout = tout + F * dts[:, None]
    return pout, tout


# ----------------------------------------------------------------------------- odeint
def odeint(func, y0, t, *args, rtol=1.4e-8, atol=1.4e-8, mxstep=math.inf, hmax=math.inf):
    """Integrate ``dy/dt = func(y, t, *args)`` with the Taylor method, differentiably.

    The call and the result are those of ``jax.experimental.ode.odeint``.

    Parameters
    ----------
    func : callable
        ``func(y, t, *args)`` returning ``dy/dt`` with the structure of ``y0``.
        Written with numpy, math, taylorjit functions (or the element-wise
        ``jax.numpy`` functions, which are mapped); it is traced once with
        symbolic ``y`` and ``t``, so it cannot branch on the state.
    y0 : array or pytree of arrays
        Initial state at ``t[0]``.
    t : array (T,)
        Output times, strictly increasing (or strictly decreasing to integrate
        backwards); ``t[0]`` is the initial time.
    *args
        Extra arguments of ``func`` (pytrees).  Floating-point leaves are runtime
        parameters (new values reuse the compiled integrator) and are
        differentiable; integer and other leaves are constants of the system.
    rtol, atol : float
        Tolerances; the Taylor tolerance is ``max(eps, min(rtol, atol))``
        (absolute below 1, relative above).  Derivatives are as accurate as the
        states.
    mxstep : int or inf
        Largest number of steps per output interval (rows after a failure are NaN).
    hmax : float
        Largest step.

    Returns
    -------
    Array or pytree
        The states at the times ``t``: the structure of ``y0`` with a leading
        axis of length ``len(t)``.

    Notes
    -----
    Derivatives: with respect to ``y0``, the argument leaves and ``t[0]``
    through the variational equations of the next order (``jax.grad``
    integrates order 1, ``jax.hessian`` order 2; only the differentiated
    quantities enter them), with respect to the output times through
    ``func`` itself.  ``jax.vmap`` runs the batch members one after the other
    in one callback.

    Examples
    --------
    >>> import numpy as np, jax, jax.numpy as jnp, taylorjit as tj
    >>> import taylorjit.jax as tjx
    >>> def oscillator(y, t, omega):
    ...     return np.array([y[1], -omega**2 * y[0]])
    >>> ts = jnp.linspace(0.0, 1.0, 3)
    >>> ys = tjx.odeint(oscillator, jnp.array([1.0, 0.0]), ts, 2.0, rtol=1e-14, atol=1e-14)
    >>> ys.shape
    (3, 2)
    >>> round(float(ys[-1, 0]), 6), round(float(np.cos(2.0)), 6)
    (-0.416147, -0.416147)
    >>> x1 = lambda omega: tjx.odeint(oscillator, jnp.array([1.0, 0.0]), ts, omega,
    ...                               rtol=1e-14, atol=1e-14)[-1, 0]
    >>> round(float(jax.grad(x1)(2.0)), 5), round(float(-np.sin(2.0)), 5)  # d cos(w t)/dw, t = 1
    (-0.9093, -0.9093)
    """
    opts = _opts(rtol, atol, mxstep, hmax)
    prob, y0f, dtype, leaves, unflatten = _problem(func, y0, args)
    ts = jnp.asarray(t)
    if ts.ndim != 1 or ts.shape[0] < 1:
        raise ValueError(f"t must be a 1-d array of output times (t[0] the initial time), got "
                         f"shape {ts.shape}")
    if np.dtype(ts.dtype).kind == "c":
        raise TypeError("t must be real")
    ts = ts.astype(dtype)
    if not isinstance(ts, jax.core.Tracer) and ts.shape[0] > 1:
        tv = np.asarray(ts, dtype=float)
        core._check_times(tv)
    Z = _flow_fn(prob, opts, 0, None)(y0f, ts, *leaves)
    return unflatten(Z)


# ----------------------------------------------------------------------------- events
def _event_fn(prob, opts, t_max, direction):
    key = ("jax-event", opts, t_max, direction)
    fn = prob.fns.get(key)
    if fn is not None:
        return fn
    n = prob.n

    def primal(y0f, t0, *leaves):
        dtype = _float_dtype(y0f, t0, *leaves)
        shapes = (jax.ShapeDtypeStruct((), dtype), jax.ShapeDtypeStruct((n,), dtype))
        return jax.pure_callback(
            lambda y0f, t0, *leaves: _cb_event(prob, opts, t_max, direction, dtype, y0f, t0,
                                               *leaves),
            shapes, y0f, t0, *leaves, vmap_method=_VMAP)

    fn = jax.custom_jvp(primal)

    def rule(primals, tangents):
        y0f, t0, *leaves = primals
        dy0, dt0, *dleaves = tangents
        te, ye = fn(*primals)
        dtype = _float_dtype(y0f, t0, *leaves)
        ts = jnp.stack([t0, te])
        dts = None if _zero(dt0) else jnp.stack([dt0, jnp.zeros_like(dt0)])
        _, dZ = _flow_rule(prob, opts, 0, None, (y0f, ts, *leaves), (dy0, dts, *dleaves))
        dy_fixed = dZ[1]
        pvec = _pvec(leaves, dtype)
        vals = _expr_fn(prob.event_set())(ye[None], te[None], pvec)[0]
        f, gy, gt, gp = vals[:n], vals[n:2 * n], vals[2 * n], vals[2 * n + 1:]
        num = jnp.dot(gy, dy_fixed)
        if prob.n_pars and any(not _zero(d) for d in dleaves):
            dp = jnp.concatenate([_inst(d, p) for d, p in zip(dleaves, leaves)])
            num = num + jnp.dot(gp, dp)
        dte = -num / (jnp.dot(gy, f) + gt)
        return (te, ye), (dte, dy_fixed + f * dte)

    fn.defjvp(rule, symbolic_zeros=True)
    return prob.fns.setdefault(key, fn)


def odeint_event(func, event, y0, t0, *args, t_max, direction="any", rtol=1.4e-8,
                 atol=1.4e-8, mxstep=math.inf, hmax=math.inf):
    """The first event ``event(y, t, *args) = 0`` after ``t0``, and the state there.

    Both are differentiable (to any order) with respect to ``y0``, ``t0`` and the
    floating-point arguments: the event time through the implicit function
    theorem, ``dt_e = -(g_y . dy(t_e) + g_p . dp) / (g_y . f + g_t)`` with the
    sensitivities of the variational equations.

    Parameters
    ----------
    func : callable
        ``func(y, t, *args)`` as for :func:`odeint`.
    event : callable
        ``event(y, t, *args)`` returning a scalar, traced like ``func``.
    y0 : array or pytree of arrays
        Initial state at ``t0``.
    t0 : float or scalar array
        Initial time.
    *args
        Extra arguments of ``func`` and ``event``.
    t_max : float
        Search the event until this time (a Python number; ``t_max < t0``
        searches backwards).
    direction : {"any", "positive", "negative"} or {0, 1, -1}
        Crossings where ``g`` increases (``"positive"``), decreases, or both.
    rtol, atol, mxstep, hmax
        As for :func:`odeint` (``mxstep`` counts all steps to the event).

    Returns
    -------
    t_e : scalar Array
        Event time, strictly after ``t0`` (an event exactly at ``t0`` is skipped);
        NaN if no event occurs before ``t_max``.
    y_e : Array or pytree
        The state at ``t_e`` (NaN if no event).

    Examples
    --------
    Periapsis passages of a Kepler orbit (``r . v`` crossing zero upwards), starting
    at periapsis: the period ``2 pi sqrt(a^3 / mu)`` with ``a = 1 / (2/r - v^2/mu)``,
    and its derivative with respect to ``mu`` (``-10 pi`` here).

    >>> import numpy as np, jax, jax.numpy as jnp
    >>> import taylorjit.jax as tjx
    >>> def kepler(y, t, mu):
    ...     r3 = (y[0]**2 + y[1]**2) ** 1.5
    ...     return np.array([y[2], y[3], -mu * y[0] / r3, -mu * y[1] / r3])
    >>> def periapsis(y, t, mu):
    ...     return y[0] * y[2] + y[1] * y[3]
    >>> y0 = jnp.array([0.5, 0.0, 0.0, np.sqrt(3.0)])      # a = 1 for mu = 1
    >>> period = lambda mu: tjx.event_time(kepler, periapsis, y0, 0.0, mu, t_max=10.0,
    ...                                    direction="positive", rtol=1e-14, atol=1e-14)
    >>> round(float(period(1.0)), 6), round(2 * float(np.pi), 6)
    (6.283185, 6.283185)
    >>> dT = jax.grad(period)(1.0)
    >>> round(float(dT), 4), round(-10 * float(np.pi), 4)
    (-31.4159, -31.4159)
    """
    opts = _opts(rtol, atol, mxstep, hmax)
    direction = core.check_direction(direction)
    try:
        t_max = float(t_max)
    except (TypeError, jax.errors.ConcretizationTypeError):
        raise TypeError("t_max must be a Python number (the end of the search), not a traced "
                        "value") from None
    if math.isnan(t_max):
        raise ValueError("t_max is NaN: pass the time until which to search the event")
    prob, y0f, dtype, leaves, unflatten = _problem(func, y0, args, event=event)
    t0 = jnp.asarray(t0)
    if t0.ndim != 0:
        raise ValueError(f"t0 must be a scalar (the initial time), got shape {t0.shape}")
    t0 = t0.astype(dtype)
    te, ye = _event_fn(prob, opts, t_max, direction)(y0f, t0, *leaves)
    return te, unflatten(ye)


def event_time(func, event, y0, t0, *args, t_max, direction="any", rtol=1.4e-8, atol=1.4e-8,
               mxstep=math.inf, hmax=math.inf):
    """The time of the first event ``event(y, t, *args) = 0`` after ``t0``, differentiable.

    ``odeint_event(...)[0]``; see :func:`odeint_event`.

    Examples
    --------
    >>> import numpy as np, jax, jax.numpy as jnp
    >>> import taylorjit.jax as tjx
    >>> fall = lambda y, t, g: np.array([y[1], -g])        # height, velocity
    >>> ground = lambda y, t, g: y[0]
    >>> t_hit = lambda h: tjx.event_time(fall, ground, jnp.array([h, 0.0]), 0.0, 9.81, t_max=10.0)
    >>> round(float(t_hit(10.0)), 6), round(float(np.sqrt(2 * 10.0 / 9.81)), 6)
    (1.427843, 1.427843)
    >>> round(float(jax.grad(t_hit)(10.0)), 6), round(float(1 / np.sqrt(2 * 9.81 * 10.0)), 6)
    (0.071392, 0.071392)
    """
    return odeint_event(func, event, y0, t0, *args, t_max=t_max, direction=direction, rtol=rtol,
                        atol=atol, mxstep=mxstep, hmax=hmax)[0]
