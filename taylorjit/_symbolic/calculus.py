"""Symbolic calculus on the expression DAG: substitution and differentiation.

``tangent`` is the one forward-mode sweep (tangents of many roots along one
direction, with seeds for any leaves and a memo that can persist across calls);
``diff`` is a tangent with the seed 1 on one variable, parameter or time, and
the variational equations (``taylorjit._integrate.variational``) use it with several seeds.
Iterative, linear in the DAG size, results share sub-expressions.
"""
from __future__ import annotations

from .expr import (_call, _short, add, div, expr, mul, nary_prod, nary_sum, neg, num, power, sub,
    topo_order, var)

__all__ = ["subs", "diff", "tangent"]


def _rebuild_node(node, new_args):
    """Same operation as ``node`` applied to ``new_args`` (with folding)."""
    op = node.op
    if op == "add":
        return nary_sum(new_args) if len(new_args) > 2 else add(*new_args)
    if op == "mul":
        return nary_prod(new_args) if len(new_args) > 2 else mul(*new_args)
    if op == "sub":
        return sub(*new_args)
    if op == "div":
        return div(*new_args)
    if op == "neg":
        return neg(*new_args)
    if op == "pow":
        return power(*new_args)
    if op == "select":
        from .guards import _select_node

        return _select_node(*new_args, node.value)
    return _call(op, *new_args)


def subs(e, mapping):
    """Replace variables, parameters, time or any sub-expression.

    Parameters
    ----------
    e : Expr or list of Expr
    mapping : dict
        ``{old: new}``; keys are expressions (``x``, ``tj.par[0]``, ``tj.time``,
        or any sub-expression) or variable names; values are expressions or numbers.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x, y = tj.make_vars("x", "y")
    >>> tj.subs(tj.sin(x) + y, {x: 2 * y})
    sin(2*y) + y
    """
    many = isinstance(e, (list, tuple))
    roots = [expr(x) for x in (e if many else [e])]
    repl = {}
    for k, v in mapping.items():
        key = var(k) if isinstance(k, str) else expr(k)
        repl[id(key)] = expr(v)
    new = {}
    for node in topo_order(roots):
        r = repl.get(id(node))
        if r is not None:
            new[id(node)] = r
        elif not node.args:
            new[id(node)] = node
        else:
            args = tuple(new[id(a)] for a in node.args)
            if all(a is b for a, b in zip(args, node.args)):
                new[id(node)] = node
            else:
                new[id(node)] = _rebuild_node(node, args)
    out = [new[id(r)] for r in roots]
    return out if many else out[0]


def diff(e, v):
    """Symbolic derivative of ``e`` with respect to a variable, a parameter or time.

    Forward accumulation over the DAG: the result shares sub-expressions with
    ``e`` and its size is linear in the size of ``e``.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x = tj.var("x")
    >>> tj.diff(tj.sin(x) * x, x)
    cos(x)*x + sin(x)
    """
    many = isinstance(e, (list, tuple))
    roots = [expr(x) for x in (e if many else [e])]
    v = var(v) if isinstance(v, str) else expr(v)
    if v.op not in ("var", "par", "time"):
        raise TypeError(f"can only differentiate with respect to a variable, a parameter or "
                        f"tj.time, not {_short(v)}")
    out = tangent(roots, {id(v): num(1.0)}, {})
    return out if many else out[0]


def tangent(roots, seeds, memo):
    """Tangents (directional derivatives) of ``roots`` along one direction.

    ``seeds`` maps ``id(leaf)`` to the leaf's tangent (absent: 0); ``memo``
    maps ``id(node)`` to ``(node, tangent)`` and persists across calls, so
    shared nodes are differentiated once.  Iterative: deep DAGs are fine.
    """
    from .registry import FUNCTIONS

    zero = num(0.0)
    for root in roots:
        if id(root) in memo:
            continue
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            key = id(node)
            if key in memo:
                continue
            if not done:
                stack.append((node, True))
                for a in node.args:
                    if id(a) not in memo:
                        stack.append((a, False))
                continue
            if not node.args:
                memo[key] = (node, seeds.get(key, zero))
                continue
            a = node.args
            da = [memo[id(x)][1] for x in a]
            if all(d is zero for d in da):
                memo[key] = (node, zero)
                continue
            op = node.op
            if op == "add":
                r = add(da[0], da[1]) if len(da) == 2 else nary_sum(da)
            elif op == "sub":
                r = sub(da[0], da[1])
            elif op == "neg":
                r = neg(da[0])
            elif op == "mul" and len(a) == 2:   # the common case, without list building
                if da[1] is zero:
                    r = mul(da[0], a[1])
                elif da[0] is zero:
                    r = mul(a[0], da[1])
                else:
                    r = add(mul(da[0], a[1]), mul(a[0], da[1]))
            elif op == "mul":
                terms = []
                for i, di in enumerate(da):
                    if di is zero:
                        continue
                    others = [a[q] for q in range(len(a)) if q != i]
                    terms.append(nary_prod([di] + others))
                r = nary_sum(terms)
            elif op == "div":
                # d(a/b) = (da - (a/b) db) / b: reuses the node, no b**2
                num_ = da[0] if da[1] is zero else sub(da[0], mul(node, da[1]))
                r = div(num_, a[1])
            elif op == "pow":
                base, ex = a
                r = zero
                if da[0] is not zero:
                    if ex.op == "num":
                        r = mul(mul(ex, power(base, ex.value - 1.0)), da[0])
                    else:
                        r = mul(mul(ex, power(base, sub(ex, 1.0))), da[0])
                if da[1] is not zero:
                    r = nary_sum([r, mul(mul(node, _call("log", base)), da[1])])
            elif op == "select":   # piecewise: the derivative of the active branch
                from .guards import _select_node

                r = _select_node(a[0], da[1], da[2], node.value)
            else:
                partials = FUNCTIONS[op].derivative(*a)
                r = nary_sum([mul(p, di) for p, di in zip(partials, da) if di is not zero])
            memo[key] = (node, r)
    return [memo[id(r)][1] for r in roots]
