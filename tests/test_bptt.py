"""BPTT: the exact gradient through the relaxation, checked against finite differences, and the
gradient EP's update approaches at small symmetric beta on a converged net."""
import numpy as np
import pytest

from conftest import AVAILABLE
from suite import data
from suite.algorithms import exact
from suite.config import ConfigError, RunConfig
from suite.engine import Engine, glorot_layers, one_hot
from suite.run import train_and_evaluate

AUTODIFF = [name for name in AVAILABLE if name in ("torch", "jax")]
SIZES, EPS = (6, 5, 4, 3), 0.5


def problem(seed=0, batch=4):
    """A tiny net with nonzero biases: with zero biases the first steps from zeros sit exactly on the
    clip's kink (u = 0), where the cost has no derivative for autodiff to agree with."""
    rng = np.random.default_rng(seed)
    params = glorot_layers(rng, SIZES)
    params = params._replace(biases=tuple(rng.uniform(-0.2, 0.2, b.shape) for b in params.biases))
    return params, rng.uniform(0, 1, (batch, SIZES[0])), one_hot(rng.integers(0, 3, batch), 3).astype(np.float64)


def reference_cost(params, x, y, steps):
    """Batch mean of ||s_L - y||^2 after `steps` free steps from zeros, by the NumPy reference."""
    zeros = [np.zeros((x.shape[0], n)) for n in SIZES[1:]]
    s = Engine("numpy", "float64").relax(params, x, zeros, steps, EPS)
    return np.sum((s[-1] - y) ** 2) / x.shape[0]


def flat(layers):
    return np.concatenate([np.ravel(a) for a in (*layers.weights, *layers.biases)])


def bptt_gradient(backend, params, x, y, steps):
    engine = Engine(backend, "float64")
    return flat(engine._numpy_call(engine.compiled(exact.gradients, steps=steps, eps=EPS), params, x, y))


@pytest.mark.parametrize("backend", AUTODIFF)
def test_bptt_gradient_equals_finite_differences_of_the_cost_after_t_steps(backend):
    params, x, y = problem()
    steps, h = 6, 1e-6
    numeric = []
    for group in ("weights", "biases"):
        for l, array in enumerate(getattr(params, group)):
            for index in np.ndindex(array.shape):
                def shifted(delta):
                    changed = [a.copy() for a in getattr(params, group)]
                    changed[l][index] += delta
                    return reference_cost(params._replace(**{group: tuple(changed)}), x, y, steps)
                numeric.append((shifted(h) - shifted(-h)) / (2 * h))
    exact = bptt_gradient(backend, params, x, y, steps)
    np.testing.assert_allclose(exact, numeric, atol=1e-7)
    assert np.abs(exact).max() > 1e-3  # a gradient that says something


@pytest.mark.parametrize("backend", AUTODIFF)
def test_ep_at_small_symmetric_beta_aligns_with_bptt_on_a_converged_net(backend):
    params, x, y = problem(seed=1)
    engine, steps, beta = Engine("numpy", "float64"), 300, 1e-3
    zeros = [np.zeros((x.shape[0], n)) for n in SIZES[1:]]
    s_neg = engine.relax(params, x, zeros, steps, EPS)
    assert max(np.abs(a - b).max() for a, b in zip(engine.relax(params, x, s_neg, 1, EPS), s_neg)) < 1e-10
    s_plus, s_minus = (engine.relax(params, x, s_neg, steps, EPS, b, y) for b in (beta, -beta))
    updated = engine.ep_update(params, x, s_plus, s_minus, 2 * beta, (1.0,) * 3)
    ep_step = flat(updated) - flat(params)  # lr 1: -dC/dtheta, as EP estimates it
    gradient = bptt_gradient(backend, params, x, y, steps)
    cosine = -ep_step @ gradient / (np.linalg.norm(ep_step) * np.linalg.norm(gradient))
    assert cosine > 0.99


def test_bptt_needs_autodiff_and_says_so():
    with pytest.raises(ConfigError, match="backend: 'numpy' is not allowed; bptt differentiates through its "
                                          "computation and needs autodiff: use torch or jax"):
        RunConfig(algorithm="bptt", backend="numpy")
    params, x, y = problem()
    with pytest.raises(exact.NeedsAutodiff, match="numpy backend does not have"):
        exact.gradients(Engine("numpy").backend, params, x, y, 3, EPS)


@pytest.mark.parametrize("backend", AUTODIFF)
def test_bptt_trains_the_energy_net(backend):
    # float64: in float32 rounding alone moved the drop by 0.03 between backends, half the margin
    cfg = RunConfig(algorithm="bptt", backend=backend, dataset="synthetic", sizes=(64, 16, 10), lrs=(0.5, 0.25),
                    train_size=400, epochs=3, T_neg=10, dtype="float64")
    rows = train_and_evaluate(cfg, data.load("synthetic")).rows
    train = {r["epoch"]: r["error"] for r in rows if r["split"] == "train" and r["mode"] == "relax@10"}
    assert train[3] < train[0] - 0.25, train
