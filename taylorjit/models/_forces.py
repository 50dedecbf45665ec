"""Non-gravitational perturbations as acceleration builders: exponential-atmosphere
drag (``drag_acc``), cannonball solar radiation pressure (``srp_acc``, optional
smooth cylindrical shadow), and ``add_acceleration`` to add any acceleration to
the velocity equations of a model (e.g. :func:`kepler`)."""
from __future__ import annotations

from .._symbolic.expr import Expr, expr, nary_sum
from .._funcs.arith import sqrt
from .._funcs.explog import exp
from .._funcs.special import sigmoid
from ._classic import _omega
from ._common import check_system_vars, coeff, cross, dot, state_vars

__all__ = ["add_acceleration", "drag_acc", "srp_acc"]

P_SUN_1AU = 4.56e-6          # N / m^2, Montenbruck & Gill (2000), Sec. 3.4
AU = 149597870700.0          # m (IAU 2012)


def _vec(v, name, what):
    if v is None:
        return None
    if isinstance(v, (Expr, str)) or not hasattr(v, "__len__") or len(v) != 3:
        raise ValueError(f"{what}: {name} must be a 3-vector (3 numbers or expressions), got "
                         f"{v!r:.60}")
    return [c if isinstance(c, Expr) else expr(coeff(c, f"{name}[{k}]"))
            for k, c in enumerate(v)]


def add_acceleration(sys, *accs):
    """Add accelerations to the velocity equations of a system.

    Parameters
    ----------
    sys : list of (var, rhs)
        A system with equations for ``vx, vy, vz`` (any ``taylorjit.models``
        particle model: :func:`kepler`, :func:`sh_gravity`, :func:`mascon`,
        ...).
    *accs : sequences of 3 Expr
        Accelerations ``[ax, ay, az]`` (e.g. from :func:`drag_acc`,
        :func:`srp_acc`, :func:`sh_gravity_acc`).

    Returns
    -------
    list of (Expr, Expr)
        A new system: ``vx' = rhs + sum(ax)`` and so on, other equations
        unchanged.

    Examples
    --------
    >>> import taylorjit as tj
    >>> sys = tj.models.add_acceleration(tj.models.kepler(), [0, 0, -1e-3])
    >>> f = tj.cfunc([r for _, r in sys], [v for v, _ in sys])
    >>> (f([2.0, 0, 0, 0, 0.5, 0]) + 0.0).tolist()    # -1/4 in x, -1e-3 in z
    [0.0, 0.5, 0.0, -0.25, 0.0, -0.001]
    """
    pairs = check_system_vars(sys, "add_acceleration: sys")
    vel = state_vars()[3:]
    pos = {id(lhs): k for k, (lhs, _) in enumerate(pairs)}
    missing = [str(w) for w in vel if id(w) not in pos]
    if missing:
        raise ValueError(f"add_acceleration: sys has no equation for {', '.join(missing)}: "
                         "accelerations act on the particle's vx, vy, vz (as in the "
                         "taylorjit.models systems)")
    vs = [_vec(a, f"accs[{i}]", "add_acceleration") for i, a in enumerate(accs)]
    out = list(pairs)
    for k, w in enumerate(vel):
        i = pos[id(w)]
        out[i] = (w, nary_sum([out[i][1]] + [a[k] for a in vs]))
    return out


