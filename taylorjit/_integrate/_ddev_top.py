# The compiled propagation loop of the double-double integrator with events,
# grid and continuous output (taylorjit._integrate.dd_events loads it).  Like
# taylorjit/_dd/_top.py, this file is not imported as it is: its text is written
# into the kernel cache under a name that hashes every source it depends on
# (this file, the double root finder, the dd arithmetic and polynomials, and
# the key of the dd entry points, whose dd_jet and _horner it calls), and
# imported from there, so numba's cache of these functions is never stale.
# The loop without events (dd_propagate of the dd entry points) is unchanged:
# this one is used for propagations with events or continuous output.
import math

from numba import njit

from taylorjit._symbolic.registry import no_refcount_opts

from taylorjit._dd._build import entry_points as _entry_points
from taylorjit._dd.arith import add
from taylorjit._dd.poly import polish_root, sign_change
from taylorjit._integrate.roots import auto_cooldown, fast_exclude, roots_on_step, wrong_direction

_EP = _entry_points()
dd_jet = _EP.dd_jet
_horner = _EP._horner

_OPTS = dict(cache=True, nogil=True, error_model="numpy", **no_refcount_opts())

# outcome codes (dd_propagate's 0..3, then)
OC_SUCCESS = 0
OC_TIME_LIMIT = 1
OC_STEP_LIMIT = 2
OC_ERR_NF = 3
OC_EVENT = 4            # a terminal event ended the step (eiw[1]: which, efw[1]: d_sgn)
OC_EVENT_PY = 5         # non-terminal events with Python callbacks (or a half-full log)
OC_BUFFER_FULL = 6      # the continuous-output buffer is full (nothing done)

# ws, iw: dd_propagate's layout (ws 0..14, iw 0..4), and iw 5: continuous output
# wanted, iw 6: steps stored in CH/CL/CT.  evi (n_ev, 4): tc row, direction,
# terminal, has a callback; evf (n_ev, 2): user cooldown (-1: automatic),
# remaining cooldown; cand rows: event, tau (hi, lo), d_sgn, |g'|; elog rows:
# event, t (hi, lo), d_sgn; eiw: log length, terminal event of the last step
# (-1), Python needed; efw: tol, d_sgn of the terminal event.
_DD_EPS = 2.0 ** -104


@njit(**_OPTS)
def _before(ah, al, bh, bl):
    """|a| < |b| for two dd numbers of the same sign (or zero)."""
    if abs(ah) != abs(bh):
        return abs(ah) < abs(bh)
    s = 1.0 if ah >= 0.0 else -1.0
    return al * s < bl * s


@njit(**_OPTS)
def _detect(H, L, order, evi, evf, rws, riv, rout, cand, hh, hl):
    """The roots of the event polynomials on the step ``[0, h)`` (dd ``h``): isolated
    on the heads by the double root finder (on ``[0, h (1 + 2^-30))``), polished by
    Newton's method in dd,
    kept if inside the step and the cooldown in dd and of the wanted direction;
    sorted in time order into ``cand``.  Returns their number."""
    sgn = 1.0 if hh > 0.0 else -1.0
    # the heads' roots are searched a little beyond the end of the step (2^-30 h): a
    # root of the dd polynomial just before the end, which the heads' rounding may
    # move past it, is found and then kept by the comparison in dd below
    he = hh + hh * 9.313225746154785e-10
    nc = 0
    for e in range(evi.shape[0]):
        s = evi[e, 0]
        g = H[s]
        direction = evi[e, 1]
        cd = evf[e, 1] if evi[e, 2] == 1 else 0.0
        if fast_exclude(g, order, he):
            continue
        if wrong_direction(g, order, he, direction):
            continue
        m = roots_on_step(g, order, he, direction, cd, rws, riv, rout)
        for i in range(m):
            th, tl, dv, q = polish_root(H[s], L[s], order, rout[i, 0])
            if not (math.isfinite(th) and math.isfinite(tl)):
                continue
            dabs = abs(dv)
            if not (q <= 7.9e-31 * (abs(th) + abs(hh))):
                # no quadratic convergence: a multiple root, or a root of the heads
                # only; kept if the dd polynomial changes sign across it
                dv = sign_change(H[s], L[s], order, th, tl, 4.0 * q)
                if dv == 0.0:
                    continue
            if th * sgn < 0.0 or (th == 0.0 and tl * sgn < 0.0) or abs(th) < cd:
                continue
            eh, el = add(th, tl, -hh, -hl)
            if eh * sgn > 0.0 or (eh == 0.0 and el * sgn >= 0.0):
                continue                # at or beyond the end of the step
            dsg = 1.0 if dv > 0.0 else (-1.0 if dv < 0.0 else 0.0)
            if direction != 0 and dsg != direction:
                continue
            dup = False
            for c in range(nc):
                if cand[c, 0] == e and cand[c, 1] == th and cand[c, 2] == tl:
                    dup = True
            if dup or nc >= cand.shape[0]:
                continue
            cand[nc, 0] = e
            cand[nc, 1] = th
            cand[nc, 2] = tl
            cand[nc, 3] = dsg
            cand[nc, 4] = dabs
            nc += 1
    # time order (stable insertion sort: ties keep the event order)
    ncol = cand.shape[1]
    for i in range(1, nc):
        j = i
        while j > 0 and _before(cand[j, 1], cand[j, 2], cand[j - 1, 1], cand[j - 1, 2]):
            for c in range(ncol):
                tmp = cand[j, c]
                cand[j, c] = cand[j - 1, c]
                cand[j - 1, c] = tmp
            j -= 1
    return nc


