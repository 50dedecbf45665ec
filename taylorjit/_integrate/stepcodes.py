"""Outcome codes and work-array layout of the compiled integrator loops.

The compiled loops (:mod:`taylorjit._integrate.stepper` and the LLVM loops of
:mod:`taylorjit._integrate.plainloop` / :mod:`taylorjit._integrate.pycbloop`) return
integer codes, which the Python drivers map to :class:`taylorjit.Outcome`; their
integer and float bookkeeping travels in two small work arrays (``iw``, ``fw``)
indexed by the ``I_*`` / ``F_*`` constants below.  This module is the one place
that names them: every loop and driver imports them from here (the stepper
re-exports them as ``stepper.OC_*`` etc.).
"""
from __future__ import annotations

__all__ = ["OC_SUCCESS", "OC_TIME_LIMIT", "OC_STEP_LIMIT", "OC_ERR_NF", "OC_CONTINUE",
           "OC_BUFFER_FULL", "OC_EVENT", "OC_EVENT_PY", "CB_STOP", "PY_ERROR", "BATCH_GROW",
           "JET_FC", "JET_LIGHT", "JET_FUSED", "NIW", "NFW", "REG_AFTER"]

# outcome codes of the compiled loops (mapped to taylorjit.Outcome by the driver)
OC_SUCCESS = 0
OC_TIME_LIMIT = 1
OC_STEP_LIMIT = 2
OC_ERR_NF = 3
OC_CONTINUE = 10      # the step budget of this call is used up (callbacks, progress bar)
OC_BUFFER_FULL = 11   # the continuous-output buffer is full: grow it and call again
OC_EVENT = 20         # a terminal event ended the step (index in the event bundle)
OC_EVENT_PY = 21      # non-terminal events with Python callbacks are waiting in the log
# codes of the drivers' callback loops (Python, and the compiled one of pycbloop)
CB_STOP = -1          # the step callback returned a false value (Outcome.cb_stop)
PY_ERROR = -99        # the callback raised (ctypes raises the exception on return)
# propagate_batch's return value when a lane's continuous-output buffer must grow first
# (otherwise it returns the number of lanes still running, >= 0)
BATCH_GROW = -1

# iw[I_LIGHT]: what the jet address of the compiled loops points to
JET_FC = 0            # a first-class jet function (taylorjit._codegen.kernel.JET_TYPE)
JET_LIGHT = 1         # the light entry of an unrolled kernel (_kernel.call_light)
JET_FUSED = 2         # an unrolled kernel's fused step (_kernel.call_step: the three phases)

# iw: integer work array
I_ORDER, I_N, I_FULL, I_HACC, I_NSTEPS, I_MAXSTEPS, I_BUDGET, I_GIDX, I_CIDX, I_WANTC, \
    I_WANTGRID, I_FWD, I_NEV, I_LIGHT, I_RADDR, I_LADDR = range(16)
NIW = 16
# propagate_fused switches to the register step after this many steps of a call (each
# call that used it ends with one more jet, to leave the last step's coefficients in tc)
REG_AFTER = 8
# fw: float work array
F_RHOFAC, F_MAXDT, F_MINH, F_MAXH, F_H, F_LASTH, F_TSHI, F_TSLO, F_INVO, F_INVOM1 = range(10)
NFW = 10
