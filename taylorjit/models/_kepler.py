"""The two-body problem (``kepler``, with an optional J2 zonal term), its energy,
and conversions between Cartesian states and Keplerian elements."""
from __future__ import annotations

import numpy as np

from .._symbolic.expr import nary_sum
from ._common import coeff, state_vars

__all__ = ["kepler", "kepler_energy", "cartesian_to_elements", "elements_to_cartesian"]

_ANOMALIES = ("mean", "true", "eccentric")
_TWO_PI = 2.0 * np.pi


def _j2_args(j2, radius, what):
    if (j2 is None) != (radius is None):
        raise ValueError(f"{what}: the J2 term needs both j2 (dimensionless) and radius (the "
                         "reference radius of the central body, in the length unit of the "
                         "state): pass both, or neither for the pure Kepler problem")
    if j2 is None:
        return None, None
    return coeff(j2, "j2"), coeff(radius, "radius", positive=True)


def kepler(mu=1.0, j2=None, radius=None):
    """The two-body problem about a fixed centre, optionally with the J2 zonal term.

    ``r'' = -mu r / |r|^3``; with ``j2`` and ``radius`` the oblateness of the
    central body (symmetry axis ``z``) adds the gradient of
    ``mu J2 R^2 (3 z^2 / r^2 - 1) / (2 r^3)`` (the potential's sign is
    such that the energy is :func:`kepler_energy`):

    ``a_x = -mu x / r^3 (1 - 3/2 J2 (R/r)^2 (5 z^2/r^2 - 1))`` (same for y),
    ``a_z = -mu z / r^3 (1 - 3/2 J2 (R/r)^2 (5 z^2/r^2 - 3))``.

    Parameters
    ----------
    mu : float or Expr
        Gravitational parameter ``G M`` (length^3 / time^2 in the units of the
        state, e.g. 398600.4418 km^3/s^2 for the Earth).  Default 1.
    j2 : float or Expr, optional
        Dimensionless J2 coefficient (1.08262668e-3 for the Earth).
    radius : float or Expr, optional
        Reference (equatorial) radius of the central body, in the length unit
        of the state; required with ``j2``.

    Returns
    -------
    list of (Expr, Expr)
        Pairs for the state ``x, y, z, vx, vy, vz``.

    Examples
    --------
    A circular orbit of radius 1 (mu = 1) has period 2 pi:

    >>> import math, taylorjit as tj
    >>> from taylorjit.models import kepler
    >>> ta = tj.TaylorAdaptive(kepler(), [1, 0, 0, 0, 1, 0], compact=True)
    >>> _ = ta.propagate_until(2 * math.pi)
    >>> bool(abs(ta.state[0] - 1) < 1e-14 and abs(ta.state[1]) < 1e-14)
    True
    """
    mu = coeff(mu, "mu")
    j2, radius = _j2_args(j2, radius, "kepler")
    x, y, z, vx, vy, vz = state_vars()
    r2 = nary_sum([x * x, y * y, z * z])
    f = mu * r2 ** -1.5
    if j2 is None:
        ax, ay, az = -(f * x), -(f * y), -(f * z)
    else:
        q = (1.5 * j2 * radius * radius) / r2     # 3/2 J2 (R/r)^2
        s = 5.0 * (z * z) / r2                    # 5 z^2 / r^2
        fxy = f * (1.0 - q * (s - 1.0))
        ax, ay = -(fxy * x), -(fxy * y)
        az = -(f * (1.0 - q * (s - 3.0)) * z)
    return [(x, vx), (y, vy), (z, vz), (vx, ax), (vy, ay), (vz, az)]


def kepler_energy(mu=1.0, j2=None, radius=None):
    """Specific energy of :func:`kepler` (energy per unit mass, length^2/time^2).

    ``E = |v|^2 / 2 - mu / r + mu J2 R^2 (3 z^2 / r^2 - 1) / (2 r^3)``
    (the last term only with ``j2``).

    Examples
    --------
    >>> import taylorjit as tj
    >>> from taylorjit.models import kepler, kepler_energy
    >>> E = tj.cfunc(kepler_energy(mu=2.0), [v for v, _ in kepler(mu=2.0)])
    >>> float(E([2, 0, 0, 0, 1, 0]))     # 1/2 - 2/2
    -0.5
    """
    mu = coeff(mu, "mu")
    j2, radius = _j2_args(j2, radius, "kepler_energy")
    x, y, z, vx, vy, vz = state_vars()
    r2 = nary_sum([x * x, y * y, z * z])
    e = 0.5 * nary_sum([vx * vx, vy * vy, vz * vz]) - mu * r2 ** -0.5
    if j2 is not None:
        e = e + (0.5 * mu * j2 * radius * radius) * (3.0 * (z * z) / r2 - 1.0) * r2 ** -1.5
    return e


