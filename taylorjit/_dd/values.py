"""Double-double values in and out: :class:`DDArray` and the conversions of user input.

Inputs are converted without loss (to the nearest dd, |error| <= 2^-107 relative):

* floats, integers (exactly, beyond 2^53 too), numpy floats, ``np.longdouble``;
* decimal strings (``"0.1"``, ``"1e-5"``, ``"1/3"``), parsed exactly (as fractions) and
  rounded once to the nearest dd -- ``"0.1"`` is one tenth, not the double 0.1;
* ``decimal.Decimal``, ``fractions.Fraction``, mpmath ``mpf`` (exactly);
* ``(hi, lo)`` tuples of two numbers (their exact sum) and :class:`DDArray` values;
* numpy_quaddtype values (``QuadPrecision`` scalars and arrays of ``QuadPrecDType``,
  113-bit significands): read exactly (``as_integer_ratio``, not ``str()``, which is
  only the shortest round-tripping decimal) and rounded once to the nearest dd;
* other objects with ``as_integer_ratio()`` (exact), else their ``str()`` parsed as a
  decimal.

Out: :meth:`DDArray.to_quad` (and :func:`to_quad` for dd, mpmath and other exact
inputs) gives numpy_quaddtype arrays, each value rounded once (to nearest, ties to
even) to 113 bits.  numpy_quaddtype is imported only when quad values are asked for.
"""
from __future__ import annotations

import decimal
import math
import numbers
from fractions import Fraction

import numpy as np

__all__ = ["DDArray", "dd_scalar", "dd_array", "fraction_to_dd", "to_quad", "is_quad",
           "quad_fraction"]


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


# --------------------------------------------------------------------------- numpy quad
QUAD_BITS = 113                 # IEEE binary128 significand (with the implicit bit)
_QUAD_EMIN = -16382 - 112       # exponent of the smallest subnormal quad
_QUAD_MAX_EXP = 16384           # |x| < 2^16384


def is_quad(x) -> bool:
    """A numpy_quaddtype scalar, dtype or array (detected by module and class name:
    nothing is imported)."""
    if isinstance(x, np.ndarray):
        x = x.dtype
    t = type(x)
    return t.__module__.split(".")[0] == "numpy_quaddtype" and t.__name__ in (
        "QuadPrecision", "QuadPrecDType")


def quad_fraction(q, what="value") -> Fraction:
    """The exact value of one numpy_quaddtype scalar."""
    try:
        n, d = q.as_integer_ratio()
    except (OverflowError, ValueError):
        raise ValueError(f"{what} must be finite, got {q!r}") from None
    return Fraction(int(n), int(d))


def _round_bits(x: Fraction, bits=QUAD_BITS, emin=_QUAD_EMIN):
    """``(m, e)`` with ``m * 2**e`` the nearest (ties to even) number with a
    ``bits``-bit significand and ``e >= emin`` (subnormals) to ``x``."""
    n, d = x.numerator, x.denominator
    if n == 0:
        return 0, 0
    a = abs(n)
    e = max(a.bit_length() - d.bit_length() - bits, emin)
    while True:
        num, den = (a, d << e) if e >= 0 else (a << -e, d)
        m, r = divmod(num, den)
        if m >= 1 << bits:
            e += 1
            continue
        if m < 1 << (bits - 1) and e > emin:
            e -= 1
            continue
        break
    if 2 * r > den or (2 * r == den and m & 1):
        m += 1
    return (m if n > 0 else -m), e


def _quad_exact(m: int, e: int, qcls, neg_zero=False):
    """The quad ``m * 2**e`` (representable: |m| <= 2^113) built exactly: an integer
    of at most 113 bits converts exactly, and products by powers of two whose result
    is representable are exact."""
    if m == 0:
        return qcls(-0.0 if neg_zero else 0.0)
    if e + abs(m).bit_length() > _QUAD_MAX_EXP:
        raise ValueError("value outside the range of quad numbers (|x| < 1.19e4932)")
    q = qcls(m)
    while e:
        step = max(-1000, min(1000, e))
        q = q * qcls(math.ldexp(1.0, step))
        e -= step
    return q


def _quad_module():
    try:
        import numpy_quaddtype
    except ImportError:
        raise ImportError("quad output needs the numpy-quaddtype package "
                          "(pip install numpy-quaddtype)") from None
    return numpy_quaddtype


