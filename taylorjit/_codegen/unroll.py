"""Unrolled kernels: straight-line machine code for a decomposition at one order.

The specialised kernel (``taylorjit._codegen.vm.spec_source``) loops over the orders and over
the terms of every Cauchy product, and its coefficients travel through memory
(``tc``).  heyoka's default mode instead emits every coefficient of every order
as straight-line code.  taylorjit does the same, without a second
implementation of the recurrences, in three modules:

1. **Trace** (:mod:`taylorjit._codegen.trace`).  The registry's own Python
   kernels (``Op.py``) run on symbolic rows at concrete orders ``k``; every
   arithmetic operation they perform becomes a node of a straight-line SSA
   program.  So each coefficient is the same sequence of IEEE operations as in
   the looped kernels and the kinds agree to the last bit (tested).  Elementary
   functions of symbols become calls of the same C library functions that numba
   calls (``trace.LIBM_UNARY``), and so does a real power ``a ** c`` at order 0
   (``pow``, in the unrolled jets).  Whatever a kernel does that depends on a
   value (the domain checks at order 0 of log, asin, acosh ...; the Kepler
   solver) cannot be traced: at order 0 those operations run in the compact VM
   on a small program table embedded in the code; an operation that refuses at
   an order above 0 makes the system unsupported (none of the registry does).
2. **Emit** (:mod:`taylorjit._codegen.unroll_ir`) LLVM IR for the program with
   the common jet signature (numba's C ABI of a ``JET_SIG`` function, so the
   compiled drivers call it as a first-class function like any other jet).
   Called with another order, another ``full`` or a table of another shape, it
   runs the compact VM on the caller's program instead (same results), so it is
   always safe to call.  The straight-line chunks are written as IR text (tens
   of thousands of instructions in a big system), the rest with llvmlite's
   builder.
3. **Compile** (this module) with llvmlite (numba's LLVM) for the host CPU, no
   fast-math flags: LLVM's O2 pipeline for programs up to
   :data:`IR_PASSES_MAX_NODES` nodes, then code generation at O3, in a tenth of
   a second for a small system (numba needs seconds for the same size of Python
   source), and cache the object code on disk.

Unlike the other kinds, an unrolled kernel leaves in ``tc`` only what its
callers read: every order of the state rows (ODE) and of the output rows, and
order 0 of every slot.  The other coefficients live in registers, and those
that feed no output (cos at the last order of a pendulum) are never computed.

The code size grows like ``ops * order**2``: ``trace.unrolled_size`` estimates
it so that callers keep huge systems on the VM.  In big programs the four
partial sums of every blocked convolution sum are emitted as ``<4 x double>``
code (``trace._vsum_twin``; same values): their time tracked code size
(instruction fetch), and it cut the outer solar system's code by 28%.  Kernels
without VM groups also export a *light* entry ``<name>_light(tc data, pars
data, t)`` for the integrator's compiled loop
(``taylorjit._codegen.jetabi.call_light``) and, for ODEs, a *fused step*
``<name>_step`` (jet, step size and Horner update in one function,
:mod:`taylorjit._codegen.step_ir`; ``taylorjit._codegen.jetabi.call_step``).

This module holds the LLVM side shared by every LLVM kernel of the package:
the host's target machine and the key of its generated code
(:func:`target_machine`), :func:`load_module` (object code from the disk
cache, else compiled; quick builds without optimisation), and the unrolled
jets themselves: their cache names (:func:`is_cached`), :func:`unrolled_jet`
and its jet handle.  It imports the tracer and the IR emission (and
re-exports the names that other modules use from here: ``trace_program``,
``unrolled_size``, ``build_ir``, ``CHUNK`` ...); the kernel selection
(:mod:`taylorjit._codegen.kernel`) and the group kernels import it, never the
reverse.
"""
from __future__ import annotations

import ctypes
import threading

from . import cache as _cache
from .. import _numba_compat as _nc
from .decompose import Decomposition
from .jetabi import jetref_class, call_jet
from .trace import (MAX_UNROLLED, UnsupportedUnroll,  # noqa: F401 - re-exported
                    trace_program, unrolled_size)
