"""The batch integrator's construction and state: arrays, properties, single steps, dense output.

:class:`BatchState` is the base of :class:`taylorjit.TaylorAdaptiveBatch`
(:mod:`taylorjit._integrate.batch`, which adds the propagation drivers): it builds the
kernel and the lane-major per-lane arrays (``(batch, n)`` states, ``(batch, NIW)`` /
``(batch, NFW)`` work words, the ``(batch, n_slots, order + 1)`` Taylor table), exposes
them as heyoka's ``(n, batch)`` views, and runs ``step()`` (each lane's fused step
through the LLVM plain loop, else the compiled batch step), ``update_d_output``, the
per-lane event callbacks after a compiled call, pickling and the background kernel
switch.
"""
from __future__ import annotations

import math

import numpy as np

from . import stepper as S
from .events import EventBundleBatch, drain_log, run_terminal_callback
from .._dd.arith import py_add as _dd_add
from .drivers_common import _PROPAGATING, OUTCOMES, reentrant_error
from .integrator_base import IntegratorBase
from .odesys import Outcome, as_pars, build_kernel, tier_up
from .plainloop import dense, single_step

__all__ = ["BatchState"]


class BatchState(IntegratorBase):
    """Construction, state and single steps of a batch integrator (the base of
    :class:`taylorjit.TaylorAdaptiveBatch`, whose documentation describes the
    constructor's arguments)."""


    _stop_all = False       # (objects built without __init__: the ensemble's batch groups)

    def __init__(self, sys, states=None, *, time=0.0, pars=None, tol=None, compact=None,
                 high_accuracy=False, events=None, compact_mode=None, t_events=None,
                 nt_events=None, state=None, stop_all_lanes=False, _extra=()):
        if (states is None) == (state is None):
            raise TypeError("pass the initial states once: TaylorAdaptiveBatch(sys, states) "
                            "(or heyoka's keyword state=)")
        states = state if states is None else states
        self.stop_all_lanes = stop_all_lanes
        compact, states, svars, rhs, events, ev_exprs = self._read_system(
            sys, states, pars, time, tol, compact, events, compact_mode, t_events, nt_events)
        self._kernel, self._hrows, full = build_kernel(
            svars, rhs, list(ev_exprs) + list(_extra), compact, self._order)
        n = len(svars)
        st = np.array(states, dtype=float)
        if st.ndim != 2 or st.shape[0] != n or st.shape[1] < 1:
            raise ValueError(f"states has shape {st.shape} but the system has {n} equations: pass "
                             f"an array of shape ({n}, batch), one column per lane")
        if not np.all(np.isfinite(st)):
            raise ValueError("states contains non-finite values: pass finite numbers")
        b = st.shape[1]
        self._batch = b
        self._st = np.ascontiguousarray(st.T)
        d = self._kernel.decomposition
        self._pa = np.ascontiguousarray(as_pars(pars, d.n_pars, batch=b).T)
        tm = np.broadcast_to(np.asarray(time, dtype=float), (b,))
        if not np.all(np.isfinite(tm)):
            raise ValueError(f"time must be finite, got {tm.tolist()}")
        self._tm = np.zeros((b, 2))
        self._tm[:, 0] = tm
        self._tc = self._kernel.new_tc(self._order, batch=b)
        self._iw = np.zeros((b, S.NIW), dtype=np.int64)
        self._fw = np.zeros((b, S.NFW))
        self._init_words(self._iw, self._fw, n, full, len(events), high_accuracy, self._tm[:, 0])
        self._xnew = np.zeros(n)
        self.d_output = np.zeros((n, b))     # the last update_d_output (heyoka's layout)
        self.step_res = None                 # the last step()'s [(outcome, h), ...]
        self._events = EventBundleBatch(events, self._hrows[n:n + len(events)], self._order,
                                        self._tol, b)
        self.event_log = [[] for _ in range(b)]
        self._last_event = [None] * b
        # the unrolled kernel built in the background when the VM was chosen automatically
        self._auto = compact is None
        self._upgrade = tier_up(self._kernel, self._order, full, compact)

    # ------------------------------------------------------------------ properties
    @property
    def state(self):
        """States, shape ``(n, batch)`` (a writable view)."""
        return self._st.T

    @property
    def pars(self):
        """Parameters, shape ``(n_pars, batch)`` (a writable view)."""
        return self._pa.T

    @property
    def stop_all_lanes(self):
        """Whether a lane's stopping terminal event or failure stops every lane of
        ``propagate_*`` (heyoka's batch semantics; see the class documentation)."""
        return self._stop_all

    @stop_all_lanes.setter
    def stop_all_lanes(self, value):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"stop_all_lanes must be True or False, got {value!r}")
        self._stop_all = bool(value)

    @property
    def time(self):
        """Time of each lane (high parts), shape ``(batch,)``."""
        return self._tm[:, 0].copy()

    @time.setter
    def time(self, value):
        t = np.broadcast_to(np.asarray(value, dtype=float), (self._batch,))
        if not np.all(np.isfinite(t)):
            raise ValueError("time must be finite")
        self._tm[:, 0] = t
        self._tm[:, 1] = 0.0

    def set_time(self, value):
        """Set the time of every lane (one value, or one per lane; heyoka's name for
        assigning :attr:`time`)."""
        self.time = value

    @property
    def dtime(self):
        """Double-length times ``(hi, lo)``, shape ``(batch, 2)``."""
        return self._tm.copy()

    @property
    def tc(self):
        """Taylor coefficients of the last step, shape ``(n, order + 1, batch)`` (as heyoka)."""
        n = self._st.shape[1]
        return np.transpose(self._tc[:, :n, :], (1, 2, 0))

    @property
    def batch_size(self):
        return self._batch

    @property
    def last_h(self):
        return self._fw[:, S.F_LASTH].copy()

    def __repr__(self):
        return (f"<TaylorAdaptiveBatch: {self._st.shape[1]} equations, batch {self._batch}, "
                f"order {self._order}, tol {self._tol:g}>")

    # ------------------------------------------------------------------ stepping
    def _lanes(self, x, what):
        """``x`` (one value, or one per lane) as a new writable array of shape ``(batch,)``."""
        a = np.asarray(x, dtype=float)
        if a.ndim > 1 or (a.ndim == 1 and a.shape[0] != self._batch):
            raise ValueError(f"{what} has shape {a.shape}: pass one value for all lanes or one "
                             f"per lane (shape ({self._batch},))")
        a = np.array(np.broadcast_to(a, (self._batch,)), dtype=float)
        if np.any(np.isnan(a)):
            raise ValueError(f"{what} must not be NaN, got {a.tolist()}")
        return a

    def _max_dt(self, max_delta_t):
        """Per-lane step length limits (inf: none)."""
        if max_delta_t is None:
            return np.full(self._batch, math.inf)
        m = self._lanes(max_delta_t, "max_delta_t")
        if np.any(m <= 0.0):
            raise ValueError(f"max_delta_t must be positive (a step length limit), got "
                             f"{m.tolist()}")
        return m

    def step(self, max_delta_t=None):
        """One step of every lane (at most ``max_delta_t`` long: one value, or one per
        lane; negative: backward); returns a list of ``(outcome, h)`` per lane, with
        ``Outcome.event`` for a lane whose step a terminal event ended (as the scalar
        :meth:`~taylorjit.TaylorAdaptive.step`), also kept in :attr:`step_res`."""
        mh = self._lanes(math.inf if max_delta_t is None else max_delta_t, "max_delta_t")
        self.step_res = self._step(mh)
        return self.step_res

    def step_backward(self, max_delta_t=None):
        """One step backward of every lane (at most ``|max_delta_t|`` long)."""
        mh = self._lanes(math.inf if max_delta_t is None else max_delta_t, "max_delta_t")
        self.step_res = self._step(-np.abs(mh), "step_backward")
        return self.step_res

    def update_d_output(self, t, rel_time=False):
        """Dense output of every lane: the state at time ``t`` (one value, or one per
        lane; relative to each lane's current time with ``rel_time=True``) from the
        Taylor polynomial of the lane's last step.  Returns (and keeps in
        :attr:`d_output`) an array of shape ``(n, batch)``, as heyoka's batch mode.

        Examples
        --------
        >>> import numpy as np, taylorjit as tj
        >>> x, v = tj.make_vars("x", "v")
        >>> tb = tj.TaylorAdaptiveBatch([(x, v), (v, -x)], [[0.0, 0.0], [1.0, 2.0]])
        >>> _ = tb.step()
        >>> d = tb.update_d_output(0.1)
        >>> bool(np.allclose(d[0], [np.sin(0.1), 2 * np.sin(0.1)], rtol=0, atol=1e-15))
        True
        """
        b = self._batch
        tt = self._lanes(t, "t")
        if not np.all(np.isfinite(tt)):
            raise ValueError(f"t must be finite, got {tt.tolist()}")
        n = self._st.shape[1]
        out = np.empty((b, n))
        hacc = self._iw[0, S.I_HACC]
        poly = None if hacc else dense()[0]
        for j in range(b):
            if rel_time:
                a = _dd_add(self._tm[j, 0], self._tm[j, 1], tt[j], 0.0)
            else:
                a = (tt[j], 0.0)
            delta = _dd_add(a[0], a[1], -self._fw[j, S.F_TSHI], -self._fw[j, S.F_TSLO])[0]
            if hacc:
                S.eval_poly_entry(self._tc[j], n, self._order, delta, out[j], 1)
            else:       # the scalar integrator's dense output (LLVM), lane by lane
                poly(self._tc[j].ctypes.data, self._tc.shape[2], n, delta, out[j].ctypes.data)
        self.d_output = out.T.copy()
        return self.d_output

    def _step(self, mh, what="step"):
        if _PROPAGATING and id(self) in _PROPAGATING:
            raise reentrant_error(what)
        if self._upgrade is not None:
            self._tier_check()
        blocks = self._plain_blocks()
        if blocks is not None:
            # each lane's fused step through the LLVM plain loop (no numba code on this path)
            out = [single_step(blk, fblk, float(mh[j]), self._iw[j], self._fw[j], self._tlimb[j])
                   for j, (blk, fblk) in enumerate(blocks)]
            return [(OUTCOMES[c], h) for c, h in out]
        k = self._kernel
        oc = np.zeros(self._batch, dtype=np.int64)
        S.step_batch(k.jet, k.prog, k.cvals, self._tc, self._iw, self._fw, self._hrows, self._st,
                     self._pa, self._tm, mh, self._xnew, oc, self._events.arrays)
        codes = [int(c) for c in oc]
        hs = self._fw[:, S.F_H].tolist()
        if self._events.n_events:
            key = id(self)
            _PROPAGATING.add(key)
            try:
                for b, c in enumerate(codes):
                    self._handle_events(b, c)
            finally:
                _PROPAGATING.discard(key)
        # as heyoka, a lane whose step a terminal event ended reports the event whatever
        # its callback returned (True only lets propagate_* go on)
        return [(Outcome.event if c == S.OC_EVENT else OUTCOMES[c], h)
                for c, h in zip(codes, hs)]

    def _handle_events(self, b, code):
        """Lane ``b`` after a compiled call: logged non-terminal callbacks, then the
        terminal callback.  Returns OC_EVENT (stop), OC_CONTINUE, or ``code``."""
        ev = self._events.lane(b)
        drain_log(self, ev, self.event_log[b], lane=b)
        if code == S.OC_EVENT:
            self._last_event[b] = ev.last_terminal
            return S.OC_CONTINUE if run_terminal_callback(self, ev, lane=b) else S.OC_EVENT
        if code == S.OC_EVENT_PY:
            return S.OC_CONTINUE
        if code == S.OC_ERR_NF:
            ev.reset_cooldowns()       # as heyoka: cooldowns are meaningless after a failure
        return code

    @property
    def events(self):
        return list(self._events.events)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_plainb", None)      # addresses of this object's arrays (rebuilt lazily)
        state.pop("_plainok", None)
        state.pop("_simd", None)        # compiled code of this process (found again lazily)
        state.pop("_simdb", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self.__dict__.get("_auto") and self.__dict__.get("_upgrade") is None:
            self._upgrade = tier_up(self._kernel, self._order, self._iw[0, S.I_FULL], None)
    def _tier_check(self):
        """Take the background-built kernel if it is ready (at a step boundary of
        every lane; batch tables have the same shape for every kind).  Returns
        whether the kernel changed."""
        kern, self._upgrade = self._upgrade.claim()
        if kern is None:
            return False
        changed = kern is not self._kernel
        self._kernel = kern
        return changed
