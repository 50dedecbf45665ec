"""Events of the arbitrary-precision integrator (:class:`~taylorjit.MPTaylorAdaptive`).

The same :class:`~taylorjit.Event` objects and semantics as the double and
double-double integrators (heyoka's ``t_event`` / ``nt_event``: direction,
cooldowns, callbacks); the detection of one step:

* the event functions are extra outputs of the decomposition, so their Taylor
  coefficients over the step come from the same jet (and their rows take part in
  the step-size norms);
* the event polynomial rescaled to the step, ``q_k = g_k |h|^k`` (computed at
  full precision, then rounded to doubles: no overflow whatever the step), goes
  to the double root finder of :mod:`.roots` (exclusion tests, Descartes' rule
  with bisection, Brent) on ``[0, 1 + 2^-30)``;
* each root is polished by Newton's method on the full-precision polynomial in
  mpmath (``p + 20`` bits) and kept if it lies in the step ``[0, h)`` and past
  the cooldown, compared at full precision; a root where Newton does not
  converge quadratically (a multiple root, or one of the rounded polynomial
  only) is kept only if the polynomial changes sign across it;
* the sign of ``g'`` at the root decides the direction.
"""
from __future__ import annotations

import numpy as np

from .._mp.num import context, mul, to_ctx, to_float
from .events import DIRECTIONS, terminal_result

__all__ = ["MPEventBundle", "terminal_callback", "g_eps_of"]

_WIDEN = 1.0 + 2.0 ** -30


class MPEventBundle:
    """The events of one integrator: their slots, directions, cooldowns (mpmath
    numbers of the private context, remaining time in which a terminal event is
    ignored) and the double root finder's workspace."""

    def __init__(self, events, slots, order, p):
        from .roots import make_workspace

        self.events = list(events)
        self.slots = list(slots)
        self.dirs = [DIRECTIONS[ev.direction] for ev in self.events]
        self.p = p
        self.order = order
        self.cd = [None] * len(self.events)      # remaining cooldown (ctx mpf) or None
        if self.events:
            ws, iv, out = make_workspace(order)
            self.work = (ws, np.ascontiguousarray(iv), out)
        else:
            self.work = None

    @property
    def n_events(self):
        return len(self.events)

    def reset_cooldowns(self):
        self.cd = [None] * len(self.events)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["work"] = None                    # the root finder's workspace: rebuilt
        return state

    def __setstate__(self, state):
        from .roots import make_workspace

        self.__dict__.update(state)
        if self.events:
            ws, iv, out = make_workspace(self.order)
            self.work = (ws, np.ascontiguousarray(iv), out)

    # ------------------------------------------------------------------ detection
    def detect(self, M, E, order, h, AH):
        """The roots of the step ``[0, h)`` (``h`` a pair, ``AH`` the rows of
        ``|h|^k``): a list of ``(tau, event, d_sgn, |g'|)`` in time order (``tau``
        and ``|g'|`` mpmath numbers of the private context)."""
        from .roots import fast_exclude, roots_on_step, wrong_direction

        p = self.p
        ctx = context(p)
        sgn = 1.0 if h[0] > 0 else -1.0
        he = sgn * _WIDEN
        ws, iv, out = self.work
        habs = to_ctx(ctx, (abs(h[0]), h[1]))
        hc = to_ctx(ctx, h)
        cands = []
        for e, ev in enumerate(self.events):
            s = self.slots[e]
            q = np.array([to_float(*mul(M[s][k], E[s][k], AH[0][k], AH[1][k], p))
                          for k in range(order + 1)])
            if not np.all(np.isfinite(q)):
                continue
            direction = self.dirs[e]
            cd = self.cd[e] if ev.terminal else None
            cdx = 0.0 if cd is None else float(cd / habs)
            if fast_exclude(q, order, he):
                continue
            if wrong_direction(q, order, he, direction):
                continue
            m = roots_on_step(q, order, he, direction, cdx * 0.5, ws, iv, out)
            if m == 0:
                continue
            g = [to_ctx(ctx, (M[s][k], E[s][k])) for k in range(order + 1)]
            for i in range(m):
                r = _polish(ctx, g, order, out[i, 0] * habs, habs, p)
                if r is None:
                    continue
                tau, dv = r
                if tau * sgn < 0 or (tau - hc) * sgn >= 0:
                    continue                    # outside [0, h)
                if cd is not None and abs(tau) < cd:
                    continue
                dsg = 1 if dv > 0 else (-1 if dv < 0 else 0)
                if direction != 0 and dsg != direction:
                    continue
                if any(c[1] == e and c[0] == tau for c in cands):
                    continue
                cands.append((tau, e, dsg, abs(dv)))
        cands.sort(key=lambda c: abs(c[0]))     # stable: ties keep the event order
        return cands

    def commit(self, cands, best, step, g_eps):
        """After a step of length ``|step|`` (ctx mpf): the non-terminal roots before
        the terminal one ``best`` (index in ``cands`` or -1), advance the cooldowns,
        set the terminal event's.  Returns the non-terminal roots to report."""
        ctx = context(self.p)
        lim = abs(cands[best][0]) if best >= 0 else None
        logged = [c for c in cands if not self.events[c[1]].terminal and
                  (lim is None or abs(c[0]) < lim)]
        self.advance(step)
        if best >= 0:
            tau, e, dsg, dabs = cands[best]
            ev = self.events[e]
            if ev.cooldown is not None:
                self.cd[e] = ctx.mpf(ev.cooldown)
            else:
                self.cd[e] = 10 * g_eps / dabs if dabs > 0 else ctx.zero
        return logged

    def advance(self, step):
        for e, cd in enumerate(self.cd):
            if cd is not None:
                rem = cd - abs(step)
                self.cd[e] = rem if rem > 0 else None


