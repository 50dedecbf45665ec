"""Variational equations: sensitivities of ODE solutions, of any order.

This module owns :func:`var_ode_sys` and the :class:`VarODESys` it returns: the
original system augmented with the ODEs obeyed by the partial derivatives of
the solution with respect to chosen *wrt* quantities (initial state variables,
runtime parameters, the initial time), up to a total order ``k``.  The
augmented system is an ordinary list of ``(var, rhs)`` pairs, integrated by
the same engine as any other system.  Reading the result (dense sensitivity
tensors, Taylor maps) lives in :mod:`.taylor_map`; the multi-index layout in
:mod:`.mindex`; compiled evaluation (initial values involving ``t0``, the
event-time correction) in :mod:`.var_eval`.

Notation.  ``w = (w_0 .. w_{m-1})`` are the wrt quantities, ``alpha`` a
multi-index over them, ``D^alpha`` the partial derivative and
``alpha! = prod alpha_j!``.  The augmented state holds the *normalised*
derivatives (Taylor coefficients in the displacements of ``w``)::

    c_{i,alpha}(t) = D^alpha x_i(t) / alpha!        1 <= |alpha| <= k

so that ``x_i(t; w + dw) = sum_alpha c_{i,alpha} dw^alpha + O(|dw|^(k+1))``.
(heyoka stores un-normalised derivatives; the layout is otherwise the same.)

Construction (the recursive form of Faa di Bruno's formula).  Let ``D_j`` be
the *total* derivative along ``w_j``, under which the state and the
variational variables are functions of ``w``::

    D_j x_i = c_{i,e_j},   D_j c_{i,g} = (g_j + 1) c_{i,g+e_j},
    D_j par[q] = 1 if w_j is par[q] else 0,   D_j t = 0.

Differentiating ``dc_{i,beta}/dt = F_{i,beta}`` gives, for ``alpha = beta + e_j``
with ``j`` the first non-zero index of ``alpha``::

    F_{i,alpha} = D_j F_{i,beta} / alpha_j,          F_{i,0} = f_i.

``D_j`` is one forward (tangent) sweep over the hash-consed DAG with the seeds
above.  The sweep for direction ``j`` keeps its memo across all orders, so a
node's tangent is built once per direction, and the results share every common
sub-expression: the cost is linear in the size of the DAG being differentiated.

The initial time ``t0`` as a wrt quantity enters only through the initial
conditions: ``x(t; t0, x0, p)`` at ``t = t0`` is the backward Taylor series
``sum_k s_k(x0, p, t0) (-dt0)^k`` of the solution started at ``t0 + dt0``,
where ``s_0 = x``, ``s_{k+1} = (J s_k f + ds_k/dt) / (k + 1)`` (Lie
derivatives), hence (``a`` = t0 component of ``alpha``)::

    c_{i,alpha}(t0) = sum_{k=1..a} (-1)^k [D^(alpha - k e_t0) s_{k,i}] / (alpha - k e_t0)!

whose first-order case is the standard ``dx/dt0 (t0) = -f(x0, t0)``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._symbolic.expr import Expr, div, mul, num, var
from .._symbolic.expr import time as _time
from .._symbolic.expr import get_params, tangent
from .mindex import _add_unit, _alpha_factorial, _first_nonzero, _index_name, multi_indices
from .odesys import parse_system
from .var_eval import _t0_initial_program
from .var_eval import evaluator, event_sensitivity  # re-exported

__all__ = ["VarODESys", "var_ode_sys", "multi_indices", "event_sensitivity", "evaluator"]

_WRT_WORDS = ("vars", "params", "all")


# --------------------------------------------------------------------------- input checks
def _check_sys(sys):
    """(state variables, right-hand sides) of a plain system (see ``parse_system``)."""
    if isinstance(sys, VarODESys):
        raise TypeError("the system is already variational: call var_ode_sys on the original "
                        "list of (var, rhs) pairs with the combined wrt list and order instead")
    return parse_system(sys)


def _parse_wrt(wrt, state, rhs):
    used_pars = get_params(rhs)
    if isinstance(wrt, str):
        if wrt not in _WRT_WORDS:
            raise ValueError(f"wrt={wrt!r} is not understood: use 'vars', 'params', 'all' or a "
                             "list of state variables, tj.par[i] and tj.time")
        out = []
        if wrt in ("vars", "all"):
            out += state
        if wrt in ("params", "all"):
            from .._symbolic.expr import par

            out += [par[i] for i in used_pars]
        if wrt == "all":
            out.append(_time)
        if not out:
            raise ValueError(f"wrt={wrt!r} selects nothing: the system has no runtime parameters; "
                             "use wrt='vars' or add tj.par[i] to the right-hand sides")
        return out
    if isinstance(wrt, Expr):
        wrt = [wrt]
    try:
        items = list(wrt)
    except TypeError:
        raise TypeError(f"wrt must be 'vars', 'params', 'all' or a list, got {wrt!r:.60}") from None
    if not items:
        raise ValueError("wrt is empty: name at least one state variable, parameter or tj.time")
    ids = {id(v) for v in state}
    out = []
    for w in items:
        w = var(w) if isinstance(w, str) else w
        if not isinstance(w, Expr) or w.op not in ("var", "par", "time"):
            raise TypeError(f"wrt element {w!r:.60} must be a state variable, tj.par[i] or tj.time")
        if w.op == "var" and id(w) not in ids:
            raise ValueError(f"wrt names the variable '{w.value}', which is not a state variable "
                             f"of the system ({', '.join(v.value for v in state)}): sensitivities "
                             "are taken with respect to initial values of state variables")
        if w.op == "par" and w.value not in used_pars:
            raise ValueError(f"wrt names par[{w.value}], which does not appear in the right-hand "
                             f"sides (parameters used: {used_pars or 'none'}): its sensitivities "
                             "would be identically zero; remove it from wrt")
        if any(w is o for o in out):
            raise ValueError(f"wrt names {w} twice")
        out.append(w)
    return out


# --------------------------------------------------------------------------- the system object
class VarODESys(Sequence):
    """An ODE system augmented with its variational equations.

    A sequence of ``(var, rhs)`` pairs (the original state first, then the
    normalised derivatives ``c_{i,alpha} = D^alpha x_i / alpha!`` order by
    order, component by component, multi-indices in descending lexicographic
    order), so any integrator accepts it as a system.  Build it with
    :func:`var_ode_sys`.

    Attributes
    ----------
    n_orig : int
        Size ``n`` of the original system.
    wrt : list of Expr
        The ``m`` quantities differentiated against (state variables stand for
        their initial values; ``tj.time`` for the initial time).
    order : int
    state_vars : list of Expr
        All ``dim`` state variables of the augmented system.
    mindex : list of tuple
        ``(i, alpha)`` of every augmented variable (``alpha`` all zeros for the
        original state).
    """

    def __init__(self, pairs, n_orig, wrt, order, mindex, orig_rhs):
        self._pairs = pairs
        self.n_orig = n_orig
        self.wrt = list(wrt)
        self.order = order
        self.mindex = mindex
        self.state_vars = [p[0] for p in pairs]
        self._orig_rhs = orig_rhs
        self._pos = {ma: q for q, ma in enumerate(mindex)}
        self._ic_cache = None

    # -- sequence protocol
    def __len__(self):
        return len(self._pairs)

    def __getitem__(self, i):
        return self._pairs[i]

    @property
    def dim(self):
        """Size of the augmented system."""
        return len(self._pairs)

    @property
    def m(self):
        """Number of wrt quantities."""
        return len(self.wrt)

    @property
    def rhs(self):
        return [p[1] for p in self._pairs]

    # -- heyoka's names
    @property
    def sys(self):
        """The augmented system as a list of ``(var, rhs)`` pairs (heyoka's ``vsys.sys``)."""
        return list(self._pairs)

    @property
    def vargs(self):
        """The quantities differentiated against (heyoka's ``vsys.vargs``; ``wrt``)."""
        return list(self.wrt)

    @property
    def n_orig_sv(self):
        """Size of the original system (heyoka's ``vsys.n_orig_sv``; ``n_orig``)."""
        return self.n_orig

    def wrt_names(self):
        """Printable names of the wrt quantities (``x``, ``par[0]``, ``t0``)."""
        return [("t0" if w.op == "time" else str(w)) for w in self.wrt]

    # -- layout
    def get_mindex(self, i: int, flat: bool = False):
        """``(component, alpha)`` of augmented variable ``i`` (negative ``i`` counts from
        the end); ``flat=True``: heyoka's flat list ``[component, *alpha]``.

        Examples
        --------
        >>> import taylorjit as tj
        >>> x, v = tj.make_vars("x", "v")
        >>> vsys = tj.var_ode_sys([(x, v), (v, -x)], "vars", order=2)
        >>> vsys.get_mindex(6), vsys.get_mindex(6, flat=True)
        ((0, (2, 0)), [0, 2, 0])
        """
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"get_mindex takes the index of an augmented state variable (an "
                            f"int in 0..{self.dim - 1}), got {type(i).__name__} {i!r}")
        if not -self.dim <= i < self.dim:
            raise IndexError(f"state index {int(i)} is outside 0..{self.dim - 1} (the "
                             f"augmented system has {self.dim} variables)")
        c, alpha = self.mindex[i]
        return [c, *alpha] if flat else (c, alpha)

    @property
    def factorials(self):
        """``alpha!`` of every augmented variable, shape ``(dim,)`` (read-only): the
        state holds ``c_{i,alpha} = D^alpha x_i / alpha!``, so ``state * factorials``
        are the true derivatives ``D^alpha x_i``, heyoka's storage (see
        :meth:`to_derivatives`)."""
        f = self.__dict__.get("_factorials")
        if f is None:
            f = np.array([float(_alpha_factorial(a)) for _, a in self.mindex])
            f.flags.writeable = False
            self._factorials = f
        return f

    def to_derivatives(self, state):
        """The augmented ``state`` (``(dim,)`` or ``(dim, B)``) with every entry
        multiplied by ``alpha!``: the true derivatives ``D^alpha x_i``, as heyoka
        stores its variational state (same layout: ``get_vslice`` and
        ``get_mindex`` apply).  A new array.

        Examples
        --------
        >>> import taylorjit as tj
        >>> x = tj.var("x")
        >>> vsys = tj.var_ode_sys([(x, x * x)], "vars", order=2)
        >>> st = vsys.initial_state([0.5])          # x, dx/dx0, d2x/dx0^2 / 2
        >>> st[2] = 0.25                            # c_(0,(2,)) = D^2 x / 2
        >>> vsys.to_derivatives(st).tolist()
        [0.5, 1.0, 0.5]
        """
        st = np.asarray(state, dtype=float)
        if st.ndim not in (1, 2) or st.shape[0] != self.dim:
            raise ValueError(f"state has shape {st.shape} but the variational system has "
                             f"{self.dim} variables: pass (dim,) or (dim, batch)")
        f = self.factorials
        return st * (f if st.ndim == 1 else f[:, None])

    def from_derivatives(self, dstate):
        """Inverse of :meth:`to_derivatives`: a state in heyoka's storage (true
        derivatives ``D^alpha x_i``) as taylorjit's (``D^alpha x_i / alpha!``), e.g. to
        set ``ta.state[:] = vsys.from_derivatives(heyoka_state)``.  A new array."""
        st = np.asarray(dstate, dtype=float)
        if st.ndim not in (1, 2) or st.shape[0] != self.dim:
            raise ValueError(f"state has shape {st.shape} but the variational system has "
                             f"{self.dim} variables: pass (dim,) or (dim, batch)")
        f = self.factorials
        return st / (f if st.ndim == 1 else f[:, None])

    def index_of(self, i: int, alpha) -> int:
        """Position of ``c_{i,alpha}`` in the augmented state."""
        key = (int(i), tuple(int(a) for a in alpha))
        try:
            return self._pos[key]
        except KeyError:
            raise KeyError(f"no variational variable for component {i} and multi-index {alpha}: "
                           f"components are 0..{self.n_orig - 1}, multi-indices have {self.m} "
                           f"entries and total order <= {self.order}") from None

    def get_vslice(self, order: int, component: int | None = None) -> slice:
        """Slice of the augmented state holding the derivatives of total order
        ``order`` (of one ``component`` if given).  Within it, multi-indices run
        in the order of ``multi_indices(m, order)``."""
        if not 0 <= order <= self.order:
            raise ValueError(f"order {order} is outside 0..{self.order} for this system")
        nb = len(multi_indices(self.m, order))
        start = sum(self.n_orig * len(multi_indices(self.m, o)) for o in range(order))
        if component is None:
            return slice(start, start + self.n_orig * nb)
        if not 0 <= component < self.n_orig:
            raise ValueError(f"component {component} is outside 0..{self.n_orig - 1}")
        return slice(start + component * nb, start + (component + 1) * nb)

    # -- initial conditions
    def initial_state(self, x0, pars=None, time=0.0):
        """Full initial state of the augmented system from the original ``x0``.

        First-order derivatives with respect to initial state variables start
        at 1 (identity), every other derivative at 0, except those involving
        the initial time (see the module docstring; at first order
        ``dx/dt0 = -f(x0, t0)``).  ``x0`` may have shape ``(n,)`` or ``(n, B)``
        (batch: one column per batch element, ``pars`` ``(n_pars, B)``,
        ``time`` a scalar or ``(B,)``); a ``(dim, ...)`` array is returned as a
        copy.

        Examples
        --------
        >>> import taylorjit as tj
        >>> x, v = tj.make_vars("x", "v")
        >>> vsys = tj.var_ode_sys([(x, v), (v, -x)], wrt="vars", order=1)
        >>> vsys.initial_state([1.0, 0.0]).tolist()
        [1.0, 0.0, 1.0, 0.0, 0.0, 1.0]
        """
        x0 = np.asarray(x0, dtype=float)
        if x0.shape[:1] == (self.dim,) and self.dim != self.n_orig:
            return x0.copy()
        if x0.ndim not in (1, 2) or x0.shape[0] != self.n_orig:
            raise ValueError(f"initial state has shape {x0.shape} but the system has "
                             f"{self.n_orig} original equations ({self.dim} with the variational "
                             f"ones): pass {self.n_orig} initial values (the variational ones are "
                             "filled in) or all of them")
        out = np.zeros((self.dim,) + x0.shape[1:])
        out[:self.n_orig] = x0
        for j, w in enumerate(self.wrt):
            if w.op == "var":
                i = next(q for q, v in enumerate(self.state_vars[:self.n_orig]) if v is w)
                e = tuple(int(q == j) for q in range(self.m))
                out[self._pos[(i, e)]] = 1.0
        if any(w.op == "time" for w in self.wrt):
            self._t0_initial(out, x0, pars, time)
        return out

    def _t0_initial(self, out, x0, pars, time):
        jt = next(j for j, w in enumerate(self.wrt) if w.op == "time")
        if self._ic_cache is None:
            self._ic_cache = _t0_initial_program(self, jt)
        targets, ev = self._ic_cache
        if x0.ndim == 1:
            p = np.zeros(0) if pars is None else np.asarray(pars, dtype=float)
            out[targets] = ev(x0, p, float(time))
            return
        B = x0.shape[1]
        times = np.broadcast_to(np.asarray(time, dtype=float), (B,))
        for b in range(B):
            p = np.zeros(0) if pars is None else np.asarray(pars, dtype=float)[:, b]
            out[targets, b] = ev(x0[:, b], p, times[b])

    def __repr__(self):
        return (f"<VarODESys: {self.n_orig} equations + {self.dim - self.n_orig} variational, "
                f"order {self.order}, wrt [{', '.join(self.wrt_names())}]>")


