"""Arbitrary-precision values in and out.

Inputs are converted without loss, then rounded once to the nearest number of
the precision (``p`` bits, round to nearest):

* floats, integers, numpy floats and integers, ``np.longdouble``;
* decimal strings (``"0.1"``, ``"1e-5"``, ``"1/3"``), parsed exactly as fractions --
  ``"0.1"`` is one tenth, not the double 0.1;
* ``fractions.Fraction``, ``decimal.Decimal``, mpmath ``mpf`` (of any precision);
* ``(hi, lo)`` tuples of two numbers (their exact sum) and double-double arrays
  (``tj.DDArray``: read through their ``hi`` and ``lo`` attributes);
* numpy_quaddtype values (``QuadPrecision`` scalars, ``QuadPrecDType`` arrays): read
  exactly (``as_integer_ratio``; their ``str()`` is only the shortest round-tripping
  decimal), so at ``p >= 113`` bits they are kept exactly;
* other objects with ``as_integer_ratio()`` (exact), else their ``str()`` parsed as a
  decimal.

Outputs are :class:`MPReal` values: mpmath ``mpf`` numbers (a subclass) that
remember their precision, so that ``str()`` prints every digit (the shortest
decimal that converts back to the same ``p``-bit number) and pickling keeps
it.  Arithmetic on them is mpmath's, at mpmath's working precision
(``mpmath.mp.prec``), and gives plain ``mpf`` numbers.  :meth:`MPReal.to_quad`
(and :func:`to_quad` on an object array of them) rounds once to a numpy_quaddtype
value (113 bits, to nearest with ties to even).
"""
from __future__ import annotations

import decimal
import math
import numbers
from fractions import Fraction

import mpmath
import numpy as np
from mpmath import libmp

from . import num as N

__all__ = ["MPReal", "mp_scalar", "mp_array", "out_array", "out_scalar", "check_precision",
           "to_quad"]


def check_precision(bits):
    """``bits`` as an int in [MIN_PREC, MAX_PREC] (TypeError / ValueError otherwise)."""
    if isinstance(bits, (bool, np.bool_)) or not isinstance(bits, (int, np.integer)):
        raise TypeError(f"precision must be 'double', 'dd' or a number of bits (an int such as "
                        f"113 or 256), got {bits!r}")
    bits = int(bits)
    if not (N.MIN_PREC <= bits <= N.MAX_PREC):
        raise ValueError(f"precision={bits}: the number of bits must be between {N.MIN_PREC} "
                         f"and {N.MAX_PREC}")
    return bits


class MPReal(mpmath.mpf):
    """An mpmath ``mpf`` that knows its precision: ``str()`` gives every digit
    (the shortest decimal that converts back to the same number at that
    precision), ``repr()`` is ``mpf('<digits>')``.  Arithmetic and functions work
    as on any mpf, at mpmath's working precision."""

    __slots__ = ("_prec",)

    def __new__(cls, t, prec):
        obj = object.__new__(cls)
        obj._mpf_ = t
        obj._prec = int(prec)
        return obj

    @property
    def prec(self) -> int:
        """The precision (bits) of the number (at least that of its mantissa)."""
        return max(self._prec, self._mpf_[3])

    def __str__(self):
        t = self._mpf_
        if not t[1]:
            return libmp.to_str(t, 15)
        prec = self.prec
        d0 = max(1, libmp.prec_to_dps(prec))
        for dps in range(d0, d0 + 4):
            s = libmp.to_str(t, dps)
            if libmp.from_str(s, prec, libmp.round_nearest) == t:
                return s
        return libmp.to_str(t, libmp.repr_dps(prec))

    def __repr__(self):
        return f"mpf('{self}')"

    def to_quad(self, backend="sleef"):
        """The number as a numpy_quaddtype ``QuadPrecision`` scalar, rounded once to
        113 bits (to nearest, ties to even); exact when ``prec <= 113``.  Needs the
        numpy-quaddtype package."""
        return to_quad(self, backend)[()]

    def __reduce__(self):
        return (MPReal, (self._mpf_, self._prec))


