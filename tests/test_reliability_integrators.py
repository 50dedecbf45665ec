"""Reliability of the integrators (issue 19): re-entrant calls from callbacks, batch
grouping of unrolled kernels in ensembles, per-lane step limits, terminal-event outcomes
of ``step()``, argument checks, and numpy scalar arguments.

References: closed forms of the harmonic oscillator (``x = cos t``, ``v = -sin t``) and
of free fall; runs without the faulty call, and scalar runs lane by lane (bit for bit).
"""
import copy
import math
import threading

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import taylorjit as tj
from taylorjit._integrate import ensemble as E
from taylorjit._integrate.batch import TaylorAdaptiveBatch
from taylorjit._integrate.events import Event
from taylorjit._integrate.integrator import TaylorAdaptive
from taylorjit._integrate.odesys import Outcome

EPS = np.finfo(float).eps
T_END = 5.0


@pytest.fixture(scope="module")
def osc():
    x, v = tj.make_vars("x", "v")
    return x, v, [(x, v), (v, -x)]


def _same(a, b):
    """Bit-identical state, time and last Taylor table of two scalar integrators."""
    assert np.array_equal(a.state, b.state)
    assert a.dtime == b.dtime
    assert np.array_equal(a.tc, b.tc)


def _same_batch(a, b):
    assert np.array_equal(a.state, b.state)
    assert np.array_equal(a.dtime, b.dtime)
    assert np.array_equal(a.tc, b.tc)


# --------------------------------------------------------------------------- re-entrant calls
# Every kind of callback (step callback of propagate_until / _grid, terminal and
# non-terminal event callbacks, during propagate_* or step) tries every kind of nested
# step / propagation of the SAME integrator: each must raise RuntimeError, and the outer
# call must finish exactly as the same run whose callbacks do not try.

def _inner_scalar(ta, kind):
    t = ta.time
    if kind == "propagate_until":
        ta.propagate_until(t + 1.0)
    elif kind == "propagate_for":
        ta.propagate_for(1.0)
    elif kind == "propagate_grid":
        ta.propagate_grid([t, t + 0.5, t + 1.0])
    elif kind == "step":
        ta.step()
    else:
        ta.step_backward()


def _inner_batch(tb, kind):
    t = tb.time
    if kind == "propagate_until":
        tb.propagate_until(t + 1.0)
    elif kind == "propagate_for":
        tb.propagate_for(1.0)
    elif kind == "propagate_grid":
        tb.propagate_grid(np.stack([t, t + 0.5, t + 1.0]))
    elif kind == "step":
        tb.step()
    else:
        tb.step_backward()


INNER = ["propagate_until", "propagate_for", "propagate_grid", "step", "step_backward"]
OUTER = ["step_cb", "grid_cb", "terminal_cb", "nonterminal_cb", "step_terminal_cb",
         "step_nonterminal_cb"]


class Probe:
    """Tries the nested call (when ``inner`` is set) in the first ``TRIES`` callbacks and
    records the errors; returns True (continue) where a return value matters."""

    TRIES = 3

    def __init__(self, inner, batch):
        self.inner = inner
        self.batch = batch
        self.errors = []
        self.calls = 0

    def _try(self, ta):
        self.calls += 1
        if self.inner is None or self.calls > self.TRIES:
            return
        try:
            (_inner_batch if self.batch else _inner_scalar)(ta, self.inner)
        except RuntimeError as exc:
            self.errors.append(str(exc))

    def step_cb(self, ta):
        self._try(ta)
        return True

    def terminal(self, ta, d_sgn, *lane):
        self._try(ta)
        return True

    def nonterminal(self, ta, t, d_sgn, *lane):
        self._try(ta)


def _scalar_run(osc, outer, inner, compact):
    x, v, sys = osc
    p = Probe(inner, batch=False)
    events = []
    if outer in ("terminal_cb", "step_terminal_cb"):
        events = [Event(x, terminal=True, callback=p.terminal)]
    elif outer in ("nonterminal_cb", "step_nonterminal_cb"):
        events = [Event(x, callback=p.nonterminal)]
    ta = TaylorAdaptive(sys, [1.0, 0.0], events=events, compact=compact)
    if outer == "step_cb":
        res = ta.propagate_until(T_END, callback=p.step_cb)
    elif outer == "grid_cb":
        res = ta.propagate_grid(np.linspace(0.0, T_END, 6), callback=p.step_cb)
    elif outer in ("terminal_cb", "nonterminal_cb"):
        res = ta.propagate_until(T_END)
    else:
        res = [ta.step() for _ in range(40)]
    return ta, res, p


