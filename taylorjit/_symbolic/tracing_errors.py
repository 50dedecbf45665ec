"""Error reporting of the tracer (:mod:`.tracing`): the user's line, hints, random numbers.

:func:`_raise_traced` re-raises an exception from the user's function as a
:class:`~taylorjit.TracingError` naming the construct, the user's ``file:line``
and a rewrite hint; :class:`_RandomWatch` and :func:`check_random` detect random
numbers drawn while tracing (their value would be frozen into the compiled
system).  Used by :mod:`.tracing` and the differentiable front end.
"""
from __future__ import annotations

import inspect
import os
import random as _pyrandom
import sys
import traceback

import numpy as np

from .expr import TracingError

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # taylorjit/
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__))
_STDLIB_DIR = os.path.dirname(os.path.abspath(os.__file__))


# ----------------------------------------------------------------- random-number detection
_RNG_TYPES = (np.random.RandomState, np.random.Generator, _pyrandom.Random)


def _is_library_file(filename):
    fn = os.path.abspath(filename)
    return (fn.startswith(_PKG_DIR) or fn.startswith(_NUMPY_DIR) or fn.startswith(_STDLIB_DIR)
            or filename.startswith("<frozen"))


def _rng_state(g):
    st = g.bit_generator.state if isinstance(g, np.random.Generator) else g.get_state(legacy=False)
    return _freeze(st)


def _freeze(obj):
    """A cheaply comparable copy of a generator state (dicts of ints and arrays)."""
    if isinstance(obj, dict):
        return tuple((k, _freeze(v)) for k, v in obj.items())
    if isinstance(obj, np.ndarray):
        return obj.tobytes()
    return obj


class _RandomWatch:
    """Detects random numbers drawn while tracing.

    Python's ``random`` functions are seen by a profile hook (with the user's
    line); numpy generators are Cython methods that profile hooks do not see, so
    the states of the global numpy generator and of the generators the function
    can reach (arguments, globals, closure) are compared before and after.
    """

    def __init__(self, func, args):
        self.hit = None
        self.previous = None
        rngs = [np.random.mtrand._rand]
        cands = list(args)
        if func is not None:
            g = func.__globals__
            cands += [g[nm] for nm in func.__code__.co_names if nm in g]
            for cell in func.__closure__ or ():
                try:
                    cands.append(cell.cell_contents)
                except ValueError:
                    pass
        rngs += [c for c in cands if isinstance(c, (np.random.Generator, np.random.RandomState))]
        self.rngs = rngs
        self.before = [_rng_state(r) for r in rngs]

    def changed(self):
        return any(_rng_state(r) != b for r, b in zip(self.rngs, self.before))

    def __call__(self, frame, event, arg):
        if self.hit is None and event == "c_call":
            owner = getattr(arg, "__self__", None)
            if isinstance(owner, _RNG_TYPES) and not _is_library_file(frame.f_code.co_filename):
                self.hit = (getattr(arg, "__name__", "?"), frame.f_code.co_filename,
                            frame.f_lineno, frame.f_code.co_name, "random")

    def __enter__(self):
        self.previous = sys.getprofile()
        if self.previous is None:
            sys.setprofile(self)
        return self

    def __exit__(self, *exc):
        if self.previous is None:
            sys.setprofile(None)
        return False


def _random_line(func):
    """(file, line, name) of the first source line of ``func`` mentioning random numbers."""
    try:
        lines, first = inspect.getsourcelines(func)
        fname = inspect.getsourcefile(func)
    except (OSError, TypeError):
        return None
    for i, ln in enumerate(lines):
        if "random" in ln or "rng" in ln:
            return fname, first + i, func.__name__
    return fname, first, func.__name__


# ----------------------------------------------------------------- error reporting
_BRANCH_HINT = ("a branch on a symbolic value is decided where the function is traced at a "
                "point: tj.solve_ivp's right-hand side handles it (each branch becomes a "
                "smooth piece, switched at the exact crossing). Elsewhere (event functions, "
                "expressions built for tj.TaylorAdaptive/cfunc) write tj.select(cond, a, b)")
