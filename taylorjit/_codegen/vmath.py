"""SIMD vector math as LLVM IR text.

:func:`ir_functions` returns an IR fragment defining, for each requested name,
``define internal <W x double> @tj_vm_<name>_w<W>(<W x double> %x)``: a
branch-free SIMD implementation for the names in :data:`VECTOR_FUNCS`, else a
per-lane call of the scalar C libm function of that name.  The pair functions
:data:`PAIR_FUNCS` return two results of one argument,
``define internal {<W x double>, <W x double>} @tj_vm_<name>_w<W>(<W x double> %x)``
(take them apart with ``extractvalue``): ``sincos`` gives (sin x, cos x) from
one argument reduction and one evaluation of each kernel, ``sinhcosh`` gives
(sinh x, cosh x) from one e^|x|; each component is bit for bit the result of
the unary function (:data:`PAIR_COMPONENTS`) for every input, width and
``fma`` (the same operations, including the libm branch of sin and cos), so a
caller may use either.

Accuracy: every vector function is within 1 ulp of the exact result over the
whole double domain (the fdlibm/musl error bounds, measured < 0.6 ulp, see
``tests/test_vmath.py``) and gives the C libm special values (NaN, infinities,
signed zeros, overflow and underflow, subnormal results).  No fast-math flags
are used: the only fused operations are explicit ``llvm.fma`` calls when
``fma=True`` (exactly rounded, hence deterministic); ``fma=False`` gives plain
multiply-adds with the same accuracy bound.  The algorithms:

* exp: Cody-Waite reduction ``x = k ln2 + hi - lo`` (``k ln2_hi`` exact),
  ``e^r - 1 - r = r^2 (1/2 + r q3(r))`` with a degree-9 minimax polynomial q3
  (our Remez fit, error 2^-60 of e^r; Estrin's scheme with FMA, Horner's
  without) and a compensated sum ``1 + hi - lo + r^2 q(r)``; ``2^k`` applied
  in two factors (overflow to inf), subnormal results rounded once (musl's
  trick, in a branch taken only by vectors with such a lane).
* expm1: the same kernel with ``r^2`` as a double-double, ``2^k s - 1`` and
  ``2^k r^2/2`` added by TwoSums; ``x + x^2/2 + x^3/6`` for ``|x| < 2^-20``.
* sinh, cosh, tanh: ``e^|x|/2`` and ``e^-|x|/2`` as double-doubles from that
  kernel (their sum, difference, double-double quotient); Taylor series for
  ``|x| < 0.25`` (sinh, tanh).
* log, log1p: fdlibm's ``e_log.c`` / ``s_log1p.c`` (``x = 2^k (1+f)``,
  ``s = f/(2+f)``, the Lg1..Lg7 minimax kernel), subnormals scaled by 2^54.
* sin, cos, tan: fdlibm's ``__rem_pio2`` medium case (up to three Cody-Waite
  rounds chosen by selects, as fdlibm's branches) and the fdlibm kernels
  ``__sin``/``__cos``/``__tan`` with the reduced argument's tail; lanes with
  ``|x| > TRIG_FAST_MAX = 1.5e6`` (and infinities) take a branch, rarely taken,
  that calls the scalar libm function on the vector's lanes (Payne-Hanek
  reduction there: the result is libm's).
* atan: fdlibm's ``s_atan.c``, its five argument ranges chosen by selects.

Measured maximum errors (200k points per function over the whole domain,
``tests/test_vmath.py`` with ``TJ_VMATH_POINTS=200000``): exp 0.57 (0.59
without FMA), expm1 0.56, log 0.78, log1p 0.82, sin 0.78, cos 0.75, tan 0.81,
atan 0.81, sinh 0.55, cosh 0.52, tanh 0.55 ulp.

The functions are ``internal`` and small enough for LLVM to inline them; each
lane's result does not depend on the width (``fma`` changes few roundings).

Symbol clashes: the fragment declares the libm functions it calls (e.g.
``declare double @sin(double)``) and the LLVM intrinsics it uses, and it may
define internal helpers.  Pass ``declared``, the set of global names already
declared or defined in the module the fragment goes into (without ``@``): those
are not declared again, and every name the fragment declares or defines is
added to the set, so several fragments for one module (other widths, other
functions) can share one set.  :func:`symbols` lists them beforehand.

Modules: this one holds the tables of functions and the entry points; the
routines are in :mod:`.vmath_exp` (exp, expm1, sinh, cosh, tanh, log, log1p)
and :mod:`.vmath_trig` (sin, cos, tan, atan), written against the text IR
builder of :mod:`.vmath_ir`.  They import nothing else of the package.
"""

from __future__ import annotations

from . import vmath_exp as _vexp, vmath_trig as _vtrig
from .vmath_ir import VectorFn
from .vmath_trig import TRIG_FAST_MAX  # noqa: F401 - re-exported (tests)

__all__ = ["VECTOR_FUNCS", "PAIR_FUNCS", "PAIR_COMPONENTS", "host_width", "has_fma", "ir_functions", "symbols",
           "driver_ir"]

VECTOR_FUNCS: frozenset[str] = frozenset({"exp", "log", "sin", "cos", "tan", "expm1",
                                          "log1p", "atan", "sinh", "cosh", "tanh"})

#: The pair functions (returning ``{<W x double>, <W x double>}``) and their
#: components: each component is bit for bit the unary function of that name.
PAIR_COMPONENTS: dict[str, tuple[str, str]] = {"sincos": ("sin", "cos"),
                                                "sinhcosh": ("sinh", "cosh")}
PAIR_FUNCS: frozenset[str] = frozenset(PAIR_COMPONENTS)


