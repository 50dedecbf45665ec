"""Classic low-dimensional models: the pendulum, the circular restricted
three-body problem (CR3BP), the problem of fixed centres, and the fictitious
accelerations of a uniformly rotating frame."""
from __future__ import annotations


from .._symbolic.expr import Expr, nary_sum, var
from .._funcs.trig import cos, sin
from ._common import check_system_vars, coeff, cross, dot, is_zero, state_vars

__all__ = ["pendulum", "pendulum_energy", "cr3bp", "cr3bp_jacobi", "fixed_centres",
           "fixed_centres_energy", "fixed_centres_potential", "rotating", "rotating_energy",
           "rotating_potential"]


# ------------------------------------------------------------------ pendulum
def pendulum(gconst=1.0, length=1.0):
    """The simple pendulum ``x'' = -(g / l) sin x``.

    Parameters
    ----------
    gconst : float or Expr
        Gravitational acceleration ``g`` (e.g. 9.80665 m/s^2).  Default 1.
    length : float or Expr
        Length ``l`` of the pendulum (same length unit as ``g``).  Default 1.

    Returns
    -------
    list of (Expr, Expr)
        Pairs for ``x`` (angle from the downward vertical, radians) and ``v``
        (its time derivative, rad/time), as ``heyoka.model.pendulum``.

    Examples
    --------
    >>> import taylorjit as tj
    >>> from taylorjit.models import pendulum
    >>> pendulum(gconst=9.8)
    [(x, v), (v, (-9.8)*sin(x))]
    """
    g = coeff(gconst, "gconst")
    ln = coeff(length, "length", positive=True)
    x, v = var("x"), var("v")
    return [(x, v), (v, -(g / ln) * sin(x))]


def pendulum_energy(gconst=1.0, length=1.0):
    """Energy per unit mass of :func:`pendulum`: ``l^2 v^2 / 2 + g l (1 - cos x)``
    (as heyoka's ``model.pendulum_energy``; length^2/time^2).

    Examples
    --------
    >>> import taylorjit as tj
    >>> from taylorjit.models import pendulum_energy
    >>> x, v = tj.make_vars("x", "v")
    >>> float(tj.cfunc(pendulum_energy(), [x, v])([0.0, 2.0]))
    2.0
    """
    g = coeff(gconst, "gconst")
    ln = coeff(length, "length", positive=True)
    x, v = var("x"), var("v")
    return (0.5 * ln * ln) * (v * v) + (g * ln) * (1.0 - cos(x))


# ------------------------------------------------------------------ CR3BP
def _cr3bp_r(mu):
    x, y, z = var("x"), var("y"), var("z")
    yz = y * y + z * z
    r1sq = (x + mu) * (x + mu) + yz
    r2sq = (x - (1.0 - mu)) * (x - (1.0 - mu)) + yz
    return x, y, z, r1sq, r2sq


def _check_mu(mu):
    mu = coeff(mu, "mu")
    if isinstance(mu, float) and not 0.0 < mu < 1.0:
        raise ValueError(f"mu is the mass ratio m2 / (m1 + m2) of the CR3BP and must lie in "
                         f"(0, 1) (usually <= 0.5), got {mu!r}")
    return mu


def cr3bp(mu):
    """The circular restricted three-body problem in the rotating frame.

    Dimensionless units: the distance between the primaries, their total mass
    and ``G`` are 1, and the frame rotates with unit angular velocity about
    ``z``; the primary of mass ``1 - mu`` sits at ``(-mu, 0, 0)``, the
    secondary of mass ``mu`` at ``(1 - mu, 0, 0)`` (Szebehely's convention;
    heyoka's ``model.cr3bp`` instead uses canonical momenta ``px, py, pz``
    and the mirrored placement):

    ``x'' = 2 y' + x - (1 - mu)(x + mu)/r1^3 - mu (x - 1 + mu)/r2^3``,
    ``y'' = -2 x' + y - (1 - mu) y/r1^3 - mu y/r2^3``,
    ``z'' = -(1 - mu) z/r1^3 - mu z/r2^3``.

    Parameters
    ----------
    mu : float or Expr
        Mass ratio ``m2 / (m1 + m2)`` (0.01215058560962404 for Earth-Moon);
        ``tj.par[i]`` makes it a runtime parameter.

    Returns
    -------
    list of (Expr, Expr)
        Pairs for ``x, y, z, vx, vy, vz`` (velocities in the rotating frame).

    Examples
    --------
    The Jacobi constant is conserved:

    >>> import taylorjit as tj
    >>> from taylorjit.models import cr3bp, cr3bp_jacobi
    >>> sys = cr3bp(mu=0.01215)
    >>> C = tj.cfunc(cr3bp_jacobi(mu=0.01215), [v for v, _ in sys])
    >>> ta = tj.TaylorAdaptive(sys, [0.5, 0, 0.1, 0, 0.8, 0], compact=True)
    >>> c0 = C(ta.state); _ = ta.propagate_until(20.0)
    >>> bool(abs(C(ta.state) - c0) < 1e-13)
    True
    """
    mu = _check_mu(mu)
    x, y, z, r1sq, r2sq = _cr3bp_r(mu)
    _, _, _, vx, vy, vz = state_vars()
    k1 = (1.0 - mu) * r1sq ** -1.5
    k2 = mu * r2sq ** -1.5
    ax = nary_sum([2.0 * vy, x, -(k1 * (x + mu)), -(k2 * (x - (1.0 - mu)))])
    ay = nary_sum([-2.0 * vx, y, -((k1 + k2) * y)])
    az = -((k1 + k2) * z)
    return [(x, vx), (y, vy), (z, vz), (vx, ax), (vy, ay), (vz, az)]


