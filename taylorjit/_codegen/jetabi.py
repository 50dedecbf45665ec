"""The jet's calling convention and the numba handles and intrinsics built on it.

Every kernel kind is a *jet function* of one numba signature (:func:`JET_SIG`,
its first-class function type :func:`JET_TYPE`)::

    jet(tc, order, pars, t, full, prog, cvals)

so the compiled drivers (integrator loops, derivative drivers) take any jet as
a first-class function argument and are compiled once per installation.  This
module holds what makes a compiled jet such an argument and what calls one:
the handle class (:func:`jetref_class`: numba's wrapper-address protocol with
the address computed once), the intrinsics that call a jet from its address
(:func:`jet_from_addr`), the light entry and the fused step of an unrolled
kernel (:func:`call_light`, :func:`call_step`), a group kernel
(:func:`call_group`), and a compiled trampoline for calling a handle from
Python (:func:`call_jet`).

It is the bottom of the kernel layer: the VM (:mod:`.vm`), the unrolled jets
(:mod:`.unroll`), the group kernels (:mod:`.gvm`) and the kernel selection
(:mod:`.kernel`, which re-exports these names) import it; it imports none of
them.  Nothing here imports numba before first use.
"""
from __future__ import annotations

import threading

from .. import _numba_compat as _nc
from .._symbolic.registry import no_refcount_opts

__all__ = ["JET_SIG", "JET_TYPE", "jet_from_addr", "call_light", "call_step", "call_group",
           "call_jet"]

# one lock for the numba builds of the kernel layer (shared by .vm and .kernel)
KERNEL_LOCK = threading.RLock()


def _sig():
    from numba import types

    sig = types.void(types.float64[:, ::1], types.int64, types.float64[::1], types.float64,
                     types.int64, types.int64[:, ::1], types.float64[::1])
    return sig, types.FunctionType(sig)


class _Lazy:
    def __init__(self):
        self.v = None

    def get(self):
        if self.v is None:
            self.v = _sig()
        return self.v


_SIG = _Lazy()


def JET_SIG():  # noqa: N802 - a constant computed lazily (numba import)
    return _SIG.get()[0]


def JET_TYPE():  # noqa: N802
    return _SIG.get()[1]


_JET_FROM_ADDR = []


