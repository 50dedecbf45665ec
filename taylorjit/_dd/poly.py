"""Polynomials with double-double coefficients: Horner's scheme with the
derivative, and Newton's method in dd from a double approximation of a root.

The event functions of the dd integrator are known over a step as Taylor
polynomials ``g(tau) = sum_k g[k] tau^k`` with dd coefficients (heads ``cH``,
tails ``cL``).  Their roots are isolated on the heads with the double root
finder of the integrator layer (``taylorjit._integrate.roots``), then polished
here: from a simple root ``t0`` of the head polynomial (relative error ~2^-53),
each Newton step squares the relative error, so two or three steps reach the
dd accuracy of the polynomial (~2^-104 relative).  A root of the heads where
Newton's method does not converge so (near a multiple root, or a root of the
heads that rounding made up) is kept only if the dd polynomial changes sign
across it (:func:`sign_change`).

Like :mod:`.arith`, these are numba functions without ``cache=True``: they are
compiled into the cached entry points that call them (whose cache key hashes
this file).
"""
import math

from numba import njit

from .._symbolic.registry import no_refcount_opts
from .arith import add, div, mul

_J = dict(nogil=True, error_model="numpy", **no_refcount_opts())

#: Newton steps at most (three suffice from a double root; more only near a
#: double root, where the convergence is linear)
MAX_NEWTON = 6


@njit(**_J)
def horner_d(cH, cL, order, th, tl):
    """``(p_hi, p_lo, d_hi, d_lo)``: the polynomial ``sum_{k<=order} c[k] t^k`` and its
    derivative at the dd point ``t`` (Horner in dd)."""
    ph = cH[order]
    pl = cL[order]
    dh = 0.0
    dl = 0.0
    for k in range(order - 1, -1, -1):
        dh, dl = mul(dh, dl, th, tl)
        dh, dl = add(dh, dl, ph, pl)
        ph, pl = mul(ph, pl, th, tl)
        ph, pl = add(ph, pl, cH[k], cL[k])
    return ph, pl, dh, dl


@njit(**_J)
def polish_root(cH, cL, order, t0):
    """``(t_hi, t_lo, dp, q)``: Newton's method in dd on the dd polynomial from the
    double ``t0``, with the derivative's head ``dp`` at the result and ``|q|``, the
    head of the last correction (0 when the polynomial vanished exactly).

    Stops when the correction is below ``2^-104 |t|``, after :data:`MAX_NEWTON`
    steps, or when the iteration breaks down (a zero or non-finite derivative).
    From a simple root of the heads the last correction is far below the
    accuracy of the root; a large ``q`` flags a multiple root or none (a root of
    the heads that the dd polynomial does not have), for the caller to check
    (:func:`sign_change`)."""
    th = t0
    tl = 0.0
    qa = 0.0
    ph, pl, dh, dl = horner_d(cH, cL, order, th, tl)
    for _ in range(MAX_NEWTON):
        if ph == 0.0:
            break
        if dh == 0.0 or not (math.isfinite(ph) and math.isfinite(dh)):
            qa = math.inf
            break
        qh, ql = div(ph, pl, dh, dl)
        th, tl = add(th, tl, -qh, -ql)
        ph, pl, dh, dl = horner_d(cH, cL, order, th, tl)
        qa = abs(qh)
        if qa <= 4.9e-32 * abs(th):
            break
    return th, tl, dh, qa


@njit(**_J)
def sign_change(cH, cL, order, th, tl, delta):
    """The sign of the dd polynomial's change across ``[t - delta, t + delta]``: +1
    (negative to positive), -1 (positive to negative), or 0 (no strict change)."""
    ah, al = add(th, tl, -delta, 0.0)
    bh, bl = add(th, tl, delta, 0.0)
    pa = horner_d(cH, cL, order, ah, al)[0]
    pb = horner_d(cH, cL, order, bh, bl)[0]
    if pa < 0.0 and pb > 0.0:
        return 1.0
    if pa > 0.0 and pb < 0.0:
        return -1.0
    return 0.0
