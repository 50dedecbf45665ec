"""ODE systems for the integrators: parsing, validation, order, kernel choice.

Shared by :class:`taylorjit.TaylorAdaptive` and
:class:`taylorjit.TaylorAdaptiveBatch`; owns the rules that both must apply
identically (order from tolerance, automatic kernel kind, error messages).
"""
from __future__ import annotations

import enum
import math

import numpy as np

from .._codegen.decompose import decompose
from .._symbolic.expr import Expr, expr, get_variables, var as _var
from .._codegen.kernel import auto_kind, can_unroll, compiled_kind, get_kernel

__all__ = ["Outcome", "EventOutcome", "StepResult", "PropagateResult", "GridResult", "parse_system",
           "order_from_tol", "check_tol", "build_kernel", "tier_up", "heyoka_options"]

# Automatic kernel kind (``compact=None``): the compact VM, which needs no compilation, unless
# the specialised kernel of the system is already compiled in the disk cache (then it is
# loaded in milliseconds and runs 1.5-3x faster per step).  Compiling the specialised kernel
# the first time a system is seen costs numba time that grows fast with the system's size
# (measured on 2 loaded cores: 3 ops 0.6 s, 20 ops 7 s, 62 ops 16 s, 125 ops 44 s); ask for
# it with ``compact=False``.  Both kinds give bit-identical trajectories.
class Outcome(enum.Enum):
    """How a step or a propagation ended.

    ``Outcome.event`` (terminal events) comes with the index of the event in the
    result's ``event_index`` field.
    """

    success = "step taken, no limit reached"
    time_limit = "the requested time (or max_delta_t of the step) was reached"
    step_limit = "max_steps steps taken before reaching the final time: raise max_steps"
    err_nf_state = ("a non-finite state or time was produced: the integrator keeps the last "
                    "finite state and time; check the system for singularities or reduce "
                    "max_delta_t")
    cb_stop = "the callback returned False"
    event = "a terminal event triggered (see event_index)"

    def __repr__(self):
        return f"<Outcome.{self.name}>"

    def __str__(self):
        return f"Outcome.{self.name}"

    def __int__(self):
        """heyoka's integer code of the outcome (``taylor_outcome``): ``success``
        -4294967297, ``step_limit`` -4294967298, ``time_limit`` -4294967299,
        ``err_nf_state`` -4294967300, ``cb_stop`` -4294967301.  A terminal event's code
        (-1 - its index) is the ``int()`` of the outcome a result unpacks to
        (:class:`EventOutcome`)."""
        code = _HEYOKA_CODES.get(self.name)
        if code is None:
            raise TypeError("int(Outcome.event) needs the event's index: take int() of the "
                            "outcome a result unpacks to (heyoka's -1 - index), or read "
                            "res.event_index")
        return code


_HEYOKA_CODES = {"success": -4294967297, "step_limit": -4294967298, "time_limit": -4294967299,
                 "err_nf_state": -4294967300, "cb_stop": -4294967301}


