"""docs/method.md §3: Initialized EP. A feedforward initializer predicts the fixed point; EP starts there."""
from __future__ import annotations

from . import ep, feedforward
from .energy import Layers, Pull


def train_step(backend, params: Layers, init_params: Layers, x, y, sign, hp: ep.EPHyper, lam,
               symmetric: bool, global_loss: bool, target: str = "free"):
    """EP from the initializer's prediction (with the lam pull), then one initializer SGD step
    towards the free fixed point s_neg (target 'free', the paper) or the nudged state ('nudged')."""
    f = feedforward.predict(init_params, x)
    params, s_neg, s_nudged = ep.train_step(backend, params, x, y, f, sign, hp, symmetric, Pull(lam, f),
                                            start_in_range=False)
    targets = s_neg if target == "free" else s_nudged
    init_params = feedforward.initializer_update(backend, init_params, x, targets, hp.lrs, global_loss)
    return params, init_params
