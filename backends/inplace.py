"""The in-range relaxation in place, for an eager library (torch): by hand what XLA's fusion does
for jax. (NumPy keeps the generic step: its time is all in BLAS, and this form measured no faster.)

With every state in [0, 1], rho(s) = s and an EP step is one affine map per layer:

    s_l <- clip(a_l s_l + k_l + [s_{l-1}, s_{l+1}] M_l, 0, 1),   M_l = eps [W_l ; W_{l+1}^T],

where a_l = 1 - eps (kappa + lam [+ 2 beta at the output]) and k_l = eps (input drive or b_l
[+ lam f_l] [+ 2 beta y at the output]) do not change during a relaxation. Layer l's neighbours
l-1 and l+1 both have the other parity, so the states live in two buffers, odd and even layers,
each in layer order: the neighbours of l are adjacent columns of one buffer, and each layer costs
one matrix product (inner size n_{l-1} + n_{l+1}) written straight into the next step's buffer,
instead of two products and about ten array operations. Nothing is allocated per step.
"""
from __future__ import annotations

from typing import NamedTuple

#: A product's factor M is stored column-major when it has fewer columns than this: MKL at batch 20
#: multiplies by a 500x10 matrix faster that way (8 against 21 us).
NARROW = 64


class AffineStep(NamedTuple):
    """The in-range step's coefficients per layer: s_l <- clip(a[l] s_l + k[l] + neighbours_l m[l], 0, 1)."""
    a: list
    k: list
    m: list


def affine_factors(backend, problem, n_layers: int) -> list:
    """m[l] = eps [W_l ; W_{l+1}^T] of an InRange problem: they depend on the weights and eps only, so
    the relaxations of one EP minibatch (free and nudged phases) can share them."""
    params, const, eps = problem.params, problem.const, problem.eps
    last = n_layers - 1
    m = []
    for l in range(n_layers):  # the bottom-up factor W_l above the top-down W_{l+1}^T, as the buffers hold them
        parts = ([params.weights[l]] if l > 0 else []) + ([const.down[l]] if l < last else [])
        m.append(backend.xp.concat(parts, axis=0))
        m[l] *= eps
    return [backend.column_major(ml) if ml.shape[1] < NARROW else ml for ml in m]


def affine_step(backend, problem, m: list) -> AffineStep:
    """AffineStep of an InRange problem (suite.algorithms.energy), in the backend's arrays, with its
    factors m (affine_factors)."""
    params, const, eps, beta, y, pull, kappa = problem
    last = len(m) - 1
    lam = 0.0 if pull is None else pull.lam
    k = [eps * const.drive] + [eps * b for b in params.biases[1:]]
    a = [1.0 - eps * (kappa + lam)] * len(m)
    if pull is not None:
        k = [kl + (eps * lam) * fl for kl, fl in zip(k, pull.f)]
    if y is not None:
        k[last] = k[last] + (2.0 * eps * beta) * y
        a[last] = a[last] - 2.0 * eps * beta
    return AffineStep([backend.scalar(al) for al in a], k, m)


class InPlaceRelaxer:
    """Two sets of state buffers (the step's input and output, swapped every step), each an odd- and
    an even-layer buffer, and the in-place step between them. The backend supplies zeros, scalar (a
    0-d array), column_major, product_into (out = k + a @ m) and add_scaled_and_clip
    (out = clip(out + a s, 0, 1))."""

    def __init__(self, backend, shapes: list[tuple[int, int]]):
        self.backend = backend
        batch, widths = shapes[0][0], [n for _, n in shapes]
        last = len(widths) - 1
        start, group_width = [], [0, 0]
        for l, n in enumerate(widths):
            start.append(group_width[l % 2])
            group_width[l % 2] += n
        self.sets = [[backend.zeros((batch, w)) for w in group_width] for _ in range(2)]

        def columns(buffers, first, stop):
            return buffers[first % 2][:, start[first]:start[stop] + widths[stop]]

        self.states = [[columns(b, l, l) for l in range(len(widths))] for b in self.sets]
        below = [l - 1 if l > 0 else l + 1 for l in range(len(widths))]  # the outer layers have one neighbour
        above = [l + 1 if l < last else l - 1 for l in range(len(widths))]
        self.neighbours = [[columns(b, lo, hi) for lo, hi in zip(below, above)] for b in self.sets]

    def step(self, src: int, dst: int, coeff: AffineStep):
        """One step from buffer set src into buffer set dst."""
        bk = self.backend
        for l, out in enumerate(self.states[dst]):
            bk.product_into(out, coeff.k[l], self.neighbours[src][l], coeff.m[l])
            bk.add_scaled_and_clip(out, self.states[src][l], coeff.a[l])

    def load(self, carry):
        for buffer, s in zip(self.states[0], carry):
            buffer[...] = s

    def run(self, n: int, coeff: AffineStep, carry) -> tuple:
        """n >= 1 steps from carry; the result lies in this relaxer's buffers."""
        self.load(carry)
        for i in range(n):
            self.step(i % 2, 1 - i % 2, coeff)
        return tuple(self.states[n % 2])

