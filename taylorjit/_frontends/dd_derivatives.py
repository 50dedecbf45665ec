"""``derivatives(..., precision="dd")``: all partial derivatives of total order <= k
in double-double arithmetic, and :class:`DDDerivatives`, their result.

The method of the double version (:mod:`.derivatives`): the univariate Taylor
jets along the C(n+k-1, k) integer directions of length k, recombined by the
exact interpolation of Griewank, Utke & Walther (``taylorjit._codegen.multi``).
Here the jets come from the dd VM and the interpolation weights, rationals, are
computed exactly (:func:`exact_weights`) and rounded once to the nearest dd; the
jets and the weighted sums run in one compiled call (:file:`_ddfront_top.py`).
In one variable the derivatives are the coefficients times ``k!`` (direction 1).
"""
from __future__ import annotations

import hashlib
import io
import math
import threading
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np

from .._dd.values import DDArray, fraction_to_dd
from .args import _as_exprs, _as_vars, _check_order
from .dd import _plan, _points, dd_pars
from .dd_taylor_jet import float_row
from .derivatives import DERIVATIVES_MAX_ORDER, Derivatives, _check_derivatives_size

__all__ = ["DDDerivatives", "derivatives_dd", "exact_weights", "dd_front_entry_points"]

_HERE = Path(__file__).resolve().parent
_lock = threading.Lock()
_MOD: dict = {}
_NO_UPD = np.zeros((0, 2), dtype=np.int64)


def dd_front_entry_points():
    """The compiled module of :file:`_ddfront_top.py` (``dd_partials``): from the disk
    cache, compiled on first use (a few seconds)."""
    mod = _MOD.get("m")
    if mod is not None:
        return mod
    with _lock:
        mod = _MOD.get("m")
        if mod is None:
            import numba

            from .._codegen import cache as _cache
            from .._dd._build import source_key

            text = (_HERE / "_ddfront_top.py").read_text(encoding="utf-8")
            h = hashlib.sha256(numba.__version__.encode() + source_key().encode())
            h.update(text.encode())
            h.update((_HERE.parent / "_dd" / "arith.py").read_bytes())
            name = f"ddfront_{h.hexdigest()[:16]}"
            path = _cache.write_source(name, text)
            mod = _cache.load_module(path, f"taylorjit_cache_{name}", {})
            _MOD["m"] = mod
    return mod


class DDDerivatives(Derivatives):
    """All partial derivatives of total order <= ``order`` at one point, in
    double-double (the result of ``tj.derivatives(..., precision="dd")``).

    The API of :class:`~taylorjit.Derivatives` with :class:`~taylorjit.DDArray`
    values: ``d[(2, 3)]`` is a 0-d DDArray (shape ``(m,)`` for m functions),
    ``d.gradient()``, ``d.hessian()``, ``d.tensor(k)``, ``d.as_array()`` DDArrays.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x, y = tj.make_vars("x", "y")
    >>> d = tj.derivatives(tj.exp(x) * tj.sin(y), [x, y], ["0.1", "1/3"], order=3,
    ...                    precision="dd")
    >>> print(d[(2, 1)])          # e^(1/10) cos(1/3) = 1.04433893590061909001921015472215...
    1.04433893590061909001921015472212
    """

    def __init__(self, hi, lo, index, n, order, scalar, variables):
        super().__init__(hi, index, n, order, scalar, variables)
        self._lo = lo

    def __getitem__(self, index):
        r = self._row(index)
        if self.scalar:
            return DDArray(self._values[r, 0], self._lo[r, 0])
        return DDArray(self._values[r].copy(), self._lo[r].copy())

    def as_array(self):
        """All derivatives as one DDArray (rows in the order of :meth:`keys`)."""
        if self.scalar:
            return DDArray(self._values[:, 0].copy(), self._lo[:, 0].copy())
        return DDArray(self._values.copy(), self._lo.copy())

    def tensor(self, k: int) -> DDArray:
        """The symmetric tensor of all k-th derivatives, shape (n,)*k (or (m,)+(n,)*k)."""
        if k > self.order or k < 0:
            raise ValueError(f"tensor order {k} not available (computed up to {self.order})")
        m = self._values.shape[1]
        TH = np.empty((m,) + (self.n,) * k)
        TL = np.empty_like(TH)
        for idx in np.ndindex(*((self.n,) * k)):
            mi = [0] * self.n
            for a in idx:
                mi[a] += 1
            r = self._index[tuple(mi)]
            TH[(slice(None),) + idx] = self._values[r]
            TL[(slice(None),) + idx] = self._lo[r]
        return DDArray(TH[0], TL[0]) if self.scalar else DDArray(TH, TL)

    def __repr__(self):
        return (f"<DDDerivatives of order <= {self.order} in {self.n} variables "
                f"({len(self._values)} multi-indices, double-double)>")


