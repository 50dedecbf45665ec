"""Double-double ("dd") precision: values ``hi + lo`` of two doubles, a 107-bit
significand (~32 significant digits), computed in compiled code.

* :mod:`.arith` -- dd arithmetic (error-free transformations with fma);
* :mod:`.funcs` -- dd values of the elementary functions;
* :mod:`.special` -- powers, erf, the sigmoid and the Kepler solvers in dd (on
  :mod:`.funcs`);
* :mod:`.poly` -- polynomials with dd coefficients: Horner with the derivative,
  Newton's method from a double root (the dd integrator's event times);
* :mod:`.recur` -- the Taylor-coefficient recurrences of the registry's kernel
  operations in dd;
* :mod:`._build` -- the dd VM over a decomposition and the compiled entry points
  (cached on disk);
* :mod:`.values` -- :class:`DDArray` and the lossless conversion of inputs.

The front end (``taylor_coefficients(..., precision="dd")``) lives in
``taylorjit._frontends.dd``, the integrator (:class:`DDTaylorAdaptive`) in
``taylorjit._integrate.dd``: this package is the layer under both.

Importing this package is cheap: numba code is loaded (or compiled, the first
time) on first use.  See docs/extended-precision.md.
"""
from .values import DDArray

__all__ = ["DDArray", "evaluate"]

# dd value routines reachable through the compiled ``dd_eval`` (tests, accuracy tables):
# name -> (code, number of dd arguments, number of dd results)
EVAL_CODES = {"exp": (0, 1, 1), "expm1": (1, 1, 1), "log": (2, 1, 1), "log1p": (3, 1, 1),
              "sincos": (4, 1, 2), "tan": (5, 1, 1), "atan": (6, 1, 1), "asin": (7, 1, 1),
              "acos": (8, 1, 1), "atan2": (9, 2, 1), "sinhcosh": (10, 1, 2), "tanh": (11, 1, 1),
              "asinh": (12, 1, 1), "acosh": (13, 1, 1), "atanh": (14, 1, 1), "sqrt": (15, 1, 1),
              "pow": (16, 2, 1), "erf": (17, 1, 1), "sigmoid": (18, 1, 1), "kepE": (19, 2, 3),
              "kepF": (20, 3, 3), "kepDE": (21, 3, 3)}


def evaluate(name, *args):
    """The dd value routine ``name`` (:data:`EVAL_CODES`) on arrays of dd arguments
    (anything :meth:`DDArray.from_values` accepts; ``pow``: the exponent's head is
    used, a double).  Returns a DDArray of shape ``(n,)``, or a tuple of them for
    several results (sincos, sinhcosh, kepE/kepF/kepDE with sin and cos)."""
    import numpy as np

    from ._build import entry_points
    from .values import dd_array

    code, nargs, nres = EVAL_CODES[name]
    if len(args) != nargs:
        raise TypeError(f"{name} takes {nargs} argument(s), got {len(args)}")
    parts = [dd_array(a, name) for a in args]
    n = np.atleast_1d(parts[0][0]).size
    XH = np.zeros((3, n))
    XL = np.zeros((3, n))
    for j, (h, l) in enumerate(parts):
        XH[j] = np.broadcast_to(np.atleast_1d(h).reshape(-1), (n,))
        XL[j] = np.broadcast_to(np.atleast_1d(l).reshape(-1), (n,))
    R = np.zeros((n, 6))
    entry_points().dd_eval(code, XH, XL, R)
    out = tuple(DDArray(R[:, 2 * i].copy(), R[:, 2 * i + 1].copy()) for i in range(nres))
    return out[0] if nres == 1 else out
