"""exp, expm1, log, log1p.

Recurrences from b' = a' b (exp) and b' a = a' (log): Griewank & Walther,
*Evaluating Derivatives*, Table 13.2; Jorba & Zou (2005), eqs. (8)-(9).
"""
import math

import mpmath

from .._symbolic.expr import div as _div, add as _add
from .._symbolic.registry import kernel_op, register_function
from ._common import dsum, pwsum, quot_rec


# --- exp ---------------------------------------------------------------------------------
@kernel_op("exp", n_out=1, n_in=1)
def exp_coeff(tc, k, o, a):
    """b = exp(a): b_k = (1/k) sum_{j=1}^{k} j a_j b_{k-j}."""
    r_o, r_a = tc[o], tc[a]
    if k == 0:
        r_o[0] = math.exp(r_a[0])
    else:
        r_o[k] = dsum(r_a, r_o, k)


exp = register_function(
    "exp", 1, value=math.exp,
    derivative=lambda a: [exp(a)],
    decompose=lambda b, a: b.op("exp", a)[0],
    mp=mpmath.exp, domain=[(-3.0, 3.0)],
    sympy=lambda sp, a: sp.exp(a), numpy="exp",
    doc="Exponential.")


# --- expm1 -------------------------------------------------------------------------------
@kernel_op("expm1", n_out=1, n_in=1)
def expm1_coeff(tc, k, o, a):
    """b = exp(a) - 1, b' = a' (b + 1): b_k = a_k + (1/k) sum_{j=1}^{k} j a_j b_{k-j}.
    Accurate for small a (b_0 from libm expm1)."""
    r_o, r_a = tc[o], tc[a]
    if k == 0:
        r_o[0] = math.expm1(r_a[0])
    else:
        r_o[k] = r_a[k] + dsum(r_a, r_o, k)


def _sympy_expm1(sp, a):
    from sympy.codegen.cfunctions import expm1 as _e

    return _e(a)


expm1 = register_function(
    "expm1", 1, value=math.expm1,
    derivative=lambda a: [exp(a)],
    decompose=lambda b, a: b.op("expm1", a)[0],
    mp=mpmath.expm1, domain=[(-2.0, 2.0)],
    sympy=_sympy_expm1, numpy="expm1",
    doc="exp(x) - 1, accurate near 0.")


# --- log ---------------------------------------------------------------------------------
@kernel_op("log", n_out=1, n_in=1)
def log_coeff(tc, k, o, a):
    """b = log(a), b' a = a': b_k = (a_k - (1/k) sum_{j=1}^{k-1} j b_j a_{k-j}) / a_0."""
    r_o, r_a = tc[o], tc[a]
    if k == 0:
        r_o[0] = math.log(r_a[0]) if r_a[0] > 0.0 else (math.nan if r_a[0] < 0.0 or
                                                               r_a[0] != r_a[0] else -math.inf)
    else:
        quot_rec(r_o, r_a, k, r_a[k])


log = register_function(
    "log", 1, value=math.log,
    derivative=lambda a: [_div(1.0, a)],
    decompose=lambda b, a: b.op("log", a)[0],
    mp=mpmath.log, domain=[(0.2, 5.0)],
    sympy=lambda sp, a: sp.log(a), numpy="log",
    doc="Natural logarithm; NaN (IEEE) for negative arguments.")


# --- log1p -------------------------------------------------------------------------------
@kernel_op("log1p", n_out=1, n_in=1)
def log1p_coeff(tc, k, o, a):
    """b = log(1 + a), b' (1 + a) = a':
    b_k = (a_k - (1/k) sum_{j=1}^{k-1} j b_j a_{k-j}) / (1 + a_0)."""
    r_o, r_a = tc[o], tc[a]
    if k == 0:
        x = r_a[0]
        r_o[0] = math.log1p(x) if x > -1.0 else (-math.inf if x == -1.0 else math.nan)
    else:
        r_o[k] = (r_a[k] - pwsum(r_o, r_a, k, 1, k) / k) / (1.0 + r_a[0])


def _sympy_log1p(sp, a):
    from sympy.codegen.cfunctions import log1p as _l

    return _l(a)


log1p = register_function(
    "log1p", 1, value=math.log1p,
    derivative=lambda a: [_div(1.0, _add(1.0, a))],
    decompose=lambda b, a: b.op("log1p", a)[0],
    mp=mpmath.log1p, domain=[(-0.6, 3.0)],
    sympy=_sympy_log1p, numpy="log1p",
    doc="log(1 + x), accurate near 0.")
