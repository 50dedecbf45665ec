"""Tensors of symbolic partial derivatives: :func:`diff_tensors` and :class:`DTens`.

The counterpart of heyoka.py's ``diff_tensors`` / ``dtens``: every partial
derivative of a vector function up to a total order, stored under heyoka's
multi-indices and in heyoka's order.

Layout
------
A derivative is named by a multi-index ``[i, a_0, ..., a_{n-1}]``: ``i`` is the
function component, ``a_j`` the order of differentiation with respect to the
``j``-th argument.  Entries are sorted by total order (ascending), then by
component (ascending), then in reverse lexicographic order of ``(a_0, ...,
a_{n-1})`` (``[2, 0]`` before ``[1, 1]`` before ``[0, 2]``), as in heyoka.

Computation
-----------
An order ``k + 1`` derivative is the derivative, with respect to one argument,
of an order ``k`` entry (the first argument with a nonzero order is the one
peeled off), through the forward sweep of :func:`taylorjit.diff`.  One memo per
argument persists across orders and components, so a node of the DAG is
differentiated at most once per argument and all results share
sub-expressions (hash-consing).
"""
from __future__ import annotations

import numbers

import numpy as np

from .calculus import tangent
from .expr import Expr, _short, expr, get_params, get_variables, num, par, var

__all__ = ["diff_tensors", "DTens"]

_MODES = ("vars", "params", "all")


def _alphas(k, n):
    """All tuples of ``n`` non-negative integers summing to ``k``, reverse lexicographic."""
    if n == 1:
        yield (k,)
        return
    for first in range(k, -1, -1):
        for rest in _alphas(k - first, n - 1):
            yield (first,) + rest