def _horner(ctx, g, order, x):
    v = g[order]
    d = ctx.zero
    for k in range(order - 1, -1, -1):
        d = d * x + v
        v = v * x + g[k]
    return v, d


def _polish(ctx, g, order, tau0, habs, p):
    """Newton's method from the double root ``tau0``: ``(tau, g'(tau))`` at ``p`` bits,
    or None when the root is not one of the full-precision polynomial."""
    with ctx.workprec(p + 20):
        x = ctx.mpf(tau0)
        tiny = ctx.ldexp(habs, -(p + 8))
        last = None
        conv = False
        for _ in range(40):
            v, d = _horner(ctx, g, order, x)
            if not d:
                break
            dx = v / d
            x -= dx
            adx = abs(dx)
            if adx <= tiny or adx <= ctx.ldexp(abs(x), -(p + 8)):
                conv = True
                break
            if last is not None and adx >= last and adx < ctx.ldexp(habs, -40):
                break                       # stalled (multiple root): check the sign change
            last = adx
        v, d = _horner(ctx, g, order, x)
        if not conv:
            w = max(4 * (last or tiny), tiny)
            a = _horner(ctx, g, order, x - w)[0]
            b = _horner(ctx, g, order, x + w)[0]
            if not ((a < 0 < b) or (b < 0 < a)):
                return None
            d = (b - a) if not d else d
    with ctx.workprec(p):
        return +x, +d


def terminal_callback(ta, bundle, te):
    """The callback of terminal event ``te``, ``cb(ta, d_sgn)``: True to continue,
    False to stop (no callback: stop)."""
    ev = bundle.events[te]
    if ev.callback is None:
        return False
    return terminal_result(ev.callback(ta, ta._last_dsgn), te, ev)


def g_eps_of(M, E, hrows, tol, p):
    """heyoka's error estimate of the event functions' series:
    ``max(tol max(1, a), 2^(1-p) a)``, ``a = max |x_0|`` over the state and event rows."""
    ctx = context(p)
    a = ctx.zero
    for i in hrows:
        v = abs(to_ctx(ctx, (M[i][0], E[i][0])))
        if v > a:
            a = v
    r = tol if a < 1 else tol * a
    f = ctx.ldexp(a, 1 - p)
    return r if r > f else f