def jet_from_addr():
    """The numba intrinsic ``jet_from_addr(addr)``: the first-class jet function at
    address ``addr`` (``JetRef._addr``, the C-ABI wrapper of a compiled jet).

    Entry points called from Python at a high rate take the jet as this integer:
    unboxing a ``FunctionType`` argument calls back into Python twice (the
    wrapper and the jit address, each with an unpickled signature), ~3-4 us per
    call.  The caller keeps the kernel alive while the address is in use."""
    if _JET_FROM_ADDR:
        return _JET_FROM_ADDR[0]
    from numba import types
    from numba.extending import intrinsic

    jt = JET_TYPE()

    @intrinsic
    def _jet_from_addr(typingctx, addr):
        if not isinstance(addr, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            return _nc.fc_from_c_address(context, builder, jt, args[0])

        return jt(addr), codegen

    _JET_FROM_ADDR.append(_jet_from_addr)
    return _jet_from_addr


_CALL_LIGHT = []


def call_light():
    """The numba intrinsic ``call_light(jet, tc, pars, t)``: call the *light*
    entry of an unrolled kernel (``void f(double *tc, double *pars, double t)``,
    see ``taylorjit._codegen.unroll_ir.build_ir``) whose address is the jet's ``c_addr``.

    A first-class jet takes numba's by-value array structs: ~35 words pushed on
    the stack per call, read back by the callee.  The light entry takes the two
    data pointers in registers and skips the order/shape checks: callers use it
    only for a table of the kernel's own shape, order and ``full``."""
    if _CALL_LIGHT:
        return _CALL_LIGHT[0]
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    jt = JET_TYPE()

    @intrinsic
    def _call_light(typingctx, jet, tc, pars, t):
        if not (isinstance(tc, types.Array) and isinstance(pars, types.Array)):
            return None

        def codegen(context, builder, signature, args):
            c_addr = _nc.fc_c_address(context, builder, jt, args[0])
            d = ir.DoubleType()
            fnty = ir.FunctionType(ir.VoidType(), [d.as_pointer(), d.as_pointer(), d])
            fn = builder.bitcast(c_addr, fnty.as_pointer())
            tcd = _nc.array_data(context, builder, signature.args[1], args[1])
            pd = _nc.array_data(context, builder, signature.args[2], args[2])
            builder.call(fn, [builder.bitcast(tcd, d.as_pointer()),
                              builder.bitcast(pd, d.as_pointer()), args[3]])
            return context.get_dummy_value()

        return types.none(jt, tc, pars, types.float64), codegen

    _CALL_LIGHT.append(_call_light)
    return _call_light


_CALL_STEP = []


def call_step():
    """The numba intrinsic ``call_step(jet, tc, pars, t, state, xnew, max_h, rhofac,
    inv_o, inv_om1) -> h``: call the *fused step* of an unrolled ODE kernel
    (``taylorjit._codegen.step_ir.emit_step``: jet, step size and Horner in one function)
    whose address is the jet's ``c_addr``.  Callers use it only for a table of the
    kernel's own shape and order, no events and no compensated summation."""
    if _CALL_STEP:
        return _CALL_STEP[0]
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    jt = JET_TYPE()

    @intrinsic
    def _call_step(typingctx, jet, tc, pars, t, state, xnew, max_h, rhofac, inv_o, inv_om1):
        if not all(isinstance(a, types.Array) for a in (tc, pars, state, xnew)):
            return None

        def codegen(context, builder, signature, args):
            c_addr = _nc.fc_c_address(context, builder, jt, args[0])
            d = ir.DoubleType()
            dp = d.as_pointer()
            fnty = ir.FunctionType(d, [dp, dp, d, dp, dp, d, d, d, d])
            fn = builder.bitcast(c_addr, fnty.as_pointer())

            def data(k):
                return builder.bitcast(_nc.array_data(context, builder, signature.args[k], args[k]),
                                       dp)

            return builder.call(fn, [data(1), data(2), args[3], data(4), data(5)] + list(args[6:]))

        f8 = types.float64
        return f8(jt, tc, pars, f8, state, xnew, f8, f8, f8, f8), codegen

    _CALL_STEP.append(_call_step)
    return _call_step


_CALL_GROUP = []


def call_group():
    """The numba intrinsic ``call_group(addr, tc, off, ncol, prog, r0, n, cvals, pars, t)``:
    call the group kernel at ``addr`` (``taylorjit._codegen.gvm``: ``void g(double *tc,
    int64 ncol, int64 *rows, int64 n, double *cv, double *pars, double t)``) on
    the table at ``tc``'s data + ``off`` doubles, for the ``n`` program rows from
    ``r0`` (and their constants ``cvals[r0:]``)."""
    if _CALL_GROUP:
        return _CALL_GROUP[0]
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def _call_group(typingctx, addr, tc, off, ncol, prog, r0, n, cvals, pars, t):
        if not all(isinstance(a, types.Array) for a in (tc, prog, cvals, pars)):
            return None

        def codegen(context, builder, signature, args):
            d, i64 = ir.DoubleType(), ir.IntType(64)
            fnty = ir.FunctionType(ir.VoidType(), [d.as_pointer(), i64, i64.as_pointer(), i64,
                                                   d.as_pointer(), d.as_pointer(), d])
            fn = builder.inttoptr(args[0], fnty.as_pointer())
            data = [_nc.array_data(context, builder, signature.args[i], args[i])
                    for i in (1, 4, 7, 8)]
            tcd = builder.gep(builder.bitcast(data[0], d.as_pointer()), [args[2]])
            pstride = _nc.array_stride(context, builder, signature.args[4], args[4], 0)
            rows = builder.gep(builder.bitcast(data[1], ir.IntType(8).as_pointer()),
                               [builder.mul(args[5], pstride)])
            cv = builder.gep(builder.bitcast(data[2], d.as_pointer()), [args[5]])
            pd = builder.bitcast(data[3], d.as_pointer())
            builder.call(fn, [tcd, args[3], builder.bitcast(rows, i64.as_pointer()), args[6], cv,
                              pd, args[9]])
            return context.get_dummy_value()

        i = types.int64
        return types.none(i, tc, i, i, prog, i, i, cvals, pars, types.float64), codegen

    _CALL_GROUP.append(_call_group)
    return _call_group


_JETREF_CLS = []


def jetref_class():
    """A first-class-function handle for a compiled jet.

    numba unboxes a plain dispatcher passed as a ``FunctionType`` argument
    slowly (it rebuilds the function type and looks up the address on every
    call: ~100-200 us).  This handle implements numba's wrapper-address protocol
    with the address computed once and a registered ``typeof`` returning the
    cached type, so a driver call costs a few microseconds.  It is also callable
    from Python like the dispatcher itself.
    """
    if _JETREF_CLS:
        return _JETREF_CLS[0]
    class JetRef(_nc.wrapper_address_protocol()):
        __slots__ = ("dispatcher", "_addr")

        def __init__(self, dispatcher):
            self.dispatcher = dispatcher
            self._addr = _nc.wrapper_address(dispatcher, JET_SIG())

        def __wrapper_address__(self):
            return self._addr

        def signature(self):
            return JET_SIG()

        def __call__(self, *args):
            return self.dispatcher(*args)

    _nc.register_typeof(JetRef, JET_TYPE())
    _JETREF_CLS.append(JetRef)
    return JetRef


_CALL = []


def _call(jet, tc, order, pars, t, full, prog, cvals):
    jet(tc, order, pars, t, full, prog, cvals)


def call_jet():
    """A compiled trampoline ``call(jet, tc, order, pars, t, full, prog, cvals)``
    for calling a jet handle without a Python dispatcher (unrolled kernels)."""
    with KERNEL_LOCK:
        if not _CALL:
            from numba import njit, types

            sig = types.void(JET_TYPE(), *JET_SIG().args)
            _CALL.append(njit(sig, cache=True, nogil=True, error_model="numpy",
                              **no_refcount_opts())(_call))
    return _CALL[0]
