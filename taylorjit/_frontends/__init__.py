"""Front ends for derivatives (layer 4): ``taylor_coefficients``,
``derivatives``, ``cfunc`` and ``taylor_jet`` (:mod:`.jet`), their piecewise
(``select``) variants (:mod:`.piecewise`) and double-double coefficients
(:mod:`.dd`).  Built on :mod:`taylorjit._codegen` and :mod:`taylorjit._dd`.
"""
