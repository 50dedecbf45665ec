"""Order-major group kernels of the compact VM (taylorjit._codegen.gvm): on big ODE
systems the compact kernel runs one traced straight-line function per
(operation, order) over each group, in an order-major, renumbered copy of the
table.  Every coefficient the caller reads must equal the VM's bit for bit."""
import copy
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import taylorjit as tj
from taylorjit._codegen import gvm as _gvm, kernel as _kernel
from taylorjit._codegen.decompose import decompose
from taylorjit._symbolic.expr import var
from taylorjit._integrate.integrator import TaylorAdaptive
from taylorjit._codegen.kernel import get_kernel
from taylorjit._symbolic.registry import FUNCTIONS

from _taylor_ref import PARS, TIME, random_expressions
from test_kernels import _bitwise, run_ode

X, Y = var("x"), var("y")


@pytest.fixture
def groups(monkeypatch):
    """Group kernels for every compact ODE kernel (normally only for systems of
    ``_gvm.GROUP_MIN_OPS`` operations or more)."""
    monkeypatch.setattr(_gvm, "GROUP_MIN_OPS", 0)
    _kernel._MEMO.clear()
    yield
    _kernel._MEMO.clear()


def _om_run(k, x0, order, full, fill=0.0):
    jet, prog, cvals = k.plan_for(order)
    assert jet is _gvm.om_jet() and prog[0, 0] == -3
    tc = k.new_tc(order)
    assert tc.shape == (2 * k.n_slots, order + 1)
    tc[k.n_slots:] = fill           # the scratch half
    tc[: len(x0), 0] = x0
    jet(tc, order, np.asarray(PARS, float), float(TIME), full, prog, cvals)
    return tc


def _rows(k):
    d = k.decomposition
    return sorted(set(d.outputs) | set(range(d.n_in)))


def _system(draw):
    e1, p1 = draw(random_expressions(max_ops=6, with_pars=True, with_time=True))
    e2, _ = draw(random_expressions(max_ops=6, with_pars=True, with_time=True, point=p1))
    return [e1, e2], [p1["x"], p1["y"]]


@settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data(), full=st.sampled_from([0, 1]))
def test_order_major_equals_vm_on_random_systems(data, full, groups):
    """Random systems (parameters, time, every kind of operation the generator
    draws) plus products, squares, sqrt, a real power (not traceable at order 0:
    the VM runs it on plane 0), atan and log; the scratch half pre-filled with
    NaN (nothing is read before it is written)."""
    rhs, x0 = _system(data.draw)
    rhs[0] = rhs[0] + X * Y + tj.sqrt(2.0 + Y * Y) + (1.5 + X * X) ** -1.5
    rhs[1] = rhs[1] + tj.atan(X) + tj.log(3.0 + X) + tj.square(Y)
    d = decompose(rhs, [X, Y])
    order = 20
    k = get_kernel(d, ode=True, kind="compact")
    ref = run_ode(k, x0, order, full=full)
    r = _rows(k)
    for fill in (0.0, np.nan):
        got = _om_run(k, x0, order, full, fill)
        assert _bitwise(got[r], ref[r])


def test_every_function_order_major(groups):
    """One system with every registered function (arguments mapped into their
    domains): coefficients to order 12 equal the VM's."""
    terms = []
    for i, name in enumerate(sorted(FUNCTIONS)):
        f = FUNCTIONS[name]
        lo, hi = f.domain[0]
        mid = 0.5 * (lo + hi)
        args = [mid + 0.01 * X, mid + 0.1 + 0.01 * Y, mid + 0.2 + 0.01 * (X - Y)][:f.nargs]
        terms.append((1.0 + 0.001 * i) * f(*args))
    rhs = [sum(terms[::2], 0.1 * Y), sum(terms[1::2], -0.2 * X)]
    d = decompose(rhs, [X, Y])
    k = get_kernel(d, ode=True, kind="compact")
    assert len({op[0] for op in d.ops}) > 20
    for full in (0, 1):
        ref = run_ode(k, [0.0, 0.0], 12, full=full)
        got = _om_run(k, [0.0, 0.0], 12, full)
        assert _bitwise(got[_rows(k)], ref[_rows(k)])