@njit(**_OPTS)
def _commit(cand, nc, best, evi, evf, elog, eiw, efw, th, tl, ah, g_eps):
    """Log the non-terminal events before the terminal one ``best`` (or all, -1)
    with their absolute dd times, advance the cooldowns by the step length ``ah``,
    set the terminal event's cooldown."""
    nl = eiw[0]
    for c in range(nc):
        e = int(cand[c, 0])
        if evi[e, 2] == 1:
            continue
        if best >= 0 and not _before(cand[c, 1], cand[c, 2], cand[best, 1], cand[best, 2]):
            break
        if nl < elog.shape[0]:
            eh, el = add(th, tl, cand[c, 1], cand[c, 2])
            elog[nl, 0] = e
            elog[nl, 1] = eh
            elog[nl, 2] = el
            elog[nl, 3] = cand[c, 3]
            nl += 1
        if evi[e, 3] == 1:
            eiw[2] = 1
    eiw[0] = nl
    if 2 * nl >= elog.shape[0]:
        eiw[2] = 1
    for e in range(evi.shape[0]):
        if evf[e, 1] > 0.0:
            rem = evf[e, 1] - ah
            evf[e, 1] = rem if rem > 0.0 else 0.0
    if best >= 0:
        e = int(cand[best, 0])
        cdu = evf[e, 0]
        evf[e, 1] = cdu if cdu >= 0.0 else auto_cooldown(g_eps, cand[best, 4])
        eiw[1] = e
        efw[1] = cand[best, 3]


