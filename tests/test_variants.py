"""The variants a study can ask for, each checked against an independent computation: symmetric
nudging, a fixed nudging sign, the global initializer loss, the cross-entropy baseline, the local
initializer gradient, and torch.compile."""
import numpy as np
import pytest

import backends
from backends import tree_map
from conftest import AVAILABLE, FRAMEWORKS, Problem
from suite import data
from suite.algorithms import bp, ep, feedforward
from suite.algorithms.energy import rho
from suite.config import RunConfig
from suite.engine import Engine
from suite.run import Trainer


def flat(tree):
    leaves = []
    tree_map(lambda a: leaves.append(np.ravel(np.asarray(a, dtype=np.float64))), tree)
    return np.concatenate(leaves)


@pytest.mark.parametrize("name", AVAILABLE)
@pytest.mark.parametrize("symmetric, sign", [(True, -1.0), (False, -1.0), (False, 1.0)])
def test_ep_step_is_the_contrast_of_its_phases(engines, problem, name, symmetric, sign):
    """ep.train_step = theta + lr / beta_ab * (corr(s_a) - corr(s_b)), checked against each phase
    relaxed on its own (its own input drive) and the correlations of both phases computed here by
    hand, two products per layer. Symmetric: s_a, s_b relaxed from s_neg with +beta and -beta,
    beta_ab = 2 beta (the sign is unused); else s_a with sign * beta, s_b = s_neg."""
    p, numpy = problem, engines("numpy")
    beta, T_neg, T_pos = 0.3, 30, 6
    zeros = tuple(np.zeros_like(s) for s in p.s0)
    s_neg = numpy.relax(p.params, p.x, zeros, T_neg)
    if symmetric:
        s_a, s_b = (numpy.relax(p.params, p.x, s_neg, T_pos, beta=b, y=p.y) for b in (beta, -beta))
        beta_ab = 2 * beta
    else:
        s_a, s_b, beta_ab = numpy.relax(p.params, p.x, s_neg, T_pos, beta=sign * beta, y=p.y), s_neg, sign * beta
    want_w, want_b = [], []
    for l, lr in enumerate(p.lrs):
        below = [rho(p.x if l == 0 else s[l - 1]) for s in (s_a, s_b)]
        here = [rho(s[l]) for s in (s_a, s_b)]
        contrast_w = (below[0].T @ here[0] - below[1].T @ here[1]) / len(p.x)
        contrast_b = (here[0] - here[1]).mean(axis=0)
        want_w.append(p.params.weights[l] + lr / beta_ab * contrast_w)
        want_b.append(p.params.biases[l] + lr / beta_ab * contrast_b)

    engine = engines(name)
    hp = ep.EPHyper(0.5, beta, T_neg, T_pos, p.lrs)
    step = engine.compiled(ep.train_step, symmetric=symmetric)
    bk = engine.backend
    got, got_s_neg, got_s_a = bk.to_numpy(step(*bk.asarray((p.params, p.x, p.y, zeros)), sign, hp))
    np.testing.assert_allclose(flat(got), flat((want_w, want_b)), rtol=0, atol=1e-10)
    np.testing.assert_allclose(flat(got_s_neg), flat(s_neg), rtol=0, atol=1e-10)
    np.testing.assert_allclose(flat(got_s_a), flat(s_a), rtol=0, atol=1e-10)  # IEP's 'nudged' target
    assert np.max(np.abs(flat(got) - flat(p.params))) > 1e-4  # the update is not nothing


def signs_of_an_epoch(random_sign: bool) -> set:
    trainer = Trainer(RunConfig(dataset="synthetic", sizes=(64, 8, 10), train_size=400,
                                random_sign=random_sign), data.load("synthetic"))
    chunk, signs = trainer.chunk, []

    def recording(state, X, Y, idx, chunk_signs, hp, lam):
        signs.extend(np.asarray(chunk_signs).tolist())
        return chunk(state, X, Y, idx, chunk_signs, hp, lam)
    trainer.chunk = recording
    trainer.epoch()
    assert len(signs) == trainer.n_batches
    return set(signs)


def test_random_sign_false_always_nudges_with_plus_beta():
    assert signs_of_an_epoch(random_sign=False) == {1.0}
    assert signs_of_an_epoch(random_sign=True) == {-1.0, 1.0}


def short_training(cfg: RunConfig):
    """The model (NumPy) before and after one epoch of 25 minibatches on the synthetic set."""
    trainer = Trainer(cfg.replace(train_size=25 * cfg.batch_size), data.load("synthetic"))
    models = [tree_map(np.array, trainer.backend.to_numpy(trainer.state.model))]
    trainer.epoch()
    return models + [tree_map(np.array, trainer.backend.to_numpy(trainer.state.model))]


BASE = dict(dataset="synthetic", sizes=(64, 16, 10), dtype="float64", batch_size=20)


@pytest.mark.parametrize("cfg", [RunConfig(algorithm="bp", bp_loss="cross_entropy", lrs=(0.2, 0.2), **BASE),
                                 RunConfig(algorithm="iep", lam=0.5, T_neg=8, initializer_loss="global", **BASE)],
                         ids=["bp cross-entropy", "iep global initializer loss"])
