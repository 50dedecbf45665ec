"""All partial derivatives at a point in one SIMD function (``derivatives``).

:func:`taylorjit.derivatives` expands ``f(x0 + t i)`` along the C(n+p-1, p)
integer directions ``i`` and recombines the coefficients exactly
(:mod:`taylorjit._codegen.multi`).  The directions share the point, so every
coefficient of order 0 is the same along all of them, and the coefficients of
order >= 1 are the same operations on different numbers: one straight-line
program where order-0 values are scalars and higher orders are vectors of W
directions (W = 8 with AVX-512) does all directions at once:

1. **Trace** the jet of the decomposition to order p with the unrolled
   kernels' tracer (:func:`taylorjit._codegen.trace.trace_program`).  Inputs: order 0
   is the point (scalar), order 1 the direction (a constant vector per block of
   W directions), higher orders 0.  Operations the tracer leaves to the VM at
   order 0 become C calls (as in :mod:`taylorjit._codegen.vcfunc`; kepE is not
   supported here and ``derivatives`` keeps its other path).
2. **Emit** LLVM IR: scalars for order-0 values (the C library's functions, as
   in every other kind), ``<W x double>`` for the rest; one block per W
   directions, all in one function.  Every lane performs exactly the scalar
   kernels' operations, so the directional coefficients are bit-identical to
   theirs.
3. **Recombine** in the same function: ``values[r, m] = sum_b C[r, b]
   coef_b(m, deg r)`` with the interpolation matrix as constants, W rows of
   one degree at a time in a vector, each row summed over ``b`` in the same
   order as :func:`taylorjit._frontends.jet._combine`, which like this code skips the
   terms whose coefficient ``C[r, b]`` is zero (56% of them at order 8 in 3
   variables; a coefficient that is inf or NaN along one direction then does
   not poison the partials that do not depend on that direction).  Values
   are bit-identical.
4. **Compile** with llvmlite (no fast-math flags), cache the object code on
   disk, call through ctypes.
"""
from __future__ import annotations

import ctypes
import threading

import numpy as np

from . import cache as _cache, unroll as _unroll, vmath as _vmath
from .decompose import Decomposition
from .trace import UnsupportedUnroll, trace_program, unrolled_size
from .vcfunc import UnsupportedSIMD, _hexd, vm_row_call

__all__ = ["partials_kernel", "is_cached", "size", "MAX_OPS", "PartialsKernel"]

_LAYOUT = 2        # bump when the generated code changes (part of the cache key)
MAX_OPS = 200000   # bound on the generated operations (compile time: ~0.5 s at 10^4)


