"""``taylor_coefficients``: normalised Taylor coefficients along a direction.

One point and one direction go to the plan's direct coefficients kernel
(:mod:`taylorjit._codegen.cjet`, built by :func:`_coefficients_direct`, which
:mod:`.taylor_jet` shares); batches run through the compiled driver of
:mod:`.jet`; expressions with ``tj.select`` are resolved point by point
(:func:`_pw_coefficients`).
"""
from __future__ import annotations

import numpy as np

from .._codegen.tiering import Upgrade as _Upgrade
from .args import _EMPTY, _ONE_DIR, _finite_values, _pars_array, _point1, _points
from .jet import _PiecewisePlan, _front, _run, _tier


def taylor_coefficients(f, variables, point, direction=None, order=10, *, pars=None, time=None,
                        kind=None, precision=None):
    """Normalised Taylor coefficients of ``f(point + h * direction)`` in ``h``.

    Parameters
    ----------
    f : Expr or list of Expr
        The function(s).
    variables : list of variables (or tj.par[i], tj.time)
        The inputs, in the order of ``point``.
    point : array_like, shape (n,) or (npoints, n)
        Expansion point(s); many points are handled in one compiled loop.
    direction : array_like, shape (n,) or (npoints, n), optional
        Direction of the expansion (default: 1 for a single variable; required otherwise).
    order : int
        Highest coefficient, at most 10000 (numpy integers and integral floats
        are accepted).
    pars : array_like, optional
        Values of the runtime parameters ``par[i]`` used in ``f``, shape (npars,).
    time : float, optional
        Value of ``tj.time`` if ``f`` uses it (and it is not among ``variables``).
    kind : {"unrolled", "spec", "compact", "python"}, optional
        Kernel kind (see :func:`default_kind`): ``"unrolled"`` compiles straight-line
        code for each order asked (LLVM, ~0.1 s for a small expression, cached on
        disk; fastest per call), ``"spec"`` a looped specialised kernel (numba),
        ``"compact"`` the VM (no compilation).  ``None``: the fastest kind already
        compiled in the disk cache, else the VM.
    precision : {None, "double", "dd"} or int, optional
        ``"dd"``: double-double arithmetic (~32 significant digits, see
        docs/extended-precision.md); points, directions, ``pars`` and ``time`` are then
        read without loss (decimal strings such as ``"0.1"`` exactly, mpmath numbers,
        ``(hi, lo)`` tuples) and the result is a ``DDArray`` (``kind`` is ignored).
        An int: arbitrary precision with that many bits (e.g. ``256``; a Python VM,
        slow), inputs read the same way, the result an object array of mpmath numbers.

    Returns
    -------
    ndarray
        ``c[k] = (d/dh)^k f / k!`` at h = 0: shape ``(order+1,)`` for one function at
        one point, ``(m, order+1)`` for m functions, with a leading ``npoints``
        axis when several points are given.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x = tj.var("x")
    >>> c = tj.taylor_coefficients(tj.exp(x), [x], [0.0], order=4)
    >>> [round(float(v), 12) for v in c]
    [1.0, 1.0, 0.5, 0.166666666667, 0.041666666667]
    """
    if precision is not None and precision != "double":
        if precision == "dd":
            from .dd import taylor_coefficients_dd

            return taylor_coefficients_dd(f, variables, point, direction, order, pars=pars,
                                          time=time)
        if isinstance(precision, (int, np.integer)) and not isinstance(precision, bool):
            from .mp import taylor_coefficients_mp

            return taylor_coefficients_mp(f, variables, point, direction, order, pars=pars,
                                          time=time, precision=precision)
        raise ValueError(f"precision={precision!r}: use None or 'double' (double precision), "
                         "'dd' (double-double, ~32 digits) or a number of bits (e.g. 256)")
    order, fs, scalar, variables, plan = _front(f, variables, kind, order)
    if plan.__class__ is _PiecewisePlan:
        return _pw_coefficients(plan, scalar, point, direction, order, pars, time, kind)
    n = plan.n_in
    # one point, one direction: the direct kernel (taylorjit._codegen.cjet) once it exists
    ck = plan.cjets.get(order)
    if ck is not False:
        vals = _finite_values(point, n)
        dvals = (_ONE_DIR if n == 1 else None) if direction is None else \
            _finite_values(direction, n)
        if vals is not None and dvals is not None:
            if ck is None or ck.__class__ is _Upgrade:
                ck = _coefficients_direct(plan, order)
            if ck is not None:
                p = _pars_array(plan, pars, time) if plan.n_pars or plan.time_par >= 0 \
                    else _EMPTY
                res = ck.run(vals, dvals, p)
                return res[0] if scalar else res
    P = _point1(point, n, many=True) if type(point) is not np.ndarray or point.ndim == 1 \
        else None
    if P is not None:
        single = True
    else:
        P, single = _points(point, n)
    if direction is None:
        if n != 1:
            raise ValueError(f"direction is required with {n} variables (e.g. direction=[1.0] + "
                             f"[0.0]*{n - 1} to expand along the first one)")
        D = np.ones_like(P)
    else:
        D, dsingle = _points(direction, n, "direction")
        if D.shape[0] == 1 and P.shape[0] > 1:
            D = np.broadcast_to(D, P.shape).copy()
        elif D.shape[0] > 1 and P.shape[0] == 1:
            P = np.broadcast_to(P, D.shape).copy()
            single = False
        elif D.shape[0] != P.shape[0]:
            raise ValueError(f"{P.shape[0]} points but {D.shape[0]} directions")
    res = _run(plan, P, D, order, _pars_array(plan, pars, time))
    if scalar:
        res = res[:, 0, :]
    return res[0] if single else res


def _pw_coefficients(plan, scalar, point, direction, order, pars, time, kind):
    front = plan.front
    P, single = _points(point, plan.n_in)
    D = None
    if direction is not None:
        D, _ = _points(direction, plan.n_in, "direction")
        if D.shape[0] == 1 and P.shape[0] > 1:
            D = np.broadcast_to(D, P.shape).copy()
        elif D.shape[0] > 1 and P.shape[0] == 1:
            P = np.broadcast_to(P, D.shape).copy()
            single = False
    out = None
    for idx, fs in front.groups(P, pars, time):
        r = taylor_coefficients(fs, front.variables, P[idx], None if D is None else D[idx],
                                order, pars=pars, time=time, kind=kind)
        if out is None:
            out = np.empty((P.shape[0],) + r.shape[1:])
        out[idx] = r
    if scalar:
        out = out[:, 0, :]
    return out[0] if single else out


def _coefficients_direct(plan, order):
    """The plan's direct coefficients kernel at ``order`` (taylorjit._codegen.cjet) when
    it should be used, else None (see :func:`_tier`)."""
    from .._codegen import cjet as _cjet
    from .._codegen.unroll import unrolled_size

    d = plan.kernel.decomposition
    return _tier(plan, plan.cjets, plan.ccalls, order,
                 lambda: unrolled_size(d, order) > _cjet.MAX_OPS,
                 lambda: _cjet.is_cached(d, order),
                 lambda: _cjet.coefficients_kernel(d, order), "coefficients")
