"""Taylor-coefficient recurrences at arbitrary precision.

The same recurrences as the double kernels of the registry
(``taylorjit/_funcs/*.py``, each kernel's docstring gives its formula) and the
double-double ones (``taylorjit/_dd/recur.py``), on the ``(m, e)`` pairs of
:mod:`.num`: ``M[u][k] * 2**E[u][k]`` is the normalised coefficient
``u^(k)(t0)/k!`` of slot ``u``.  A kernel ``k_<op>(M, E, p, k, outs..., ins...[, c])``
writes coefficient ``k`` of its outputs from coefficients ``0..k`` of its inputs
and ``0..k-1`` of its outputs.  Sums of products are accumulated exactly below
the largest term and rounded once (:func:`.num.dot`), so each coefficient
carries a few rounding errors of the ``p``-bit arithmetic relative to the
*envelope* (the sum of the magnitudes of its terms).  Order 0 calls mpmath
(a private context at ``p`` bits, :func:`.num.context`).
"""
from __future__ import annotations

from .num import (ZERO, add, context, div, div_int, dot, from_ctx, from_int, mul, sqrt, sub,
                  to_ctx, wdot)

__all__ = ["KERNELS", "value"]


def value(p, fn, *args):
    """``fn`` (an mpmath function taking and returning values of the private context
    at ``p`` bits) on pairs: a pair or a tuple of pairs."""
    ctx = context(p)
    r = fn(ctx, *[to_ctx(ctx, a) for a in args])
    if isinstance(r, tuple):
        return tuple(from_ctx(v, p) for v in r)
    return from_ctx(r, p)


def _get(M, E, u, k):
    return M[u][k], E[u][k]


def _set(M, E, u, k, a):
    M[u][k] = a[0]
    E[u][k] = a[1]


def _dsum(M, E, a, o, k, p):
    """(1/k) sum_{j=1}^{k} j a_j o_{k-j}."""
    return div_int(*wdot(M[a], E[a], M[o], E[o], k, 1, k + 1, p), k, p)


def _quot(M, E, p, k, o, d, n):
    """o_k from o' d = n': (n_k - (1/k) sum_{j=1}^{k-1} j o_j d_{k-j}) / d_0."""
    s = div_int(*wdot(M[o], E[o], M[d], E[d], k, 1, k, p), k, p)
    s = sub(*n, *s, p)
    _set(M, E, o, k, div(*s, M[d][0], E[d][0], p))


