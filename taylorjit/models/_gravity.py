"""Gravity fields of extended bodies: spherical-harmonics potentials
(``sh_gravity_pot`` / ``sh_gravity_acc`` with heyoka's arguments, the
``sh_gravity`` system and its energy) and the Earth's EGM2008 geopotential to
degree and order 4 (``egm2008_pot`` / ``egm2008_acc``; the coefficients are in
:mod:`._egm2008`).  The mascon models (``mascon``, as heyoka's
``model.mascon``) are in :mod:`._mascon`; this module re-exports both.

The spherical harmonics use the fully normalised V/W recursion of Cunningham
(1970) in the form of Montenbruck & Gill, *Satellite Orbits* (2000), Sec. 3.2:
the solid harmonics ``V_nm = (a/r)^(n+1) P_nm(sin phi) cos(m lambda)``,
``W_nm = (a/r)^(n+1) P_nm(sin phi) sin(m lambda)`` are built from the Cartesian
position with the sectoral recursion (``V_mm`` from ``V_{m-1,m-1}``) and the
vertical one (``V_nm`` from ``V_{n-1,m}`` and ``V_{n-2,m}``), every factor
rescaled to the fully normalised functions so that no factorial is ever formed
(the factors stay near 1 at any degree).  The acceleration is a linear
combination of the harmonics of degree ``n + 1`` (Montenbruck & Gill,
eq. 3.33), so no symbolic differentiation is needed: each solid harmonic is one
DAG node shared by all the terms that use it.
"""
from __future__ import annotations

import math
import numbers
from fractions import Fraction

import numpy as np

from .._symbolic.expr import Expr, expr, nary_sum
from ._classic import _omega, rotating, rotating_potential
from ._common import coeff, dot, state_vars
from ._egm2008 import _EGM2008_A, _EGM2008_MU, _egm2008
from ._egm2008 import get_egm2008_a, get_egm2008_CS, get_egm2008_mu  # noqa: F401  (re-exported)
from ._mascon import mascon, mascon_energy, mascon_potential  # noqa: F401  (re-exported)

__all__ = ["mascon", "mascon_energy", "mascon_potential", "sh_gravity_pot", "sh_gravity_acc",
           "sh_gravity", "sh_gravity_energy", "egm2008_pot", "egm2008_acc", "get_egm2008_CS",
           "get_egm2008_mu", "get_egm2008_a"]


# ------------------------------------------------------------------ spherical harmonics
def _is_seq(o):
    return not isinstance(o, (Expr, str, bytes)) and hasattr(o, "__len__") \
        and hasattr(o, "__getitem__")


def _is_2d(o):
    return _is_seq(o) and len(o) > 0 and _is_seq(o[0]) and len(o[0]) > 0 and _is_seq(o[0][0])


def _sh_value(c, name):
    if isinstance(c, np.generic):
        c = c.item()
    return coeff(c, name)


def _sh_table(sh_coefficients, what):
    """The coefficients as lists C[n][m], S[n][m] (n = 0..N, m = 0..n) of floats/Expr.

    Accepts heyoka's layout (an iterable of [C, S] pairs by degree then order,
    starting at n = 0) or a pair (C, S) of lower-triangular 2-D arrays."""
    if not _is_seq(sh_coefficients):
        try:
            sh_coefficients = list(sh_coefficients)
        except TypeError:
            raise TypeError(f"{what}: sh_coefficients must be a sequence of [C, S] pairs (by "
                            "degree then order, from n = 0, as heyoka's sh_gravity_pot) or a "
                            f"pair (C, S) of 2-D arrays, got {sh_coefficients!r:.80}") from None
    if len(sh_coefficients) == 2 and _is_2d(sh_coefficients):
        Ca, Sa = sh_coefficients
        if not _is_2d([Sa]) or len(Ca) != len(Sa):
            raise ValueError(f"{what}: C and S must be 2-D arrays of the same number of rows "
                             "(degrees 0..N)")
        C, S = [], []
        for n in range(len(Ca)):
            for arr, nm, out in ((Ca, "C", C), (Sa, "S", S)):
                row = arr[n]
                if len(row) < n + 1:
                    raise ValueError(f"{what}: row {n} of {nm} has {len(row)} entries, but "
                                     f"degree {n} needs orders 0..{n} ({nm}[n][m], m <= n)")
                for m in range(n + 1, len(row)):
                    if not (isinstance(row[m], numbers.Real) and float(row[m]) == 0.0):
                        raise ValueError(
                            f"{what}: {nm}[{n}][{m}] = {row[m]!r} has order m > degree n: "
                            f"{nm}[n][m] must be lower triangular (is the array transposed? "
                            "index it as [degree][order])")
                out.append([_sh_value(row[m], f"{nm}[{n}][{m}]") for m in range(n + 1)])
        return C, S
    pairs = list(sh_coefficients)
    npairs = len(pairs)
    N = int(round((math.sqrt(8 * npairs + 1) - 3) / 2))
    if npairs == 0 or (N + 1) * (N + 2) // 2 != npairs:
        raise ValueError(f"{what}: sh_coefficients has {npairs} [C, S] pairs, which is not the "
                         "count of a complete model ((N + 1)(N + 2) / 2 pairs for degrees "
                         "0..N: 1, 3, 6, 10, 15, ...); heyoka's layout starts at n = 0 (for "
                         "EGM2008 prepend [1, 0], [0, 0], [0, 0] to get_egm2008_CS())")
    C = [[None] * (n + 1) for n in range(N + 1)]
    S = [[None] * (n + 1) for n in range(N + 1)]
    k = 0
    for n in range(N + 1):
        for m in range(n + 1):
            p = pairs[k]
            if not _is_seq(p) or len(p) != 2:
                raise ValueError(f"{what}: sh_coefficients[{k}] (n = {n}, m = {m}) must be a "
                                 f"[C, S] pair, got {p!r:.60}")
            C[n][m] = _sh_value(p[0], f"C[{n}][{m}]")
            S[n][m] = _sh_value(p[1], f"S[{n}][{m}]")
            k += 1
    return C, S


