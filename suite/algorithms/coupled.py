"""docs/method.md §4b: coupled learning (Stern et al. 2021). The free phase is EP's; then the output is
clamped a fraction beta of the way to the target, s_L <- s_L + beta (y - s_L), and the hidden layers
relax with it held there. The update is EP's contrastive rule between the clamped and the free state,
divided by beta. Contrastive learning (contrastive.py) is the same with the output clamped to y."""
from __future__ import annotations

from typing import Callable

from . import diagnostics
from .algorithm import Algorithm, EPHyper, TrainState, contrastive_update, relaxation
from .energy import Layers, constants, relax, rho, state_gradient, zero_state
from .ep import ep_update
from .inference import Model

#: clamp_of(y, hp) -> (clamp, scale): the output's clamped value as a function of its free value, and
#: what the contrast is divided by.
ClampOf = Callable


def clamped(backend, params: Layers, x, s, output, steps, eps, const, kappa=1.0):
    """`steps` free steps of the hidden layers from s, with the output layer held at `output` (in
    [0, 1], as s is, so every step takes the in-range form)."""
    def body(_, s):
        grads = state_gradient(params, const, s, in_range=True, kappa=kappa)
        return tuple(rho(sl - eps * g) for sl, g in zip(s[:-1], grads[:-1])) + (output,)
    return backend.fori_loop(steps, body, tuple(s[:-1]) + (output,))


def phases(backend, params: Layers, x, hp: EPHyper, clamp: Callable):
    """The free phase from zeros, and the clamped phase from its fixed point with the output held at
    clamp(free output): (free, clamped)."""
    const = constants(params, x, backend.transpose)
    sizes = [x.shape[1]] + [b.shape[0] for b in params.biases]
    free = relax(backend, params, x, zero_state(backend, sizes, x.shape[0]), hp.T_neg, hp.eps, const=const,
                 start_in_range=True, kappa=hp.kappa)
    return free, clamped(backend, params, x, free, clamp(free[-1]), hp.T_pos, hp.eps, const, hp.kappa)


def update(backend, params: Layers, x, hp: EPHyper, clamp: Callable, scale, onto: Layers) -> Layers:
    """onto plus the contrastive update of params from its two phases: lr / (scale B) times the
    contrast. onto = params: a training step (params are given away); zeros: the update itself."""
    free, held = phases(backend, params, x, hp, clamp)
    return ep_update(backend, onto, x, held, free, scale, hp.lrs)


def step_of(clamp_of: ClampOf) -> Callable:
    """The training step (algorithm.Algorithm.step) of a clamping algorithm."""
    def step(backend, state: TrainState, x, y, idx, sign, hp: EPHyper, lam) -> TrainState:
        energy = state.model.energy
        return TrainState(Model(update(backend, energy, x, hp, *clamp_of(y, hp), onto=energy), None), None)
    return step


def probe_of(name: str, clamp_of: ClampOf) -> Callable:
    """The probe of a clamping algorithm: the free state's saturation and, with autodiff, the cosine
    of its update per unit rate with the exact gradient through the free steps."""
    def probe(backend, model: Model, x, y, hp: EPHyper, lam, *, steps: int) -> dict:
        xp, energy = backend.xp, model.energy
        clamp, scale = clamp_of(y, hp)
        free, held = phases(backend, energy, x, hp, clamp)
        found = diagnostics.saturation(xp, free)
        if backend.grad is not None:  # the oracle needs autodiff
            moved = ep_update(backend, diagnostics.zeros_like(backend, energy), x, held, free, scale,
                              (1.0,) * len(energy.weights))
            found[f"cosine {name} / BPTT"] = diagnostics.cosines(xp, moved, diagnostics.descent(backend, energy, x, y,
                                                                                            steps, hp))
        return found
    return probe


def multiply_adds(products, cfg) -> int:
    """Both phases' steps, the input drive once, and the update."""
    return relaxation(products, cfg.T_neg + cfg.T_pos) + contrastive_update(products)


#: What a clamping algorithm reads (contrastive learning: all but beta).
READS = frozenset({"T_neg", "T_pos", "beta", "eps", "kappa", "init"})


def coupled_clamp(y, hp: EPHyper):
    return (lambda out: out + hp.beta * (y - out)), hp.beta


def problems(cfg) -> list:
    return [] if cfg.beta <= 1 else [("beta", "coupled learning clamps the output a fraction beta of the way to "
                                              "the target, which beta > 1 overshoots: give 0 < beta <= 1")]


ALGORITHM = Algorithm(
    name="coupled", summary="coupled learning: the output clamped a fraction beta of the way to the target",
    nets=("energy",), inits=("zeros",), mode_kinds=("relax",), primary_kinds=("relax",), own_kind="relax",
    reads=READS, step=step_of(coupled_clamp), multiply_adds=multiply_adds,
    probe=probe_of("coupled", coupled_clamp), problems=problems, colour="tab:red")
