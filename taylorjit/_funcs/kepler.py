"""kepF (eccentric longitude) and kepDE (difference of eccentric anomalies),
heyoka's two relatives of kepE (``taylorjit._funcs.special``).

* kepF(h, k, lam): the eccentric longitude F, solution of

      F + h cos F - k sin F = lam

  (h = e sin(varpi), k = e cos(varpi) equinoctial elements, lam the mean
  longitude; heyoka's ``kepF`` equation and argument order).  Its derivative
  F' (1 - w) = lam' - h' cos F + k' sin F with w = h sin F + k cos F gives
  (s = sin F, c = cos F)

      F_n = [n lam_n + sum_{j=1}^{n} j (k_j s_{n-j} - h_j c_{n-j})
             + sum_{j=1}^{n-1} j F_j w_{n-j}] / (n (1 - w_0)),

  then s, c (companions, shared with any sin(F)/cos(F) of the expression) and
  w = h s + k c at the same order.

* kepDE(s0, c0, DM): the difference of eccentric anomalies DE = E - E0 for a
  difference of mean anomalies DM, with s0 = e sin E0, c0 = e cos E0, i.e. the
  solution of

      DE + s0 (1 - cos DE) - c0 sin DE = DM

  (heyoka's ``kepDE``).  With w = c0 cos DE - s0 sin DE the derivative
  DE' (1 - w) = DM' - s0' (1 - cos DE) + c0' sin DE gives (s = sin DE, c = cos DE)

      DE_n = [n DM_n - n s0_n + sum_{j=1}^{n} j (s0_j c_{n-j} + c0_j s_{n-j})
              + sum_{j=1}^{n-1} j DE_j w_{n-j}] / (n (1 - w_0)).

Both are the construction of heyoka's kepE/kepF/kepDE (Biscani & Izzo, the
heyoka notes on the automatic differentiation of Kepler's equation): the
implicit-function derivative, multiplied out so that each order needs only the
lower orders and the companion series.

Values.  The left-hand sides are strictly increasing in F (DE) when
h^2 + k^2 < 1 (s0^2 + c0^2 < 1): the real solution is unique, and that is the
value returned, so ``kepF(h, k, lam + 2 pi) = kepF(h, k, lam) + 2 pi``.  heyoka
returns the solution reduced to [0, 2 pi); the two agree modulo 2 pi (as for
``tj.kepE``).  Outside the domain (h^2 + k^2 >= 1) or for non-finite
arguments the value is NaN, as in heyoka.
"""
import math

import mpmath
from numba import njit

from .._symbolic.expr import div as _div, mul as _mul, neg as _neg, sub as _sub, add as _add
from .._symbolic.registry import kernel_op, register_function
from .trig import cos, sin

_TWO_PI = 2.0 * math.pi
_EPS = 2.220446049250313e-16


# --- kepF -------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True, error_model="numpy")
def kepF_solve(h, k, lam):
    """Solve F + h cos F - k sin F = lam for h^2 + k^2 < 1 (NaN otherwise).

    lam is reduced to [-pi, pi] (the reduction is added back at the end, so
    small |lam| keeps full relative accuracy), and Newton's method runs inside
    the bracket [lam_r - 1, lam_r + 1] (|h cos F - k sin F| <= e < 1), with a
    bisection step whenever a Newton step leaves the bracket."""
    if not (h * h + k * k < 1.0) or not math.isfinite(lam):
        return math.nan
    n = round(lam / _TWO_PI)
    lr = lam - n * _TWO_PI
    lo = lr - 1.0
    hi = lr + 1.0
    F = lr - h * math.cos(lr) + k * math.sin(lr)
    F = min(max(F, lo), hi)
    for _ in range(100):
        sF = math.sin(F)
        cF = math.cos(F)
        f = (F - lr) + (h * cF - k * sF)
        if f == 0.0:
            break
        if f > 0.0:
            hi = F
        else:
            lo = F
        Fn = F - f / (1.0 - h * sF - k * cF)
        if Fn < lo or Fn > hi:
            Fn = 0.5 * (lo + hi)
        if abs(Fn - F) <= 2.0 * _EPS * abs(Fn) or Fn == F:
            F = Fn
            break
        F = Fn
    return F + n * _TWO_PI if n != 0 else F


