"""Compiled loops of the adaptive Taylor integrator (scalar and batch): the entry points.

Everything the loops run is numba code compiled ONCE per installation (explicit
signatures, ``cache=True``): the jet of a system is a first-class function
argument (:func:`taylorjit._codegen.kernel.JET_TYPE`), so a new system never triggers
a compilation of these loops.  The code is in three layers, one module each:

* :mod:`taylorjit._integrate.stepphases` -- one step in three phases (Taylor
  coefficients, Jorba & Zou's step size, Horner update and commit), and the event
  detection between the last two (:func:`taylorjit._integrate.events.detect_events`);
* :mod:`taylorjit._integrate.steploop` -- the propagation loop around the step
  (limits, grid and continuous output), and its register-resident variant for
  fused steps;
* this module -- the entry points compiled with explicit signatures:
  ``step_entry``, ``propagate``, ``step_batch``, ``propagate_batch``,
  ``eval_poly_entry`` and ``c_eval``.  They are built (or loaded from numba's
  cache) on first use, not at import: :func:`entry` returns the compiled
  dispatcher, :func:`entry_direct` its single-signature entry point without
  numba's dispatch, and the module-level functions of the same names call them.

An unrolled kernel without VM calls also has a *fused step*
(:func:`taylorjit._codegen.step_ir.emit_step`): the three phases in one generated
function, bit for bit.  ``do_step`` calls it when ``iw[I_LIGHT] == JET_FUSED`` (set
by the driver for integrators without events, extra rows or compensated
summation), and ``propagate_fused`` is the propagation loop of that case
with its bookkeeping in registers.

Time is a double-length pair ``tm = [hi, lo]`` updated with heyoka's
``dfloat`` addition (:mod:`taylorjit._dd.arith`), so long and back-and-forth
propagations keep full accuracy.

Integer and float bookkeeping travels in two small work arrays (``iw``,
``fw``) indexed by the ``I_*`` / ``F_*`` constants of
:mod:`taylorjit._integrate.stepcodes` (re-exported here with the outcome codes);
the Python driver (:mod:`taylorjit._integrate.integrator`) owns them.
"""
from __future__ import annotations

import threading

from numba import njit, types

from .._dd.arith import sub as dd_sub
from .events import EV_TYPE, EVB_TYPE, lane_bundle
from .stepcodes import (BATCH_GROW, CB_STOP, F_H, F_INVO, F_INVOM1, F_LASTH, F_MAXDT,  # re-exported
    F_MAXH, F_MINH, F_RHOFAC, F_TSHI, F_TSLO, I_BUDGET, I_CIDX, I_FULL, I_FWD, I_GIDX, I_HACC,
    I_LADDR, I_LIGHT, I_MAXSTEPS, I_N, I_NEV, I_NSTEPS, I_ORDER, I_RADDR, I_WANTC, I_WANTGRID,
    JET_FC, JET_FUSED, JET_LIGHT, NFW, NIW, OC_BUFFER_FULL, OC_CONTINUE, OC_ERR_NF, OC_EVENT,
    OC_EVENT_PY, OC_STEP_LIMIT, OC_SUCCESS, OC_TIME_LIMIT, REG_AFTER)
from .stepphases import (_OPTS, _jet_from_addr, commit_step, compute_jet,  # re-exported
    do_step, eval_poly, finish_step, rho_factor, step_size)
from .steploop import init_run, propagate_fused, step_limit, until_step  # re-exported
from .._codegen.kernel import JET_TYPE
from .._numba_compat import entry_point as _entry_point

__all__ = ["OC_SUCCESS", "OC_TIME_LIMIT", "OC_STEP_LIMIT", "OC_ERR_NF", "OC_CONTINUE",
           "OC_BUFFER_FULL", "NIW", "NFW", "entry", "entry_direct", "step_entry", "propagate",
           "step_batch", "propagate_batch", "eval_poly_entry", "c_eval", "rho_factor"]


def _sigs():
    """The signature of each entry point, by name."""
    f8 = types.float64
    i8 = types.int64
    a1, a2, a3 = f8[::1], f8[:, ::1], f8[:, :, ::1]
    i1, i2 = i8[::1], i8[:, ::1]
    jet = JET_TYPE()
    ev = EV_TYPE()
    step = i8(i8, i2, a1, a2, i1, a1, i1, a1, a1, a1, f8, a1, ev)
    prop = i8(i8, i2, a1, a2, i1, a1, i1, a1, a1, a1, a1, a1, a2, a3, a2, a1, ev, i8, f8, f8, i8, i8, i8, i8)
    f4 = f8[:, :, :, ::1]
    evb = EVB_TYPE()
    stepb = types.void(jet, i2, a1, a3, i2, a2, i1, a2, a2, a2, a1, a1, i1, evb)
    propb = i8(jet, i2, a1, a3, i2, a2, i1, a2, a2, a2, a2, a2, a3, f4, a3, a1, i1, i8, evb)
    evalp = types.void(a2, i8, i8, f8, a1, i8)
    ceval = types.void(a3, a2, a1, a2, i8)
    return {"step_entry": step, "propagate": prop, "step_batch": stepb,
            "propagate_batch": propb, "eval_poly_entry": evalp, "c_eval": ceval}