@pytest.mark.parametrize("inner", INNER)
@pytest.mark.parametrize("outer", OUTER)
def test_reentrant_call_raises_and_outer_run_completes(osc, outer, inner):
    ta, res, p = _scalar_run(osc, outer, inner, compact=True)
    ref, rres, rp = _scalar_run(osc, outer, None, compact=True)
    assert p.calls == rp.calls > 0
    assert len(p.errors) == min(p.calls, Probe.TRIES)
    assert all(f"{inner}() was called while this integrator is already propagating" in m
               and "copy.deepcopy(ta)" in m for m in p.errors)
    _same(ta, ref)
    if outer.startswith("step_") and outer != "step_cb":
        assert [tuple(r) for r in res] == [tuple(r) for r in rres]
    else:
        assert res.outcome == rres.outcome == Outcome.time_limit
        assert res.n_steps == rres.n_steps
        assert ta.time == T_END
        # the whole span was integrated: the oscillator's closed form
        assert ta.state[0] == pytest.approx(math.cos(T_END), abs=1e3 * EPS)
        assert ta.state[1] == pytest.approx(-math.sin(T_END), abs=1e3 * EPS)


@pytest.mark.parametrize("compact", [False, None])
@pytest.mark.parametrize("inner", INNER)
def test_reentrant_call_from_step_callback_unrolled(osc, compact, inner):
    """The issue's case: an unrolled kernel, whose nested plain propagate_until used to
    take the short entry and overwrite the outer final time (t = 3.6 instead of 5)."""
    ta, res, p = _scalar_run(osc, "step_cb", inner, compact=compact)
    ref, rres, _ = _scalar_run(osc, "step_cb", None, compact=True)
    assert len(p.errors) == min(p.calls, Probe.TRIES) > 0
    assert res.outcome == Outcome.time_limit and ta.time == T_END
    assert res.n_steps == rres.n_steps
    _same(ta, ref)          # unrolled and VM kernels: the same bits


def _batch_run(osc, outer, inner):
    x, v, sys = osc
    p = Probe(inner, batch=True)
    events = []
    if outer in ("terminal_cb", "step_terminal_cb"):
        events = [Event(x, terminal=True, callback=p.terminal)]
    elif outer in ("nonterminal_cb", "step_nonterminal_cb"):
        events = [Event(x, callback=p.nonterminal)]
    tb = TaylorAdaptiveBatch(sys, [[1.0, 0.5, -0.8], [0.0, 0.3, 0.1]], events=events,
                             compact=True)
    if outer == "step_cb":
        res = tb.propagate_until(T_END, callback=p.step_cb)
    elif outer == "grid_cb":
        res = tb.propagate_grid(np.linspace(0.0, T_END, 6), callback=p.step_cb)
    elif outer in ("terminal_cb", "nonterminal_cb"):
        res = tb.propagate_until(T_END)
    else:
        res = [tb.step() for _ in range(40)]
    return tb, res, p


@pytest.mark.parametrize("inner", INNER)
@pytest.mark.parametrize("outer", OUTER)
def test_reentrant_call_raises_batch(osc, outer, inner):
    tb, res, p = _batch_run(osc, outer, inner)
    ref, rres, rp = _batch_run(osc, outer, None)
    assert p.calls == rp.calls > 0
    assert len(p.errors) == min(p.calls, Probe.TRIES)
    assert all(f"{inner}() was called while this integrator is already propagating" in m
               for m in p.errors)
    _same_batch(tb, ref)
    if outer.startswith("step_") and outer != "step_cb":
        assert res == rres
    else:
        assert res.outcome == rres.outcome == [Outcome.time_limit] * 3
        assert np.array_equal(res.n_steps, rres.n_steps)
        assert tb.time.tolist() == [T_END] * 3


