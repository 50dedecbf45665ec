"""What the scalar and the batch integrators share: :class:`IntegratorBase`.

:class:`~taylorjit.TaylorAdaptive` (through :class:`.integrator_core.AdaptiveCore`) and
:class:`~taylorjit.TaylorAdaptiveBatch` (through :class:`.batch_state.BatchState`) read a
system the same way (heyoka's keyword aliases, variational systems, tolerance and
order, events) and fill the same work words for the compiled loops -- one row of them
for a scalar integrator, one row per lane for a batch.  Both spellings live here, with
the properties and methods whose meaning does not depend on the lane count.  The
drivers' argument checks shared by both are in :mod:`.drivers_common`.
"""
from __future__ import annotations

import copy

from . import stepper as S
from .events import prepare_events
from .odesys import check_tol, heyoka_options, order_from_tol, parse_system
from .taylor_map import VariationalMixin

__all__ = ["IntegratorBase"]


class IntegratorBase(VariationalMixin):
    """The common base of the scalar and batch integrators (see the module docstring)."""

    def _read_system(self, sys, state, pars, time, tol, compact, events, compact_mode,
                     t_events, nt_events):
        """heyoka's options resolved, the variational initial values filled in, the
        system parsed (``self._sys``), ``self._tol`` and ``self._order`` set and the
        events checked.  Returns ``(compact, state, svars, rhs, events, ev_exprs)``."""
        compact, events = heyoka_options(compact, events, compact_mode, t_events, nt_events)
        state = self._init_variational(sys, state, pars, time)
        svars, rhs = parse_system(sys, check_vars=False)   # build_kernel checks
        self._sys = list(zip(svars, rhs))
        self._tol = check_tol(tol)
        self._order = order_from_tol(self._tol)
        events, ev_exprs = prepare_events(events, svars)
        return compact, state, svars, rhs, events, ev_exprs

    def _init_words(self, iw, fw, n, full, n_events, high_accuracy, t0):
        """The compiled loops' work words: ``iw``/``fw`` of shape ``(NIW,)``/``(NFW,)``
        (scalar) or ``(batch, NIW)``/``(batch, NFW)`` (a row per lane; ``t0`` one time
        per lane)."""
        order = self._order
        iw[..., S.I_ORDER] = order
        iw[..., S.I_N] = n
        # extra rows need the last order only if they are not state rows (an event on a
        # state variable, e.g. a Poincare section x = 0, is complete without it)
        iw[..., S.I_FULL] = full
        iw[..., S.I_NEV] = n_events
        iw[..., S.I_HACC] = int(bool(high_accuracy))
        fw[..., S.F_RHOFAC] = S.rho_factor(order)
        fw[..., S.F_INVO] = 1.0 / float(order)
        fw[..., S.F_INVOM1] = 1.0 / float(order - 1)
        fw[..., S.F_TSHI] = t0

    @property
    def order(self):
        """Order of the Taylor method (heyoka's rule: ``max(2, ceil(-ln(tol)/2 + 1))``)."""
        return self._order

    @property
    def tol(self):
        """The tolerance (relative and absolute)."""
        return self._tol

    @property
    def decomposition(self):
        """The :class:`~taylorjit.Decomposition` of the right-hand sides."""
        return self._kernel.decomposition

    def reset_cooldowns(self):
        """Forget the cooldowns of the terminal events (e.g. after moving the state by
        hand; a batch: in every lane)."""
        self._events.reset_cooldowns()

    def __copy__(self):
        # a copy owns its arrays (the kernel is shared: it pickles by reference)
        return copy.deepcopy(self)
