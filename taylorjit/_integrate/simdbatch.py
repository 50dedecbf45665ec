"""Batch propagation on SIMD lanes: W lanes of a batch integrator in ``<W x double>`` vectors.

A batch integrator without events, extra rows or compensated summation (and no
operation that runs in the VM at order 0) gets, in the background, an LLVM module of
its own with two functions:

``<name>_bstep(vstate, vpars, t, max_h, vxnew, rhofac, inv_o, inv_om1) -> h``
    The fused step of :func:`taylorjit._codegen.unroll._emit_step` on W lanes at once: the
    traced jet with every value a ``<W x double>`` (C library calls -- ``sin``,
    ``pow`` ... at order 0 -- made lane by lane), the step-size rule and the Horner
    update per lane.  Every lane performs exactly the IEEE operations of the scalar
    step, in the same order (vector operations are lane-wise, no fast-math), so
    each lane equals the scalar integration of its initial condition bit for bit.
``<name>_bprop(blk) -> 0``
    ``propagate_until`` of a group of up to W lanes to their ``tlim`` (a time per lane;
    ``fw[F_MAXDT]`` the step length limit of each lane): the bookkeeping of the scalar
    plain loop (:mod:`taylorjit._integrate.plainloop`) per lane, the state and the step's
    coefficients kept in vectors; lanes that are done stop committing.  On exit every
    lane's table is recomputed from the start of its last step with the scalar
    kernel's light entry, as the scalar plain loop does after its register step.

This is heyoka's batch mode (the lanes of a SIMD vector integrate independent
initial conditions with their own step sizes); the lane order of taylorjit's
storage (lane-major ``(batch, n)``) is gathered into vectors on entry and scattered
back on exit.

This module holds the host's SIMD width and the build, disk cache and loading of the
kernels (:func:`batch_kernel`); the IR of the vector step is written by
:mod:`taylorjit._integrate.simdjet`, that of the loop by :mod:`taylorjit._integrate.simdloop`.
"""
from __future__ import annotations

import ctypes
import functools
import threading

from . import simdjet as _simdjet
from .simdjet import _ir
from .simdloop import BLOCK, _loop_ir  # BLOCK re-exported

__all__ = ["simd_width", "batch_kernel", "MAX_NODES", "BLOCK"]

_LAYOUT = 6
# traced nodes of the jet up to which a SIMD batch kernel is built
MAX_NODES = 200000
_lock = threading.Lock()
_LOADED: dict = {}


@functools.lru_cache(maxsize=None)
def simd_width() -> int:
    """Doubles per SIMD register of this machine (8 with AVX-512, 4 with AVX, else 2):
    the batch size that fills the vectors of the SIMD batch kernels (heyoka's
    ``recommended_simd_size``).

    Examples
    --------
    >>> import taylorjit as tj
    >>> tj.recommended_simd_size() in (2, 4, 8)
    True
    """
    import llvmlite.binding as llb

    from .._codegen.unroll import target_machine

    target_machine()           # LLVM's native target initialised
    feats = llb.get_host_cpu_features()
    if feats.get("avx512f"):
        return 8
    if feats.get("avx"):
        return 4
    return 2


class BatchKernel:
    """The SIMD batch propagation of one system at one order (see the module doc):
    ``run(blocks)`` propagates the groups of lanes their blocks describe."""

    def __init__(self, fn, ee, W):
        self.fn = fn
        self.keep = ee
        self.width = W


def batch_kernel(d, order: int, W: int):
    """The :class:`BatchKernel` of the ODE decomposition ``d`` at ``order`` for
    ``W``-lane vectors (loaded from the disk cache, else traced and compiled), or
    None when the system does not qualify (VM groups at order 0, more than
    :data:`MAX_NODES` traced nodes)."""
    from .._codegen.unroll import _hash16, target_machine, load_module, trace_program

    from .._codegen.unroll import CHUNK

    key = (f"{d.key()}_o{order}_w{W}_{target_machine()[1]}_{_LAYOUT}_{_simdjet.SMALL_NODES}"
           f"_{CHUNK}")
    name = f"tj_simdbatch_{_hash16(key)}"
    hit = _LOADED.get(name)
    if hit is not None:
        return hit or None
    with _lock:
        hit = _LOADED.get(name)
        if hit is not None:
            return hit or None
    from .._codegen import cache as _cache

    def traced():
        p = trace_program(d, True, order, 0, vector_sums=False, trace_pow=True)
        if len(p.nodes) > MAX_NODES or any(nd[0] in ("vm", "vsum") for nd in p.nodes):
            return None
        return _ir(p, name, d.n_in, d.n_slots, d.n_pars, order, W) + (len(p.nodes),)

    # traced now unless the object code is cached (an entry that turns out damaged is
    # rebuilt: then make_ir traces)
    cached = (_cache.cache_dir() / f"{name}.o").exists()
    text = [None if cached else traced()]
    if text[0] is None and not cached:
        _LOADED[name] = False
        return None

    def make_ir():
        if text[0] is None:
            text[0] = traced()
            if text[0] is None:     # pragma: no cover - it qualified when it was cached
                raise RuntimeError("the system no longer qualifies for a SIMD batch kernel")
        loop = _loop_ir(name, d.n_in, d.n_slots, d.n_pars, order, W, text[0][1])
        # one module: the loop's text without its declaration of the step, and the step
        lines = [ln for ln in loop.splitlines()
                 if not (ln.startswith("declare") and f"{name}_bstep" in ln)]
        return "\n".join(lines) + "\n" + text[0][0]

    from .._codegen.unroll import IR_PASSES_MAX_NODES

    addr, ee = load_module(name, make_ir, symbol=name + "_bprop",
                           passes=lambda: text[0][2] <= IR_PASSES_MAX_NODES)
    k = BatchKernel(ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)(addr), ee, W)
    with _lock:
        _LOADED[name] = k
    return k
