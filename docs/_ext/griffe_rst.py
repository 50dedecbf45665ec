"""A griffe extension: taylorjit's docstrings, written for numpydoc/Sphinx, rendered by mkdocstrings.

Two pieces of reStructuredText in the docstrings have no Markdown meaning:

* Sphinx roles (``:func:`taylor_coefficients```, ``:class:`~taylorjit.TaylorAdaptive```,
  ``:mod:`...```): each becomes inline code, and a link when its target is a documented
  public object (``taylorjit.NAME``, the public modules and their ``__all__``, the public
  members of documented classes); anything else (private helpers) stays plain code, so
  no link can break.
* Simple tables (``====  ====`` borders): each becomes a Markdown table.

Names of ``taylorjit.__all__`` that the package exports lazily (through a module
``__getattr__``, so that ``import taylorjit`` stays light) are invisible to static
analysis: they are added as aliases of the objects ``getattr(taylorjit, name)`` returns.

The docstrings are not changed on disk; only their rendered text is.
"""
from __future__ import annotations

import re

import griffe

PUBLIC_MODULES = ("taylorjit", "taylorjit.models", "taylorjit.extend", "taylorjit.jax",
                  "taylorjit.torch", "taylorjit.plotting")
ROLE = re.compile(r":(func|class|meth|attr|data|obj|mod|exc|file):`(~?)([^`<]+?)`")
BORDER = re.compile(r"^(\s*)(=+(?: +=+)+)\s*$")


def _final(obj):
    seen = 0
    while obj is not None and obj.is_alias and seen < 20:
        try:
            obj = obj.final_target
        except Exception:          # unresolvable alias (an external package)
            return None
        seen += 1
    return obj


class RstToMarkdown(griffe.Extension):
    """Rewrite Sphinx roles and simple tables in every docstring of the package."""

    def on_package(self, *, pkg, loader, **kwargs):
        if pkg.name != "taylorjit":
            return
        coll = loader.modules_collection
        self._add_lazy_exports(pkg)
        public = {}                # canonical path -> public path
        documented = set()         # public paths that mkdocstrings renders
        for modpath in PUBLIC_MODULES:
            try:
                mod = coll.get_member(modpath)
            except Exception:
                continue
            documented.add(modpath)
            names = mod.exports if mod.exports is not None else []
            for name in names:
                name = str(getattr(name, "name", name))
                member = mod.members.get(name)
                target = _final(member)
                if target is None:
                    continue
                ppath = f"{modpath}.{name}"
                documented.add(ppath)
                public.setdefault(target.path, ppath)
                if target.is_class:
                    for mname, m in target.all_members.items():
                        if not mname.startswith("_"):
                            documented.add(f"{ppath}.{mname}")
                            t = _final(m)
                            if t is not None:
                                public.setdefault(t.path, f"{ppath}.{mname}")
        self._public, self._documented = public, documented
        self._walk(pkg, set())

    @staticmethod
    def _add_lazy_exports(pkg):
        import importlib
        names = [str(getattr(n, "name", n)) for n in (pkg.exports or [])]
        missing = [n for n in names if n not in pkg.members]
        if not missing:
            return
        mod = importlib.import_module("taylorjit")
        for name in missing:
            obj = getattr(mod, name, None)
            where = getattr(obj, "__module__", None)
            qual = getattr(obj, "__qualname__", None)
            if where and qual and where.startswith("taylorjit."):
                pkg.set_member(name, griffe.Alias(name, f"{where}.{qual}", parent=pkg))

    # -- the walk over every object defined in the package ------------------------------
    def _walk(self, obj, seen):
        if obj.is_alias or obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = self._convert(obj.docstring.value, obj)
        for member in list(obj.members.values()):
            self._walk(member, seen)

    # -- roles ---------------------------------------------------------------------------
    def _context(self, obj):
        """Public paths to try unqualified names against, innermost first."""
        out = []
        o = obj
        while o is not None:
            p = self._public.get(o.path)
            if p is not None:
                out.append(p)
                if "." in p:
                    out.append(p.rsplit(".", 1)[0])
            o = o.parent
        out.append("taylorjit")
        return out

    def _resolve(self, target, obj):
        target = target.strip().rstrip("()")
        if target in self._documented:
            return target
        if target in self._public:
            return self._public[target]
        for ctx in self._context(obj):
            cand = f"{ctx}.{target}"
            if cand in self._documented:
                return cand
        return None

    def _role(self, m, obj):
        kind, tilde, target = m.group(1), m.group(2), m.group(3).strip()
        shown = target.rsplit(".", 1)[-1] if tilde else target
        if kind in ("func", "meth") and not shown.endswith(")"):
            shown += "()"
        link = None if kind == "file" else self._resolve(target, obj)
        return f"[`{shown}`][{link}]" if link else f"`{shown}`"

    # -- tables --------------------------------------------------------------------------
    @staticmethod
    def _cells(line, spans):
        return [line[a:b].strip() if b else line[a:].strip() for a, b in spans]

    def _table(self, lines, i):
        m = BORDER.match(lines[i])
        indent, border = m.group(1), m.group(2)
        starts = [len(indent) + s.start() for s in re.finditer(r"=+", border)]
        spans = [(a, starts[k + 1] if k + 1 < len(starts) else None)
                 for k, a in enumerate(starts)]
        rows, borders, j = [], 1, i + 1
        header = None
        while j < len(lines):
            line = lines[j]
            if BORDER.match(line):
                borders += 1
                if borders == 2 and len(rows) == 1 and j + 1 < len(lines) \
                        and not BORDER.match(lines[j + 1]) and lines[j + 1].strip():
                    header, rows = rows[0], []
                    j += 1
                    continue
                break
            if not line.strip():
                j += 1
                continue
            cells = self._cells(line, spans)
            if rows and not cells[0]:
                rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells)]
            else:
                rows.append(cells)
            j += 1
        if j >= len(lines):            # no closing border: not a table
            return None, i + 1
        esc = lambda c: c.replace("|", "\\|")
        head = header or [""] * len(spans)
        out = ["", "| " + " | ".join(esc(c) for c in head) + " |",
               "|" + "---|" * len(spans)]
        out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
        out.append("")
        return [indent + o if o else o for o in out], j + 1

    def _convert(self, text, obj):
        if "==" in text:
            lines, out, i = text.split("\n"), [], 0
            while i < len(lines):
                if BORDER.match(lines[i]):
                    table, nxt = self._table(lines, i)
                    if table is not None:
                        out.extend(table)
                        i = nxt
                        continue
                out.append(lines[i])
                i += 1
            text = "\n".join(out)
        return ROLE.sub(lambda m: self._role(m, obj), text)
