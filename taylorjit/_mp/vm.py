"""The arbitrary-precision VM: a decomposition run operation by operation in Python.

:class:`MPProgram` binds each operation of a
:class:`~taylorjit._codegen.decompose.Decomposition` to its kernel of
:mod:`.recur` (constants converted to ``p``-bit pairs) and computes the
coefficients order by order (:meth:`MPProgram.jet`), as the double VM does.
Everything is Python: the convolutions are exact integer sums built with
``map`` (:func:`.num.dot`), so the cost is dominated by big-integer products
(about 0.5 us per term at 256 bits), roughly 1000x the compiled double
kernels (docs/extended-precision.md gives measured times per step).
"""
from __future__ import annotations

from .num import ZE, ZERO, div_int, from_float
from .recur import KERNELS

__all__ = ["MPProgram", "Env", "new_tables"]


class Env:
    """The runtime inputs of the par/time kernels: ``pars`` (list of pairs), ``t`` (pair)."""

    __slots__ = ("pars", "t")

    def __init__(self, pars=(), t=ZERO):
        self.pars = list(pars)
        self.t = t


def new_tables(n_slots, order):
    """Zeroed coefficient tables ``(M, E)``: ``n_slots`` rows of ``order + 1`` pairs."""
    return ([[0] * (order + 1) for _ in range(n_slots)],
            [[ZE] * (order + 1) for _ in range(n_slots)])


class MPProgram:
    """The decomposition ``d`` at ``p`` bits (``ode``: with the rows ``(state slot,
    right-hand-side slot)``).  ``env`` carries the parameters and the time."""

    def __init__(self, d, p, ode):
        from .._symbolic.registry import OPS

        self.p = p
        self.n_slots = d.n_slots
        self.n_in = d.n_in
        self.outputs = list(d.outputs)
        self.env = env = Env()
        prog = []
        for name, outs, ins, c in d.ops:
            fn = KERNELS.get(name)
            if fn is None:
                raise NotImplementedError(
                    f"the kernel operation {name!r} has no arbitrary-precision recurrence yet "
                    f"(precision=<bits> supports: {', '.join(sorted(KERNELS))}); use double "
                    "precision for this expression")
            op = OPS[name]
            args = list(outs) + list(ins)
            if name == "const":
                args.append(from_float(float(c), p))
            elif name == "pow":
                args.append((from_float(float(c), p), float(c)))
            elif op.has_c:
                args.append(from_float(float(c), p))
            if op.uses_pars or op.uses_t:
                args.append(env)
            prog.append((fn, tuple(args)))
        self.prog = prog
        if ode:
            if len(d.outputs) < d.n_in:
                raise ValueError("an ODE decomposition needs one right-hand side per state "
                                 "variable")
            self.upd = [(i, d.outputs[i]) for i in range(d.n_in)]
        else:
            self.upd = []

    def jet(self, M, E, order, full=True):
        """Coefficients ``0..order`` of every slot (ODE: the state rows' coefficient
        0 set by the caller; coefficient k = right-hand side's k-1 / k); ``full=False``
        skips the operations at the last order (only the state rows needed)."""
        p = self.p
        prog = self.prog
        upd = self.upd
        for k in range(order + 1):
            if k > 0:
                for s, q in upd:
                    M[s][k], E[s][k] = div_int(M[q][k - 1], E[q][k - 1], k, p)
                if k == order and not full:
                    break
            for fn, args in prog:
                fn(M, E, p, k, *args)

    def points(self, P, D, order, outs):
        """taylor_coefficients: for each point ``P[r]`` (list of n pairs) and direction
        ``D[r]``, the coefficients of the output slots ``outs``: a list (per point) of
        lists (per output) of lists of pairs."""
        M, E = new_tables(self.n_slots, order)
        res = []
        for pt, dr in zip(P, D):
            for i in range(self.n_in):
                Mi, Ei = M[i], E[i]
                Mi[0], Ei[0] = pt[i]
                if order >= 1:
                    Mi[1], Ei[1] = dr[i]
                for k in range(2, order + 1):
                    Mi[k] = 0
                    Ei[k] = ZE
            self.jet(M, E, order, True)
            res.append([list(zip(M[o], E[o])) for o in outs])
        return res