@kernel_op("kepF", n_out=4, n_in=3)
def kepF_coeff(tc, k, F, s, c, w, h, kk, lam):
    """F = kepF(h, kk, lam) with companions s = sin F, c = cos F,
    w = h sin F + kk cos F (see the module doc)."""
    r_F, r_s, r_c, r_w = tc[F], tc[s], tc[c], tc[w]
    r_h, r_k, r_l = tc[h], tc[kk], tc[lam]
    if k == 0:
        r_F[0] = kepF_solve(r_h[0], r_k[0], r_l[0])
        r_s[0] = math.sin(r_F[0])
        r_c[0] = math.cos(r_F[0])
    else:
        acc = k * r_l[k]
        for j in range(1, k + 1):
            acc += j * (r_k[j] * r_s[k - j] - r_h[j] * r_c[k - j])
        for j in range(1, k):
            acc += j * r_F[j] * r_w[k - j]
        r_F[k] = acc / (k * (1.0 - r_w[0]))
        ss = 0.0
        cc = 0.0
        for j in range(1, k + 1):
            ss += j * r_F[j] * r_c[k - j]
            cc += j * r_F[j] * r_s[k - j]
        r_s[k] = ss / k
        r_c[k] = -cc / k
    acc = 0.0
    for j in range(k + 1):
        acc += r_h[j] * r_s[k - j] + r_k[j] * r_c[k - j]
    r_w[k] = acc


def _kepF_decompose(b, h, k, lam):
    F, s, c, w = b.op("kepF", h, k, lam)
    b.alias("sincos", (F,), (s, c))
    return F


def _kepF_partials(h, k, lam):
    F = kepF(h, k, lam)
    den = _sub(_sub(1.0, _mul(h, sin(F))), _mul(k, cos(F)))
    return [_neg(_div(cos(F), den)), _div(sin(F), den), _div(1.0, den)]


def _mp_newton(g, x0, *args):
    """Root of ``g(x, *args) -> (value, derivative)`` at mpmath's working precision
    (plus 20 bits) by Newton's method from the double-precision root ``x0``, the
    working precision doubled each step (quadratic convergence; the roots here are
    unique: the functions are strictly increasing).  Much faster than findroot at
    the thousands of bits that mpmath.taylor uses for high derivatives."""
    target = mpmath.mp.prec + 20
    x = mpmath.mpf(x0)
    prec = 40
    while True:
        prec = min(2 * prec, target)
        with mpmath.workprec(prec):
            v, d = g(x, *args)
            x = x - v / d
        if prec == target:
            break
    with mpmath.workprec(target):  # one more full-precision step for safety
        v, d = g(x, *args)
        x = x - v / d
    return +x


def _g_kepF(F, h, k, lam):
    sF, cF = mpmath.sin(F), mpmath.cos(F)
    return F + h * cF - k * sF - lam, 1 - h * sF - k * cF


def _mp_kepF(h, k, lam):
    """mpmath reference: the root of F + h cos F - k sin F - lam (see _mp_newton)."""
    x0 = kepF_solve.py_func(float(h), float(k), float(lam))
    if math.isnan(x0):
        return mpmath.nan
    return _mp_newton(_g_kepF, x0, h, k, lam)


