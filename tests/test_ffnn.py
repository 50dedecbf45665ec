"""ffnn: heyoka's model.ffnn as taylorjit expressions.

Values against a numpy forward pass written from the documented layout and
against heyoka's own ``model.ffnn`` (same weights); gradients of an ODE with a
neural term through ``taylorjit.jax.odeint`` against finite differences.
"""
import numpy as np
import pytest

import taylorjit as tj
from taylorjit import ffnn, ffnn_n_params


def numpy_ffnn(x, layers, acts, wb):
    """Forward pass: weights layer by layer (row-major, W[j, i] from input i to neuron j),
    then biases layer by layer."""
    n_w = sum(a * b for a, b in zip(layers[:-1], layers[1:]))
    w_off, b_off, a = 0, n_w, np.asarray(x, dtype=float)
    for layer, act in enumerate(acts):
        n_prev, n_next = layers[layer], layers[layer + 1]
        W = wb[w_off:w_off + n_prev * n_next].reshape(n_next, n_prev)
        b = wb[b_off:b_off + n_next]
        a = act(W @ a + b)
        w_off += n_prev * n_next
        b_off += n_next
    return a


def test_values_match_numpy_forward_pass():
    rng = np.random.default_rng(1)
    xs = tj.make_vars("a", "b", "c")
    hidden, n_out = [4, 3], 2
    layers = [3] + hidden + [n_out]
    N = ffnn_n_params(3, hidden, n_out)
    assert N == 3 * 4 + 4 * 3 + 3 * 2 + 4 + 3 + 2
    wb = rng.standard_normal(N)
    out = ffnn(list(xs), hidden, n_out, [tj.tanh, tj.sigmoid, lambda e: e])
    f = tj.cfunc(out, list(xs), simd=False)
    for _ in range(3):
        x = rng.standard_normal(3)
        ref = numpy_ffnn(x, layers, [np.tanh, lambda z: 1 / (1 + np.exp(-z)), lambda z: z], wb)
        np.testing.assert_allclose(f(x, pars=wb), ref, rtol=1e-14, atol=1e-15)
    # numeric weights and named activations give the same network
    out2 = ffnn(list(xs), hidden, n_out, ["tanh", "sigmoid", "linear"], nn_wb=wb)
    f2 = tj.cfunc(out2, list(xs), simd=False)
    x = rng.standard_normal(3)
    np.testing.assert_allclose(f2(x), f(x, pars=wb), rtol=1e-14, atol=1e-15)
    # no hidden layer: an affine map
    aff = ffnn([xs[0]], [], 1, ["linear"], nn_wb=[2.0, 0.5])
    assert tj.cfunc(aff, [xs[0]])(np.array([3.0]))[0] == 6.5


def test_layout_matches_heyoka():
    hy = pytest.importorskip("heyoka")
    rng = np.random.default_rng(2)
    hx, hyv = hy.make_vars("x", "y")
    x, y = tj.make_vars("x", "y")
    hidden, n_out = [3, 2], 2
    N = ffnn_n_params(2, hidden, n_out)
    wb = rng.standard_normal(N)
    theirs = hy.model.ffnn(inputs=[hx, hyv], nn_hidden=hidden, n_out=n_out,
                           activations=[hy.tanh, hy.sin, lambda e: e], nn_wb=list(wb))
    ours = ffnn([x, y], hidden, n_out, [tj.tanh, tj.sin, lambda e: e], nn_wb=wb)
    cf_h = hy.cfunc(theirs, [hx, hyv])
    cf_t = tj.cfunc(ours, [x, y], simd=False)
    for _ in range(3):
        p = rng.standard_normal(2)
        np.testing.assert_allclose(cf_t(p), cf_h(p), rtol=1e-14, atol=1e-15)
    # default weights are par[0..N-1], in the same places as heyoka's
    default = hy.model.ffnn(inputs=[hx, hyv], nn_hidden=[2], n_out=1,
                            activations=[hy.tanh, lambda e: e])
    ours = ffnn([x, y], [2], 1, [tj.tanh, lambda e: e])
    p = rng.standard_normal(9)
    pt = np.array([0.3, -0.7])
    np.testing.assert_allclose(tj.cfunc(ours, [x, y], simd=False)(pt, pars=p),
                               hy.cfunc(default, [hx, hyv])(pt, pars=p), rtol=1e-14)


def test_bad_arguments():
    x, y = tj.make_vars("x", "y")
    lin = lambda e: e  # noqa: E731
    with pytest.raises(ValueError, match="one more activation"):
        ffnn([x, y], [2], 1, [lin])
    with pytest.raises(ValueError, match="outputs must be positive"):
        ffnn([x, y], [2], 0, [lin, lin])
    with pytest.raises(ValueError, match="hidden layer must be positive"):
        ffnn([x, y], [0], 1, [lin, lin])
    with pytest.raises(ValueError, match="9 weights and biases"):
        ffnn([x, y], [2], 1, [lin, lin], nn_wb=[1.0, 2.0])
    with pytest.raises(ValueError, match="no inputs"):
        ffnn([], [2], 1, [lin, lin])
    with pytest.raises(ValueError, match="unknown activation"):
        ffnn([x], [2], 1, ["gelu", lin])
    with pytest.raises(TypeError, match="list of hidden-layer sizes"):
        ffnn([x], 3, 1, [lin, lin])
    with pytest.raises(TypeError, match="one activation per layer"):
        ffnn([x], [2], 1, lin)


def test_neural_term_trains_through_jax_odeint():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    import taylorjit.jax as tjx

    hidden = [4]
    N = ffnn_n_params(2, hidden, 1)

    def rhs(y, t, wb):
        corr = ffnn(y, hidden, 1, [np.tanh, lambda e: e], nn_wb=wb)[0]
        return np.array([y[1], -np.sin(y[0]) + corr])

    ts = jnp.linspace(0.0, 2.0, 5)
    y0 = jnp.array([0.5, 0.0])
    wb = jnp.asarray(np.random.default_rng(3).standard_normal(N) * 0.3)

    def loss(wb):
        return jnp.sum(tjx.odeint(rhs, y0, ts, wb, rtol=1e-15, atol=1e-15) ** 2)

    g = jax.jit(jax.grad(loss))(wb)
    # central differences, step 1e-5: truncation error ~1e-10 relative
    h = 1e-5
    fd = np.array([(loss(wb.at[i].add(h)) - loss(wb.at[i].add(-h))) / (2 * h) for i in range(N)])
    np.testing.assert_allclose(np.asarray(g), fd, rtol=1e-7, atol=1e-9)