from .chunk_text import _hex  # noqa: F401 - re-exported (tests, _integrate.simdbatch)
from .unroll_ir import (CHUNK, INLINE_MAX_NODES, _chunks,  # noqa: F401 - re-exported
                        build_ir)
from .vm import vm_jet

__all__ = ["UnsupportedUnroll", "unrolled_size", "trace_program", "unrolled_jet"]

# --------------------------------------------------------------------------- compile and load
_lock = threading.RLock()
_ENGINE = []
_LOADED: dict = {}
CODEGEN_OPT = 3     # LLVM code generation level (modules that LLVM's IR passes optimise)
# code generation level of big modules (no IR passes): outer solar system (unrolled_size
# 101k), same machine: level 1 emits in 2.2 s instead of 3.6 s, and its code ran faster
# (0.74x instead of 0.88-0.93x heyoka per step); Lorenz and the pendulum (IR passes) at
# level 1 were 0-2% slower, so they keep level 3
CODEGEN_OPT_BIG = 1
IR_PASSES_MAX_NODES = 30000   # LLVM's O2 IR pipeline on programs up to this size
# blocked sums as <4 x double> code (trace._vsum_twin) for programs of at least this size: on the
# outer solar system (unrolled_size 94k) it cut the object code from 789 to 567 KB and the
# step from 1.43x to 1.09x heyoka's; on Lorenz and the pendulum (2.8k, 0.9k) it was neutral
VECTOR_SUMS_MIN_SIZE = 5000
_LAYOUT = 14        # bump when the generated code changes (part of the cache key)


def target_machine(fresh=False, opt=None):
    """``(target machine, cache key of the target)``; ``fresh``: a new machine
    (an execution engine takes ownership of its machine) at code generation level
    ``opt`` (default :data:`CODEGEN_OPT`)."""
    import llvmlite.binding as llb

    if not _ENGINE or fresh:
        _nc.init_native_target()
        cpu, feats = llb.get_host_cpu_name(), llb.get_host_cpu_features().flatten()
        tm = llb.Target.from_default_triple().create_target_machine(
            cpu=cpu, features=feats, opt=CODEGEN_OPT if opt is None else opt, jit=True)
        if fresh:
            return tm, None
        key = _hash16(f"{cpu}|{feats}|{llb.llvm_version_info}|{CODEGEN_OPT}|{CODEGEN_OPT_BIG}|{CHUNK}|"
                          f"{IR_PASSES_MAX_NODES}|{VECTOR_SUMS_MIN_SIZE}|{INLINE_MAX_NODES}|{_LAYOUT}")
        _ENGINE.extend([tm, key])
    return _ENGINE[0], _ENGINE[1]


