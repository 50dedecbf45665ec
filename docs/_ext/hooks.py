"""MkDocs hooks of taylorjit's documentation (see mkdocs.yml).

* The notebooks stay in ``notebooks/`` (where the test suite executes them); they are
  added to the site as ``notebooks/<name>.ipynb`` pages, executed by mkdocs-jupyter.
  With ``TAYLORJIT_EXECUTED_NOTEBOOKS=<dir>`` (and ``TAYLORJIT_DOCS_EXECUTE=false``) the
  pages are the copies the test suite executed into ``<dir>`` in the same run (CI), and
  a notebook without its executed copy fails the build.
* Every public name, ``taylorjit.__all__`` and the ``__all__`` of the public modules,
  must be documented on an API page (``::: taylorjit.NAME``, or its module for the
  modules' members): a missing one is a warning, so ``mkdocs build --strict`` fails.
* No page may point outside the repository (a relative path that climbs above its root).
"""
from __future__ import annotations

import ast
import logging
import os
import re
import shutil
import sys
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.taylorjit")

# nbconvert finds its page templates under <prefix>/share/jupyter; in a virtual environment
# made with --system-site-packages that is the base interpreter's prefix, not sys.prefix
_BASE_SHARE = os.path.join(sys.base_prefix, "share", "jupyter")
if os.path.isdir(_BASE_SHARE) and _BASE_SHARE not in os.environ.get("JUPYTER_PATH", "").split(os.pathsep):
    os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (os.environ.get("JUPYTER_PATH"), _BASE_SHARE) if p)
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
DIRECTIVE = re.compile(r"^:::\s+([\w.]+)", re.M)


@event_priority(100)           # before mkdocs-jupyter wraps the notebook files
def on_files(files, config):
    executed = os.environ.get("TAYLORJIT_EXECUTED_NOTEBOOKS")
    for nb in sorted(NOTEBOOKS.glob("*.ipynb")):
        src = ROOT
        if executed:
            copy = Path(executed) / nb.name
            if not copy.exists():
                log.warning(f"notebooks/{nb.name}: no executed copy in {executed} "
                            "(did the notebook tests run, and pass, with TAYLORJIT_EXECUTED_NOTEBOOKS?)")
                continue
            os.makedirs(Path(executed) / "notebooks", exist_ok=True)
            shutil.copy(copy, Path(executed) / "notebooks" / nb.name)
            src = Path(executed)
        files.append(File(f"notebooks/{nb.name}", src_dir=str(src), dest_dir=config.site_dir,
                          use_directory_urls=config.use_directory_urls))
    return files


def _static_all(path):
    """``__all__`` of a module, read without importing it (None if not a literal)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            try:
                return list(ast.literal_eval(node.value))
            except ValueError:
                return None
    return None


def _public_names():
    names = _static_all(ROOT / "taylorjit" / "__init__.py")
    if names is None:
        import taylorjit
        names = list(taylorjit.__all__)
    return [n for n in names if n not in ("models", "plotting", "extend")]


def on_env(env, config, files):
    documented = set()
    for f in files:
        if f.src_uri.startswith("api/") and f.src_uri.endswith(".md"):
            documented.update(DIRECTIVE.findall(Path(f.abs_src_path).read_text(encoding="utf-8")))
    for mod in ("taylorjit.models", "taylorjit.extend", "taylorjit.jax", "taylorjit.torch",
                "taylorjit.plotting"):
        if mod not in documented:
            log.warning(f"API reference: the public module {mod} is not documented")
    missing = [n for n in _public_names() if f"taylorjit.{n}" not in documented]
    if missing:
        log.warning("API reference: public names missing from docs/api/*.md (add "
                    "'::: taylorjit.NAME'): " + ", ".join(missing))
    return env


UPWARD = re.compile(r"(?:\.\./)+[\w.-]*")


def on_page_markdown(markdown, page, config, files):
    here = (ROOT / "docs" / page.file.src_uri).parent
    for ref in UPWARD.findall(markdown):
        target = (here / ref).resolve()
        if not target.is_relative_to(ROOT):
            log.warning(f"{page.file.src_uri}: refers to {ref}, outside the repository")
    return markdown
