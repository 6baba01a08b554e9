"""docs/method.md §1: the energy network, written once against a backend's array namespace.

States ``s`` are tuples ``(s_1, ..., s_L)`` of (batch, n_l) arrays; the input ``x = s_0`` is clamped.
"""
from __future__ import annotations

from typing import Any, NamedTuple


class Layers(NamedTuple):
    """Weights W_l of shape (n_{l-1}, n_l) and biases b_l of shape (n_l,), l = 1..L."""
    weights: tuple
    biases: tuple


class Pull(NamedTuple):
    """IEP's pull towards the feedforward prediction: (lam/2) sum_l ||s_l - f_l||^2."""
    lam: Any
    f: tuple


def rho(u):
    """Hard sigmoid clip(u, 0, 1); also the projection that keeps states in [0, 1]."""
    return u.clip(0.0, 1.0)


def rho_prime_mask(u):
    """rho'(u) as a boolean mask: 1 on the closed interval [0, 1], so states at 0 can move."""
    return (u >= 0.0) & (u <= 1.0)


def energy(xp, params: Layers, x, s, beta=0.0, y=None, pull: Pull | None = None, kappa=1.0):
    """F = E + beta C per sample, shape (batch,), with kappa weighting E's 1/2 ||s_l||^2 terms. Used by
    tests and diagnostics, not by relaxation."""
    layers = (x,) + tuple(s)
    total = 0.0
    for l, (w, b) in enumerate(zip(params.weights, params.biases), start=1):
        below, here = rho(layers[l - 1]), rho(layers[l])
        total = total + 0.5 * kappa * xp.sum(layers[l] ** 2, axis=1) \
            - xp.sum((below @ w) * here, axis=1) - here @ b
    if pull is not None:
        total = total + 0.5 * pull.lam * sum(xp.sum((sl - fl) ** 2, axis=1) for sl, fl in zip(s, pull.f))
    if y is not None:
        total = total + beta * xp.sum((s[-1] - y) ** 2, axis=1)
    return total


def input_drive(params: Layers, x):
    """rho(x) W_1 + b_1: constant during a relaxation, so computed once."""
    return rho(x) @ params.weights[0] + params.biases[0]


class Constants(NamedTuple):
    """What every step of a relaxation reuses: the input drive, and W_l^T (l >= 2) for the top-down
    products, in whatever layout multiplies fastest (NumPy's BLAS: a contiguous copy, ~1.7x faster)."""
    drive: Any
    down: tuple


def constants(params: Layers, x, transpose=lambda w: w.T) -> Constants:
    """Computed once per minibatch: x and the weights do not change between EP's phases."""
    return Constants(input_drive(params, x), tuple(transpose(w) for w in params.weights[1:]))


class InRange(NamedTuple):
    """Everything an in-range step depends on, for a backend that runs its own fused form of it
    (Backend.relax_in_range): s_l <- clip(s_l - eps dF/ds_l, 0, 1) with rho(s) = s, rho'(s) = 1."""
    params: Layers
    const: Constants
    eps: Any
    beta: Any
    y: Any
    pull: Pull | None
    kappa: Any = 1.0


def state_gradient(params: Layers, const: Constants, s, beta=0.0, y=None, pull: Pull | None = None,
                   in_range: bool = False, kappa=1.0):
    """dF/ds_l for every free layer (docs/method.md §1); kappa weights the 1/2 ||s_l||^2 terms.

    in_range=True promises every state lies in [0, 1], where rho(s) = s and rho'(s) = 1: the same
    gradient with less elementwise work."""
    r = list(s) if in_range else [rho(sl) for sl in s]
    last = len(s) - 1
    grads = []
    for l, sl in enumerate(s):
        total = const.drive if l == 0 else r[l - 1] @ params.weights[l] + params.biases[l]
        if l < last:
            total = total + r[l + 1] @ const.down[l]
        # rho'(s) = 1 exactly where the clip leaves s unchanged: the closed interval [0, 1].
        grads.append(kappa * sl - (total if in_range else (r[l] == sl) * total))
    if pull is not None:
        grads = [g + pull.lam * (sl - fl) for g, sl, fl in zip(grads, s, pull.f)]
    if y is not None:
        grads[last] = grads[last] + 2.0 * beta * (s[last] - y)
    return grads


def relax(backend, params: Layers, x, s, steps, eps, beta=0.0, y=None, pull: Pull | None = None,
          const: Constants | None = None, start_in_range=False, kappa=1.0):
    """`steps` synchronous steps s <- clip(s - eps dF/ds, 0, 1); y=None is the free phase.

    const: constants(params, x) when the caller has them (EP's phases share one per minibatch).
    The initial state may lie outside [0, 1] (IEP starts from the initializer's leaky output): the
    first step then takes the general form, and clips every state into [0, 1], so the later steps
    take the in-range form. start_in_range (a bool, or traced) promises a start in [0, 1] (zeros, a
    relaxed state): every step takes the in-range form, which gives the same states there."""
    const = constants(params, x, backend.transpose) if const is None else const

    def step(in_range):
        def body(_, s):
            grads = state_gradient(params, const, s, beta, y, pull, in_range, kappa)
            return tuple(rho(sl - eps * g) for sl, g in zip(s, grads))
        return body

    first = (steps > 0) * (1 - start_in_range * 1)  # 0 or 1, and still a traced value under jit
    s = backend.fori_loop(first, step(in_range=False), tuple(s))
    return backend.relax_in_range(steps - first, step(in_range=True), s,
                                  InRange(params, const, eps, beta, y, pull, kappa))


def zero_state(backend, sizes, batch):
    return tuple(backend.zeros((batch, n)) for n in sizes[1:])

