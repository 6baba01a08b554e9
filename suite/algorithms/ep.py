"""docs/method.md §2: Equilibrium Propagation's free phase, nudged phase(s) and local update."""
from __future__ import annotations

from typing import Any, NamedTuple

from .energy import Layers, Pull, relax, rho


class EPHyper(NamedTuple):
    """Traced hyper-parameters: changing any of them never recompiles (JAX)."""
    eps: Any
    beta: Any
    T_neg: Any
    T_pos: Any
    lrs: tuple


def correlations(xp, x, s):
    """mean_batch rho(s_{l-1})^T rho(s_l) and mean_batch rho(s_l): -dE/dW_l and -dE/db_l."""
    r = [rho(x)] + [rho(sl) for sl in s]
    batch = x.shape[0]
    weights = tuple(r[l - 1].T @ r[l] / batch for l in range(1, len(r)))
    biases = tuple(xp.mean(r[l], axis=0) for l in range(1, len(r)))
    return Layers(weights, biases)


def ep_update(backend, params: Layers, x, s_pos, s_neg, beta, lrs) -> Layers:
    """theta += eta_l / beta * (corr(s_pos) - corr(s_neg)): the contrastive, local rule."""
    pos, neg = correlations(backend.xp, x, s_pos), correlations(backend.xp, x, s_neg)
    return Layers(*(tuple(p + lr / beta * (a - b) for p, lr, a, b in zip(ps, lrs, pa, na))
                    for ps, pa, na in zip(params, pos, neg)))


def phases(backend, params: Layers, x, y, s_init, sign, hp: EPHyper, symmetric: bool,
           pull: Pull | None = None):
    """Free phase, then nudged phase(s). Returns s_neg and the (s_a, s_b, beta_ab) the update uses."""
    s_neg = relax(backend, params, x, s_init, hp.T_neg, hp.eps, pull=pull)
    if symmetric:
        s_plus = relax(backend, params, x, s_neg, hp.T_pos, hp.eps, hp.beta, y, pull)
        s_minus = relax(backend, params, x, s_neg, hp.T_pos, hp.eps, -hp.beta, y, pull)
        return s_neg, s_plus, s_minus, 2.0 * hp.beta
    beta = sign * hp.beta
    s_pos = relax(backend, params, x, s_neg, hp.T_pos, hp.eps, beta, y, pull)
    return s_neg, s_pos, s_neg, beta


def train_step(backend, params: Layers, x, y, s_init, sign, hp: EPHyper, symmetric: bool,
               pull: Pull | None = None):
    """One EP minibatch: returns the updated parameters and the free fixed point s_neg."""
    s_neg, s_a, s_b, beta = phases(backend, params, x, y, s_init, sign, hp, symmetric, pull)
    return ep_update(backend, params, x, s_a, s_b, beta, hp.lrs), s_neg
