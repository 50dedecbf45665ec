"""The batch integrator: many initial conditions / parameter sets in one compiled loop.

Each lane has its own step size and time, and every lane equals the scalar run of
its initial condition bit for bit, whichever loop runs it:

- ``propagate_until`` of a small system without events (the common case) runs on
  SIMD lanes: W lanes per ``<W x double>`` vector in a kernel of the system
  (:mod:`taylorjit._integrate.simdbatch`, built in the background at the first call; W = 8
  with AVX-512, 4 with AVX);
- meanwhile, and for grids, ``step()`` and systems without a SIMD kernel, each lane
  runs the scalar LLVM plain loop (:mod:`taylorjit._integrate.plainloop`) in turn;
- events, callbacks and the VM run the compiled batch loop
  (:func:`taylorjit._integrate.stepper.propagate_batch`), the per-lane step code of the
  scalar integrator on ``tc[lane]`` of a ``(batch, n_slots, order + 1)`` array.  Storage is lane-major (``(batch, n)``); the public ``state`` / ``pars``
are writable transposed views of shape ``(n, batch)`` / ``(n_pars, batch)`` as
in heyoka.
"""
from __future__ import annotations

import math

import numpy as np

from . import simdbatch as _simdbatch
from .._codegen import tiering as _tiering
from . import stepper as S
from .events import EventBundleBatch, drain_log, prepare_events, run_terminal_callback
from .integrator import (_PROPAGATING, OUTCOMES, _dd_add, check_max_steps, grow_c, make_progress,
    reentrant_error)
from .taylor_map import VariationalMixin
from .odesys import (Outcome, as_pars, build_kernel, check_tol, heyoka_options, order_from_tol,
    parse_system, tier_up)
from .plainloop import (B_BUDGET, B_CAP, B_CT, B_CTC, B_GOUT, B_GRID, B_INIT, B_MAXDT, B_MAXSTEPS, B_NGRID,
    B_TEND, B_WANTC, B_WANTGRID, dense, new_block, plain_loop, single_step)

_EV_LANE = (1, 6, 7, 8)   # the per-lane arrays of an EventBundleBatch (cooldowns, log, words)

__all__ = ["TaylorAdaptiveBatch", "BatchResult", "BatchContinuousOutput"]

_PROGRESS_ROUNDS = 2000
_INF_DT = math.inf
_TIER_ROUNDS = 500       # rounds per compiled call while a faster kernel is being built
_STOPPED = -2            # status of a lane that another lane stopped (stop_all_lanes)


