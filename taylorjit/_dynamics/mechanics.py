"""Equations of motion from a Hamiltonian or a Lagrangian.

:func:`hamiltonian` writes Hamilton's equations, :func:`lagrangian` the
Euler-Lagrange equations solved for the accelerations.  Both return an ODE
system (a list of ``(variable, rhs)`` pairs) with heyoka.py's names, argument
order and variable ordering (``hy.hamiltonian(H, qs, ps)``,
``hy.lagrangian(L, qs, qdots, D)``): coordinates first, then momenta or
velocities.

The Lagrangian path.  With ``p_i = dL/dqdot_i`` the Euler-Lagrange equations
with a Rayleigh dissipation function ``D`` and generalised forces ``Q`` read::

    d/dt p_i - dL/dq_i = -dD/dqdot_i + Q_i

and expanding the total time derivative gives the linear system ``M a = r``
for the accelerations ``a = qddot``::

    M_ij = d2L / dqdot_i dqdot_j                                  (mass matrix)
    r_i  = dL/dq_i - sum_j (d2L / dqdot_i dq_j) qdot_j - d2L / dqdot_i dt
           - dD/dqdot_i + Q_i

It is solved symbolically by Gaussian elimination on the expression DAG.  The
pivot order is chosen from the numerical values of ``M`` at a random point:
a diagonal pivot (symmetric pivoting: a mass matrix is symmetric, usually
positive definite, and then every diagonal pivot is a positive quantity
wherever ``M`` is positive definite, so the solution has no spurious
singularities) unless all remaining diagonal entries are negligible, in which
case the largest entry.  A mass matrix that is numerically singular at every
test point has its determinant simplified by sympy; a determinant that is
identically zero (a degenerate Lagrangian) raises ``ValueError``.
"""
from __future__ import annotations

import numbers

import numpy as np

from .._symbolic.expr import Expr, div, expr, get_variables, mul, nary_sum, neg, num, sub, var
from .._symbolic.expr import time as _time
from .._symbolic.calculus import diff

__all__ = ["hamiltonian", "lagrangian"]


