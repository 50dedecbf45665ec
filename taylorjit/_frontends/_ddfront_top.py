# The compiled part of the double-double front ends (``derivatives(...,
# precision="dd")``: taylorjit._frontends.dd_derivatives loads it).  Like
# taylorjit/_dd/_top.py this file is not imported as it is: its text is written
# into the kernel cache under a name that hashes every source it depends on (this
# file, the dd arithmetic and the key of the dd entry points, whose dd_jet it
# calls), and imported from there, so numba's cache of it is never stale.
from numba import njit

from taylorjit._symbolic.registry import no_refcount_opts

from taylorjit._dd._build import entry_points as _entry_points
from taylorjit._dd.arith import add, mul

_EP = _entry_points()
dd_jet = _EP.dd_jet

_OPTS = dict(cache=True, nogil=True, error_model="numpy", **no_refcount_opts())


@njit(**_OPTS)
def dd_partials(prog, cv, upd, H, L, order, pH, pL, XH, XL, dirs, outs, RH, RL, rowptr, cols,
                CH, CL, degs, OH, OL):
    """All partial derivatives of total order <= ``order`` at the dd point (XH, XL):
    the jets along the integer directions ``dirs`` (coefficients into RH, RL: shape
    (ndirs, m, order + 1)), then for each multi-index row r and output m the dd sum
    ``O[r, m] = sum_b C[r, b] R[b, m, degs[r]]`` over the non-zero weights of row r
    (CSR: ``cols[rowptr[r]:rowptr[r + 1]]``, dd weights CH + CL), in column order.
    ``upd``: an empty (0, 2) table."""
    n = XH.shape[0]
    for b in range(dirs.shape[0]):
        for i in range(n):
            H[i, 0] = XH[i]
            L[i, 0] = XL[i]
            if order >= 1:
                H[i, 1] = dirs[b, i]
                L[i, 1] = 0.0
            for k in range(2, order + 1):
                H[i, k] = 0.0
                L[i, k] = 0.0
        dd_jet(prog, cv, H, L, order, pH, pL, 0.0, 0.0, upd, 1)
        for m in range(outs.shape[0]):
            for k in range(order + 1):
                RH[b, m, k] = H[outs[m], k]
                RL[b, m, k] = L[outs[m], k]
    for r in range(rowptr.shape[0] - 1):
        d = degs[r]
        for m in range(outs.shape[0]):
            sh = 0.0
            sl = 0.0
            for q in range(rowptr[r], rowptr[r + 1]):
                b = cols[q]
                ph, pl = mul(CH[q], CL[q], RH[b, m, d], RL[b, m, d])
                sh, sl = add(sh, sl, ph, pl)
            OH[r, m] = sh
            OL[r, m] = sl
