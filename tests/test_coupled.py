"""Coupled learning (suite/algorithms/coupled.py): its clamped phase, its update as the exact gradient
of its contrastive objective, the backends' agreement, and a run through the whole harness."""
import numpy as np
import pytest

from conftest import AVAILABLE, central_differences
from suite.algorithms import coupled
from suite.algorithms.algorithm import EPHyper
from suite.algorithms.energy import Layers, constants, energy, state_gradient
from suite.config import ConfigError, RunConfig
from suite.engine import Engine, glorot_layers

SIZES, STEPS, EPS = (6, 5, 4, 3), 600, 0.5


def problem(seed=7, batch=4):
    """A tiny net whose states sit inside (0, 1), where the fixed points are smooth in the weights."""
    rng = np.random.default_rng(seed)
    params = glorot_layers(rng, SIZES)
    params = params._replace(biases=tuple(rng.uniform(0.1, 0.4, b.shape) for b in params.biases))
    return params, rng.random((batch, SIZES[0])), np.eye(SIZES[-1])[rng.integers(0, SIZES[-1], batch)]


def fixed_points(params, x, output=None):
    """The free fixed point, or the hidden layers' with the output held at `output`."""
    bk = Engine("numpy", "float64").backend
    zeros = tuple(np.zeros((x.shape[0], n)) for n in SIZES[1:])
    free = Engine("numpy", "float64").relax(params, x, zeros, STEPS, EPS)
    if output is None:
        return free
    return coupled.clamped(bk, params, x, free, output, STEPS, EPS, constants(params, x))


def objective_gradient(params, x, clamp_of, scale, h=1e-6):
    """d/dtheta of [E(clamped fixed point) - E(free fixed point)] / scale (batch mean), by central
    finite differences, with the clamped output value fixed at its value for params."""
    output = clamp_of(fixed_points(params, x)[-1])

    def objective(p):
        return (np.mean(energy(np, p, x, fixed_points(p, x, output))) - np.mean(energy(np, p, x, fixed_points(p, x))))

    return central_differences(params, objective, h) / scale


def unit_update(params, x, y, clamp_of_y, scale):
    """The algorithm's update per unit learning rate, from zero parameters added to."""
    bk = Engine("numpy", "float64").backend
    hp = EPHyper(EPS, 0.5, STEPS, STEPS, (1.0,) * (len(SIZES) - 1))
    zeros = Layers(*(tuple(np.zeros_like(a) for a in group) for group in params))
    step = coupled.update(bk, params, x, hp, clamp_of_y(y), scale, onto=zeros)
    return np.concatenate([np.ravel(a) for group in step for a in group])


def check_update_is_minus_the_objective_gradient(clamp_of_y, scale):
    params, x, y = problem()
    update = unit_update(params, x, y, clamp_of_y, scale)
    exact = -objective_gradient(params, x, clamp_of_y(y), scale)
    assert np.linalg.norm(exact) > 1e-2  # a gradient that could disagree
    np.testing.assert_allclose(update, exact, rtol=0, atol=1e-6 * np.max(np.abs(exact)) + 1e-8)


def test_the_clamped_phase_holds_the_output_and_relaxes_the_rest():
    params, x, y = problem()
    held = fixed_points(params, x, output=0.5 * y + 0.25)
    np.testing.assert_array_equal(held[-1], 0.5 * y + 0.25)
    bk, const = Engine("numpy", "float64").backend, constants(params, x)
    further = coupled.clamped(bk, params, x, held, held[-1], 1, EPS, const)
    assert max(np.max(np.abs(a - b)) for a, b in zip(further, held)) < 1e-12  # the hidden layers' fixed point
    free_step = [np.clip(s - EPS * g, 0, 1) for s, g in zip(held, state_gradient(params, const, held))]
    assert np.max(np.abs(free_step[-1] - held[-1])) > 1e-3  # the output is held away from its own


@pytest.mark.parametrize("beta", [0.5, 0.05])
def test_coupled_learning_descends_its_contrastive_objective(beta):
    """docs/method.md §4b: the update is -(1/beta) d/dtheta [E(clamped) - E(free)] at the two fixed
    points, the clamped output held at s_L + beta (y - s_L)."""
    check_update_is_minus_the_objective_gradient(lambda y: lambda out: out + beta * (y - out), beta)