# --------------------------------------------------------------------------- construction
def var_ode_sys(sys, wrt="vars", order=1) -> VarODESys:
    """Augment an ODE system with its variational equations up to ``order``.

    Parameters
    ----------
    sys : list of (var, rhs)
        The system ``x' = f(x, par, t)``.
    wrt : {"vars", "params", "all"} or list
        What to differentiate against: ``"vars"`` the initial values of all
        state variables, ``"params"`` the runtime parameters appearing in
        ``sys``, ``"all"`` both plus the initial time; or a list of state
        variables (meaning their initial values), ``tj.par[i]`` and
        ``tj.time`` (the initial time).
    order : int
        Highest total order of the derivatives (>= 1).

    Returns
    -------
    VarODESys
        A sequence of ``(var, rhs)`` pairs: pass it to the integrator like any
        system, with the original initial state (the variational initial
        values are filled in).  The augmented variables hold the normalised
        derivatives ``D^alpha x_i / alpha!`` (Taylor-map coefficients);
        an integrator's ``ta.sensitivity(order)`` returns true derivatives.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x, v = tj.make_vars("x", "v")
    >>> vsys = tj.var_ode_sys([(x, v), (v, -tj.par[0] * x)], wrt=[x, tj.par[0]], order=1)
    >>> vsys
    <VarODESys: 2 equations + 4 variational, order 1, wrt [x, par[0]]>
    >>> for lhs, rhs in vsys[2:]:
    ...     print(lhs, "=", rhs)
    x__d0 = v__d0
    x__d1 = v__d1
    v__d0 = (-par[0])*x__d0
    v__d1 = -x + (-par[0])*x__d1
    """
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)):
        raise TypeError(f"order must be an integer >= 1, got {order!r}")
    order = int(order)
    if order < 1:
        raise ValueError(f"order must be >= 1 (the order of the highest derivative), got {order}")
    state, f = _check_sys(sys)
    wrt = _parse_wrt(wrt, state, f)
    n, m = len(state), len(wrt)
    names = {v.value for v in state}

    # variables c_{i,alpha}, for 1 <= |alpha| <= order
    cvar = {}
    mindex = [(i, (0,) * m) for i in range(n)]
    by_order = [[(0,) * m]]
    for k in range(1, order + 1):
        alphas = multi_indices(m, k)
        by_order.append(alphas)
        for i in range(n):
            for alpha in alphas:
                name = f"{state[i].value}__d{_index_name(alpha)}"
                if name in names:
                    raise ValueError(f"the state variable name '{name}' clashes with the names of "
                                     "the variational variables: rename it (avoid '__d')")
                cvar[(i, alpha)] = var(name)
                mindex.append((i, alpha))

    # tangent seeds, one dict per direction j
    seeds = []
    for j, w in enumerate(wrt):
        sd = {}
        e_j = tuple(int(q == j) for q in range(m))
        for i in range(n):
            sd[id(state[i])] = cvar[(i, e_j)]
        for (i, g), c in cvar.items():
            if sum(g) < order:
                gj = _add_unit(g, j)
                t = cvar[(i, gj)]
                sd[id(c)] = t if g[j] == 0 else mul(float(g[j] + 1), t)
        if w.op == "par":
            sd[id(w)] = num(1.0)
        seeds.append(sd)

    # recursive construction: F_{alpha} = D_j F_{alpha - e_j} / alpha_j, j = first non-zero
    F = {(0,) * m: f}
    memos = [dict() for _ in range(m)]
    for k in range(1, order + 1):
        groups = {}
        for alpha in by_order[k]:
            j = _first_nonzero(alpha)
            groups.setdefault(j, []).append(alpha)
        for j in sorted(groups):
            betas = [alpha[:j] + (alpha[j] - 1,) + alpha[j + 1:] for alpha in groups[j]]
            roots = [e for b in betas for e in F[b]]
            tans = tangent(roots, seeds[j], memos[j])
            for q, alpha in enumerate(groups[j]):
                block = tans[q * n:(q + 1) * n]
                F[alpha] = block if alpha[j] == 1 else [div(t, float(alpha[j])) for t in block]
    pairs = [(state[i], f[i]) for i in range(n)]
    for k in range(1, order + 1):
        for i in range(n):
            for alpha in by_order[k]:
                pairs.append((cvar[(i, alpha)], F[alpha][i]))
    return VarODESys(pairs, n, wrt, order, mindex, f)
