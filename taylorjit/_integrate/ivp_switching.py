"""Piecewise right-hand sides in :func:`~.solve_ivp.solve_ivp`: the guards of a
piece (branches of ``fun`` traced as conditions, :mod:`taylorjit._symbolic.guards`)
as one expression kernel whose roots end the piece (:class:`_GuardScan`, on the
scan of :mod:`.ivp_events`), and the choice of the piece to continue from at a
switching point (:func:`_settle`: every guard on the side the flow moves into,
or the reason it cannot be: a sliding mode).  The switching loop itself is in
:mod:`.solve_ivp`.
"""
from __future__ import annotations

import numpy as np

from .ivp_events import _expr_kernel, _roots

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
