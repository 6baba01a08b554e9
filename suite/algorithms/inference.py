"""Inference modes (docs/method.md §5) and what each costs in multiply-adds.

``relax@T``: T free steps from zeros; ``ff``: argmax of the feedforward net alone;
``ff+relax@T``: T free steps from the feedforward prediction, with IEP's pull when lam > 0.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from . import feedforward
from .energy import Layers, Pull, relax, zero_state

_MODE = re.compile(r"^(relax|ff\+relax)@(\d+)$|^ff$")


class Model(NamedTuple):
    """What a run trains: the energy net (EP, IEP), the feedforward net (IEP's initializer, bp)."""
    energy: Layers | None
    feedforward: Layers | None


class Mode(NamedTuple):
    kind: str  # "relax", "ff" or "ff+relax"
    steps: int  # relaxation steps; 0 for "ff"

    def __str__(self):
        return self.kind if self.kind == "ff" else f"{self.kind}@{self.steps}"


def parse_mode(text: str) -> Mode:
    match = _MODE.match(text)
    if not match:
        raise ValueError(f"inference mode: {text!r} is not allowed; use 'relax@T', 'ff' or 'ff+relax@T' "
                         "with T a whole number >= 0")
    if text == "ff":
        return Mode("ff", 0)
    return Mode(match.group(1), int(match.group(2)))


def modes(kinds, budgets) -> tuple[str, ...]:
    """The mode names of these kinds at every budget T ('ff' once: it relaxes no steps)."""
    return tuple(dict.fromkeys(str(Mode(k, 0 if k == "ff" else t)) for k in kinds for t in budgets))


def final_state(backend, model: Model, x, steps, eps, lam=0.0, kappa=1.0, *, kind: str):
    """The output-layer state (batch, n_L) that a mode of this kind predicts from after `steps`."""
    if kind == "ff":
        return feedforward.predict(model.feedforward, x)[-1]
    if kind == "relax":
        sizes = [x.shape[1]] + [b.shape[0] for b in model.energy.biases]
        return relax(backend, model.energy, x, zero_state(backend, sizes, x.shape[0]), steps, eps,
                     start_in_range=True, kappa=kappa)[-1]
    f = feedforward.predict(model.feedforward, x)
    return relax(backend, model.energy, x, f, steps, eps, pull=Pull(lam, f), kappa=kappa)[-1]


def multiply_adds(sizes, mode: Mode) -> int:
    """Multiply-adds per sample, counted from the layer sizes (elementwise work is not counted).

    ff: sum_l n_{l-1} n_l. relax@T: the input drive n_0 n_1 once, then per step every layer's
    bottom-up and top-down products, 2 sum_{l>=2} n_{l-1} n_l. ff+relax@T: both.
    """
    products = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    ff = sum(products)
    relaxation = products[0] + mode.steps * 2 * sum(products[1:])
    return {"ff": ff, "relax": relaxation, "ff+relax": ff + relaxation}[mode.kind]
