"""Shared core of the differentiable integrations (:mod:`taylorjit.jax`, :mod:`taylorjit.torch`):
the names the framework modules use, from

* :mod:`.trace` -- tracing ``func(y, t, *args)`` with symbolic states into a
  cached problem (:func:`trace_problem`, :class:`ArgSpec`, :func:`as_expr_list`);
* :mod:`.problem` -- the problem and its forward-sensitivity solves
  (:class:`ODEProblem`, :class:`Selection`, :class:`ExprSet`; its docstring
  states the mathematics);
* :mod:`.options` -- tolerances, step options, output times, event directions.

Nothing here imports JAX or PyTorch: these modules work with numpy arrays and
taylorjit expressions; the framework modules wrap them into differentiable
operations.
"""
from __future__ import annotations

from .options import _check_times, check_direction, step_options, tolerance  # re-exported
from .problem import ExprSet, ODEProblem, Selection  # re-exported
from .trace import _PROBLEMS, ArgSpec, as_expr_list, trace_problem  # re-exported

__all__ = ["ODEProblem", "ExprSet", "tolerance", "trace_problem", "Selection"]
