"""Double-double values in and out: :class:`DDArray` and the conversions of user input.

Inputs are converted without loss (to the nearest dd, |error| <= 2^-107 relative):

* floats, integers (exactly, beyond 2^53 too), numpy floats, ``np.longdouble``;
* decimal strings (``"0.1"``, ``"1e-5"``, ``"1/3"``), parsed exactly (as fractions) and
  rounded once to the nearest dd -- ``"0.1"`` is one tenth, not the double 0.1;
* ``decimal.Decimal``, ``fractions.Fraction``, mpmath ``mpf`` (exactly);
* ``(hi, lo)`` tuples of two numbers (their exact sum) and :class:`DDArray` values;
* other objects with ``as_integer_ratio()`` (exact), else their ``str()`` parsed as a
  decimal (e.g. quad-precision numpy scalars).
"""
from __future__ import annotations

import decimal
import math
import numbers
from fractions import Fraction

import numpy as np

__all__ = ["DDArray", "dd_scalar", "dd_array", "fraction_to_dd"]


def fraction_to_dd(q: Fraction, what="value"):
    """The nearest dd ``(hi, lo)`` of a rational: hi the nearest double, lo the
    nearest double of the remainder."""
    try:
        hi = float(q)
    except OverflowError:
        raise ValueError(f"{what} is outside the range of double-double numbers "
                         "(|x| < 1.8e308)") from None
    if not math.isfinite(hi):
        raise ValueError(f"{what} is outside the range of double-double numbers (|x| < 1.8e308)")
    lo = float(q - Fraction(hi))
    return hi, lo


def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _is_real_number(x):
    return isinstance(x, (numbers.Real, np.floating, np.integer)) and not isinstance(
        x, (bool, np.bool_))


def dd_scalar(x, what="value"):
    """``x`` as a dd pair ``(hi, lo)`` of Python floats, without loss (module docstring)."""
    if isinstance(x, DDArray):
        if x.size != 1:
            raise ValueError(f"{what} must be one number, got a DDArray of shape {x.shape}")
        return float(x.hi.reshape(-1)[0]), float(x.lo.reshape(-1)[0])
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{what} must be a real number, got the boolean {x!r}")
    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x[()]
    if type(x) is float or isinstance(x, (np.float64, np.float32, np.float16)):
        v = float(x)
        if not math.isfinite(v):
            raise ValueError(f"{what} must be finite, got {v!r}")
        return v, 0.0
    if isinstance(x, tuple):
        if len(x) != 2 or not all(_is_real_number(v) for v in x):
            raise TypeError(f"{what}: a tuple is read as a (hi, lo) pair of two numbers, got "
                            f"{x!r}; pass lists for several values")
        hi, lo = float(x[0]), float(x[1])
        if not (math.isfinite(hi) and math.isfinite(lo)):
            raise ValueError(f"{what} must be finite, got the pair {x!r}")
        if float(x[0]) != x[0] or float(x[1]) != x[1]:
            return fraction_to_dd(Fraction(x[0]) + Fraction(x[1]), what)
        return _two_sum(hi, lo)
    if isinstance(x, str):
        s = x.strip().replace("_", "")
        try:
            q = Fraction(s)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{what}: cannot read {x!r} as a decimal number (examples: '0.1', "
                             "'-2.5e-3', '1/3')") from None
        return fraction_to_dd(q, what)
    if isinstance(x, (int, np.integer)):
        return fraction_to_dd(Fraction(int(x)), what)
    if isinstance(x, (Fraction, decimal.Decimal)):
        if isinstance(x, decimal.Decimal) and not x.is_finite():
            raise ValueError(f"{what} must be finite, got {x!r}")
        return fraction_to_dd(Fraction(x), what)
    if isinstance(x, complex) or (isinstance(x, numbers.Complex) and not isinstance(x, numbers.Real)):
        raise TypeError(f"{what} has a complex value ({x!r}): pass a real number")
    mpf = _mpf_class()
    if mpf is not None and isinstance(x, mpf):
        import mpmath

        if not mpmath.isfinite(x):
            raise ValueError(f"{what} must be finite, got {x!r}")
        man, exp = x.man_exp
        q = Fraction(int(man)) * (Fraction(2) ** int(exp))
        return fraction_to_dd(q, what)
    ratio = getattr(x, "as_integer_ratio", None)
    if ratio is not None:
        try:
            num, den = ratio()
        except (OverflowError, ValueError):
            raise ValueError(f"{what} must be finite, got {x!r}") from None
        return fraction_to_dd(Fraction(int(num), int(den)), what)
    if isinstance(x, (list, np.ndarray)):
        raise ValueError(f"{what} must be one number, got a sequence {x!r:.60}")
    try:
        q = Fraction(str(x).strip())
    except (ValueError, ZeroDivisionError):
        raise TypeError(f"{what} must be a real number (float, int, decimal string, "
                        f"mpmath mpf, (hi, lo) pair), got {type(x).__name__} {x!r:.60}") from None
    return fraction_to_dd(q, what)


