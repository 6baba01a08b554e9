"""Instruments that explain a run (docs/method.md §6), on a fixed probe batch of training images:
how well EP's update aligns with the exact gradient (BPTT through the free steps), how well IEP's
local initializer gradient aligns with backprop through the initializer, and how many units are
saturated (a collapsed run's units sit at 0 or 1 whatever the input)."""
from __future__ import annotations

from . import bptt, ep, feedforward
from .energy import Layers, Pull, zero_state


def cosines(xp, a: Layers, b: Layers) -> tuple:
    """Per layer of weights: the cosine between a's and b's weight matrices, clipped to [-1, 1]
    (float32 rounding put equal matrices at 1.0000002)."""
    return tuple(xp.clip(xp.sum(u * v) / xp.sqrt(xp.sum(u * u) * xp.sum(v * v) + 1e-30), -1.0, 1.0)
                 for u, v in zip(a.weights, b.weights))


def saturation(xp, states) -> dict:
    """Per layer: the fraction of units at exactly 0 or exactly 1 for every probe input (units that
    no longer learn), and the fraction whose value is the same for every input."""
    stuck = tuple(xp.mean((xp.all(s == 0.0, axis=0) | xp.all(s == 1.0, axis=0)) * 1.0) for s in states)
    constant = tuple(xp.mean((xp.max(s, axis=0) == xp.min(s, axis=0)) * 1.0) for s in states)
    return {"stuck at 0 or 1": stuck, "same for every input": constant}


def zeros_like(backend, params: Layers) -> Layers:
    xp = backend.xp
    return Layers(*(tuple(xp.zeros_like(a) for a in group) for group in params))


def ep_directions(backend, params: Layers, x, y, s_neg, s_plus, s_minus, beta) -> dict:
    """EP's update per unit learning rate (an estimate of -dC/dtheta) from each nudging: +beta and
    -beta against the free state, and symmetric. ep_update adds to the parameters it is given (in
    place on torch): here, fresh zeros, so what it returns is the update itself."""
    ones = (1.0,) * len(params.weights)
    pairs = {"+beta": (s_plus, s_neg, beta), "-beta": (s_minus, s_neg, -beta), "symmetric": (s_plus, s_minus, 2 * beta)}
    return {name: ep.ep_update(backend, zeros_like(backend, params), x, a, b, signed, ones)
            for name, (a, b, signed) in pairs.items()}


def probe(backend, model, x, y, hp: ep.EPHyper, lam, *, algorithm: str, steps: int) -> dict:
    """{quantity: per-layer values} for the run's model at its current parameters. steps: T_neg,
    static (the BPTT oracle differentiates a loop of static length)."""
    xp, energy = backend.xp, model.energy
    sizes = [x.shape[1]] + [b.shape[0] for b in energy.biases]
    if algorithm == "iep":
        f = feedforward.predict(model.feedforward, x)
        s_neg, s_plus, s_minus, _ = ep.phases(backend, energy, x, y, f, 1.0, hp, True, Pull(lam, f), False)
        local, whole = (feedforward.initializer_gradients(backend, model.feedforward, x, s_neg, g) for g in (False, True))
        return {**saturation(xp, s_neg), "cosine initializer local / global": cosines(xp, local, whole)}
    s_neg, s_plus, s_minus, _ = ep.phases(backend, energy, x, y, zero_state(backend, sizes, x.shape[0]), 1.0, hp, True)
    found = saturation(xp, s_neg)
    if backend.grad is not None:  # the oracle needs autodiff
        descent = bptt.gradients(backend, energy, x, y, steps, hp.eps, hp.kappa)
        descent = Layers(*(tuple(-g for g in group) for group in descent))
        for name, update in ep_directions(backend, energy, x, y, s_neg, s_plus, s_minus, hp.beta).items():
            found[f"cosine EP {name} / BPTT"] = cosines(xp, update, descent)
    return found