_HINTS = [
    ("np.where", "np.where: " + _BRANCH_HINT),
    ("np.select", "np.select: " + _BRANCH_HINT),
    ("np.piecewise", "np.piecewise: " + _BRANCH_HINT),
    ("np.clip", "np.clip: " + _BRANCH_HINT),
    ("np.maximum", "np.maximum/np.minimum: " + _BRANCH_HINT),
    ("np.minimum", "np.maximum/np.minimum: " + _BRANCH_HINT),
    ("max(", "max()/min(): " + _BRANCH_HINT),
    ("min(", "max()/min(): " + _BRANCH_HINT),
    ("np.sign", "np.sign: " + _BRANCH_HINT),
    ("if ", _BRANCH_HINT),
    ("math.", "math.* functions convert their argument to float; use np.sin, np.sqrt ... (or "
              "tj.sin ...) inside the right-hand side"),
    ("np.empty(", "do not write into a float array created with np.empty/np.zeros: build the "
                  "result with np.array([...]) or a list, or create it with "
                  "np.zeros(n, dtype=object)"),
    ("np.zeros(", "do not write into a float array created with np.empty/np.zeros: build the "
                  "result with np.array([...]) or a list, or create it with "
                  "np.zeros(n, dtype=object)"),
]


def _user_frame(tb, func):
    """(filename, lineno, name, line) of the innermost frame in user code."""
    best = None
    code = getattr(func, "__code__", None)
    for fs, (frame, lineno) in zip(traceback.extract_tb(tb), traceback.walk_tb(tb)):
        if frame.f_code is code:
            best = (fs.filename, lineno, fs.name, fs.line or "")
        elif not _is_library_file(fs.filename):
            best = (fs.filename, lineno, fs.name, fs.line or "")
    return best


def _raise_traced(exc, func, what):
    where = _user_frame(exc.__traceback__, func)
    msg = str(exc)
    if isinstance(exc, TypeError) and "loop of ufunc does not support" in msg:
        msg = ("a numpy function that taylorjit cannot trace was applied to an array of "
               f"symbolic expressions ({msg}). Supported numpy functions: arithmetic, **, "
               "np.sin/cos/tan/arcsin/arccos/arctan/arctan2/sinh/cosh/tanh/exp/expm1/log/"
               "log1p/sqrt/square, np.dot, @, np.sum, np.linalg.norm")
    elif not isinstance(exc, TracingError):
        msg = f"{type(exc).__name__}: {msg}"
    line = ""
    if where is not None:
        fname, lineno, name, src = where
        line = f"\n    {fname}:{lineno}, in {name}: {src.strip()}"
        for key, hint in _HINTS:
            if key in src:
                msg += f". Hint: {hint}"
                break
    err = TracingError(f"cannot trace {what}: {msg}{line}")
    err.filename, err.lineno = (where[0], where[1]) if where else (None, None)
    raise err from None


def check_random(watch, plain, what):
    """Raise the TracingError of a :class:`_RandomWatch` that saw random numbers drawn
    while ``plain`` (the user's function, or None) was traced."""
    if watch.hit is None and watch.changed():
        where = _random_line(plain) if plain is not None else None
        fname, lineno, code_name = where or ("?", 0, "?")
        watch.hit = ("<generator>", fname, lineno, code_name, "numpy.random")
    if watch.hit is not None:
        name, fname, lineno, code_name, mod = watch.hit
        err = TracingError(
            f"cannot trace {what}: it draws random numbers ({mod}.{name}) at "
            f"{fname}:{lineno}, in {code_name}. The value drawn while tracing would be frozen "
            "into the compiled system. Draw the random values outside and pass them in args "
            "(float arguments become runtime parameters); stochastic equations are not "
            "supported")
        err.filename, err.lineno = fname, lineno
        raise err
