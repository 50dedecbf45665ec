"""Piecewise expressions (``tj.select``) in the point-wise front ends.

``taylor_coefficients``, ``derivatives`` and ``cfunc`` of expressions with
select nodes evaluate the *branch active at each point*: the guards (the
conditions' expressions, smooth) are evaluated at the points, points with the
same signs share one smooth resolved expression, compiled once per sign
pattern.  Coefficients of a piecewise function are those of its active branch
(at a guard's zero the comparison's strictness decides: ``x >= 0`` holds
there, ``x > 0`` does not).
"""
from __future__ import annotations

import numpy as np

from .._symbolic.expr import TracingError, topo_order
from .._symbolic.guards import GuardContext, resolve

__all__ = ["guards_of", "PiecewiseFront"]


def guards_of(exprs) -> list:
    """The guard expressions of the select nodes reachable from ``exprs`` (first met
    first).  A condition that itself contains a select is refused."""
    out, seen = [], set()
    for node in topo_order(list(exprs)):
        if node.op == "select":
            g = node.args[0]
            if id(g) in seen:
                continue
            if any(x.op == "select" for x in topo_order([g])):
                raise TracingError(f"the condition of a select contains another select "
                                   f"({g}): write the condition without select/abs/min/max")
            seen.add(id(g))
            out.append(g)
    return out


class PiecewiseFront:
    """Groups points by the signs of the guards and resolves each group's branch."""

    def __init__(self, fs, variables):
        self.fs = list(fs)
        self.variables = list(variables)
        self.guards = guards_of(self.fs)
        self._gfun = None
        self._resolved = {}

    def guard_values(self, X, pars, time):
        from .cfunc import cfunc

        if self._gfun is None:
            self._gfun = cfunc(self.guards, self.variables, simd=False)
        vals = self._gfun(X, pars=pars, time=time)
        return np.asarray(vals).reshape(X.shape[0], len(self.guards))

    def resolved(self, x_row, signs, pars, time):
        """The smooth expressions active at the point ``x_row`` whose guards have the
        ``signs`` (+1, -1; 0 at a zero, where the comparison's strictness decides; 2 for
        NaN, an error if that guard is consulted)."""
        key = signs.tobytes()
        hit = self._resolved.get(key)
        if hit is None:
            env, p, t = {}, np.asarray([] if pars is None else pars, dtype=float).ravel(), time
            p = p.copy()
            for v, x in zip(self.variables, x_row):
                if v.op == "var":
                    env[id(v)] = float(x)
                elif v.op == "par":
                    if p.shape[0] <= v.value:
                        p = np.concatenate([p, np.zeros(v.value + 1 - p.shape[0])])
                    p[v.value] = float(x)
                else:
                    t = float(x)
            forced = {id(g): int(sg) for g, sg in zip(self.guards, signs) if sg in (1, -1)}
            ctx = GuardContext(env, p, 0.0 if t is None else t, forced)
            hit = self._resolved[key] = resolve(self.fs, ctx)
        return hit

    def groups(self, X, pars=None, time=None, per_point=False):
        """``[(indices, resolved expressions)]`` covering the rows of ``X``.

        ``per_point``: ``pars`` (npars, npoints) / ``time`` (npoints,) differ per
        point; the representative row's own values are used to resolve."""
        vals = self.guard_values(X, pars, time)
        signs = np.where(np.isnan(vals), 2, np.sign(vals)).astype(np.int8)
        keys, inverse = np.unique(signs, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        out = []
        for k in range(keys.shape[0]):
            idx = np.nonzero(inverse == k)[0]
            i0 = idx[0]
            p, t = pars, time
            if per_point:
                p = None if pars is None else np.asarray(pars, dtype=float)
                if p is not None and p.ndim == 2:
                    p = p[:, i0]
                if time is not None and np.ndim(time) == 1:
                    t = float(np.asarray(time)[i0])
            out.append((idx, self.resolved(X[i0], keys[k], p, t)))
        return out


# ------------------------------------------------------------------------ integrators
class PiecewiseODE:
    """The select branches of a :class:`~taylorjit.TaylorAdaptive` system.

    Every guard is a terminal event of the integrator (after the user's events,
    with a callback that continues the propagation); at a crossing the callback
    resolves the system for the new sides and the integrator swaps kernels at
    that step boundary (:meth:`TaylorAdaptive._swap_rhs`).  A branch pushing the
    state straight back to the surface (a sliding mode) stops the propagation
    there with ``Outcome.event`` and an ``event_index`` past the user's events,
    and a warning naming the condition."""

    def __init__(self, svars, rhs, n_user):
        self.svars = list(svars)
        self.rhs = list(rhs)
        self.guards = guards_of(self.rhs)
        self.n_user = n_user
        self.kernels = {}       # key of resolved rhs -> (kernel, hrows, full, upgrade)
        self.key = None
        self.sides = {}         # id(g) -> side of the live guards of the current piece
        self.live = []          # [(g, side)] of the current piece
        self._lie = {}

    def env(self, state):
        return {id(v): float(x) for v, x in zip(self.svars, state)}

    def __getstate__(self):
        # background builds belong to this process (copies and pickles drop them)
        state = dict(self.__dict__)
        state["kernels"] = {k: v[:4] + (None,) for k, v in self.kernels.items()}
        state["_lie"] = {}
        return state

    def resolve_at(self, t, state, pars, forced=None):
        """(resolved rhs, live guards [(g, side)]) at the point."""
        ctx = GuardContext(self.env(state), pars, t, forced)
        out = resolve(self.rhs, ctx)
        return out, ctx.guards

    def set_piece(self, rhs, live):
        self.current = list(rhs)        # holds the expressions: the ids in keys stay valid
        self.key = tuple(map(id, rhs))
        self.live = list(live)
        self.sides = {id(g): s for g, s in live}

    def stale(self, t, state, pars):
        """True if a live guard is no longer on its recorded side at the point (the
        user moved the state or the time by hand)."""
        from .._symbolic.guards import numeric_values

        if not self.live:
            return False
        vals = numeric_values([g for g, _ in self.live], self.env(state), pars, t)
        return any((v > 0 and s < 0) or (v < 0 and s > 0) for (_, s), v in zip(self.live, vals))

    def rate(self, g, rhs, t, state, pars):
        """dg/dt along the flow of ``rhs`` at the point."""
        from .._symbolic.guards import lie_derivative, numeric_values

        key = (id(g), tuple(map(id, rhs)))
        e = self._lie.get(key)
        if e is None:
            e = self._lie[key] = lie_derivative(g, self.svars, rhs)
        return numeric_values([e], self.env(state), pars, t)[0]
