"""taylorjit as a differentiable PyTorch operation: ``odeint`` and event times.

``import taylorjit.torch`` imports PyTorch (``import taylorjit`` never does).

:func:`odeint` follows ``taylorjit.jax.odeint`` (and ``jax.experimental.ode.odeint``):
``func(y, t, *args)`` -- the state first, unlike torchdiffeq's ``func(t, y)`` --
written with numpy, math or taylorjit functions (the element-wise ``torch``
functions, ``torch.stack`` and ``torch.cat`` are mapped while tracing), traced
once into expressions; the result holds the states at the times ``t``.  It is a
``torch.autograd.Function``: ``backward`` contracts the output gradient with
the sensitivities of the first-order variational equations (with respect to
``y0``, the floating-point tensor arguments and ``t[0]``) and with ``func`` at
the output times (for ``t``), so the gradients are as accurate as the states.
Only the inputs that require gradients enter the variational equations.
Derivatives of order two (double backward) are not supported: use
``taylorjit.jax`` for Hessians.

The integration runs on the CPU in float64; results have the dtype and device
of ``y0``.
"""
from __future__ import annotations

import math

import numpy as np

try:
    import torch
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise ImportError("taylorjit.torch needs PyTorch: pip install taylorjit[torch] (or pip "
                      "install torch)") from _exc

from ._differentiable import core
from ._differentiable.core import ArgSpec, Selection

__all__ = ["odeint", "odeint_event", "event_time"]


def _np(x):
    return x.detach().to("cpu", torch.float64).numpy()


def _prepare(func, y0, args, event=None):
    if not callable(func):
        raise TypeError(f"func must be a callable func(y, t, *args), got {func!r:.60}")
    if event is not None and not callable(event):
        raise TypeError(f"event must be a callable event(y, t, *args), got {event!r:.60}")
    if not isinstance(y0, torch.Tensor):
        y0 = torch.as_tensor(np.asarray(y0, dtype=float))
    if y0.is_complex():
        raise TypeError("complex y0 is not supported: split the state into real and imaginary "
                        "parts")
    if not y0.is_floating_point():
        y0 = y0.to(torch.get_default_dtype())
    shape = tuple(y0.shape)
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if n == 0:
        raise ValueError("y0 has no components: pass at least one initial value")
    specs, leaves = [], []
    for i, a in enumerate(args):
        if isinstance(a, torch.Tensor):
            if a.is_complex():
                raise TypeError(f"argument {i} is complex: split it into real and imaginary parts")
            if a.is_floating_point():
                specs.append(ArgSpec("par", tuple(a.shape)))
                leaves.append(a)
            else:
                v = a.detach().cpu().numpy()
                specs.append(ArgSpec("const", value=v.item() if v.ndim == 0 else v))
        elif isinstance(a, float):
            specs.append(ArgSpec("par", ()))
            leaves.append(torch.tensor(a, dtype=torch.float64))
        elif isinstance(a, np.ndarray) and a.dtype.kind == "f":
            specs.append(ArgSpec("par", a.shape))
            leaves.append(torch.as_tensor(a))
        else:
            specs.append(ArgSpec("const", value=a))

    def make_y(flat):
        return flat[0] if shape == () else flat.reshape(shape)

    def flatten_out(res):
        if isinstance(res, (list, tuple)):
            out = []
            for r in res:
                out.extend(core.as_expr_list(r))
        else:
            out = core.as_expr_list(res)
        arr = np.empty(len(out), dtype=object)
        arr[:] = out
        return arr

    prob = core.trace_problem(func, n, make_y, specs, tuple, key=("torch", shape),
                              event=event, flatten_out=flatten_out)
    return prob, y0, shape, leaves


def _opts(rtol, atol, mxstep, hmax):
    return (core.tolerance(rtol, atol),) + core.step_options(mxstep, hmax)


def _pars(leaves):
    if not leaves:
        return np.zeros(0)
    return np.concatenate([_np(p).reshape(-1) for p in leaves])


def _split_grad(prob, sel, gw_full, leaves):
    """Per-input gradients from the gradient over the selected groups."""
    k = 0
    g_y0 = g_t0 = None
    if sel.y0:
        g_y0 = gw_full[:prob.n]
        k = prob.n
    g_leaves = []
    for leaf, on in enumerate(sel.leaves):
        if on:
            size = prob.leaf_sizes[leaf]
            g_leaves.append(gw_full[k:k + size])
            k += size
        else:
            g_leaves.append(None)
    if sel.t0:
        g_t0 = gw_full[k]
    return g_y0, g_leaves, g_t0


def _sens_vjp(prob, sel, Z1, gZ):
    """``gZ . dZ/dw`` over the selected groups: ``Z1`` (T, dim_1), ``gZ`` (T, n)."""
    wrt, used, m_full = prob.columns(sel)
    gw = np.zeros(m_full)
    if wrt:
        pos, fac = prob.gather(sel, 0)
        jac = Z1[:, pos] * fac                            # (T, n, m')
        gw[used] = np.einsum("tq,tqj->j", gZ, jac)
    return gw


