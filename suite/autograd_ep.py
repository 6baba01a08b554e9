"""EP written the common way, as a yardstick for suite.speed: plain PyTorch, the energy of
docs/method.md §1 differentiated by autograd at every relaxation step, and the weight update as
autograd of the energy difference between the phases. It computes what suite.algorithms.ep
computes (tests/test_speed.py checks it); the suite never trains with it.
"""
from __future__ import annotations

import torch


class AutogradEP:
    """One network's parameters and EP's hyper-parameters; train_step does one minibatch."""

    def __init__(self, weights, biases, eps: float, beta: float, T_neg: int, T_pos: int, lrs,
                 dtype=torch.float32):
        self.weights = [torch.tensor(w, dtype=dtype, requires_grad=True) for w in weights]
        self.biases = [torch.tensor(b, dtype=dtype, requires_grad=True) for b in biases]
        self.eps, self.beta, self.T_neg, self.T_pos, self.lrs = eps, beta, T_neg, T_pos, lrs
        self.dtype = dtype

    def energy(self, x, states):
        """E per sample: sum_l 1/2 ||s_l||^2 - rho(s_{l-1}) W_l rho(s_l) - b_l . rho(s_l)."""
        layers = [x] + list(states)
        total = 0.0
        for l, (w, b) in enumerate(zip(self.weights, self.biases), start=1):
            below, here = layers[l - 1].clamp(0, 1), layers[l].clamp(0, 1)
            total = total + 0.5 * (layers[l] ** 2).sum(1) - ((below @ w) * here).sum(1) - here @ b
        return total

    def relax(self, x, states, steps: int, beta: float = 0.0, y=None):
        """s <- clip(s - eps dF/ds, 0, 1), dF/ds by autograd of F = E + beta ||s_L - y||^2."""
        for _ in range(steps):
            states = [s.detach().requires_grad_() for s in states]
            total = self.energy(x, states).sum()
            if y is not None:
                total = total + beta * ((states[-1] - y) ** 2).sum()
            grads = torch.autograd.grad(total, states)
            states = [(s - self.eps * g).clamp(0, 1) for s, g in zip(states, grads)]
        return [s.detach() for s in states]

    def train_step(self, x, y, sign: float):
        """Free phase from zeros, nudged phase with sign * beta, then theta -= lr / beta' *
        d/dtheta mean_batch[E(s_pos) - E(s_neg)]."""
        zeros = [torch.zeros(x.shape[0], b.shape[0], dtype=self.dtype) for b in self.biases]
        s_neg = self.relax(x, zeros, self.T_neg)
        beta = sign * self.beta
        s_pos = self.relax(x, s_neg, self.T_pos, beta, y)
        contrast = (self.energy(x, s_pos) - self.energy(x, s_neg)).mean() / beta
        grads = torch.autograd.grad(contrast, self.weights + self.biases)
        with torch.no_grad():
            for param, grad, lr in zip(self.weights + self.biases, grads, 2 * list(self.lrs)):
                param -= lr * grad
