"""What an algorithm declares, once, for the harness to read (docs/method.md §10).

Each module of this package that defines ``ALGORITHM = Algorithm(...)`` is an algorithm: the
package finds it (``suite.algorithms.ALGORITHMS``), and config, run, sweep, claims, variants,
plots, costs and workload read only this declaration. Adding an algorithm is adding a module.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from .inference import Model

#: The run fields that belong to one family of algorithms; the rest (sizes, lrs, epochs, ...) every
#: algorithm reads. A field an algorithm does not read is left out of its labels.
ENERGY_FIELDS = frozenset({"T_neg", "T_pos", "beta", "eps", "kappa", "init", "symmetric", "random_sign"})
INITIALIZER_FIELDS = frozenset({"lam", "initializer_loss", "initializer_target"})
OPTIONAL_FIELDS = ENERGY_FIELDS | INITIALIZER_FIELDS | {"bp_loss"}


class EPHyper(NamedTuple):
    """A run's traced hyper-parameters, which every algorithm is given: changing any of them never
    recompiles (JAX)."""
    eps: Any
    beta: Any
    T_neg: Any
    T_pos: Any
    lrs: tuple
    kappa: Any = 1.0  # the weight of the energy's 1/2 ||s_l||^2 terms


class TrainState(NamedTuple):
    model: Model
    persistent: tuple | None  # EP's per-example free fixed points (init 'persistent'), else None


def no_problems(cfg) -> list:
    return []


@dataclass(frozen=True)
class Algorithm:
    name: str
    summary: str  # one line, for --help and the docs: "Equilibrium Propagation"
    nets: tuple[str, ...]  # what it trains, of "energy" and "feedforward", in the order they are drawn
    inits: tuple[str, ...]  # the free phase's initial states it allows; the first is the default
    mode_kinds: tuple[str, ...]  # the inference mode kinds its trained model answers with, in reporting order
    primary_kinds: tuple[str, ...]  # the ones it is trained for (evaluated at T = T_neg after every epoch)
    own_kind: str  # the one a claim judges it by, unless the claim names another
    reads: frozenset[str]  # the OPTIONAL_FIELDS it reads
    #: step(backend, state: TrainState, x, y, idx, sign, hp: EPHyper, lam, **static(cfg)) -> TrainState:
    #: one minibatch (x, y; idx its rows of the training set, sign its nudging sign).
    step: Callable[..., TrainState]
    #: training multiply-adds per sample, from the products n_{l-1} n_l of the layers and the run's config
    multiply_adds: Callable[[list, Any], int]
    static: Callable[[Any], dict] = lambda cfg: {}  # its compile-time options, from a run's config
    #: probe(backend, model, x, y, hp, lam, *, steps) -> {quantity: per-layer values} (docs/method.md §6)
    probe: Callable[..., dict] | None = None
    needs_autodiff: bool = False  # it differentiates through its computation (not on NumPy)
    #: its side of the cost comparison at matched error: "relaxation" (relaxes from zeros: EP) or
    #: "initializer" (answers with a feedforward initializer: IEP); None: not compared
    cost_role: str | None = None
    colour: str = "0.3"  # in every figure
    problems: Callable[[Any], list] = no_problems  # [(field, rule)] its own checks of a run's config find

    @property
    def start(self) -> str:
        """Where its own inference mode starts to relax: 'forward' (the initializer's guess) or 'zeros'."""
        return "forward" if self.own_kind == "ff+relax" else "zeros"

    @property
    def relaxes(self) -> bool:
        """Whether it has an energy net to relax (its series name their mode kind)."""
        return "energy" in self.nets


def relaxation(products, steps) -> int:
    """Multiply-adds per sample of `steps` free steps: the input drive once, then each step's
    bottom-up and top-down products (docs/method.md §5)."""
    return products[0] + steps * 2 * sum(products[1:])


def contrastive_update(products) -> int:
    """Multiply-adds per sample of a contrastive update: the first layer's one product, two beyond."""
    return sum(products) + sum(products[1:])


def backprop(products) -> int:
    """A feedforward net's forward and backward pass: three times its products."""
    return 3 * sum(products)
