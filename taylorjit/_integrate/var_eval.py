"""Numbers from a variational system: a compiled evaluator of expressions, the
initial values that involve the initial time, and the event-time correction of
first-order sensitivities.

:mod:`.variational` builds the augmented system symbolically; this module
compiles and evaluates the expressions its initial conditions need
(:func:`_t0_initial_program`, called by ``VarODESys.initial_state``: the
backward Lie series derived in the docstring of :mod:`.variational`) and holds
:func:`evaluator` and :func:`event_sensitivity`, which :mod:`.taylor_map` uses
for sensitivities at events.
"""
from __future__ import annotations

import numpy as np

from .._symbolic.expr import diff, div, mul, nary_sum
from .._symbolic.expr import time as _time
from .mindex import _alpha_factorial, _first_nonzero, multi_indices

__all__ = ["evaluator", "event_sensitivity"]


def _t0_initial_program(vsys, jt):
    """Targets and a compiled evaluator of the initial values involving t0."""
    state = vsys.state_vars[:vsys.n_orig]
    f = vsys._orig_rhs
    n, m, k = vsys.n_orig, vsys.m, vsys.order
    # s_q: normalised time-Taylor coefficients of the solution, as functions of (x, p, t)
    s = [list(state)]
    for q in range(1, k + 1):
        prev = s[-1]
        nxt = []
        for g in prev:
            terms = [mul(diff(g, v), fi) for v, fi in zip(state, f)]
            terms.append(diff(g, _time))
            nxt.append(div(nary_sum(terms), float(q)))
        s.append(nxt)
    leaf = list(vsys.wrt)  # tj.time: the explicit time of s_q(x0, p, t0)

    derivs = {}

    def dgamma(q, gamma):
        """D^gamma s_q (un-normalised), memoised by recursion on gamma."""
        key = (q, gamma)
        if key not in derivs:
            if not any(gamma):
                derivs[key] = s[q]
            else:
                j = _first_nonzero(gamma)
                prev = dgamma(q, gamma[:j] + (gamma[j] - 1,) + gamma[j + 1:])
                derivs[key] = [diff(g, leaf[j]) for g in prev]
        return derivs[key]

    targets, outs = [], []
    for order in range(1, k + 1):
        for i in range(n):
            for alpha in multi_indices(m, order):
                a = alpha[jt]
                if a == 0:
                    continue
                terms = []
                for q in range(1, a + 1):
                    gamma = alpha[:jt] + (a - q,) + alpha[jt + 1:]
                    c = (-1.0) ** q / _alpha_factorial(gamma)
                    terms.append(mul(c, dgamma(q, gamma)[i]))
                targets.append(vsys._pos[(i, alpha)])
                outs.append(nary_sum(terms))
    return np.array(targets, dtype=np.int64), evaluator(outs, state)


def evaluator(exprs, inputs):
    """A compiled function ``ev(x, pars, t) -> values`` of expressions.

    Uses the compact VM (no per-expression compilation).  Used for initial
    conditions and event corrections; handy in tests.
    """
    from .._codegen.decompose import decompose
    from .._codegen.kernel import get_kernel

    d = decompose(list(exprs), list(inputs))
    kern = get_kernel(d, ode=False, kind="compact")
    n_in = len(inputs)
    outs = np.array(d.outputs, dtype=np.int64)
    npar = d.n_pars

    def ev(x, pars=None, t=0.0):
        tc = np.zeros((d.n_slots, 1))
        tc[:n_in, 0] = x
        p = np.zeros(npar) if pars is None else np.ascontiguousarray(pars, dtype=float)
        if p.shape[0] < npar:
            raise ValueError(f"the expressions use {npar} parameters but {p.shape[0]} were given")
        kern.jet(tc, 0, p, float(t), 1, kern.prog, kern.cvals)
        return tc[outs, 0].copy()

    return ev


def event_sensitivity(phi, f, dgdx, dgdt=0.0):
    """Sensitivities of the state at an event, corrected for the event time.

    If the integration stops where ``g(x, t) = 0`` and ``phi = dx(t)/dw`` is
    the sensitivity at the fixed event time, the event time itself moves with
    ``w``: differentiating ``g(x(t_e(w), w), t_e(w)) = 0`` gives::

        dt_e/dw   = -(dg/dx . phi) / (dg/dx . f + dg/dt)
        dx(t_e)/dw = phi + f(x_e) dt_e/dw
                   = phi - f (dg/dx phi) / (dg/dx f + dg/dt)

    Parameters
    ----------
    phi : array (n, m)
        First-order sensitivities at the event (e.g. the state-transition
        matrix ``sensitivity(order=1)``), or ``(n, m, B)`` in batch.
    f : array (n,)
        The right-hand side at the event.
    dgdx : array (n,)
        Gradient of the event function with respect to the state.
    dgdt : float
        Explicit time derivative of the event function.

    Returns
    -------
    dxdw : array (n, m)
    dtdw : array (m,)

    Raises
    ------
    ZeroDivisionError
        If the trajectory is tangent to the event surface (``dg/dt = 0``
        along the flow), where the event time is not differentiable.

    Examples
    --------
    ``x' = 1`` from ``x0`` with the event ``x = 1``: ``t_e = 1 - x0`` and
    ``x(t_e) = 1`` whatever ``x0``, so ``event_sensitivity(np.eye(1), [1.0],
    [1.0])`` gives ``dxdw = [[0.0]]`` and ``dtdw = [-1.0]``.  On an integrator:
    ``ta.event_sensitivity(g)`` (:class:`taylorjit.TaylorAdaptive`).
    """
    phi = np.asarray(phi, dtype=float)
    f = np.asarray(f, dtype=float)
    dgdx = np.asarray(dgdx, dtype=float)
    if phi.ndim < 2 or f.shape[0] != phi.shape[0] or dgdx.shape[0] != phi.shape[0]:
        raise ValueError(f"shapes do not match: phi {phi.shape}, f {f.shape}, dgdx {dgdx.shape}; "
                         "expected phi (n, m), f (n,), dgdx (n,)")
    denom = np.einsum("i...,i...->...", dgdx, f) + dgdt
    if np.any(denom == 0.0):
        raise ZeroDivisionError("the trajectory is tangent to the event surface (dg/dt = 0 along "
                                "the flow): the event time is not differentiable there")
    dgphi = np.einsum("i...,im...->m...", dgdx, phi)
    dtdw = -dgphi / denom
    return phi + f[:, None] * dtdw[None], dtdw
