"""docs/method.md §3: Initialized EP. A feedforward initializer predicts the fixed point; EP starts there."""
from __future__ import annotations

from . import diagnostics, ep, feedforward
from .algorithm import ENERGY_FIELDS, INITIALIZER_FIELDS, Algorithm, EPHyper, TrainState, backprop
from .energy import Layers, Pull
from .inference import Model


def train_step(backend, params: Layers, init_params: Layers, x, y, sign, hp: EPHyper, lam,
               symmetric: bool, global_loss: bool, target: str = "free"):
    """EP from the initializer's prediction (with the lam pull), then one initializer SGD step
    towards the free fixed point s_neg (target 'free', the paper) or the nudged state ('nudged')."""
    f = feedforward.predict(init_params, x)
    params, s_neg, s_nudged = ep.train_step(backend, params, x, y, f, sign, hp, symmetric, Pull(lam, f),
                                            start_in_range=False)
    targets = s_neg if target == "free" else s_nudged
    init_params = feedforward.initializer_update(backend, init_params, x, targets, hp.lrs, global_loss)
    return params, init_params


def step(backend, state: TrainState, x, y, idx, sign, hp: EPHyper, lam, *, symmetric: bool, global_loss: bool,
         target: str) -> TrainState:
    return TrainState(Model(*train_step(backend, *state.model, x, y, sign, hp, lam, symmetric, global_loss, target)),
                      None)


def probe(backend, model: Model, x, y, hp: EPHyper, lam, *, steps: int) -> dict:
    """The saturation of the free state relaxed from the initializer's guess, and the cosine of the
    local initializer gradient towards it with the global one (backprop through the initializer)."""
    f = feedforward.predict(model.feedforward, x)
    s_neg, _, _, _ = ep.phases(backend, model.energy, x, y, f, 1.0, hp, True, Pull(lam, f), False)
    local, whole = (feedforward.initializer_gradients(backend, model.feedforward, x, s_neg, g) for g in (False, True))
    return {**diagnostics.saturation(backend.xp, s_neg),
            "cosine initializer local / global": diagnostics.cosines(backend.xp, local, whole)}


ALGORITHM = Algorithm(
    name="iep", summary="EP with a feedforward initializer", nets=("energy", "feedforward"), inits=("forward",),
    mode_kinds=("ff", "ff+relax", "relax"), primary_kinds=("ff", "ff+relax"), own_kind="ff+relax",
    reads=ENERGY_FIELDS | INITIALIZER_FIELDS, step=step,
    multiply_adds=lambda products, cfg: ep.multiply_adds(products, cfg) + backprop(products),
    static=lambda cfg: {"symmetric": cfg.symmetric, "global_loss": cfg.initializer_loss == "global",
                        "target": cfg.initializer_target},
    probe=probe, cost_role="initializer", colour="tab:orange")
