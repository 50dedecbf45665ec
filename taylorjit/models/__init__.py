"""Ready-made dynamical systems for :class:`~taylorjit.TaylorAdaptive`.

Every builder returns a list of ``(variable, rhs)`` pairs; the companion
``*_energy`` / ``*_jacobi`` functions return the conserved quantity as an
expression in the same variables (evaluate it with :func:`taylorjit.cfunc`).
Numbers may be replaced by expressions such as ``tj.par[0]`` to make a
constant a runtime parameter.  Names and variable names follow
``heyoka.model`` where the models coincide.

=========================  ==================================================
``nbody``                  Newtonian N-body problem (+ ``nbody_energy``)
``np1body``                heliocentric (N+1)-body problem (+ ``np1body_energy``)
``outer_solar_system``     Sun + giant planets + Pluto (Applegate et al. 1986)
``kepler``                 two-body problem, optional J2 (+ ``kepler_energy``)
``cr3bp``                  circular restricted 3-body problem (+ ``cr3bp_jacobi``)
``er3bp``                  elliptic restricted 3-body problem (pulsating frame,
                           true anomaly as independent variable)
``mascon``                 rotating body made of point masses (+ energy, potential)
``sh_gravity``             spherical-harmonics gravity field (+ ``sh_gravity_energy``;
                           ``sh_gravity_pot`` / ``sh_gravity_acc`` at any position)
``egm2008_pot``            Earth's EGM2008 geopotential to degree 4 (+ ``egm2008_acc``,
                           ``get_egm2008_CS`` / ``_mu`` / ``_a``)
``drag_acc``               drag in an exponential atmosphere (acceleration)
``srp_acc``                cannonball solar radiation pressure (acceleration)
``add_acceleration``       add accelerations to a model's velocity equations
``pendulum``               simple pendulum (+ ``pendulum_energy``)
``fixed_centres``          problem of fixed centres (+ energy, potential)
``rotating``               Coriolis + centrifugal accelerations (+ energy, potential)
``cartesian_to_elements``  Cartesian state -> Keplerian elements (elliptic)
``elements_to_cartesian``  Keplerian elements -> Cartesian state (uses ``kepE``)
=========================  ==================================================
"""
from ._classic import (cr3bp, cr3bp_jacobi, fixed_centres, fixed_centres_energy, fixed_centres_potential,
    pendulum, pendulum_energy, rotating, rotating_energy, rotating_potential)
from ._er3bp import er3bp
from .._symbolic.ffnn import ffnn
from ._forces import add_acceleration, drag_acc, srp_acc
from ._gravity import (egm2008_acc, egm2008_pot, get_egm2008_a, get_egm2008_CS, get_egm2008_mu, mascon,
    mascon_energy, mascon_potential, sh_gravity, sh_gravity_acc, sh_gravity_energy, sh_gravity_pot)
from ._kepler import cartesian_to_elements, elements_to_cartesian, kepler, kepler_energy
from ._nbody import OuterSolarSystem, nbody, nbody_energy, np1body, np1body_energy, outer_solar_system

__all__ = [
    "ffnn",
    "nbody", "nbody_energy", "np1body", "np1body_energy", "outer_solar_system",
    "OuterSolarSystem", "kepler", "kepler_energy", "cartesian_to_elements",
    "elements_to_cartesian", "cr3bp", "cr3bp_jacobi", "pendulum", "pendulum_energy",
    "fixed_centres", "fixed_centres_energy", "fixed_centres_potential", "rotating",
    "rotating_energy", "rotating_potential", "er3bp", "mascon", "mascon_energy",
    "mascon_potential", "sh_gravity", "sh_gravity_energy", "sh_gravity_pot", "sh_gravity_acc",
    "egm2008_pot", "egm2008_acc", "get_egm2008_CS", "get_egm2008_mu", "get_egm2008_a",
    "drag_acc", "srp_acc", "add_acceleration",
]
