"""The compiled propagation loop of integrators with events, entered with two arguments.

An integrator with events leaves the compiled loop of :mod:`taylorjit._integrate.stepper`
after every step in which an event needs Python: a non-terminal event with a
callback (``cb(ta, t, d_sgn)`` runs after its step, with the integrator at the end
of that step, as in heyoka), a terminal event (its callback decides whether to go
on), a full event log.  Each return costs a new call of the loop, and the loop's
entry point takes twenty-four arguments, twenty of them arrays: numba unboxes
each array from its Python object (~50 ns apiece), ~1.2 us per call, four
times the Python callback it serves (Hénon–Heiles Poincaré section: 310
callbacks in a 2 ms propagation).

:func:`propagate_block` is the same loop -- it calls the compiled
:func:`taylorjit._integrate.stepper.propagate` through the address of its C wrapper, so
nothing is duplicated and no code of ``_stepper`` is frozen into this module's
numba cache entry -- entered with two small arrays: an int64 block holding the
addresses and shapes of the integrator's arrays and the integer arguments, and a
float64 block with the final time and the step limit.  The arrays are rebuilt
from the addresses in compiled code (``numba.carray``) and passed on as numba's
array structs (~50 ns).  The block (:class:`EvBlock`) is built once per kernel
binding (the integrator's ``_head``); the per-run arrays (grid, continuous
output) are written into it when a run uses them.

The integrator keeps every array alive and never resizes one in place: a new
array (a kernel switch, a grown continuous-output buffer) means a new binding or
new addresses in the block.  Same results as :func:`taylorjit._integrate.stepper.propagate`
(it is that function), bit for bit.
"""
from __future__ import annotations

import threading

import numpy as np
from numba import carray, njit, types
from numba.extending import intrinsic

from .events import EV_TYPE


__all__ = ["EvBlock", "propagate_block", "entry"]

# int64 block: jet address, then (address, shape...) of each array in the order of
# taylorjit._integrate.stepper.propagate's arguments, then its integer arguments
(JADDR, PROG, PROG_R, PROG_C, CVALS, CVALS_N, TC, TC_R, TC_C, IW, IW_N, FW, FW_N, HROWS,
 HROWS_N, STATE, STATE_N, PARS, PARS_N, TM, TLIM, GRID, GRID_N, GOUT, GOUT_R, GOUT_C, CTC,
 CTC_A, CTC_B, CTC_C, CT, CT_R, XNEW, XNEW_N, EVI, EVI_R, EVI_C, EVF, EVF_R, EVF_C, WS, WS_R,
 WS_C, IV, IV_R, IV_C, OUT, OUT_R, OUT_C, CAND, CAND_R, CAND_C, LOG, LOG_R, LOG_C, EIW, EIW_N,
 EFW, EFW_N, INIT, MAXSTEPS, BUDGET, WANTGRID, WANTC, PADDR, SIGKEY) = range(66)
NBLK = 66
#: what the entry returns when its compiled code is for another signature, and to a probe
OC_STALE, OC_PROBE = -77, -78
#: ``blk[INIT]`` of a probe (checks that the cached code matches the signature); a run
#: has 1 (start) or 0 (resume)
INIT_PROBE = -1
# float64 block
F_TEND, F_MAXDT = range(2)


