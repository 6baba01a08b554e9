"""EP written the common way, as a yardstick for suite.speed: plain eager PyTorch, the energy of
docs/method.md §1 differentiated by autograd at every relaxation step, and the weight update as
autograd of the energy difference between the phases. It computes what suite.algorithms.ep
computes (tests/test_speed.py checks it); the suite never trains with it.

It is written the way of the widely used public implementation, Laborieux-Axel/Equilibrium-
Propagation (model_utils.py, P_MLP: Phi, forward, compute_syn_grads), and is at least as fast as
that way (docstring of AutogradEP):
  - the primitive function Phi = -E is a sum over layers of s_l * (s_{l-1} W_l + b_l), each layer's
    product one addmm with the bias fused (P_MLP's nn.Linear); here with the quadratic term of the
    energy folded in, s_l * (s_{l-1} W_l + b_l - s_l / 2), and the cost -beta (s_L - y)^2;
  - one autograd.grad per step, of all layers' terms with respect to all states at once, seeded with
    grad_outputs (ones, and -beta for the cost) rather than summed to a scalar first (P_MLP's
    init_grads);
  - the weights are detached during the relaxations (no graph towards them), the states are leaves
    updated in place, s <- clip(s + eps dPhi/ds, 0, 1), with no copy per step;
  - the update is autograd of mean[Phi(s_pos) - Phi(s_neg)] / beta' with respect to the weights and
    biases (P_MLP's compute_syn_grads), both phases in one pass: their states stacked along the
    batch and the sign and 1 / (B beta') in grad_outputs.
Like P_MLP it evaluates the whole energy at every step, the input layer's product included.

rho is applied to the input once per minibatch; the states need none: they start at zero and every
step clips them to [0, 1], where rho(s) = s and rho'(s) = 1 (docs/method.md §1, the in-range form).
"""
from __future__ import annotations

import torch


class AutogradEP:
    """One network's parameters and EP's hyper-parameters; train_step does one minibatch.

    On one core (float32, batch 20, alternated rounds) it measured 1.1-1.2x faster than P_MLP's code
    on the authors' two MNIST nets, and 1.5-1.65x faster than this module's first version (energy
    summed to a scalar, rho on every state, the weights in the graph at every step).
    """

    def __init__(self, weights, biases, eps: float, beta: float, T_neg: int, T_pos: int, lrs,
                 dtype=torch.float32):
        self.weights = [torch.tensor(w, dtype=dtype, requires_grad=True) for w in weights]
        self.biases = [torch.tensor(b, dtype=dtype, requires_grad=True) for b in biases]
        self.eps, self.beta, self.T_neg, self.T_pos, self.lrs = eps, beta, T_neg, T_pos, lrs
        self.dtype = dtype

    @staticmethod
    def phi_terms(x, states, weights, biases):
        """Phi = -E as one tensor per layer, s_l * (s_{l-1} W_l + b_l - s_l / 2): the sum of all
        their entries is -sum_batch E (x is rho(x); states in [0, 1])."""
        terms, below = [], x
        for s, w, b in zip(states, weights, biases):
            terms.append(s * torch.sub(torch.addmm(b, below, w), s, alpha=0.5))
            below = s
        return terms

    def relax(self, x, states, weights, biases, steps: int, beta: float = 0.0, y=None):
        """`steps` steps s <- clip(s + eps dPhi/ds, 0, 1) of the leaves `states`, in place, dPhi/ds
        by autograd of Phi = -(E + beta ||s_L - y||^2)."""
        seeds = [torch.ones_like(s) for s in states]
        if beta:
            seeds.append(torch.full_like(states[-1], -beta))
        for _ in range(steps):
            outputs = self.phi_terms(x, states, weights, biases)
            if beta:
                outputs.append((states[-1] - y) ** 2)
            grads = torch.autograd.grad(outputs, states, grad_outputs=seeds)
            with torch.no_grad():
                for s, g in zip(states, grads):
                    s.add_(g, alpha=self.eps).clamp_(0, 1)
        return states

    def train_step(self, x, y, sign: float):
        """Free phase from zeros, nudged phase with sign * beta, then theta -= lr / beta' *
        d/dtheta mean_batch[E(s_pos) - E(s_neg)]."""
        x = x.clamp(0, 1)
        weights = [w.detach() for w in self.weights]
        biases = [b.detach() for b in self.biases]
        states = [torch.zeros(x.shape[0], b.shape[0], dtype=self.dtype, requires_grad=True) for b in biases]
        s_neg = [s.detach().clone() for s in self.relax(x, states, weights, biases, self.T_neg)]
        beta = sign * self.beta
        s_pos = [s.detach() for s in self.relax(x, states, weights, biases, self.T_pos, beta, y)]

        batch = x.shape[0]
        stacked = [torch.cat(pair) for pair in zip(s_pos, s_neg)]
        terms = self.phi_terms(torch.cat([x, x]), stacked, self.weights, self.biases)
        scale = torch.full((2 * batch, 1), 1.0 / (batch * beta), dtype=self.dtype)
        scale[batch:] *= -1  # d/dtheta [mean Phi(s_pos) - mean Phi(s_neg)] / beta'
        params = self.weights + self.biases
        grads = torch.autograd.grad(terms, params, grad_outputs=[scale.expand_as(t) for t in terms])
        with torch.no_grad():
            for param, grad, lr in zip(params, grads, 2 * list(self.lrs)):
                param.add_(grad, alpha=lr)
