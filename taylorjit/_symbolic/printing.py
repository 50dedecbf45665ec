"""Printing of expressions: readable infix text and LaTeX (Jupyter).

Both walk the DAG iteratively (children before parents) with a precedence
table; a DAG whose tree form would be huge is summarised instead of printed.
"""
from __future__ import annotations

from .expr import topo_order

__all__ = ["to_string", "to_latex"]


_PREC = {"add": 1, "sub": 1, "neg": 2, "mul": 3, "div": 3, "pow": 5}


def _fmt_num(v):
    if v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


def _tree_size(roots, cap):
    size = {}
    for n in topo_order(roots):
        size[id(n)] = min(cap, 1 + sum(size[id(a)] for a in n.args))
    return max(size[id(r)] for r in roots)


def to_string(e) -> str:
    """Readable infix form (iterative; a huge shared DAG is summarised)."""
    if _tree_size([e], 200_001) > 200_000:
        return f"<Expr: DAG of {len(topo_order([e]))} nodes, too large to print>"
    s = {}
    for n in topo_order([e]):
        s[id(n)] = _fmt(n, s, lambda x: _fmt_num(x), "*", lambda name: name)
    return s[id(e)][0]


def _fmt(n, s, numfmt, times, funcname, latex=False):
    """Return (text, precedence) of node n, children already formatted in s."""
    op = n.op
    if op == "num":
        t = numfmt(n.value)
        return t, (2 if n.value < 0 else 9)
    if op == "var":
        return (n.value if not latex else _latex_name(n.value)), 9
    if op == "par":
        return (f"par[{n.value}]" if not latex else rf"\mathrm{{par}}_{{{n.value}}}"), 9
    if op == "time":
        return "t", 9
    p = _PREC.get(op, 9)

    def wrap(child, minp, strict=False):
        txt, cp = s[id(child)]
        if cp < minp or (strict and cp == minp):
            return (r"\left(" + txt + r"\right)") if latex else "(" + txt + ")"
        return txt

    a = n.args
    if op == "add":
        return " + ".join(wrap(x, 1) for x in a), p
    if op == "sub":
        return f"{wrap(a[0], 1)} - {wrap(a[1], 1, strict=True)}", p
    if op == "neg":
        return "-" + wrap(a[0], 3), p
    if op == "mul":
        return times.join(wrap(x, 3) for x in a), p
    if op == "div":
        if latex:
            return rf"\frac{{{s[id(a[0])][0]}}}{{{s[id(a[1])][0]}}}", 9
        return f"{wrap(a[0], 3)}/{wrap(a[1], 3, strict=True)}", p
    if op == "pow":
        if latex:
            return f"{{{wrap(a[0], 6)}}}^{{{s[id(a[1])][0]}}}", p
        return f"{wrap(a[0], 6)}**{wrap(a[1], 6)}", p
    if op == "select":
        from .guards import cond_text

        inner = ", ".join([cond_text(a[0], n.value, lambda e: s[id(e)][0] if id(e) in s
                                     else to_string(e))] + [s[id(x)][0] for x in a[1:]])
        return f"select({inner})", 9
    inner = ", ".join(s[id(x)][0] for x in a)
    if latex:
        return rf"{funcname(op)}\left({inner}\right)", 9
    return f"{op}({inner})", 9


_LATEX_FUNCS = {"sin": r"\sin", "cos": r"\cos", "tan": r"\tan", "sinh": r"\sinh", "cosh": r"\cosh",
                "tanh": r"\tanh", "exp": r"\exp", "log": r"\log", "asin": r"\arcsin",
                "acos": r"\arccos", "atan": r"\arctan"}


def _latex_name(name):
    if "_" in name:
        head, tail = name.split("_", 1)
        return f"{head}_{{{tail}}}"
    if len(name) > 1 and name[0].isalpha() and name[1:].isdigit():
        return f"{name[0]}_{{{name[1:]}}}"
    return name


def to_latex(e) -> str:
    """LaTeX form, used by Jupyter (``_repr_latex_``)."""
    if _tree_size([e], 20_001) > 20_000:
        return r"\text{" + to_string(e) + "}"
    s = {}

    def numfmt(v):
        t = _fmt_num(v)
        if "e" in t:
            m, ex = t.split("e")
            return rf"{m} \cdot 10^{{{int(ex)}}}"
        return t

    def fname(op):
        return _LATEX_FUNCS.get(op, r"\operatorname{" + op + "}")

    for n in topo_order([e]):
        s[id(n)] = _fmt(n, s, numfmt, r" \cdot ", fname, latex=True)
    return s[id(e)][0]