# --------------------------------------------------------------------------- entry point bodies
def _step_entry(jaddr, prog, cvals, tc, iw, fw, hrows, state, pars, tm, max_h, xnew, ev):
    """One step (``TaylorAdaptive.step``) with the jet at address ``jaddr``
    (``Kernel.jet._addr``); the step size lands in ``fw[F_H]``."""
    jet = _jet_from_addr(jaddr)
    return do_step(jet, prog, cvals, tc, iw, fw, hrows, state, pars, tm, max_h, xnew, ev)


def _propagate(jaddr, prog, cvals, tc, iw, fw, hrows, state, pars, tm, tlim, grid, gout, ctc, ct,
               xnew, ev, init, t_end, max_dt, max_steps, budget, want_grid, want_c):
    """Propagate towards ``tlim`` (double-length); at most ``iw[I_BUDGET]`` steps if > 0.
    The jet is at address ``jaddr`` (``Kernel.jet._addr``).

    ``init = 1`` starts a propagation to ``t_end``: the bookkeeping of ``iw``/``fw``
    is reset here from the scalar arguments (from Python, each item assignment
    of a numpy array costs ~0.1 us): ``want_grid`` (dense output on ``grid``, whose
    first point is the start, already in ``gout[0]``) and ``want_c`` (continuous
    output in ``ctc``/``ct``).  ``init = 0`` resumes (after a callback or a grown
    buffer) and ignores the scalars."""
    jet = _jet_from_addr(jaddr)
    if init == 1:
        init_run(iw, fw, tm, tlim, t_end, max_dt, max_steps, budget, want_grid, want_c)
    if iw[I_LIGHT] == JET_FUSED and iw[I_WANTGRID] == 0 and iw[I_WANTC] == 0 and iw[I_NEV] == 0:
        return propagate_fused(jet, tc, iw, fw, state, pars, tm, tlim, xnew)
    taken = 0
    while True:
        oc = until_step(jet, prog, cvals, tc, iw, fw, hrows, state, pars, tm, tlim, grid, gout,
                        ctc, ct, xnew, ev)
        if oc != OC_CONTINUE:
            return oc
        taken += 1
        if iw[I_BUDGET] > 0 and taken >= iw[I_BUDGET]:
            return OC_CONTINUE


def _step_batch(jet, prog, cvals, tc, iw, fw, hrows, state, pars, tm, max_h, xnew, oc, evb):
    """One step of every lane (lane ``b`` uses row ``b`` of the per-lane arrays)."""
    for b in range(tc.shape[0]):
        oc[b] = do_step(jet, prog, cvals, tc[b], iw[b], fw[b], hrows, state[b], pars[b], tm[b],
                        max_h[b], xnew, lane_bundle(evb, b))


def _propagate_batch(jet, prog, cvals, tc, iw, fw, hrows, state, pars, tm, tlim, grid, gout, ctc,
                    ct, xnew, status, rounds, evb):
    """Propagate every lane towards its ``tlim[b]``, one step per lane per round.

    ``status[b]`` is OC_CONTINUE while lane ``b`` is running, then its outcome.
    Returns the number of lanes still running (after at most ``rounds`` rounds
    if ``rounds > 0``), or BATCH_GROW (-1) if a continuous-output buffer must be grown
    first.
    A round after which a lane waits for Python (``status`` OC_EVENT: a terminal
    event; OC_EVENT_PY: non-terminal callbacks logged) ends the call; the driver
    runs the callbacks and sets the lane back to OC_CONTINUE to resume it.
    """
    nb = tc.shape[0]
    done = 0
    while True:
        active = 0
        for b in range(nb):
            if status[b] == OC_CONTINUE:
                active += 1
                if iw[b, I_WANTC] == 1 and iw[b, I_CIDX] >= ctc.shape[1]:
                    return BATCH_GROW
        if active == 0:
            return 0
        for b in range(nb):
            if status[b] == OC_CONTINUE:
                status[b] = until_step(jet, prog, cvals, tc[b], iw[b], fw[b], hrows, state[b],
                                       pars[b], tm[b], tlim[b], grid[b], gout[b], ctc[b], ct[b],
                                       xnew, lane_bundle(evb, b))
        done += 1
        # lanes waiting for Python (event callbacks) end the call after the round
        wait = 0
        for b in range(nb):
            if status[b] == OC_EVENT or status[b] == OC_EVENT_PY:
                wait += 1
        if wait > 0:
            active = 0
            for b in range(nb):
                if status[b] == OC_CONTINUE:
                    active += 1
            return active
        if rounds > 0 and done >= rounds:
            active = 0
            for b in range(nb):
                if status[b] == OC_CONTINUE:
                    active += 1
            return active


