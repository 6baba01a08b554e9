"""docs/method.md §4: backprop through the relaxation (BPTT), a baseline: SGD on the exact gradient
of the cost C of the state after T_neg free steps from zeros (suite.algorithms.exact)."""
from __future__ import annotations

from . import ep, exact
from .algorithm import Algorithm, TrainState, relaxation
from .energy import Layers
from .feedforward import sgd
from .inference import Model


def train_step(backend, params: Layers, x, y, steps: int, eps, lrs, kappa=1.0) -> Layers:
    """One SGD step on C with the per-layer learning rates."""
    return sgd(params, exact.gradients(backend, params, x, y, steps, eps, kappa), lrs)


def step(backend, state: TrainState, x, y, idx, sign, hp, lam, *, steps: int) -> TrainState:
    return TrainState(Model(train_step(backend, state.model.energy, x, y, steps, hp.eps, hp.lrs, hp.kappa), None),
                      None)


ALGORITHM = Algorithm(
    name="bptt", summary="the energy net by backprop through its T_neg free steps", nets=("energy",),
    inits=("zeros",), mode_kinds=("relax",), primary_kinds=("relax",), own_kind="relax",
    reads=frozenset({"T_neg", "eps", "kappa"}), step=step,
    # the free phase forward, then twice back
    multiply_adds=lambda products, cfg: 3 * relaxation(products, cfg.T_neg),
    static=lambda cfg: {"steps": cfg.T_neg},  # jax differentiates only loops of static length
    probe=ep.probe, needs_autodiff=True, colour="tab:purple")