def to_quad(x, backend="sleef"):
    """A number or an (object) array of numbers (:class:`MPReal`, mpf, or anything
    the precision's inputs read) as a numpy_quaddtype array, each value rounded once
    to 113 bits (to nearest, ties to even; in the normal range of quads)."""
    try:
        import numpy_quaddtype as nq
    except ImportError:
        raise ImportError("quad output needs the numpy-quaddtype package "
                          "(pip install numpy-quaddtype)") from None
    a = np.asarray(x, dtype=object) if not isinstance(x, np.ndarray) or x.dtype.kind != "O" \
        else x
    out = np.empty(a.shape, dtype=nq.QuadPrecDType(backend=backend))
    for idx, v in np.ndenumerate(a):
        t = v._mpf_ if hasattr(v, "_mpf_") else mp_scalar(v, QUAD_BITS)
        t = t if isinstance(t, tuple) and len(t) == 4 else N.to_tuple(t)
        out[idx] = _quad_of_tuple(libmp.normalize(*t, QUAD_BITS, libmp.round_nearest),
                                  nq.QuadPrecision)
    return out


QUAD_BITS = 113


def _quad_of_tuple(t, qcls):
    """An mpf tuple of at most 113 bits as a quad, exactly: an integer of at most 113
    bits converts exactly, and products by powers of two that stay normal are exact."""
    sign, man, exp, bc = t
    if not man:
        if exp:
            raise ValueError(f"cannot convert {libmp.to_str(t, 10)} to a quad")
        return qcls(0.0)
    if not (-16382 <= exp + bc - 1 < 16384):
        raise ValueError("value outside the normal range of quad numbers (2^-16382 to 2^16384)")
    q = qcls(-int(man) if sign else int(man))
    while exp:
        step = max(-1000, min(1000, exp))
        q = q * qcls(math.ldexp(1.0, step))
        exp -= step
    return q


def is_quad(x) -> bool:
    """A numpy_quaddtype scalar or array (by module and class name: nothing imported)."""
    t = type(x.dtype if isinstance(x, np.ndarray) else x)
    return t.__module__.split(".")[0] == "numpy_quaddtype" and t.__name__ in (
        "QuadPrecision", "QuadPrecDType")


def out_scalar(a, p):
    """A pair as an :class:`MPReal` of precision ``p``."""
    return MPReal(N.to_tuple(a), p)


def out_array(pairs, shape, p):
    """An object array of :class:`MPReal` from a flat sequence of pairs."""
    out = np.empty(len(pairs), dtype=object)
    for i, a in enumerate(pairs):
        out[i] = MPReal(N.to_tuple(a), p)
    return out.reshape(shape)


def _rational(q: Fraction, p):
    return N.from_tuple(libmp.from_rational(q.numerator, q.denominator, p, libmp.round_nearest), p)


def _is_real_number(x):
    return isinstance(x, (numbers.Real, np.floating, np.integer)) and not isinstance(
        x, (bool, np.bool_))