# --------------------------------------------------------------------------- dense / continuous output
def _eval_poly_entry(tc, n, order, h, out, hacc):
    """Dense output of the last step at offset ``h`` from its start."""
    eval_poly(tc, n, order, h, out, hacc)


def _c_eval(tcs, times, ts, out, hacc):
    """Continuous output: ``out[j] = `` state at ``ts[j]``, from the step covering it.

    ``times`` (``(n_steps + 1, 2)``) are the double-length step boundaries, monotonic
    in the direction of integration; points outside use the first/last step."""
    ns = tcs.shape[0]
    n = tcs.shape[1]
    order = tcs.shape[2] - 1
    fwd = times[ns, 0] >= times[0, 0]
    for j in range(ts.shape[0]):
        t = ts[j]
        lo = 0
        hi = ns - 1
        # largest step index s with times[s] <= t (forward) / >= t (backward)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if (fwd and times[mid, 0] <= t) or ((not fwd) and times[mid, 0] >= t):
                lo = mid
            else:
                hi = mid - 1
        dhi, dlo = dd_sub(t, 0.0, times[lo, 0], times[lo, 1])
        eval_poly(tcs[lo], n, order, dhi, out[j], hacc)


# --------------------------------------------------------------------------- building the entries
# the Python functions compiled as the entry points, by name
_BODIES = {"step_entry": _step_entry, "propagate": _propagate, "step_batch": _step_batch,
           "propagate_batch": _propagate_batch, "eval_poly_entry": _eval_poly_entry,
           "c_eval": _c_eval}
_BUILT: dict = {}           # name -> (dispatcher, direct entry point)
_ENTRY_LOCK = threading.Lock()


def _build(name):
    """Compile the entry point ``name`` (or load it from numba's cache) once per process."""
    if name not in _BODIES:
        raise ValueError(f"no compiled entry point {name!r}; the entry points are "
                         f"{', '.join(_BODIES)}")
    with _ENTRY_LOCK:
        got = _BUILT.get(name)
        if got is None:
            fn = njit(_sigs()[name], **_OPTS)(_BODIES[name])
            got = _BUILT[name] = (fn, _entry_point(fn))
    return got


def entry(name):
    """The compiled entry point ``name`` (a numba dispatcher with one signature), built
    or loaded from numba's cache on first use, not at import: loading six functions
    with explicit signatures made ``import taylorjit`` ~0.3-1 s slower."""
    got = _BUILT.get(name)
    return (got if got is not None else _build(name))[0]


def entry_direct(name):
    """The compiled entry point ``name`` of the single signature without numba's dispatch
    (type inference of every argument and overload lookup: ~5 of the ~24 us that a
    short ``propagate_until`` costs).  Only for callers whose arguments have exactly
    the signature's types (the drivers' own arrays); anything else must go through
    :func:`entry`."""
    got = _BUILT.get(name)
    return (got if got is not None else _build(name))[1]


def step_entry(*args):
    """``_step_entry`` compiled (:func:`entry`): one step of a scalar integrator."""
    return entry("step_entry")(*args)


def propagate(*args):
    """``_propagate`` compiled (:func:`entry`): a scalar propagation towards ``tlim``."""
    return entry("propagate")(*args)


def step_batch(*args):
    """``_step_batch`` compiled (:func:`entry`): one step of every lane."""
    return entry("step_batch")(*args)


def propagate_batch(*args):
    """``_propagate_batch`` compiled (:func:`entry`): a batch propagation."""
    return entry("propagate_batch")(*args)


def eval_poly_entry(*args):
    """``_eval_poly_entry`` compiled (:func:`entry`): dense output of the last step."""
    return entry("eval_poly_entry")(*args)


def c_eval(*args):
    """``_c_eval`` compiled (:func:`entry`): continuous output at given times."""
    return entry("c_eval")(*args)
