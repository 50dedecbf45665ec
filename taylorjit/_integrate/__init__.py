"""Integration (layer 6), built on the layers below (symbolic, codegen, dd,
front ends); nothing below imports it.

* ODE systems and their kernels: :mod:`.odesys`.
* The compiled stepper, one phase per file: outcome codes and work-array slots
  (:mod:`.stepcodes`), double-length time (``taylorjit._dd.arith``), the step's phases --
  jet, step size, Horner update, commit (:mod:`.stepphases`) -- the numba loops
  (:mod:`.steploop`) and their entry points (:mod:`.stepper`); the LLVM loops:
  plain propagation (:mod:`.plainloop`), events (:mod:`.evloop`), step
  callbacks (:mod:`.pycbloop`).
* Events and roots: :mod:`.events`, root isolation (:mod:`.roots`), polishing
  (:mod:`.roots_polish`), exclusion tests (:mod:`.roots_exclude`).
* The base of the scalar and batch integrators: :mod:`.integrator_base`.
* The scalar integrator: :mod:`.integrator` (propagate drivers) on
  :mod:`.integrator_core` (construction, state, pickling) and
  :mod:`.integrator_step` (``step()``, event and callback glue), with checks
  shared with batch mode in :mod:`.drivers_common`; continuous output
  :mod:`.coutput`.
* Batch mode: :mod:`.batch`, :mod:`.batch_state`, :mod:`.batch_stop`,
  :mod:`.batch_output`; SIMD lanes: :mod:`.simdbatch`, :mod:`.simdjet`,
  :mod:`.simdloop`.
* Sensitivities: variational systems (:mod:`.variational`, :mod:`.mindex`,
  :mod:`.var_eval`), reading them (:mod:`.taylor_map`), Taylor maps
  (:mod:`.tmap`, :mod:`.tmap_ops`, :mod:`.tmap_algebra`).
* ``solve_ivp``: :mod:`.solve_ivp` (driver and switching loop), :mod:`.ivp_args`,
  :mod:`.ivp_events`, :mod:`.ivp_switching`, :mod:`.ivp_result`,
  :mod:`.complex_ivp`.
* Ensembles: :mod:`.ensemble`, :mod:`.ensemble_members`, :mod:`.ensemble_groups`,
  :mod:`.ensemble_io`.
* Double-double: :mod:`.dd` (the integrator), :mod:`.dd_events`,
  :mod:`.dd_coutput`, and the compiled event loop's source :mod:`._ddev_top`.
"""
