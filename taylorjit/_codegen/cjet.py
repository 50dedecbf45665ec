"""Taylor coefficients at one point in one direct call (``taylor_coefficients``).

The jets behind :func:`taylorjit.taylor_coefficients` take a coefficient table
and are driven by a compiled loop over points; from Python that path costs a
few microseconds of argument handling around a sub-microsecond jet.  For the
common call -- one point, one direction -- this module compiles the jet of the
decomposition at one order as a C function of raw pointers::

    void f(const double *P, const double *D, const double *PARS, double *OUT)

which reads the point and the direction, and writes the coefficients of every
output (``OUT[m * (order + 1) + k]``) without any table in memory.  The code is
the unrolled kernels' traced program (:func:`taylorjit._codegen.trace.trace_program`),
so every coefficient is the same sequence of IEEE operations as in the other
kinds (bit-identical, tested); the order-0 operations the tracer leaves to the
VM are C calls as in :mod:`taylorjit._codegen.vcfunc` (kepE is not supported here and
keeps the other path).  Compiled by LLVM, cached on disk, called through ctypes
with per-thread buffers whose addresses are computed once.
"""
from __future__ import annotations

import ctypes
import threading

import numpy as np

from . import cache as _cache, unroll as _unroll
from .decompose import Decomposition
from .trace import UnsupportedUnroll, trace_program, unrolled_size
from .vcfunc import UnsupportedSIMD, _hexd, vm_row_call

__all__ = ["coefficients_kernel", "is_cached", "CoefficientsKernel", "MAX_OPS"]

_LAYOUT = 2
MAX_OPS = 100000   # bound on unrolled_size (LLVM compile time)


def build_ir(d: Decomposition, name: str, order: int) -> str:
    """IR text of ``void @<name>(ptr P, ptr D, ptr PARS, ptr OUT)``."""
    try:
        p = trace_program(d, ode=False, order=order, full=1)
    except UnsupportedUnroll as exc:    # pragma: no cover - no registry op refuses
        raise UnsupportedSIMD(str(exc)) from None
    n_in, K = d.n_in, order
    lines, head = [], set()
    emit = lines.append
    cnt = [0]

    def tmp():
        cnt[0] += 1
        return f"%t{cnt[0]}"

    def sc(v):
        return _hexd(v[1]) if v[0] == "c" else v[1]

    def load(base, i):
        a, v = tmp(), tmp()
        emit(f"  {a} = getelementptr inbounds double, ptr {base}, i64 {i}")
        emit(f"  {v} = load double, ptr {a}, align 8")
        return ("s", v)

    def call(fname, args, extra=""):
        head.add(f"declare double @{fname}({', '.join(['double'] * (len(args) + bool(extra)))})")
        r = tmp()
        xs = ", ".join(f"double {sc(a)}" for a in args) + extra
        emit(f"  {r} = call double @{fname}({xs})")
        return ("s", r)

    emit(f"define void @{name}(ptr noalias %P, ptr noalias %D, ptr noalias %PARS, "
         f"ptr noalias %OUT) {{")
    emit("entry:")
    point = {i: load("%P", i) for i in range(n_in)}
    direc = {i: load("%D", i) for i in range(n_in)}
    pars = {}
    val, cur = {}, {}

    def ld(slot, j):
        if slot < n_in:
            return point[slot] if j == 0 else direc[slot] if j == 1 else ("c", 0.0)
        return cur[(slot, j)]

    for idx, node in enumerate(p.nodes):
        kind = node[0]
        if kind == "c":
            val[idx] = ("c", node[1])
        elif kind == "t":            # expression jets run at t = 0 (time is a parameter)
            val[idx] = ("c", 0.0)
        elif kind == "par":
            if node[1] not in pars:
                pars[node[1]] = load("%PARS", node[1])
            val[idx] = pars[node[1]]
        elif kind == "ld":
            val[idx] = ld(node[1], node[2])
        elif kind in ("+", "-", "*", "/"):
            ins = {"+": "fadd", "-": "fsub", "*": "fmul", "/": "fdiv"}[kind]
            r = tmp()
            emit(f"  {r} = {ins} double {sc(val[node[1]])}, {sc(val[node[2]])}")
            val[idx] = ("s", r)
        elif kind == "neg":
            r = tmp()
            emit(f"  {r} = fneg double {sc(val[node[1]])}")
            val[idx] = ("s", r)
        elif kind == "fma":
            head.add("declare double @llvm.fma.f64(double, double, double)")
            r = tmp()
            xs = ", ".join(f"double {sc(val[x])}" for x in node[1:4])
            emit(f"  {r} = call double @llvm.fma.f64({xs})")
            val[idx] = ("s", r)
        elif kind == "call":
            val[idx] = call(node[1], [val[node[2]]])
        elif kind == "st":
            cur[(node[1], node[2])] = val[node[3]]
        elif kind == "vm":
            for op, outs, ins, c in p.groups[node[1]]:
                fname, args, extra = vm_row_call(op, ins, c)
                cur[(outs[0], 0)] = call(fname, [ld(a, 0) for a in args],
                                         "" if extra is None else f", double {_hexd(extra)}")
        else:   # pragma: no cover
            raise UnsupportedSIMD(f"node {kind!r}")
    for mi, s in enumerate(d.outputs):
        for k in range(K + 1):
            v = cur[(s, k)] if (s >= n_in and (s, k) in cur) else ld(s, k)
            a = tmp()
            emit(f"  {a} = getelementptr inbounds double, ptr %OUT, i64 {mi * (K + 1) + k}")
            emit(f"  store double {sc(v)}, ptr {a}, align 8")
    emit("  ret void")
    emit("}")
    # the same with one argument, a block of the four pointers (a ctypes call costs
    # ~0.3 us per argument)
    emit(f"define void @{name}_1(ptr noalias %A) {{")
    emit("entry:")
    for i, nm in enumerate(("P", "D", "PARS", "OUT")):
        emit(f"  %a{nm} = getelementptr inbounds ptr, ptr %A, i64 {i}")
        emit(f"  %{nm} = load ptr, ptr %a{nm}, align 8")
    emit(f"  call void @{name}(ptr %P, ptr %D, ptr %PARS, ptr %OUT)")
    emit("  ret void")
    emit("}")
    return "\n".join(sorted(head)) + "\n" + "\n".join(lines) + "\n"


