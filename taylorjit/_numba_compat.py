"""The one boundary between taylorjit and the private parts of numba and llvmlite.

taylorjit's kernels are numba functions and LLVM code that numba's compiled
drivers call as first-class functions.  That needs a few things numba does not
document as stable API; every one of them is a small function here, with what
it relies on, so that a numba release that changes one of them breaks one
place, not the kernel layer.  No other module of taylorjit imports
``numba.core``, ``numba.experimental`` or builds numba's structs by hand.

Public API used elsewhere (not listed here): ``numba.njit``, ``numba.types``,
``numba.extending.intrinsic``/``typeof_impl`` and the target context's
methods documented for intrinsics (``context.cast``, ``get_dummy_value``),
and llvmlite's ``ir`` and ``binding`` modules.

Versions.  At import the installed numba and llvmlite are checked against the
versions the test suite runs on (:data:`NUMBA_RANGE`, :data:`LLVMLITE_RANGE`,
half-open ``[low, high)`` on ``(major, minor)``; the same ranges as
``pyproject.toml``).  Outside them ``import taylorjit`` raises ImportError
naming the versions and the ``pip install`` that fixes it; with the
environment variable ``TAYLORJIT_ALLOW_UNTESTED_NUMBA=1`` it warns instead
(for trying a new numba release: run the test suite, then widen the range).

Checked: every function below was run (whole test suite) on numba 0.68.1 with
llvmlite 0.50.0, and the numba internals they rely on were read, unchanged,
in numba's sources from 0.62 to the main branch of August 2026 (0.69 dev).
"""
from __future__ import annotations

import os
import re
import warnings

import llvmlite
import numba

__all__ = ["NUMBA_RANGE", "LLVMLITE_RANGE", "check_versions", "no_refcount_opts",
           "wrapper_address", "wrapper_address_protocol", "register_typeof", "entry_point",
           "compiled_module_names", "fc_from_c_address", "fc_c_address", "array_data",
           "array_stride", "array_struct_type", "array_struct_constant", "ARRAY_DATA",
           "ARRAY_SHAPE", "ARRAY_STRIDES", "cfunc_void_return_type", "init_native_target",
           "compiler_lock", "numba_cache_files", "has_numba_cache"]

#: numba versions the test suite runs on: ``[low, high)`` on (major, minor)
NUMBA_RANGE = ((0, 68), (0, 69))
#: llvmlite versions the test suite runs on (numba 0.68 needs llvmlite 0.50)
LLVMLITE_RANGE = ((0, 50), (0, 51))
_ENV_ALLOW = "TAYLORJIT_ALLOW_UNTESTED_NUMBA"


# --------------------------------------------------------------------------- versions
def _major_minor(version: str):
    """``(major, minor)`` of a version string (``"0.68.1"``, ``"0.69.0rc1"``,
    ``"0.69.0dev0+12.gabc"``), or None if it does not start with two numbers."""
    m = re.match(r"(\d+)\.(\d+)", version)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _spec(rng) -> str:
    (a, b), (c, d) = rng
    return f">={a}.{b},<{c}.{d}"


def check_versions(numba_version: str | None = None, llvmlite_version: str | None = None):
    """The problem with the installed (or the given) numba and llvmlite versions, as a
    message, or None if both are in the tested ranges."""
    nv = numba.__version__ if numba_version is None else numba_version
    lv = llvmlite.__version__ if llvmlite_version is None else llvmlite_version
    bad = []
    for name, ver, rng in (("numba", nv, NUMBA_RANGE), ("llvmlite", lv, LLVMLITE_RANGE)):
        mm = _major_minor(ver)
        if mm is None or not (rng[0] <= mm < rng[1]):
            bad.append(f"{name} {ver} (supported: {name}{_spec(rng)})")
    if not bad:
        return None
    return ("taylorjit builds its kernels on internals of numba and llvmlite and supports only "
            "the versions its test suite runs on; installed: " + ", ".join(bad) + ". "
            f'Fix: pip install "numba{_spec(NUMBA_RANGE)}" "llvmlite{_spec(LLVMLITE_RANGE)}" '
            f"(or set {_ENV_ALLOW}=1 to try these versions anyway, at your own risk: run "
            "taylorjit's test suite first).")


def _check_at_import():
    msg = check_versions()
    if msg is None:
        return
    if os.environ.get(_ENV_ALLOW, "") not in ("", "0"):
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
        return
    raise ImportError(msg)


_check_at_import()


# --------------------------------------------------------------------------- compile options
_NRT_OPTS = []


