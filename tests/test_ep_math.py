"""EP's mathematics: the state gradient, the closed-interval derivative, and EP -> exact gradient."""
import numpy as np
import pytest

from conftest import Problem, central_differences
from suite.algorithms.energy import Pull, constants, energy, state_gradient
from suite.engine import glorot_layers


def test_state_gradient_is_the_gradient_of_F():
    """dF/ds written by hand (docs/method.md §1) equals autodiff of the energy F = E + beta C + pull."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    p = Problem(seed=3)
    params = jax.tree_util.tree_map(jnp.asarray, p.params)
    x, y = jnp.asarray(p.x), jnp.asarray(p.y)
    s = tuple(jnp.asarray(a) * 1.2 - 0.1 for a in p.s0)  # some states outside [0, 1]
    pull = Pull(0.3, tuple(jnp.asarray(a) for a in p.s1))
    auto = jax.grad(lambda s: jnp.sum(energy(jnp, params, x, s, 0.7, y, pull)))(s)
    hand = state_gradient(params, constants(params, x), s, 0.7, y, pull)
    for a, h in zip(auto, hand):
        np.testing.assert_allclose(np.asarray(h), np.asarray(a), atol=1e-12)


def test_states_starting_at_zero_move(engines, problem):
    """rho'(0) = 1 (closed interval): plain EP from a zero start is not frozen."""
    p = problem
    zeros = tuple(np.zeros_like(s) for s in p.s0)
    after = engines("numpy").relax(p.params, p.x, zeros, 1)
    assert all(np.max(a) > 0 for a in after)


def _fixed_point_cost(engine, params, x, y, steps=600):
    s0 = tuple(np.zeros((x.shape[0], b.shape[0])) for b in params.biases)
    s = engine.relax(params, x, s0, steps)
    return np.sum((s[-1] - y) ** 2) / x.shape[0], s


def test_symmetric_ep_matches_the_exact_gradient(engines):
    """docs/method.md §2: as beta -> 0 at a fixed point, the EP update -> -eta dC(s*)/dtheta.

    The exact gradient is a central finite difference of the cost at the relaxed fixed point."""
    engine = engines("numpy")
    rng = np.random.default_rng(7)
    sizes = (6, 5, 4, 3)
    params = glorot_layers(rng, sizes)
    params = params._replace(biases=tuple(rng.uniform(0.1, 0.4, b.shape) for b in params.biases))
    x = rng.random((4, sizes[0]))
    y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], 4)]
    _, s_free = _fixed_point_cost(engine, params, x, y)
    beta = 1e-4
    s_plus = engine.relax(params, x, s_free, 600, beta=beta, y=y)
    s_minus = engine.relax(params, x, s_free, 600, beta=-beta, y=y)
    ones = (1.0,) * (len(sizes) - 1)
    zero = glorot_layers(rng, sizes)._replace(weights=tuple(0 * w for w in params.weights))
    step = engine.ep_update(zero, x, s_plus, s_minus, 2 * beta, ones)  # eta = 1, from theta = 0
    ep_direction = np.concatenate([np.ravel(a) for group in step for a in group])

    exact = -central_differences(params, lambda shifted: _fixed_point_cost(engine, shifted, x, y)[0])
    assert np.linalg.norm(exact) > 1e-3  # a gradient that could disagree
    cosine = ep_direction @ exact / (np.linalg.norm(ep_direction) * np.linalg.norm(exact))
    assert cosine >= 0.999, cosine


def test_relaxation_equals_the_general_step_repeated(problem):
    """relax() switches to the in-range form after the first step; from a start outside [0, 1]
    it must still equal the general docs/method.md §1 step applied every time."""
    import backends
    from suite.algorithms.energy import relax, rho
    p, bk = problem, backends.get("numpy", "float64")
    start = tuple(a * 1.4 - 0.2 for a in p.s0)
    pull = Pull(0.3, p.s1)
    want = start
    const = constants(p.params, p.x)
    for _ in range(30):
        grads = state_gradient(p.params, const, want, 0.7, p.y, pull)
        want = tuple(rho(s - 0.5 * g) for s, g in zip(want, grads))
    got = relax(bk, p.params, p.x, start, 30, 0.5, 0.7, p.y, pull)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, atol=1e-13)
    for a, b in zip(relax(bk, p.params, p.x, start, 0, 0.5), start):  # zero steps: the start itself
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["numpy", "torch", "jax"])
def test_a_start_in_range_skips_nothing(engines, problem, name):
    """start_in_range=True (every step in the in-range form) gives the states the general first step
    gives, from a start inside [0, 1]; the torch backend's fused in-range form included."""
    pytest.importorskip(name)
    from suite.algorithms.energy import relax
    p, engine = problem, engines(name)
    bk = engine.backend
    args = bk.asarray((p.params, p.x, p.s0))  # p.s0 is uniform in [0, 1)
    pull = Pull(0.3, bk.asarray(p.s1))
    general = relax(bk, *args, 12, 0.5, 0.7, bk.asarray(p.y), pull)
    in_range = relax(bk, *args, 12, 0.5, 0.7, bk.asarray(p.y), pull, start_in_range=True)
    for a, b in zip(bk.to_numpy(in_range), bk.to_numpy(general)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def _generic_step_torch(dtype="float64"):
    """The torch backend with the generic in-range step (fori_loop of the step in energy.relax)."""
    import backends
    from backends.base import Backend

    class Generic(type(backends.get("torch", dtype))):
        relax_in_range = Backend.relax_in_range
    return Generic(dtype)


@pytest.mark.parametrize("sizes", [(9, 6, 3), (9, 6, 5, 3), (9, 6, 5, 4, 3), (9, 7, 6, 5, 4, 3)])
@pytest.mark.parametrize("nudged", [False, True])
def test_the_in_place_relaxation_is_the_generic_step(sizes, nudged):
    """backends.inplace (odd and even layers in two buffers, one product per layer; torch's in-range
    step) gives the states of the generic step, at every depth (two to five layers of states), free
    and nudged with a pull, over an odd and an even number of steps."""
    pytest.importorskip("torch")
    import backends
    from suite.algorithms.energy import relax
    in_place, generic = backends.get("torch", "float64"), _generic_step_torch()
    p = Problem(seed=5, sizes=sizes)
    params, x, s0, y, f = in_place.asarray((p.params, p.x, p.s0, p.y, p.s1))
    nudging = dict(beta=0.7, y=y, pull=Pull(0.3, f)) if nudged else {}
    for steps in (1, 6, 7):
        got, want = (relax(bk, params, x, s0, steps, 0.5, start_in_range=True, kappa=0.9, **nudging)
                     for bk in (in_place, generic))
        for a, b in zip(in_place.to_numpy(got), generic.to_numpy(want)):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