_lock = threading.RLock()
_LOADED: dict = {}
_FN_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class CoefficientsKernel:
    """``k.run(P, D, pars)``: the coefficients (outputs x (order + 1)) of the
    outputs at point ``P`` along ``D`` (sequences of n numbers) as a new array."""

    __slots__ = ("fn", "keep", "n_in", "n_out", "order", "_tls")
    # fn(address of the pointer block (P, D, PARS, OUT)); the block and buffers are
    # per thread: _tls.b = (P, D, pars, out, address of the block, block, out[0])

    def __init__(self, fn, keep, n_in, n_out, order):
        self.fn, self.keep = fn, keep
        self.n_in, self.n_out, self.order = n_in, n_out, order
        self._tls = threading.local()

    def _buffers(self, npars):
        P, D = np.zeros(self.n_in), np.zeros(self.n_in)
        pars = np.zeros(max(1, npars))
        out = np.zeros((self.n_out, self.order + 1))
        block = np.array([P.ctypes.data, D.ctypes.data, pars.ctypes.data, out.ctypes.data],
                         dtype=np.uint64)
        b = self._tls.b = (P, D, pars, out, block.ctypes.data, block, out[0])
        return b

    def run(self, P, D, pars):
        try:
            bP, bD, bpars, out, ablock, _, _ = self._tls.b
        except AttributeError:
            bP, bD, bpars, out, ablock, _, _ = self._buffers(pars.shape[0])
        npars = pars.shape[0]
        if npars:
            if bpars.shape[0] < npars:
                bP, bD, bpars, out, ablock, _, _ = self._buffers(npars)
            bpars[:npars] = pars
        n = len(P)
        if n <= 8:              # (a list into a numpy slice costs ~0.5 us; an item ~0.07)
            for i in range(n):
                bP[i] = P[i]
                bD[i] = D[i]
        else:
            bP[:] = P
            bD[:] = D
        self.fn(ablock)
        return out.copy()


def _name(d: Decomposition, order: int) -> str:
    return f"tj_coefs_{d.key()}_o{order}_{_LAYOUT}_{_unroll.target_machine()[1]}"


def is_cached(d: Decomposition, order: int) -> bool:
    """Whether the kernel is loaded or its object code is in the disk cache."""
    name = _name(d, order)
    return name in _LOADED or (_cache.cache_dir() / f"{name}.o").exists()


def coefficients_kernel(d: Decomposition, order: int) -> CoefficientsKernel:
    """The direct coefficients kernel of ``d`` at ``order`` (loaded from the disk
    cache, else compiled and cached).  Raises :class:`UnsupportedSIMD`."""
    if unrolled_size(d, order) > MAX_OPS:
        raise UnsupportedSIMD(f"{unrolled_size(d, order)} operations, above "
                              f"MAX_OPS = {MAX_OPS}")
    with _lock:
        name = _name(d, order)
        hit = _LOADED.get(name)
        if hit is not None:
            return hit
        addr, ee = _unroll.load_module(
            name, lambda: build_ir(d, name, order),
            passes=unrolled_size(d, order) <= _unroll.IR_PASSES_MAX_NODES,
            symbol=name + "_1")
        k = CoefficientsKernel(_FN_TYPE(addr), ee, d.n_in, len(d.outputs), order)
        _LOADED[name] = k
        return k
