"""Code generation (layer 3): decomposition of expressions into elementary
operations (:mod:`.decompose`), the compact Taylor VM and kernel kinds
(:mod:`.kernel`, :mod:`.gvm`), straight-line LLVM kernels (:mod:`.unroll`),
vector kernels and the vector libm (:mod:`.vjet`, :mod:`.vcfunc`,
:mod:`.vmath`, :mod:`.cjet`, :mod:`.multi`), the disk cache (:mod:`.cache`)
and the background build worker (:mod:`.tiering`).

Imports :mod:`taylorjit._symbolic` and :mod:`taylorjit._funcs`, never the
front ends or the integrators.
"""