class TaylorAdaptiveBatch(VariationalMixin):
    """Adaptive Taylor integrator for a batch of initial conditions.

    Parameters
    ----------
    sys : list of (variable, rhs) pairs, or dict
    states : array_like, shape (n, batch)
        One column per lane.
    time : float or array_like of shape (batch,), optional
    pars : array_like, shape (n_pars, batch), optional
    tol, compact, high_accuracy
        As :class:`~taylorjit._integrate.integrator.TaylorAdaptive`.
    events : list of Event, optional
        As :class:`~taylorjit._integrate.integrator.TaylorAdaptive`, per lane; callbacks get
        the lane index as last argument (heyoka's batch convention):
        ``cb(ta, d_sgn, lane)`` (terminal), ``cb(ta, t, d_sgn, lane)``
        (non-terminal).  Non-terminal events without a callback are recorded
        in ``event_log[lane]``.

        Each lane stops at its own terminal event (or time limit, or failure) and
        the other lanes go on to their final times.
    stop_all_lanes : bool, optional
        heyoka's batch semantics instead: a lane that stops on a terminal event
        (no callback, or a callback returning False) or fails with a non-finite
        state stops every other lane of ``propagate_*`` after the same step.  The
        lanes step in lockstep (one step per lane per round, each lane with its own
        step size), so a lane stopped this way has taken as many steps as the lane
        that stopped the batch, and its outcome is ``Outcome.success`` (as heyoka's);
        lanes that had already reached their final time keep ``time_limit``.  Also
        the attribute :attr:`stop_all_lanes`.  Every lane's result is still the
        scalar integration's, step for step, up to where it stopped.

    Examples
    --------
    >>> import numpy as np, taylorjit as tj
    >>> from taylorjit._integrate.batch import TaylorAdaptiveBatch
    >>> x, v = tj.make_vars("x", "v")
    >>> tb = TaylorAdaptiveBatch([(x, v), (v, -tj.par[0] * tj.sin(x))],
    ...                          [[0.05, 0.1], [0.0, 0.0]], pars=[[9.8, 1.0]], compact=True)
    >>> res = tb.propagate_until(10.0)
    >>> [oc.name for oc in res.outcome], tb.time.tolist()
    (['time_limit', 'time_limit'], [10.0, 10.0])

    With ``stop_all_lanes=True`` the first lane to reach ``x = 0`` stops both:

    >>> tb = tj.TaylorAdaptiveBatch([(x, v), (v, -x)], [[-0.1, -1.0], [1.0, -1.0]],
    ...                             t_events=[tj.t_event(x)], stop_all_lanes=True)
    >>> res = tb.propagate_until(10.0)
    >>> [oc.name for oc in res.outcome], res.event_index, res.n_steps.tolist()
    (['event', 'success'], [0, None], [1, 1])
    """

    _stop_all = False       # (objects built without __init__: the ensemble's batch groups)

    def __init__(self, sys, states=None, *, time=0.0, pars=None, tol=None, compact=None,
                 high_accuracy=False, events=None, compact_mode=None, t_events=None,
                 nt_events=None, state=None, stop_all_lanes=False, _extra=()):
        if (states is None) == (state is None):
            raise TypeError("pass the initial states once: TaylorAdaptiveBatch(sys, states) "
                            "(or heyoka's keyword state=)")
        states = state if states is None else states
        self.stop_all_lanes = stop_all_lanes
        compact, events = heyoka_options(compact, events, compact_mode, t_events, nt_events)
        states = self._init_variational(sys, states, pars, time)
        svars, rhs = parse_system(sys, check_vars=False)   # build_kernel checks
        self._sys = list(zip(svars, rhs))
        self._tol = check_tol(tol)
        self._order = order_from_tol(self._tol)
        events, ev_exprs = prepare_events(events, svars)
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
        self._iw[:, S.I_ORDER] = self._order
        self._iw[:, S.I_N] = n
        self._iw[:, S.I_FULL] = full
        self._iw[:, S.I_NEV] = len(events)
        self._iw[:, S.I_HACC] = int(bool(high_accuracy))
        self._fw = np.zeros((b, S.NFW))
        self._fw[:, S.F_RHOFAC] = S.rho_factor(self._order)
        self._fw[:, S.F_INVO] = 1.0 / float(self._order)
        self._fw[:, S.F_INVOM1] = 1.0 / float(self._order - 1)
        self._fw[:, S.F_TSHI] = self._tm[:, 0]
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
    def order(self):
        return self._order

    @property
    def tol(self):
        return self._tol

    @property
    def decomposition(self):
        return self._kernel.decomposition

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

    def _plain_ok(self):
        """Whether the plain paths apply (:meth:`_plain_blocks`), decided once per kernel
        without building the blocks."""
        hit = self.__dict__.get("_plainok")
        if hit is not None and hit[0] is self._kernel:
            return hit[1]
        k = self._kernel
        n = self._st.shape[1]
        ok = bool(k.kind == "unrolled" and k.jet.step_addr and self._iw[0, S.I_NEV] == 0
                  and self._iw[0, S.I_HACC] == 0 and self._iw[0, S.I_FULL] == 0
                  and np.array_equal(self._hrows, np.arange(n))
                  and self._tc.shape[1:] == (k.n_slots, self._order + 1))
        self._plainok = (k, ok)
        return ok

    def _plain_blocks(self):
        """Per-lane argument blocks of the LLVM plain loop (:mod:`taylorjit._integrate.plainloop`)
        when the kernel has a fused step and the integrator no events, extra rows or
        compensated summation; else None.  Lanes are independent and lane-major, so
        row ``b`` of every per-lane array is a scalar integrator's array: each lane
        runs the scalar plain loop, the same operations as the compiled batch loop
        (bit-identical, tested), with no numba code on the path."""
        hit = self.__dict__.get("_plainb")
        if hit is not None and hit[0] is self._kernel:
            return hit[1]
        k, blocks = self._kernel, None
        if self._plain_ok():
            step = k.jet.step_addr
            if "_tlimb" not in self.__dict__:
                self._tlimb = np.zeros((self._batch, 2))
            # the plain loop reads the register step and light entry from iw; I_LIGHT
            # stays 0 (the compiled batch loop calls the first-class jet)
            self._iw[:, S.I_RADDR] = k.jet.stepr_addr
            self._iw[:, S.I_LADDR] = k.jet.light_addr
            blocks = [new_block(step, self._tc[j], self._iw[j], self._fw[j], self._st[j],
                                self._pa[j], self._tm[j], self._tlimb[j], self._xnew)
                      for j in range(self._batch)]
        self._plainb = (k, blocks)
        return blocks

    def _simd_kernel(self):
        """The SIMD batch kernel (:mod:`taylorjit._integrate.simdbatch`) once it is built, else
        None: built in the background on first use (at once with background builds
        off); None for ever when the system does not qualify."""
        hit = self.__dict__.get("_simd")
        if hit is not None:
            if hit.__class__ is _tiering.Upgrade:
                kern, up = hit.claim()
                if up is None:
                    self._simd = kern if kern is not None else False
                return kern or None
            return hit or None
        if self._batch < 2:
            self._simd = False
            return None
        d, order = self._kernel.decomposition, self._order
        W = min(_simdbatch.simd_width(), 1 << (self._batch - 1).bit_length())
        up = _tiering.submit(("simdbatch", d.key(), order, W),
                             lambda: _simdbatch.batch_kernel(d, order, W) or False,
                             f"the SIMD batch kernel of a system of {len(d.outputs)} equations")
        if up is None:          # background builds off: now
            try:
                self._simd = _simdbatch.batch_kernel(d, order, W) or False
            except Exception as exc:        # noqa: BLE001 - the lanes run one by one
                import warnings

                warnings.warn(f"taylorjit could not compile the SIMD batch kernel "
                              f"({type(exc).__name__}: {exc}); the lanes run one after the "
                              "other, with identical results", _tiering.TierWarning,
                              stacklevel=4)
                self._simd = False
            return self._simd or None
        self._simd = up
        return self._simd_kernel()

    def _run_simd(self, k, tl, max_dt, max_steps):
        """``propagate_until`` of every lane on the SIMD batch kernel ``k``, in groups
        of ``k.width`` lanes.  Returns the per-lane outcome codes."""
        SB = _simdbatch
        blocks = self.__dict__.get("_simdb")
        if blocks is None or blocks[0] is not k:
            b, W = self._batch, k.width
            if "_tlimb" not in self.__dict__:
                self._tlimb = np.zeros((b, 2))
            codes = np.zeros(b, dtype=np.int64)
            blks = []
            for l0 in range(0, b, W):
                blk = np.zeros(SB.BLOCK, dtype=np.int64)
                for i, a in ((SB.B_STATE, self._st), (SB.B_PARS, self._pa), (SB.B_TM, self._tm),
                             (SB.B_IW, self._iw), (SB.B_FW, self._fw), (SB.B_TC, self._tc),
                             (SB.B_TLIM, self._tlimb), (SB.B_CODES, codes)):
                    blk[i] = a.ctypes.data + l0 * a.strides[0]
                blk[SB.B_NL] = min(W, b - l0)
                blk[SB.B_PSTRIDE] = self._pa.shape[1]
                blks.append(blk)
            blocks = self._simdb = (k, blks, codes)
        _, blks, codes = blocks
        self._tlimb[:, 0] = tl
        self._tlimb[:, 1] = 0.0
        self._fw[:, S.F_MAXDT] = max_dt
        light = self._kernel.jet.light_addr
        for blk in blks:
            blk[SB.B_MAXSTEPS] = max_steps
            blk[SB.B_LIGHT] = light
            if k.fn(blk.ctypes.data) < 0:
                raise MemoryError("taylorjit could not allocate the work buffer of the SIMD "
                                  "batch kernel")
        return codes.tolist()

    def _run_plain(self, tl, max_dt, max_steps, grid=None, gout=None, cout=None):
        """``propagate_until`` (or, with ``grid`` of shape ``(batch, n_points)`` and
        ``gout`` of shape ``(batch, n_points, n)``, ``propagate_grid``) of every lane
        through the plain loop (see :meth:`_plain_blocks`), lane after lane; while a
        faster kernel is being built, in chunks of ``_TIER_ROUNDS`` steps with a switch
        between them.  Returns the per-lane outcome codes."""
        loop = plain_loop()
        codes = []
        for j in range(self._batch):
            blk, fblk = self._plain_blocks()[j]
            fblk[B_TEND] = tl[j]
            fblk[B_MAXDT] = max_dt if max_dt is _INF_DT else max_dt[j]
            blk[B_MAXSTEPS] = max_steps
            blk[B_BUDGET] = 0 if self._upgrade is None else _TIER_ROUNDS
            blk[B_INIT] = 1
            _out_words(blk, j, grid, gout, cout)
            code = loop(blk.ctypes.data)
            while code in (S.OC_CONTINUE, S.OC_BUFFER_FULL):
                if code == S.OC_BUFFER_FULL:    # this lane's continuous output grows
                    cout[j] = grow_c(*cout[j])
                if self._upgrade is not None:   # a chunk ended: take the faster kernel
                    self._tier_check()
                blocks = self._plain_blocks()
                if blocks is None:          # pragma: no cover - kernels only move up
                    raise RuntimeError("the batch integrator lost its fused step")
                blk = blocks[j][0]
                blk[B_INIT] = 0
                _out_words(blk, j, grid, gout, cout)
                if self._upgrade is None:
                    self._iw[j, S.I_BUDGET] = 0         # nothing more to wait for
                code = loop(blk.ctypes.data)
            if grid is not None:
                blk[B_WANTGRID] = blk[B_GRID] = blk[B_GOUT] = blk[B_NGRID] = 0
            if cout is not None:
                blk[B_WANTC] = blk[B_CTC] = blk[B_CT] = blk[B_CAP] = 0
            codes.append(code)
        return codes

    # ------------------------------------------------------------------ stop_all_lanes
    # heyoka's batch stops every lane when one fails: the lanes here run in lockstep (the
    # compiled batch loop: one step per lane per round) or one after the other (plain and
    # SIMD paths), so a failure is found after the other lanes went on.  The per-lane
    # arrays are kept at the start of each compiled call; when a lane failed and others
    # took steps after its failing round, the call is made again from there with every
    # lane's step limit at that round (the lanes are independent, so each redoes the same
    # steps bit for bit).  No Python callback runs within a compiled call (lanes that need
    # one end it), so nothing of the user's runs twice.
    def _snapshot(self, status=None):
        ev = self._events.arrays if self._events.n_events else None
        return (self._st.copy(), self._tm.copy(), self._fw.copy(), self._iw.copy(),
                None if status is None else status.copy(),
                None if ev is None else [ev[i].copy() for i in _EV_LANE])

    def _restore(self, snap):
        st, tm, fw, iw, _, ev = snap
        self._st[:] = st
        self._tm[:] = tm
        self._fw[:] = fw
        self._iw[:] = iw
        if ev is not None:
            for i, a in zip(_EV_LANE, ev):
                self._events.arrays[i][:] = a

    def _overshoot(self, snap, status):
        """The round (counted from the snapshot) in which a lane first failed, if another
        lane took a step after it; else 0."""
        start = snap[4]
        active = np.ones(self._batch, bool) if start is None else start == S.OC_CONTINUE
        failed = active & (np.asarray(status) == S.OC_ERR_NF)
        if not failed.any():
            return 0
        # the steps of this call (the plain / SIMD paths count from 0), and a failed one
        rounds = self._iw[:, S.I_NSTEPS] - (0 if start is None else snap[3][:, S.I_NSTEPS])
        rounds = rounds + failed
        r = int(rounds[failed].min())
        return r if np.any(rounds[active] > r) else 0

    def _rerun_cut(self, snap, r, tlim, grid, max_delta_t, max_steps, c_output):
        """The plain / SIMD propagation again from ``snap``, every lane stopped after
        ``r`` steps (its ``step_limit`` then reads ``success``, as heyoka's)."""
        self._restore(snap)
        user = check_max_steps(max_steps)
        cap = r if user == 0 else min(user, r)
        res = self._run(tlim, grid, max_delta_t=max_delta_t, max_steps=cap, callback=None,
                        progress=False, c_output=c_output)
        if user == 0 or r < user:
            res.outcome = [Outcome.success if o is Outcome.step_limit else o
                           for o in res.outcome]
        return res

    def _redo_cut(self, snap, r, k, t_lim, grid, gout, ctc, ct, status, max_steps):
        """The compiled batch call again from ``snap`` (see :meth:`_overshoot`), every
        lane that was running stopped after ``r`` rounds.  Returns the (grown)
        continuous-output buffers."""
        iw, b = self._iw, self._batch
        self._restore(snap)
        status[:] = snap[4]
        active = status == S.OC_CONTINUE
        user = max_steps
        cap = iw[:, S.I_NSTEPS] + r
        if user:
            cap = np.minimum(cap, user)
        iw[active, S.I_MAXSTEPS] = cap[active]
        while True:
            left = S.propagate_batch(k.jet, k.prog, k.cvals, self._tc, iw, self._fw,
                                     self._hrows, self._st, self._pa, self._tm, t_lim, grid,
                                     gout, ctc, ct, self._xnew, status, 0, self._events.arrays)
            if left != -1:
                break
            n2 = 2 * ctc.shape[1]
            ctc = np.concatenate([ctc, np.zeros_like(ctc)], axis=1)
            ct = np.concatenate([ct, np.zeros((b, n2 + 1 - ct.shape[1], 2))], axis=1)
        iw[:, S.I_MAXSTEPS] = user
        for j in np.flatnonzero(active):
            if status[j] == S.OC_STEP_LIMIT and (not user or cap[j] < user):
                status[j] = _STOPPED
            if grid.shape[1]:
                gout[j, iw[j, S.I_GIDX]:] = np.nan     # points the first call went past
        return ctc, ct

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

    def reset_cooldowns(self):
        """Forget the cooldowns of the terminal events in every lane."""
        self._events.reset_cooldowns()

    # ------------------------------------------------------------------ propagation
    def _run(self, tlim, grid, *, max_delta_t, max_steps, callback, progress, c_output=False):
        if id(self) in _PROPAGATING:
            raise reentrant_error("propagate_grid" if grid is not None else "propagate_until")
        b = self._batch
        if type(tlim) is float and math.isfinite(tlim) and max_delta_t is None:
            tl, max_dt = np.full(b, tlim), _INF_DT     # the common call, ~10 us sooner
        else:
            tl = self._lanes(tlim, "the final time")
            if not np.all(np.isfinite(tl)):
                raise ValueError("the final time must be finite")
            max_dt = self._max_dt(max_delta_t)
        max_steps = check_max_steps(max_steps)
        iw, fw, tm = self._iw, self._fw, self._tm
        if self._upgrade is not None:
            self._tier_check()
        n = self._st.shape[1]
        if callback is not None and hasattr(callback, "pre_hook"):
            callback.pre_hook(self)     # heyoka's step callbacks: before the propagation
        if callback is None and not progress and self._plain_ok():
            snap = self._snapshot() if self._stop_all else None
            cout = None
            if c_output:            # per lane: (coefficients of each step, step boundaries)
                cout = []
                for j in range(b):
                    ct = np.empty((65, 2))
                    ct[0] = tm[j]
                    cout.append((np.empty((64, n, self._order + 1)), ct))
            gout = None
            if grid is not None:
                gout = np.full((b, grid.shape[1], self._st.shape[1]), np.nan)
                gout[:, 0, :] = self._st
            if grid is not None and grid.shape[1] == 1:
                codes = [S.OC_TIME_LIMIT] * b       # a one-point grid: nothing to integrate
                iw[:, S.I_NSTEPS] = 0
                fw[:, S.F_MINH] = math.inf
                fw[:, S.F_MAXH] = 0.0
            else:
                key = id(self)
                _PROPAGATING.add(key)
                try:
                    simd = self._simd_kernel() if grid is None and not c_output else None
                    if simd is not None:
                        codes = self._run_simd(simd, tl, max_dt, max_steps)
                    else:
                        codes = self._run_plain(tl, max_dt, max_steps, grid, gout, cout)
                finally:
                    _PROPAGATING.discard(key)
            if snap is not None and S.OC_ERR_NF in codes:
                cap = self._overshoot(snap, np.array(codes))
                if cap:     # lanes went on past the failure: again, every lane cut there
                    return self._rerun_cut(snap, cap, tlim, grid, max_delta_t, max_steps,
                                           c_output)
            res = BatchResult([OUTCOMES[c] for c in codes], fw[:, S.F_MINH].copy(),
                              fw[:, S.F_MAXH].copy(), iw[:, S.I_NSTEPS].copy(),
                              None if grid is None else np.transpose(gout, (1, 2, 0)).copy())
            res.event_index = [None] * b
            if c_output:
                res.c_output = BatchContinuousOutput(
                    [(ctc[:iw[j, S.I_CIDX]], ct[:iw[j, S.I_CIDX] + 1])
                     for j, (ctc, ct) in enumerate(cout)], self._iw[0, S.I_HACC])
            return res
        t_lim = np.zeros((b, 2))
        t_lim[:, 0] = tl
        rem = np.array([_dd_add(tl[j], 0.0, -tm[j, 0], -tm[j, 1])[0] for j in range(b)])
        iw[:, S.I_FWD] = (rem >= 0.0).astype(np.int64)
        iw[:, S.I_NSTEPS] = 0
        iw[:, S.I_MAXSTEPS] = max_steps
        iw[:, S.I_CIDX] = 0
        iw[:, S.I_WANTC] = 1 if c_output else 0
        fw[:, S.F_MAXDT] = max_dt
        fw[:, S.F_MINH] = math.inf
        fw[:, S.F_MAXH] = 0.0
        if grid is not None:
            gout = np.full((b, grid.shape[1], n), np.nan)
            gout[:, 0, :] = self._st
            iw[:, S.I_GIDX] = 1
            iw[:, S.I_WANTGRID] = 1
        else:
            grid = np.zeros((b, 0))
            gout = np.zeros((b, 0, n))
            iw[:, S.I_GIDX] = 0
            iw[:, S.I_WANTGRID] = 0
        status = np.full(b, S.OC_CONTINUE, dtype=np.int64)
        if grid.shape[1] == 1:
            status[:] = S.OC_TIME_LIMIT
        if c_output:
            ctc = np.zeros((b, 64, n, self._order + 1))
            ct = np.zeros((b, 65, 2))
            ct[:, 0] = tm
        else:
            ctc = np.zeros((b, 0, n, self._order + 1))
            ct = np.zeros((b, 1, 2))
        bar = make_progress(progress, 0.0, float(np.max(np.abs(rem))) if b else 0.0)
        if self._upgrade is not None:
            self._tier_check()
        rounds = 1 if callback is not None else (_PROGRESS_ROUNDS if bar else 0)
        t0 = tm[:, 0].copy()
        k = self._kernel
        key = id(self)
        _PROPAGATING.add(key)
        snap = None             # stop_all_lanes: the lanes at the start of a compiled call
        try:
            while np.any(status == S.OC_CONTINUE):
                if self._stop_all and snap is None:
                    snap = self._snapshot(status)
                # while a faster kernel is being built: come back between chunks to take it
                left = S.propagate_batch(k.jet, k.prog, k.cvals, self._tc, iw, fw, self._hrows,
                                         self._st, self._pa, tm, t_lim, grid, gout, ctc, ct,
                                         self._xnew, status,
                                         rounds or (0 if self._upgrade is None else _TIER_ROUNDS),
                                         self._events.arrays)
                if left == -1:          # a lane's continuous output is full: grow them all
                    cap = 2 * ctc.shape[1]
                    ctc = np.concatenate([ctc, np.zeros_like(ctc)], axis=1)
                    ct = np.concatenate([ct, np.zeros((b, cap + 1 - ct.shape[1], 2))], axis=1)
                    continue
                if snap is not None:
                    cut = self._overshoot(snap, status)
                    if cut:     # lanes went on past a failure: the call again, cut there
                        ctc, ct = self._redo_cut(snap, cut, k, t_lim, grid, gout, ctc, ct,
                                                 status, max_steps)
                    snap = None
                if self._upgrade is not None and self._tier_check():
                    k = self._kernel
                if self._events.n_events:
                    for j in range(b):
                        if status[j] != S.OC_CONTINUE and status[j] != -1:
                            status[j] = self._handle_events(j, int(status[j]))
                if self._stop_all and np.any((status == S.OC_EVENT) | (status == S.OC_ERR_NF)):
                    status[status == S.OC_CONTINUE] = _STOPPED     # heyoka: the batch stops
                if bar is not None:
                    bar.n = float(np.min(np.abs(tm[:, 0] - t0)))
                    bar.refresh()
                if callback is not None:
                    r = callback(self)
                    if r is not None and not r:
                        status[status == S.OC_CONTINUE] = -1
                        break
        finally:
            _PROPAGATING.discard(key)
            if bar is not None:
                bar.close()
        outcomes = [Outcome.cb_stop if s == -1 else Outcome.event if s == S.OC_EVENT
                    else Outcome.success if s == _STOPPED else OUTCOMES[int(s)] for s in status]
        res = BatchResult(outcomes, fw[:, S.F_MINH].copy(), fw[:, S.F_MAXH].copy(),
                          iw[:, S.I_NSTEPS].copy(), None if grid.shape[1] == 0 else
                          np.transpose(gout, (1, 2, 0)).copy())
        res.event_index = [self._last_event[j] if s == S.OC_EVENT else None
                           for j, s in enumerate(status)]
        if c_output:
            res.c_output = BatchContinuousOutput(
                [(ctc[j, :iw[j, S.I_CIDX]], ct[j, :iw[j, S.I_CIDX] + 1]) for j in range(b)],
                iw[0, S.I_HACC])
        return res

    def propagate_until(self, t, *, max_delta_t=None, max_steps=None, callback=None,
                        progress=False, c_output=False):
        """Propagate every lane to ``t`` (a float, or one time per lane);
        ``max_delta_t`` too is one value or one per lane.

        Returns a :class:`BatchResult` with per-lane outcomes, step statistics and, with
        ``c_output=True``, a :class:`BatchContinuousOutput` in ``res.c_output``; heyoka's
        per-lane ``(outcome, min_h, max_h, n_steps)`` tuples are kept in
        :attr:`propagate_res`."""
        self._last_res = self._run(t, None, max_delta_t=max_delta_t, max_steps=max_steps,
                                   callback=callback, progress=progress, c_output=c_output)
        return self._last_res

    @property
    def propagate_res(self):
        """heyoka's per-lane results of the last ``propagate_*`` call: a list of
        ``(outcome, min_h, max_h, n_steps)``, or None before the first."""
        res = self.__dict__.get("_last_res")
        if res is None:
            return None
        return [(o, float(a), float(b), int(c)) for o, a, b, c in
                zip(res.outcome, res.min_h, res.max_h, res.n_steps)]

    def propagate_for(self, delta_t, **kwargs):
        """Propagate every lane for ``delta_t`` (a float or one per lane)."""
        if _PROPAGATING and id(self) in _PROPAGATING:
            raise reentrant_error("propagate_for")
        dt = self._lanes(delta_t, "delta_t")
        tl = [_dd_add(self._tm[b, 0], self._tm[b, 1], dt[b], 0.0)[0] for b in range(self._batch)]
        return self.propagate_until(np.array(tl), **kwargs)

    def propagate_grid(self, grid, *, max_delta_t=None, max_steps=None, callback=None,
                       progress=False):
        """Propagate over ``grid`` (shape ``(n_points,)`` for all lanes, or
        ``(n_points, batch)``); ``states`` of the result has shape ``(n_points, n, batch)``."""
        from .integrator import check_grid

        if _PROPAGATING and id(self) in _PROPAGATING:
            raise reentrant_error("propagate_grid")
        g = np.asarray(grid, dtype=float)
        if g.ndim == 1:
            g = np.repeat(g[:, None], self._batch, axis=1)
        if g.ndim != 2 or g.shape[1] != self._batch:
            raise ValueError(f"grid has shape {g.shape}: pass (n_points,) or (n_points, "
                             f"{self._batch})")
        for b in range(self._batch):
            check_grid(g[:, b], float(self._tm[b, 0]))
        gl = np.ascontiguousarray(g.T)
        self._last_res = self._run(gl[:, -1], gl, max_delta_t=max_delta_t,
                                   max_steps=max_steps, callback=callback, progress=progress)
        return self._last_res


