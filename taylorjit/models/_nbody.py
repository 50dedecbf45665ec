"""N-body models: the Newtonian N-body problem (``nbody``), its heliocentric
(N+1)-body formulation (``np1body``), their energies, and the outer solar
system initial conditions (``outer_solar_system``).

The pairwise terms are built once per pair and shared: for bodies i < j the
differences ``d = r_j - r_i``, the factor ``|d|^-3`` and the three products
``d_k |d|^-3`` are single DAG nodes used by both accelerations (as in heyoka's
``model::nbody``), so the decomposition has O(n^2) operations with a small
constant: one ``pow`` per pair, three products per pair, and two
multiply-adds per pair and component.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._symbolic.expr import nary_sum, var
from ._common import coeff, is_zero

__all__ = ["nbody", "nbody_energy", "np1body", "np1body_energy", "outer_solar_system",
           "OuterSolarSystem"]

_COMPONENTS = ("x", "y", "z", "vx", "vy", "vz")


def _body_vars(i):
    return [var(f"{c}_{i}") for c in _COMPONENTS]


def _masses(n, masses, what, *, first=0):
    """The list of n masses (floats or Expr): default all 1, missing trailing ones massless."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{what}: the number of bodies n must be an integer, got {n!r}")
    n = int(n)
    if n < 2:
        raise ValueError(f"{what}: the number of bodies n must be >= 2, got {n}")
    if masses is None:
        return [1.0] * n
    if not isinstance(masses, (list, tuple, np.ndarray)):
        raise TypeError(f"{what}: masses must be a sequence of numbers or expressions (one per "
                        f"body), got {type(masses).__name__} {masses!r}; note the argument "
                        f"order {what}(n, masses, Gconst), unlike heyoka's (n, Gconst, masses): "
                        "pass them by keyword")
    ms = [coeff(m, f"masses[{k}]", nonnegative=True) for k, m in enumerate(masses)]
    if len(ms) > n:
        raise ValueError(f"{what}: {len(ms)} masses for {n} bodies: pass at most one mass per "
                         "body (missing trailing masses mean massless bodies)")
    if first and len(ms) == 0:
        raise ValueError(f"{what}: the central body needs a mass (masses[0])")
    return ms + [0.0] * (n - len(ms))


def _gm(G, m):
    """G*m, folded when both are numbers; None when it is known to be zero."""
    if is_zero(m) or is_zero(G):
        return None
    return G * m


def nbody(n, masses=None, Gconst=1.0):
    """The Newtonian N-body problem in an inertial frame.

    Parameters
    ----------
    n : int
        Number of bodies (>= 2).
    masses : sequence of float or Expr, optional
        Mass of each body (default: all 1).  Fewer than ``n`` masses make the
        remaining bodies massless (test particles).  Expressions such as
        ``tj.par[i]`` make a mass a runtime parameter.
    Gconst : float or Expr, optional
        Gravitational constant (default 1), in units consistent with the
        masses, lengths and times of the state (e.g. AU, solar masses and days:
        ``G = 0.01720209895**2``).

    Returns
    -------
    list of (Expr, Expr)
        ``6 n`` pairs ``(var, rhs)``: the state of body ``i`` is
        ``x_i, y_i, z_i, vx_i, vy_i, vz_i`` (heyoka's names), and
        ``r_i'' = sum_j G m_j (r_j - r_i) / |r_j - r_i|^3``.

    Notes
    -----
    Argument names follow ``heyoka.model.nbody``, but the positional order is
    ``(n, masses, Gconst)``; pass them by keyword when porting heyoka code.
    Each pair's ``|r_j - r_i|^-3`` and ``(r_j - r_i) |r_j - r_i|^-3`` are
    built once and shared by both bodies.

    Examples
    --------
    >>> import taylorjit as tj
    >>> from taylorjit.models import nbody, nbody_energy
    >>> sys = nbody(2, masses=[1.0, 1e-3])
    >>> [str(v) for v, _ in sys[:6]]
    ['x_0', 'y_0', 'z_0', 'vx_0', 'vy_0', 'vz_0']
    >>> ta = tj.TaylorAdaptive(sys, [0, 0, 0, 0, -1e-3, 0, 1, 0, 0, 0, 1, 0], compact=True)
    >>> E = tj.cfunc(nbody_energy(2, masses=[1.0, 1e-3]), [v for v, _ in sys])
    >>> e0 = E(ta.state); _ = ta.propagate_until(100.0)
    >>> bool(abs(E(ta.state) - e0) < 1e-15)
    True
    """
    ms = _masses(n, masses, "nbody")
    G = coeff(Gconst, "Gconst")
    n = len(ms)
    bodies = [_body_vars(i) for i in range(n)]
    acc = [[[] for _ in range(3)] for _ in range(n)]
    gm = [_gm(G, m) for m in ms]
    for i in range(n):
        ri = bodies[i][:3]
        for j in range(i + 1, n):
            if gm[i] is None and gm[j] is None:
                continue  # two test particles do not interact
            rj = bodies[j][:3]
            d = [rj[k] - ri[k] for k in range(3)]
            r_3 = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) ** -1.5
            for k in range(3):
                dk = d[k] * r_3
                if gm[j] is not None:
                    acc[i][k].append(gm[j] * dk)
                if gm[i] is not None:
                    acc[j][k].append(-(gm[i] * dk))
    sys = []
    for i in range(n):
        b = bodies[i]
        sys += [(b[k], b[k + 3]) for k in range(3)]
        sys += [(b[k + 3], nary_sum(acc[i][k])) for k in range(3)]
    return sys


