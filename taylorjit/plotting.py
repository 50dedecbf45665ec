"""Plotting helpers for Jupyter and scripts (matplotlib is optional: it is
imported only when a function here is called).

Examples
--------
>>> import taylorjit as tj
>>> from taylorjit.plotting import plot_c_output
>>> x, v = tj.make_vars("x", "v")
>>> ta = tj.TaylorAdaptive([(x, v), (v, -x)], [1.0, 0.0], compact=True)
>>> co = ta.propagate_until(10.0, c_output=True).c_output
>>> ax = plot_c_output(co, labels=["x", "v"])          # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np

__all__ = ["plot_c_output", "sample_c_output"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("taylorjit.plotting needs matplotlib: pip install matplotlib "
                          "(or pip install taylorjit[plot])") from None
    return plt


def sample_c_output(c_output, t0=None, t1=None, components=None, n_points=None):
    """Times and states of a continuous output, for plotting or tabulating.

    The samples are uniform in time plus every step boundary, so each
    step's polynomial is drawn with at least its end points and fast phases
    (short steps) are resolved.

    Parameters
    ----------
    c_output : ContinuousOutput
        From ``ta.propagate_until(..., c_output=True).c_output``.
    t0, t1 : float, optional
        Time range (default: the whole propagation, ``c_output.bounds``);
        ``t0 > t1`` is allowed.
    components : int or sequence of int, optional
        State components to return (default: all).
    n_points : int, optional
        Number of uniform samples (default ``max(500, 4 * steps)``, at most 20000).

    Returns
    -------
    t : ndarray, shape (m,)
    states : ndarray, shape (m, len(components))

    Examples
    --------
    >>> import numpy as np, taylorjit as tj
    >>> from taylorjit.plotting import sample_c_output
    >>> x, v = tj.make_vars("x", "v")
    >>> ta = tj.TaylorAdaptive([(x, v), (v, -x)], [0.0, 1.0], compact=True)
    >>> co = ta.propagate_until(6.0, c_output=True).c_output
    >>> t, s = sample_c_output(co, components=0, n_points=100)
    >>> bool(np.allclose(s[:, 0], np.sin(t), atol=1e-14))
    True
    """
    lo, hi = c_output.bounds
    a = lo if t0 is None else float(t0)
    b = hi if t1 is None else float(t1)
    if not (np.isfinite(a) and np.isfinite(b)) or a == b:
        raise ValueError(f"the time range must be finite and non-empty, got [{a!r}, {b!r}]")
    n_steps = c_output.n_steps
    if n_points is None:
        n_points = int(min(20000, max(500, 4 * n_steps)))
    if n_points < 2:
        raise ValueError(f"n_points must be >= 2, got {n_points}")
    t = np.linspace(a, b, n_points)
    tb = c_output.times
    tb = tb[(tb > min(a, b)) & (tb < max(a, b))]
    t = np.unique(np.concatenate([t, tb]))
    if b < a:
        t = t[::-1]
    n = c_output.tcs.shape[1]
    if components is None:
        comps = list(range(n))
    else:
        comps = [int(c) for c in np.atleast_1d(components)]
        bad = [c for c in comps if not -n <= c < n]
        if bad:
            raise IndexError(f"components {bad} out of range for a state of {n} variables")
    return t, c_output(t)[:, comps]


def plot_c_output(c_output, t0=None, t1=None, components=None, *, labels=None, ax=None,
                  n_points=None, mark_steps=False, **plot_kwargs):
    """Plot state components of a continuous output against time.

    Parameters
    ----------
    c_output : ContinuousOutput
        From ``ta.propagate_until(..., c_output=True).c_output``.
    t0, t1 : float, optional
        Time range (default: the whole propagation).
    components : int or sequence of int, optional
        Which state components (default: all).
    labels : sequence of str, optional
        Legend labels, one per component (default ``"x[i]"``); pass the
        variable names of the system, e.g. ``[str(v) for v, _ in sys]``.
    ax : matplotlib Axes, optional
        Axes to draw on (default: a new figure).
    n_points : int, optional
        Uniform samples (step boundaries are always added), see
        :func:`sample_c_output`.
    mark_steps : bool, optional
        Also mark the step boundaries with dots (shows the adaptive steps).
    **plot_kwargs
        Passed to ``ax.plot``.

    Returns
    -------
    matplotlib Axes
    """
    plt = _pyplot()
    t, s = sample_c_output(c_output, t0, t1, components, n_points)
    n = c_output.tcs.shape[1]
    comps = list(range(n)) if components is None else [int(c) for c in np.atleast_1d(components)]
    if labels is None:
        labels = [f"x[{c}]" for c in comps]
    elif len(labels) == n and len(comps) != n:
        labels = [labels[c] for c in comps]
    if len(labels) != len(comps):
        raise ValueError(f"{len(labels)} labels for {len(comps)} components: pass one label per "
                         "plotted component (or one per state variable)")
    if ax is None:
        _, ax = plt.subplots()
    for k, lab in enumerate(labels):
        line, = ax.plot(t, s[:, k], label=lab, **plot_kwargs)
        if mark_steps:
            tb = c_output.times
            lo, hi = min(t[0], t[-1]), max(t[0], t[-1])
            tb = tb[(tb >= lo) & (tb <= hi)]
            ax.plot(tb, c_output(tb)[:, comps[k]], ".", color=line.get_color())
    ax.set_xlabel("t")
    if len(labels) > 1 or labels[0] != "x[0]":
        ax.legend()
    return ax