def no_refcount_opts() -> dict:
    """numba options that switch off its runtime's reference counting, for code
    that never allocates (kernels, jets): numba fails to prune the counting of
    the 1-D row views that kernels take of ``tc`` when they sit in branches, and
    calls into its runtime twice per view (measured: a 14-operation jet ran 3.2x
    faster without it, with bit-identical results).

    Relies on: the private target option ``_nrt`` of ``numba.core.cpu.CPUTargetOptions``
    (accepted by ``njit(_nrt=False)``).  If a numba version lacks it, nothing is
    switched off (same results, slower)."""
    if not _NRT_OPTS:
        try:
            from numba.core.cpu import CPUTargetOptions

            _NRT_OPTS.append({"_nrt": False} if hasattr(CPUTargetOptions, "_nrt") else {})
        except ImportError:  # pragma: no cover - depends on numba's version
            _NRT_OPTS.append({})
    return dict(_NRT_OPTS[0])


# --------------------------------------------------------------------------- dispatchers
def wrapper_address(dispatcher, sig) -> int:
    """Address of the C-ABI wrapper (``cfunc`` wrapper) of ``dispatcher`` compiled for
    ``sig``: the function numba's compiled code calls through a first-class
    function value (compiling ``sig`` first if needed).

    Relies on: ``numba.experimental.function_type._get_wrapper_address``."""
    from numba.experimental.function_type import _get_wrapper_address

    return _get_wrapper_address(dispatcher, sig)


def wrapper_address_protocol():
    """numba's base class of objects that stand for a first-class function by
    address (``__wrapper_address__()`` and ``signature()``).

    Relies on: ``numba.core.types.function_type.WrapperAddressProtocol`` (numba calls
    ``__wrapper_address__()`` without arguments when it unboxes such an object)."""
    from numba.core.types.function_type import WrapperAddressProtocol

    return WrapperAddressProtocol


def register_typeof(cls, numba_type) -> None:
    """Make numba type every instance of ``cls`` as ``numba_type`` (no per-call
    type inference of the object).  Uses the public ``numba.extending.typeof_impl``."""
    from numba.extending import typeof_impl

    @typeof_impl.register(cls)
    def _typeof(val, c):
        return numba_type


def entry_point(dispatcher):
    """The compiled function of ``dispatcher``'s first (single) signature, callable
    from Python without numba's dispatch (type inference of every argument and
    overload lookup), or ``dispatcher`` itself if there is none.  Only for
    callers whose arguments have exactly the signature's types.

    Relies on: ``Dispatcher.overloads`` (signature -> ``CompileResult``) and
    ``CompileResult.entry_point``."""
    sigs = getattr(dispatcher, "signatures", None)
    cres = dispatcher.overloads.get(sigs[0]) if sigs else None
    return getattr(cres, "entry_point", None) or dispatcher


def compiled_module_names(dispatcher) -> list:
    """Names of the modules that ``dispatcher``'s compiled overloads were compiled
    for (a cache entry copied from another module names that module).

    Relies on: ``Dispatcher.overloads`` and ``CompileResult.fndesc.modname``."""
    out = []
    for cres in getattr(dispatcher, "overloads", {}).values():
        fndesc = getattr(cres, "fndesc", None)
        if fndesc is not None:
            out.append(fndesc.modname)
    return out


# --------------------------------------------------------------------------- codegen helpers
def fc_from_c_address(context, builder, fn_type, addr):
    """In an intrinsic's codegen: the value of first-class function type ``fn_type``
    (a ``numba.types.FunctionType``) that calls the C-ABI function at ``addr`` (an
    LLVM integer): ``c_addr`` set, ``py_addr`` and ``jit_addr`` null, so numba calls
    through ``c_addr`` and never boxes it.

    Relies on: numba's data model of ``FunctionType`` (a struct of the pointers
    ``c_addr``, ``py_addr``, ``jit_addr``) and ``numba.core.cgutils.create_struct_proxy``."""
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils

    vp = context.get_value_type(types.voidptr)
    f = cgutils.create_struct_proxy(fn_type)(context, builder)
    f.c_addr = builder.inttoptr(addr, vp)
    f.py_addr = ir.Constant(vp, None)
    f.jit_addr = ir.Constant(vp, None)      # null: call through c_addr
    return f._getvalue()


def fc_c_address(context, builder, fn_type, value):
    """In an intrinsic's codegen: the ``c_addr`` pointer (the C-ABI wrapper) of the
    first-class function ``value`` of type ``fn_type``.  Relies on what
    :func:`fc_from_c_address` relies on."""
    from numba.core import cgutils

    return cgutils.create_struct_proxy(fn_type)(context, builder, value=value).c_addr


def array_data(context, builder, arr_type, value):
    """In an intrinsic's codegen: the data pointer of the array ``value`` of numba type
    ``arr_type``.  Relies on: ``context.make_array`` (numba's array struct proxy)."""
    return context.make_array(arr_type)(context, builder, value).data


