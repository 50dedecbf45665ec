"""The Taylor VM and the generated numba source of the looped kernels.

The compact kind's *Taylor VM* is one numba function (:func:`vm_source`,
compiled once per installation, then loaded from numba's cache:
:func:`vm_jet`) that runs any program table ``prog``/``cvals`` (built by
:func:`taylorjit._codegen.kernel.build_prog`; one row per operation in the
format of :func:`group_rows`, which the unrolled kernels also embed for the
operations they leave to the VM).  The ``"spec"`` and ``"python"`` kinds run
the source of :func:`spec_source`: the registry kernels called at literal
slot numbers for one decomposition.  :func:`_load` executes such source, with
numba (through the disk cache, :mod:`.cache`) or as plain Python.

Sits above :mod:`.jetabi` (the handles) and below the unrolled jets
(:mod:`.unroll`, whose kernels call the VM for what they do not cover), the
group kernels (:mod:`.gvm`) and the kernel selection (:mod:`.kernel`, which
re-exports these names).
"""
from __future__ import annotations

from . import cache as _cache
from .. import _numba_compat as _nc
from .decompose import Decomposition
from .jetabi import JET_SIG, jetref_class, KERNEL_LOCK
from .._symbolic.registry import OPS, no_refcount_opts, registry_hash

__all__ = ["group_rows", "spec_source", "vm_source", "vm_jet", "vm_loaded", "numba_cached"]

# bump when the VM's compiled form changes without its source text changing
# (e.g. how kernels are bound), so numba's cache of the old form is not reused
_VM_LAYOUT = 5
_MEMO: dict = {}        # ("vm", registry hash) -> the VM's jet handle


def vm_loaded() -> bool:
    """Whether the VM is loaded in this process (a fresh process loads it from numba's
    cache in ~0.3-1.4 s; a first use after installation compiles it, tens of seconds)."""
    return ("vm", registry_hash()) in _MEMO


def group_rows(ops):
    """VM rows of ``ops`` in the given order: a header ``[opcode, count, 0...]``
    before each run of equal opcodes, then one row ``[opcode, out0..out3,
    in0..in2]`` per operation; and the matching ``cvals``."""
    rows = []
    cvals = []
    last = None
    opcodes = {name: op.opcode for name, op in OPS.items()}
    pad = [(0,) * n for n in range(5)]
    for name, outs, ins, c in ops:
        opc = opcodes[name]
        if opc != last:
            last = opc
            header = [opc, 0, 0, 0, 0, 0, 0, 0]
            rows.append(header)
            cvals.append(0.0)
        header[1] += 1
        rows.append((opc,) + tuple(outs) + pad[4 - len(outs)] + tuple(ins) + pad[3 - len(ins)])
        cvals.append(0.0 if c is None else c)
    return rows, cvals


# --------------------------------------------------------------------------- source generation
def _lit(c: float) -> str:
    if c != c:
        return "math.nan"
    if c in (float("inf"), float("-inf")):
        return "math.inf" if c > 0 else "-math.inf"
    return repr(float(c))


_PRELUDE = "import math\n\n"


def spec_source(d: Decomposition, ode: bool) -> str:
    lines = [_PRELUDE.rstrip("\n"), f"# kernel for {len(d.ops)} operations, {d.n_slots} slots",
             "# the names _jit and K_<op> are injected by taylorjit._codegen.kernel before execution", "",
             "", "@_jit", "def jet(tc, order, pars, t, full, prog, cvals):",
             "    for k in range(order + 1):"]
    if ode:
        lines.append("        if k > 0:")
        for i, r in enumerate(d.outputs[:d.n_in]):
            lines.append(f"            tc[{i}, k] = tc[{r}, k - 1] / k")
    lines.append("        if k == order and full == 0:")
    lines.append("            break")
    for name, outs, ins, c in d.ops:
        op = OPS[name]
        lines.append(f"        K_{name}({op.call_args(outs, ins, _lit(c) if c is not None else '')})")
    if not d.ops:
        lines.append("        pass")
    lines.append("")
    return "\n".join(lines) + "\n"


def vm_source() -> str:
    lines = [_PRELUDE.rstrip("\n"),
             "# the Taylor VM: runs any program table (see taylorjit._codegen.kernel.build_prog)",
             "", "", "@_jit", "def jet(tc, order, pars, t, full, prog, cvals):",
             "    n = prog.shape[0]", "    n_upd = 0",
             "    while n_upd < n and prog[n_upd, 0] < 0:", "        n_upd += 1",
             "    for k in range(order + 1):", "        if k > 0:",
             "            for r in range(n_upd):",
             "                tc[prog[r, 1], k] = tc[prog[r, 5], k - 1] / k",
             "        if k == order and full == 0:", "            break",
             "        h = n_upd",
             "        while h < n:", "            op = prog[h, 0]", "            r0 = h + 1",
             "            r1 = r0 + prog[h, 1]", "            h = r1"]
    first = True
    for op in OPS.values():
        outs = [f"prog[r, {1 + i}]" for i in range(op.n_out)]
        ins = [f"prog[r, {5 + i}]" for i in range(op.n_in)]
        kw = "if" if first else "elif"
        first = False
        lines.append(f"            {kw} op == {op.opcode}:")
        lines.append("                for r in range(r0, r1):")
        lines.append(f"                    K_{op.name}({op.call_args(outs, ins, 'cvals[r]')})")
    lines.append("")
    return "\n".join(lines) + "\n"


def _namespace(python: bool, inline: bool = True):
    import math

    ns = {"math": math}
    if python:
        ns["_jit"] = lambda f: f
        for op in OPS.values():
            ns[f"K_{op.name}"] = op.py
    else:
        from numba import njit

        ns["_jit"] = njit(JET_SIG(), cache=True, nogil=True, error_model="numpy",
                          **no_refcount_opts())
        for op in OPS.values():
            ns[f"K_{op.name}"] = op.jit if inline else op.jit_call
    return ns


def _load(name: str, source: str, python: bool, inline: bool = True):
    if python:
        ns = _namespace(True)
        code = compile(source, f"<taylorjit {name}>", "exec")
        import linecache

        linecache.cache[f"<taylorjit {name}>"] = (len(source), None, source.splitlines(True),
                                                    f"<taylorjit {name}>")
        exec(code, ns)
        return ns["jet"]
    path = _cache.write_source(name, source)
    mod = _cache.load_module(path, f"taylorjit_cache_{name}", _namespace(False, inline))
    return mod.jet


def _vm_name():
    return f"vm{_VM_LAYOUT}_{registry_hash()}"


def vm_jet():
    """The compact VM's jet (compiled once per installation, then loaded from the cache)."""
    with KERNEL_LOCK:
        k = ("vm", registry_hash())
        jet = _MEMO.get(k)
        if jet is None:
            jet = jetref_class()(_load(_vm_name(), vm_source(), python=False, inline=False))
            _MEMO[k] = jet
        return jet


def numba_cached(src_dir, stem: str) -> bool:
    """Whether numba's cache holds compiled code of the module ``src_dir/stem.py``
    (in ``__pycache__`` beside it, or under ``$NUMBA_CACHE_DIR``)."""
    return _nc.has_numba_cache(src_dir, stem)