def drag_acc(rho0, h0, scale_height, cd_area_mass, radius, omega=None, *, xyz=None,
             vxyz=None):
    """Atmospheric drag in an exponential atmosphere.

    ``a = -1/2 rho(h) (Cd A / m) |v_rel| v_rel`` with the density
    ``rho(h) = rho0 exp(-(h - h0) / H)`` at the altitude ``h = |r| - radius``
    (spherical body) and the velocity relative to the atmosphere
    ``v_rel = v - omega x r`` (an atmosphere co-rotating with the body at
    angular velocity ``omega``; ``v_rel = v`` without ``omega``).  Position and
    velocity are inertial, centred on the body (with ``omega = None`` the
    formula holds in any frame where the air is at rest).

    Parameters
    ----------
    rho0 : float or Expr
        Density at the reference altitude ``h0`` (mass/length^3, e.g. kg/m^3).
    h0 : float or Expr
        Reference altitude (length).
    scale_height : float or Expr
        Scale height ``H`` (length, > 0).
    cd_area_mass : float or Expr
        ``Cd A / m``: drag coefficient times cross-section over mass
        (length^2/mass, e.g. m^2/kg), the inverse ballistic coefficient.
    radius : float or Expr
        Radius of the body (length): altitudes are measured from ``|r| = radius``.
    omega : sequence of 3 float or Expr, optional
        Angular velocity of the atmosphere (rad/time, e.g. ``[0, 0, 7.292115e-5]``
        rad/s for the Earth).
    xyz, vxyz : sequence of 3 Expr, optional
        Position and velocity (default: the variables ``x, y, z, vx, vy, vz``
        of the ``taylorjit.models`` systems).

    Returns
    -------
    list of 3 Expr
        ``[ax, ay, az]``; add them to a system with :func:`add_acceleration`.

    Examples
    --------
    Drag on a LEO satellite (metres, seconds, kilograms): the orbital energy
    decays.

    >>> import taylorjit as tj
    >>> mu, R = 3.986004418e14, 6378137.0
    >>> acc = tj.models.drag_acc(rho0=3.0e-12, h0=400e3, scale_height=60e3,
    ...                          cd_area_mass=0.02, radius=R, omega=[0, 0, 7.292115e-5])
    >>> sys = tj.models.add_acceleration(tj.models.kepler(mu=mu), acc)
    >>> E = tj.cfunc(tj.models.kepler_energy(mu=mu), [v for v, _ in sys])
    >>> ta = tj.TaylorAdaptive(sys, [R + 350e3, 0, 0, 0, 7700.0, 0], compact=True)
    >>> e0 = E(ta.state); _ = ta.propagate_until(5500.0)
    >>> bool(0 < E(ta.state) / e0 - 1 < 1e-5)     # E < 0 grows in size: the orbit decays
    True
    """
    what = "drag_acc"
    rho0 = coeff(rho0, "rho0", nonnegative=True)
    h0 = coeff(h0, "h0")
    H = coeff(scale_height, "scale_height", positive=True)
    B = coeff(cd_area_mass, "cd_area_mass", nonnegative=True)
    R = coeff(radius, "radius", nonnegative=True)
    sv = state_vars()
    r = _vec(xyz, "xyz", what) or sv[:3]
    v = _vec(vxyz, "vxyz", what) or sv[3:]
    if omega is not None:
        w = _omega(omega, what)
        wr = cross(w, r)
        v = [v[k] - wr[k] for k in range(3)]
    rn = sqrt(dot(r, r))
    rho = rho0 * exp((R + h0 - rn) / H)
    f = (-0.5 * B) * rho * sqrt(dot(v, v))
    return [f * v[k] for k in range(3)]


