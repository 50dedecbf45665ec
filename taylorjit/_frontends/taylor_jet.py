"""``taylor_jet``: a compiled ``point -> Taylor coefficients`` function for repeated
calls (:class:`TaylorJet`).

It computes what :func:`~taylorjit.taylor_coefficients` (:mod:`.coefficients`)
computes, calling the direct coefficients kernel with the least overhead and
falling back to ``taylor_coefficients`` for anything else.
"""
from __future__ import annotations

from .._symbolic.expr import TracingError
from .args import _EMPTY, _ONE_DIR, _finite_values
from .coefficients import _coefficients_direct, taylor_coefficients
from .jet import _PiecewisePlan, _front


class TaylorJet:
    """A compiled function ``point -> Taylor coefficients`` (see :func:`taylor_jet`)."""

    def __init__(self, plan, fs, variables, scalar, order, kernel, kind="unrolled"):
        self._plan = plan
        self._kind = kind
        self.functions = list(fs)
        self.variables = list(variables)
        self.order = order
        self._scalar = scalar
        self._k = kernel                  # direct kernel, or None: taylor_coefficients
        n = plan.n_in
        self._n = n
        self._needs_pars = bool(plan.n_pars or plan.time_par >= 0)
        # one variable, no parameters: a float point goes straight to the kernel
        self._fast1 = kernel is not None and n == 1 and not self._needs_pars
        self._fn = kernel.fn if kernel is not None else None
        if kernel is not None:
            kernel.run([0.0] * n, [1.0] * n, _EMPTY)   # allocate this thread's buffers

    def __call__(self, point, direction=None, *, pars=None, time=None):
        """Coefficients 0..order of the functions at ``point`` along ``direction``
        (default: 1 for one variable).  Shape ``(order + 1,)`` for one function,
        ``(m, order + 1)`` for m; several points (shape (npoints, n)) are handled
        as in :func:`taylor_coefficients`."""
        if self._fast1 and direction is None and point.__class__ is float:
            b = self._k._tls.__dict__.get("b")
            if b is not None and point - point == 0.0:         # finite
                b[0][0] = point
                b[1][0] = 1.0
                self._fn(b[4])
                return b[6].copy() if self._scalar else b[3].copy()
        k = self._k
        if k is not None and not self._needs_pars:
            n = self._n
            vals = _finite_values(point if point.__class__ is not float else [point], n)
            dvals = (_ONE_DIR if n == 1 else None) if direction is None else \
                _finite_values(direction, n)
            if vals is not None and dvals is not None:
                res = k.run(vals, dvals, _EMPTY)
                return res[0] if self._scalar else res
        fs = self.functions[0] if self._scalar else self.functions
        return taylor_coefficients(fs, self.variables, point, direction, self.order, pars=pars,
                                   time=time, kind=self._plan.kind)

    def __reduce__(self):
        # rebuilt from the expressions (compiled code reloads from the disk cache)
        f = self.functions[0] if self._scalar else self.functions
        return (_rebuild_taylor_jet, (f, self.variables, self.order, self._kind))

    def __repr__(self):
        how = "direct kernel" if self._k is not None else f"kernel={self._plan.kernel.kind}"
        return (f"<TaylorJet order {self.order} of {len(self.functions)} function(s) of "
                f"{self._n} variable(s), {how}>")


def taylor_jet(f, variables, order=10, *, kind="unrolled", precision=None) -> TaylorJet:
    """Compile ``point -> Taylor coefficients`` for repeated calls.

    The callable computes what :func:`taylor_coefficients` computes (the same
    values to the last bit) with the least overhead per call: the coefficients
    function is compiled here (LLVM, ~0.1-0.5 s for a small expression, cached
    on disk), and a call with one point (a float for one variable, or n
    numbers) goes straight to it (2-3 us per call from Python on the project's
    2-core machine for order 20 of a small expression, of which ~0.7 us is the
    kernel and its C call; see benchmarks/bench_derivatives.py).  Anything else --
    several points, parameters, ``kepE`` -- takes the general path.

    Parameters
    ----------
    f : Expr or list of Expr
    variables : list of variables (or tj.par[i], tj.time)
    order : int
        At most 10000, as in :func:`taylor_coefficients`.
    kind : {"unrolled", "compact", "spec"}
        ``"unrolled"`` (default) compiles the direct kernel; the others use
        that kernel kind through :func:`taylor_coefficients`.
    precision : {None, "double", "dd"}, optional
        ``"dd"``: double-double coefficients (~32 significant digits, see
        docs/extended-precision.md), returned as DDArrays, with points,
        directions, ``pars`` and ``time`` read without loss (``kind`` is ignored).

    Notes
    -----
    The callable pickles and copies: the copy is rebuilt from the expressions
    and reloads its compiled code from the disk cache (same values to the
    last bit).

    Examples
    --------
    >>> import taylorjit as tj
    >>> x = tj.var("x")
    >>> J = tj.taylor_jet(tj.exp(x), [x], order=3)
    >>> [round(float(c), 12) for c in J(0.0)]
    [1.0, 1.0, 0.5, 0.166666666667]
    """
    if precision is not None and precision != "double":
        if precision == "dd":
            from .dd_taylor_jet import taylor_jet_dd

            return taylor_jet_dd(f, variables, order)
        raise ValueError(f"precision={precision!r}: use None or 'double' (double precision) or "
                         "'dd' (double-double, ~32 digits)")
    order, fs, scalar, variables, plan = _front(f, variables, kind, order)
    if plan.__class__ is _PiecewisePlan:
        raise TracingError("taylor_jet compiles one smooth function, and this one has "
                           "tj.select branches: use tj.taylor_coefficients (the branch active "
                           "at each point) or tj.cfunc")
    k = None
    if kind == "unrolled":
        k = _coefficients_direct(plan, order)
    return TaylorJet(plan, fs, variables, scalar, order, k, kind)


def _rebuild_taylor_jet(f, variables, order, kind):
    return taylor_jet(f, variables, order, kind=kind)
