"""The registry of kernel operations and elementary functions.

Two kinds of entries, both declared next to each other in ``taylorjit/_funcs/``
(one block per function):

* :class:`Op` -- a *kernel operation*: a plain Python function
  ``<name>_coeff(tc, k, *outs, *ins[, c][, pars][, t])`` that writes the
  normalised Taylor coefficient ``k`` of its output slots, given coefficients
  ``0..k`` of its input slots and ``0..k-1`` of its outputs.  ``tc`` has shape
  ``(n_slots, order + 1)``.  The same function is used by the specialised
  kernel (inlined at literal slot numbers), by the compact VM (dispatched
  from a program table) and, un-jitted, by the pure-Python reference path, so
  the three agree to the last bit.
* :class:`Function` -- a user-facing elementary function (``sin``, ``kepE``,
  ...): numeric value, symbolic partial derivatives, how it decomposes into
  kernel operations (with its companions), sympy name, numpy ufunc name,
  mpmath reference and test domain.

Codegen, the VM, the sympy bridge and the tests iterate over these tables; no
other module special-cases a function.
"""
from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass, field
from typing import Callable

# the numba options that switch off reference counting live at the numba boundary (with the
# version check, which therefore runs as soon as the registry is imported)
from .._numba_compat import no_refcount_opts

__all__ = ["Op", "Function", "OPS", "FUNCTIONS", "NUMPY_UFUNCS", "kernel_op", "register_function",
           "registry_hash", "no_refcount_opts"]

OPS: "dict[str, Op]" = {}
FUNCTIONS: "dict[str, Function]" = {}
NUMPY_UFUNCS: "dict[str, Callable]" = {}


@dataclass
class Op:
    """A kernel operation (see module docstring)."""

    name: str
    py: Callable            # the plain Python kernel
    n_out: int
    n_in: int
    has_c: bool = False     # takes a float constant (pow exponent, constant value)
    uses_pars: bool = False # takes the runtime-parameter array
    uses_t: bool = False    # takes the expansion time
    int_in: bool = False    # inputs are integers (parameter index), not slots
    opcode: int = -1
    _jit: object = field(default=None, repr=False)
    _jit_call: object = field(default=None, repr=False)

    @property
    def jit(self):
        """The numba version inlined into its callers (used by specialised kernels)."""
        if self._jit is None:
            from numba import njit

            # no cache=True here or below: numba's cache of a function is keyed by its own
            # file only, so a kernel file's cached code would keep an old copy of a helper
            # from _common.py after the helper changed.  The kernels' code is cached inside
            # the VM and the specialised kernels (whose cache keys hash every _funcs source).
            self._jit = njit(nogil=True, inline="always", error_model="numpy")(self.py)
        return self._jit

    @property
    def jit_call(self):
        """The numba version called, not inlined (used by the VM: inlining all kernels
        into the one dispatch loop made it ~2x slower and its compilation ~3x longer)."""
        if self._jit_call is None:
            from numba import njit

            self._jit_call = njit(nogil=True, error_model="numpy", **no_refcount_opts())(self.py)
        return self._jit_call

    def args(self, tc, k, outs, ins, c, pars, t):
        """Arguments of a call ``py(tc, k, outs..., ins..., [c], [pars], [t])``."""
        args = [tc, k, *outs, *ins]
        if self.has_c:
            args.append(c)
        if self.uses_pars:
            args.append(pars)
        if self.uses_t:
            args.append(t)
        return args

    def call_args(self, outs, ins, c_expr, pars="pars", t="t"):
        """Argument list (as source text) of a call ``py(tc, k, ...)``."""
        return ", ".join(map(str, self.args("tc", "k", outs, ins, c_expr, pars, t)))


def kernel_op(name, n_out=1, n_in=1, has_c=False, uses_pars=False, uses_t=False, int_in=False):
    """Decorator registering a kernel operation ``name`` implemented by the function."""

    def deco(fn):
        if name in OPS:
            raise ValueError(f"kernel operation {name!r} registered twice")
        op = Op(name, fn, n_out, n_in, has_c, uses_pars, uses_t, int_in, opcode=len(OPS))
        OPS[name] = op
        fn.op = op
        return fn

    return deco


@dataclass
class Function:
    """A user-facing elementary function (see module docstring).

    Attributes
    ----------
    name : str
        Public name (``taylorjit.<name>``) and node op of its calls.
    nargs : int
    value : callable
        Double-precision value, used to fold calls on numbers.
    derivative : callable
        ``derivative(*args) -> list`` of the partial derivatives (Expr).
    decompose : callable
        ``decompose(builder, *arg_slots) -> slot`` emits kernel operations.
    mp : callable
        mpmath reference ``mp(*args)`` used by the tests.
    domain : list of (lo, hi)
        Per argument: an interval where the function is real and smooth.
    sympy : str or callable
        A sympy function name (``sympy.<name>``) or a callable building the sympy
        expression from sympy arguments.
    numpy : str or None
        The numpy ufunc name that maps to this function (``"arcsin"``).
    """

    name: str
    nargs: int
    value: Callable
    derivative: Callable
    decompose: Callable
    mp: Callable
    domain: list
    sympy: object
    numpy: str | None = None
    doc: str = ""

    def __call__(self, *args):
        from .expr import Expr, expr

        if len(args) != self.nargs:
            raise TypeError(f"{self.name}() takes {self.nargs} argument(s), got {len(args)}")
        if any(isinstance(a, __import__("numpy").ndarray) and a.ndim > 0 for a in args):
            import numpy as np

            return np.frompyfunc(self, self.nargs, 1)(*args)
        eargs = tuple(expr(a) for a in args)
        if all(a.op == "num" for a in eargs):
            try:
                return expr(self.value(*(a.value for a in eargs)))
            except (ValueError, OverflowError, ZeroDivisionError):
                pass  # keep it symbolic: the kernel will produce the IEEE result
        return Expr(self.name, eargs)


def register_function(name, nargs, *, value, derivative, decompose, mp, domain, sympy,
                      numpy=None, doc=""):
    """Register a user-facing elementary function and return the callable."""
    if name in FUNCTIONS:
        raise ValueError(f"function {name!r} registered twice")
    f = Function(name, nargs, value, derivative, decompose, mp, domain, sympy, numpy, doc)
    FUNCTIONS[name] = f

    def public(*args):
        return f(*args)

    public.__name__ = public.__qualname__ = name
    public.__doc__ = doc or f"Elementary function ``{name}`` of {nargs} argument(s)."
    public.function = f
    if numpy:
        NUMPY_UFUNCS[numpy] = public
    return public


_HASH: dict = {}


def registry_hash() -> str:
    """Hash of the kernel operations (part of all cache keys): their names and the
    full source of the modules defining them.  Whole modules, because numba's
    cache of a kernel does not notice changes in the helpers it calls
    (``quot_rec``, ``kepE_solve``, ...), so those must change the key too."""
    h = _HASH.get(len(OPS))
    if h is not None:
        return h
    import sys

    hasher = hashlib.sha256()
    modules = []
    for op in OPS.values():
        hasher.update(op.name.encode())
        if op.py.__module__ not in modules:
            modules.append(op.py.__module__)
    for m in modules + [f"{__package__}._funcs._common"]:
        mod = sys.modules.get(m)
        hasher.update(inspect.getsource(mod).encode() if mod is not None else m.encode())
    h = hasher.hexdigest()[:16]
    _HASH.clear()
    _HASH[len(OPS)] = h
    return h
