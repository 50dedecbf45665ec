"""The package layout holds: imports point one way through the pipeline's layers,
and no module grows past 600 lines.

Layers, bottom to top (a module may import from its own subpackage and from
lower layers only; imports inside functions count too):

0. ``_version``, ``_numba_compat`` (the only user of numba's private API)
1. ``_symbolic`` (expressions, registry, calculus, guards, tracing)
2. ``_funcs`` (the elementary-function blocks, registered into the registry)
3. ``_codegen`` (decomposition, VM and kernels, LLVM code, cache, background builds)
4. ``_dd`` (double-double arithmetic, value routines, recurrences, VM), ``_mp``
   (arbitrary precision: numbers, recurrences, VM)
5. ``_frontends`` (taylor_coefficients, derivatives, cfunc, taylor_jet)
6. ``_integrate`` (ODE systems, stepper, events, integrators, solve_ivp, ensembles)
7. ``_dynamics``, ``_differentiable``, ``models``
8. the public modules: ``taylorjit`` itself, ``extend``, ``jax``, ``torch``,
   ``plotting``, ``__main__`` (these may import each other)
"""
import ast
import pathlib

import pytest

PKG = pathlib.Path(__file__).resolve().parents[1] / "taylorjit"
LAYERS = {"_version": 0, "_numba_compat": 0, "_symbolic": 1, "_funcs": 2, "_codegen": 3, "_dd": 4,
          "_mp": 4, "_frontends": 5, "_integrate": 6, "_dynamics": 7, "_differentiable": 7, "models": 7,
          "taylorjit": 8, "extend": 8, "jax": 8, "torch": 8, "plotting": 8, "__main__": 8}
MAX_LINES = 600


def _modules():
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        if "__pycache__" in p.parts:
            continue
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _unit(mod):
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "taylorjit"


def _imports(mod, path):
    """Absolute names of the taylorjit modules (or packages) ``mod`` imports."""
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
            yield node.lineno, (subs if subs else [target])
        elif isinstance(node, ast.Import):
            yield node.lineno, [a.name for a in node.names]


def test_every_subpackage_has_a_layer():
    assert {_unit(m) for m in MODULES} <= set(LAYERS), \
        "a new top-level module or subpackage: give it a layer in tests/test_layout.py"


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_imports_point_down(mod):
    here = _unit(mod)
    bad = []
    for line, targets in _imports(mod, MODULES[mod]):
        for t in targets:
            if not (t == "taylorjit" or t.startswith("taylorjit.")):
                continue
            there = _unit(t) if t != "taylorjit" else "taylorjit"
            top = LAYERS[here] == LAYERS["taylorjit"]    # the public modules may use each other
            if there != here and (LAYERS[there] > LAYERS[here] or
                                  (LAYERS[there] == LAYERS[here] and not top)):
                bad.append(f"line {line}: {t} (layer {LAYERS[there]} >= {LAYERS[here]})")
    assert not bad, f"{mod} (layer {LAYERS[here]}) imports upwards or sideways: " + "; ".join(bad)


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_module_size(mod):
    n = len(MODULES[mod].read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{MODULES[mod].relative_to(PKG.parent)} has {n} lines (at most {MAX_LINES}): split it"
