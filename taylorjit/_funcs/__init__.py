"""Definitions of every kernel operation and elementary function (one block each).

Importing this package fills the registry (``taylorjit._symbolic.registry``).
"""
from . import arith, explog, trig, hyperbolic, special, kepler, relu  # noqa: F401