# --------------------------------------------------------------------------- the weights
@lru_cache(maxsize=32)
def exact_weights(n, p):
    """``(dirs, rowptr, cols, CH, CL, degs, index)``: the directions (float, shape
    (ndirs, n)), the interpolation weights as a CSR matrix of dd values (each the
    exact rational rounded once to the nearest dd), the degree of each row and the
    multi-index -> row map.  In one variable: the direction 1 and the weights
    ``d!``.  Kept in taylorjit's kernel cache after the first computation."""
    from .._codegen import cache as _cache
    from .._codegen.multi import exact_rows, multi_indices

    keys = [j for d in range(p + 1) for j in multi_indices(n, d)]
    index = {j: r for r, j in enumerate(keys)}
    if n == 1:
        rowptr = np.arange(p + 2, dtype=np.int64)
        cols = np.zeros(p + 1, dtype=np.int64)
        pairs = [fraction_to_dd(Fraction(math.factorial(d)), "weight") for d in range(p + 1)]
        CH = np.array([a for a, _ in pairs])
        CL = np.array([b for _, b in pairs])
        return (np.ones((1, 1)), rowptr, cols, CH, CL, np.arange(p + 1, dtype=np.int64), index)
    dirs = np.array(multi_indices(n, p), dtype=np.float64).reshape(-1, n)
    name = f"guwdd_{n}_{p}.npz"
    data = _cache.read_blob(name)
    if data is not None:
        with np.load(io.BytesIO(data)) as z:
            arrs = [z[k] for k in ("rowptr", "cols", "CH", "CL", "degs")]
        return (dirs, *arrs, index)
    rowptr, cols, CH, CL, degs = [0], [], [], [], []
    for d, rows in enumerate(exact_rows(n, p)):
        for _j, row in rows:
            for b, q in row.items():
                h, l = fraction_to_dd(q, "weight")
                cols.append(b)
                CH.append(h)
                CL.append(l)
            rowptr.append(len(cols))
            degs.append(d)
    arrs = [np.array(rowptr, dtype=np.int64), np.array(cols, dtype=np.int64),
            np.array(CH, dtype=np.float64), np.array(CL, dtype=np.float64),
            np.array(degs, dtype=np.int64)]
    buf = io.BytesIO()
    np.savez(buf, **dict(zip(("rowptr", "cols", "CH", "CL", "degs"), arrs)))
    _cache.write_blob(name, buf.getvalue())
    return (dirs, *arrs, index)


# --------------------------------------------------------------------------- front end
def derivatives_dd(f, variables, point, order=2, *, pars=None, time=None) -> DDDerivatives:
    """All partial derivatives of total order <= ``order`` at ``point`` in
    double-double arithmetic: ``derivatives(..., precision="dd")``.

    The point, ``pars`` and ``time`` are read without loss (decimal strings such
    as ``"0.1"`` exactly, mpmath numbers, ``(hi, lo)`` tuples, DDArray); numeric
    constants inside ``f`` are doubles, as in ``taylor_coefficients(...,
    precision="dd")``.  Same limits on ``order`` as the double version.

    Returns a :class:`DDDerivatives`: ``d[(i1, ..., in)]`` the true derivative
    ``d^|i| f / dx1^i1 ... dxn^in`` as a DDArray.
    """
    order = _check_order(order, DERIVATIVES_MAX_ORDER)
    fs, scalar = _as_exprs(f)
    variables = _as_vars(variables)
    plan = _plan(fs, variables)
    n = plan.n_in
    PH = np.empty((1, n))
    PL = np.empty((1, n))
    if not float_row(point, n, PH, PL):
        PH, PL, single = _points(point, n, "point")
        if not single:
            raise ValueError("derivatives() takes one point; loop over points or use "
                             "taylor_coefficients with many points")
    _check_derivatives_size(n, order)
    dirs, rowptr, cols, CH, CL, degs, index = exact_weights(n, order)
    pH, pL = dd_pars(plan.n_pars, plan.time_par, pars, time)
    m = plan.outs.shape[0]
    nd = dirs.shape[0]
    rows = rowptr.shape[0] - 1
    RH = np.empty((nd, m, order + 1))
    RL = np.empty((nd, m, order + 1))
    OH = np.empty((rows, m))
    OL = np.empty((rows, m))
    H = np.zeros((plan.n_slots, order + 1))
    L = np.zeros((plan.n_slots, order + 1))
    dd_front_entry_points().dd_partials(plan.prog, plan.cv, _NO_UPD, H, L, order, pH, pL,
                                        PH[0], PL[0], dirs, plan.outs, RH, RL, rowptr, cols,
                                        CH, CL, degs, OH, OL)
    return DDDerivatives(OH, OL, index, n, order, scalar, variables)