def _features():
    import llvmlite.binding as llb

    return llb.get_host_cpu_features()


def host_width() -> int:
    """SIMD width in doubles of the host: 8 with AVX-512F, 4 with AVX/AVX2, else 2."""
    f = _features()
    if f.get("avx512f"):
        return 8
    if f.get("avx2") or f.get("avx"):
        return 4
    return 2


def has_fma() -> bool:
    """Whether the host has fused multiply-add instructions."""
    return bool(_features().get("fma"))


_KERNELS = {**_vexp.ROUTINES, **_vtrig.ROUTINES}
assert set(_KERNELS) == VECTOR_FUNCS | PAIR_FUNCS


def _fallback(b: VectorFn, x, name):
    b.ret(b.lanes_libm(name, x))


# ----------------------------------------------------------------------------
# public entry points


def func_name(name: str, width: int) -> str:
    """The IR name (without ``@``) of the vector function ``name`` at ``width``."""
    return f"tj_vm_{name}_w{width}"


def _build(name: str, width: int, fma: bool) -> VectorFn:
    if not name.isidentifier():
        raise ValueError(f"not a function name: {name!r}")
    b = VectorFn(width, fma)
    b.label("entry")
    kern = _KERNELS.get(name)
    if kern is not None:
        kern(b, "%x")
    else:
        _fallback(b, "%x", name)
    return b


def symbols(names, width: int, fma: bool) -> set[str]:
    """The global names (without ``@``) that ``ir_functions(names, width, fma)``
    declares or defines: the vector functions, libm functions and intrinsics."""
    out = set()
    for name in dict.fromkeys(names):
        b = _build(name, width, fma)
        out |= {func_name(name, width)} | b.libm | set(b.intrinsics)
    return out


def ir_functions(names, width: int, fma: bool, declared: set | None = None) -> str:
    """LLVM IR text defining ``<W x double> @tj_vm_<name>_w<W>(<W x double>)``
    (internal linkage) for each name in ``names``: SIMD code for the names in
    :data:`VECTOR_FUNCS`, per-lane scalar libm calls for other names (any C libm
    unary ``double f(double)``, e.g. ``"erf"``); the names in :data:`PAIR_FUNCS`
    define ``{<W x double>, <W x double>} @tj_vm_<name>_w<W>(<W x double>)``.
    ``width``: 2, 4 or 8;
    ``fma``: use ``llvm.fma`` (only if the target has FMA, else it is a slow
    libcall).  ``declared``: the global names already declared or defined in the
    module (skipped here); updated in place with the names this fragment
    declares or defines."""
    if width not in (2, 4, 8):
        raise ValueError(f"width must be 2, 4 or 8, not {width}")
    declared = set() if declared is None else declared
    parts = []
    for name in dict.fromkeys(names):
        fname = func_name(name, width)
        if fname in declared:
            continue
        b = _build(name, width, fma)
        decls = []
        for lib in sorted(b.libm):
            if lib not in declared:
                decls.append(f"declare double @{lib}(double)")
                declared.add(lib)
        for intr, text in sorted(b.intrinsics.items()):
            if intr not in declared:
                decls.append(text)
                declared.add(intr)
        declared.add(fname)
        body = "\n".join(b.lines)
        parts.append("\n".join(decls)
                     + f"\ndefine internal {b.ret_type} @{fname}({b.vd} %x) {{\n{body}\n}}\n")
    return "\n".join(parts)


def driver_ir(name: str, width: int, driver: str | None = None, scalar: bool = False) -> str:
    """IR of ``void @<driver>(ptr %in, ptr %out, i64 %n)`` applying the vector
    function ``name`` to ``in[0:n]`` (``n`` a multiple of ``width``); with
    ``scalar``: a loop calling the libm function ``@name`` per element (for
    timings).  To be put in one module with ``ir_functions([name], ...)``.  A
    pair function (:data:`PAIR_FUNCS`) writes its components to ``out[0:n]``
    and ``out[n:2n]`` (``scalar``: the libm functions of the components, to be
    declared by the caller)."""
    driver = driver or f"drive_{name}_w{width}{'_libm' if scalar else ''}"
    pair = PAIR_COMPONENTS.get(name)
    if scalar:
        ty, step = "double", 1
        calls = [f"call double @{f}(double %a)" for f in (pair or (name,))]
    else:
        ty, step = f"<{width} x double>", width
        rt = f"{{{ty}, {ty}}}" if pair else ty
        calls = [f"call {rt} @{func_name(name, width)}({ty} %a)"]
    body = [f"  %r{j} = {c}" for j, c in enumerate(calls)]
    if pair and not scalar:
        body = [f"  %rr = {calls[0]}", "  %r0 = extractvalue " + f"{rt} %rr, 0",
                "  %r1 = extractvalue " + f"{rt} %rr, 1"]
    for j in range(2 if pair else 1):
        off = "%i" if j == 0 else "%in2"
        if j:
            body.append("  %in2 = add i64 %i, %n")
        body += [f"  %po{j} = getelementptr double, ptr %out, i64 {off}",
                 f"  store {ty} %r{j}, ptr %po{j}, align 8"]
    body = "\n".join(body)
    return f"""
define void @{driver}(ptr %in, ptr %out, i64 %n) {{
entry:
  %empty = icmp eq i64 %n, 0
  br i1 %empty, label %exit, label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i2, %loop ]
  %pi = getelementptr double, ptr %in, i64 %i
  %a = load {ty}, ptr %pi, align 8
{body}
  %i2 = add i64 %i, {step}
  %more = icmp ult i64 %i2, %n
  br i1 %more, label %loop, label %exit
exit:
  ret void
}}
"""