def test_copy_made_in_a_callback_can_propagate(osc):
    """The advice of the message works: a deep copy taken inside the callback is a free
    integrator (scalar and batch), and the integrator is free again after the outer call."""
    x, v, sys = osc
    seen = []

    def cb(ta):
        if not seen:
            c = copy.deepcopy(ta)
            t1 = ta.time
            c.propagate_for(1.0)
            seen.append((t1, c))
        return True

    ta = TaylorAdaptive(sys, [1.0, 0.0], compact=True)
    assert ta.propagate_until(T_END, callback=cb).outcome == Outcome.time_limit
    t1, c = seen.pop()
    assert c.time == t1 + 1.0
    assert c.state[0] == pytest.approx(math.cos(t1 + 1.0), abs=1e3 * EPS)
    assert ta.propagate_until(T_END + 1.0).outcome == Outcome.time_limit

    tb = TaylorAdaptiveBatch(sys, [[1.0, 0.5], [0.0, 0.0]], compact=True)
    assert tb.propagate_until(T_END, callback=cb).outcome == [Outcome.time_limit] * 2
    t1, c = seen.pop()
    assert c.time.tolist() == (t1 + 1.0).tolist()
    assert c.state[0] == pytest.approx(np.array([1.0, 0.5]) * np.cos(t1 + 1.0), abs=1e3 * EPS)
    assert tb.propagate_until(T_END + 1.0).outcome == [Outcome.time_limit] * 2


def test_exception_in_callback_frees_the_integrator(osc):
    """A callback that raises ends the outer call; the integrator is not left 'busy'."""
    x, v, sys = osc
    raised = []

    def boom(*args):
        if not raised:
            raised.append(1)
            raise KeyError("user error")
        return True

    ta = TaylorAdaptive(sys, [1.0, 0.0], compact=True)
    with pytest.raises(KeyError):
        ta.propagate_until(T_END, callback=boom)
    assert ta.propagate_until(T_END).outcome == Outcome.time_limit
    assert ta.state[0] == pytest.approx(math.cos(T_END), abs=1e3 * EPS)
    raised.clear()
    ta = TaylorAdaptive(sys, [1.0, 0.0], events=[Event(x, callback=boom)], compact=True)
    with pytest.raises(KeyError):
        for _ in range(10):
            ta.step()
    assert ta.propagate_until(T_END).outcome == Outcome.time_limit
    raised.clear()
    tb = TaylorAdaptiveBatch(sys, [[1.0, 0.5], [0.0, 0.0]], events=[Event(x, callback=boom)],
                             compact=True)
    with pytest.raises(KeyError):
        tb.propagate_until(T_END)
    assert tb.propagate_until(T_END).outcome == [Outcome.time_limit] * 2


# --------------------------------------------------------------------------- ensemble, batch=4
def _pendulum(compact):
    x, v = tj.make_vars("x", "v")
    return TaylorAdaptive([(x, v), (v, -tj.par[0] * tj.sin(x))], [0.0, 0.0], pars=[9.8],
                          compact=compact)


def _gen(ta, i):
    ta.state[:] = [0.05 * (1 + i), 0.01 * i]
    ta.pars[0] = 9.8 + 0.1 * i
    return ta


