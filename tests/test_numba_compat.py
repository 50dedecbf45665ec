"""The numba boundary (taylorjit/_numba_compat.py): the version check and its message,
and that no other module of the package uses numba's private API."""
import re
import warnings
from pathlib import Path

import numba
import pytest

from taylorjit import _numba_compat as nc

PKG = Path(nc.__file__).parent

# private numba API: only _numba_compat may use it
# (attribute accesses and names of numba's internals, not the boundary's own function names)
PRIVATE = re.compile(r"numba\.core|numba\.experimental|_get_wrapper_address|\b_nrt\b|"
                     r"\.overloads\b|(?<!_nc)(?<!_numba_compat)\.entry_point\b|"
                     r"[\"']entry_point[\"']|global_compiler_lock|create_struct_proxy|"
                     r"\.make_array\(|\.fndesc\b|[\"']fndesc[\"']|cpu_target|\.nbi\b")
# modules not yet moved to the boundary (issue 20): remove an entry when its module is fixed
NOT_YET = set()


def test_only_the_boundary_uses_private_numba_api():
    offenders = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        if rel == "_numba_compat.py":
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if PRIVATE.search(code):
                offenders.setdefault(rel, []).append(f"{i}: {line.strip()}")
    assert set(offenders) <= NOT_YET, offenders


def test_installed_versions_are_supported():
    assert nc.check_versions() is None
    assert nc.NUMBA_RANGE[0] <= nc._major_minor(numba.__version__) < nc.NUMBA_RANGE[1]


@pytest.mark.parametrize("nv, lv, bad", [
    ("0.68.1", "0.50.0", None),
    ("0.68.0", "0.50.2", None),
    ("0.67.0", "0.50.0", "numba 0.67.0"),
    ("0.69.0rc1", "0.50.0", "numba 0.69.0rc1"),
    ("0.69.0dev0+12.gabc", "0.50.0", "numba 0.69.0dev0+12.gabc"),
    ("1.0.0", "0.50.0", "numba 1.0.0"),
    ("0.68.1", "0.49.1", "llvmlite 0.49.1"),
    ("0.68.1", "0.51.0", "llvmlite 0.51.0"),
    ("garbage", "0.50.0", "numba garbage"),
])
def test_version_message(nv, lv, bad):
    msg = nc.check_versions(nv, lv)
    if bad is None:
        assert msg is None
        return
    assert bad in msg
    # the message names the supported ranges and the command that fixes the installation
    assert 'pip install "numba>=0.68,<0.69" "llvmlite>=0.50,<0.51"' in msg
    assert "TAYLORJIT_ALLOW_UNTESTED_NUMBA" in msg


def test_unsupported_version_fails_at_import_unless_allowed(monkeypatch):
    monkeypatch.setattr(numba, "__version__", "0.60.0")
    monkeypatch.delenv("TAYLORJIT_ALLOW_UNTESTED_NUMBA", raising=False)
    with pytest.raises(ImportError, match=r"numba 0\.60\.0 \(supported: numba>=0\.68,<0\.69\)"):
        nc._check_at_import()
    monkeypatch.setenv("TAYLORJIT_ALLOW_UNTESTED_NUMBA", "1")
    with pytest.warns(RuntimeWarning, match="numba 0.60.0"):
        nc._check_at_import()
    monkeypatch.setenv("TAYLORJIT_ALLOW_UNTESTED_NUMBA", "0")
    with pytest.raises(ImportError):
        nc._check_at_import()
    monkeypatch.setattr(numba, "__version__", "0.68.1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nc._check_at_import()


def test_array_struct_layout_matches_numba():
    """The array struct written by hand in LLVM code is numba's (same members, order, types)."""
    from llvmlite import ir
    from numba import types
    from numba.core.registry import cpu_target

    def opaque(t):      # numba's types print typed pointers (i8*, double*): LLVM's are opaque
        return re.sub(r"\b(i8|double|i64)\*", "ptr", str(t))

    ctx = cpu_target.target_context
    for nd in (1, 2):
        ours = nc.array_struct_type(ir, nd)
        theirs = ctx.get_value_type(types.Array(types.float64, nd, "C"))
        assert str(ours) == opaque(theirs) == (
            f"{{ptr, ptr, i64, i64, ptr, [{nd} x i64], [{nd} x i64]}}")
    assert str(nc.cfunc_void_return_type(ir)) == opaque(ctx.get_value_type(types.none)) == "ptr"