def array_stride(context, builder, arr_type, value, axis: int):
    """In an intrinsic's codegen: the stride in bytes of axis ``axis`` of the array
    ``value`` of numba type ``arr_type``.  Relies on what :func:`array_data` relies on."""
    return builder.extract_value(context.make_array(arr_type)(context, builder, value).strides,
                                 axis)


# numba's array struct (numba.core.datamodel.models.ArrayModel): meminfo, parent, nitems,
# itemsize, data, shape[nd], strides[nd]; the indices of the fields read by LLVM code
ARRAY_DATA, ARRAY_SHAPE, ARRAY_STRIDES = 4, 5, 6


def array_struct_type(ir, nd: int):
    """llvmlite type of numba's array struct of ``nd`` dimensions, as it is passed by
    value to a C-ABI wrapper (LLVM code written by taylorjit that numba calls, or
    that calls numba's): ``{meminfo, parent, nitems, itemsize, data, shape[nd],
    strides[nd]}`` (fields :data:`ARRAY_DATA`, :data:`ARRAY_SHAPE`,
    :data:`ARRAY_STRIDES`).

    Relies on: numba's ``ArrayModel`` members and their order."""
    ptr, i64 = ir.PointerType(), ir.IntType(64)
    return ir.LiteralStructType([ptr, ptr, i64, i64, ptr, ir.ArrayType(i64, nd),
                                 ir.ArrayType(i64, nd)])


def array_struct_constant(ir, a_ty, data, shape, itemsize: int = 8):
    """A constant numba array struct of type ``a_ty`` (:func:`array_struct_type`) over
    the C-contiguous global ``data`` of shape ``shape``, without meminfo and parent
    (code that only reads the data, never reference-counts it).  Relies on what
    :func:`array_struct_type` relies on."""
    i64 = ir.IntType(64)
    nd = len(shape)
    strides, s = [], itemsize
    for n in reversed(shape):
        strides.insert(0, s)
        s *= n
    nitems = 1
    for n in shape:
        nitems *= n
    null = ir.Constant(a_ty.elements[0], None)
    return ir.Constant(a_ty, [null, null, ir.Constant(i64, nitems), ir.Constant(i64, itemsize),
                              data, ir.Constant(ir.ArrayType(i64, nd), shape),
                              ir.Constant(ir.ArrayType(i64, nd), strides)])


def cfunc_void_return_type(ir):
    """Return type of numba's C-ABI wrapper of a function returning nothing: the value
    type of ``none``, an (opaque) pointer.

    Relies on: ``CPUContext.create_cfunc_wrapper`` returning
    ``get_value_type(restype)`` and the data model of ``none``."""
    return ir.PointerType()


# --------------------------------------------------------------------------- LLVM
_NATIVE = []


def init_native_target() -> None:
    """Initialise LLVM's native target, asm printer and parser (once), as numba does
    before it compiles anything, so that llvmlite can make a host target machine.

    Relies on: ``numba.core.registry.cpu_target.target_context.codegen()`` (its
    first call initialises LLVM)."""
    if not _NATIVE:
        from numba.core.registry import cpu_target

        cpu_target.target_context.codegen()
        _NATIVE.append(True)


def compiler_lock():
    """numba's global compiler lock (a re-entrant context manager): held while code is
    added to LLVM's global context, which numba's own compilations share.

    Relies on: ``numba.core.compiler_lock.global_compiler_lock``."""
    from numba.core.compiler_lock import global_compiler_lock

    return global_compiler_lock


# --------------------------------------------------------------------------- numba's disk cache
def numba_cache_files(path):
    """numba's cache files (index ``.nbi`` and data ``.nbc``) of the module at ``path``:
    in ``__pycache__`` beside it, or anywhere under ``$NUMBA_CACHE_DIR``.

    Relies on: numba's cache file names ``<stem>.<function>-<line>.pyXY.nb[ic]``
    (``numba.core.caching``)."""
    from pathlib import Path

    path = Path(path)
    yield from (path.parent / "__pycache__").glob(f"{path.stem}.*")
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        yield from Path(env).rglob(f"{path.stem}.*")


def has_numba_cache(src_dir, stem: str) -> bool:
    """Whether numba's cache holds compiled code of the module ``src_dir/stem.py`` (an
    index file in ``__pycache__`` beside it, or under ``$NUMBA_CACHE_DIR``).  Relies on
    what :func:`numba_cache_files` relies on."""
    from pathlib import Path

    if any((Path(src_dir) / "__pycache__").glob(f"{stem}.*.nbi")):
        return True
    env = os.environ.get("NUMBA_CACHE_DIR")
    return bool(env) and any(Path(env).rglob(f"{stem}.*.nbi"))