@njit(**_OPTS)
def dd_propagate_ev(prog, cv, upd, H, L, order, full, pH, pL, XH, XL, NH, NL, ws, iw, gH, gL,
                    OH, OL, hrows, evi, evf, rws, riv, rout, cand, elog, eiw, efw, CH, CL, CT):
    """dd_propagate with events, continuous output and resumption: the step size
    from the rows ``hrows`` (state and event rows, as heyoka), the step cut at the
    first terminal event, non-terminal events logged; returns after a terminal
    event, after a step that logged an event with a Python callback, when the
    continuous-output buffer is full, or at the end.  The step count (iw[4]) and
    the next grid point (iw[3]) carry over between calls."""
    n = XH.shape[0]
    has_tf = iw[0] != 0
    single = iw[1] != 0
    max_steps = iw[2]
    gi = iw[3]
    nsteps = iw[4]
    want_c = iw[5] != 0
    m = gH.shape[0]
    tfh = ws[2]
    tfl = ws[3]
    max_h = ws[4]
    rhofac = ws[5]
    inv_o = ws[6]
    inv_om1 = ws[7]
    sgn = ws[8]
    n_ev = evi.shape[0]
    tol = efw[0]
    eiw[1] = -1
    while True:
        th = ws[0]
        tl = ws[1]
        dth = 0.0
        dtl = 0.0
        if has_tf:
            dth, dtl = add(tfh, tfl, -th, -tl)
            if dth == 0.0 and dtl == 0.0 and gi >= m:
                iw[3] = gi
                iw[4] = nsteps
                return OC_TIME_LIMIT
        if want_c and iw[6] >= CH.shape[0]:
            iw[3] = gi
            iw[4] = nsteps
            return OC_BUFFER_FULL
        for i in range(n):
            H[i, 0] = XH[i]
            L[i, 0] = XL[i]
        dd_jet(prog, cv, H, L, order, pH, pL, th, tl, upd, full)
        a = 0.0
        mo = 0.0
        mom1 = 0.0
        for j in range(hrows.shape[0]):
            i = hrows[j]
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
        nc = 0
        best = -1
        if ok and n_ev > 0 and (hh != 0.0 or hl != 0.0):
            nc = _detect(H, L, order, evi, evf, rws, riv, rout, cand, hh, hl)
            for c in range(nc):
                if evi[int(cand[c, 0]), 2] == 1:
                    best = c
                    break
            if best >= 0:
                hh = cand[best, 1]
                hl = cand[best, 2]
                limited = False
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
        if nc > 0:
            r = tol if a < 1.0 else tol * a
            g_eps = _DD_EPS * a if r < _DD_EPS * a else r
            _commit(cand, nc, best, evi, evf, elog, eiw, efw, th, tl, abs(hh), g_eps)
        elif n_ev > 0:
            ah = abs(hh)
            for e in range(n_ev):
                if evf[e, 1] > 0.0:
                    rem = evf[e, 1] - ah
                    evf[e, 1] = rem if rem > 0.0 else 0.0
        # grid points inside this step (from its start to its end, both included)
        while gi < m:
            dh, dl = add(gH[gi], gL[gi], -th, -tl)
            eh, el = add(dh, dl, -hh, -hl)
            if eh * sgn > 0.0:          # beyond the end of the step
                break
            for i in range(n):
                OH[gi, i], OL[gi, i] = _horner(H, L, i, order, dh, dl)
            gi += 1
        if want_c:
            c = iw[6]
            for i in range(n):
                for k in range(order + 1):
                    CH[c, i, k] = H[i, k]
                    CL[c, i, k] = L[i, k]
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
        if want_c:
            c = iw[6]
            CT[c + 1, 0] = ws[0]
            CT[c + 1, 1] = ws[1]
            iw[6] = c + 1
        ws[11] = hh
        ws[12] = hl
        if hh != 0.0 or hl != 0.0:      # zero-length steps do not count
            nsteps += 1
        iw[3] = gi
        iw[4] = nsteps
        if best >= 0:
            return OC_EVENT
        if limited and gi >= m:
            return OC_TIME_LIMIT
        if single:
            return OC_TIME_LIMIT if limited else OC_SUCCESS
        if max_steps > 0 and nsteps >= max_steps:
            return OC_STEP_LIMIT
        if eiw[2] != 0:
            return OC_EVENT_PY


@njit(**_OPTS)
def dd_c_eval(CH, CL, CT, tH, tL, OH, OL):
    """Continuous output: ``O[j]`` = the state at the dd time ``t[j]`` from the step
    covering it (binary search on the dd step boundaries ``CT``, monotonic in the
    direction of integration; times outside use the first or last step)."""
    ns = CH.shape[0]
    n = CH.shape[1]
    order = CH.shape[2] - 1
    fwd = CT[ns, 0] > CT[0, 0] or (CT[ns, 0] == CT[0, 0] and CT[ns, 1] >= CT[0, 1])
    for j in range(tH.shape[0]):
        lo = 0
        hi = ns - 1
        # largest step s with CT[s] <= t (forward) / >= t (backward)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            dh, dl = add(tH[j], tL[j], -CT[mid, 0], -CT[mid, 1])
            if (fwd and (dh > 0.0 or (dh == 0.0 and dl >= 0.0))) or \
                    ((not fwd) and (dh < 0.0 or (dh == 0.0 and dl <= 0.0))):
                lo = mid
            else:
                hi = mid - 1
        dh, dl = add(tH[j], tL[j], -CT[lo, 0], -CT[lo, 1])
        for i in range(n):
            OH[j, i], OL[j, i] = _horner(CH[lo], CL[lo], i, order, dh, dl)
