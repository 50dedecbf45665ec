"""taylorjit.plotting: samples of a continuous output and the matplotlib helper."""
import numpy as np
import pytest

import taylorjit as tj
from taylorjit.plotting import plot_c_output, sample_c_output


@pytest.fixture(scope="module")
def c_output():
    x, v = tj.make_vars("x", "v")
    ta = tj.TaylorAdaptive([(x, v), (v, -x)], [0.0, 1.0], compact=True)
    return ta.propagate_until(10.0, c_output=True).c_output


def test_samples_include_step_boundaries(c_output):
    t, s = sample_c_output(c_output, n_points=50)
    assert set(c_output.times[1:-1]) <= set(t)
    assert t[0] == 0.0 and t[-1] == 10.0 and np.all(np.diff(t) > 0)
    np.testing.assert_allclose(s, np.stack([np.sin(t), np.cos(t)], 1), atol=1e-14)
    t, s = sample_c_output(c_output, 8.0, 2.0, components=[1])   # reversed range, one column
    assert t[0] == 8.0 and t[-1] == 2.0 and s.shape == (t.size, 1)
    np.testing.assert_allclose(s[:, 0], np.cos(t), atol=1e-14)


def test_sample_errors(c_output):
    with pytest.raises(IndexError, match="out of range"):
        sample_c_output(c_output, components=[2])
    with pytest.raises(ValueError, match="non-empty"):
        sample_c_output(c_output, 1.0, 1.0)


def test_plot_c_output(c_output):
    mpl = pytest.importorskip("matplotlib", reason="matplotlib not installed (pip install "
                              "matplotlib)")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    ax = plot_c_output(c_output, labels=["x", "v"], mark_steps=True)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["x", "v"]
    assert len(ax.lines) == 4                       # two curves + two sets of step marks
    ax2 = plot_c_output(c_output, 0, 5, components=1, labels=["x", "v"])
    assert ax2.lines[0].get_label() == "v"
    with pytest.raises(ValueError, match="labels"):
        plot_c_output(c_output, components=[0, 1], labels=["only one"])
    plt.close("all")