class EventOutcome:
    """The outcome a result unpacks to (heyoka's tuple) when terminal event ``index``
    stopped it: equal to ``Outcome.event``; ``int()`` gives heyoka's code, ``-1 - index``
    (so ``-int(oc) - 1`` is the event's index, as in heyoka's tutorials)."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index

    def __eq__(self, other):
        if isinstance(other, EventOutcome):
            return other.index == self.index
        return other is Outcome.event or (isinstance(other, int) and other == int(self))

    def __hash__(self):
        return hash(Outcome.event)

    def __int__(self):
        return -1 - int(self.index)

    @property
    def name(self):
        return "event"

    def __repr__(self):
        return f"<Outcome.event: {self.index}>"


def _heyoka_outcome(outcome, event_index):
    return EventOutcome(event_index) if (outcome is Outcome.event
                                         and event_index is not None) else outcome


class StepResult:
    """Result of one step: ``outcome`` and the step size ``h``; unpacks and indexes as
    heyoka's ``(oc, h)``.  ``event_index``: the terminal event that ended the step
    (``Outcome.event``), else None."""

    __slots__ = ("outcome", "h", "event_index")

    def __init__(self, outcome, h, event_index=None):
        self.outcome = outcome
        self.h = h
        self.event_index = event_index

    def __iter__(self):
        return iter((_heyoka_outcome(self.outcome, self.event_index), self.h))

    def __getitem__(self, i):
        return tuple(self)[i]

    def __len__(self):
        return 2

    def __repr__(self):
        ev = "" if self.event_index is None else f", event_index={self.event_index}"
        return f"StepResult(outcome={self.outcome!r}, h={self.h!r}{ev})"


class PropagateResult:
    """Result of ``propagate_until`` / ``propagate_for``.

    Attributes
    ----------
    outcome : Outcome
    min_h, max_h : float
        Smallest and largest absolute step size among the steps that were not
        clamped by a limit (inf and 0 when there were none).
    n_steps : int
        Number of steps taken (zero-length steps do not count).
    c_output : ContinuousOutput or None
        Continuous output, when requested with ``c_output=True``.
    event_index : int or None
        Index of the terminal event that stopped the run (``outcome == Outcome.event``).

    callback : callable or None
        The step callback of the call (heyoka returns it too).

    It unpacks and indexes like heyoka 7's tuple:
    ``oc, min_h, max_h, n_steps, c_out, cb = res`` (``res[4]`` is the continuous
    output); for a terminal event ``oc`` is an :class:`EventOutcome` (equal to
    ``Outcome.event``, ``int(oc) == -1 - event_index``).
    """

    _fields = ("outcome", "min_h", "max_h", "n_steps", "c_output", "callback")
    __slots__ = ("outcome", "min_h", "max_h", "n_steps", "c_output", "event_index",
                 "callback")

    def __init__(self, outcome, min_h, max_h, n_steps, c_output=None, event_index=None,
                 callback=None):
        self.outcome = outcome
        self.min_h = min_h
        self.max_h = max_h
        self.n_steps = n_steps
        self.c_output = c_output
        self.event_index = event_index
        self.callback = callback

    def __iter__(self):
        return iter((_heyoka_outcome(self.outcome, self.event_index),)
                    + tuple(getattr(self, f) for f in self._fields[1:]))

    def __getitem__(self, i):
        return tuple(self)[i]

    def __len__(self):
        return len(self._fields)

    def __repr__(self):
        body = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields[:4])
        ev = "" if self.event_index is None else f", event_index={self.event_index}"
        co = "" if self.c_output is None else ", c_output=<ContinuousOutput>"
        return f"{type(self).__name__}({body}{ev}{co})"


class GridResult(PropagateResult):
    """Result of ``propagate_grid``: the :class:`PropagateResult` fields plus ``states``.

    ``states[j]`` is the state at ``grid[j]`` (rows after an early stop are NaN).
    Unpacks and indexes as heyoka 7's ``oc, min_h, max_h, n_steps, cb, states``, and
    converts to the array of states (``np.asarray(res)``).
    """

    _fields = ("outcome", "min_h", "max_h", "n_steps", "callback", "states")
    __slots__ = ("states",)

    def __init__(self, outcome, min_h, max_h, n_steps, states, event_index=None,
                 callback=None):
        super().__init__(outcome, min_h, max_h, n_steps, None, event_index, callback)
        self.states = states

    def __array__(self, dtype=None, copy=None):
        return self.states if dtype is None else self.states.astype(dtype)


def parse_system(sys, check_vars=True):
    """``sys`` (list of ``(var, rhs)`` pairs, or dict) -> (state variables, right-hand sides).

    ``check_vars=False`` skips the check that the right-hand sides use only state
    variables (a traversal of the whole DAG): for callers whose decomposition finds
    them anyway and then call :func:`check_variables` for the message."""
    if isinstance(sys, dict):
        pairs = list(sys.items())
    else:
        try:
            pairs = [tuple(p) for p in sys]
        except TypeError:
            raise TypeError("the system must be a list of (variable, right-hand side) pairs or a "
                            f"dict {{variable: right-hand side}}, got {type(sys).__name__}") from None
    if not pairs:
        raise ValueError("the system has no equations: pass at least one (variable, rhs) pair")
    svars, rhs = [], []
    for p in pairs:
        if len(p) != 2:
            raise ValueError(f"each equation must be a (variable, right-hand side) pair, got {p!r}")
        v, f = p
        v = _var(v) if isinstance(v, str) else v
        if not isinstance(v, Expr) or v.op != "var":
            raise TypeError(f"the left-hand side {v!r} of an equation must be a variable "
                            "(tj.var('x') or tj.make_vars(...))")
        svars.append(v)
        rhs.append(expr(f))
    names = [v.value for v in svars]
    seen = set()
    dup = {n for n in names if n in seen or seen.add(n)}
    if dup:
        raise ValueError(f"the variable(s) {sorted(dup)} have more than one equation: give each "
                         "state variable exactly one right-hand side")
    if check_vars:
        check_variables(svars, rhs)
    return svars, rhs


def check_variables(svars, rhs):
    """Raise ValueError naming the equation if a right-hand side uses a variable that
    is not a state variable."""
    names = [v.value for v in svars]
    known = set(names)
    # one traversal of the shared DAG (per-equation traversals are quadratic for large
    # systems such as high-order variational equations); per equation only on error
    if any(u.value not in known for u in get_variables(rhs)):
        for v, f in zip(svars, rhs):
            for u in get_variables(f):
                if u.value not in known:
                    raise ValueError(f"the right-hand side of {v.value}' uses the variable "
                                     f"'{u.value}', which is not a state variable of the system "
                                     f"({', '.join(names)}): add an equation for it, or use "
                                     "tj.par[i] for a constant parameter")


def heyoka_options(compact, events, compact_mode=None, t_events=None, nt_events=None):
    """heyoka's constructor keywords as taylorjit's: ``compact_mode`` (``compact``) and
    ``t_events``/``nt_events`` (terminal events first, so a terminal event's
    ``event_index`` is its position in ``t_events``, as in heyoka).  Returns
    ``(compact, events)``."""
    if compact_mode is not None:
        if compact is not None and bool(compact) != bool(compact_mode):
            raise ValueError(f"compact={compact!r} and compact_mode={compact_mode!r} disagree: "
                             "pass one of them (compact_mode is heyoka's name for compact)")
        compact = bool(compact_mode)
    if t_events is None and nt_events is None:
        return compact, events
    out = []
    for what, evs, terminal in (("t_events", t_events, True), ("nt_events", nt_events, False)):
        for ev in list(evs or []):
            if getattr(ev, "terminal", terminal) != terminal:
                raise ValueError(f"{what} holds {'a non-terminal' if terminal else 'a terminal'} "
                                 f"event {ev!r}: use tj.t_event for t_events and tj.nt_event for "
                                 "nt_events")
            out.append(ev)
    if events is not None:
        out.extend([events] if not isinstance(events, (list, tuple)) else events)
    return compact, out


def check_tol(tol):
    if tol is None:
        return float(np.finfo(float).eps)
    tol = float(tol)
    if not (tol > 0.0) or not math.isfinite(tol):
        raise ValueError(f"tol must be a positive finite number, got {tol!r} (the default is "
                         "machine epsilon, 2.2e-16)")
    return tol


def order_from_tol(tol: float) -> int:
    """Jorba & Zou's (and heyoka's) order: ``max(2, ceil(-ln(tol)/2 + 1))``."""
    return max(2, int(math.ceil(-math.log(tol) / 2.0 + 1.0)))


def build_kernel(svars, rhs, extra, compact, order):
    """Decompose ``rhs`` (+ ``extra`` output expressions, e.g. event functions; a
    variable that is not a state variable raises ValueError naming the equation) and
    return ``(kernel, hrows, full)``; ``hrows`` are the rows taking part in the
    step size, ``full`` whether the jet must compute the last order of every slot
    (extra rows that are not state rows need it).

    Kernel kind: ``compact=True`` the VM; ``False`` the unrolled kernel at
    ``order`` (for systems too big to unroll, the specialised loops or the VM:
    :func:`taylorjit._codegen.kernel.compiled_kind`); ``None``
    automatic (:func:`taylorjit._codegen.kernel.auto_kind`)."""
    try:
        d = decompose(list(rhs) + list(extra), svars)
    except ValueError:
        check_variables(svars, rhs)   # the message naming the equation, if it is one
        raise
    n = len(svars)
    hrows = np.array(list(range(n)) + list(d.outputs[n:]), dtype=np.int64)
    full = 1 if np.any(hrows[n:] >= n) else 0
    if compact is None:
        kind = auto_kind(d, ode=True, order=order, full=full)
        if kind == "compact":
            kern = small_unrolled(d, order, full)
            if kern is not None:
                return kern, hrows, full
    elif compact:
        kind = "compact"
    else:
        kind = compiled_kind(d, order)
    kern = get_kernel(d, ode=True, kind=kind, order=order, full=full)
    return kern, hrows, full


# Automatic kind: systems whose unrolled code is at most this many scalar operations
# (unrolled_size: pendulum 924, Lorenz 2772 at order 20) get it at once: a quick build
# (no LLVM optimisation, 20-40 ms; taylorjit._codegen.kernel.quick_kernel) runs while the
# optimised kernel builds in the background (0.2-0.3 s; tier_up), or the optimised one
# itself when it is in the disk cache or background builds are off.  Loading the VM
# instead costs a fresh process 0.3-0.5 s (numba), and plain propagations on an
# unrolled kernel run without any numba code (taylorjit._integrate.plainloop).  Bigger systems
# start on the VM and move up in the background (tier_up).
SYNC_UNROLL_MAX = 3000


def small_unrolled(d, order, full):
    """The unrolled kernel of a small ODE decomposition (see :data:`SYNC_UNROLL_MAX`),
    built now; None for a bigger one, one that cannot be unrolled, or when the build
    fails (then with a :class:`taylorjit._codegen.tiering.TierWarning`: the VM runs it)."""
    import os
    import warnings

    from .._codegen import tiering as _tiering
    from .._codegen.kernel import quick_kernel
    from .._codegen.unroll import UnsupportedUnroll, unrolled_size

    if (unrolled_size(d, order) > SYNC_UNROLL_MAX
            or os.environ.get("TAYLORJIT_KERNEL", "auto") not in ("", "auto")):
        return None
    try:
        if _tiering.enabled():
            return quick_kernel(d, order, full)
        return get_kernel(d, ode=True, kind="unrolled", order=order, full=full)
    except UnsupportedUnroll:
        return None
    except Exception as exc:            # noqa: BLE001 - the VM computes the same bits
        warnings.warn(f"taylorjit could not compile the unrolled kernel of a system of "
                      f"{len(d.outputs)} equations ({type(exc).__name__}: {exc}); it runs on "
                      "the compact VM, with identical results", _tiering.TierWarning,
                      stacklevel=4)
        return None


def tier_up(kern, order, full, compact):
    """The background build (:class:`taylorjit._codegen.tiering.Upgrade`) of the optimised
    unrolled kernel at ``order`` for an integrator whose kernel was chosen
    automatically (``compact=None``) and is the compact VM or a quick unrolled
    build (:func:`small_unrolled`); None when there is nothing to build (a pinned
    kind, a system too big to unroll, background builds turned off, or
    ``$TAYLORJIT_KERNEL`` set).  The integrator switches to it at a step
    boundary; every kind computes the same bits."""
    import os

    from .._codegen import tiering as _tiering

    if compact is not None or not kern.ode or not (kern.kind == "compact" or kern.quick):
        return None
    if os.environ.get("TAYLORJIT_KERNEL", "auto") not in ("", "auto"):
        return None
    d = kern.decomposition
    if not kern.quick and not can_unroll(d, order):
        return None
    full = int(bool(full))
    return _tiering.submit((d.key(), "unrolled", order, full),
                           lambda: get_kernel(d, ode=True, kind="unrolled", order=order, full=full),
                           f"a system of {len(d.outputs)} equations ({len(d.ops)} operations)")


def as_state(x, n, what="state"):
    a = np.array(x, dtype=float, copy=True)
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{what} has shape {a.shape} but the system has {n} equations: pass "
                         "one initial value per equation")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what} contains non-finite values {a.tolist()}: pass finite numbers")
    return a


def as_pars(p, n_pars, batch=None):
    if p is None:
        return np.zeros((n_pars,) if batch is None else (n_pars, batch))
    a = np.array(p, dtype=float, copy=True)
    if batch is None:
        if a.ndim != 1 or a.shape[0] < n_pars:
            raise ValueError(f"pars has shape {a.shape} but the system uses {n_pars} parameters "
                             f"(par[0]..par[{n_pars - 1}]): pass at least {n_pars} values")
    else:
        if a.ndim != 2 or a.shape[0] < n_pars or a.shape[1] != batch:
            raise ValueError(f"pars has shape {a.shape} but the system uses {n_pars} parameters "
                             f"and the batch size is {batch}: pass an array of shape "
                             f"({n_pars}, {batch})")
    return a


def check_time(t, what="time"):
    t = float(t)
    if not math.isfinite(t):
        raise ValueError(f"{what} must be finite, got {t!r}")
    return t