def _degree_order(C, max_degree, max_order, what):
    N = len(C) - 1
    for val, name in ((max_degree, "max_degree"), (max_order, "max_order")):
        if val is not None and (isinstance(val, bool) or not isinstance(val, numbers.Integral)
                                or val < 0):
            raise ValueError(f"{what}: {name} must be a non-negative integer or None, got "
                             f"{val!r}")
    n = N if max_degree is None else int(max_degree)
    m = n if max_order is None else int(max_order)
    if n > N:
        raise ValueError(f"{what}: max_degree = {n} exceeds the degree {N} of the model given "
                         "by sh_coefficients: pass more coefficients or a lower max_degree")
    if m > n:
        raise ValueError(f"{what}: max_order = {m} exceeds max_degree = {n} (the order of a "
                         "harmonic is at most its degree)")
    return n, m


def _xyz(xyz, what):
    if xyz is None:
        return state_vars()[:3]
    if not _is_seq(xyz) or len(xyz) != 3:
        raise ValueError(f"{what}: xyz must be the position [x, y, z] (3 expressions or "
                         f"numbers), got {xyz!r:.60}")
    return [expr(c) for c in xyz]


def _n2(n, m):
    """N_nm^2 = (2 - delta_m0) (2n + 1) (n - m)! / (n + m)!, exactly."""
    return Fraction((1 if m == 0 else 2) * (2 * n + 1) * math.factorial(n - m),
                    math.factorial(n + m))


def _sqrt_ratio(num, den):
    return math.sqrt(float(num / den))


class _Harmonics:
    """The fully normalised solid harmonics V_nm, W_nm (n <= nmax, m <= min(n, mmax))
    of the position xyz, for the reference radius a."""

    def __init__(self, xyz, a, nmax, mmax):
        x, y, z = xyz
        r2 = nary_sum([x * x, y * y, z * z])
        rho = a / r2                     # a / r^2
        xr, yr, zr = rho * x, rho * y, rho * z
        q = rho * a                      # (a / r)^2
        zero = expr(0.0)
        V = {(0, 0): a * r2 ** -0.5}
        W = {(0, 0): zero}
        for m in range(0, mmax + 1):
            if m > 0:       # sectoral: V_mm from V_{m-1,m-1}
                d = math.sqrt((2.0 if m == 1 else 1.0) * (2 * m + 1) / (2 * m))
                v1, w1 = V[m - 1, m - 1], W[m - 1, m - 1]
                V[m, m] = d * (xr * v1 - yr * w1)
                W[m, m] = d * (xr * w1 + yr * v1)
            for n in range(m + 1, nmax + 1):   # vertical: V_nm from V_{n-1,m}, V_{n-2,m}
                A = math.sqrt((2 * n - 1) * (2 * n + 1) / ((n - m) * (n + m)))
                v, w = A * (zr * V[n - 1, m]), A * (zr * W[n - 1, m])
                if n - 2 >= m:
                    B = math.sqrt((2 * n + 1) * (n + m - 1) * (n - m - 1)
                                  / ((2 * n - 3) * (n + m) * (n - m)))
                    v = v - B * (q * V[n - 2, m])
                    w = w - B * (q * W[n - 2, m]) if m > 0 else zero
                V[n, m] = v
                W[n, m] = w if m > 0 else zero
        self.V, self.W = V, W


