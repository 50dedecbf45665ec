# The compiled entry points of taylorjit's double-double code.  This file is not
# imported as it is: taylorjit._dd._build fills in the dispatch block of dd_jet
# (one branch per kernel operation), writes the result into the kernel cache
# under a name that hashes every source it depends on, and imports it from
# there, so numba's cache of these functions is never stale.  dd_jet (with the
# recurrences and the value routines: most of the compilation) is compiled at
# import; the drivers at their first call (each ~1-3 s the first time, then
# loaded from the cache).
import math

from numba import njit

from taylorjit._symbolic.registry import no_refcount_opts

from taylorjit._dd.arith import add, mul, mul_d
from taylorjit._dd import funcs as F
from taylorjit._dd import special as S
from taylorjit._dd.recur import *  # noqa: F401,F403 - the kernels k_<op>

_OPTS = dict(cache=True, nogil=True, error_model="numpy", **no_refcount_opts())

_JET_SIG = ("void(int64[:, ::1], float64[::1], float64[:, ::1], float64[:, ::1], int64, "
            "float64[::1], float64[::1], float64, float64, int64[:, ::1], int64)")


@njit(_JET_SIG, **_OPTS)
def dd_jet(prog, cv, H, L, order, pH, pL, tH, tL, upd, full):
    """Coefficients 0..order of every slot (ODE: ``upd`` rows ``(state slot, rhs
    slot)``: state coefficient k = rhs coefficient k-1 / k; ``full == 0`` skips
    the operations at the last order, where only the state rows are needed)."""
    n = prog.shape[0]
    nu = upd.shape[0]
    for k in range(order + 1):
        if k > 0:
            for r in range(nu):
                s = upd[r, 0]
                q = upd[r, 1]
                hh, ll = div_k(H[q, k - 1], L[q, k - 1], k)
                H[s, k] = hh
                L[s, k] = ll
        if k == order and full == 0:
            break
        for r in range(n):
            op = prog[r, 0]
            o0 = prog[r, 1]
            o1 = prog[r, 2]
            o2 = prog[r, 3]
            o3 = prog[r, 4]
            i0 = prog[r, 5]
            i1 = prog[r, 6]
            i2 = prog[r, 7]
            c = cv[r]
#DISPATCH#


@njit(**_OPTS)
def dd_points(prog, cv, upd, H, L, order, pH, pL, tH, tL, PH, PL, DH, DL, outs, RH, RL):
    """taylor_coefficients: for each point r, inputs P[r] + D[r] h, coefficients
    of the outputs into R[r] (``upd``: an empty (0, 2) table)."""
    n = PH.shape[1]
    for r in range(PH.shape[0]):
        for i in range(n):
            H[i, 0] = PH[r, i]
            L[i, 0] = PL[r, i]
            if order >= 1:
                H[i, 1] = DH[r, i]
                L[i, 1] = DL[r, i]
            for k in range(2, order + 1):
                H[i, k] = 0.0
                L[i, k] = 0.0
        dd_jet(prog, cv, H, L, order, pH, pL, tH, tL, upd, 1)
        for m in range(outs.shape[0]):
            for k in range(order + 1):
                RH[r, m, k] = H[outs[m], k]
                RL[r, m, k] = L[outs[m], k]


