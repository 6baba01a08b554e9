"""docs/method.md §2: Equilibrium Propagation's free phase, nudged phase(s) and local update."""
from __future__ import annotations

from . import diagnostics
from .algorithm import ENERGY_FIELDS, Algorithm, EPHyper, TrainState, contrastive_update, relaxation
from .energy import Layers, Pull, constants, relax, rho, zero_state
from .inference import Model


def ep_update(backend, params: Layers, x, s_pos, s_neg, beta, lrs) -> Layers:
    """theta += eta_l / beta * mean_batch[corr(s_pos) - corr(s_neg)]: the contrastive, local rule,
    with corr_l = rho(s_{l-1})^T rho(s_l) for W_l and rho(s_l) for b_l. The first layer's input x
    is the same in both phases, so its contrast is one product, rho(x)^T (rho(s_pos_1) - rho(s_neg_1));
    each step size eta_l / (beta * batch) scales a (batch, n) factor, not the larger product, and
    the product is added to W_l by the backend (in place where it can: params are given away)."""
    xp, batch, add = backend.xp, x.shape[0], backend.add_product
    pos, neg = [rho(sl) for sl in s_pos], [rho(sl) for sl in s_neg]
    rates = [lr / (beta * batch) for lr in lrs]
    first = add(params.weights[0], rho(x).T, rates[0] * (pos[0] - neg[0]))
    others = [add(add(w, (r * a).T, b), (-r * c).T, d)
              for w, r, a, b, c, d in zip(params.weights[1:], rates[1:], pos, pos[1:], neg, neg[1:])]
    biases = tuple(p + r * xp.sum(a - b, axis=0) for p, r, a, b in zip(params.biases, rates, pos, neg))
    return Layers((first, *others), biases)


def phases(backend, params: Layers, x, y, s_init, sign, hp: EPHyper, symmetric: bool,
           pull: Pull | None = None, start_in_range: bool = True):
    """Free phase, then nudged phase(s), sharing one input drive and transposed weights (x and the
    weights do not change between them). start_in_range: s_init lies in [0, 1] (zeros, EP's earlier
    fixed points; not IEP's prediction). Returns s_neg and the (s_a, s_b, beta_ab) the update uses."""
    const = constants(params, x, backend.transpose)
    relaxed = True if start_in_range else hp.T_neg > 0  # s_neg lies in [0, 1] once it has relaxed

    def nudged(beta):
        return relax(backend, params, x, s_neg, hp.T_pos, hp.eps, beta, y, pull, const, relaxed, hp.kappa)

    s_neg = relax(backend, params, x, s_init, hp.T_neg, hp.eps, pull=pull, const=const,
                  start_in_range=start_in_range, kappa=hp.kappa)
    if symmetric:
        return s_neg, nudged(hp.beta), nudged(-hp.beta), 2.0 * hp.beta
    beta = sign * hp.beta
    return s_neg, nudged(beta), s_neg, beta


def train_step(backend, params: Layers, x, y, s_init, sign, hp: EPHyper, symmetric: bool,
               pull: Pull | None = None, start_in_range: bool = True):
    """One EP minibatch: returns the updated parameters, the free fixed point s_neg and the nudged
    state (with +beta when symmetric, else with the minibatch's signed beta)."""
    s_neg, s_a, s_b, beta = phases(backend, params, x, y, s_init, sign, hp, symmetric, pull, start_in_range)
    return ep_update(backend, params, x, s_a, s_b, beta, hp.lrs), s_neg, s_a


def directions(backend, params: Layers, x, y, s_neg, s_plus, s_minus, beta) -> dict:
    """EP's update per unit learning rate (an estimate of -dC/dtheta) from each nudging: +beta and
    -beta against the free state, and symmetric. ep_update adds to the parameters it is given (in
    place on torch): here, fresh zeros, so what it returns is the update itself."""
    ones = (1.0,) * len(params.weights)
    pairs = {"+beta": (s_plus, s_neg, beta), "-beta": (s_minus, s_neg, -beta), "symmetric": (s_plus, s_minus, 2 * beta)}
    return {name: ep_update(backend, diagnostics.zeros_like(backend, params), x, a, b, signed, ones)
            for name, (a, b, signed) in pairs.items()}


def probe(backend, model: Model, x, y, hp: EPHyper, lam, *, steps: int) -> dict:
    """The free state's saturation and, where the backend has autodiff, the cosine of EP's update
    from each nudging with the exact gradient through `steps` free steps from zeros."""
    xp, energy = backend.xp, model.energy
    sizes = [x.shape[1]] + [b.shape[0] for b in energy.biases]
    s_neg, s_plus, s_minus, _ = phases(backend, energy, x, y, zero_state(backend, sizes, x.shape[0]), 1.0, hp, True)
    found = diagnostics.saturation(xp, s_neg)
    if backend.grad is not None:  # the oracle needs autodiff
        descent = diagnostics.descent(backend, energy, x, y, steps, hp)
        for name, update in directions(backend, energy, x, y, s_neg, s_plus, s_minus, hp.beta).items():
            found[f"cosine EP {name} / BPTT"] = diagnostics.cosines(xp, update, descent)
    return found


def step(backend, state: TrainState, x, y, idx, sign, hp: EPHyper, lam, *, init: str, symmetric: bool) -> TrainState:
    """A minibatch from zeros, or from each example's last free fixed point (init 'persistent')."""
    energy = state.model.energy
    if init == "persistent":
        s_init = tuple(backend.take_rows(buf, idx) for buf in state.persistent)
    else:
        sizes = [x.shape[1]] + [b.shape[0] for b in energy.biases]
        s_init = zero_state(backend, sizes, x.shape[0])
    energy, s_neg, _ = train_step(backend, energy, x, y, s_init, sign, hp, symmetric)
    persistent = state.persistent
    if init == "persistent":
        persistent = tuple(backend.set_rows(buf, idx, s) for buf, s in zip(persistent, s_neg))
    return TrainState(Model(energy, None), persistent)


def multiply_adds(products, cfg) -> int:
    """The input drive, both phases' steps and the update."""
    return relaxation(products, cfg.T_neg + cfg.T_pos * (2 if cfg.symmetric else 1)) + contrastive_update(products)


ALGORITHM = Algorithm(
    name="ep", summary="Equilibrium Propagation", nets=("energy",), inits=("zeros", "persistent"),
    mode_kinds=("relax",), primary_kinds=("relax",), own_kind="relax", reads=ENERGY_FIELDS,
    step=step, multiply_adds=multiply_adds, static=lambda cfg: {"init": cfg.init, "symmetric": cfg.symmetric},
    probe=probe, cost_role="relaxation", colour="tab:blue")
