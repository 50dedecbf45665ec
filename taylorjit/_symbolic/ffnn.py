"""Feed-forward neural networks as taylorjit expressions (heyoka's ``model.ffnn``).

:func:`ffnn` builds the expressions of a fully connected network whose weights
and biases are runtime parameters (``tj.par[i]``, by default) or any
expressions, so a neural term inside a right-hand side is integrated by the
Taylor method and trained through :func:`taylorjit.jax.odeint` with exact
gradients (the parameters' variational equations).

Layout of ``nn_wb`` (as heyoka): all the weights, layer after layer, then all
the biases, layer after layer.  The weights of layer ``l`` (``n_l`` outputs,
``n_{l-1}`` inputs) are stored row-major: entry ``j * n_{l-1} + i`` multiplies
input ``i`` of neuron ``j``.  Layer ``l`` computes
``a_l = act_l(W_l a_{l-1} + b_l)``; ``activations`` has one function per
hidden layer plus one for the output layer.
"""
from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import numpy as np

from .expr import Expr, expr, nary_sum, par

__all__ = ["ffnn", "ffnn_n_params"]

_NAMED = ("tanh", "sigmoid", "relu", "sin", "cos", "exp", "softplus", "linear", "identity")


def _check_layers(n_in, nn_hidden, n_out):
    if isinstance(nn_hidden, (numbers.Integral, str)) or not isinstance(nn_hidden, Sequence):
        try:
            nn_hidden = list(nn_hidden)
        except TypeError:
            raise TypeError(f"nn_hidden must be a list of hidden-layer sizes, got {nn_hidden!r}"
                            " (e.g. [32, 32]; [] for no hidden layer)") from None
    sizes = []
    for h in nn_hidden:
        if isinstance(h, bool) or not isinstance(h, numbers.Integral):
            raise TypeError(f"hidden-layer sizes must be integers, got {h!r}")
        if h <= 0:
            raise ValueError("the number of neurons of each hidden layer must be positive, got "
                             f"{list(nn_hidden)}")
        sizes.append(int(h))
    if isinstance(n_out, bool) or not isinstance(n_out, numbers.Integral):
        raise TypeError(f"n_out must be an integer, got {n_out!r}")
    if n_out <= 0:
        raise ValueError(f"the number of network outputs must be positive, got {n_out}")
    return [int(n_in)] + sizes + [int(n_out)]


def ffnn_n_params(n_inputs: int, nn_hidden, n_out: int) -> int:
    """Number of weights and biases of a network (the length of ``nn_wb``).

    Examples
    --------
    >>> import taylorjit as tj
    >>> tj.ffnn_n_params(2, [8, 8], 1)    # (2*8 + 8*8 + 8*1) weights + (8 + 8 + 1) biases
    105
    """
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, numbers.Integral) or n_inputs <= 0:
        raise ValueError(f"n_inputs must be a positive integer, got {n_inputs!r}")
    layers = _check_layers(n_inputs, nn_hidden, n_out)
    return sum(a * b for a, b in zip(layers[:-1], layers[1:])) + sum(layers[1:])


def _activation(act, i):
    if isinstance(act, str):
        from .registry import FUNCTIONS

        if act in ("linear", "identity"):
            return lambda e: e
        if act == "softplus":
            return lambda e: FUNCTIONS["log1p"](FUNCTIONS["exp"](e))
        if act in _NAMED:
            return FUNCTIONS[act]
        raise ValueError(f"unknown activation {act!r} (layer {i}): pass a callable (tj.tanh, "
                         f"lambda x: x, ...) or one of {', '.join(_NAMED)}")
    if not callable(act):
        raise TypeError(f"activation {i} must be a callable taking and returning an expression "
                        f"(tj.tanh, tj.sigmoid, lambda x: x) or a name, got {act!r}")
    return act