def size(d: Decomposition, order: int, ndirs: int, rows: int) -> int:
    """Rough count of the generated operations: the jet once per block of W
    directions, plus the recombination."""
    return unrolled_size(d, order) * -(-ndirs // _vmath.host_width()) + 2 * rows * ndirs


def build_ir(d: Decomposition, name: str, order: int, W: int, dirs: np.ndarray,
             C: np.ndarray, degs: np.ndarray) -> str:
    """IR of ``void @<name>(ptr P, ptr PARS, ptr OUT)``: ``OUT[r, m]`` (row-major,
    ``C.shape[0]`` rows, one column per output) from the point ``P``."""
    try:
        p = trace_program(d, ode=False, order=order, full=1)
    except UnsupportedUnroll as exc:    # pragma: no cover - no registry op refuses
        raise UnsupportedSIMD(str(exc)) from None
    nd, n_in = dirs.shape
    M, K = len(d.outputs), order
    nblk = -(-nd // W)
    NB = nblk * W
    VT = f"<{W} x double>"
    lines, head = [], {"declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)"}
    emit = lines.append
    cnt = [0]

    def tmp():
        cnt[0] += 1
        return f"%t{cnt[0]}"

    def vconst(vals):
        return "<" + ", ".join(f"double {_hexd(v)}" for v in vals) + ">"

    def splat(v):
        """A scalar value (register or constant text) as a vector register."""
        if v[0] == "c":
            return vconst([v[1]] * W)
        a, r = tmp(), tmp()
        emit(f"  {a} = insertelement {VT} poison, double {v[1]}, i64 0")
        emit(f"  {r} = shufflevector {VT} {a}, {VT} poison, <{W} x i32> zeroinitializer")
        return r

    def sc(v):          # scalar operand text
        return _hexd(v[1]) if v[0] == "c" else v[1]

    def libm(fname, argc=1):
        head.add(f"declare double @{fname}({', '.join(['double'] * argc)})")

    emit(f"define void @{name}(ptr noalias %P, ptr noalias %PARS, ptr noalias %OUT) {{")
    emit("entry:")
    emit(f"  %res = alloca [{M * (K + 1) * NB} x double], align 64")
    # values are ("c", x) constant, ("s", reg) scalar, ("v", reg) vector
    point = {}
    for i in range(n_in):
        a, v = tmp(), tmp()
        emit(f"  {a} = getelementptr inbounds double, ptr %P, i64 {i}")
        emit(f"  {v} = load double, ptr {a}, align 8")
        point[i] = ("s", v)
    shared = {}                 # order-0 program nodes, computed once for all blocks

    for blk in range(nblk):
        rows = [min(blk * W + lane, nd - 1) for lane in range(W)]   # pad: repeat the last
        val = {}
        cur = {}

        def ld(slot, j):
            if slot < n_in:
                if j == 0:
                    return point[slot]
                if j == 1:
                    return ("v", vconst([dirs[r, slot] for r in rows]))
                return ("c", 0.0)
            return cur[(slot, j)]

        def binop(op, x, y):
            ins = {"+": "fadd", "-": "fsub", "*": "fmul", "/": "fdiv"}[op]
            r = tmp()
            if x[0] != "v" and y[0] != "v":
                emit(f"  {r} = {ins} double {sc(x)}, {sc(y)}")
                return ("s", r)
            xv = x[1] if x[0] == "v" else splat(x)
            yv = y[1] if y[0] == "v" else splat(y)
            emit(f"  {r} = {ins} {VT} {xv}, {yv}")
            return ("v", r)

        def fused(x, y, z):
            """x * y + z rounded once (llvm.fma), vector if any operand is."""
            r = tmp()
            if all(v[0] != "v" for v in (x, y, z)):
                head.add("declare double @llvm.fma.f64(double, double, double)")
                emit(f"  {r} = call double @llvm.fma.f64(double {sc(x)}, double {sc(y)}, "
                     f"double {sc(z)})")
                return ("s", r)
            head.add(f"declare {VT} @llvm.fma.v{W}f64({VT}, {VT}, {VT})")
            xs = ", ".join(f"{VT} {v[1] if v[0] == 'v' else splat(v)}" for v in (x, y, z))
            emit(f"  {r} = call {VT} @llvm.fma.v{W}f64({xs})")
            return ("v", r)

        def call(fname, args, extra=""):
            if any(a[0] == "v" for a in args):   # pragma: no cover - calls are order 0
                raise UnsupportedSIMD(f"{fname} of a direction-dependent value")
            libm(fname, len(args) + (1 if extra else 0))
            r = tmp()
            xs = ", ".join(f"double {sc(a)}" for a in args) + extra
            emit(f"  {r} = call double @{fname}({xs})")
            return ("s", r)

        for idx, node in enumerate(p.nodes):
            kind = node[0]
            if kind == "c":
                val[idx] = ("c", node[1])
            elif kind == "t":        # expression jets run at t = 0 (time is a parameter)
                val[idx] = ("c", 0.0)
            elif kind == "par":
                key = ("par", node[1])
                if key not in shared:
                    a, v = tmp(), tmp()
                    emit(f"  {a} = getelementptr inbounds double, ptr %PARS, i64 {node[1]}")
                    emit(f"  {v} = load double, ptr {a}, align 8")
                    shared[key] = ("s", v)
                val[idx] = shared[key]
            elif kind == "ld":
                val[idx] = ld(node[1], node[2])
            elif kind in ("+", "-", "*", "/", "neg", "call", "fma"):
                args = [val[a] for a in ((node[1], node[2]) if kind in "+-*/" else
                                         (node[2],) if kind == "call" else
                                         node[1:4] if kind == "fma" else (node[1],))]
                key = (kind, node[1] if kind == "call" else None) + tuple(args)
                if all(a[0] != "v" for a in args) and key in shared:
                    val[idx] = shared[key]
                    continue
                if kind == "neg":
                    r = tmp()
                    a = args[0]
                    if a[0] == "v":
                        emit(f"  {r} = fneg {VT} {a[1]}")
                        out = ("v", r)
                    else:
                        emit(f"  {r} = fneg double {sc(a)}")
                        out = ("s", r)
                elif kind == "call":
                    out = call(node[1], args)
                elif kind == "fma":
                    out = fused(*args)
                else:
                    out = binop(kind, *args)
                if out[0] != "v":
                    shared[key] = out
                val[idx] = out
            elif kind == "st":
                cur[(node[1], node[2])] = val[node[3]]
            elif kind == "vm":
                for op, outs, ins, c in p.groups[node[1]]:
                    key = ("vmrow", op, tuple(outs), tuple(ins), c)
                    if key not in shared:
                        fname, args, extra = vm_row_call(op, ins, c)
                        shared[key] = call(fname, [ld(a, 0) for a in args],
                                           "" if extra is None else f", double {_hexd(extra)}")
                    cur[(outs[0], 0)] = shared[key]
            else:   # pragma: no cover
                raise UnsupportedSIMD(f"node {kind!r}")
        # the directional coefficients of this block: res[m][k][b]
        for mi, s in enumerate(d.outputs):
            for k in range(K + 1):
                v = ld(s, k) if (s < n_in or (s, k) not in cur) else cur[(s, k)]
                vec = v[1] if v[0] == "v" else splat(v)
                a = tmp()
                emit(f"  {a} = getelementptr inbounds double, ptr %res, "
                     f"i64 {(mi * (K + 1) + k) * NB + blk * W}")
                emit(f"  store {VT} {vec}, ptr {a}, align 8")

    # recombination: W rows of one degree at a time, each summed over b in order
    R = C.shape[0]
    r0 = 0
    while r0 < R:
        deg = int(degs[r0])
        r1 = r0
        while r1 < R and r1 - r0 < W and int(degs[r1]) == deg:
            r1 += 1
        rows = list(range(r0, r1)) + [r1 - 1] * (W - (r1 - r0))
        for mi in range(M):
            acc = "zeroinitializer"
            for b in range(nd):
                cs = [C[r, b] for r in rows]
                nz = [c != 0.0 for c in cs]
                if not any(nz):
                    continue            # a zero coefficient adds nothing (see module doc)
                a, s, v, prod, nacc = tmp(), tmp(), tmp(), tmp(), tmp()
                emit(f"  {a} = getelementptr inbounds double, ptr %res, "
                     f"i64 {(mi * (K + 1) + deg) * NB + b}")
                emit(f"  {s} = load double, ptr {a}, align 8")
                emit(f"  {v} = insertelement {VT} poison, double {s}, i64 0")
                bc = tmp()
                emit(f"  {bc} = shufflevector {VT} {v}, {VT} poison, <{W} x i32> zeroinitializer")
                emit(f"  {prod} = fmul {VT} {vconst(cs)}, {bc}")
                if not all(nz):         # lanes with a zero coefficient add 0.0
                    sel = tmp()
                    mask = ", ".join(f"i1 {int(z)}" for z in nz)
                    emit(f"  {sel} = select <{W} x i1> <{mask}>, {VT} {prod}, "
                         f"{VT} zeroinitializer")
                    prod = sel
                emit(f"  {nacc} = fadd {VT} {acc}, {prod}")
                acc = nacc
            for lane in range(r1 - r0):
                e, a = tmp(), tmp()
                emit(f"  {e} = extractelement {VT} {acc}, i64 {lane}")
                emit(f"  {a} = getelementptr inbounds double, ptr %OUT, i64 {(r0 + lane) * M + mi}")
                emit(f"  store double {e}, ptr {a}, align 8")
        r0 = r1
    emit("  ret void")
    emit("}")
    return "\n".join(sorted(head)) + "\n" + "\n".join(lines) + "\n"


_lock = threading.RLock()
_LOADED: dict = {}
_FN_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


class PartialsKernel:
    """``k.run(P, pars)``: all partials at the point ``P`` as a new array (rows x
    outputs).  The point, parameters and result travel through per-thread
    buffers whose addresses are computed once (``ndarray.ctypes`` costs ~1 us per
    array and call)."""

    __slots__ = ("fn", "keep", "n_in", "rows", "n_out", "_tls", "index")

    def __init__(self, fn, keep, n_in, rows, n_out):
        self.fn, self.keep = fn, keep
        self.n_in, self.rows, self.n_out = n_in, rows, n_out
        self._tls = threading.local()
        self.index = None           # multi-index -> row (set by the caller)

    def _buffers(self, npars):
        P = np.zeros(self.n_in)
        pars = np.zeros(max(1, npars))
        out = np.zeros((self.rows, self.n_out))
        b = self._tls.b = (P, pars, out, P.ctypes.data, pars.ctypes.data, out.ctypes.data)
        return b

    def run(self, P, pars):
        """The partials at ``P`` (n numbers: a list or an array) with parameters ``pars``."""
        try:
            bP, bpars, out, aP, apars, aout = self._tls.b
        except AttributeError:
            bP, bpars, out, aP, apars, aout = self._buffers(pars.shape[0])
        npars = pars.shape[0]
        if npars:
            if bpars.shape[0] < npars:
                bP, bpars, out, aP, apars, aout = self._buffers(npars)
            bpars[:npars] = pars
        bP[:] = P
        self.fn(aP, apars, aout)
        return out.copy()


def _name(d, order, dirs, C, W):
    import hashlib

    tkey = _unroll.target_machine()[1]
    return (f"tj_partials_{d.key()}_o{order}_n{dirs.shape[1]}_w{W}_{_LAYOUT}_{tkey}_"
            + hashlib.sha256(np.ascontiguousarray(C).tobytes()).hexdigest()[:8])


def is_cached(d: Decomposition, order: int, dirs, C) -> bool:
    """Whether the kernel is loaded or its object code is in the disk cache."""
    name = _name(d, order, dirs, C, _vmath.host_width())
    return name in _LOADED or (_cache.cache_dir() / f"{name}.o").exists()


def partials_kernel(d: Decomposition, order: int, dirs, C, degs) -> PartialsKernel:
    """The SIMD partials kernel of ``d`` at ``order`` (loaded from the disk cache,
    else compiled and cached).  Raises :class:`UnsupportedSIMD`."""
    W = _vmath.host_width()
    if size(d, order, dirs.shape[0], C.shape[0]) > MAX_OPS:
        raise UnsupportedSIMD(f"{size(d, order, dirs.shape[0], C.shape[0])} operations, above "
                              f"MAX_OPS = {MAX_OPS}")
    with _lock:
        name = _name(d, order, dirs, C, W)
        hit = _LOADED.get(name)
        if hit is not None:
            return hit
        addr, ee = _unroll.load_module(name, lambda: build_ir(d, name, order, W, dirs, C, degs))
        k = PartialsKernel(_FN_TYPE(addr), ee, dirs.shape[1], C.shape[0], len(d.outputs))
        _LOADED[name] = k
        return k
