"""taylorjit: high-order Taylor-mode differentiation and Taylor ODE integration.

Expressions are captured as a hash-consed DAG, decomposed into elementary
operations, and turned into numba machine code (a specialised kernel per
system, or the precompiled Taylor VM).  See the README for a tour.
"""
from typing import TYPE_CHECKING

from ._version import __version__

from . import _funcs  # noqa: F401  (fills the registry)
from ._symbolic.expr import (Expr, TracingError, var, make_vars, par, time, diff, subs, nary_sum as sum_,
    get_variables, get_params, expression)
from ._symbolic.expr import nary_prod as prod
from ._funcs.arith import square, sqrt
from ._funcs.explog import exp, expm1, log, log1p
from ._funcs.trig import sin, cos, tan, asin, acos, atan, atan2
from ._funcs.hyperbolic import sinh, cosh, tanh, asinh, acosh, atanh
from ._funcs.special import erf, sigmoid, kepE
from ._funcs.kepler import kepF, kepDE
from ._funcs.relu import relu, relup
from ._symbolic.guards import select, Cond
from ._dynamics import hamiltonian, lagrangian, lyapunov_spectrum, LyapunovResult, fli
from ._symbolic.ffnn import ffnn, ffnn_n_params
from ._dd.values import DDArray
from ._integrate.dd import DDTaylorAdaptive
from ._integrate.dd_coutput import DDContinuousOutput
from ._frontends.dd_derivatives import DDDerivatives
from ._frontends.dd_cfunc import DDCFunc
from ._frontends.dd_taylor_jet import DDTaylorJet
from ._integrate.mp import MPTaylorAdaptive
from ._codegen.decompose import decompose, Decomposition
from ._codegen.cache import clear_cache, cache_dir, CacheWarning
from ._codegen.tiering import TierWarning
from ._frontends.coefficients import taylor_coefficients
from ._frontends.derivatives import derivatives, Derivatives
from ._frontends.cfunc import cfunc, CFunc
from ._frontends.taylor_jet import taylor_jet, TaylorJet
from ._integrate.odesys import Outcome, EventOutcome
from ._integrate.integrator import TaylorAdaptive
from ._integrate.batch import TaylorAdaptiveBatch, BatchContinuousOutput
from ._integrate.simdbatch import simd_width as recommended_simd_size
from ._integrate.coutput import ContinuousOutput
from ._integrate.events import Event, t_event, nt_event, event_direction
from ._integrate.variational import var_ode_sys, VarODESys
from ._integrate.taylor_map import TaylorMap
from ._integrate.solve_ivp import solve_ivp, OdeResult
from ._symbolic.dtens import diff_tensors, DTens
from ._integrate.ensemble import (ensemble_propagate_until, ensemble_propagate_for,
    ensemble_propagate_grid, MemberResult, EnsembleMemberError)
from . import extend, models, plotting

if TYPE_CHECKING:       # loaded on first use (__getattr__ below): sympy takes ~0.5 s to import
    from ._symbolic.sympy_bridge import from_sympy, to_sympy

__all__ = [
    "__version__", "Expr", "TracingError", "expression", "var", "make_vars", "par", "time", "diff", "subs",
    "sum_", "get_variables", "get_params",
    "prod", "kepF", "kepDE", "relu", "relup", "select", "Cond",
    "hamiltonian", "lagrangian", "lyapunov_spectrum", "LyapunovResult", "fli",
    "ffnn", "ffnn_n_params", "DDArray", "DDTaylorAdaptive", "DDContinuousOutput", "DDDerivatives", "DDCFunc", "DDTaylorJet",
    "MPTaylorAdaptive",
    "square", "sqrt", "exp", "expm1", "log", "log1p", "sin", "cos", "tan", "asin", "acos", "atan",
    "atan2", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "erf", "sigmoid", "kepE",
    "decompose", "Decomposition", "clear_cache", "cache_dir", "CacheWarning", "TierWarning",
    "taylor_coefficients", "derivatives", "Derivatives", "cfunc", "CFunc", "taylor_jet", "TaylorJet",
    "to_sympy", "from_sympy", "Outcome", "TaylorAdaptive", "TaylorAdaptiveBatch", "BatchContinuousOutput",
    "recommended_simd_size",
    "ContinuousOutput", "Event", "t_event", "nt_event", "event_direction", "EventOutcome", "var_ode_sys", "VarODESys", "TaylorMap", "solve_ivp", "OdeResult",
    "ensemble_propagate_until", "ensemble_propagate_for", "ensemble_propagate_grid",
    "MemberResult", "EnsembleMemberError", "models", "plotting", "extend", "diff_tensors", "DTens",
]


def __getattr__(name):
    # the sympy bridge imports sympy (~0.5 s): load it on first use, not at import
    if name in ("to_sympy", "from_sympy"):
        from ._symbolic import sympy_bridge as _sympy

        return getattr(_sympy, name)
    raise AttributeError(f"module 'taylorjit' has no attribute {name!r}")