@njit(**_OPTS)
def dd_eval(code, XH, XL, R):
    """Values of the dd elementary functions (tests, accuracy tables): function
    ``code`` on the arguments ``(XH[j, i], XL[j, i])`` (j: argument), results
    ``R[i] = (hi, lo[, hi2, lo2, ...])``."""
    for i in range(XH.shape[1]):
        a = XH[0, i]
        b = XL[0, i]
        if code == 0:
            R[i, 0], R[i, 1] = F.exp(a, b)
        elif code == 1:
            R[i, 0], R[i, 1] = F.expm1(a, b)
        elif code == 2:
            R[i, 0], R[i, 1] = F.log(a, b)
        elif code == 3:
            R[i, 0], R[i, 1] = F.log1p(a, b)
        elif code == 4:
            R[i, 0], R[i, 1], R[i, 2], R[i, 3] = F.sincos(a, b)
        elif code == 5:
            R[i, 0], R[i, 1] = F.tan(a, b)
        elif code == 6:
            R[i, 0], R[i, 1] = F.atan(a, b)
        elif code == 7:
            R[i, 0], R[i, 1] = F.asin(a, b)
        elif code == 8:
            R[i, 0], R[i, 1] = F.acos(a, b)
        elif code == 9:
            R[i, 0], R[i, 1] = F.atan2(a, b, XH[1, i], XL[1, i])
        elif code == 10:
            R[i, 0], R[i, 1], R[i, 2], R[i, 3] = F.sinhcosh(a, b)
        elif code == 11:
            R[i, 0], R[i, 1] = F.tanh(a, b)
        elif code == 12:
            R[i, 0], R[i, 1] = F.asinh(a, b)
        elif code == 13:
            R[i, 0], R[i, 1] = F.acosh(a, b)
        elif code == 14:
            R[i, 0], R[i, 1] = F.atanh(a, b)
        elif code == 15:
            R[i, 0], R[i, 1] = F.sqrt(a, b)
        elif code == 16:
            R[i, 0], R[i, 1] = S.pow_c(a, b, XH[1, i])
        elif code == 17:
            R[i, 0], R[i, 1] = S.erf(a, b)
        elif code == 18:
            R[i, 0], R[i, 1] = S.sigmoid(a, b)
        elif code == 19:
            (R[i, 0], R[i, 1], R[i, 2], R[i, 3], R[i, 4],
             R[i, 5]) = S.kepE(a, b, XH[1, i], XL[1, i])
        elif code == 20:
            (R[i, 0], R[i, 1], R[i, 2], R[i, 3], R[i, 4],
             R[i, 5]) = S.kepF(a, b, XH[1, i], XL[1, i], XH[2, i], XL[2, i])
        elif code == 21:
            (R[i, 0], R[i, 1], R[i, 2], R[i, 3], R[i, 4],
             R[i, 5]) = S.kepDE(a, b, XH[1, i], XL[1, i], XH[2, i], XL[2, i])


# --------------------------------------------------------------------------- integrator
# outcome codes (taylorjit._integrate.dd maps them to tj.Outcome)
OC_SUCCESS = 0
OC_TIME_LIMIT = 1
OC_STEP_LIMIT = 2
OC_ERR_NF = 3

# ws (float64 work array) layout: 0,1 time (hi, lo); 2,3 final time; 4 max |h|;
# 5 rho factor; 6 1/order; 7 1/(order-1); 8 direction (+1/-1); out: 9 min |h|,
# 10 max |h|, 11,12 last h (hi, lo), 13,14 start time of the last step
# iw (int64 work array): 0 has a final time; 1 single step; 2 max steps (0: no
# limit); 3 next grid point; out: 4 steps taken


@njit(**_OPTS)
def _horner(H, L, i, order, hh, hl):
    ah = H[i, order]
    al = L[i, order]
    k = order - 1
    if hl == 0.0:
        while k >= 0:
            ah, al = mul_d(ah, al, hh)
            ah, al = add(ah, al, H[i, k], L[i, k])
            k -= 1
    else:
        while k >= 0:
            ah, al = mul(ah, al, hh, hl)
            ah, al = add(ah, al, H[i, k], L[i, k])
            k -= 1
    return ah, al


@njit(**_OPTS)
def dd_dense(H, L, n, order, dh, dl, OH, OL):
    """Dense output: the Taylor polynomials of rows 0..n-1 at the dd offset (dh, dl)."""
    for i in range(n):
        OH[i], OL[i] = _horner(H, L, i, order, dh, dl)