def _tensor(a, like):
    return None if a is None else torch.as_tensor(np.asarray(a), dtype=like.dtype,
                                                  device=like.device).reshape(like.shape)


class _Odeint(torch.autograd.Function):
    @staticmethod
    def forward(ctx, prob, opts, want, y0, ts, *leaves):
        tol, ms, hm = opts
        y = _np(y0).reshape(1, -1)
        t = _np(ts).reshape(1, -1)
        p = _pars(leaves).reshape(1, -1)
        sel = Selection(want[0], want[2:], want[1])
        ctx.prob, ctx.sel = prob, sel
        if sel.empty:
            Z = prob.solve(None, 0, y, t, p, tol, ms, hm)[0]
            ctx.Z1 = None
        else:
            Z1 = prob.solve(sel, 1, y, t, p, tol, ms, hm)[0]
            Z = Z1[:, :prob.n]
            ctx.Z1 = Z1
            ctx.F = (prob.rhs_set(None, 0).eval(Z[None], t, p)[0] if want[1] else None)
        ctx.save_for_backward(y0, ts, *leaves)
        return torch.as_tensor(Z, dtype=y0.dtype, device=y0.device)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gZ):
        y0, ts, *leaves = ctx.saved_tensors
        n_in = 3 + 2 + len(leaves)
        if ctx.Z1 is None:
            return (None,) * n_in
        prob, sel = ctx.prob, ctx.sel
        g = _np(gZ)
        gw = _sens_vjp(prob, sel, ctx.Z1, g)
        g_y0, g_leaves, g_t0 = _split_grad(prob, sel, gw, leaves)
        g_ts = None
        if ctx.F is not None:
            g_ts = np.einsum("tq,tq->t", g, ctx.F)
            g_ts[0] += g_t0
        return (None, None, None, _tensor(g_y0, y0), _tensor(g_ts, ts),
                *[_tensor(gl, p) for gl, p in zip(g_leaves, leaves)])


def odeint(func, y0, t, *args, rtol=1.4e-8, atol=1.4e-8, mxstep=math.inf, hmax=math.inf):
    """Integrate ``dy/dt = func(y, t, *args)`` with the Taylor method, differentiably.

    Parameters
    ----------
    func : callable
        ``func(y, t, *args)`` returning ``dy/dt`` (shape of ``y0``), written with
        numpy / math / taylorjit functions (or element-wise ``torch`` functions,
        ``torch.stack``, ``torch.cat``); traced once with symbolic ``y`` and ``t``.
    y0 : Tensor
        Initial state at ``t[0]`` (any shape).
    t : Tensor (T,)
        Output times, strictly monotonic; ``t[0]`` is the initial time.
    *args
        Extra arguments: floating-point tensors (and Python floats) are runtime
        parameters, differentiable when they require gradients; integers and other
        objects are constants of the system.
    rtol, atol, mxstep, hmax
        As ``taylorjit.jax.odeint``.

    Returns
    -------
    Tensor (T, *y0.shape)

    Examples
    --------
    >>> import numpy as np, torch
    >>> import taylorjit.torch as tjt
    >>> def oscillator(y, t, omega):
    ...     return np.array([y[1], -omega**2 * y[0]])
    >>> omega = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    >>> ts = torch.linspace(0.0, 1.0, 3, dtype=torch.float64)
    >>> ys = tjt.odeint(oscillator, torch.tensor([1.0, 0.0], dtype=torch.float64), ts, omega,
    ...                 rtol=1e-14, atol=1e-14)
    >>> ys[-1, 0].backward()
    >>> round(ys[-1, 0].item(), 6), round(omega.grad.item(), 6)     # cos(2), -sin(2)
    (-0.416147, -0.909297)
    """
    opts = _opts(rtol, atol, mxstep, hmax)
    prob, y0, shape, leaves = _prepare(func, y0, args)
    ts = t if isinstance(t, torch.Tensor) else torch.as_tensor(np.asarray(t, dtype=float))
    if ts.ndim != 1 or ts.shape[0] < 1:
        raise ValueError(f"t must be a 1-d tensor of output times (t[0] the initial time), got "
                         f"shape {tuple(ts.shape)}")
    if ts.is_complex():
        raise TypeError("t must be real")
    if ts.shape[0] > 1:
        core._check_times(_np(ts))
    grad = torch.is_grad_enabled()
    want = (grad and y0.requires_grad, grad and ts.requires_grad,
            *[grad and p.requires_grad for p in leaves])
    Z = _Odeint.apply(prob, opts, want, y0.reshape(-1), ts, *leaves)
    return Z.reshape((ts.shape[0],) + shape)


