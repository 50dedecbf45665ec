"""Code generation (layer 3): decomposition of expressions into elementary
operations (:mod:`.decompose`), the jet's calling convention (:mod:`.jetabi`),
the compact Taylor VM and the looped kernels' source (:mod:`.vm`), the tracer
of the recurrences (:mod:`.trace`), straight-line LLVM kernels (IR:
:mod:`.unroll_ir`, :mod:`.chunk_text`, :mod:`.step_ir`; compiling and loading:
:mod:`.unroll`), group kernels (:mod:`.gvm`), the kernel selection
(:mod:`.kernel`), vector kernels and the vector libm (:mod:`.vjet`,
:mod:`.vcfunc`, :mod:`.cjet`, :mod:`.multi`; :mod:`.vmath` on
:mod:`.vmath_ir`, :mod:`.vmath_exp`, :mod:`.vmath_trig`), the disk cache
(:mod:`.cache`) and the background build worker (:mod:`.tiering`).

Inside the subpackage imports point one way: ``trace``, ``jetabi``, ``vm``
and the IR modules at the bottom, ``unroll`` (LLVM loading) above them,
``gvm`` above that and ``kernel`` on top.

Imports :mod:`taylorjit._symbolic` and :mod:`taylorjit._funcs`, never the
front ends or the integrators.
"""