def _exact(x, what):
    """``x`` (one number) as an exact Fraction, or an mpf tuple for mpmath numbers."""
    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x[()]
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{what} must be a real number, got the boolean {x!r}")
    if is_quad(x):
        try:
            return Fraction(*x.as_integer_ratio())
        except (OverflowError, ValueError):
            raise ValueError(f"{what} must be finite, got {x!r}") from None
    if type(x) is float or isinstance(x, np.floating):
        if not math.isfinite(float(x)) if not isinstance(x, np.longdouble) else \
                not np.isfinite(x):
            raise ValueError(f"{what} must be finite, got {x!r}")
        return Fraction(*x.as_integer_ratio())
    if isinstance(x, (int, np.integer)):
        return Fraction(int(x))
    if isinstance(x, str):
        s = x.strip().replace("_", "")
        try:
            return Fraction(s)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{what}: cannot read {x!r} as a decimal number (examples: '0.1', "
                             "'-2.5e-3', '1/3')") from None
    if isinstance(x, Fraction):
        return x
    if isinstance(x, decimal.Decimal):
        if not x.is_finite():
            raise ValueError(f"{what} must be finite, got {x!r}")
        return Fraction(x)
    if isinstance(x, tuple):
        if len(x) != 2 or not all(_is_real_number(v) for v in x):
            raise TypeError(f"{what}: a tuple is read as a (hi, lo) pair of two numbers, got "
                            f"{x!r}; pass lists for several values")
        a, b = _exact(x[0], what), _exact(x[1], what)
        return a + b
    t = getattr(x, "_mpf_", None)
    if t is not None:
        if t[1] == 0 and (t[2] or t[3]):
            raise ValueError(f"{what} must be finite, got {x!r}")
        return t
    if hasattr(x, "_mpc_") or isinstance(x, complex) or (
            isinstance(x, numbers.Complex) and not isinstance(x, numbers.Real)):
        raise TypeError(f"{what} has a complex value ({x!r}): pass a real number")
    if _is_dd(x):
        if x.size != 1:
            raise ValueError(f"{what} must be one number, got a DDArray of shape {x.shape}")
        return Fraction(float(x.hi.reshape(-1)[0])) + Fraction(float(x.lo.reshape(-1)[0]))
    ratio = getattr(x, "as_integer_ratio", None)
    if ratio is not None:
        try:
            n, d = ratio()
        except (OverflowError, ValueError):
            raise ValueError(f"{what} must be finite, got {x!r}") from None
        return Fraction(int(n), int(d))
    if isinstance(x, (list, np.ndarray)):
        raise ValueError(f"{what} must be one number, got a sequence {x!r:.60}")
    try:
        return Fraction(str(x).strip())
    except (ValueError, ZeroDivisionError):
        raise TypeError(f"{what} must be a real number (float, int, decimal string, Fraction, "
                        f"Decimal, mpmath mpf, (hi, lo) pair), got {type(x).__name__} "
                        f"{x!r:.60}") from None


def _is_dd(x):
    return type(x).__name__ == "DDArray" and hasattr(x, "hi") and hasattr(x, "lo")


def mp_scalar(x, p, what="value"):
    """One number as a ``p``-bit pair (module docstring)."""
    q = _exact(x, what)
    if isinstance(q, tuple):
        return N.from_tuple(q, p)
    return _rational(q, p)


def mp_array(x, p, what="value"):
    """``(pairs, shape)``: a nested list / array / DDArray / number as a flat list of
    ``p``-bit pairs and its shape.  In lists, tuples of two numbers are (hi, lo) pairs."""
    if _is_dd(x):
        hi = np.asarray(x.hi, dtype=np.float64)
        lo = np.asarray(x.lo, dtype=np.float64)
        pairs = [_rational(Fraction(float(h)) + Fraction(float(l)), p)
                 for h, l in zip(hi.reshape(-1).tolist(), lo.reshape(-1).tolist())]
        return pairs, hi.shape
    if isinstance(x, np.ndarray):
        if x.dtype.kind == "b":
            raise TypeError(f"{what} must be real numbers, got booleans")
        if x.dtype.kind == "c":
            raise TypeError(f"{what} has complex values: pass real numbers")
        if x.dtype.kind == "f" and x.dtype.itemsize <= 8:
            if not np.all(np.isfinite(x)):
                raise ValueError(f"{what} contains non-finite values")
            return [N.from_float(v, p) for v in x.astype(np.float64).reshape(-1).tolist()], x.shape
        return [mp_scalar(v, p, what) for v in x.reshape(-1)], x.shape
    if isinstance(x, list) or (isinstance(x, tuple) and not _is_pair(x)):
        items = [mp_array(v, p, what) for v in x]
        if not items:
            return [], (0,)
        shapes = {s for _, s in items}
        if len(shapes) != 1:
            raise ValueError(f"{what} is a ragged nested sequence: all rows need the same length")
        return [a for pairs, _ in items for a in pairs], (len(items),) + items[0][1]
    return [mp_scalar(x, p, what)], ()


def _is_pair(x):
    return isinstance(x, tuple) and len(x) == 2 and all(_is_real_number(v) for v in x)
