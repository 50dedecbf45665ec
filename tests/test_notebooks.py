"""Every notebook in ``notebooks/`` executes without error (nbclient), and is
committed with its outputs.

The notebooks are executed in memory (the committed files are not modified)
with the session's kernel cache; skipped when nbclient, nbformat or ipykernel
are missing (``pip install nbclient nbformat ipykernel matplotlib``).  With
``TAYLORJIT_EXECUTED_NOTEBOOKS=<dir>`` the executed copies are written there, for the
documentation build of the same run to render (CI: the notebooks execute once).
"""
import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="notebook tests need nbformat (pip install "
                               "nbclient nbformat ipykernel matplotlib)")
nbclient = pytest.importorskip("nbclient", reason="notebook tests need nbclient (pip install "
                               "nbclient nbformat ipykernel matplotlib)")
pytest.importorskip("ipykernel", reason="notebook tests need ipykernel (pip install ipykernel)")
pytest.importorskip("matplotlib", reason="the notebooks plot with matplotlib (pip install "
                    "matplotlib)")

# notebooks that need an optional framework
NEEDS = {"06_differentiable_odeint.ipynb": ("jax", "optax")}
NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
TIMEOUT = 300          # per cell; each notebook takes seconds


def test_notebooks_found():
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 4, names
    for topic in ("getting_started", "events", "sensitivities", "performance"):
        assert any(topic in n for n in names), f"no notebook about {topic}: {names}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_committed_with_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code), \
        f"{path.name} has unexecuted cells: execute it and save it with its outputs"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name} was saved with an error output: {errors[0].get('evalue')}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path, tj_cache_dir, monkeypatch):
    for mod in NEEDS.get(path.name, ()):
        pytest.importorskip(mod, reason=f"{path.name} needs {mod} (pip install taylorjit[test])")
    monkeypatch.setenv("TAYLORJIT_CACHE_DIR", str(tj_cache_dir))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    root = str(path.parents[1])
    monkeypatch.setenv("PYTHONPATH", root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name} failed:\n{str(exc)[-3000:]}")
    out = os.environ.get("TAYLORJIT_EXECUTED_NOTEBOOKS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, Path(out) / path.name)
