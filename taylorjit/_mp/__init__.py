"""Arbitrary precision (``precision=<bits>``): Taylor coefficients and integration
with mpmath-compatible numbers of any number of bits.

* :mod:`.num` -- the VM's numbers: ``(m, e)`` pairs of Python integers with a
  ``p``-bit mantissa, sums of products accumulated exactly and rounded once;
* :mod:`.recur` -- the Taylor-coefficient recurrences of the registry's kernel
  operations on them (order 0: mpmath in a private context);
* :mod:`.vm` -- the VM over a decomposition (pure Python: slow, see
  docs/extended-precision.md for times per step);
* :mod:`.values` -- :class:`MPReal` (the output type: an mpmath ``mpf`` whose
  ``str()`` prints every digit) and the lossless conversion of inputs.

The front end (``taylor_coefficients(..., precision=256)``) lives in
``taylorjit._frontends.mp``, the integrator (``MPTaylorAdaptive``) in
``taylorjit._integrate.mp``.  Nothing here is compiled: importing is cheap.
"""
from .values import MPReal

__all__ = ["MPReal"]