def nbody_energy(n, masses=None, Gconst=1.0):
    """Total energy of :func:`nbody` (kinetic + potential), as an expression.

    ``E = sum_i m_i |v_i|^2 / 2 - sum_{i<j} G m_i m_j / |r_i - r_j|`` in the
    variables ``x_i, ..., vz_i`` of :func:`nbody` (units: mass * length^2 /
    time^2 of the state).

    Examples
    --------
    >>> import taylorjit as tj
    >>> from taylorjit.models import nbody, nbody_energy
    >>> sys = nbody(2)
    >>> E = tj.cfunc(nbody_energy(2), [v for v, _ in sys])
    >>> float(E([0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0]))    # m v^2 / 2 - 1 / 2
    0.0
    """
    ms = _masses(n, masses, "nbody_energy")
    G = coeff(Gconst, "Gconst")
    n = len(ms)
    bodies = [_body_vars(i) for i in range(n)]
    kin = []
    for i in range(n):
        if not is_zero(ms[i]):
            v = bodies[i][3:]
            kin.append(ms[i] * nary_sum([v[k] * v[k] for k in range(3)]))
    pot = []
    for i in range(n):
        for j in range(i + 1, n):
            if is_zero(ms[i]) or is_zero(ms[j]) or is_zero(G):
                continue
            d = [bodies[j][k] - bodies[i][k] for k in range(3)]
            pot.append((G * ms[i] * ms[j]) * (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) ** -0.5)
    return 0.5 * nary_sum(kin) - nary_sum(pot)