def test_coupled_learning_refuses_a_clamp_past_the_target():
    with pytest.raises(ConfigError, match="beta: 1.5 is not allowed; coupled learning clamps the output"):
        RunConfig(algorithm="coupled", beta=1.5)
    assert RunConfig(algorithm="coupled", beta=1.0).beta == 1.0


@pytest.mark.parametrize("algorithm", ["coupled", "contrastive"])
@pytest.mark.parametrize("name", [n for n in AVAILABLE if n != "numpy"])
def test_the_backends_train_the_clamping_algorithms_as_numpy_does(name, algorithm):
    """Three minibatches of training on torch and jax equal the NumPy reference (float64)."""
    from suite.algorithms.algorithm import TrainState
    from suite.algorithms.inference import Model
    from suite.engine import static_options, train_chunk
    params, _, _ = problem()
    rng = np.random.default_rng(1)
    X, Y = rng.random((12, SIZES[0])), np.eye(SIZES[-1])[rng.integers(0, SIZES[-1], 12)]
    cfg = RunConfig(algorithm=algorithm, sizes=SIZES, lrs=(0.1, 0.05, 0.02), T_neg=9, T_pos=4, beta=0.4)
    hp, idx = EPHyper(cfg.eps, cfg.beta, cfg.T_neg, cfg.T_pos, cfg.lrs), np.arange(12).reshape(3, 4)
    found = {}
    for backend in ("numpy", name):
        engine = Engine(backend, "float64")
        bk = engine.backend
        chunk = engine.compiled(train_chunk, **static_options(cfg))
        state = chunk(bk.asarray(TrainState(Model(params, None), None)), bk.asarray(X), bk.asarray(Y),
                      bk.index_array(idx), bk.asarray(np.ones(3)), hp, 0.0)
        found[backend] = np.concatenate([np.ravel(a) for group in bk.to_numpy(state.model.energy) for a in group])
    np.testing.assert_allclose(found[name], found["numpy"], rtol=0, atol=1e-10)
    assert np.max(np.abs(found["numpy"] - np.concatenate([np.ravel(a) for g in params for a in g]))) > 1e-4


CLAMPING_STUDY = """name = "clamping"
ladder = [1, 4]
residual_steps = 4
diagnostics = true
[base]
dataset = "synthetic"
backend = "BACKEND"
sizes = [64, 16, 10]
train_size = 200
epochs = 2
T_neg = 6
T_pos = 3
[[runs]]
algorithm = ["ep", "contrastive", "coupled"]
seed = [0]
[[claims]]
says = "matches"
where = {algorithm = "coupled"}
than = {algorithm = "ep"}
pair_on = ["sizes"]
"""


def test_the_clamping_algorithms_run_through_the_whole_harness(tmp_path):
    """A study of both, with EP: rows of their own mode at every budget, their alignment with the
    exact gradient, a claim judged, the summary and the figures."""
    from suite import records
    from suite.plots import draw_all
    from test_sweeps import sweep_here
    backend = next((n for n in ("jax", "torch") if n in AVAILABLE), None)
    if backend is None:
        pytest.skip("the alignment needs an autodiff backend")
    sweep_here(CLAMPING_STUDY.replace("BACKEND", backend), tmp_path)
    rows = records.load_table(tmp_path / "clamping")
    final = rows[(rows["epoch"] == 2) & (rows["split"] == "test")]
    for algorithm in ("contrastive", "coupled"):
        assert set(final.loc[final["algorithm"] == algorithm, "mode"]) == {"relax@1", "relax@4", "relax@6"}
    quantities = set(records.load_table(tmp_path / "clamping", "diagnostics")["quantity"])
    assert {"cosine contrastive / BPTT", "cosine coupled / BPTT", "cosine EP +beta / BPTT"} <= quantities
    summary = (tmp_path / "clamping" / "summary.md").read_text()
    assert "COUPLED" in summary and "CONTRASTIVE" in summary
    assert any(verdict in summary for verdict in ("supported", "refuted", "inconclusive"))  # the claim, judged
    assert draw_all(tmp_path / "clamping")
