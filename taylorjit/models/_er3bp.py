"""The elliptic restricted three-body problem (ER3BP) in the pulsating rotating
frame, with the true anomaly of the primaries as the independent variable."""
from __future__ import annotations

from .._symbolic.expr import nary_sum, time
from .._funcs.trig import cos
from ._classic import _check_mu, _cr3bp_r
from ._common import coeff, state_vars

__all__ = ["er3bp"]


def er3bp(mu, eccentricity):
    """The elliptic restricted three-body problem in pulsating rotating coordinates.

    The primaries (masses ``1 - mu`` and ``mu``) move on Keplerian ellipses of
    eccentricity ``e`` about their barycentre.  The frame rotates with the
    line of the primaries (angle: their true anomaly ``f``) and its lengths are
    scaled by their instantaneous distance ``rho = a (1 - e^2) / (1 + e cos f)``,
    so the primaries stay at ``(-mu, 0, 0)`` and ``(1 - mu, 0, 0)`` (the
    placement of :func:`cr3bp`).  The independent variable is ``f`` itself
    (``tj.time`` in the system is the true anomaly) and derivatives are taken
    with respect to ``f`` (Szebehely, *Theory of Orbits*, 1967, Ch. 10):

    ``x'' - 2 y' = k (x - (1 - mu)(x + mu)/r1^3 - mu (x - 1 + mu)/r2^3)``,
    ``y'' + 2 x' = k (y - (1 - mu) y/r1^3 - mu y/r2^3)``,
    ``z'' = -k (e cos f z + (1 - mu) z/r1^3 + mu z/r2^3)``,

    with ``k = 1 / (1 + e cos f)``, i.e. ``x'' - 2 y' = dOmega/dx``, ... and
    ``z'' + z = dOmega/dz`` for ``Omega = k ((x^2 + y^2 + z^2)/2 + (1 - mu)/r1
    + mu/r2)``.  With ``e = 0``, ``f`` is the time and the system is
    :func:`cr3bp`.  There is no Jacobi integral: ``J = |v|^2/2 + z^2/2 -
    Omega`` obeys ``dJ/df = -dOmega/df = -e sin f k Omega``.

    Units: the semi-major axis ``a`` of the relative orbit of the primaries,
    their total mass and ``G`` are 1 (the mean motion is 1).  A state
    ``xi`` (position), ``xi'`` (its ``f``-derivative) at true anomaly ``f``
    corresponds to the barycentric inertial position ``r = rho R(f) xi`` and
    velocity ``dr/dt = R(f) (rho_dot xi + rho f_dot (J xi + xi'))``, with
    ``R(f)`` the rotation by ``f`` about ``z``, ``J xi = (-xi_y, xi_x, 0)``,
    ``f_dot = sqrt(1 - e^2) / rho^2`` and ``rho_dot = e sin f / sqrt(1 - e^2)``.

    Parameters
    ----------
    mu : float or Expr
        Mass ratio ``m2 / (m1 + m2)`` in (0, 1); ``tj.par[i]`` makes it a
        runtime parameter.
    eccentricity : float or Expr
        Eccentricity ``e`` of the primaries' orbit, in [0, 1) (number or
        expression, e.g. ``tj.par[1]``).

    Returns
    -------
    list of (Expr, Expr)
        Pairs for ``x, y, z, vx, vy, vz`` (``vx = dx/df``, ...); integrate
        with ``TaylorAdaptive(sys, state, time=f0)``.

    Examples
    --------
    Sun-Jupiter (e = 0.0484): one revolution of the primaries is ``f`` from 0
    to 2 pi.

    >>> import math, taylorjit as tj
    >>> sys = tj.models.er3bp(mu=tj.par[0], eccentricity=tj.par[1])
    >>> ta = tj.TaylorAdaptive(sys, [-0.5, 0.8, 0, 0, 0, 0], pars=[9.537e-4, 0.0484],
    ...                        compact=True)
    >>> _ = ta.propagate_until(2 * math.pi)
    >>> round(float(ta.time), 12)
    6.28318530718
    """
    mu = _check_mu(mu)
    e = coeff(eccentricity, "eccentricity")
    if isinstance(e, float) and not 0.0 <= e < 1.0:
        raise ValueError(f"eccentricity is the eccentricity of the primaries' elliptic orbit "
                         f"and must lie in [0, 1), got {e!r}")
    x, y, z, r1sq, r2sq = _cr3bp_r(mu)
    _, _, _, vx, vy, vz = state_vars()
    ecf = e * cos(time)
    k = 1.0 / (1.0 + ecf)
    k1 = (1.0 - mu) * r1sq ** -1.5
    k2 = mu * r2sq ** -1.5
    gx = nary_sum([x, -(k1 * (x + mu)), -(k2 * (x - (1.0 - mu)))])
    gy = nary_sum([y, -((k1 + k2) * y)])
    ax = 2.0 * vy + k * gx
    ay = -2.0 * vx + k * gy
    az = -(k * ((ecf + (k1 + k2)) * z))
    return [(x, vx), (y, vy), (z, vz), (vx, ax), (vy, ay), (vz, az)]