def _mpf_class():
    import sys

    mp = sys.modules.get("mpmath")
    return None if mp is None else mp.mpf


def dd_array(x, what="value"):
    """``x`` (a nested list, array, DDArray, or one number) as a pair of float64 arrays
    ``(hi, lo)`` of the same shape, without loss.  In lists, tuples of two numbers are
    (hi, lo) pairs; lists are dimensions."""
    if isinstance(x, DDArray):
        return x.hi.copy(), x.lo.copy()
    if isinstance(x, np.ndarray):
        k = x.dtype.kind
        if k in "fiu" and x.dtype != np.longdouble and x.dtype.itemsize <= 8:
            if k != "f" and x.size and np.max(np.abs(x)) > 2 ** 53:
                return _dd_obj(x.astype(object), what)
            hi = x.astype(np.float64)
            if not np.all(np.isfinite(hi)):
                raise ValueError(f"{what} contains non-finite values")
            return hi, np.zeros_like(hi)
        if x.dtype == np.longdouble:
            hi = x.astype(np.float64)
            lo = (x - hi.astype(np.longdouble)).astype(np.float64)
            if not (np.all(np.isfinite(hi)) and np.all(np.isfinite(lo))):
                raise ValueError(f"{what} contains non-finite values or values outside the "
                                 "range of doubles")
            return hi, lo
        if k == "b":
            raise TypeError(f"{what} must be real numbers, got booleans")
        if k == "c":
            raise TypeError(f"{what} has complex values: pass real numbers")
        return _dd_obj(x.astype(object) if k != "O" else x, what)
    if isinstance(x, list) or (isinstance(x, tuple) and not _is_pair(x)):
        items = [dd_array(v, what) for v in x]
        if not items:
            return np.zeros(0), np.zeros(0)
        shapes = {i[0].shape for i in items}
        if len(shapes) != 1:
            raise ValueError(f"{what} is a ragged nested sequence: all rows need the same length")
        return np.stack([i[0] for i in items]), np.stack([i[1] for i in items])
    hi, lo = dd_scalar(x, what)
    return np.array(hi), np.array(lo)


def _is_pair(x):
    return isinstance(x, tuple) and len(x) == 2 and all(_is_real_number(v) for v in x)


def _dd_obj(a, what):
    hi = np.empty(a.shape)
    lo = np.empty(a.shape)
    for idx, v in np.ndenumerate(a):
        hi[idx], lo[idx] = dd_scalar(v, what)
    return hi, lo


# --------------------------------------------------------------------------- output type
def _exact(h, l):
    return Fraction(float(h)) + Fraction(float(l))


def dd_str(h, l) -> str:
    """Every digit of the dd ``h + l``: the shortest decimal (17 to 36 significant
    digits) that converts back to exactly this pair (:func:`fraction_to_dd`); if
    there is none (a pair whose tail is zero or far below the head's last bit, as
    a plain double), the shortest that is within half a unit of the 107th bit of
    the value, i.e. that converts back to the same number at dd precision; the
    exact decimal expansion in the remaining (subnormal) cases."""
    h = float(h)
    l = float(l)
    if not math.isfinite(h):
        return repr(h)
    if l == 0.0 and h == 0.0:
        return "0.0" if math.copysign(1.0, h) > 0 else "-0.0"
    dh = decimal.Decimal(h)
    dl = decimal.Decimal(l)
    cands = []
    for n in range(17, 37):
        d = decimal.Context(prec=n, rounding=decimal.ROUND_HALF_EVEN).add(dh, dl)
        if fraction_to_dd(Fraction(d)) == (h, l):
            return _fmt(d)
        cands.append(d)
    exact = Fraction(h) + Fraction(l)
    tol = Fraction(2) ** (math.frexp(h)[1] - 108)
    for d in cands:
        if abs(Fraction(d) - exact) <= tol:
            return _fmt(d)
    return _fmt(decimal.Context(prec=2000).add(dh, dl))


def _fmt(d: decimal.Decimal) -> str:
    """Plain notation for moderate exponents, scientific otherwise (as Python floats)."""
    sign, digits, exp = d.as_tuple()
    digits = list(digits)
    while len(digits) > 1 and digits[-1] == 0:     # strip trailing zeros
        digits.pop()
        exp += 1
    n = len(digits)
    adj = exp + n - 1                       # exponent of the first digit
    ds = "".join(map(str, digits))
    s = "-" if sign else ""
    if -5 <= adj < 17:
        if exp >= 0:
            return s + ds + "0" * exp + ".0"
        if adj >= 0:
            return s + ds[:adj + 1] + "." + ds[adj + 1:]
        return s + "0." + "0" * (-adj - 1) + ds
    mant = ds[0] + ("." + ds[1:] if n > 1 else ".0")
    return f"{s}{mant}e{'+' if adj >= 0 else '-'}{abs(adj):02d}"