def ffnn(inputs, nn_hidden, n_out, activations, nn_wb=None) -> list:
    """A feed-forward neural network as a list of ``n_out`` expressions (heyoka's
    ``model.ffnn``).

    Parameters
    ----------
    inputs : list of Expr (or a numpy object array, e.g. a traced state)
        The network's inputs.
    nn_hidden : list of int
        Neurons per hidden layer (``[]``: no hidden layer, an affine map).
    n_out : int
        Number of outputs.
    activations : list of callables or names
        ``len(nn_hidden) + 1`` functions, one per hidden layer and one for the
        output layer: callables from expression to expression (``tj.tanh``,
        ``tj.sigmoid``, ``np.tanh``, ``lambda x: x``) or the names ``"tanh"``,
        ``"sigmoid"``, ``"relu"``, ``"sin"``, ``"cos"``, ``"exp"``, ``"softplus"``,
        ``"linear"``.
    nn_wb : sequence of Expr or numbers, optional
        Weights then biases in heyoka's layout (see the module docstring), of
        length :func:`ffnn_n_params`.  Default: ``tj.par[0] .. tj.par[N - 1]``,
        runtime parameters.  A traced argument (an object array of parameters)
        works too, which is how a network enters a function given to
        ``taylorjit.jax.odeint``.

    Returns
    -------
    list of Expr
        The ``n_out`` outputs.

    Examples
    --------
    >>> import taylorjit as tj
    >>> x, y = tj.make_vars("x", "y")
    >>> tj.ffnn([x, y], [2], 1, [tj.tanh, lambda e: e])
    [par[4]*tanh(par[0]*x + par[1]*y + par[6]) + par[5]*tanh(par[2]*x + par[3]*y + par[7]) + par[8]]
    >>> tj.ffnn([x], [], 1, ["linear"], nn_wb=[2.0, 0.5])
    [2*x + 0.5]
    """
    try:
        ins = list(np.asarray(inputs, dtype=object).reshape(-1)) if not isinstance(
            inputs, Expr) else [inputs]
    except (TypeError, ValueError):
        raise TypeError(f"inputs must be a list of expressions, got {inputs!r:.60}") from None
    if not ins:
        raise ValueError("the network has no inputs: pass a non-empty list of expressions")
    ins = [expr(e) for e in ins]
    layers = _check_layers(len(ins), nn_hidden, n_out)
    n_layers = len(layers) - 1
    if isinstance(activations, (str, bytes)) or callable(activations):
        raise TypeError("activations must be a list with one activation per layer "
                        f"({n_layers}: the hidden layers and the output layer)")
    acts = list(activations)
    if len(acts) != n_layers:
        raise ValueError(f"{len(acts)} activation functions for {n_layers - 1} hidden layers: a "
                         "network needs exactly one more activation than hidden layers (the "
                         "last one is the output layer's; use lambda x: x for a linear output)")
    acts = [_activation(a, i) for i, a in enumerate(acts)]
    n_w = sum(a * b for a, b in zip(layers[:-1], layers[1:]))
    n_wb = n_w + sum(layers[1:])
    if nn_wb is None:
        wb = [par[i] for i in range(n_wb)]
    else:
        try:
            wb = list(np.asarray(nn_wb, dtype=object).reshape(-1))
        except (TypeError, ValueError):
            raise TypeError(f"nn_wb must be a flat sequence of expressions or numbers, got "
                            f"{nn_wb!r:.60}") from None
        if len(wb) != n_wb:
            raise ValueError(f"nn_wb has {len(wb)} values but the network has {n_wb} weights "
                             f"and biases (layers {layers}): see ffnn_n_params")
        wb = [expr(w) for w in wb]
    a = ins
    w_off, b_off = 0, n_w
    for layer in range(n_layers):
        n_prev, n_next = layers[layer], layers[layer + 1]
        out = []
        for j in range(n_next):
            terms = [wb[w_off + j * n_prev + i] * a[i] for i in range(n_prev)]
            terms.append(wb[b_off + j])
            z = nary_sum(terms)
            r = acts[layer](z)
            if isinstance(r, np.ndarray) and r.shape == ():
                r = r[()]
            try:
                out.append(expr(r))
            except TypeError:
                raise TypeError(f"activation {layer} returned {r!r:.60}, not an expression: it "
                                "must map an expression to an expression") from None
        w_off += n_prev * n_next
        b_off += n_next
        a = out
    return a