def cr3bp_jacobi(mu):
    """The Jacobi constant of :func:`cr3bp` (dimensionless).

    ``C = x^2 + y^2 + 2 (1 - mu) / r1 + 2 mu / r2 - (vx^2 + vy^2 + vz^2)``
    (conserved; ``C = -2 H`` with heyoka's ``model.cr3bp_jacobi`` ``H``
    when the same state is expressed in its coordinates).

    Examples
    --------
    >>> import taylorjit as tj
    >>> from taylorjit.models import cr3bp_jacobi
    >>> C = tj.cfunc(cr3bp_jacobi(0.5), tj.make_vars("x", "y", "z", "vx", "vy", "vz"))
    >>> float(C([0, 0, 0, 0, 0, 0]))          # 2 * 0.5 / 0.5 * 2
    4.0
    """
    mu = _check_mu(mu)
    x, y, z, r1sq, r2sq = _cr3bp_r(mu)
    _, _, _, vx, vy, vz = state_vars()
    return nary_sum([x * x, y * y, (2.0 * (1.0 - mu)) * r1sq ** -0.5, (2.0 * mu) * r2sq ** -0.5,
                     -(vx * vx), -(vy * vy), -(vz * vz)])


# ------------------------------------------------------------------ fixed centres
def _centres(masses, positions, Gconst, what):
    G = coeff(Gconst, "Gconst")
    if isinstance(masses, (Expr, int, float)) or not hasattr(masses, "__len__"):
        raise TypeError(f"{what}: masses must be a sequence (one mass per centre), got "
                        f"{masses!r}")
    ms = [coeff(m, f"masses[{k}]") for k, m in enumerate(masses)]
    pos = [list(p) for p in positions]
    if len(pos) != len(ms) or any(len(p) != 3 for p in pos):
        raise ValueError(f"{what}: positions must be an N x 3 array (one 3-vector per mass), got "
                         f"{len(pos)} positions for {len(ms)} masses")
    pos = [[coeff(c, f"positions[{k}]") for c in p] for k, p in enumerate(pos)]
    return G, ms, pos


def fixed_centres(masses, positions, Gconst=1.0):
    """A test particle in the Newtonian field of masses fixed in space.

    ``r'' = sum_k G m_k (p_k - r) / |p_k - r|^3``.

    Parameters
    ----------
    masses : sequence of float or Expr
        The masses of the centres.
    positions : array_like, shape (N, 3)
        Their positions (numbers or expressions).
    Gconst : float or Expr, optional
        Gravitational constant (default 1; units consistent with the state).

    Returns
    -------
    list of (Expr, Expr)
        Pairs for ``x, y, z, vx, vy, vz`` of the test particle (as
        ``heyoka.model.fixed_centres``, whose argument order is
        ``(Gconst, masses, positions)``).

    Examples
    --------
    Euler's problem of two fixed centres; the energy is conserved:

    >>> import taylorjit as tj
    >>> from taylorjit.models import fixed_centres, fixed_centres_energy
    >>> args = ([1.0, 0.5], [[-1, 0, 0], [1, 0, 0]])
    >>> sys = fixed_centres(*args)
    >>> E = tj.cfunc(fixed_centres_energy(*args), [v for v, _ in sys])
    >>> ta = tj.TaylorAdaptive(sys, [0, 2.5, 0.3, 0.6, 0, 0], compact=True)
    >>> e0 = E(ta.state); _ = ta.propagate_until(30.0)
    >>> bool(abs(E(ta.state) - e0) < 1e-14)
    True
    """
    G, ms, pos = _centres(masses, positions, Gconst, "fixed_centres")
    x, y, z, vx, vy, vz = state_vars()
    r = [x, y, z]
    acc = [[], [], []]
    for m, p in zip(ms, pos):
        if is_zero(m) or is_zero(G):
            continue
        d = [r[k] - p[k] for k in range(3)]
        f = (G * m) * nary_sum([d[k] * d[k] for k in range(3)]) ** -1.5
        for k in range(3):
            acc[k].append(-(f * d[k]))
    return [(x, vx), (y, vy), (z, vz)] + [(w, nary_sum(a)) for w, a in zip((vx, vy, vz), acc)]


