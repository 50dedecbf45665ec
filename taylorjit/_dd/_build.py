"""Loading the compiled dd entry points (:file:`_top.py` with its dispatch block).

The opcodes of the dd VM are this module's own numbering of the registry's
kernel operations (:data:`OPNAMES`), so the registry may add operations
without renumbering anything here: a decomposition using an operation without
a dd kernel raises NotImplementedError naming it (:func:`program`).

The module source is written into taylorjit's kernel cache under a name that
hashes the sources it is compiled from (this package's numba modules
(:data:`_DEPS`), the fma helper and the double Kepler solvers that start the
dd Newton iterations) and numba's version, then imported from there: numba's
cache of the entry points is keyed by that file, so it can never hold code compiled from older sources.  The
first use compiles everything (about a minute on a slow machine); later
processes load it from the disk cache.
"""
from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np

__all__ = ["OPNAMES", "OPCODES", "entry_points", "program", "source_key"]

# dd kernels, in opcode order (the names of the registry's kernel operations)
OPNAMES = ("const", "par", "time", "add", "sub", "neg", "add_s", "sub_us", "sub_su", "mul",
           "mul_s", "div", "div_us", "div_su", "square", "sqrt", "pow", "exp", "expm1", "log",
           "log1p", "sincos", "tan", "asin", "acos", "atan", "atan2", "sinhcosh", "tanh", "asinh",
           "acosh", "atanh", "erf", "sigmoid", "kepE", "kepF", "kepDE", "relup", "relu")
OPCODES = {name: i for i, name in enumerate(OPNAMES)}

_HERE = Path(__file__).resolve().parent
_DEPS = [_HERE / f for f in ("arith.py", "funcs.py", "special.py", "recur.py", "_top.py",
                             "_build.py")] + \
        [_HERE.parent / "_funcs" / f for f in ("_common.py", "kepler.py", "special.py")]

_lock = threading.Lock()
_MOD: dict = {}


def _call(name: str) -> str:
    """The call of kernel ``k_<name>`` in the dispatch block (the registry's arity)."""
    from .._symbolic.registry import OPS

    op = OPS[name]
    args = ["H", "L", "k"] + [f"o{i}" for i in range(op.n_out)] + [f"i{i}" for i in range(op.n_in)]
    if op.has_c:
        args.append("c")
    if op.uses_pars:
        args += ["pH", "pL"]
    if op.uses_t:
        args += ["tH", "tL"]
    return f"k_{name}({', '.join(args)})"


def source() -> str:
    text = (_HERE / "_top.py").read_text(encoding="utf-8")
    lines = []
    for i, name in enumerate(OPNAMES):
        kw = "if" if i == 0 else "elif"
        lines.append(f"            {kw} op == {i}:")
        lines.append(f"                {_call(name)}")
    return text.replace("#DISPATCH#", "\n".join(lines))


def source_key() -> str:
    """The hash naming the compiled dd module: numba's version and the sources it is
    compiled from (modules compiled against it include it in their own key)."""
    import numba

    h = hashlib.sha256(numba.__version__.encode())
    for p in _DEPS:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def entry_points():
    """The module of compiled entry points (``dd_jet``, ``dd_points``, ``dd_eval``,
    ``dd_propagate``): loaded from the disk cache, compiled on first use."""
    mod = _MOD.get("m")
    if mod is not None:
        return mod
    with _lock:
        mod = _MOD.get("m")
        if mod is None:
            from .._codegen import cache as _cache

            name = f"ddvm_{source_key()}"
            path = _cache.write_source(name, source())
            mod = _cache.load_module(path, f"taylorjit_cache_{name}", {})
            _MOD["m"] = mod
    return mod


def program(d, ode: bool):
    """``(prog, cvals, upd)`` of a :class:`~taylorjit._codegen.decompose.Decomposition` for
    the dd VM: rows ``[opcode, out0..out3, in0..in2]`` in the decomposition's
    order, the operations' constants, and for an ODE the rows
    ``(state slot, right-hand-side slot)``."""
    rows = []
    cv = []
    for name, outs, ins, c in d.ops:
        code = OPCODES.get(name)
        if code is None:
            raise NotImplementedError(
                f"the kernel operation {name!r} has no double-double recurrence yet "
                f"(precision='dd' supports: {', '.join(OPNAMES)}); use double precision "
                "for this expression")
        rows.append([code, *outs, *([0] * (4 - len(outs))), *ins, *([0] * (3 - len(ins)))])
        cv.append(0.0 if c is None else float(c))
    prog = np.array(rows, dtype=np.int64).reshape(-1, 8)
    cvals = np.array(cv, dtype=np.float64)
    if ode:
        if len(d.outputs) < d.n_in:
            raise ValueError("an ODE decomposition needs one right-hand side per state variable")
        upd = np.array([[i, d.outputs[i]] for i in range(d.n_in)], dtype=np.int64).reshape(-1, 2)
    else:
        upd = np.zeros((0, 2), dtype=np.int64)
    return np.ascontiguousarray(prog), cvals, upd
