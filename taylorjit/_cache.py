"""The on-disk cache of generated kernel sources and numba's compiled code.

Layout: ``<root>/<version-key>/<name>.py`` (+ numba's ``__pycache__`` beside
it).  ``root`` is ``$TAYLORJIT_CACHE_DIR`` or ``~/.cache/taylorjit``; the
version key combines taylorjit's version, the registry hash, numba's and
Python's versions, so an upgrade never loads stale machine code.

Each source file starts with a checksum line of its body: a truncated or
corrupted file is detected and rewritten.  Files are written to a temporary
name and moved into place with ``os.replace`` (atomic), so two processes
building the same kernel at the same time both end with a valid file.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

__all__ = ["cache_root", "cache_dir", "clear_cache", "write_source", "load_module", "write_blob",
           "read_blob"]

_HEADER = "# taylorjit-checksum: "


def cache_root() -> Path:
    env = os.environ.get("TAYLORJIT_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "taylorjit"


def _version_key() -> str:
    import numba

    from . import __version__
    from ._registry import registry_hash

    return (f"tj{__version__}-reg{registry_hash()}-nb{numba.__version__}"
            f"-py{sys.version_info[0]}{sys.version_info[1]}")


_DIR_CACHE: dict = {}


def cache_dir() -> Path:
    """The directory holding this installation's kernels (created if needed)."""
    root = cache_root()
    d = _DIR_CACHE.get(root)
    if d is None:
        d = root / _version_key()
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(f"cannot create the taylorjit cache directory {d}: {exc}. Set "
                          "TAYLORJIT_CACHE_DIR to a writable directory") from exc
        _DIR_CACHE[root] = d
    return d


def clear_cache() -> None:
    """Remove every cached kernel (all versions) from the cache directory.

    Kernels already loaded in this process keep working; new ones are rebuilt.

    Examples
    --------
    >>> import taylorjit as tj
    >>> tj.clear_cache()
    """
    root = cache_root()
    _DIR_CACHE.clear()
    if root.exists():
        shutil.rmtree(root, ignore_errors=True)


def _checksum(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def _verified(path: Path, body: str) -> bool:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return False
    first, _, rest = text.partition("\n")
    return first == _HEADER + _checksum(body) and rest == body


def write_source(name: str, body: str) -> Path:
    """Ensure ``<cache_dir>/<name>.py`` holds ``body`` (verified); return its path.

    A missing, truncated or corrupted file is (re)written atomically; its stale
    numba cache entries are removed with it.
    """
    d = cache_dir()
    path = d / f"{name}.py"
    if _verified(path, body):
        return path
    if path.exists():  # corrupted: drop numba's cache of the old text too
        for f in (d / "__pycache__").glob(f"{name}.*"):
            try:
                f.unlink()
            except OSError:
                pass
    fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(_HEADER + _checksum(body) + "\n" + body)
    os.replace(tmp, path)
    return path


def write_blob(name: str, data: bytes) -> Path:
    """Store ``data`` (machine code) as ``<cache_dir>/<name>`` with a checksum
    header, atomically (see :func:`read_blob`)."""
    d = cache_dir()
    path = d / name
    fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(hashlib.sha256(data).hexdigest().encode() + b"\n" + data)
    os.replace(tmp, path)
    return path


def read_blob(name: str):
    """The bytes stored by :func:`write_blob`, or None if missing or corrupted."""
    try:
        raw = (cache_dir() / name).read_bytes()
    except OSError:
        return None
    head, sep, data = raw.partition(b"\n")
    if not sep or head != hashlib.sha256(data).hexdigest().encode():
        return None
    return data


def load_module(path: Path, modname: str, namespace: dict):
    """Import the file at ``path`` as module ``modname`` after injecting ``namespace``.

    If numba's cache for it is unreadable (corrupted), the cache entries are
    removed and the import is retried once.
    """
    for attempt in range(2):
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        mod.__dict__.update(namespace)
        sys.modules[modname] = mod
        try:
            spec.loader.exec_module(mod)
            return mod
        except Exception:
            sys.modules.pop(modname, None)
            if attempt:
                raise
            for f in (path.parent / "__pycache__").glob(f"{path.stem}.*"):
                try:
                    f.unlink()
                except OSError:
                    pass
    raise RuntimeError("unreachable")  # pragma: no cover
