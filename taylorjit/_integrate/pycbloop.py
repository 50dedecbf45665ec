"""Step callbacks called from compiled code: the plain loop with a Python callback.

``propagate_until(..., callback=cb)`` on an integrator that runs the LLVM plain
loop (:mod:`taylorjit._integrate.plainloop`) calls ``cb(ta)`` after every step.  Returning to
Python for each step costs a compiled call and a Python loop iteration (~0.3 us, more
than a small system's step); this module is one LLVM function that calls the plain
loop one step at a time and the callback in between, through CPython's C API, as
heyoka calls its Python callbacks from C++::

    int64 tj_cb_loop(int64 *blk, int64 *cbk)
    cbk = [plain loop, callback, (ta,) tuple, PyObject_Call, PyObject_IsTrue, Py_DecRef,
           Py_None]                                                        (addresses)

It is called through a ``ctypes.PYFUNCTYPE`` prototype: the GIL stays held, and an
exception raised by the callback (``PyObject_Call`` returns NULL) ends the loop and is
raised by ctypes on return.  The loop: one plain-loop call with a budget of one step;
a full continuous-output buffer or a non-finite state returns at once (no callback,
as the Python loop); else the callback, whose result stops the propagation (code
``CB_STOP``) when it is neither None nor true; any outcome but "continue" returns; else the next
step resumes (``init = 0``), reading the state, time and parameters the callback may
have changed.  The steps are those of the plain loop: bit-identical to the general
loop's (tested)."""
from __future__ import annotations

import ctypes
import threading

import numpy as np

from . import stepcodes as S
from .plainloop import B_INIT
from .stepcodes import CB_STOP, PY_ERROR  # (named in stepcodes with the other codes)

__all__ = ["cb_loop", "cb_block", "CB_STOP", "PY_ERROR"]

_LAYOUT = 1
K_PLAIN, K_CB, K_ARGS, K_CALL, K_ISTRUE, K_DECREF, K_NONE = range(7)
_lock = threading.Lock()
_FN: list = []


def _make_ir(name: str) -> str:
    from llvmlite import ir

    i64, i32 = ir.IntType(64), ir.IntType(32)
    ptr = ir.PointerType()
    mod = ir.Module(name=name)
    fn = ir.Function(mod, ir.FunctionType(i64, [ptr, ptr]), name=name)
    blk, cbk = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))

    def ci(x):
        return ir.Constant(i64, x)

    def word(base, i):
        return b.load(b.gep(base, [ci(i)], inbounds=True, source_etype=i64), typ=i64)

    plain_ty = ir.FunctionType(i64, [ptr])
    call_ty = ir.FunctionType(ptr, [ptr, ptr, ptr])
    istrue_ty = ir.FunctionType(i32, [ptr])
    decref_ty = ir.FunctionType(ir.VoidType(), [ptr])
    plain = b.inttoptr(word(cbk, K_PLAIN), plain_ty.as_pointer())
    cb = b.inttoptr(word(cbk, K_CB), ptr)
    args = b.inttoptr(word(cbk, K_ARGS), ptr)
    pycall = b.inttoptr(word(cbk, K_CALL), call_ty.as_pointer())
    istrue = b.inttoptr(word(cbk, K_ISTRUE), istrue_ty.as_pointer())
    decref = b.inttoptr(word(cbk, K_DECREF), decref_ty.as_pointer())
    none = word(cbk, K_NONE)
    loop = fn.append_basic_block("loop")
    b.branch(loop)

    b.position_at_end(loop)
    code = b.call(plain, [blk])
    ret_bb, cont_bb = fn.append_basic_block("ret_code"), fn.append_basic_block("check")
    b.cbranch(b.or_(b.icmp_signed("==", code, ci(S.OC_BUFFER_FULL)),
                    b.icmp_signed("==", code, ci(S.OC_ERR_NF))), ret_bb, cont_bb)
    b.position_at_end(ret_bb)
    b.ret(code)

    b.position_at_end(cont_bb)
    r = b.call(pycall, [cb, args, ir.Constant(ptr, None)])
    rint = b.ptrtoint(r, i64)
    err_bb, got_bb = fn.append_basic_block("py_error"), fn.append_basic_block("got")
    b.cbranch(b.icmp_signed("==", rint, ci(0)), err_bb, got_bb)
    b.position_at_end(err_bb)
    b.ret(ci(PY_ERROR))

    b.position_at_end(got_bb)
    none_bb, test_bb = fn.append_basic_block("none"), fn.append_basic_block("truth")
    after = fn.append_basic_block("after")
    b.cbranch(b.icmp_signed("==", rint, none), none_bb, test_bb)
    b.position_at_end(none_bb)
    b.call(decref, [r])
    b.branch(after)
    b.position_at_end(test_bb)
    t = b.call(istrue, [r])
    b.call(decref, [r])
    neg_bb, chk0 = fn.append_basic_block("truth_error"), fn.append_basic_block("truth_ok")
    b.cbranch(b.icmp_signed("<", t, ir.Constant(i32, 0)), neg_bb, chk0)
    b.position_at_end(neg_bb)
    b.ret(ci(PY_ERROR))
    b.position_at_end(chk0)
    stop_bb = fn.append_basic_block("stop")
    b.cbranch(b.icmp_signed("==", t, ir.Constant(i32, 0)), stop_bb, after)
    b.position_at_end(stop_bb)
    b.ret(ci(CB_STOP))

    b.position_at_end(after)
    more, done = fn.append_basic_block("more"), fn.append_basic_block("done")
    b.cbranch(b.icmp_signed("==", code, ci(S.OC_CONTINUE)), more, done)
    b.position_at_end(done)
    b.ret(code)
    b.position_at_end(more)
    b.store(ci(0), b.gep(blk, [ci(B_INIT)], inbounds=True, source_etype=i64))
    b.branch(loop)
    return str(mod)


def cb_loop():
    """The compiled loop, a ``ctypes.PYFUNCTYPE`` function of two addresses (the GIL is
    held during the call), built once per installation (then loaded from the disk
    cache)."""
    if _FN:
        return _FN[0]
    with _lock:
        if not _FN:
            from .._codegen.unroll import load_module

            name = f"tj_cb_loop{_LAYOUT}"
            addr, ee = load_module(name, lambda: _make_ir(name), passes=True)
            fn = ctypes.PYFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p)(addr)
            _FN.extend([fn, ee])
    return _FN[0]


def _api(name):
    return ctypes.cast(getattr(ctypes.pythonapi, name), ctypes.c_void_p).value


_API: list = []


def cb_block(plain_addr, callback, args):
    """The ``cbk`` block for :func:`cb_loop` (``callback`` and the ``args`` tuple must
    stay alive during the call)."""
    if not _API:
        _API.extend([_api("PyObject_Call"), _api("PyObject_IsTrue"), _api("Py_DecRef")])
    k = np.zeros(7, dtype=np.int64)
    k[K_PLAIN] = plain_addr
    k[K_CB] = id(callback)
    k[K_ARGS] = id(args)
    k[K_CALL], k[K_ISTRUE], k[K_DECREF] = _API
    k[K_NONE] = id(None)
    return k
