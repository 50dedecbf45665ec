"""Multi-indices: the layout of a variational state.

A variational system (:mod:`.variational`) holds one variable per component
``i`` and multi-index ``alpha`` over the ``m`` wrt quantities, order by order;
within an order the multi-indices run in descending lexicographic order (as
heyoka).  These helpers list, combine and name them; :mod:`.variational`,
:mod:`.var_eval` and :mod:`.taylor_map` build on them.
"""
from __future__ import annotations

import math

__all__ = ["multi_indices"]


def multi_indices(m: int, k: int) -> list:
    """All multi-indices of total degree ``k`` over ``m`` quantities, in the
    layout order (descending lexicographic, as heyoka): ``multi_indices(2, 2)``
    is ``[(2, 0), (1, 1), (0, 2)]``."""
    if m == 0:
        return [()] if k == 0 else []
    out = []
    for a0 in range(k, -1, -1):
        for rest in multi_indices(m - 1, k - a0):
            out.append((a0,) + rest)
    return out


def _add_unit(alpha, j):
    return alpha[:j] + (alpha[j] + 1,) + alpha[j + 1:]


def _first_nonzero(alpha):
    return next(j for j, a in enumerate(alpha) if a)


def _alpha_factorial(alpha):
    return math.prod(math.factorial(a) for a in alpha)


def _index_name(alpha):
    """'0_0_2' for alpha = (2, 0, 1): the wrt indices with repetition."""
    return "_".join(str(j) for j, a in enumerate(alpha) for _ in range(a))