def _hash16(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _vector_sums(d: Decomposition, order: int) -> bool:
    return unrolled_size(d, order) >= VECTOR_SUMS_MIN_SIZE


def _name(d: Decomposition, ode: bool, order: int, full: int) -> str:
    key = target_machine()[1]
    v = "v" if _vector_sums(d, order) else "s"
    return (f"tj_unrolled_{d.key()}_{'ode' if ode else 'expr'}_o{order}_f{int(bool(full))}{v}_"
            f"{key}")


def is_cached(d: Decomposition, ode: bool, order: int, full: int) -> bool:
    """Whether the unrolled kernel is loaded or its object code is in the disk cache."""
    name = _name(d, ode, order, full)
    return name in _LOADED or (_cache.cache_dir() / f"{name}.o").exists()


def load_module(name: str, make_ir, passes=True, symbol: str | None = None,
                quick: bool = False):
    """``(address of symbol, execution engine)`` of the LLVM module ``name``: its
    object code from the disk cache, else ``make_ir()`` (IR text) compiled for the
    host (LLVM's O2 pipeline if ``passes``, a bool or a function asked after
    ``make_ir()``; no fast-math flags; codegen at :data:`CODEGEN_OPT`, or
    :data:`CODEGEN_OPT_BIG` without the IR passes) and
    cached.  ``quick``: no IR passes, codegen at level 0 and nothing written to
    the disk cache (a stand-in while the optimised build runs, see
    :func:`unrolled_jet`).  One MCJIT engine per module: its own symbol table (a module loaded
    again after a cache reset does not clash) and its own memory.  ``symbol``
    defaults to ``name``.  Used by every LLVM kernel (unrolled jets and the
    front ends' kernels in taylorjit._codegen.vcfunc, _vjet, _cjet)."""
    import llvmlite.binding as llb

    obj = None if quick else _cache.read_blob(f"{name}.o")
    if obj is None:
        # traced and compiled without taylorjit's or numba's locks, in an LLVM context of
        # its own (contexts are independent; numba compiles in the global one), so a
        # background build does not hold up the foreground
        target_machine()
        text = make_ir()
        run_passes = not quick and (passes() if callable(passes) else passes)
        opt = 0 if quick else CODEGEN_OPT if run_passes else CODEGEN_OPT_BIG
        tm = target_machine(fresh=True, opt=opt)[0]
        ctx = llb.create_context()
        mod = llb.parse_assembly(text, context=ctx)
        del text
        mod.triple = tm.triple
        mod.data_layout = str(tm.target_data)
        mod.verify()
        if run_passes:
            pb = llb.create_pass_builder(tm, llb.create_pipeline_tuning_options(speed_level=2))
            pb.getModulePassManager().run(mod, pb)
        obj = tm.emit_object(mod)
        del mod, ctx
        if not quick:
            _cache.write_blob(f"{name}.o", obj)
    # numba's lock: the engine is made in LLVM's global context, shared with numba
    with _lock, _nc.compiler_lock():
        ee = llb.create_mcjit_compiler(llb.parse_assembly(""), target_machine(fresh=True)[0])
        ee.add_object_file(llb.ObjectFileRef.from_data(obj))
        ee.finalize_object()
        addr = ee.get_function_address(symbol or name)
        if not addr:    # pragma: no cover - a broken object file
            raise RuntimeError(f"the compiled module {name} did not load")
        return addr, ee


def unrolled_jet(d: Decomposition, ode: bool, order: int, full: int, quick: bool = False):
    """The unrolled jet of ``d`` at ``order`` as a first-class jet handle (see
    ``taylorjit._codegen.jetabi.jetref_class``): loaded from the disk cache, else traced,
    compiled by LLVM and cached.  Raises :class:`UnsupportedUnroll` if some
    operation cannot be traced above order 0.

    ``quick=True`` (when the optimised kernel is neither loaded nor cached): the
    same IR compiled without optimisation (:func:`load_module`), not cached on
    disk; the handle's ``quick`` is True.  It computes the same bits (IEEE
    operations in the same order; LLVM changes no rounding without fast-math
    flags, tested).  Pendulum, never-seen, warm process: 25 ms instead of 0.2 s
    to build, 1.25x the optimised kernel's time per step."""
    name = _name(d, ode, order, full)
    hit = _LOADED.get(name)
    if hit is not None:
        return hit
    if quick:
        if (_cache.cache_dir() / f"{name}.o").exists():
            quick = False
        else:
            name += "_q"
            hit = _LOADED.get(name)
            if hit is not None:
                return hit
    with _building(name):       # one build of a kernel at a time; others wait for it
        hit = _LOADED.get(name)
        if hit is not None:
            return hit
        nodes = []

        def make_ir():
            # the optimised build after a quick one reuses its IR (no Python tracing in
            # the background thread: it holds the GIL only between LLVM calls)
            done = None if quick else _QUICK_IR.pop(name, None)
            if done is not None:
                nodes.append(done[1])
                return done[0].replace(name + "_q", name)
            p = trace_program(d, ode, order, full, vector_sums=_vector_sums(d, order),
                              trace_pow=True)
            nodes.append(len(p.nodes))
            keep = set(d.outputs) | (set(range(d.n_in)) if ode else set())
            # chunk: this module's CHUNK, which the target key above names
            text = build_ir(p, name, d.n_slots, order, full, keep,
                            n_state=d.n_in if ode else 0, chunk=CHUNK)
            if quick:
                _QUICK_IR[name[:-2]] = (text, len(p.nodes))
            return text

        # LLVM's O2 pipeline up to IR_PASSES_MAX_NODES nodes (no fast-math flags in the
        # IR: results unchanged, tested): Lorenz jet 0.33 -> 0.27 us, pendulum 0.31 ->
        # 0.27 us, compile 0.10 -> 0.16 s
        addr, ee = load_module(name, make_ir, passes=lambda: nodes[0] <= IR_PASSES_MAX_NODES,
                               quick=quick)
        g = ee.get_global_value_address(name + "_vm")
        if not g:   # pragma: no cover - a broken object file
            raise RuntimeError(f"the unrolled kernel {name} did not load")
        # the VM runs the kernel's VM groups and calls at another order or table shape:
        # bound when first needed (UnrolledRef.vm_bound), so that a kernel without VM
        # groups loads without numba (loading the VM costs a fresh process ~0.3-1.4 s,
        # compiling it on a first use after installation tens of seconds)
        handle = _unrolled_ref_class()(addr, [None, ee])
        handle.vm_global = g
        handle.quick = quick
        handle.light_addr = ee.get_function_address(name + "_light")   # 0: none (VM groups)
        handle.step_addr = ee.get_function_address(name + "_step")     # 0: none (step_ir.emit_step)
        handle.stepr_addr = ee.get_function_address(name + "_stepr")   # 0: none (big program)
        if not handle.light_addr:
            handle.vm_bound()
        with _lock:
            _LOADED[name] = handle
        return handle


_BUILDING: dict = {}
_QUICK_IR: dict = {}    # name -> (IR text of its quick build, traced nodes), until built


class _building:
    """A per-name lock (held while one kernel is built, not while others are)."""

    def __init__(self, name):
        with _lock:
            self.lock = _BUILDING.setdefault(name, threading.Lock())

    def __enter__(self):
        self.lock.acquire()

    def __exit__(self, *exc):
        self.lock.release()


_REF = []


def _unrolled_ref_class():
    """Jet handle of an unrolled kernel: numba drivers take it as a first-class
    function (wrapper-address protocol, like ``JetRef``); called from Python it
    goes through a small compiled trampoline."""
    if _REF:
        return _REF[0]
    base = jetref_class()

    class UnrolledRef(base):
        __slots__ = ("keep", "light_addr", "step_addr", "stepr_addr", "vm_global", "quick")

        def __init__(self, addr, keep):
            self._addr = addr
            self.dispatcher = None
            self.keep = keep        # [the VM fallback, the execution engine]: kept alive
            self.light_addr = 0     # the light entry, for tables of the kernel's own shape
            self.step_addr = 0      # the fused step (ODE kernels with a light entry)
            self.stepr_addr = 0     # its register variant (small ODE kernels)
            self.vm_global = 0      # address of the kernel's pointer to the VM
            self.quick = False      # compiled without optimisation (unrolled_jet)

        def vm_bound(self):
            """The handle, with the kernel's VM fallback bound (the VM loaded or
            compiled first if needed).  Every use of the full jet entry goes through
            here (numba drivers take the handle by its wrapper address); the light
            entry and the fused steps never call the VM."""
            if self.keep[0] is None:
                vm = vm_jet()
                ctypes.c_void_p.from_address(self.vm_global).value = vm._addr
                self.keep[0] = vm
            elif not ctypes.c_void_p.from_address(self.vm_global).value:
                ctypes.c_void_p.from_address(self.vm_global).value = self.keep[0]._addr
            return self

        def __wrapper_address__(self):
            if self.keep[0] is None:
                self.vm_bound()
            return self._addr

        def __call__(self, *args):
            call_jet()(self.vm_bound(), *args)

    _REF.append(UnrolledRef)
    return UnrolledRef