# --- kepDE ------------------------------------------------------------------------------------------
@njit(cache=True, nogil=True, error_model="numpy")
def kepDE_solve(s0, c0, DM):
    """Solve DE + s0 (1 - cos DE) - c0 sin DE = DM for s0^2 + c0^2 < 1 (NaN
    otherwise).  DM is reduced to [-pi, pi] (added back at the end), 1 - cos DE
    is evaluated as 2 sin(DE/2)^2 (no cancellation for small DE: kepDE(s0, c0, 0)
    is exactly 0), and Newton's method runs inside the bracket
    [DM_r - 2, DM_r + 2] (|s0 (1 - cos DE) - c0 sin DE| <= |s0| + e < 2), with a
    bisection step whenever a Newton step leaves the bracket."""
    if not (s0 * s0 + c0 * c0 < 1.0) or not math.isfinite(DM):
        return math.nan
    n = round(DM / _TWO_PI)
    Dr = DM - n * _TWO_PI
    lo = Dr - 2.0
    hi = Dr + 2.0
    D = Dr
    for _ in range(100):
        sD = math.sin(D)
        cD = math.cos(D)
        hs = math.sin(0.5 * D)
        f = (D - Dr) + (s0 * (2.0 * hs * hs) - c0 * sD)
        if f == 0.0:
            break
        if f > 0.0:
            hi = D
        else:
            lo = D
        Dn = D - f / (1.0 + s0 * sD - c0 * cD)
        if Dn < lo or Dn > hi:
            Dn = 0.5 * (lo + hi)
        if abs(Dn - D) <= 2.0 * _EPS * abs(Dn) or Dn == D:
            D = Dn
            break
        D = Dn
    return D + n * _TWO_PI if n != 0 else D


@kernel_op("kepDE", n_out=4, n_in=3)
def kepDE_coeff(tc, k, D, s, c, w, s0, c0, DM):
    """D = kepDE(s0, c0, DM) with companions s = sin D, c = cos D,
    w = c0 cos D - s0 sin D (see the module doc)."""
    r_D, r_s, r_c, r_w = tc[D], tc[s], tc[c], tc[w]
    r_s0, r_c0, r_M = tc[s0], tc[c0], tc[DM]
    if k == 0:
        r_D[0] = kepDE_solve(r_s0[0], r_c0[0], r_M[0])
        r_s[0] = math.sin(r_D[0])
        r_c[0] = math.cos(r_D[0])
    else:
        acc = k * (r_M[k] - r_s0[k])
        for j in range(1, k + 1):
            acc += j * (r_s0[j] * r_c[k - j] + r_c0[j] * r_s[k - j])
        for j in range(1, k):
            acc += j * r_D[j] * r_w[k - j]
        r_D[k] = acc / (k * (1.0 - r_w[0]))
        ss = 0.0
        cc = 0.0
        for j in range(1, k + 1):
            ss += j * r_D[j] * r_c[k - j]
            cc += j * r_D[j] * r_s[k - j]
        r_s[k] = ss / k
        r_c[k] = -cc / k
    acc = 0.0
    for j in range(k + 1):
        acc += r_c0[j] * r_c[k - j] - r_s0[j] * r_s[k - j]
    r_w[k] = acc


def _kepDE_decompose(b, s0, c0, DM):
    D, s, c, w = b.op("kepDE", s0, c0, DM)
    b.alias("sincos", (D,), (s, c))
    return D


def _kepDE_partials(s0, c0, DM):
    D = kepDE(s0, c0, DM)
    den = _sub(_add(1.0, _mul(s0, sin(D))), _mul(c0, cos(D)))
    return [_div(_sub(cos(D), 1.0), den), _div(sin(D), den), _div(1.0, den)]


def _g_kepDE(D, s0, c0, DM):
    sD, cD = mpmath.sin(D), mpmath.cos(D)
    return D + s0 * (1 - cD) - c0 * sD - DM, 1 + s0 * sD - c0 * cD


def _mp_kepDE(s0, c0, DM):
    """mpmath reference: the root of DE + s0 (1 - cos DE) - c0 sin DE - DM (see _mp_newton)."""
    x0 = kepDE_solve.py_func(float(s0), float(c0), float(DM))
    if math.isnan(x0):
        return mpmath.nan
    return _mp_newton(_g_kepDE, x0, s0, c0, DM)


# --- sympy ------------------------------------------------------------------------------------------
_SYMPY: dict = {}


