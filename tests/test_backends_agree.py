"""Every backend computes what the NumPy reference computes (docs/method.md §1-4), in float32 and float64."""
import numpy as np
import pytest

from conftest import FRAMEWORKS
from suite.algorithms import energy

TOLERANCE = {"float32": 1e-5, "float64": 1e-10}


def assert_trees_close(got, want, tol):
    got, want = np.concatenate([np.ravel(a) for a in _leaves(got)]), np.concatenate(
        [np.ravel(a) for a in _leaves(want)])
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= tol


def _leaves(tree):
    if isinstance(tree, (tuple, list)):
        return [leaf for t in tree for leaf in _leaves(t)]
    return [np.asarray(tree, dtype=np.float64)]


pytestmark = pytest.mark.parametrize("dtype", ["float32", "float64"])


@pytest.mark.parametrize("name", FRAMEWORKS)
@pytest.mark.parametrize("dynamics", ["free", "nudged", "nudged, kappa 0.4"])
def test_relaxation_50_steps(engines, problem, name, dtype, dynamics):
    p = problem
    kwargs = {"free": {}, "nudged": dict(beta=0.7, y=p.y, lam=0.3, f=p.s1),
              "nudged, kappa 0.4": dict(beta=0.7, y=p.y, lam=0.3, f=p.s1, kappa=0.4)}[dynamics]
    want = engines("numpy", dtype).relax(p.params, p.x, p.s0, 50, **kwargs)
    got = engines(name, dtype).relax(p.params, p.x, p.s0, 50, **kwargs)
    assert_trees_close(got, want, TOLERANCE[dtype])
    assert np.max(np.abs(want[0] - p.s0[0])) > 0.01  # the states really moved


@pytest.mark.parametrize("name", FRAMEWORKS)
def test_ep_update(engines, problem, name, dtype):
    p = problem
    want = engines("numpy", dtype).ep_update(p.params, p.x, p.s1, p.s0, -0.5, p.lrs)
    got = engines(name, dtype).ep_update(p.params, p.x, p.s1, p.s0, -0.5, p.lrs)
    assert_trees_close(got, want, TOLERANCE[dtype])


@pytest.mark.parametrize("name", FRAMEWORKS)
@pytest.mark.parametrize("global_loss", [False, True])
def test_initializer_update(engines, problem, name, dtype, global_loss):
    p = problem
    want = engines("numpy", dtype).initializer_update(p.ff_params, p.x, p.s0, p.lrs, global_loss)
    got = engines(name, dtype).initializer_update(p.ff_params, p.x, p.s0, p.lrs, global_loss)
    assert_trees_close(got, want, TOLERANCE[dtype])


@pytest.mark.parametrize("name", FRAMEWORKS)
@pytest.mark.parametrize("loss", ["squared", "cross_entropy"])
def test_backprop_gradient(engines, problem, name, dtype, loss):
    """The framework's autodiff agrees with the hand-derived backward pass of the reference."""
    p = problem
    want = engines("numpy", dtype).bp_gradients(p.ff_params, p.x, p.y, loss)
    got = engines(name, dtype).bp_gradients(p.ff_params, p.x, p.y, loss)
    assert_trees_close(got, want, TOLERANCE[dtype])
    assert max(np.max(np.abs(g)) for g in _leaves(want)) > 1e-3  # a gradient that could disagree


def test_jax_step_count_is_traced(engines, problem, dtype):
    """Changing T (or beta, lam) reuses the compiled relaxation instead of compiling again."""
    if "jax" not in FRAMEWORKS:
        pytest.skip("jax is not installed")
    engine, p = engines("jax", dtype), problem
    relax = engine.compiled(energy.relax)
    engine.relax(p.params, p.x, p.s0, 3, beta=0.1, y=p.y)
    compiled = relax._cache_size()
    for steps, beta in ((7, 0.2), (50, -0.4)):
        engine.relax(p.params, p.x, p.s0, steps, beta=beta, y=p.y)
    assert relax._cache_size() == compiled


@pytest.mark.parametrize("name", FRAMEWORKS)
@pytest.mark.parametrize("shape", [(1, 5), (2, 5), (7, 5), (1025, 257)])  # the last: jax updates it by halves
def test_add_product(engines, name, dtype, shape):
    """c + a @ b, whatever in-place or blockwise form a backend computes it in."""
    rng = np.random.default_rng(shape[0])
    c, a, b = rng.normal(size=shape), rng.normal(size=(shape[0], 3)), rng.normal(size=(3, shape[1]))
    backend = engines(name, dtype).backend
    got = backend.add_product(*backend.asarray((c, a, b)))
    assert_trees_close(backend.to_numpy(got), c + a @ b, TOLERANCE[dtype])


@pytest.mark.parametrize("name", FRAMEWORKS)
@pytest.mark.parametrize("symmetric", [False, True])
def test_ep_minibatches_in_a_row(problem, name, dtype, symmetric):
    """Three EP minibatches, the weights updated in place between them, as the NumPy reference trains:
    what a backend reuses across a minibatch's phases (torch: the step's factors) is never stale."""
    import backends
    from suite.algorithms import ep
    from suite.algorithms.energy import zero_state
    hp = ep.EPHyper(0.5, 0.7, 9, 4, problem.lrs)

    def trained(backend):
        params, x, y = backend.asarray((problem.params, problem.x, problem.y))
        for sign in (1.0, -1.0, 1.0):
            params, _, _ = ep.train_step(backend, params, x, y, zero_state(backend, problem.sizes, len(problem.x)),
                                         sign, hp, symmetric)
        return backend.to_numpy(params)

    assert_trees_close(trained(backends.get(name, dtype)), trained(backends.get("numpy", dtype)), TOLERANCE[dtype])
