"""The feedforward net shared by IEP's initializer and the bp baseline (docs/method.md §3-4).

f_l = h(f_{l-1} Omega_l + c_l), f_0 = x, h(u) = rho(u) + 0.01 u. Gradients come from the backend's
autodiff where it has one; the hand-derived backward pass here is the NumPy reference and the
local (layer-by-layer) rule, which no autodiff expresses more simply.
"""
from __future__ import annotations

from .energy import Layers, rho, rho_prime_mask

LEAK = 0.01


def h(u):
    return rho(u) + LEAK * u


def h_backward(u, grad):
    """grad * h'(u), h'(u) = rho'(u) + LEAK; written so the result keeps grad's dtype."""
    return grad * rho_prime_mask(u) + LEAK * grad


def forward(params: Layers, x):
    """Pre-activations (u_1..u_L) and activations (f_1..f_L)."""
    us, fs = [], []
    f = x
    for w, c in zip(*params):
        u = f @ w + c
        f = h(u)
        us.append(u)
        fs.append(f)
    return tuple(us), tuple(fs)


def predict(params: Layers, x):
    return forward(params, x)[1]


def backward(xp, params: Layers, x, us, fs, direct_grads, through_layers: bool) -> Layers:
    """Gradients of a batch-mean loss whose direct derivative w.r.t. f_l is direct_grads[l] (None: 0).

    through_layers=False treats each layer's input f_{l-1} as a constant (IEP's local loss).
    """
    inputs = (x,) + fs[:-1]
    grad_w, grad_b = [None] * len(us), [None] * len(us)
    delta = None
    for l in reversed(range(len(us))):
        d_f = direct_grads[l]
        if delta is not None:
            d_f = delta if d_f is None else d_f + delta
        d_u = h_backward(us[l], d_f)
        grad_w[l] = inputs[l].T @ d_u
        grad_b[l] = xp.sum(d_u, axis=0)
        if through_layers:
            delta = d_u @ params.weights[l].T
    return Layers(tuple(grad_w), tuple(grad_b))


def sgd(params: Layers, grads: Layers, lrs) -> Layers:
    return Layers(*(tuple(p - lr * g for p, lr, g in zip(ps, lrs, gs)) for ps, gs in zip(params, grads)))


def layer_loss(xp, params: Layers, x, targets):
    """sum_l 1/2 ||f_l - t_l||^2, batch mean: the initializer's loss (global form)."""
    fs = predict(params, x)
    return sum(0.5 * xp.sum((f - t) ** 2) for f, t in zip(fs, targets)) / x.shape[0]


def initializer_gradients(backend, params: Layers, x, targets, global_loss: bool) -> Layers:
    """IEP's initializer gradient: local (no gradient crosses layers) or global (backprop)."""
    xp = backend.xp
    if global_loss and backend.grad is not None:
        return backend.grad(lambda p: layer_loss(xp, p, x, targets))(params)
    us, fs = forward(params, x)
    direct = [(f - t) / x.shape[0] for f, t in zip(fs, targets)]
    return backward(xp, params, x, us, fs, direct, through_layers=global_loss)


def initializer_update(backend, params: Layers, x, targets, lrs, global_loss: bool = False) -> Layers:
    return sgd(params, initializer_gradients(backend, params, x, targets, global_loss), lrs)