def _check_int(value, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    return int(value)


def _normalise_func(func):
    if isinstance(func, (list, tuple)):
        items = list(func)
    elif isinstance(func, np.ndarray):
        items = list(func.ravel())
    else:
        items = [func]   # a single expression: one component (heyoka requires a list)
    if not items:
        raise ValueError("diff_tensors needs at least one function component: pass a non-empty "
                         "list of expressions, e.g. diff_tensors([f], diff_args=[x])")
    return [expr(f) for f in items]


def _normalise_args(diff_args, funcs):
    if isinstance(diff_args, str):
        mode = diff_args
        if mode not in _MODES:
            raise ValueError(f"diff_args={mode!r}: a string must be one of 'vars', 'params', 'all' "
                             "(heyoka's diff_args.vars/params/all); pass a list such as [x, y] "
                             "to choose the arguments")
        args = []
        if mode in ("vars", "all"):
            args += get_variables(funcs)
        if mode in ("params", "all"):
            args += [par[i] for i in get_params(funcs)]
        if not args:
            raise ValueError(f"diff_args={mode!r}: the functions contain no "
                             f"{'variables' if mode == 'vars' else 'parameters' if mode == 'params' else 'variables or parameters'}"
                             "; pass the arguments explicitly, e.g. diff_args=[x, tj.par[0]]")
        return args
    if isinstance(diff_args, (Expr, numbers.Number)):
        raise TypeError("diff_args must be a list of variables and/or parameters, e.g. "
                        f"diff_args=[x] rather than diff_args=x (got {diff_args!r:.60})")
    args = []
    for a in list(diff_args):
        if isinstance(a, str):
            a = var(a)
        elif not isinstance(a, Expr):
            raise ValueError(f"diff_args: {a!r:.60} is not a variable or a parameter; derivatives "
                             "are taken with respect to variables (tj.make_vars) and/or "
                             "parameters (tj.par[i])")
        if a.op == "time":
            raise ValueError("diff_args: tj.time is not allowed (as in heyoka, derivative tensors "
                             "are taken with respect to variables and parameters); for a time "
                             "derivative use tj.diff(f, tj.time)")
        if a.op not in ("var", "par"):
            raise ValueError(f"diff_args: {_short(a)} is not a variable or a parameter; derivatives "
                             "are taken with respect to variables (tj.make_vars) and/or "
                             "parameters (tj.par[i]) only")
        args.append(a)
    if not args:
        raise ValueError("diff_args is empty: pass the variables and/or parameters to "
                         "differentiate with respect to, e.g. diff_args=[x, y]")
    seen = set()
    for a in args:
        if id(a) in seen:
            raise ValueError(f"diff_args contains {_short(a)} more than once ({list(args)!r:.80}): "
                             "list each variable or parameter once")
        seen.add(id(a))
    return args


def diff_tensors(func, diff_args, diff_order=1):
    """All partial derivatives of a vector function up to a total order (heyoka's ``diff_tensors``).

    Parameters
    ----------
    func : list of Expr
        The function components (a single expression is taken as one component).
    diff_args : list of variables and/or parameters, or "vars", "params", "all"
        The arguments to differentiate with respect to (``tj.par[i]`` allowed,
        ``tj.time`` not, no duplicates).  The strings stand for heyoka's
        ``diff_args.vars/params/all``: the variables of ``func`` sorted by name,
        its parameters by index, or both (variables first).
    diff_order : int, default 1
        The highest total differentiation order (0 keeps only the functions).

    Returns
    -------
    DTens
        The derivatives, looked up by multi-index ``[i, a_0, ..., a_{n-1}]``
        (component ``i``, order ``a_j`` in argument ``j``); see :class:`DTens`.

    Raises
    ------
    ValueError
        No components, no arguments, an argument that is not a variable or a
        parameter, a duplicate argument, a negative order.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x, y = tj.make_vars("x", "y")
    >>> dt = tj.diff_tensors([x**2 * y, tj.sin(x) + y], diff_args=[x, y], diff_order=2)
    >>> len(dt), dt.order, dt.nouts, dt.nargs
    (12, 2, 2, 2)
    >>> dt[0, 1, 1]
    2*x
    >>> dt.get_derivatives(1, component=1)
    [([1, 1, 0], cos(x)), ([1, 0, 1], 1)]
    >>> dt.jacobian
    array([[2*x*y, x**2],
           [cos(x), 1]], dtype=object)
    """
    funcs = _normalise_func(func)
    args = _normalise_args(diff_args, funcs)
    order = _check_int(diff_order, "diff_order")
    if order < 0:
        raise ValueError(f"diff_order={order} is negative: the order must be 0 (the functions "
                         "only), 1 (gradient/Jacobian), 2 (Hessians), ...")
    return DTens._build(funcs, args, order)


class DTens:
    """Tensors of partial derivatives returned by :func:`diff_tensors` (heyoka's ``dtens``).

    An ordered, read-only mapping from multi-indices to derivatives.  A
    multi-index is ``[i, a_0, ..., a_{n-1}]`` (dense: component ``i`` and the
    order in each argument) or ``(i, [(j, a_j), ...])`` (sparse: only the
    nonzero orders, ``j`` increasing).  Entries are sorted by total order, then
    component, then reverse lexicographic order of ``(a_0, ..., a_{n-1})``.

    * ``dt[idx]``: the derivative (``KeyError`` if absent); ``dt[k]`` with an
      integer ``k``: the ``k``-th ``(multi-index, derivative)`` pair;
    * ``idx in dt``, ``len(dt)``, ``dt.index_of(idx)`` (``len(dt)`` if absent);
    * iteration yields the multi-indices (as lists) in order, like heyoka's;
      ``dt.items()`` yields ``(multi-index, derivative)`` pairs;
    * ``dt.get_derivatives(order, component=None)``: the pairs of one order;
    * ``dt.gradient``, ``dt.jacobian``, ``dt.hessian(i)`` (also as
      ``get_gradient()``, ``get_jacobian()``, ``get_hessian(i)``);
    * ``dt.order``, ``dt.nouts``, ``dt.nargs``, ``dt.args``.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x, y = tj.make_vars("x", "y")
    >>> dt = tj.diff_tensors([x * y**2], diff_args=[x, y], diff_order=2)
    >>> list(dt)
    [[0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 2, 0], [0, 1, 1], [0, 0, 2]]
    >>> dt[0, [(1, 2)]]            # sparse index: d^2/dy^2
    x*2
    >>> dt.gradient
    [y**2, x*2*y]
    >>> dt.hessian(0)
    array([[0, 2*y],
           [2*y, x*2]], dtype=object)
    """

    __slots__ = ("_keys", "_values", "_pos", "_order", "_nouts", "_args", "_starts")

    def __init__(self):
        raise TypeError("DTens objects are built by tj.diff_tensors(func, diff_args, diff_order)")

    # ------------------------------------------------------------------ construction
    @classmethod
    def _build(cls, funcs, args, order):
        n = len(args)
        keys, values = [], []
        starts = []          # starts[k]: position of the first entry of order k
        prev = {}            # (i, alpha) -> expression, order k - 1
        for i, f in enumerate(funcs):
            prev[(i, (0,) * n)] = f
        starts.append(0)
        for i, f in enumerate(funcs):
            keys.append((i,) + (0,) * n)
            values.append(f)
        memos = [{} for _ in range(n)]          # one forward-sweep memo per argument
        seeds = [{id(a): num(1.0)} for a in args]
        for k in range(1, order + 1):
            alphas = list(_alphas(k, n))
            # group the work by argument: one sweep per argument and order
            todo = [[] for _ in range(n)]
            for i in range(len(funcs)):
                for alpha in alphas:
                    j = next(q for q, a in enumerate(alpha) if a)
                    parent = alpha[:j] + (alpha[j] - 1,) + alpha[j + 1:]
                    todo[j].append(((i, alpha), prev[(i, parent)]))
            cur = {}
            for j in range(n):
                if todo[j]:
                    out = tangent([e for _, e in todo[j]], seeds[j], memos[j])
                    for (key, _), d in zip(todo[j], out):
                        cur[key] = d
            starts.append(len(keys))
            for i in range(len(funcs)):
                for alpha in alphas:
                    keys.append((i,) + alpha)
                    values.append(cur[(i, alpha)])
            prev = cur
        starts.append(len(keys))
        self = object.__new__(cls)
        self._keys = keys
        self._values = values
        self._pos = {key: p for p, key in enumerate(keys)}
        self._order = order
        self._nouts = len(funcs)
        self._args = list(args)
        self._starts = starts
        return self

    # ------------------------------------------------------------------ properties
    @property
    def order(self) -> int:
        """The highest differentiation order."""
        return self._order

    @property
    def nouts(self) -> int:
        """The number of function components."""
        return self._nouts

    @property
    def nargs(self) -> int:
        """The number of differentiation arguments."""
        return len(self._args)

    @property
    def args(self) -> list:
        """The differentiation arguments (variables and/or parameters), in order."""
        return list(self._args)

    # ------------------------------------------------------------------ lookup
    def _key(self, idx):
        """The dense key tuple of a dense or sparse multi-index, or None if malformed/absent."""
        n = len(self._args)
        if isinstance(idx, np.ndarray):
            idx = idx.tolist()
        if not isinstance(idx, (list, tuple)):
            return None
        if (len(idx) == 2 and not isinstance(idx[1], bool)
                and isinstance(idx[1], (list, tuple))):          # sparse (i, [(j, a_j), ...])
            i, pairs = idx
            if isinstance(i, bool) or not isinstance(i, numbers.Integral):
                return None
            alpha = [0] * n
            last = -1
            for pr in pairs:
                if not isinstance(pr, (list, tuple)) or len(pr) != 2:
                    return None
                j, a = pr
                if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in (j, a)):
                    return None
                if j <= last or j >= n or a <= 0:
                    return None
                alpha[j] = int(a)
                last = j
            key = (int(i),) + tuple(alpha)
        else:
            if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in idx):
                return None
            key = tuple(int(v) for v in idx)
        return key if key in self._pos else None

    def index_of(self, vidx) -> int:
        """Position of a (dense or sparse) multi-index; ``len(self)`` if it is not stored."""
        key = self._key(vidx)
        return len(self._keys) if key is None else self._pos[key]

    def __contains__(self, vidx) -> bool:
        return self._key(vidx) is not None

    def __getitem__(self, idx):
        if isinstance(idx, numbers.Integral) and not isinstance(idx, bool):
            p = int(idx)
            size = len(self._keys)
            if p < 0:
                p += size
            if not 0 <= p < size:
                raise IndexError(f"derivative number {idx} requested, but there are {size}")
            return list(self._keys[p]), self._values[p]
        key = self._key(idx)
        if key is None:
            raise KeyError(f"no derivative with multi-index {idx!r}: a dense index is "
                           f"[component, a_0, ..., a_{self.nargs - 1}] with components "
                           f"0..{self._nouts - 1} and total order at most {self._order}; a sparse "
                           "one is (component, [(arg_index, order), ...]) with increasing "
                           "arg_index and nonzero orders")
        return self._values[self._pos[key]]

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self):
        return (list(k) for k in self._keys)

    def items(self):
        """``(multi-index, derivative)`` pairs, in order."""
        return [(list(k), v) for k, v in zip(self._keys, self._values)]

    # ------------------------------------------------------------------ slices
    def get_derivatives(self, diff_order, component=None) -> list:
        """The ``(multi-index, derivative)`` pairs of total order ``diff_order``.

        All components (sorted by component), or only ``component``.  As in
        heyoka, an order or component that is not stored gives an empty list.
        """
        k = _check_int(diff_order, "diff_order")
        if not 0 <= k <= self._order:
            return []
        lo, hi = self._starts[k], self._starts[k + 1]
        if component is not None:
            c = _check_int(component, "component")
            if not 0 <= c < self._nouts:
                return []
            per = (hi - lo) // self._nouts
            lo, hi = lo + c * per, lo + (c + 1) * per
        return [(list(self._keys[p]), self._values[p]) for p in range(lo, hi)]

    def _need_order(self, k, what):
        if self._order < k:
            raise ValueError(f"{what} needs derivatives of order {k}, but this DTens has order "
                             f"{self._order}: call diff_tensors(..., diff_order={k}) or higher")

    def _check_component(self, component, what):
        c = _check_int(component, "component")
        if not 0 <= c < self._nouts:
            raise ValueError(f"{what} of component {c} requested, but the function has "
                             f"{self._nouts} component(s) (0..{self._nouts - 1})")
        return c

    @property
    def gradient(self) -> list:
        """The gradient (first derivatives in argument order) of a one-component function."""
        if self._nouts != 1:
            raise ValueError(f"the gradient is defined for a function with one component, this one "
                             f"has {self._nouts}: use .jacobian (or .get_derivatives(1, i))")
        self._need_order(1, "the gradient")
        return [e for _, e in self.get_derivatives(1, 0)]

    @property
    def jacobian(self) -> np.ndarray:
        """The Jacobian, a numpy object array of shape ``(nouts, nargs)``."""
        self._need_order(1, "the Jacobian")
        n = len(self._args)
        out = np.empty((self._nouts, n), dtype=object)
        lo = self._starts[1]
        for p in range(lo, self._starts[2]):
            out[(p - lo) // n, (p - lo) % n] = self._values[p]
        return out

    def hessian(self, component) -> np.ndarray:
        """The Hessian of one component, a symmetric numpy object array ``(nargs, nargs)``."""
        c = self._check_component(component, "the Hessian")
        self._need_order(2, "the Hessian")
        n = len(self._args)
        out = np.empty((n, n), dtype=object)
        for key, e in self.get_derivatives(2, c):
            js = [j for j in range(n) for _ in range(key[1 + j])]
            out[js[0], js[1]] = out[js[1], js[0]] = e
        return out

    def get_gradient(self) -> list:
        """Same as :attr:`gradient`."""
        return self.gradient

    def get_jacobian(self) -> np.ndarray:
        """Same as :attr:`jacobian`."""
        return self.jacobian

    def get_hessian(self, component) -> np.ndarray:
        """Same as :meth:`hessian`."""
        return self.hessian(component)

    def __repr__(self):
        return (f"Highest diff order: {self._order}\n"
                f"Number of outputs : {self._nouts}\n"
                f"Diff arguments    : [{', '.join(str(a) for a in self._args)}]")