class BatchResult:
    """Per-lane results of a batch propagation: ``outcome`` (list of Outcome),
    ``min_h``, ``max_h``, ``n_steps`` (arrays), ``states`` (grid runs only) and
    ``c_output`` (a :class:`BatchContinuousOutput` with ``c_output=True``).
    Unpacks as ``outcome, min_h, max_h, n_steps, states``."""

    def __init__(self, outcome, min_h, max_h, n_steps, states=None):
        self.outcome = outcome
        self.min_h = min_h
        self.max_h = max_h
        self.n_steps = n_steps
        self.states = states
        self.c_output = None

    def __iter__(self):
        return iter((self.outcome, self.min_h, self.max_h, self.n_steps, self.states))

    def __repr__(self):
        return (f"BatchResult(outcome={self.outcome!r}, n_steps={self.n_steps.tolist()}, "
                f"min_h={self.min_h.tolist()}, max_h={self.max_h.tolist()})")


class BatchContinuousOutput:
    """Continuous output of a batch propagation (``propagate_until(..., c_output=True)``):
    one :class:`~taylorjit.ContinuousOutput` per lane (:attr:`lanes`), each built from
    its lane's steps, as the scalar integrator's (None for a lane that took no step).

    Called with one time, or one time per lane, it returns the states at those times,
    shape ``(n, batch)`` (heyoka's ``continuous_output_batch``).

    Examples
    --------
    >>> import numpy as np, taylorjit as tj
    >>> x, v = tj.make_vars("x", "v")
    >>> tb = tj.TaylorAdaptiveBatch([(x, v), (v, -x)], [[0.0, 0.0], [1.0, 2.0]])
    >>> co = tb.propagate_until(10.0, c_output=True).c_output
    >>> bool(np.allclose(co(3.0)[0], [np.sin(3.0), 2 * np.sin(3.0)], rtol=0, atol=1e-14))
    True
    >>> co([1.0, 2.0]).shape
    (2, 2)
    """

    def __init__(self, per_lane, high_accuracy=False):
        from .coutput import ContinuousOutput

        # a lane that took no step (already at its final time) has no output: None
        self.lanes = [ContinuousOutput(tcs.copy(), times.copy(), high_accuracy)
                      if tcs.shape[0] else None for tcs, times in per_lane]

    @property
    def batch_size(self):
        return len(self.lanes)

    def __call__(self, t):
        b = len(self.lanes)
        tt = np.asarray(t, dtype=float)
        if tt.ndim == 0:
            tt = np.full(b, float(tt))
        if tt.shape != (b,):
            raise ValueError(f"t has shape {tt.shape}: pass one time for all lanes or one per "
                             f"lane (shape ({b},))")
        for j, co in enumerate(self.lanes):
            if co is None:
                raise ValueError(f"lane {j} took no step in this propagation: it has no "
                                 "continuous output (its state is the integrator's)")
        return np.stack([co(tt[j]) for j, co in enumerate(self.lanes)], axis=1)

    def __repr__(self):
        return f"<BatchContinuousOutput: {len(self.lanes)} lanes>"


def _out_words(blk, j, grid, gout, cout):
    """The output words of lane ``j``'s plain-loop block: its grid and dense output
    (``grid``/``gout``) and its continuous-output buffers (``cout[j]``), if asked."""
    if grid is not None:
        blk[B_WANTGRID], blk[B_NGRID] = 1, grid.shape[1]
        blk[B_GRID], blk[B_GOUT] = grid[j].ctypes.data, gout[j].ctypes.data
    if cout is not None:
        ctc, ct = cout[j]
        blk[B_WANTC], blk[B_CTC], blk[B_CT] = 1, ctc.ctypes.data, ct.ctypes.data
        blk[B_CAP] = ctc.shape[0]
