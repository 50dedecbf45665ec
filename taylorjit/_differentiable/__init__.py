"""The engine behind :mod:`taylorjit.jax` and :mod:`taylorjit.torch`: tracing of
a right-hand side given as a framework function, and the forward-sensitivity
solves that give exact gradients (layer 7, on :mod:`taylorjit._integrate`)."""