class DDArray:
    """An array of double-double numbers, each the exact sum ``hi + lo`` of two
    doubles (~32 significant digits).

    Attributes ``hi`` and ``lo`` are float64 arrays of the same shape.
    ``str()`` prints every element with the shortest decimal that converts back to
    exactly the same pair (31-34 digits for ordinary values); :meth:`to_mpmath`
    converts exactly; ``np.asarray(a)`` (and ``float(a)``) round to double.

    Examples
    --------
    >>> import taylorjit as tj
    >>> a = tj.DDArray.from_values(["0.1", "1/3"])      # exact decimals, nearest dd
    >>> print(a)
    [0.1 0.333333333333333333333333333333332]
    >>> a.as_pairs()
    array([[ 1.00000000e-01, -5.55111512e-18],
           [ 3.33333333e-01,  1.85037171e-17]])
    >>> from fractions import Fraction
    >>> float(a.to_fractions()[1] - Fraction(1, 3))     # the dd's exact distance to 1/3
    -1.0271626370065257e-33
    """

    __slots__ = ("hi", "lo")
    __array_priority__ = 20

    def __init__(self, hi, lo=None):
        hi = np.array(hi, dtype=np.float64)
        lo = np.zeros_like(hi) if lo is None else np.array(lo, dtype=np.float64)
        if hi.shape != lo.shape:
            raise ValueError(f"hi and lo have different shapes {hi.shape} and {lo.shape}")
        self.hi = hi
        self.lo = lo

    @classmethod
    def from_values(cls, values):
        """A DDArray from any input the dd functions accept (floats, decimal strings,
        mpmath numbers, (hi, lo) tuples, nested lists of them), without loss."""
        return cls(*dd_array(values, "values"))

    @classmethod
    def from_pairs(cls, pairs):
        """From an array of shape ``(..., 2)`` of (hi, lo) pairs."""
        p = np.asarray(pairs, dtype=np.float64)
        if p.ndim == 0 or p.shape[-1] != 2:
            raise ValueError(f"expected an array of shape (..., 2), got {p.shape}")
        return cls(p[..., 0], p[..., 1])

    # array protocol ---------------------------------------------------------------
    @property
    def shape(self):
        return self.hi.shape

    @property
    def ndim(self):
        return self.hi.ndim

    @property
    def size(self):
        return self.hi.size

    def __len__(self):
        if self.hi.ndim == 0:
            raise TypeError("len() of a 0-d DDArray")
        return len(self.hi)

    def __getitem__(self, idx):
        return DDArray(self.hi[idx], self.lo[idx])

    def __iter__(self):
        if self.hi.ndim == 0:
            raise TypeError("iteration over a 0-d DDArray")
        for i in range(len(self.hi)):
            yield self[i]

    def __array__(self, dtype=None, copy=None):
        a = self.hi + self.lo
        return a if dtype is None else a.astype(dtype)

    def __float__(self):
        if self.hi.size != 1:
            raise TypeError("only one-element DDArrays convert to float")
        return float(self.hi.reshape(-1)[0] + self.lo.reshape(-1)[0])

    def as_pairs(self) -> np.ndarray:
        """An array of shape ``(..., 2)``: ``[..., 0]`` the heads, ``[..., 1]`` the tails."""
        return np.stack([self.hi, self.lo], axis=-1)

    def to_mpmath(self):
        """The values as mpmath numbers (exact: the working precision is raised as
        needed): an ``mpf`` for a 0-d array, else an object array of ``mpf``."""
        import mpmath

        def one(h, l):
            return mpmath.fadd(mpmath.mpf(float(h)), mpmath.mpf(float(l)), exact=True)

        if self.hi.ndim == 0:
            return one(self.hi[()], self.lo[()])
        out = np.empty(self.hi.shape, dtype=object)
        for idx in np.ndindex(self.hi.shape):
            out[idx] = one(self.hi[idx], self.lo[idx])
        return out

    def to_fractions(self):
        """The exact values as ``fractions.Fraction`` (object array, or one Fraction)."""
        if self.hi.ndim == 0:
            return _exact(self.hi[()], self.lo[()])
        out = np.empty(self.hi.shape, dtype=object)
        for idx in np.ndindex(self.hi.shape):
            out[idx] = _exact(self.hi[idx], self.lo[idx])
        return out

    def tolist(self):
        """Nested lists of the element strings (:func:`dd_str`)."""
        if self.hi.ndim == 0:
            return dd_str(self.hi[()], self.lo[()])
        return [self[i].tolist() for i in range(len(self.hi))]

    def __str__(self):
        def fmt(x):
            if isinstance(x, list):
                return "[" + " ".join(fmt(v) for v in x) + "]"
            return x

        return fmt(self.tolist())

    def __repr__(self):
        def fmt(x):
            if isinstance(x, list):
                return "[" + ", ".join(fmt(v) for v in x) + "]"
            return x

        return f"DDArray({fmt(self.tolist())})"

    def __neg__(self):
        return DDArray(-self.hi, -self.lo)

    def __eq__(self, other):
        if not isinstance(other, DDArray):
            return NotImplemented
        return bool(np.array_equal(self.hi, other.hi) and np.array_equal(self.lo, other.lo))

    __hash__ = None