def _exact_any(x, what):
    """One number as an exact Fraction (dd, mpmath, quad, and everything dd_scalar
    reads exactly), for :func:`to_quad`."""
    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x[()]
    if is_quad(x):
        return quad_fraction(x, what)
    t = getattr(x, "_mpf_", None)
    if t is not None:
        sign, man, exp, _ = t
        if not man:
            if exp:
                raise ValueError(f"{what} must be finite, got {x!r}")
            return Fraction(0)
        v = Fraction(int(man)) * Fraction(2) ** int(exp)
        return -v if sign else v
    if isinstance(x, str):
        try:
            return Fraction(x.strip().replace("_", ""))
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{what}: cannot read {x!r} as a decimal number") from None
    if isinstance(x, (Fraction, int, np.integer)) and not isinstance(x, (bool, np.bool_)):
        return Fraction(int(x)) if not isinstance(x, Fraction) else x
    if isinstance(x, decimal.Decimal) and x.is_finite():
        return Fraction(x)
    ratio = getattr(x, "as_integer_ratio", None)
    if ratio is not None and not isinstance(x, tuple):
        try:
            return Fraction(*ratio())
        except (OverflowError, ValueError):
            raise ValueError(f"{what} must be finite, got {x!r}") from None
    h, lo = dd_scalar(x, what)          # (hi, lo) pairs, DDArray elements
    return Fraction(h) + Fraction(lo)


def to_quad(x, backend="sleef"):
    """``x`` as a numpy_quaddtype array (dtype ``QuadPrecDType(backend)``), each value
    rounded once, to nearest with ties to even, to quad (113 bits).

    ``x``: a :class:`DDArray`, an mpmath number or object array of them (the
    arbitrary-precision outputs), quad values, or any input the dd functions read
    exactly (decimal strings, Fractions, floats, (hi, lo) pairs, nested lists).
    ``backend="longdouble"`` gives numpy_quaddtype's long double dtype (64-bit
    significand on x86: then the rounding goes through the 113-bit value, once more).
    Needs the numpy-quaddtype package."""
    nq = _quad_module()
    dtype = nq.QuadPrecDType(backend=backend)
    qcls = nq.QuadPrecision
    if isinstance(x, DDArray):
        vals = np.empty(x.shape, dtype=object)
        for idx in np.ndindex(x.shape):
            vals[idx] = _exact(x.hi[idx], x.lo[idx])
        signs = np.signbit(x.hi)
    else:
        if isinstance(x, (list, tuple)) and not _is_pair(x):
            return np.stack([to_quad(v, backend) for v in x]) if len(x) else \
                np.zeros(0, dtype=dtype)
        a = x if isinstance(x, np.ndarray) and x.dtype.kind == "O" else None
        if a is None and isinstance(x, np.ndarray) and not is_quad(x):
            a = x.astype(object)
        if a is None:
            a = np.empty((), dtype=object)
            a[()] = x
        vals = np.empty(a.shape, dtype=object)
        signs = np.zeros(a.shape, dtype=bool)
        for idx, v in np.ndenumerate(a):
            vals[idx] = _exact_any(v, "value")
            signs[idx] = vals[idx] == 0 and isinstance(v, float) and math.copysign(1.0, v) < 0
    out = np.empty(vals.shape, dtype=dtype)
    for idx in np.ndindex(vals.shape):
        m, e = _round_bits(vals[idx])
        out[idx] = _quad_exact(m, e, qcls, bool(signs[idx]))
    return out


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
    if is_quad(x):
        return fraction_to_dd(quad_fraction(x, what), what)
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
        if is_quad(x[0]) or is_quad(x[1]) or float(x[0]) != x[0] or float(x[1]) != x[1]:
            ex = [quad_fraction(v, what) if is_quad(v) else Fraction(v) for v in x]
            return fraction_to_dd(ex[0] + ex[1], what)
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
        if is_quad(x):
            return _dd_obj(x, what)
        if k and k in "fiu" and x.dtype != np.longdouble and x.dtype.itemsize <= 8:
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

    def to_quad(self, backend="sleef"):
        """The values as a numpy_quaddtype array (``QuadPrecDType``), each rounded once
        to quad (113 bits, to nearest with ties to even): a dd carries 106 bits
        in an unevaluated sum whose parts can be far apart, so the rounding is
        needed when the tail lies below the quad's last bit.  Needs numpy-quaddtype."""
        return to_quad(self, backend)

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
