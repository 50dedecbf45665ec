"""The outer solar system (Sun, Jupiter, Saturn, Uranus, Neptune, Pluto).

The right-hand side is built here from the masses and G of the reference file
(Newtonian, all pairs), so the test does not rely on any model helper.  The
reference states are quad-precision references in tests/data.
Runs on the compact VM (no compilation; ~0.4 ms per step on a loaded core):
the 1e6-day energy test takes ~2 s.
"""
import json
import math
from pathlib import Path

import numpy as np
import pytest

import taylorjit as tj
from taylorjit._integrate.integrator import TaylorAdaptive
from taylorjit._integrate.odesys import Outcome

_REF_FILE = Path(__file__).resolve().parent / "data" / "references.json"


def nbody_sys(masses, G):
    """x_i'' = sum_j G m_j (x_j - x_i) / |x_j - x_i|^3, state per body x, y, z, vx, vy, vz."""
    n = len(masses)
    names = [f"{c}{i}" for i in range(n) for c in ("x", "y", "z", "vx", "vy", "vz")]
    v = tj.make_vars(*names)
    pos = [v[6 * i:6 * i + 3] for i in range(n)]
    vel = [v[6 * i + 3:6 * i + 6] for i in range(n)]
    acc = [[0.0] * 3 for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            d = [pos[j][k] - pos[i][k] for k in range(3)]
            r_3 = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) ** -1.5
            for k in range(3):
                acc[i][k] = acc[i][k] + (G * masses[j]) * d[k] * r_3
                acc[j][k] = acc[j][k] - (G * masses[i]) * d[k] * r_3
    sys = []
    for i in range(n):
        sys += [(pos[i][k], vel[i][k]) for k in range(3)]
        sys += [(vel[i][k], acc[i][k]) for k in range(3)]
    return sys


def energy(state, masses, G):
    """Total energy, summed with math.fsum (terms in double, sum exact)."""
    n = len(masses)
    s = state.reshape(n, 6)
    terms = [0.5 * masses[i] * float(s[i, 3:] @ s[i, 3:]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            terms.append(-G * masses[i] * masses[j] / math.sqrt(float(((s[i, :3] - s[j, :3]) ** 2)
                                                                      .sum())))
    return math.fsum(terms)


@pytest.fixture(scope="module")
def oss():
    ref = json.loads(_REF_FILE.read_text())["outer_solar_system"]
    return ref, nbody_sys(ref["masses"], ref["G"])


def _ref(ref, t):
    return np.array([float(s) for r in ref["ref"] if r["t"] == t for s in r["state"]])


def test_outer_solar_system_reference(oss):
    ref, sys = oss
    ta = TaylorAdaptive(sys, ref["x0"], compact=True)
    for t in (1e4, 1e5):
        res = ta.propagate_until(t)
        assert res.outcome is Outcome.time_limit
        r = _ref(ref, t)
        assert np.linalg.norm(ta.state - r) / np.linalg.norm(r) <= 1e-13
        # each body's position, relative to its distance
        for b in range(6):
            p = slice(6 * b, 6 * b + 3)
            assert np.linalg.norm(ta.state[p] - r[p]) <= 1e-12 * max(np.linalg.norm(r[p]), 1e-2)
    # heyoka takes 343 steps from 0 to 1e5 days with the same step-size rule
    assert TaylorAdaptive(sys, ref["x0"], compact=True).propagate_until(1e5).n_steps == 343


def test_outer_solar_system_energy_drift(oss):
    ref, sys = oss
    m, G = ref["masses"], ref["G"]
    ta = TaylorAdaptive(sys, ref["x0"], compact=True)
    e0 = energy(ta.state, m, G)
    res = ta.propagate_grid(np.linspace(0.0, 1e6, 11))
    drift = max(abs(energy(s, m, G) - e0) / abs(e0) for s in res.states)
    assert drift <= 1e-14