def test_a_variant_trains_and_every_backend_agrees(cfg):
    ds = data.load("synthetic")
    x, y = ds.train.x[:200], np.eye(10)[ds.train.y[:200]]
    untrained, trained = short_training(cfg)

    def loss(model):
        if cfg.algorithm == "bp":
            return bp.loss(np, model.feedforward, x, y, "cross_entropy")
        targets = Engine("numpy", "float64").relax(model.energy, x, feedforward.predict(model.feedforward, x),
                                                   cfg.T_neg, lam=cfg.lam, f=feedforward.predict(model.feedforward, x))
        return feedforward.layer_loss(np, model.feedforward, x, targets)
    assert loss(trained) < 0.9 * loss(untrained), (loss(untrained), loss(trained))
    for name in FRAMEWORKS:
        np.testing.assert_allclose(flat(short_training(cfg.replace(backend=name))[1]), flat(trained),
                                   rtol=0, atol=1e-8, err_msg=name)


def test_the_local_initializer_gradient_stops_at_each_layer(problem):
    """The hand-derived local rule equals autodiff of the per-layer loss with each layer's input held
    constant (stop_gradient): sum_l 1/2 ||h(sg(f_{l-1}) Omega_l + c_l) - t_l||^2, batch mean."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    p = problem
    targets = p.s1

    def local_loss(params):
        total, f = 0.0, jnp.asarray(p.x)
        for w, c, t in zip(params.weights, params.biases, targets):
            f = feedforward.h(jax.lax.stop_gradient(f) @ w + c)
            total = total + 0.5 * jnp.sum((f - t) ** 2)
        return total / p.x.shape[0]
    want = jax.grad(local_loss)(jax.tree_util.tree_map(jnp.asarray, p.ff_params))
    got = feedforward.initializer_gradients(backends.get("numpy", "float64"), p.ff_params, p.x, targets,
                                            global_loss=False)
    np.testing.assert_allclose(flat(got), flat(want), rtol=0, atol=1e-12)
    global_grad = feedforward.initializer_gradients(backends.get("numpy", "float64"), p.ff_params, p.x, targets,
                                                    global_loss=True)
    assert np.max(np.abs(flat(global_grad) - flat(got))) > 1e-4  # the two rules differ: the test can tell


@pytest.mark.slow
def test_torch_compile_agrees_with_numpy():
    """torch.compile (backends.get('torch', compile=True)): a nudged relaxation; about 10 s to compile."""
    pytest.importorskip("torch")
    p = Problem()
    compiled = Engine(backends.get("torch", "float64", compile=True))
    got = compiled.relax(p.params, p.x, p.s0, 2, beta=0.5, y=p.y, lam=0.3, f=p.s1)
    want = Engine("numpy", "float64").relax(p.params, p.x, p.s0, 2, beta=0.5, y=p.y, lam=0.3, f=p.s1)
    np.testing.assert_allclose(flat(got), flat(want), rtol=0, atol=1e-12)


@pytest.mark.parametrize("target", ["free", "nudged"])
def test_the_initializer_regresses_to_its_target(engines, problem, target):
    """IEP's initializer_target: one step of the initializer towards s_neg ('free', the paper) or
    towards the nudged state ('nudged'), each relaxed here on its own."""
    from suite.algorithms import iep
    p, engine = problem, engines("numpy")
    lam, hp = 0.5, ep.EPHyper(0.5, 0.3, 6, 4, p.lrs)
    f = feedforward.predict(p.ff_params, p.x)
    s_neg = engine.relax(p.params, p.x, f, hp.T_neg, lam=lam, f=f)
    s_nudged = engine.relax(p.params, p.x, s_neg, hp.T_pos, beta=hp.beta, y=p.y, lam=lam, f=f)
    want = engine.initializer_update(p.ff_params, p.x, s_neg if target == "free" else s_nudged, p.lrs)
    other = engine.initializer_update(p.ff_params, p.x, s_nudged if target == "free" else s_neg, p.lrs)
    step = engine.compiled(iep.train_step, symmetric=False, global_loss=False, target=target)
    copies = tree_map(np.array, (p.params, p.ff_params))  # the step may update what it is given in place
    _, got = step(*copies, p.x, p.y, 1.0, hp, lam)
    np.testing.assert_allclose(flat(got), flat(want), rtol=0, atol=1e-10)
    assert np.max(np.abs(flat(got) - flat(other))) > 1e-6  # the two targets give two updates


@pytest.mark.parametrize("kappa", [1.0, 0.3, 0.0])
def test_kappa_weights_the_quadratic_term_of_the_energy(kappa):
    """dF/ds with kappa equals autodiff of the energy whose 1/2 ||s_l||^2 terms carry kappa."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from suite.algorithms.energy import Pull, constants, energy, state_gradient
    p = Problem(seed=4)
    params = jax.tree_util.tree_map(jnp.asarray, p.params)
    x, y, s = jnp.asarray(p.x), jnp.asarray(p.y), tuple(jnp.asarray(a) for a in p.s0)
    pull = Pull(0.2, tuple(jnp.asarray(a) for a in p.s1))
    auto = jax.grad(lambda s: jnp.sum(energy(jnp, params, x, s, 0.4, y, pull, kappa)))(s)
    hand = state_gradient(params, constants(params, x), s, 0.4, y, pull, kappa=kappa)
    np.testing.assert_allclose(flat(hand), flat(auto), rtol=0, atol=1e-12)
