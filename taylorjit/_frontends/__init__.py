"""Front ends for derivatives (layer 5): ``taylor_coefficients``
(:mod:`.coefficients`), ``derivatives`` (:mod:`.derivatives`), ``cfunc``
(:mod:`.cfunc`) and ``taylor_jet`` (:mod:`.taylor_jet`) on a shared engine of
plans and compiled drivers (:mod:`.jet`) and argument checks (:mod:`.args`);
their piecewise (``select``) variants (:mod:`.piecewise`) and double-double
coefficients (:mod:`.dd`).  Built on :mod:`taylorjit._codegen` and
:mod:`taylorjit._dd`.
"""
