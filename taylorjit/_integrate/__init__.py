"""Integration (layer 5): ODE systems and kernels for them (:mod:`.odesys`),
the compiled stepper (:mod:`.stepper`, :mod:`.plainloop`, :mod:`.evloop`,
:mod:`.pycbloop`), events and root finding (:mod:`.events`, :mod:`.roots`),
the scalar and batch integrators (:mod:`.integrator`, :mod:`.batch`,
:mod:`.simdbatch`), continuous output, variational equations and Taylor maps,
``solve_ivp``, ensembles and the double-double integrator (:mod:`.dd`).

Built on the layers below (symbolic, codegen, front ends); nothing below
imports it.
"""