def np1body(n, masses=None, Gconst=1.0):
    """The (N+1)-body problem in heliocentric coordinates.

    Body 0 (the "Sun") is the origin; the state holds the positions and
    velocities of bodies ``1 .. n-1`` relative to it:

    ``r_i'' = -G (m_0 + m_i) r_i / |r_i|^3
    + sum_{j != i} G m_j ((r_j - r_i) / |r_j - r_i|^3 - r_j / |r_j|^3)``.

    Parameters
    ----------
    n : int
        Total number of bodies *including* the central one (as heyoka's
        ``model.np1body``): the system has ``6 (n - 1)`` equations.
    masses : sequence of float or Expr, optional
        ``masses[0]`` is the central mass (default: all 1; missing trailing
        masses mean massless bodies).
    Gconst : float or Expr, optional
        Gravitational constant (default 1).

    Returns
    -------
    list of (Expr, Expr)
        Pairs for ``x_i, y_i, z_i, vx_i, vy_i, vz_i``, ``i = 1 .. n-1``.

    Examples
    --------
    >>> import taylorjit as tj
    >>> from taylorjit.models import np1body, np1body_energy
    >>> sys = np1body(3, masses=[1.0, 1e-3, 1e-3])
    >>> len(sys), str(sys[0][0])
    (12, 'x_1')
    >>> ta = tj.TaylorAdaptive(sys, [1, 0, 0, 0, 1, 0, 0, 2, 0, -0.7, 0, 0], compact=True)
    >>> E = tj.cfunc(np1body_energy(3, masses=[1.0, 1e-3, 1e-3]), [v for v, _ in sys])
    >>> e0 = E(ta.state); _ = ta.propagate_until(50.0)
    >>> bool(abs(E(ta.state) - e0) < 1e-16)
    True
    """
    ms = _masses(n, masses, "np1body", first=1)
    G = coeff(Gconst, "Gconst")
    n = len(ms)
    bodies = {i: _body_vars(i) for i in range(1, n)}
    gm = [_gm(G, m) for m in ms]
    # r_j |r_j|^-3, one per body, shared by all the indirect terms
    direct = {}
    for j in range(1, n):
        r = bodies[j][:3]
        r_3 = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]) ** -1.5
        direct[j] = [r[k] * r_3 for k in range(3)]
    acc = {i: [[] for _ in range(3)] for i in range(1, n)}
    for i in range(1, n):
        g0i = _gm(G, ms[0] + ms[i])
        for k in range(3):
            if g0i is not None:
                acc[i][k].append(-(g0i * direct[i][k]))
    for i in range(1, n):
        ri = bodies[i][:3]
        for j in range(i + 1, n):
            if gm[i] is None and gm[j] is None:
                continue
            rj = bodies[j][:3]
            d = [rj[k] - ri[k] for k in range(3)]
            r_3 = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) ** -1.5
            for k in range(3):
                dk = d[k] * r_3
                if gm[j] is not None:   # pull of j on i, minus j's pull on the Sun
                    acc[i][k].append(gm[j] * dk)
                    acc[i][k].append(-(gm[j] * direct[j][k]))
                if gm[i] is not None:
                    acc[j][k].append(-(gm[i] * dk))
                    acc[j][k].append(-(gm[i] * direct[i][k]))
    sys = []
    for i in range(1, n):
        b = bodies[i]
        sys += [(b[k], b[k + 3]) for k in range(3)]
        sys += [(b[k + 3], nary_sum(acc[i][k])) for k in range(3)]
    return sys


def np1body_energy(n, masses=None, Gconst=1.0):
    """Total (barycentric) energy of :func:`np1body`, in its heliocentric variables.

    The barycentric velocity of the central body is
    ``V_0 = -sum_i m_i v_i / M`` (``M`` the total mass), so
    ``E = m_0 |V_0|^2 / 2 + sum_i m_i |v_i + V_0|^2 / 2
    - sum_i G m_0 m_i / |r_i| - sum_{i<j} G m_i m_j / |r_i - r_j|``,
    equal to :func:`nbody_energy` of the same configuration (as heyoka's
    ``model.np1body_energy``).

    Examples
    --------
    >>> import taylorjit as tj
    >>> from taylorjit.models import np1body, np1body_energy
    >>> sys = np1body(2, masses=[1.0, 0.0])          # a test particle: Kepler
    >>> E = tj.cfunc(np1body_energy(2, masses=[1.0, 0.0]), [v for v, _ in sys])
    >>> float(E([2, 0, 0, 0, 0, 0]))                   # massless: zero energy
    0.0
    """
    ms = _masses(n, masses, "np1body_energy", first=1)
    G = coeff(Gconst, "Gconst")
    n = len(ms)
    bodies = {i: _body_vars(i) for i in range(1, n)}
    M = nary_sum(ms) if any(not isinstance(m, float) for m in ms) else float(sum(ms))
    V0 = [-nary_sum([ms[i] * bodies[i][3 + k] for i in range(1, n) if not is_zero(ms[i])]) / M
          for k in range(3)]
    kin = [ms[0] * nary_sum([V0[k] * V0[k] for k in range(3)])]
    pot = []
    for i in range(1, n):
        if is_zero(ms[i]):
            continue
        w = [bodies[i][3 + k] + V0[k] for k in range(3)]
        kin.append(ms[i] * nary_sum([w[k] * w[k] for k in range(3)]))
        r = bodies[i][:3]
        pot.append((G * ms[0] * ms[i]) * (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]) ** -0.5)
        for j in range(i + 1, n):
            if is_zero(ms[j]):
                continue
            d = [bodies[j][k] - bodies[i][k] for k in range(3)]
            pot.append((G * ms[i] * ms[j]) * (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) ** -0.5)
    return 0.5 * nary_sum(kin) - nary_sum(pot)