class _Event(torch.autograd.Function):
    @staticmethod
    def forward(ctx, prob, opts, t_max, direction, want, y0, t0, *leaves):
        tol, ms, hm = opts
        y = _np(y0).reshape(1, -1)
        p = _pars(leaves).reshape(1, -1)
        te, ye = prob.solve_event(y, _np(t0).reshape(1), p, tol, t_max, direction, ms, hm)
        ctx.prob, ctx.opts = prob, opts
        ctx.sel = Selection(want[0], want[2:], want[1])
        ctx.te, ctx.ye, ctx.p = float(te[0]), ye[0], p
        ctx.save_for_backward(y0, t0, *leaves)
        te_t = torch.as_tensor(te[0], dtype=y0.dtype, device=y0.device)
        return te_t, torch.as_tensor(ye[0], dtype=y0.dtype, device=y0.device)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_te, g_ye):
        y0, t0, *leaves = ctx.saved_tensors
        n_in = 5 + 2 + len(leaves)
        prob, sel = ctx.prob, ctx.sel
        if sel.empty or not np.isfinite(ctx.te):
            return (None,) * n_in
        tol, ms, hm = ctx.opts
        n = prob.n
        t = np.array([[float(_np(t0)), ctx.te]])
        Z1 = prob.solve(sel, 1, _np(y0).reshape(1, -1), t, ctx.p, tol, ms, hm)[0]
        vals = prob.event_set().eval(ctx.ye[None, None], np.array([[ctx.te]]), ctx.p)[0, 0]
        f, gy, gt, gp = vals[:n], vals[n:2 * n], vals[2 * n], vals[2 * n + 1:]
        den = gy @ f + gt
        gte = 0.0 if g_te is None else float(_np(g_te))
        gye = np.zeros(n) if g_ye is None else _np(g_ye)
        # y_e = y(t_e; w): cotangent of the fixed-time state and of t_e
        c_te = gte + gye @ f
        c_y = gye - c_te / den * gy                     # dt_e = -(gy . dy + gp . dp) / den
        gw = _sens_vjp(prob, sel, Z1[1:], c_y[None])
        g_y0, g_leaves, g_t0 = _split_grad(prob, sel, gw, leaves)
        off = 0
        for leaf, on in enumerate(sel.leaves):
            size = prob.leaf_sizes[leaf]
            if on:
                g_leaves[leaf] = g_leaves[leaf] - c_te / den * gp[off:off + size]
            off += size
        return (None, None, None, None, None, _tensor(g_y0, y0), _tensor(g_t0, t0),
                *[_tensor(gl, p) for gl, p in zip(g_leaves, leaves)])


def odeint_event(func, event, y0, t0, *args, t_max, direction="any", rtol=1.4e-8, atol=1.4e-8,
                 mxstep=math.inf, hmax=math.inf):
    """The first event ``event(y, t, *args) = 0`` after ``t0`` and the state there,
    differentiable (first order) with respect to ``y0``, ``t0`` and the tensor
    arguments; see ``taylorjit.jax.odeint_event`` for the parameters.

    Returns
    -------
    (Tensor, Tensor)
        ``t_e`` (0-d) and ``y_e`` (shape of ``y0``); NaN if no event occurs before
        ``t_max``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> import taylorjit.torch as tjt
    >>> fall = lambda y, t, g: np.array([y[1], -g])
    >>> h = torch.tensor(10.0, dtype=torch.float64, requires_grad=True)
    >>> t_hit, y_hit = tjt.odeint_event(fall, lambda y, t, g: y[0], torch.stack([h, 0 * h]),
    ...                                 0.0, 9.81, t_max=10.0)
    >>> t_hit.backward()
    >>> round(t_hit.item(), 6), round(h.grad.item(), 6)    # sqrt(2h/g), 1/sqrt(2gh)
    (1.427843, 0.071392)
    """
    opts = _opts(rtol, atol, mxstep, hmax)
    direction = core.check_direction(direction)
    t_max = float(t_max)
    if math.isnan(t_max):
        raise ValueError("t_max is NaN: pass the time until which to search the event")
    prob, y0, shape, leaves = _prepare(func, y0, args, event=event)
    t0 = t0 if isinstance(t0, torch.Tensor) else torch.tensor(float(t0), dtype=torch.float64)
    if t0.ndim != 0:
        raise ValueError(f"t0 must be a scalar (the initial time), got shape {tuple(t0.shape)}")
    grad = torch.is_grad_enabled()
    want = (grad and y0.requires_grad, grad and t0.requires_grad,
            *[grad and p.requires_grad for p in leaves])
    te, ye = _Event.apply(prob, opts, t_max, direction, want, y0.reshape(-1), t0, *leaves)
    return te, ye.reshape(shape)


def event_time(func, event, y0, t0, *args, t_max, direction="any", rtol=1.4e-8, atol=1.4e-8,
               mxstep=math.inf, hmax=math.inf):
    """``odeint_event(...)[0]``: the time of the first event after ``t0``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> import taylorjit.torch as tjt
    >>> fall = lambda y, t, g: np.array([y[1], -g])
    >>> g = torch.tensor(9.81, dtype=torch.float64, requires_grad=True)
    >>> t_hit = tjt.event_time(fall, lambda y, t, g: y[0], torch.tensor([10.0, 0.0]), 0.0, g,
    ...                        t_max=10.0)
    >>> t_hit.backward()
    >>> round(g.grad.item(), 6)      # d sqrt(2h/g) / dg = -t / (2 g)
    -0.072775
    """
    return odeint_event(func, event, y0, t0, *args, t_max=t_max, direction=direction, rtol=rtol,
                        atol=atol, mxstep=mxstep, hmax=hmax)[0]