def _sq(M, E, a, k, p):
    """Coefficient k of a^2."""
    if k == 0:
        return mul(M[a][0], E[a][0], M[a][0], E[a][0], p)
    s = dot(M[a], E[a], M[a], E[a], k, 0, (k + 1) // 2, p)
    s = (s[0], s[1] + 1) if s[0] else ZERO
    if k % 2 == 0:
        h = k // 2
        s = add(*s, *mul(M[a][h], E[a][h], M[a][h], E[a][h], p), p)
    return s


# --------------------------------------------------------------------------- leaves
def k_const(M, E, p, k, o, c):
    _set(M, E, o, k, c if k == 0 else ZERO)


def k_par(M, E, p, k, o, i, env):
    _set(M, E, o, k, env.pars[i] if k == 0 else ZERO)


def k_time(M, E, p, k, o, env):
    _set(M, E, o, k, env.t if k == 0 else (from_int(1, p) if k == 1 else ZERO))


# --------------------------------------------------------------------------- arithmetic
def k_add(M, E, p, k, o, a, b):
    _set(M, E, o, k, add(M[a][k], E[a][k], M[b][k], E[b][k], p))


def k_sub(M, E, p, k, o, a, b):
    _set(M, E, o, k, sub(M[a][k], E[a][k], M[b][k], E[b][k], p))


def k_neg(M, E, p, k, o, a):
    M[o][k] = -M[a][k]
    E[o][k] = E[a][k]


def k_add_s(M, E, p, k, o, a, s):
    _set(M, E, o, k, add(M[a][0], E[a][0], M[s][0], E[s][0], p) if k == 0 else _get(M, E, a, k))


def k_sub_us(M, E, p, k, o, a, s):
    _set(M, E, o, k, sub(M[a][0], E[a][0], M[s][0], E[s][0], p) if k == 0 else _get(M, E, a, k))


def k_sub_su(M, E, p, k, o, s, a):
    if k == 0:
        _set(M, E, o, 0, sub(M[s][0], E[s][0], M[a][0], E[a][0], p))
    else:
        M[o][k] = -M[a][k]
        E[o][k] = E[a][k]


def k_mul(M, E, p, k, o, a, b):
    _set(M, E, o, k, dot(M[a], E[a], M[b], E[b], k, 0, k + 1, p))


def k_mul_s(M, E, p, k, o, a, s):
    _set(M, E, o, k, mul(M[a][k], E[a][k], M[s][0], E[s][0], p))


def k_div(M, E, p, k, o, a, b):
    if k == 0:
        _set(M, E, o, 0, div(M[a][0], E[a][0], M[b][0], E[b][0], p))
    else:
        s = sub(M[a][k], E[a][k], *dot(M[b], E[b], M[o], E[o], k, 1, k + 1, p), p)
        _set(M, E, o, k, div(*s, M[b][0], E[b][0], p))


def k_div_us(M, E, p, k, o, a, s):
    _set(M, E, o, k, div(M[a][k], E[a][k], M[s][0], E[s][0], p))


def k_div_su(M, E, p, k, o, s, a):
    if k == 0:
        _set(M, E, o, 0, div(M[s][0], E[s][0], M[a][0], E[a][0], p))
    else:
        sm, se = dot(M[a], E[a], M[o], E[o], k, 1, k + 1, p)
        _set(M, E, o, k, div(-sm, se, M[a][0], E[a][0], p))


def k_square(M, E, p, k, o, a):
    _set(M, E, o, k, _sq(M, E, a, k, p))


def k_sqrt(M, E, p, k, o, a):
    if k == 0:
        _set(M, E, o, 0, sqrt(M[a][0], E[a][0], p))
    else:
        s = dot(M[o], E[o], M[o], E[o], k, 1, (k + 1) // 2, p)
        s = (s[0], s[1] + 1) if s[0] else ZERO
        if k % 2 == 0:
            h = k // 2
            s = add(*s, *mul(M[o][h], E[o][h], M[o][h], E[o][h], p), p)
        s = sub(M[a][k], E[a][k], *s, p)
        _set(M, E, o, k, div(*s, M[o][0], E[o][0] + 1, p))


def k_pow(M, E, p, k, o, a, c):
    """b = a^c: b_k = ((c + 1)/k S1 - T) / a_0, S1 = sum_{i=1}^k i a_i b_{k-i},
    T = sum_{i=1}^k a_i b_{k-i} (the dd kernel's form; ``c`` = (pair, float))."""
    cp, cf = c
    if k == 0:
        _set(M, E, o, 0, value(p, lambda ctx, x: ctx.power(x, ctx.mpf(cf)), _get(M, E, a, 0)))
    else:
        s1 = wdot(M[a], E[a], M[o], E[o], k, 1, k + 1, p)
        t = dot(M[a], E[a], M[o], E[o], k, 1, k + 1, p)
        c1 = add(*cp, *from_int(1, p), p)
        s1 = div_int(*mul(*s1, *c1, p), k, p)
        _set(M, E, o, k, div(*sub(*s1, *t, p), M[a][0], E[a][0], p))


# --------------------------------------------------------------------------- exp, log
def k_exp(M, E, p, k, o, a):
    if k == 0:
        _set(M, E, o, 0, value(p, lambda ctx, x: ctx.exp(x), _get(M, E, a, 0)))
    else:
        _set(M, E, o, k, _dsum(M, E, a, o, k, p))


def k_expm1(M, E, p, k, o, a):
    if k == 0:
        _set(M, E, o, 0, value(p, lambda ctx, x: ctx.expm1(x), _get(M, E, a, 0)))
    else:
        _set(M, E, o, k, add(*_dsum(M, E, a, o, k, p), M[a][k], E[a][k], p))


def _real_log(ctx, x):
    if x <= 0:
        raise ValueError("log of a non-positive number")
    return ctx.log(x)


def k_log(M, E, p, k, o, a):
    if k == 0:
        _set(M, E, o, 0, value(p, _real_log, _get(M, E, a, 0)))
    else:
        _quot(M, E, p, k, o, a, _get(M, E, a, k))


def k_log1p(M, E, p, k, o, a):
    if k == 0:
        _set(M, E, o, 0, value(p, lambda ctx, x: _real_log(ctx, x + 1) if x <= -1 else
                               ctx.log1p(x), _get(M, E, a, 0)))
    else:
        s = div_int(*wdot(M[o], E[o], M[a], E[a], k, 1, k, p), k, p)
        s = sub(M[a][k], E[a][k], *s, p)
        d = add(M[a][0], E[a][0], *from_int(1, p), p)
        _set(M, E, o, k, div(*s, *d, p))


# --------------------------------------------------------------------------- trigonometric
def _sincos_of(M, E, p, k, x, s, c):
    """Coefficient k >= 1 of s = sin x, c = cos x."""
    _set(M, E, s, k, _dsum(M, E, x, c, k, p))
    cm, ce = _dsum(M, E, x, s, k, p)
    M[c][k] = -cm
    E[c][k] = ce


def k_sincos(M, E, p, k, s, c, a):
    if k == 0:
        sv, cv = value(p, lambda ctx, x: (ctx.sin(x), ctx.cos(x)), _get(M, E, a, 0))
        _set(M, E, s, 0, sv)
        _set(M, E, c, 0, cv)
    else:
        _sincos_of(M, E, p, k, a, s, c)


def k_tan(M, E, p, k, t, w, a):
    if k == 0:
        _set(M, E, t, 0, value(p, lambda ctx, x: ctx.tan(x), _get(M, E, a, 0)))
    else:
        _set(M, E, t, k, add(*_dsum(M, E, a, w, k, p), M[a][k], E[a][k], p))
    _set(M, E, w, k, _sq(M, E, t, k, p))


def _fn0(M, E, p, k, o, a, name):
    _set(M, E, o, 0, value(p, lambda ctx, x: getattr(ctx, name)(x), _get(M, E, a, 0)))


def k_asin(M, E, p, k, o, a, s):
    if k == 0:
        _fn0(M, E, p, k, o, a, "asin")
    else:
        _quot(M, E, p, k, o, s, _get(M, E, a, k))


def k_acos(M, E, p, k, o, a, s):
    if k == 0:
        _fn0(M, E, p, k, o, a, "acos")
    else:
        _quot(M, E, p, k, o, s, (-M[a][k], E[a][k]))


def k_atan(M, E, p, k, o, a, d):
    if k == 0:
        _fn0(M, E, p, k, o, a, "atan")
    else:
        _quot(M, E, p, k, o, d, _get(M, E, a, k))


def k_atan2(M, E, p, k, o, y, x, d):
    if k == 0:
        _set(M, E, o, 0, value(p, lambda ctx, yv, xv: ctx.atan2(yv, xv), _get(M, E, y, 0),
                               _get(M, E, x, 0)))
    else:
        # (sum j y_j x_{k-j} - sum j x_j y_{k-j}) / k, accumulated exactly as one sum
        n = sub(*wdot(M[y], E[y], M[x], E[x], k, 1, k + 1, p),
                *wdot(M[x], E[x], M[y], E[y], k, 1, k + 1, p), p)
        _quot(M, E, p, k, o, d, div_int(*n, k, p))


# --------------------------------------------------------------------------- hyperbolic
def k_sinhcosh(M, E, p, k, s, c, a):
    if k == 0:
        sv, cv = value(p, lambda ctx, x: (ctx.sinh(x), ctx.cosh(x)), _get(M, E, a, 0))
        _set(M, E, s, 0, sv)
        _set(M, E, c, 0, cv)
    else:
        _set(M, E, s, k, _dsum(M, E, a, c, k, p))
        _set(M, E, c, k, _dsum(M, E, a, s, k, p))


def k_tanh(M, E, p, k, t, w, a):
    if k == 0:
        _set(M, E, t, 0, value(p, lambda ctx, x: ctx.tanh(x), _get(M, E, a, 0)))
    else:
        _set(M, E, t, k, sub(M[a][k], E[a][k], *_dsum(M, E, a, w, k, p), p))
    _set(M, E, w, k, _sq(M, E, t, k, p))


def k_asinh(M, E, p, k, o, a, s):
    if k == 0:
        _fn0(M, E, p, k, o, a, "asinh")
    else:
        _quot(M, E, p, k, o, s, _get(M, E, a, k))


def k_acosh(M, E, p, k, o, a, s):
    if k == 0:
        _fn0(M, E, p, k, o, a, "acosh")
    else:
        _quot(M, E, p, k, o, s, _get(M, E, a, k))


def k_atanh(M, E, p, k, o, a, d):
    if k == 0:
        _fn0(M, E, p, k, o, a, "atanh")
    else:
        _quot(M, E, p, k, o, d, _get(M, E, a, k))


# --------------------------------------------------------------------------- special
_TWO_OVER_SQRT_PI: dict = {}


def k_erf(M, E, p, k, o, a, e):
    if k == 0:
        _fn0(M, E, p, k, o, a, "erf")
    else:
        c = _TWO_OVER_SQRT_PI.get(p)
        if c is None:
            c = _TWO_OVER_SQRT_PI[p] = value(p, lambda ctx: 2 / ctx.sqrt(ctx.pi))
        _set(M, E, o, k, mul(*_dsum(M, E, a, e, k, p), *c, p))


def k_sigmoid(M, E, p, k, s, w, a):
    if k == 0:
        _set(M, E, s, 0, value(p, lambda ctx, x: 1 / (1 + ctx.exp(-x)), _get(M, E, a, 0)))
    else:
        n = sub(*wdot(M[a], E[a], M[s], E[s], k, 1, k + 1, p),
                *wdot(M[a], E[a], M[w], E[w], k, 1, k + 1, p), p)
        _set(M, E, s, k, div_int(*n, k, p))
    _set(M, E, w, k, _sq(M, E, s, k, p))


def _kep_solve_k(M, E, p, k, X, w, acc):
    """X_k = (acc + sum_{j=1}^{k-1} j X_j w_{k-j}) / (k (1 - w_0))."""
    s = add(*wdot(M[X], E[X], M[w], E[w], k, 1, k, p), *acc, p)
    d = sub(*from_int(k, p), *mul(M[w][0], E[w][0], *from_int(k, p), p), p)
    _set(M, E, X, k, div(*s, *d, p))


def _kep0(M, E, p, outs, fn, g, ins):
    """Order 0 of kepE/kepF/kepDE: Newton's method in mpmath from the double root
    (the registry's solver ``fn``), then sin and cos of the root."""
    ctx = context(p)
    args = [to_ctx(ctx, _get(M, E, i, 0)) for i in ins]
    x0 = fn(*[float(v) for v in args])
    if x0 != x0:
        raise ValueError("outside the domain of the Kepler equation")
    with ctx.workprec(p + 20):
        x = ctx.mpf(x0)
        for _ in range(64):
            v, dv = g(ctx, x, *args)
            dx = v / dv
            x -= dx
            if not dx or abs(dx) <= abs(x) * ctx.ldexp(1, -(p + 10)):
                break
        sx, cx = ctx.sin(x), ctx.cos(x)
    for o, v in zip(outs, (x, sx, cx)):
        _set(M, E, o, 0, from_ctx(v, p))


def _g_kepE(ctx, x, e, m):
    return x - e * ctx.sin(x) - m, 1 - e * ctx.cos(x)


def _g_kepF(ctx, x, h, kk, lam):
    s, c = ctx.sin(x), ctx.cos(x)
    return x + h * c - kk * s - lam, 1 - h * s - kk * c


def _g_kepDE(ctx, x, s0, c0, dm):
    s, c = ctx.sin(x), ctx.cos(x)
    return x + s0 * (1 - c) - c0 * s - dm, 1 + s0 * s - c0 * c


def k_kepE(M, E, p, k, X, s, c, w, e, Mn):
    if k == 0:
        from .._funcs.special import kepE_solve

        _kep0(M, E, p, (X, s, c), kepE_solve.py_func, _g_kepE, (e, Mn))
    else:
        acc = add(*mul(M[Mn][k], E[Mn][k], *from_int(k, p), p),
                  *wdot(M[e], E[e], M[s], E[s], k, 1, k + 1, p), p)
        _kep_solve_k(M, E, p, k, X, w, acc)
        _sincos_of(M, E, p, k, X, s, c)
    _set(M, E, w, k, dot(M[e], E[e], M[c], E[c], k, 0, k + 1, p))


def k_kepF(M, E, p, k, X, s, c, w, h, kk, lam):
    if k == 0:
        from .._funcs.kepler import kepF_solve

        _kep0(M, E, p, (X, s, c), kepF_solve.py_func, _g_kepF, (h, kk, lam))
    else:
        acc = add(*mul(M[lam][k], E[lam][k], *from_int(k, p), p),
                  *wdot(M[kk], E[kk], M[s], E[s], k, 1, k + 1, p), p)
        acc = sub(*acc, *wdot(M[h], E[h], M[c], E[c], k, 1, k + 1, p), p)
        _kep_solve_k(M, E, p, k, X, w, acc)
        _sincos_of(M, E, p, k, X, s, c)
    _set(M, E, w, k, add(*dot(M[h], E[h], M[s], E[s], k, 0, k + 1, p),
                         *dot(M[kk], E[kk], M[c], E[c], k, 0, k + 1, p), p))


def k_kepDE(M, E, p, k, X, s, c, w, s0, c0, dm):
    if k == 0:
        from .._funcs.kepler import kepDE_solve

        _kep0(M, E, p, (X, s, c), kepDE_solve.py_func, _g_kepDE, (s0, c0, dm))
    else:
        acc = mul(*sub(M[dm][k], E[dm][k], M[s0][k], E[s0][k], p), *from_int(k, p), p)
        acc = add(*acc, *wdot(M[s0], E[s0], M[c], E[c], k, 1, k + 1, p), p)
        acc = add(*acc, *wdot(M[c0], E[c0], M[s], E[s], k, 1, k + 1, p), p)
        _kep_solve_k(M, E, p, k, X, w, acc)
        _sincos_of(M, E, p, k, X, s, c)
    _set(M, E, w, k, sub(*dot(M[c0], E[c0], M[c], E[c], k, 0, k + 1, p),
                         *dot(M[s0], E[s0], M[s], E[s], k, 0, k + 1, p), p))


# --------------------------------------------------------------------------- relu
def k_relup(M, E, p, k, o, a):
    _set(M, E, o, k, from_int(1, p) if (k == 0 and M[a][0] > 0) else ZERO)


def k_relu(M, E, p, k, o, a, m):
    if k == 0:
        _set(M, E, o, 0, _get(M, E, a, 0) if M[a][0] > 0 else ZERO)
    else:
        _set(M, E, o, k, _get(M, E, a, k) if M[m][0] else ZERO)


#: the kernel of each registry operation that has one at arbitrary precision
KERNELS = {name[2:]: fn for name, fn in list(globals().items())
           if name.startswith("k_") and callable(fn)}
__all__ += sorted("k_" + n for n in KERNELS)