class OuterSolarSystem(NamedTuple):
    """Initial conditions of the outer solar system (see :func:`outer_solar_system`)."""

    names: tuple
    masses: np.ndarray
    G: float
    state: np.ndarray


_OSS_NAMES = ("Sun", "Jupiter", "Saturn", "Uranus", "Neptune", "Pluto")
_OSS_MASSES = (1.00000597682, 0.0009547861040430418, 0.00028558373315055975,
               4.372731645458918e-05, 5.1775913844879365e-05, 7.4074074e-09)
_OSS_G = 0.01720209895 ** 2
_OSS_STATE = (
    -0.00406428567034226, -0.00608813756435987, -1.66162304225834e-06,
    6.69048890636161e-06, -6.33922479583593e-06, -3.13202145590767e-09,
    3.40546614227466, 3.62978190075864, 0.0342386261766577,
    -0.00559797969310664, 0.00551815399480116, -2.66711392865591e-06,
    6.60801554403466, 6.38084674585064, -0.136145963724542,
    -0.00417354020307064, 0.00399723751748116, 1.67206320571441e-05,
    11.1636331405597, 16.0373479057256, 0.361783279369958,
    -0.00325884806151064, 0.00206438412905916, -2.17699042180559e-05,
    -30.1777243405203, 1.91155314998064, -0.153887595621042,
    -0.000217471785045538, -0.00311361111025884, 3.58344705491441e-05,
    -21.3858977531573, 32.0719104739886, 2.49245689556096,
    -0.00176936577252484, -0.00206720938381724, 0.000658091931493844)


def outer_solar_system() -> OuterSolarSystem:
    """The outer solar system of Applegate et al. (1986): Sun, Jupiter, Saturn,
    Uranus, Neptune, Pluto.

    Returns
    -------
    OuterSolarSystem
        ``names`` (6 body names), ``masses`` (solar masses; the Sun's includes
        the inner planets: 1.00000597682), ``G`` (Gauss's constant squared,
        ``0.01720209895**2`` AU^3 / (solar mass day^2)) and ``state`` (shape
        ``(36,)``: x, y, z in AU and vx, vy, vz in AU/day per body, in the
        order of ``names``; the centre of mass is at the origin to ~2e-7 AU).
        Fresh arrays on every call.

    References
    ----------
    J. H. Applegate, M. R. Douglas, Y. Gursel, G. J. Sussman, J. Wisdom, "The
    outer solar system for 200 million years", AJ 92 (1986) 176-194; the same
    values drive heyoka's outer solar system benchmark.

    Examples
    --------
    >>> import taylorjit as tj
    >>> from taylorjit.models import nbody, outer_solar_system
    >>> oss = outer_solar_system()
    >>> sys = nbody(6, masses=oss.masses, Gconst=oss.G)
    >>> ta = tj.TaylorAdaptive(sys, oss.state, compact=True)
    >>> _ = ta.propagate_until(1e4)                  # days
    >>> round(float(ta.state[6]), 6)                  # Jupiter's x after 1e4 days (AU)
    -5.012052
    """
    return OuterSolarSystem(_OSS_NAMES, np.array(_OSS_MASSES), _OSS_G, np.array(_OSS_STATE))
