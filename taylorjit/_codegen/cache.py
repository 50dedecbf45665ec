"""The on-disk cache of generated kernel sources and numba's compiled code.

Layout: ``<root>/<version-key>/<name>.py`` (+ numba's ``__pycache__`` beside
it).  ``root`` is ``$TAYLORJIT_CACHE_DIR`` or ``~/.cache/taylorjit``; the
version key combines taylorjit's version, the registry hash, numba's and
Python's versions, so an upgrade never loads stale machine code.

Each source file starts with a checksum line of its body: a truncated or
corrupted file is detected and rewritten.  Binary files (object code, tables)
start with a checksum line of their name and bytes, so a damaged file, or a
valid file of another entry copied over it, reads as missing and is rebuilt.
Files are written to a temporary name and moved into place with
``os.replace`` (atomic), so two processes building the same kernel at the same
time both end with a valid file.

A cache directory that cannot be written (read-only, not a directory, disk
full) is replaced, for the files this process writes, by a temporary directory
of the process, with one :class:`CacheWarning`: cached kernels still load,
new ones are compiled there and forgotten at exit.
"""
from __future__ import annotations

import atexit
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
import threading
import warnings
from pathlib import Path

__all__ = ["cache_root", "cache_dir", "clear_cache", "write_source", "load_module", "write_blob",
           "read_blob", "CacheWarning"]

_HEADER = "# taylorjit-checksum: "


