"""The exact gradient of the cost C of the state after T free steps from zeros, through every step,
by the backend's own autodiff (backprop through time). It is the gradient EP's update approximates
(Ernoult et al. 2019): the bptt algorithm trains with it, and the diagnostics measure against it."""
from __future__ import annotations

from .energy import Layers, constants, rho, state_gradient, zero_state


class NeedsAutodiff(ValueError):
    """The backend has no autodiff (NumPy): the exact gradient cannot be taken there."""


def unrolled(backend, params: Layers, x, steps: int, eps, kappa=1.0):
    """`steps` free steps from zeros in the general form (no fused in-place step, which autodiff
    cannot follow); `steps` is a Python int, so jax's loop has a static length and differentiates."""
    const = constants(params, x)
    sizes = [x.shape[1]] + [b.shape[0] for b in params.biases]

    def step(_, s):
        return tuple(rho(sl - eps * g) for sl, g in zip(s, state_gradient(params, const, s, kappa=kappa)))
    return backend.fori_loop(steps, step, zero_state(backend, sizes, x.shape[0]))


def cost(backend, params: Layers, x, y, steps: int, eps, kappa=1.0):
    """Batch mean of C = ||s_L - y||^2 (docs/method.md §1, no 1/2) after `steps` free steps."""
    return backend.xp.sum((unrolled(backend, params, x, steps, eps, kappa)[-1] - y) ** 2) / x.shape[0]


def gradients(backend, params: Layers, x, y, steps: int, eps, kappa=1.0) -> Layers:
    """dC/dtheta through the `steps` free steps."""
    if backend.grad is None:
        raise NeedsAutodiff(f"bptt needs autodiff, which the {backend.name} backend does not have: use torch or jax")
    return backend.grad(lambda p: cost(backend, p, x, y, steps, eps, kappa))(params)