def _within(seconds, fn):
    """``fn()`` in a daemon thread: fail instead of hanging (the compiled loops release
    the GIL)."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as exc:          # noqa: BLE001 - re-raised below
            out["error"] = exc

    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(seconds)
    assert not th.is_alive(), f"no result after {seconds} s (hang)"
    if "error" in out:
        raise out["error"]
    return out["value"]


@pytest.mark.parametrize("compact", [False, None, True])
def test_ensemble_batch_groups_of_unrolled_template(compact):
    """Scalar members of an unrolled template (compact=False, or the automatic kind)
    run as batch lanes: the light-entry fields of their iw must not reach the batch
    loop (it never returned), and the members equal per-member scalar runs bit for bit,
    also when they propagate further afterwards."""
    tmpl = _pendulum(compact)
    job = E._Job(tmpl, _gen, "until", 10.0, {}, 4)
    members = [(i, E._make_member(job, i)) for i in range(4)]
    out = _within(120, lambda: E._run_group(job, members))      # the batch path itself
    refs = [_gen(copy.deepcopy(tmpl), i) for i in range(4)]
    for i, ref in enumerate(refs):
        r = ref.propagate_until(10.0)
        m = out[i]
        assert tuple(m.result)[:4] == tuple(r)[:4]
        _same(m.ta, ref)
        # the member keeps its own kernel binding and continues as the reference does
        assert tuple(m.ta.propagate_until(12.0))[:4] == tuple(ref.propagate_until(12.0))[:4]
        _same(m.ta, ref)
    # the public entry, 10 members in groups of 4 (a group of 2 included), two executors
    for executor in ("serial", "threads"):
        res = _within(120, lambda: tj.ensemble_propagate_until(tmpl, 10.0, 10, _gen, batch=4,
                                                               executor=executor))
        for i, m in enumerate(res):
            ref = _gen(copy.deepcopy(tmpl), i)
            r = ref.propagate_until(10.0)
            assert m.ok and tuple(m.result)[:4] == tuple(r)[:4]
            _same(m.ta, ref)


def test_ensemble_batch_grouping_is_used(monkeypatch):
    """batch=4 really runs lanes (a failure of the batch path used to fall back silently
    to member-by-member runs)."""
    tmpl = _pendulum(False)
    seen = []
    orig = E._run_group

    def spy(job, group, *rest):
        out = orig(job, group, *rest)
        seen.append(len(group))
        return out

    monkeypatch.setattr(E, "_run_group", spy)
    res = _within(120, lambda: tj.ensemble_propagate_for(tmpl, 3.0, 8, _gen, batch=4,
                                                         executor="serial"))
    assert sorted(seen) == [4, 4]
    assert all(m.ok and m.ta.time == 3.0 for m in res)


# --------------------------------------------------------------------------- per-lane max_delta_t
X0 = [[0.05, 0.5, -1.0, 2.5], [0.025, 0.0, 0.3, -0.1]]
MAXDT = [0.010, 0.011, 0.012, 0.013]


def _pend_sys():
    x, v = tj.make_vars("x", "v")
    return [(x, v), (v, -9.8 * tj.sin(x))]


def test_batch_step_per_lane_max_delta_t():
    sys = _pend_sys()
    tb = TaylorAdaptiveBatch(sys, X0, compact=True)
    for _ in range(3):
        steps = tb.step(MAXDT)
        assert steps == [(Outcome.time_limit, m) for m in MAXDT]   # each clamped to its own
    back = tb.step_backward(np.array(MAXDT))
    assert back == [(Outcome.time_limit, -m) for m in MAXDT]
    for lane, m in enumerate(MAXDT):
        ta = TaylorAdaptive(sys, [X0[0][lane], X0[1][lane]], compact=True)
        for _ in range(3):
            assert tuple(ta.step(m)) == (Outcome.time_limit, m)
        ta.step_backward(m)
        assert np.array_equal(tb.state[:, lane], ta.state)
        assert tuple(tb.dtime[lane]) == ta.dtime
    with pytest.raises(ValueError, match=r"shape \(3,\): pass one value for all lanes or one "
                                         r"per lane \(shape \(4,\)\)"):
        tb.step(MAXDT[:3])
    with pytest.raises(ValueError, match="must not be NaN"):
        tb.step([0.01, np.nan, 0.01, 0.01])


def test_batch_propagate_per_lane_max_delta_t():
    sys = _pend_sys()
    tb = TaylorAdaptiveBatch(sys, X0, compact=True)
    res = tb.propagate_until(2.0, max_delta_t=MAXDT)
    assert res.outcome == [Outcome.time_limit] * 4
    for lane, m in enumerate(MAXDT):
        ta = TaylorAdaptive(sys, [X0[0][lane], X0[1][lane]], compact=True)
        r = ta.propagate_until(2.0, max_delta_t=m)
        assert res.n_steps[lane] == r.n_steps == math.ceil(2.0 / m)
        assert res.min_h[lane] == r.min_h and res.max_h[lane] == r.max_h
        assert np.array_equal(tb.state[:, lane], ta.state)
        assert np.array_equal(tb.tc[:, :, lane], ta.tc)
    # propagate_for and propagate_grid take them too
    tb.propagate_for(1.0, max_delta_t=np.array(MAXDT))
    g = tb.propagate_grid(np.linspace(3.0, 4.0, 3), max_delta_t=MAXDT)
    assert g.outcome == [Outcome.time_limit] * 4
    assert g.n_steps.tolist() == [math.ceil(1.0 / m - 1e-9) for m in MAXDT]
    with pytest.raises(ValueError, match="max_delta_t must be positive"):
        tb.propagate_until(5.0, max_delta_t=[0.01, 0.0, 0.01, 0.01])
    with pytest.raises(ValueError, match="one per lane"):
        tb.propagate_until(5.0, max_delta_t=[[0.01] * 4])
    assert tb.time.tolist() == [4.0] * 4        # the refused calls changed nothing


# ----------------------------------------------------------------------- terminal outcome of step()
def test_step_reports_terminal_event_whose_callback_continues(osc):
    """As heyoka: step() returns the event outcome (with the event's index) also when the
    callback returns True; ``while oc == success`` loops stop at the event.  x = cos t:
    x = 0.5 at t = pi/3 (index 1; index 0 is x = -2, never reached)."""
    x, v, sys = osc
    calls = []
    evs = [Event(x + 2.0, terminal=True),
           Event(x - 0.5, terminal=True, callback=lambda ta, d: calls.append(d) or True)]
    ta = TaylorAdaptive(sys, [1.0, 0.0], events=evs, compact=True)
    n = 0
    res = ta.step()
    while res.outcome == Outcome.success and n < 50:
        res = ta.step()
        n += 1
    assert n < 10 and calls == [-1]
    assert res.outcome == Outcome.event and res.event_index == 1
    assert ta.time == pytest.approx(math.pi / 3, rel=8 * EPS)
    oc, h = res                                           # still unpacks as (oc, h)
    assert oc == Outcome.event and h > 0
    assert "event_index=1" in repr(res)
    # propagate_* goes on after a callback that returns True (heyoka too)
    ta = TaylorAdaptive(sys, [1.0, 0.0], events=evs, compact=True)
    calls.clear()
    r = ta.propagate_until(6.0)
    assert r.outcome == Outcome.time_limit and r.event_index is None and ta.time == 6.0
    assert calls == [-1, 1]                       # t = pi/3 and 5 pi/3 < 6
    # a callback returning False (or none) stops both
    stop = [Event(x - 0.5, terminal=True, callback=lambda ta, d: False)]
    ta = TaylorAdaptive(sys, [1.0, 0.0], events=stop, compact=True)
    r = ta.propagate_until(T_END)
    assert r.outcome == Outcome.event and r.event_index == 0
    assert ta.time == pytest.approx(math.pi / 3, rel=8 * EPS)


def test_batch_step_reports_terminal_event_whose_callback_continues(osc):
    x, v, sys = osc
    amps = [1.0, 2.0]
    ev = [Event(x - 0.5, terminal=True, callback=lambda ta, d, lane: True)]
    tb = TaylorAdaptiveBatch(sys, [amps, [0.0, 0.0]], events=ev, compact=True)
    first = [None, None]
    for _ in range(20):
        for lane, (oc, h) in enumerate(tb.step()):
            if oc == Outcome.event and first[lane] is None:
                first[lane] = tb.time[lane]
            assert oc in (Outcome.success, Outcome.event)
    for lane, a in enumerate(amps):
        assert first[lane] == pytest.approx(math.acos(0.5 / a), rel=8 * EPS)
        ta = TaylorAdaptive(sys, [a, 0.0], events=[Event(x - 0.5, terminal=True,
                                                         callback=lambda ta, d: True)],
                            compact=True)
        for _ in range(20):
            ta.step()
        assert np.array_equal(tb.state[:, lane], ta.state)


# --------------------------------------------------------------------------- argument checks
def test_max_steps_must_be_integral(osc):
    x, v, sys = osc
    ta = TaylorAdaptive(sys, [1.0, 0.0], compact=True)
    tb = TaylorAdaptiveBatch(sys, [[1.0, 0.5], [0.0, 0.0]], compact=True)
    for bad, exc, msg in [(1.5, ValueError, "max_steps must be a whole number of steps"),
                          (np.float64(2.5), ValueError, "got 2.5: pass an int"),
                          (math.inf, ValueError, "whole number"),
                          (True, TypeError, "got bool True"),
                          ("3", TypeError, "got str '3'"),
                          (-1, ValueError, "non-negative"),
                          (2**63, ValueError, "below 2\\*\\*63")]:
        for integ in (ta, tb):
            with pytest.raises(exc, match=msg):
                integ.propagate_until(T_END, max_steps=bad)
    assert ta.time == 0.0 and tb.time.tolist() == [0.0, 0.0]     # nothing ran
    for good in (3, np.int64(3), np.int32(3), np.uint8(3), 3.0, np.float64(3.0)):
        r = TaylorAdaptive(sys, [1.0, 0.0], compact=True).propagate_until(T_END,
                                                                          max_steps=good)
        assert r.outcome == Outcome.step_limit and r.n_steps == 3
        b = TaylorAdaptiveBatch(sys, [[1.0, 0.5], [0.0, 0.0]], compact=True)
        assert b.propagate_until(T_END, max_steps=good).n_steps.tolist() == [3, 3]


def test_event_direction_values():
    x = tj.var("x")
    for bad in ("up", "increasing", 1, None):
        with pytest.raises(ValueError, match="invalid event direction .*use 'any', 'positive' "
                                             r"\(g increasing\) or 'negative'"):
            Event(x, direction=bad)


# --------------------------------------------------------------------------- numpy scalar arguments
NP_FLOATS = [np.float64, np.float32, np.longdouble]


def _scalar_case(sys, time, tol, t, max_dt, max_steps, step_dt):
    ta = TaylorAdaptive(sys, [1.0, 0.0], time=time, tol=tol, compact=True)
    s = tuple(ta.step(step_dt))
    r = tuple(ta.propagate_until(t, max_delta_t=max_dt, max_steps=max_steps))[:4]
    f = tuple(ta.propagate_for(t, max_delta_t=max_dt))[:4]
    return ta, (s, r, f)


@pytest.mark.parametrize("ftype", NP_FLOATS)
@pytest.mark.parametrize("itype", [np.int64, np.int32, np.uint16])
def test_numpy_scalar_arguments_equal_python_numbers(osc, ftype, itype):
    """time, tol, t, max_delta_t, step's max_delta_t (numpy floats of exactly
    representable values) and max_steps (numpy integers) give the bits of Python numbers."""
    x, v, sys = osc
    py = dict(time=0.5, tol=2.0**-30, t=4.25, max_dt=0.375, max_steps=7, step_dt=0.125)
    npv = {k: (itype(val) if k == "max_steps" else ftype(val)) for k, val in py.items()}
    a, ra = _scalar_case(sys, **py)
    b, rb = _scalar_case(sys, **npv)
    assert ra == rb and a.order == b.order
    _same(a, b)
    assert type(b.time) is float and type(rb[1][3]) is int
    # the batch integrator
    tbs = []
    for kw in (py, npv):
        tb = TaylorAdaptiveBatch(sys, [[1.0, 0.5], [0.0, 0.0]], time=kw["time"], tol=kw["tol"],
                                 compact=True)
        s = tb.step(kw["step_dt"])
        r = tb.propagate_until(kw["t"], max_delta_t=kw["max_dt"], max_steps=kw["max_steps"])
        tbs.append((tb, s, r.outcome, r.n_steps.tolist()))
    (ta_, *ra), (tb_, *rb) = tbs
    assert ra == rb
    _same_batch(ta_, tb_)


@settings(max_examples=25, deadline=None)
@given(t=st.floats(0.01, 20.0), max_dt=st.floats(0.01, 2.0), steps=st.integers(1, 200))
def test_numpy_float64_and_int64_fuzz(t, max_dt, steps):
    """Any values: numpy float64 / int64 arguments and Python numbers give the same bits."""
    x, v = tj.make_vars("x", "v")
    sys = [(x, v), (v, -x)]
    a = TaylorAdaptive(sys, [1.0, 0.0], time=0.1, compact=True)
    b = TaylorAdaptive(sys, [1.0, 0.0], time=np.float64(0.1), compact=True)
    ra = a.propagate_until(t, max_delta_t=max_dt, max_steps=steps)
    rb = b.propagate_until(np.float64(t), max_delta_t=np.float64(max_dt),
                           max_steps=np.int64(steps))
    assert tuple(ra)[:4] == tuple(rb)[:4]
    _same(a, b)
