"""Traversal of the expression DAG: topological order and the leaves an expression uses.

:func:`topo_order` is the iterative walk (children before parents) that
printing, calculus, pickling and the decomposition build on; the helpers list
the variables and parameters an expression uses and whether it uses time.
:mod:`.expr` re-exports every name defined here.
"""
from __future__ import annotations

from .construct import expr


# ------------------------------------------------------------------ traversal
def topo_order(roots) -> list:
    """All nodes reachable from ``roots``, children before parents (iterative DFS,
    post-order, arguments left to right)."""
    seen = set()
    mark = seen.add
    order = []
    emit = order.append
    for root in roots:
        if id(root) in seen:
            continue
        mark(id(root))
        if not root.args:
            emit(root)
            continue
        stack = [(root, iter(root.args))]
        push, pop = stack.append, stack.pop
        while stack:
            node, it = stack[-1]
            for a in it:
                if id(a) not in seen:
                    mark(id(a))
                    if a.args:
                        push((a, iter(a.args)))
                        break
                    emit(a)
            else:
                pop()
                emit(node)
    return order


def get_variables(e) -> list:
    """Variables in ``e`` (an Expr or a list of them), sorted by name."""
    roots = [expr(x) for x in (e if isinstance(e, (list, tuple)) else [e])]
    return sorted({n for n in topo_order(roots) if n.op == "var"}, key=lambda n: n.value)


def get_params(e) -> list:
    """Indices of the runtime parameters used in ``e``, sorted."""
    roots = [expr(x) for x in (e if isinstance(e, (list, tuple)) else [e])]
    return sorted({n.value for n in topo_order(roots) if n.op == "par"})


def uses_time(e) -> bool:
    roots = [expr(x) for x in (e if isinstance(e, (list, tuple)) else [e])]
    return any(n.op == "time" for n in topo_order(roots))