class _Combo:
    """A linear combination sum_k c_k H_k of harmonics with coefficients that are
    numbers (summed in Python) or expressions (summed symbolically)."""

    def __init__(self):
        self.num, self.sym = {}, {}

    def add(self, key, factor, c):
        if isinstance(c, Expr):
            self.sym.setdefault(key, []).append(factor * c)
        elif c != 0.0 and factor != 0.0:
            self.num[key] = self.num.get(key, 0.0) + factor * c

    def expr(self, H):
        terms = []
        for key in sorted(set(self.num) | set(self.sym)):
            parts = list(self.sym.get(key, []))
            v = self.num.get(key, 0.0)
            if v != 0.0:
                parts.append(v)
            node = (H.V if key[0] == "V" else H.W)[key[1:]]
            terms.append(nary_sum(parts) * node)
        return nary_sum(terms)


def sh_gravity_pot(xyz, sh_coefficients, mu, a, *, max_degree=None, max_order=None):
    """Gravitational potential of a spherical-harmonics model at a body-fixed position.

    ``U = mu / a sum_{n <= N} sum_{m <= min(n, M)} (C_nm V_nm + S_nm W_nm)``
    with the fully normalised coefficients ``C_nm``, ``S_nm`` and solid
    harmonics ``V_nm + i W_nm = (a/r)^(n+1) P_nm(sin phi) exp(i m lambda)``
    (``P_nm`` the fully normalised associated Legendre functions without the
    Condon-Shortley phase: ``P_nm = sqrt((2 - delta_m0) (2n + 1) (n - m)! /
    (n + m)!)`` times the classical ones), i.e. Montenbruck & Gill,
    *Satellite Orbits*, Sec. 3.2, as ``heyoka.model.sh_gravity_pot``.  The sign
    is the geodesists': ``U = mu / r`` for a point mass, the acceleration is
    ``+grad U`` and the potential energy per unit mass is ``-U``.

    Parameters
    ----------
    xyz : sequence of 3 Expr or float
        Position in the body-fixed frame of the coefficients (e.g.
        ``tj.make_vars("x", "y", "z")``); the same length unit as ``a``.
    sh_coefficients : array_like
        Either heyoka's layout, a sequence of ``[C, S]`` pairs ordered by degree
        then order from ``n = 0``: ``[C00, S00], [C10, S10], [C11, S11], [C20,
        S20], ...`` (``(N + 1)(N + 2) / 2`` pairs for degree ``N``), or a pair
        ``(C, S)`` of lower-triangular 2-D arrays indexed ``[n][m]``.  Entries
        are numbers or expressions (``tj.par[i]``).  For a body's field
        ``C00 = 1`` (the central term) and the degree-1 terms vanish when the
        origin is the centre of mass.
    mu : float or Expr
        Gravitational parameter ``G M`` (length^3/time^2).
    a : float or Expr
        Reference radius of the coefficients (length).
    max_degree, max_order : int, optional
        Truncate the model to degree ``N`` and order ``M <= N`` (default: all
        the coefficients given).

    Returns
    -------
    Expr

    Examples
    --------
    A point mass (only ``C00 = 1``):

    >>> import taylorjit as tj
    >>> xyz = tj.make_vars("x", "y", "z")
    >>> U = tj.models.sh_gravity_pot(xyz, [[1.0, 0.0]], mu=2.0, a=1.0)
    >>> float(tj.cfunc(U, xyz)([0.0, 3.0, 4.0]))
    0.4
    """
    what = "sh_gravity_pot"
    C, S = _sh_table(sh_coefficients, what)
    N, M = _degree_order(C, max_degree, max_order, what)
    mu, a = coeff(mu, "mu"), coeff(a, "a", positive=True)
    H = _Harmonics(_xyz(xyz, what), a, N, M)
    combo = _Combo()
    for n in range(N + 1):
        for m in range(min(n, M) + 1):
            combo.add(("V", n, m), 1.0, C[n][m])
            if m > 0:
                combo.add(("W", n, m), 1.0, S[n][m])
    return (mu / a) * combo.expr(H)