def cache_root() -> Path:
    env = os.environ.get("TAYLORJIT_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "taylorjit"


def _version_key() -> str:
    import numba

    from .._version import __version__
    from .._symbolic.registry import registry_hash

    return (f"tj{__version__}-reg{registry_hash()}-nb{numba.__version__}"
            f"-py{sys.version_info[0]}{sys.version_info[1]}")


class CacheWarning(RuntimeWarning):
    """The cache directory cannot be written: kernels compiled from now on are
    kept in a temporary directory of this process only (results are the same;
    later processes compile them again)."""


_DIR_CACHE: dict = {}       # cache root -> this installation's directory
_FALLBACK: dict = {}        # unwritable directory -> this process's directory used instead
_lock = threading.Lock()


def cache_dir() -> Path:
    """The directory holding this installation's kernels (created if needed; a
    temporary directory of the process if it cannot be, see :class:`CacheWarning`)."""
    root = cache_root()
    d = _DIR_CACHE.get(root)
    if d is None:
        d = root / _version_key()
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            d = _fallback(d, exc)
        _DIR_CACHE[root] = d
    return d


def _fallback(d: Path, exc: OSError) -> Path:
    """The temporary directory of this process that stands in for the unwritable
    cache directory ``d`` (made, and warned about, once per process)."""
    with _lock:
        t = _FALLBACK.get(d)
        if t is None:
            try:
                t = Path(tempfile.mkdtemp(prefix="taylorjit-cache-"))
            except OSError as exc2:
                raise OSError(f"cannot write to the taylorjit cache directory {d} ({exc}) nor "
                              f"create a temporary directory ({exc2}): set TAYLORJIT_CACHE_DIR "
                              "to a writable directory") from exc
            atexit.register(shutil.rmtree, t, True)
            _FALLBACK[d] = t
            warnings.warn(f"cannot write to the taylorjit cache directory {d} "
                          f"({exc.strerror or exc}): kernels compiled from now on are kept in "
                          f"{t} for this process only (same results; later processes compile "
                          "them again). Set TAYLORJIT_CACHE_DIR to a writable directory to keep "
                          "them", CacheWarning, stacklevel=_outside_stacklevel())
        return t


def _outside_stacklevel() -> int:
    """The ``stacklevel`` of the first caller outside taylorjit (for warnings)."""
    pkg = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep   # taylorjit/
    f, level = sys._getframe(1), 1
    while f is not None and f.f_code.co_filename.startswith(pkg):
        f, level = f.f_back, level + 1
    return level


def _write(name: str, data: bytes) -> Path:
    """Store ``data`` as ``name`` in the cache directory (or in its stand-in, if it
    cannot be written), atomically; return the path."""
    d = cache_dir()
    target = _FALLBACK.get(d)
    if target is None:
        try:
            return _write_in(d, name, data)
        except FileNotFoundError as exc:
            # the directory was removed under us (clear_cache in another process): again
            try:
                d.mkdir(parents=True, exist_ok=True)
                return _write_in(d, name, data)
            except OSError:
                target = _fallback(d, exc)
        except OSError as exc:
            target = _fallback(d, exc)
    return _write_in(target, name, data)


def _write_in(d: Path, name: str, data: bytes) -> Path:
    fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            os.replace(tmp, d / name)
        except IsADirectoryError:       # a directory where the entry belongs: a damaged cache
            shutil.rmtree(d / name, ignore_errors=True)
            os.replace(tmp, d / name)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return d / name


def _places(name: str):
    """Where ``name`` may be: the cache directory, then its stand-in if any."""
    d = cache_dir()
    t = _FALLBACK.get(d)
    return (d / name,) if t is None else (d / name, t / name)


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
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    first, _, rest = text.partition("\n")
    return first == _HEADER + _checksum(body) and rest == body


def write_source(name: str, body: str) -> Path:
    """Ensure ``<cache_dir>/<name>.py`` holds ``body`` (verified); return its path.

    A missing, truncated or corrupted file is (re)written atomically; its stale
    numba cache entries are removed with it.
    """
    fname = f"{name}.py"
    for path in _places(fname):
        if _verified(path, body):
            return path
    path = cache_dir() / fname
    if path.exists():  # corrupted: drop numba's cache of the old text too
        for f in (path.parent / "__pycache__").glob(f"{name}.*"):
            try:
                f.unlink()
            except OSError:
                pass
    return _write(fname, (_HEADER + _checksum(body) + "\n" + body).encode())


def _blob_sum(name: str, data: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + data).hexdigest().encode()


def write_blob(name: str, data: bytes) -> Path:
    """Store ``data`` (machine code, a table) as ``<cache_dir>/<name>`` after a
    checksum line of its name and bytes, atomically (see :func:`read_blob`)."""
    return _write(name, _blob_sum(name, data) + b"\n" + data)


def read_blob(name: str):
    """The bytes stored by :func:`write_blob` under ``name``, or None if missing,
    damaged or written for another name."""
    for path in _places(name):
        try:
            raw = path.read_bytes()
        except OSError:
            continue
        head, sep, data = raw.partition(b"\n")
        if sep and head == _blob_sum(name, data):
            return data
    return None


def load_module(path: Path, modname: str, namespace: dict):
    """Import the file at ``path`` as module ``modname`` after injecting ``namespace``.

    If numba's cache for it is unreadable (corrupted) or holds another module's
    code (a copied file: numba's cache entries do not say which module they
    belong to), the cache entries are removed and the import is retried once.
    """
    for attempt in range(2):
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        mod.__dict__.update(namespace)
        sys.modules[modname] = mod
        try:
            spec.loader.exec_module(mod)
            _check_compiled(mod, modname)
            return mod
        except Exception:
            sys.modules.pop(modname, None)
            if attempt:
                raise
            for f in list(_numba_files(path)):
                try:
                    f.unlink()
                except OSError:
                    pass
    raise RuntimeError("unreachable")  # pragma: no cover


def _check_compiled(mod, modname: str) -> None:
    """Raise ImportError if a numba function defined in ``mod`` was compiled for
    another module (its code came from another module's cache entry)."""
    from .._numba_compat import compiled_module_names

    for v in list(vars(mod).values()):
        if getattr(getattr(v, "py_func", None), "__module__", None) != modname:
            continue
        for other in compiled_module_names(v):
            if other != modname:
                raise ImportError(f"numba's cache entry of {modname} holds the code of {other}")


def _numba_files(path: Path):
    """numba's cache files of the module at ``path`` (beside it, or under
    ``$NUMBA_CACHE_DIR``)."""
    from .._numba_compat import numba_cache_files

    return numba_cache_files(path)