def sympy_functions():
    """The sympy functions ``kepF`` and ``kepDE`` (sympy has no equivalent): with
    their derivatives and an ``evalf`` that solves the equation with mpmath.
    Made on first use (importing sympy takes ~0.5 s) and then always the same
    classes (``from_sympy`` maps them back by class)."""
    if _SYMPY:
        return _SYMPY
    import sympy as sp

    def evalf_with(name):
        def _eval_evalf(self, prec):
            from .._symbolic.sympy_bridge import _mp_args

            vals = _mp_args(self, prec)
            if vals is None:
                return None
            with mpmath.workprec(prec + 20):
                v = FUNCTIONS_MP[name](*vals)
            if not mpmath.isfinite(v):
                return None
            return sp.Float(v, precision=prec)

        return _eval_evalf

    class kepF_(sp.Function):  # noqa: N801 - the registry's name
        """Eccentric longitude ``F = kepF(h, k, lam)``: ``F + h cos(F) - k sin(F) = lam``."""

        nargs = 3

        def fdiff(self, argindex=1):
            h, k, _ = self.args
            den = 1 - h * sp.sin(self) - k * sp.cos(self)
            if argindex == 1:
                return -sp.cos(self) / den
            if argindex == 2:
                return sp.sin(self) / den
            if argindex == 3:
                return 1 / den
            raise sp.core.function.ArgumentIndexError(self, argindex)

        _eval_evalf = evalf_with("kepF")

    class kepDE_(sp.Function):  # noqa: N801 - the registry's name
        """``DE = kepDE(s0, c0, DM)``: ``DE + s0 (1 - cos(DE)) - c0 sin(DE) = DM``."""

        nargs = 3

        def fdiff(self, argindex=1):
            s0, c0, _ = self.args
            den = 1 + s0 * sp.sin(self) - c0 * sp.cos(self)
            if argindex == 1:
                return (sp.cos(self) - 1) / den
            if argindex == 2:
                return sp.sin(self) / den
            if argindex == 3:
                return 1 / den
            raise sp.core.function.ArgumentIndexError(self, argindex)

        _eval_evalf = evalf_with("kepDE")

    kepF_.__name__ = kepF_.__qualname__ = "kepF"
    kepDE_.__name__ = kepDE_.__qualname__ = "kepDE"
    _SYMPY["kepF"] = kepF_
    _SYMPY["kepDE"] = kepDE_
    return _SYMPY


FUNCTIONS_MP = {"kepF": _mp_kepF, "kepDE": _mp_kepDE}


kepF = register_function(
    "kepF", 3, value=kepF_solve.py_func,
    derivative=_kepF_partials,
    decompose=_kepF_decompose,
    mp=_mp_kepF, domain=[(-0.5, 0.5), (-0.5, 0.5), (-4.0, 8.0)],
    sympy=lambda sp, h, k, lam: sympy_functions()["kepF"](h, k, lam), numpy=None,
    doc="kepF(h, k, lam): eccentric longitude F solving F + h cos(F) - k sin(F) = lam "
        "(h^2 + k^2 < 1; NaN otherwise).  heyoka's kepF; the unique real solution (not "
        "reduced to [0, 2 pi) as heyoka's: equal modulo 2 pi).")

kepDE = register_function(
    "kepDE", 3, value=kepDE_solve.py_func,
    derivative=_kepDE_partials,
    decompose=_kepDE_decompose,
    mp=_mp_kepDE, domain=[(-0.5, 0.5), (-0.5, 0.5), (-4.0, 8.0)],
    sympy=lambda sp, s0, c0, DM: sympy_functions()["kepDE"](s0, c0, DM), numpy=None,
    doc="kepDE(s0, c0, DM): difference of eccentric anomalies DE solving "
        "DE + s0 (1 - cos(DE)) - c0 sin(DE) = DM, with s0 = e sin(E0), c0 = e cos(E0) "
        "(s0^2 + c0^2 < 1; NaN otherwise).  heyoka's kepDE; the unique real solution (not "
        "reduced to [0, 2 pi) as heyoka's: equal modulo 2 pi).")