def srp_acc(cr_area_mass, sun, p_sun=P_SUN_1AU, au=AU, *, shadow_radius=None,
            shadow_width=None, xyz=None):
    """Solar radiation pressure on a cannonball (sphere) model.

    ``a = nu P_sun (AU / d)^2 (Cr A / m) d_hat`` with ``d = r - r_sun`` the
    Sun-to-spacecraft vector, ``d_hat = d / |d|``: the pressure ``P_sun`` at
    1 AU scaled by the inverse square of the distance, directed away from the
    Sun.  ``nu`` is the illuminated fraction: 1 (no shadow) by default, or,
    with ``shadow_radius``, a smooth *cylindrical* shadow of the central body
    (no penumbra cone):

    ``nu = 1 - sigmoid(-s / w) * sigmoid((R^2 - (|r|^2 - s^2)) / (2 R w))``,

    ``s = r . r_sun / |r_sun|`` the position along the Sun direction, ``R`` the
    shadow radius and ``w`` the width of the smooth transition: ``nu`` goes
    from 1 in sunlight to 0 inside the cylinder of radius ``R`` behind the
    body, over a distance ~``w`` across its edge and across the terminator
    plane.  The shadow function is analytic (no event or switching needed),
    but a small ``w`` makes the Taylor steps shorter at shadow crossings.

    Parameters
    ----------
    cr_area_mass : float or Expr
        ``Cr A / m``: reflectivity coefficient (1 to 2) times cross-section
        over mass (length^2/mass).
    sun : sequence of 3 float or Expr
        Position of the Sun relative to the central body, in the frame of the
        state (numbers for a fixed Sun, or expressions of ``tj.time``, e.g. a
        circular ephemeris ``[au * tj.cos(n * tj.time), au * tj.sin(n *
        tj.time), 0]``, or of other state variables).
    p_sun : float or Expr, optional
        Radiation pressure at 1 AU; default ``4.56e-6`` N/m^2 (Montenbruck &
        Gill, *Satellite Orbits*, 2000, Sec. 3.4), in SI units: pass it in
        mass/(length time^2) of your units otherwise (``4.56e-9`` kg/(km s^2)
        with kilometres).
    au : float or Expr, optional
        The astronomical unit in the length unit of the state (default
        ``149597870700.0``, metres).
    shadow_radius : float or Expr, optional
        Radius of the shadowing central body (length; e.g. 6378137.0 m for the
        Earth); ``None`` (default): no shadow.
    shadow_width : float or Expr, optional
        Transition width ``w`` of the smooth shadow (length); default
        ``shadow_radius / 100`` (64 km for the Earth, about the penumbra
        width of a low orbit).
    xyz : sequence of 3 Expr, optional
        Spacecraft position relative to the central body (default: ``x, y, z``).

    Returns
    -------
    list of 3 Expr
        ``[ax, ay, az]`` (length/time^2); add to a system with
        :func:`add_acceleration`.

    Examples
    --------
    1 AU from the Sun with ``Cr A / m = 0.02`` m^2/kg the acceleration is
    ``4.56e-6 * 0.02`` m/s^2, away from the Sun:

    >>> import taylorjit as tj
    >>> xyz = tj.make_vars("x", "y", "z")
    >>> acc = tj.models.srp_acc(0.02, sun=[149597870700.0, 0, 0])
    >>> a = tj.cfunc(acc, xyz)([0.0, 0.0, 0.0])
    >>> round(float(a[0]), 20), float(a[1])
    (-9.12e-08, 0.0)
    """
    what = "srp_acc"
    k = coeff(cr_area_mass, "cr_area_mass", nonnegative=True)
    p = coeff(p_sun, "p_sun", nonnegative=True)
    au = coeff(au, "au", positive=True)
    sun_ = _vec(sun, "sun", what)
    if sun_ is None:
        raise ValueError(f"{what}: sun (the Sun's position relative to the central body) is "
                         "required")
    r = _vec(xyz, "xyz", what) or state_vars()[:3]
    d = [r[i] - sun_[i] for i in range(3)]
    f = (p * au * au * k) * dot(d, d) ** -1.5
    if shadow_radius is not None:
        R = coeff(shadow_radius, "shadow_radius", positive=True)
        w = R / 100.0 if shadow_width is None else coeff(shadow_width, "shadow_width",
                                                          positive=True)
        s = dot(r, sun_) * dot(sun_, sun_) ** -0.5
        behind = sigmoid(-s / w)
        inside = sigmoid((R * R - dot(r, r) + s * s) / (2.0 * R * w))
        f = f * (1.0 - behind * inside)
    return [f * d[i] for i in range(3)]