def fixed_centres_potential(masses, positions, Gconst=1.0):
    """Potential energy per unit mass of :func:`fixed_centres`:
    ``-sum_k G m_k / |p_k - r|``."""
    G, ms, pos = _centres(masses, positions, Gconst, "fixed_centres_potential")
    r = state_vars()[:3]
    terms = []
    for m, p in zip(ms, pos):
        if is_zero(m) or is_zero(G):
            continue
        d = [r[k] - p[k] for k in range(3)]
        terms.append((G * m) * nary_sum([d[k] * d[k] for k in range(3)]) ** -0.5)
    return -nary_sum(terms)


def fixed_centres_energy(masses, positions, Gconst=1.0):
    """Energy per unit mass of :func:`fixed_centres`: ``|v|^2 / 2`` + the potential."""
    v = state_vars()[3:]
    return 0.5 * dot(v, v) + fixed_centres_potential(masses, positions, Gconst)


# ------------------------------------------------------------------ rotating frame
def _omega(omega, what):
    try:
        w = list(omega)
    except TypeError:
        raise TypeError(f"{what}: omega must be the angular velocity vector [wx, wy, wz] of the "
                        f"frame, got {omega!r}") from None
    if len(w) != 3:
        raise ValueError(f"{what}: omega must have 3 components [wx, wy, wz], got {len(w)}")
    return [coeff(c, f"omega[{k}]") for k, c in enumerate(w)]


def _fictitious(w, r, v):
    """-2 w x v - w x (w x r)."""
    cor = cross(w, v)
    cen = cross(w, cross(w, r))
    return [-(2.0 * cor[k]) - cen[k] for k in range(3)]


def rotating(omega, sys=None):
    """Dynamics in a frame rotating uniformly with angular velocity ``omega``.

    Adds the Coriolis and centrifugal accelerations
    ``-2 omega x v - omega x (omega x r)`` to the velocity equations of the
    particle ``x, y, z, vx, vy, vz``.

    Parameters
    ----------
    omega : sequence of 3 float or Expr
        Angular velocity of the frame (rad/time), in frame coordinates.
    sys : list of (var, rhs), optional
        A system containing the equations of ``vx, vy, vz`` (e.g. from
        :func:`fixed_centres` or :func:`kepler`): the result is that system
        seen from the rotating frame, the fictitious accelerations added to
        its velocity equations (other equations unchanged).  Without ``sys``
        the particle is free, as ``heyoka.model.rotating(omega)``.

    Returns
    -------
    list of (Expr, Expr)

    Examples
    --------
    The CR3BP is two fixed centres seen from a frame rotating at unit rate:

    >>> import taylorjit as tj
    >>> from taylorjit.models import rotating, fixed_centres
    >>> mu = 0.1
    >>> sys = rotating([0, 0, 1], fixed_centres([1 - mu, mu], [[-mu, 0, 0], [1 - mu, 0, 0]]))
    >>> [str(v) for v, _ in sys]
    ['x', 'y', 'z', 'vx', 'vy', 'vz']
    """
    w = _omega(omega, "rotating")
    x, y, z, vx, vy, vz = state_vars()
    extra = _fictitious(w, [x, y, z], [vx, vy, vz])
    if sys is None:
        return [(x, vx), (y, vy), (z, vz)] + list(zip((vx, vy, vz), extra))
    pairs = check_system_vars(sys, "rotating: sys")
    pos = {id(lhs): k for k, lhs in enumerate(lhs for lhs, _ in pairs)}
    missing = [str(w_) for w_ in (x, y, z, vx, vy, vz) if id(w_) not in pos]
    if missing:
        raise ValueError(f"rotating: sys has no equation for {', '.join(missing)}: the "
                         "fictitious accelerations act on the particle x, y, z, vx, vy, vz "
                         "(as in the taylorjit.models systems)")
    out = list(pairs)
    for k, w_ in enumerate((vx, vy, vz)):
        i = pos[id(w_)]
        out[i] = (w_, out[i][1] + extra[k])
    return out


def rotating_potential(omega):
    """Centrifugal potential per unit mass ``-|omega x r|^2 / 2`` of :func:`rotating`."""
    w = _omega(omega, "rotating_potential")
    c = cross(w, state_vars()[:3])
    return -0.5 * dot(c, c)


def rotating_energy(omega):
    """The conserved energy (Jacobi integral) per unit mass of the free particle of
    :func:`rotating`: ``|v|^2 / 2 - |omega x r|^2 / 2``; add the potential of the
    forces of ``sys`` when rotating a system (e.g. :func:`fixed_centres_potential`).

    Examples
    --------
    >>> import taylorjit as tj
    >>> from taylorjit.models import rotating_energy
    >>> E = tj.cfunc(rotating_energy([0, 0, 2]), tj.make_vars("x", "y", "z", "vx", "vy", "vz"))
    >>> float(E([1, 0, 0, 0, 1, 0]))         # 1/2 - 4/2
    -1.5
    """
    v = state_vars()[3:]
    return 0.5 * dot(v, v) + rotating_potential(omega)