def sh_gravity_acc(xyz, sh_coefficients, mu, a, *, max_degree=None, max_order=None):
    """Gravitational acceleration ``grad U`` of :func:`sh_gravity_pot` at a
    body-fixed position (in the same body-fixed frame).

    Montenbruck & Gill's expressions (eq. 3.33) in terms of the harmonics of
    degree ``n + 1``, rescaled to fully normalised quantities; arguments as
    :func:`sh_gravity_pot` (and ``heyoka.model.sh_gravity_acc``).

    Returns
    -------
    list of 3 Expr
        The Cartesian components ``[ax, ay, az]``.

    Examples
    --------
    The J2 field (``C20 = -J2 / sqrt(5)``) equals :func:`kepler`'s J2 term:

    >>> import math, numpy as np, taylorjit as tj
    >>> xyz = tj.make_vars("x", "y", "z")
    >>> shc = [[1, 0], [0, 0], [0, 0], [-1.08e-3 / math.sqrt(5), 0], [0, 0], [0, 0]]
    >>> acc = tj.models.sh_gravity_acc(xyz, shc, mu=1.0, a=0.9)
    >>> ref = [r for _, r in tj.models.kepler(mu=1.0, j2=1.08e-3, radius=0.9)[3:]]
    >>> p = [0.3, -0.8, 0.7]
    >>> bool(np.allclose(tj.cfunc(acc, xyz)(p), tj.cfunc(ref, xyz)(p), rtol=1e-14, atol=0))
    True
    """
    what = "sh_gravity_acc"
    C, S = _sh_table(sh_coefficients, what)
    N, M = _degree_order(C, max_degree, max_order, what)
    mu, a = coeff(mu, "mu"), coeff(a, "a", positive=True)
    H = _Harmonics(_xyz(xyz, what), a, N + 1, M + 1)
    ax, ay, az = _Combo(), _Combo(), _Combo()
    for n in range(N + 1):
        for m in range(min(n, M) + 1):
            c, s = C[n][m], S[n][m]
            n2 = _n2(n, m)
            fz = (n - m + 1) * _sqrt_ratio(n2, _n2(n + 1, m))
            az.add(("V", n + 1, m), -fz, c)
            if m == 0:
                f1 = _sqrt_ratio(n2, _n2(n + 1, 1))
                ax.add(("V", n + 1, 1), -f1, c)
                ay.add(("W", n + 1, 1), -f1, c)
                continue
            az.add(("W", n + 1, m), -fz, s)
            f2 = 0.5 * _sqrt_ratio(n2, _n2(n + 1, m + 1))
            f3 = 0.5 * (n - m + 2) * (n - m + 1) * _sqrt_ratio(n2, _n2(n + 1, m - 1))
            ax.add(("V", n + 1, m + 1), -f2, c)
            ax.add(("W", n + 1, m + 1), -f2, s)
            ax.add(("V", n + 1, m - 1), f3, c)
            ax.add(("W", n + 1, m - 1), f3, s)
            ay.add(("W", n + 1, m + 1), -f2, c)
            ay.add(("V", n + 1, m + 1), f2, s)
            ay.add(("W", n + 1, m - 1), -f3, c)
            ay.add(("V", n + 1, m - 1), f3, s)
    k = mu / (a * a)
    return [k * combo.expr(H) for combo in (ax, ay, az)]