def test_other_tables_run_the_vm(groups):
    """A table without the scratch rows (or for another order) is run by the VM
    on the slot-major program: same values."""
    d = decompose([tj.sin(X) * Y, X - Y * Y], [X, Y])
    k = get_kernel(d, ode=True, kind="compact")
    jet, prog, cvals = k.plan_for(10)
    assert jet is _gvm.om_jet()
    for order in (10, 12):
        tc = np.zeros((k.n_slots, order + 1))
        tc[:2, 0] = [0.3, -0.2]
        jet(tc, order, np.asarray(PARS, float), float(TIME), 1, prog, cvals)
        assert _bitwise(tc, run_ode(k, [0.3, -0.2], order))


def _nbody(n):
    rng = np.random.default_rng(7)
    v = tj.make_vars(*[f"{c}{i}" for i in range(n) for c in ("x", "y", "z", "vx", "vy", "vz")])
    acc = [[0.0] * 3 for _ in range(n)]
    m = 10 ** rng.uniform(-6, -3, n)
    m[0] = 1.0
    for i in range(n):
        for j in range(i + 1, n):
            dd = [v[6 * j + c] - v[6 * i + c] for c in range(3)]
            r3 = (dd[0] * dd[0] + dd[1] * dd[1] + dd[2] * dd[2]) ** -1.5
            for c in range(3):
                acc[i][c] = acc[i][c] + m[j] * dd[c] * r3
                acc[j][c] = acc[j][c] - m[i] * dd[c] * r3
    sys_, x0 = [], []
    for i in range(n):
        sys_ += [(v[6 * i + c], v[6 * i + 3 + c]) for c in range(3)]
        sys_ += [(v[6 * i + 3 + c], acc[i][c]) for c in range(3)]
        a = 1.0 + 0.7 * i
        vc = 1.0 / np.sqrt(a) if i else 0.0
        x0 += [a, 0.01 * i, 0.0, 0.0, vc, 0.001 * i] if i else [0.0] * 6
    return sys_, x0


def test_integrator_order_major_trajectory_and_pickle(groups):
    """An N-body integrator in compact mode runs the group kernels and gives the
    unrolled kernel's trajectory (same steps, same bits); it survives pickling
    and copying (addresses rebuilt in the new object) and continues identically."""
    sys_, x0 = _nbody(4)
    ta = TaylorAdaptive(sys_, x0, compact=True)
    jet = ta._kernel.plan_for(ta.order)[0]
    assert jet is _gvm.om_jet() and ta._jaddr == jet._addr
    assert ta._tc.shape[0] == 2 * ta._kernel.n_slots
    tb = TaylorAdaptive(sys_, x0, compact=False)
    ra, rb = ta.propagate_until(30.0), tb.propagate_until(30.0)
    assert ra.n_steps == rb.n_steps > 10
    assert np.array_equal(ta.state, tb.state) and np.array_equal(ta.tc, tb.tc)
    blob = pickle.dumps(ta)
    assert len(blob) < ta._tc.nbytes       # the scratch half is not pickled
    tp = pickle.loads(blob)
    assert tp._tc.shape == ta._tc.shape and tp._jaddr == ta._jaddr
    tcp = copy.copy(ta)
    for other in (tp, tcp):
        other.propagate_until(40.0)
    ta.propagate_until(40.0)
    assert np.array_equal(tp.state, ta.state) and np.array_equal(tcp.state, ta.state)
    # dense output and a grid (the states' coefficients are in their rows)
    g = np.linspace(ta.time, ta.time + 5.0, 7)
    tb.propagate_until(40.0)
    assert np.array_equal(ta.propagate_grid(g).states, tb.propagate_grid(g).states)


def test_small_systems_keep_the_vm():
    d = decompose([tj.sin(X) * Y, X - Y * Y], [X, Y])
    k = get_kernel(d, ode=True, kind="compact")
    assert len(d.ops) < _gvm.GROUP_MIN_OPS
    assert k.plan_for(20)[0] is k.jet and k.new_tc(20).shape == (k.n_slots, 21)