# ------------------------------------------------------------------ elements
def _check_anomaly(anomaly):
    if anomaly not in _ANOMALIES:
        raise ValueError(f"anomaly must be one of {_ANOMALIES} (which anomaly the sixth element "
                         f"is), got {anomaly!r}")


def _check_mu(mu):
    mu = float(mu)
    if not mu > 0.0 or not np.isfinite(mu):
        raise ValueError(f"mu (the gravitational parameter G M) must be a positive finite "
                         f"number, got {mu!r}")
    return mu


def cartesian_to_elements(state, mu=1.0, *, anomaly="mean"):
    """Keplerian elements of elliptic orbits from Cartesian states.

    Parameters
    ----------
    state : array_like, shape (6,) or (..., 6)
        ``x, y, z, vx, vy, vz`` relative to the central body.
    mu : float
        Gravitational parameter (length^3/time^2, units of the state).
    anomaly : {"mean", "true", "eccentric"}
        Which anomaly is returned as the sixth element.

    Returns
    -------
    ndarray, shape (6,) or (..., 6)
        ``a, e, i, Omega, omega, anomaly``: semi-major axis (length unit),
        eccentricity, inclination in [0, pi], longitude of the ascending node,
        argument of pericentre and anomaly in [0, 2 pi) (radians).  Singular
        cases: for an equatorial orbit (i = 0 or pi) Omega = 0 (the node line
        is the x axis); for a circular orbit (e = 0) omega = 0 (anomalies are
        measured from the node).

    Raises
    ------
    ValueError
        For a non-elliptic orbit (specific energy >= 0: parabolic or
        hyperbolic, which this function does not support) or a rectilinear
        one (zero angular momentum).

    Examples
    --------
    >>> from taylorjit.models import cartesian_to_elements
    >>> cartesian_to_elements([1.0, 0, 0, 0, 1.0, 0]).round(12)     # circular, equatorial
    array([1., 0., 0., 0., 0., 0.])
    """
    _check_anomaly(anomaly)
    mu = _check_mu(mu)
    s = np.asarray(state, dtype=float)
    if s.shape[-1:] != (6,):
        raise ValueError(f"state must have shape (6,) or (..., 6) (x, y, z, vx, vy, vz), got "
                         f"shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("cartesian_to_elements: the state contains non-finite values")
    r = s[..., :3]
    v = s[..., 3:]
    rn = np.linalg.norm(r, axis=-1)
    if np.any(rn == 0.0):
        raise ValueError("cartesian_to_elements: the position is at the central body (r = 0): "
                         "the elements are undefined")
    v2 = np.sum(v * v, axis=-1)
    rv = np.sum(r * v, axis=-1)
    h = np.cross(r, v)
    hn = np.linalg.norm(h, axis=-1)
    energy = 0.5 * v2 - mu / rn
    bad = ~(energy < 0.0)
    if np.any(bad):
        worst = float(np.max(energy))
        raise ValueError(f"cartesian_to_elements supports elliptic orbits only, but the "
                         f"specific energy |v|^2/2 - mu/r is {worst!r} >= 0 (parabolic or "
                         f"hyperbolic orbit): check the state and mu (= {mu!r}, the "
                         "gravitational parameter in the units of the state)")
    if np.any(hn == 0.0):
        raise ValueError("cartesian_to_elements: zero angular momentum (rectilinear orbit: "
                         "position and velocity are parallel): the elements are undefined")
    a = -mu / (2.0 * energy)
    esinE = rv / np.sqrt(mu * a)
    ecosE = 1.0 - rn / a
    e = np.hypot(esinE, ecosE)
    inc = np.arctan2(np.hypot(h[..., 0], h[..., 1]), h[..., 2])
    hhat = h / hn[..., None]
    nvec = np.stack([-h[..., 1], h[..., 0], np.zeros_like(hn)], axis=-1)
    nn = np.linalg.norm(nvec, axis=-1)
    equatorial = nn == 0.0
    nhat = np.where(equatorial[..., None], np.array([1.0, 0.0, 0.0]),
                    nvec / np.where(equatorial, 1.0, nn)[..., None])
    Omega = np.where(equatorial, 0.0, np.arctan2(h[..., 0], -h[..., 1]))
    # argument of latitude: angle from the node to r, in the orbit plane
    u = np.arctan2(np.sum(np.cross(nhat, r) * hhat, axis=-1), np.sum(nhat * r, axis=-1))
    E = np.arctan2(esinE, ecosE)
    nu = 2.0 * np.arctan2(np.sqrt(1.0 + e) * np.sin(0.5 * E), np.sqrt(1.0 - e) * np.cos(0.5 * E))
    omega = u - nu
    if anomaly == "mean":
        an = E - esinE
    elif anomaly == "eccentric":
        an = E
    else:
        an = nu
    out = np.stack([a, e, inc, np.mod(Omega, _TWO_PI), np.mod(omega, _TWO_PI),
                    np.mod(an, _TWO_PI)], axis=-1)
    # mod can round 2 pi - tiny up to exactly 2 pi
    out[..., 3:] = np.where(out[..., 3:] >= _TWO_PI, 0.0, out[..., 3:])
    return out


def elements_to_cartesian(elements, mu=1.0, *, anomaly="mean"):
    """Cartesian states from Keplerian elements of elliptic orbits.

    Parameters
    ----------
    elements : array_like, shape (6,) or (..., 6)
        ``a, e, i, Omega, omega, anomaly`` (length unit, -, radians), as
        returned by :func:`cartesian_to_elements`; ``0 <= e < 1``, ``a > 0``.
    mu : float
        Gravitational parameter (length^3/time^2).
    anomaly : {"mean", "true", "eccentric"}
        Which anomaly the sixth element is.  The mean anomaly is converted to
        the eccentric anomaly with :func:`taylorjit.kepE`.

    Returns
    -------
    ndarray, shape (6,) or (..., 6)
        ``x, y, z, vx, vy, vz``.

    Examples
    --------
    Half an orbit after pericentre (mean anomaly pi), an orbit with a = 1,
    e = 0.5 is at apocentre, x = -a (1 + e):

    >>> import math
    >>> from taylorjit.models import elements_to_cartesian
    >>> elements_to_cartesian([1.0, 0.5, 0, 0, 0, math.pi]).round(8) + 0.0
    array([-1.5       ,  0.        ,  0.        ,  0.        , -0.57735027,
            0.        ])
    """
    _check_anomaly(anomaly)
    mu = _check_mu(mu)
    el = np.asarray(elements, dtype=float)
    if el.shape[-1:] != (6,):
        raise ValueError(f"elements must have shape (6,) or (..., 6) (a, e, i, Omega, omega, "
                         f"anomaly), got shape {el.shape}")
    a, e, inc, Om, om, an = (el[..., k] for k in range(6))
    bad_e = ~((e >= 0.0) & (e < 1.0))
    if np.any(bad_e):
        raise ValueError(f"elements_to_cartesian supports elliptic orbits only (0 <= e < 1), "
                         f"got e = {float(np.asarray(e)[bad_e].flat[0])!r}: parabolic and "
                         "hyperbolic orbits are not supported")
    bad_a = ~(a > 0.0)
    if np.any(bad_a) or not np.all(np.isfinite(el)):
        bad_val = float(np.asarray(a)[bad_a].flat[0]) if np.any(bad_a) else "non-finite"
        raise ValueError(f"elements_to_cartesian: the semi-major axis must be positive and all "
                         f"elements finite, got a = {bad_val!r}")
    if anomaly == "mean":
        from .._funcs.special import kepE

        E = np.asarray(np.vectorize(kepE, otypes=[float])(e, an), dtype=float)
    elif anomaly == "eccentric":
        E = an
    else:
        E = 2.0 * np.arctan2(np.sqrt(1.0 - e) * np.sin(0.5 * an),
                             np.sqrt(1.0 + e) * np.cos(0.5 * an))
    cE, sE = np.cos(E), np.sin(E)
    b = np.sqrt((1.0 - e) * (1.0 + e))
    xp = a * (cE - e)
    yp = a * b * sE
    rn = a * (1.0 - e * cE)
    f = np.sqrt(mu * a) / rn
    vxp = -f * sE
    vyp = f * b * cE
    cO, sO, co, so = np.cos(Om), np.sin(Om), np.cos(om), np.sin(om)
    ci, si = np.cos(inc), np.sin(inc)
    P = np.stack([cO * co - sO * so * ci, sO * co + cO * so * ci, so * si], axis=-1)
    Q = np.stack([-cO * so - sO * co * ci, -sO * so + cO * co * ci, co * si], axis=-1)
    r = xp[..., None] * P + yp[..., None] * Q
    v = vxp[..., None] * P + vyp[..., None] * Q
    return np.concatenate([r, v], axis=-1)