# --------------------------------------------------------------------------- argument checks
def _as_var_list(items, what):
    if isinstance(items, (Expr, str)):
        items = [items]
    try:
        items = list(items)
    except TypeError:
        raise TypeError(f"{what} must be a list of variables (tj.make_vars(...)), got "
                        f"{type(items).__name__}") from None
    if not items:
        raise ValueError(f"{what} is empty: give at least one variable")
    out = []
    for v in items:
        v = var(v) if isinstance(v, str) else v
        if not isinstance(v, Expr) or v.op != "var":
            raise TypeError(f"every element of {what} must be a variable (tj.make_vars(...)), "
                            f"got {v!r:.60}")
        out.append(v)
    names = [v.value for v in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{what} lists the variable(s) {dup} more than once")
    return out


def _check_pair(qs, other, what_other):
    qs = _as_var_list(qs, "qs")
    other = _as_var_list(other, what_other)
    if len(qs) != len(other):
        raise ValueError(f"qs and {what_other} must have the same length (one {what_other[:-1]} "
                         f"per coordinate), got {len(qs)} and {len(other)}")
    both = sorted({v.value for v in qs} & {v.value for v in other})
    if both:
        raise ValueError(f"the variable(s) {both} appear in both qs and {what_other}: "
                         "coordinates and their conjugate quantities must be distinct variables")
    return qs, other


def _scalar_expr(e, what):
    if isinstance(e, bool):
        raise TypeError(f"{what} must be an expression or a number, got {e!r}")
    if isinstance(e, (list, tuple, np.ndarray)):
        raise TypeError(f"{what} must be a single scalar expression, got a "
                        f"{type(e).__name__}")
    try:
        return expr(e)
    except TypeError as exc:
        raise TypeError(f"{what}: {exc}") from None


def _check_uses(e, allowed, what, allowed_desc):
    names = {v.value for v in allowed}
    extra = [v.value for v in get_variables(e) if v.value not in names]
    if extra:
        raise ValueError(f"{what} depends on the variable(s) {extra}, which are not among "
                         f"{allowed_desc}: express it in those variables only (constants as "
                         "numbers or tj.par[i], time as tj.time)")


# --------------------------------------------------------------------------- Hamiltonian
def hamiltonian(H, qs, ps):
    """Hamilton's equations ``q' = dH/dp``, ``p' = -dH/dq`` for a Hamiltonian.

    Parameters
    ----------
    H : Expr
        The Hamiltonian, a function of the coordinates ``qs``, the momenta
        ``ps``, and possibly ``tj.par[i]`` and ``tj.time``.
    qs : list of variables
        The generalised coordinates ``q_1 .. q_n``.
    ps : list of variables
        Their conjugate momenta ``p_1 .. p_n`` (same length).

    Returns
    -------
    list of (Expr, Expr)
        ``[(q_1, dH/dp_1), ..., (q_n, dH/dp_n), (p_1, -dH/dq_1), ..., (p_n, -dH/dq_n)]``:
        coordinates first, then momenta, as ``heyoka.hamiltonian``.

    Raises
    ------
    TypeError, ValueError
        Malformed arguments: ``qs``/``ps`` empty, of different lengths, not
        variables, with duplicates or sharing a variable; ``H`` using a
        variable outside ``qs`` and ``ps``.

    Examples
    --------
    The Hénon-Heiles system; the flow conserves ``H``:

    >>> import taylorjit as tj
    >>> x, y, px, py = tj.make_vars("x", "y", "px", "py")
    >>> H = (px**2 + py**2 + x**2 + y**2) / 2 + x**2 * y - y**3 / 3
    >>> sys = tj.hamiltonian(H, [x, y], [px, py])
    >>> [str(v) for v, _ in sys]
    ['x', 'y', 'px', 'py']
    >>> energy = tj.cfunc(H, [x, y, px, py])
    >>> ta = tj.TaylorAdaptive(sys, [0.0, 0.1, 0.35, 0.0], compact=True)
    >>> e0 = energy(ta.state); _ = ta.propagate_until(100.0)
    >>> bool(abs(energy(ta.state) - e0) < 1e-15)
    True
    """
    qs, ps = _check_pair(qs, ps, "ps")
    H = _scalar_expr(H, "H")
    _check_uses(H, qs + ps, "H", "qs and ps")
    dq = [diff(H, p) for p in ps]
    dp = [neg(diff(H, q)) for q in qs]
    return list(zip(qs, dq)) + list(zip(ps, dp))


# --------------------------------------------------------------------------- Lagrangian
def lagrangian(L, qs, qdots, D=None, *, forces=None, dissipation=None):
    """Euler-Lagrange equations of a Lagrangian, solved for the accelerations.

    ``d/dt (dL/dqdot_i) - dL/dq_i = -dD/dqdot_i + Q_i`` is expanded into
    ``M(q, qdot, t) qddot = r(q, qdot, t)`` with the mass matrix
    ``M_ij = d2L / dqdot_i dqdot_j`` and solved symbolically for ``qddot``
    (Gaussian elimination on the expression DAG, see the module notes).

    Parameters
    ----------
    L : Expr
        The Lagrangian (e.g. kinetic minus potential energy), a function of
        ``qs``, ``qdots`` and possibly ``tj.par[i]`` and ``tj.time``.
    qs : list of variables
        The generalised coordinates ``q_1 .. q_n``.
    qdots : list of variables
        The generalised velocities ``qdot_1 .. qdot_n`` (same length).
    D : Expr, optional
        Rayleigh dissipation function (heyoka's ``D``): usually a quadratic form
        in the velocities, e.g. ``c * qdot**2 / 2`` for a linear damping force
        ``-c qdot``.  The generalised force ``-dD/dqdot_i`` is added.  It may
        depend on ``qdots`` and (unlike heyoka) on ``qs``, ``tj.par[i]``,
        ``tj.time``.  Default: no dissipation.
    forces : list of Expr, optional
        Further non-conservative generalised forces ``Q_1 .. Q_n`` (one per
        coordinate; any functions of ``qs``, ``qdots``, parameters and time),
        e.g. a periodic drive ``A cos(w t)``.
    dissipation : Expr, optional
        Keyword spelling of ``D`` (give one or the other).

    Returns
    -------
    list of (Expr, Expr)
        ``[(q_1, qdot_1), ..., (q_n, qdot_n), (qdot_1, qddot_1), ..., (qdot_n, qddot_n)]``:
        coordinates first, then velocities, as ``heyoka.lagrangian``.

    Raises
    ------
    ValueError
        The mass matrix ``d2L/dqdot2`` is singular (its determinant is
        identically zero, e.g. a velocity missing from ``L`` or a Lagrangian
        linear in the velocities: the equations are not an explicit ODE), or
        malformed arguments (as :func:`hamiltonian`; ``L``, ``D`` or ``forces``
        using a variable outside ``qs`` and ``qdots``; ``forces`` of the wrong
        length).

    Examples
    --------
    A pendulum of length 2 under unit gravity:

    >>> import math
    >>> import taylorjit as tj
    >>> th, w = tj.make_vars("th", "w")
    >>> L = 0.5 * 4.0 * w**2 + 2.0 * tj.cos(th)
    >>> sys = tj.lagrangian(L, [th], [w])
    >>> [str(v) for v, _ in sys]
    ['th', 'w']
    >>> acc = tj.cfunc(sys[1][1], [th, w])
    >>> bool(abs(acc([0.3, 0.0]) - (-0.5 * math.sin(0.3))) < 1e-15)
    True

    A damped oscillator ``x'' = -x - 0.2 x'`` from ``D = 0.1 x'^2``:

    >>> x, v = tj.make_vars("x", "v")
    >>> sys = tj.lagrangian(v**2 / 2 - x**2 / 2, [x], [v], D=0.1 * v**2)
    >>> float(tj.cfunc(sys[1][1], [x, v])([1.0, 1.0]))
    -1.2
    """
    qs, qdots = _check_pair(qs, qdots, "qdots")
    n = len(qs)
    L = _scalar_expr(L, "L")
    _check_uses(L, qs + qdots, "L", "qs and qdots")
    if D is not None and dissipation is not None:
        raise TypeError("give the Rayleigh dissipation function once: D (heyoka's name) or "
                        "dissipation=, not both")
    if dissipation is not None:
        D = dissipation
    D = num(0.0) if D is None else _scalar_expr(D, "the dissipation function D")
    _check_uses(D, qs + qdots, "the dissipation function D", "qs and qdots")
    if forces is None:
        Q = [num(0.0)] * n
    else:
        if isinstance(forces, (Expr, numbers.Number)):
            forces = [forces]
        try:
            Q = list(forces)
        except TypeError:
            raise TypeError(f"forces must be a list of {n} generalised forces (one per "
                            f"coordinate), got {type(forces).__name__}") from None
        if len(Q) != n:
            raise ValueError(f"forces must hold one generalised force per coordinate ({n}), "
                             f"got {len(Q)}")
        Q = [_scalar_expr(f, f"forces[{i}]") for i, f in enumerate(Q)]
        for i, f in enumerate(Q):
            _check_uses(f, qs + qdots, f"forces[{i}]", "qs and qdots")

    p = [diff(L, v) for v in qdots]
    M = [[diff(p[i], qdots[j]) for j in range(n)] for i in range(n)]
    r = []
    for i in range(n):
        terms = [diff(L, qs[i])]
        terms += [neg(mul(diff(p[i], qs[j]), qdots[j])) for j in range(n)]
        terms.append(neg(diff(p[i], _time)))
        terms.append(neg(diff(D, qdots[i])))
        terms.append(Q[i])
        r.append(nary_sum(terms))
    acc = _solve(M, r, qs + qdots, [L, D] + Q)
    return list(zip(qs, qdots)) + list(zip(qdots, acc))


# --------------------------------------------------------------------------- the linear solve
_SINGULAR_RCOND = 1e-11      # reciprocal condition number below which M is suspect


def _python_evaluator(exprs, inputs):
    """``ev(x, pars, t)``: the values of ``exprs`` by the pure-Python kernel (no
    compilation and no VM to load: a handful of evaluations only)."""
    from .._codegen.decompose import decompose
    from .._codegen.kernel import get_kernel

    d = decompose(list(exprs), list(inputs))
    kern = get_kernel(d, ode=False, kind="python")
    outs = np.array(d.outputs, dtype=np.int64)
    n_in = len(inputs)

    def ev(x, pars, t):
        tc = np.zeros((d.n_slots, 1))
        tc[:n_in, 0] = x
        p = np.zeros(d.n_pars) if pars is None else np.ascontiguousarray(pars, dtype=float)
        try:
            kern.jet(tc, 0, p, float(t), 1, kern.prog, kern.cvals)
        except (ArithmeticError, ValueError):       # outside the domain (log(-1), 1/0)
            return np.full(outs.shape[0], np.nan)
        return tc[outs, 0].copy()

    return ev


def _test_points(M, inputs, deps, n_points=3):
    """Values of M (n x n arrays) at random points where every entry is finite."""
    from .._symbolic.expr import get_params, uses_time

    n = len(M)
    flat = [M[i][j] for i in range(n) for j in range(n)]
    npar = max(get_params(flat + deps), default=-1) + 1
    if all(e.op == "num" for e in flat):
        return [np.array([e.value for e in flat]).reshape(n, n)]
    ev = _python_evaluator(flat, inputs)
    rng = np.random.default_rng(20240527)
    has_t = uses_time(flat)
    points = []
    # several ranges: a Lagrangian may be defined for positive values only (sqrt, log),
    # or need values above 1 (acosh)
    for lo, hi in [(0.2, 0.9)] * 4 + [(1.1, 2.0)] * 4 + [(-0.9, 0.9)] * 4:
        x = rng.uniform(lo, hi, len(inputs))
        pars = rng.uniform(lo, hi, npar) if npar else None
        t = float(rng.uniform(lo, hi)) if has_t else 0.0
        with np.errstate(all="ignore"):
            vals = ev(x, pars, t)
        if np.all(np.isfinite(vals)):
            points.append(vals.reshape(n, n))
            if len(points) == n_points:
                break
    return points


def _singular_error(reason):
    return ValueError(
        "the mass matrix d2L/dqdot_i dqdot_j of the Lagrangian is singular (" + reason + "): "
        "the Euler-Lagrange equations cannot be solved for the accelerations. Every velocity "
        "must enter L through a non-degenerate kinetic term (e.g. m*qdot**2/2); a Lagrangian "
        "linear in a velocity, or one with constraints or gauge freedom, has no explicit ODE: "
        "eliminate the redundant coordinates first")


def _symbolic_det_is_zero(M):
    """True if sympy simplifies det(M) to 0, False if not, None if it cannot tell."""
    try:
        import sympy as sp

        from .._symbolic.sympy_bridge import to_sympy
    except ImportError:
        return None
    n = len(M)
    try:
        Ms = sp.Matrix(n, n, to_sympy([M[i][j] for i in range(n) for j in range(n)]))
        d = sp.simplify(Ms.det(method="berkowitz"))
    except Exception:       # an operation sympy does not know: undecided
        return None
    return bool(d == 0)


def _solve(M, r, inputs, deps):
    """Symbolic solution of ``M a = r`` (lists of Expr), pivots chosen numerically."""
    n = len(M)
    points = _test_points(M, inputs, deps)
    if not points:
        # M cannot be evaluated anywhere we tried: decide with sympy alone
        if _symbolic_det_is_zero(M):
            raise _singular_error("its determinant simplifies to 0")
        A = None
    else:
        rconds = []
        for P in points:
            s = np.linalg.svd(P, compute_uv=False)
            rconds.append(s[-1] / s[0] if s[0] > 0 else 0.0)
        if max(rconds) < _SINGULAR_RCOND:
            z = _symbolic_det_is_zero(M)
            if z is None or z:
                why = ("its determinant simplifies to 0" if z else
                       f"numerically, at {len(points)} random points: reciprocal condition "
                       f"number {max(rconds):.1e}")
                raise _singular_error(why)
        A = np.array(points[int(np.argmax(rconds))], dtype=float)

    S = [list(row) for row in M]
    b = list(r)
    cols = list(range(n))        # unknown held by column position k
    if A is None:
        A = np.array([[0.0 if e.op == "num" and e.value == 0.0 else 1.0 for e in row]
                      for row in M])
    A = A.copy()
    for k in range(n):
        sub_block = np.abs(A[k:, k:])
        diag = np.abs(np.diag(A)[k:])
        big = sub_block.max()
        if big == 0.0:
            raise _singular_error("numerically, during the elimination")
        if diag.max() >= 1e-3 * big:
            pi = pj = k + int(np.argmax(diag))
        else:
            pi, pj = np.unravel_index(int(np.argmax(sub_block)), sub_block.shape)
            pi, pj = pi + k, pj + k
        # row swap
        S[k], S[pi] = S[pi], S[k]
        b[k], b[pi] = b[pi], b[k]
        A[[k, pi]] = A[[pi, k]]
        # column swap
        for row in S:
            row[k], row[pj] = row[pj], row[k]
        A[:, [k, pj]] = A[:, [pj, k]]
        cols[k], cols[pj] = cols[pj], cols[k]
        piv = S[k][k]
        if piv.op == "num" and piv.value == 0.0:
            raise _singular_error("a pivot is identically 0")
        for i in range(k + 1, n):
            e = S[i][k]
            if e.op == "num" and e.value == 0.0:
                continue
            f = div(e, piv)
            for j in range(k + 1, n):
                if not (S[k][j].op == "num" and S[k][j].value == 0.0):
                    S[i][j] = sub(S[i][j], mul(f, S[k][j]))
            b[i] = sub(b[i], mul(f, b[k]))
            S[i][k] = num(0.0)
            A[i, k + 1:] -= (A[i, k] / A[k, k]) * A[k, k + 1:]
            A[i, k] = 0.0
    x = [None] * n
    for k in range(n - 1, -1, -1):
        terms = [b[k]] + [neg(mul(S[k][j], x[j])) for j in range(k + 1, n)]
        x[k] = div(nary_sum(terms), S[k][k])
    out = [None] * n
    for k in range(n):
        out[cols[k]] = x[k]
    return out