def sh_gravity(sh_coefficients, mu, a, *, max_degree=None, max_order=None, omega=None):
    """A test particle in a spherical-harmonics gravity field, in the body-fixed frame.

    ``r'' = grad U(r)`` (:func:`sh_gravity_acc`), plus the Coriolis and
    centrifugal accelerations ``-2 omega x v - omega x (omega x r)`` of a body
    rotating uniformly with angular velocity ``omega`` (the state is then the
    body-fixed position and velocity, as in :func:`mascon`).

    Parameters
    ----------
    sh_coefficients, mu, a, max_degree, max_order
        As :func:`sh_gravity_pot` (``C00 = 1`` for the central term).
    omega : sequence of 3 float or Expr, optional
        Angular velocity of the body in body-fixed coordinates (rad/time;
        ``[0, 0, 7.292115e-5]`` rad/s for the Earth); ``None`` (default): the
        body does not rotate (body-fixed = inertial).

    Returns
    -------
    list of (Expr, Expr)
        Pairs for ``x, y, z, vx, vy, vz``.  :func:`sh_gravity_energy` is the
        conserved energy (Jacobi integral with ``omega``).

    Notes
    -----
    To integrate in an inertial frame instead, rotate the inertial position
    into the body frame with ``tj.cos(w * tj.time)`` / ``tj.sin(w * tj.time)``
    and the acceleration back, using :func:`sh_gravity_acc` directly.

    Examples
    --------
    A low orbit in the EGM2008 field to degree and order 4 (metres, seconds),
    in the Earth-fixed frame:

    >>> import taylorjit as tj
    >>> shc = [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]] + tj.models.get_egm2008_CS().tolist()
    >>> args = (shc, tj.models.get_egm2008_mu(), tj.models.get_egm2008_a())
    >>> sys = tj.models.sh_gravity(*args, omega=[0, 0, 7.292115e-5])
    >>> E = tj.cfunc(tj.models.sh_gravity_energy(*args, omega=[0, 0, 7.292115e-5]),
    ...              [v for v, _ in sys])
    >>> ta = tj.TaylorAdaptive(sys, [7.0e6, 0, 0, 0, 5.2e3, 5.0e3], compact=True)
    >>> e0 = E(ta.state); _ = ta.propagate_until(6000.0)
    >>> bool(abs(E(ta.state) / e0 - 1) < 1e-13)
    True
    """
    x, y, z, vx, vy, vz = state_vars()
    acc = sh_gravity_acc([x, y, z], sh_coefficients, mu, a, max_degree=max_degree,
                         max_order=max_order)
    sys = [(x, vx), (y, vy), (z, vz)] + list(zip((vx, vy, vz), acc))
    if omega is None:
        return sys
    return rotating(_omega(omega, "sh_gravity"), sys)


def sh_gravity_energy(sh_coefficients, mu, a, *, max_degree=None, max_order=None,
                      omega=None):
    """The conserved energy per unit mass of :func:`sh_gravity`:
    ``|v|^2 / 2 - U - |omega x r|^2 / 2`` (``U`` of :func:`sh_gravity_pot`;
    the Jacobi integral of the rotating body, the plain energy without
    ``omega``).

    Examples
    --------
    >>> import taylorjit as tj
    >>> E = tj.models.sh_gravity_energy([[1.0, 0.0]], mu=1.0, a=1.0)
    >>> float(tj.cfunc(E, tj.make_vars("x", "y", "z", "vx", "vy", "vz"))([2, 0, 0, 0, 1, 0]))
    0.0
    """
    x, y, z, vx, vy, vz = state_vars()
    U = sh_gravity_pot([x, y, z], sh_coefficients, mu, a, max_degree=max_degree,
                         max_order=max_order)
    e = 0.5 * dot([vx, vy, vz], [vx, vy, vz]) - U
    if omega is not None:
        e = e + rotating_potential(_omega(omega, "sh_gravity_energy"))
    return e


# ------------------------------------------------------------------ EGM2008 (the data: _egm2008)
def egm2008_pot(xyz, n, m, mu=_EGM2008_MU, a=_EGM2008_A):
    """The Earth's geopotential of EGM2008 to degree ``n`` and order ``m`` (``n <= 4``),
    as ``heyoka.model.egm2008_pot``: :func:`sh_gravity_pot` with
    :func:`get_egm2008_CS` (positions in metres in the Earth-fixed WGS84/ITRF
    frame by default; pass ``mu`` and ``a`` in other units).

    Examples
    --------
    >>> import taylorjit as tj
    >>> xyz = tj.make_vars("x", "y", "z")
    >>> U = tj.cfunc(tj.models.egm2008_pot(xyz, 4, 4), xyz)
    >>> round(float(U([7.0e6, 0, 0])) / 1e7, 6)        # ~ mu / r, in m^2/s^2
    5.696864
    """
    shc, n, m = _egm2008(n, m, "egm2008_pot")
    return sh_gravity_pot(xyz, shc, mu, a, max_degree=n, max_order=m)


def egm2008_acc(xyz, n, m, mu=_EGM2008_MU, a=_EGM2008_A):
    """The Earth's gravitational acceleration of EGM2008 to degree ``n`` and order
    ``m`` (``n <= 4``), in the Earth-fixed frame, as ``heyoka.model.egm2008_acc``
    (see :func:`egm2008_pot`).

    Examples
    --------
    >>> import taylorjit as tj
    >>> xyz = tj.make_vars("x", "y", "z")
    >>> g = tj.cfunc(tj.models.egm2008_acc(xyz, 2, 0), xyz)([0, 0, 6356752.3])
    >>> round(float(g[2]), 3)                          # gravitation at the pole, m/s^2
    -9.832
    """
    shc, n, m = _egm2008(n, m, "egm2008_acc")
    return sh_gravity_acc(xyz, shc, mu, a, max_degree=n, max_order=m)