@njit(**_OPTS)
def dd_propagate(prog, cv, upd, H, L, order, pH, pL, XH, XL, NH, NL, ws, iw, gH, gL, OH, OL):
    """Adaptive Taylor steps on the state (XH, XL) (see the layout of ws/iw above).

    Step size: heyoka's rule on the heads of the state rows, h = min((num /
    max|x[p]|)^(1/p), (num / max|x[p-1]|)^(1/(p-1))) * rho factor, num =
    max(1, max|x[0]|), clamped by ws[4] and by the final time (the last step
    is the dd difference, so the final time is hit exactly).  Grid points
    (gH, gL) between the start and the end of a step get the Taylor polynomial
    evaluated at their dd offset into OH, OL."""
    n = XH.shape[0]
    has_tf = iw[0] != 0
    single = iw[1] != 0
    max_steps = iw[2]
    gi = iw[3]
    m = gH.shape[0]
    tfh = ws[2]
    tfl = ws[3]
    max_h = ws[4]
    rhofac = ws[5]
    inv_o = ws[6]
    inv_om1 = ws[7]
    sgn = ws[8]
    nsteps = 0
    while True:
        th = ws[0]
        tl = ws[1]
        if has_tf:
            dth, dtl = add(tfh, tfl, -th, -tl)
            if dth == 0.0 and dtl == 0.0 and gi >= m:
                iw[3] = gi
                iw[4] = nsteps
                return OC_TIME_LIMIT
        for i in range(n):
            H[i, 0] = XH[i]
            L[i, 0] = XL[i]
        dd_jet(prog, cv, H, L, order, pH, pL, th, tl, upd, 0)
        a = 0.0
        mo = 0.0
        mom1 = 0.0
        for i in range(n):
            v = abs(H[i, 0])
            if v > a:
                a = v
            v = abs(H[i, order])
            if v > mo:
                mo = v
            v = abs(H[i, order - 1])
            if v > mom1:
                mom1 = v
        num = 1.0 if a <= 1.0 else a
        rho_o = math.pow(num / mo, inv_o)
        rho_om1 = math.pow(num / mom1, inv_om1)
        h = (rho_om1 if rho_om1 < rho_o else rho_o) * rhofac
        if h > max_h:
            h = max_h
        hh = sgn * h
        hl = 0.0
        limited = False
        if has_tf and not (abs(dth) > h):
            hh = dth
            hl = dtl
            limited = True
        ok = math.isfinite(hh) and math.isfinite(hl)
        if ok:
            for i in range(n):
                ah, al = _horner(H, L, i, order, hh, hl)
                NH[i] = ah
                NL[i] = al
                if not (math.isfinite(ah) and math.isfinite(al)):
                    ok = False
        if not ok:
            iw[3] = gi
            iw[4] = nsteps
            return OC_ERR_NF
        # grid points inside this step (from its start to its end, both included)
        while gi < m:
            dh, dl = add(gH[gi], gL[gi], -th, -tl)
            eh, el = add(dh, dl, -hh, -hl)
            if eh * sgn > 0.0:          # beyond the end of the step
                break
            for i in range(n):
                OH[gi, i], OL[gi, i] = _horner(H, L, i, order, dh, dl)
            gi += 1
        for i in range(n):
            XH[i] = NH[i]
            XL[i] = NL[i]
        ws[13] = th
        ws[14] = tl
        if limited:
            ws[0] = tfh
            ws[1] = tfl
        else:
            ws[0], ws[1] = add(th, tl, hh, hl)
            ah = abs(hh)
            if ah < ws[9]:
                ws[9] = ah
            if ah > ws[10]:
                ws[10] = ah
        ws[11] = hh
        ws[12] = hl
        if hh != 0.0 or hl != 0.0:      # zero-length steps do not count
            nsteps += 1
        if limited and gi >= m:
            iw[3] = gi
            iw[4] = nsteps
            return OC_TIME_LIMIT
        if single:
            iw[3] = gi
            iw[4] = nsteps
            return OC_TIME_LIMIT if limited else OC_SUCCESS
        if max_steps > 0 and nsteps >= max_steps:
            iw[3] = gi
            iw[4] = nsteps
            return OC_STEP_LIMIT
