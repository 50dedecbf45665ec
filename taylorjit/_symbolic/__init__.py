"""The expression language (layer 1): expressions as a hash-consed DAG
(:mod:`.expr`), the registry of elementary functions (:mod:`.registry`),
calculus (:mod:`.calculus`), conditions and ``select`` (:mod:`.guards`),
printing, the sympy bridge, tracing of numpy functions into expressions, complex
values, derivative tensors and neural-network terms.

Imports only :mod:`taylorjit._numba_compat` and :mod:`taylorjit._version` from
the rest of the package; the
function blocks (:mod:`taylorjit._funcs`) register into it.
"""
