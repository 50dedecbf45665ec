"""Independent references for Taylor coefficients (a test helper, not a test module).

* :func:`mp_eval` evaluates an expression DAG with mpmath numbers, using only
  the registry's ``mp`` functions and mpmath arithmetic (no recurrence code).
* :func:`mp_taylor` gives the normalised Taylor coefficients of an expression
  whose inputs are polynomials in ``h`` (``u_i(h) = sum_k rows[i][k] h^k``), by
  ``mpmath.taylor`` (numerical differentiation at ``(prec + 20) * (order + 1)``
  bits, so the result is good to the full ``dps`` digits), at 50 digits by
  default.  Results are cached on disk (``$TAYLORJIT_CACHE_DIR/../mpref`` next
  to the test kernel cache) keyed by the expression, inputs, mpmath version
  and the ``mp`` functions' code, because order-40 references take ~0.1-0.5 s
  each.
* :func:`run_jet` runs an expression kernel of a given kind on the same inputs.
* :func:`check_coefficients` is the accuracy criterion (see its docstring).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path

import mpmath
import numpy as np

from taylorjit._codegen.decompose import decompose
from taylorjit._symbolic.expr import expr, to_string, topo_order, var
from taylorjit._codegen.kernel import get_kernel
from taylorjit._symbolic.registry import FUNCTIONS, OPS

EPS = np.finfo(float).eps
DPS = 50


# ----------------------------------------------------------------------------- mpmath evaluation
def mp_eval(outputs, env, pars=(), t=0):
    """Evaluate expressions with mpmath.  ``env`` maps variable names to mpmath numbers."""
    outputs = [expr(o) for o in outputs]
    val = {}
    for n in topo_order(outputs):
        op = n.op
        if op == "num":
            v = mpmath.mpf(n.value)
        elif op == "var":
            v = env[n.value]
        elif op == "par":
            v = mpmath.mpf(pars[n.value])
        elif op == "time":
            v = t
        else:
            a = [val[id(x)] for x in n.args]
            if op == "add":
                v = mpmath.fsum(a)
            elif op == "sub":
                v = a[0] - a[1]
            elif op == "mul":
                v = a[0]
                for x in a[1:]:
                    v = v * x
            elif op == "div":
                v = a[0] / a[1]
            elif op == "neg":
                v = -a[0]
            elif op == "pow":
                v = mpmath.power(a[0], a[1])
            else:
                v = FUNCTIONS[op].mp(*a)
        val[id(n)] = v
    return [val[id(o)] for o in outputs]


def _poly(row, h):
    acc = mpmath.mpf(0)
    for c in reversed(row):
        acc = acc * h + c
    return acc


def _ref_dir() -> Path | None:
    root = os.environ.get("TAYLORJIT_CACHE_DIR")
    if not root:
        return None
    d = Path(root).expanduser() / "mpref"
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return d


def _code_id(fn) -> str:
    code = getattr(fn, "__code__", None)
    if code is None:
        return repr(fn)
    return hashlib.sha256(code.co_code + repr(code.co_consts).encode()).hexdigest()[:12]


def _key(e, names, rows, pars, t, order, dps) -> str:
    ops = sorted({n.op for n in topo_order([e]) if n.op in FUNCTIONS})
    parts = [to_string(e), repr(names), repr([[float(c).hex() for c in r] for r in rows]),
             repr([float(p).hex() for p in pars]), float(t).hex(), str(order), str(dps),
             mpmath.__version__, "nochop"] + [f"{o}:{_code_id(FUNCTIONS[o].mp)}" for o in ops]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def mp_taylor(e, names, rows, order, pars=(), t=0.0, dps=DPS, cache=True):
    """Normalised Taylor coefficients ``0..order`` of ``e`` (list of mpf).

    The input variable ``names[i]`` is the polynomial with coefficients
    ``rows[i]``; ``tj.time`` is ``t + h``; ``par[j]`` is ``pars[j]``.
    ``cache=False`` skips the disk cache (random expressions).
    """
    e = expr(e)
    key = _key(e, names, rows, pars, t, order, dps)
    d = _ref_dir() if cache else None
    path = d / f"{key}.json" if d else None
    if path is not None and path.exists():
        try:
            data = json.loads(path.read_text())
            if len(data) == order + 1:
                with mpmath.workdps(dps):
                    return [mpmath.mpf(s) for s in data]
        except (OSError, ValueError):
            pass  # corrupted: recompute
    with mpmath.workdps(dps):
        def f(h):
            env = {n: _poly(r, h) for n, r in zip(names, rows)}
            return mp_eval([e], env, pars, mpmath.mpf(t) + h)[0]

        coeffs = mpmath.taylor(f, 0, order, chop=False)
        if path is not None:
            fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
            with os.fdopen(fd, "w") as fh:
                json.dump([mpmath.nstr(c, dps + 5, strip_zeros=False) for c in coeffs], fh)
            os.replace(tmp, path)
        return coeffs


# ----------------------------------------------------------------------------- kernels
def run_jet(outputs, inputs, rows, order, kind, pars=(), t=0.0, kernel=None, scales=False):
    """Coefficients ``(len(outputs), order + 1)`` of an expression kernel of ``kind``.

    With ``scales=True`` also return :func:`term_scale` of every output.
    """
    if kernel is None:
        kernel = get_kernel(decompose(outputs, inputs), ode=False, kind=kind)
    d = kernel.decomposition
    tc = np.zeros((d.n_slots, order + 1))
    for i, r in enumerate(rows):
        r = np.asarray(r, dtype=float)[: order + 1]
        tc[i, : len(r)] = r
    kernel.jet(tc, order, np.asarray(pars, dtype=float), float(t), 1, kernel.prog, kernel.cvals)
    out = tc[d.outputs, :].copy()
    if not scales:
        return out
    return out, np.array([term_scale(d, tc, s) for s in d.outputs])


def term_scale(d, tc, slot):
    """``max`` over the slots that ``slot`` depends on (itself, intermediates and
    inputs) of their :func:`envelope`: the size of the terms that the
    recurrences add up at each order.  When an intermediate series is much
    larger than the result (``u**v = exp(v log u)`` where ``v log u`` decays
    more slowly than the power), the result's rounding error is relative to
    the intermediate: this is the condition number of the computation."""
    producer = {}
    for name, outs, ins, c in d.ops:
        for o in outs:
            producer[o] = ins if not OPS[name].int_in else ()
    seen, stack = set(), [slot]
    while stack:
        s = stack.pop()
        if s in seen:
            continue
        seen.add(s)
        stack.extend(producer.get(s, ()))
    # constants, parameters and polynomials of degree <= 1 (time, linear inputs) only
    # multiply the other terms: they are not terms of their own
    rows = [envelope(tc[s]) for s in seen
            if s == slot or (s not in d.scalar and np.count_nonzero(tc[s]) >= 3)]
    return np.max(rows, axis=0)


# ----------------------------------------------------------------------------- the criterion
def envelope(ref):
    """Geometric envelope of a coefficient sequence.

    ``rho`` is the growth rate from a least-squares fit of ``log|c_k|`` against
    ``k`` (non-zero coefficients), and ``env_k = max_j |c_j| rho^(k - j)``: the
    smallest geometric sequence of rate ``rho`` that lies above every ``|c_j|``.
    It is the size of the terms that the recurrences add up at order ``k``
    (they are products of coefficients whose indices sum to ``k``), so the
    rounding error of coefficient ``k`` is a few ``k * eps * env_k`` even where
    ``c_k`` itself is small through cancellation.
    """
    a = np.array([abs(float(c)) for c in ref])
    k = np.arange(len(a))
    nz = a > 0
    if nz.sum() >= 2:
        slope = np.polyfit(k[nz], np.log(a[nz]), 1)[0]
        rho = math.exp(slope)
    else:
        rho = 1.0
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        logenv = np.full(len(a), -np.inf)
        la = np.where(nz, np.log(np.where(nz, a, 1.0)), -np.inf)
        for j in range(len(a)):
            if nz[j]:
                logenv = np.maximum(logenv, la[j] + (k - j) * math.log(rho))
        env = np.exp(logenv)
    return env


#: the tolerance: |c_k - ref_k| <= TOL_MULT * (k + 1) * eps * env_k
TOL_MULT = 16.0


def coefficient_errors(got, ref, scale=None):
    """Normalised errors ``|got_k - ref_k| / ((k + 1) * eps * env_k)`` (array), where
    ``env = max(envelope(ref), scale)`` (``scale``: see :func:`term_scale`)."""
    env = envelope(ref)
    if scale is not None:
        env = np.maximum(env, scale)
    # the reference itself is exact only to ~DPS digits of its largest coefficient
    # (mpmath.taylor's differences): errors below that are not errors
    noise = mpmath.mpf(10) ** (10 - DPS) * max(abs(r) for r in ref)
    out = np.zeros(len(ref))
    for k, (g, r) in enumerate(zip(got, ref)):
        err = abs(mpmath.mpf(float(g)) - r) if math.isfinite(g) else math.inf
        err = max(err - noise, 0)
        scale = (k + 1) * EPS * env[k]
        if scale == 0.0:
            out[k] = 0.0 if err == 0 else math.inf
        else:
            out[k] = float(err / scale)
    return out


def check_coefficients(got, ref, what="", mult=TOL_MULT, scale=None):
    """Assert ``|got_k - ref_k| <= mult * (k + 1) * eps * env_k`` for every ``k``.

    ``env`` is :func:`envelope` of the reference (or, if given, the larger
    ``scale`` from :func:`term_scale`): the error is measured against the size
    of the terms of order ``k``, not against ``|ref_k|`` (which may be tiny
    through cancellation) nor against ``max_j |ref_j|`` (which would accept
    anything at high order when the coefficients decay).  The factor ``k + 1``
    is the number of terms in the order-``k`` sums.  Returns the largest
    normalised error (in units of ``(k + 1) eps env_k``).
    """
    errs = coefficient_errors(got, ref, scale)
    worst = int(np.argmax(errs))
    if not errs[worst] <= mult:
        raise AssertionError(
            f"{what}: coefficient {worst} is {float(got[worst])!r}, reference "
            f"{mpmath.nstr(ref[worst], 20)}: error {errs[worst]:.3g} x (k+1) eps env_k "
            f"(allowed {mult})")
    return float(errs[worst])


# ----------------------------------------------------------------------------- random expressions
def _into(a, a0, target):
    """``a`` (value ``a0`` at the point) mapped to the value ``target``: a scaling
    when ``|a0|`` is not small (no cancellation), else a shift."""
    if abs(a0) > 1e-2:
        return (target / a0) * a, target
    return target + a, target + a0


def random_expressions(max_ops=8, names=("x", "y"), with_pars=False, with_time=False, point=None):
    """hypothesis strategy: ``(expression, {name: value})`` -- a random DAG of
    registered functions (arguments mapped into their test domains at the point),
    numbers and arithmetic (denominators kept away from 0, real powers of
    positive bases), with shared sub-expressions; parameters ``par[0], par[1]``
    (values ``PARS``) and ``tj.time`` (value ``TIME``) if asked; ``point`` fixes
    the values of the variables instead of drawing them."""
    from hypothesis import strategies as st

    import taylorjit as tj

    ops = ["func"] * 4 + ["add", "sub", "mul", "div", "pow", "num"]

    @st.composite
    def build(draw):
        pt = dict(point) if point is not None else {
            n: draw(st.floats(-1.5, 1.5, allow_nan=False)) for n in names}
        nodes = [(var(n), pt[n]) for n in names]
        if with_pars:
            nodes += [(tj.par[0], PARS[0]), (tj.par[1], PARS[1])]
        if with_time:
            nodes.append((tj.time, TIME))
        pick = st.integers(0, 10 ** 6)
        for _ in range(draw(st.integers(1, max_ops))):
            kind = draw(st.sampled_from(ops))
            a, a0 = nodes[draw(pick) % len(nodes)]
            b, b0 = nodes[draw(pick) % len(nodes)]
            if kind == "func":
                name = draw(st.sampled_from(sorted(FUNCTIONS)))
                f = FUNCTIONS[name]
                args, vals = [], []
                for i, (lo, hi) in enumerate(f.domain):
                    src = (a, a0) if i == 0 else (b, b0)
                    t = lo + draw(st.floats(0.1, 0.9)) * (hi - lo)
                    x, x0 = _into(*src, t)
                    args.append(x)
                    vals.append(x0)
                node, val = f(*args), f.value(*vals)
            elif kind == "add":
                node, val = a + b, a0 + b0
            elif kind == "sub":
                node, val = a - b, a0 - b0
            elif kind == "mul":
                node, val = a * b, a0 * b0
            elif kind == "div":
                t = draw(st.floats(0.5, 2.0)) * (1 if b0 >= 0 else -1)
                den, d0 = _into(b, b0, t)
                node, val = a / den, a0 / d0
            elif kind == "pow":
                base, x0 = _into(a, a0, draw(st.floats(0.5, 2.0)))
                p = draw(st.sampled_from([2.0, 0.5, -1.0, 3.0, -1.5, 2.5, 1.0 / 3.0, -0.7]))
                node, val = base ** p, x0 ** p
            else:
                c = draw(st.floats(-3.0, 3.0, allow_nan=False))
                node, val = (a * c, a0 * c) if draw(st.booleans()) else (a + c, a0 + c)
            nodes.append((node, val))
        # the result: the last node plus, sometimes, an earlier one (keeps sharing)
        e = nodes[-1][0]
        if draw(st.booleans()):
            e = e + nodes[draw(pick) % len(nodes)][0]
        return e, pt

    return build()


PARS = (0.7, -1.3)
TIME = 0.4
