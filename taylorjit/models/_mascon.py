"""Mascon models: a rotating body made of point masses (``mascon``, as heyoka's
``model.mascon``), with its potential and conserved energy (Jacobi integral).

The field of :func:`~taylorjit.models.fixed_centres` seen from a frame rotating
with the body (:func:`~taylorjit.models.rotating`).  Re-exported by
:mod:`._gravity`, next to the spherical-harmonics fields.
"""
from __future__ import annotations

from ._classic import _omega, fixed_centres, fixed_centres_potential, rotating, rotating_potential
from ._common import dot, state_vars

__all__ = ["mascon", "mascon_energy", "mascon_potential"]


# ------------------------------------------------------------------ mascon
def mascon(masses, positions, omega=None, Gconst=1.0):
    """A test particle near a rotating body modelled by point masses (mascons),
    in the body-fixed frame.

    ``r'' = -G sum_j m_j (r - r_j) / |r - r_j|^3 - 2 omega x v
    - omega x (omega x r)``: the field of :func:`fixed_centres` seen from a
    frame rotating uniformly with angular velocity ``omega`` (the Coriolis and
    centrifugal terms of :func:`rotating`), as ``heyoka.model.mascon``.

    Parameters
    ----------
    masses : sequence of float or Expr
        The mascon masses (N values).
    positions : array_like, shape (N, 3)
        The mascon positions in the body-fixed frame (numbers or expressions).
    omega : sequence of 3 float or Expr, optional
        Angular velocity of the body (rad/time) in body-fixed coordinates;
        ``None`` (default) for a non-rotating body.
    Gconst : float or Expr, optional
        Gravitational constant (default 1; units consistent with the state).

    Returns
    -------
    list of (Expr, Expr)
        Pairs for ``x, y, z, vx, vy, vz`` (body-fixed position and velocity).

    Notes
    -----
    The keywords are heyoka's (``Gconst``, ``masses``, ``positions``,
    ``omega``); the positional order is ``(masses, positions, omega,
    Gconst)``, as :func:`fixed_centres`: pass them by keyword when porting
    heyoka code.  :func:`mascon_energy` is the conserved Jacobi integral.

    Examples
    --------
    A dumbbell-shaped body spinning about ``z``; the Jacobi integral is
    conserved:

    >>> import taylorjit as tj
    >>> args = dict(masses=[0.5, 0.5], positions=[[-0.5, 0, 0], [0.5, 0, 0]],
    ...             omega=[0, 0, 0.3])
    >>> sys = tj.models.mascon(**args)
    >>> E = tj.cfunc(tj.models.mascon_energy(**args), [v for v, _ in sys])
    >>> ta = tj.TaylorAdaptive(sys, [2.0, 0, 0.2, 0, 0.1, 0], compact=True)
    >>> e0 = E(ta.state); _ = ta.propagate_until(20.0)
    >>> bool(abs(E(ta.state) - e0) < 1e-14)
    True
    """
    sys = fixed_centres(masses, positions, Gconst)
    if omega is None:
        return sys
    return rotating(_omega(omega, "mascon"), sys)


def mascon_potential(masses, positions, omega=None, Gconst=1.0):
    """Potential energy per unit mass of :func:`mascon` (gravitational plus
    centrifugal): ``-G sum_j m_j / |r - r_j| - |omega x r|^2 / 2``, as
    ``heyoka.model.mascon_potential``.

    Examples
    --------
    >>> import taylorjit as tj
    >>> U = tj.models.mascon_potential([2.0], [[0, 0, 0]], [0, 0, 1.0])
    >>> float(tj.cfunc(U, tj.make_vars("x", "y", "z"))([1.0, 0, 0]))   # -2 - 1/2
    -2.5
    """
    pot = fixed_centres_potential(masses, positions, Gconst)
    if omega is None:
        return pot
    return pot + rotating_potential(_omega(omega, "mascon_potential"))


def mascon_energy(masses, positions, omega=None, Gconst=1.0):
    """The conserved energy (Jacobi integral) per unit mass of :func:`mascon`:
    ``|v|^2 / 2`` + :func:`mascon_potential`, as ``heyoka.model.mascon_energy``.

    Examples
    --------
    >>> import taylorjit as tj
    >>> E = tj.models.mascon_energy([1.0], [[0, 0, 0]], [0, 0, 1.0])
    >>> float(tj.cfunc(E, tj.make_vars("x", "y", "z", "vx", "vy", "vz"))([1.0, 0, 0, 0, 2, 0]))
    0.5
    """
    v = state_vars()[3:]
    return 0.5 * dot(v, v) + mascon_potential(masses, positions, omega, Gconst)