@intrinsic
def _fptr(typingctx, addr):
    """The integer ``addr`` as a ``double *`` (for :func:`numba.carray`)."""
    if not isinstance(addr, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return types.CPointer(types.float64)(addr), codegen


@intrinsic
def _iptr(typingctx, addr):
    """The integer ``addr`` as an ``int64_t *``."""
    if not isinstance(addr, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return types.CPointer(types.int64)(addr), codegen


_ENTRY: list = []
_LOCK = threading.Lock()


def prop_signature():
    """The signature of :func:`taylorjit._integrate.stepper.propagate`, spelled out here: the
    entry below calls that function through its address with these argument
    types, so :func:`entry` checks it against the compiled function's at run time
    (numba's cache of this module does not see changes of ``_stepper``)."""
    f8, i8 = types.float64, types.int64
    a1, a2, a3 = f8[::1], f8[:, ::1], f8[:, :, ::1]
    i1, i2 = i8[::1], i8[:, ::1]
    return i8(i8, i2, a1, a2, i1, a1, i1, a1, a1, a1, a1, a1, a2, a3, a2, a1, EV_TYPE(), i8, f8,
              f8, i8, i8, i8, i8)


_PROP_FROM_ADDR: list = []


def _prop_from_addr():
    """The intrinsic ``prop_from_addr(addr)``: the first-class function of signature
    :func:`prop_signature` at ``addr`` (the C-ABI wrapper of ``_stepper.propagate``)."""
    if _PROP_FROM_ADDR:
        return _PROP_FROM_ADDR[0]
    from .._numba_compat import fc_from_c_address

    ft = types.FunctionType(prop_signature())

    @intrinsic
    def prop_from_addr(typingctx, addr):
        if not isinstance(addr, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            return fc_from_c_address(context, builder, ft, args[0])

        return ft(addr), codegen

    _PROP_FROM_ADDR.append(prop_from_addr)
    return prop_from_addr


prop_from_addr = None      # the intrinsic, made by _make_entry (not at import: ~3 ms)


def _sig_key():
    """A checksum of :func:`prop_signature` (frozen into the compiled entry as a
    constant, and written into every block: numba's cache of this module is keyed on
    this file only, so code compiled for another event-bundle type is detected)."""
    import zlib

    return zlib.crc32(str(prop_signature()).encode())


_SIG_KEY = _sig_key()


def _propagate_block(b, fb):
    if b[SIGKEY] != _SIG_KEY:
        return OC_STALE
    if b[INIT] == INIT_PROBE:
        return OC_PROBE     # (a probe: the signature matches)
    # (carray's arrays own no memory: numba's reference counting skips them)
    ev = (carray(_iptr(b[EVI]), (b[EVI_R], b[EVI_C])),
          carray(_fptr(b[EVF]), (b[EVF_R], b[EVF_C])),
          carray(_fptr(b[WS]), (b[WS_R], b[WS_C])),
          carray(_fptr(b[IV]), (b[IV_R], b[IV_C])),
          carray(_fptr(b[OUT]), (b[OUT_R], b[OUT_C])),
          carray(_fptr(b[CAND]), (b[CAND_R], b[CAND_C])),
          carray(_fptr(b[LOG]), (b[LOG_R], b[LOG_C])),
          carray(_iptr(b[EIW]), (b[EIW_N],)),
          carray(_fptr(b[EFW]), (b[EFW_N],)))
    prop = prop_from_addr(b[PADDR])
    return prop(
        b[JADDR], carray(_iptr(b[PROG]), (b[PROG_R], b[PROG_C])),
        carray(_fptr(b[CVALS]), (b[CVALS_N],)), carray(_fptr(b[TC]), (b[TC_R], b[TC_C])),
        carray(_iptr(b[IW]), (b[IW_N],)), carray(_fptr(b[FW]), (b[FW_N],)),
        carray(_iptr(b[HROWS]), (b[HROWS_N],)), carray(_fptr(b[STATE]), (b[STATE_N],)),
        carray(_fptr(b[PARS]), (b[PARS_N],)), carray(_fptr(b[TM]), (2,)),
        carray(_fptr(b[TLIM]), (2,)), carray(_fptr(b[GRID]), (b[GRID_N],)),
        carray(_fptr(b[GOUT]), (b[GOUT_R], b[GOUT_C])),
        carray(_fptr(b[CTC]), (b[CTC_A], b[CTC_B], b[CTC_C])),
        carray(_fptr(b[CT]), (b[CT_R], 2)), carray(_fptr(b[XNEW]), (b[XNEW_N],)), ev,
        b[INIT], fb[F_TEND], fb[F_MAXDT], b[MAXSTEPS], b[BUDGET], b[WANTGRID], b[WANTC])


def _make_entry():
    """``(entry point, address of _stepper.propagate's C wrapper)``."""
    global prop_from_addr
    from . import stepper as _stepper

    prop_from_addr = _prop_from_addr()
    from .._numba_compat import entry_point, wrapper_address

    prop = _stepper.entry("propagate")      # compiled (or loaded from numba's cache) first
    sig = prop.signatures[0]
    want = prop_signature()
    if tuple(sig) != tuple(want.args):
        raise RuntimeError("internal: taylorjit._integrate.stepper.propagate's signature changed; "
                           "update taylorjit._integrate.evloop.prop_signature to match")
    paddr = wrapper_address(prop, want)
    # the loop is called through its address, not linked in: this entry's cache entry
    # (keyed on this file only) holds no code of _stepper.  A module-level function (a
    # closure would miss numba's cache), compiled with numba's runtime, since carray
    # returns an array, which numba compiles only with it (its arrays have no meminfo:
    # nothing is counted)
    sig = types.int64(types.int64[::1], types.float64[::1])
    fn = entry_point(njit(sig, cache=True, nogil=True, error_model="numpy")(_propagate_block))
    probe = np.zeros(NBLK, dtype=np.int64)
    probe[SIGKEY] = _SIG_KEY
    probe[INIT] = INIT_PROBE
    if fn(probe, np.zeros(2)) != OC_PROBE:
        # numba's cache held code compiled for an older signature: compile afresh
        fn = entry_point(njit(sig, cache=False, nogil=True, error_model="numpy")(
            _propagate_block))
        if fn(probe, np.zeros(2)) != OC_PROBE:      # pragma: no cover
            raise RuntimeError("internal: the event loop's entry fails its probe")
    return fn, paddr


def entry():
    """The compiled ``propagate_block(blk, fblk) -> code`` (numba's entry point, no
    dispatch): built, or loaded from numba's cache, on first use."""
    if not _ENTRY:
        with _LOCK:
            if not _ENTRY:
                _ENTRY.extend(_make_entry())
    return _ENTRY[0]


def prop_address():
    """The address of ``_stepper.propagate``'s C wrapper (the ``PADDR`` word)."""
    if not _ENTRY:
        entry()
    return _ENTRY[1]


def propagate_block(blk, fblk):
    """``taylorjit._integrate.stepper.propagate`` with the arguments in ``blk`` / ``fblk``
    (see :class:`EvBlock`); returns its outcome code."""
    return (_ENTRY[0] if _ENTRY else entry())(blk, fblk)


def _addr(a):
    return a.ctypes.data


class EvBlock:
    """The argument blocks of :func:`propagate_block` for one binding of an
    integrator (its ``_head``: jet, tables, work arrays, state) and its event
    bundle.  ``grid``/``gout`` and ``ctc``/``ct`` are set per run by
    :meth:`set_grid` / :meth:`set_c` (empty arrays otherwise)."""

    __slots__ = ("head", "blk", "fblk", "keep", "empty")

    def __init__(self, head, xnew, ev_arrays, empties):
        jaddr, prog, cvals, tc, iw, fw, hrows, state, pars, tm, tlim = head
        b = np.zeros(NBLK, dtype=np.int64)
        b[JADDR] = jaddr
        b[PADDR] = prop_address()
        b[SIGKEY] = _SIG_KEY
        for slot, a in ((PROG, prog), (TC, tc), (EVI, ev_arrays[0]), (EVF, ev_arrays[1]),
                        (WS, ev_arrays[2]), (IV, ev_arrays[3]), (OUT, ev_arrays[4]),
                        (CAND, ev_arrays[5]), (LOG, ev_arrays[6])):
            _check(a, 2)
            b[slot], b[slot + 1], b[slot + 2] = _addr(a), a.shape[0], a.shape[1]
        for slot, a in ((CVALS, cvals), (IW, iw), (FW, fw), (HROWS, hrows), (STATE, state),
                        (PARS, pars), (XNEW, xnew), (EIW, ev_arrays[7]), (EFW, ev_arrays[8])):
            _check(a, 1)
            b[slot], b[slot + 1] = _addr(a), a.shape[0]
        for slot, a in ((TM, tm), (TLIM, tlim)):
            _check(a, 1)
            if a.shape[0] != 2:
                raise ValueError("time arrays must have two entries")
            b[slot] = _addr(a)
        self.head = head
        self.blk = b
        self.fblk = np.zeros(2)
        self.keep = (head, xnew, ev_arrays)
        self.empty = empties
        self.set_grid(empties[0], empties[1], 0)
        self.set_c(empties[2], empties[1], 0)

    def set_grid(self, grid, gout, want):
        b = self.blk
        b[WANTGRID] = want
        if len(self.keep) > 3 and grid is self.keep[3] and gout is self.keep[4]:
            return
        _check(grid, 1)
        _check(gout, 2)
        b[GRID], b[GRID_N] = _addr(grid), grid.shape[0]
        b[GOUT], b[GOUT_R], b[GOUT_C] = _addr(gout), gout.shape[0], gout.shape[1]
        self.keep = self.keep[:3] + (grid, gout)

    def set_run(self, grid, gout, want_grid, ctc, ct, want_c, t_end, max_dt, max_steps, budget):
        """The arguments of a run (``init = 1``), or of the first call with this block."""
        self.set_grid(grid, gout, want_grid)
        self.set_c(ctc, ct, want_c)
        b = self.blk
        b[MAXSTEPS] = max_steps
        b[BUDGET] = budget
        fb = self.fblk
        fb[F_TEND] = t_end
        fb[F_MAXDT] = max_dt

    def set_c(self, ctc, ct, want):
        b = self.blk
        b[WANTC] = want
        if len(self.keep) > 5 and ctc is self.keep[5] and ct is self.keep[6]:
            return
        _check(ctc, 3)
        _check(ct, 2)
        if ct.shape[1] != 2 and ct.shape[0] != 0:
            raise ValueError("continuous-output times must have two columns")
        b[CTC], b[CTC_A], b[CTC_B], b[CTC_C] = _addr(ctc), *ctc.shape
        b[CT], b[CT_R] = _addr(ct), ct.shape[0]
        self.keep = self.keep[:5] + (ctc, ct)


def _check(a, ndim):
    """The block stores raw addresses: only C-contiguous arrays of the right rank
    and dtype (what the compiled loop's signature asks for) may go in."""
    if a.ndim != ndim or not a.flags.c_contiguous or a.dtype.itemsize != 8 or \
            a.dtype.kind not in "fi":
        raise TypeError(f"internal: array of shape {a.shape}, dtype {a.dtype} cannot go "
                        "into the event loop's argument block")
