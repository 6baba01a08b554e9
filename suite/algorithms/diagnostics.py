"""Instruments that explain a run (docs/method.md §6), on a fixed probe batch of training images:
how well EP's update aligns with the exact gradient (BPTT through the free steps), how well IEP's
local initializer gradient aligns with backprop through the initializer, and how many units are
saturated (a collapsed run's units sit at 0 or 1 whatever the input). Each algorithm's `probe`
(algorithm.Algorithm) measures its model with these."""
from __future__ import annotations

from . import exact
from .energy import Layers


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


def descent(backend, params: Layers, x, y, steps: int, hp) -> Layers:
    """-dC/dtheta through `steps` free steps (the exact gradient, suite.algorithms.exact)."""
    found = exact.gradients(backend, params, x, y, steps, hp.eps, hp.kappa)
    return Layers(*(tuple(-g for g in group) for group in found))
