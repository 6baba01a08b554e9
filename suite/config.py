"""What one run is: a validated dataclass. Every bad value raises ConfigError naming the field.

Each field carries one line of documentation (``field_doc(name)``): the command line's --help and
the docs read it from here.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from backends import DEVICES, DTYPES, NAMES as BACKENDS
from backends.base import DEVICE_SYNONYMS

from .algorithms import ALGORITHMS
from .algorithms.bp import LOSSES as BP_LOSSES
from .algorithms.inference import modes, parse_mode

DATASETS = ("mnist", "fashion-mnist", "synthetic")
AUTODIFF_BACKENDS = ("torch", "jax")  # what an algorithm that differentiates through its computation needs
INITIALIZER_LOSSES = ("local", "global")
INITIALIZER_TARGETS = ("free", "nudged")


class ConfigError(ValueError):
    """A configuration value is not allowed; the message names the field, the value and the rule.
    ``field`` is the field's name when one field is to blame."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _field(default, doc: str, strict: bool = False):
    """strict: a run of an algorithm that does not read the field must leave it at its default (a lam
    on EP would be a claim the run never acts on); other unread fields, such as T_neg for bp, may take
    any value, so that one study table can give them to every algorithm it zips."""
    return dataclasses.field(default=default, metadata={"doc": doc, "strict": strict})


@dataclass(frozen=True)
class RunConfig:
    algorithm: str = _field("ep", "what trains: " + ", ".join(f"{a.name} ({a.summary})" for a in ALGORITHMS.values()))
    backend: str = _field("numpy", f"array library: {', '.join(BACKENDS)}")
    dataset: str = _field("mnist", f"data set: {', '.join(DATASETS)}")
    data_dir: str | None = _field(None, "a folder of the four IDX files to use in place of the installed data")
    train_size: int | None = _field(None, "train on the first N training images (default: all 50,000)")
    sizes: tuple[int, ...] = _field((784, 500, 10), "layer sizes: inputs, hidden layers..., outputs")
    epochs: int = _field(1, "passes over the training images")
    batch_size: int = _field(20, "images per minibatch")
    eps: float = _field(0.5, "relaxation step size (> 0)")
    beta: float = _field(0.5, "nudging strength of EP's nudged phase (> 0)")
    random_sign: bool = _field(True, "draw the sign of beta at random for each minibatch (false: always +beta)")
    symmetric: bool = _field(False, "two nudged phases, +beta and -beta, in place of one")
    T_neg: int = _field(20, "relaxation steps of the free phase (and of relax@T_neg at evaluation)")
    T_pos: int = _field(4, "relaxation steps of the nudged phase")
    lrs: tuple[float, ...] = _field((0.1, 0.05), "one learning rate per layer of weights (> 0)")
    lam: float = _field(0.0, "IEP's pull towards the initializer's prediction during relaxation (>= 0; iep only)",
                        strict=True)
    kappa: float = _field(1.0, "weight of the energy's 1/2 ||s||^2 terms (>= 0; 1 is the standard energy)",
                          strict=True)
    init: str = _field("", "initial state of the free phase: " + "; ".join(
        f"{' or '.join(a.inits)} ({a.name})" for a in ALGORITHMS.values()) + "; empty: the algorithm's first")
    initializer_loss: str = _field("local", f"IEP's initializer loss: {', '.join(INITIALIZER_LOSSES)} "
                                   "(global: backprop through the initializer)", strict=True)
    initializer_target: str = _field("free", "what IEP's initializer regresses to: free (the free fixed point, "
                                     "the paper) or nudged (the nudged state, the authors' 'contrast+')", strict=True)
    bp_loss: str = _field("squared", f"bp's loss: {', '.join(BP_LOSSES)}", strict=True)
    eval_modes: tuple[str, ...] = _field((), "inference modes evaluated after every epoch: relax@T, ff, "
                                         "ff+relax@T (default: the algorithm's own)")
    eval_size: int | None = _field(None, "evaluate on the first N images of each split (default: all)")
    dtype: str = _field("float32", f"floating-point type: {', '.join(DTYPES)}")
    device: str = _field("auto", f"where to compute: {', '.join(DEVICES)} ('cuda' = gpu; auto: a GPU when "
                         "there is one)")
    seed: int = _field(0, "random seed: initial weights, minibatch order, nudging signs (>= 0)")

    def __post_init__(self):
        for name in ("sizes", "lrs", "eval_modes"):
            if not isinstance(getattr(self, name), (list, tuple)):
                _fail(name, getattr(self, name), "give a list")
            object.__setattr__(self, name, tuple(getattr(self, name)))
        _choice(self, "algorithm", ALGORITHMS)  # the defaults below depend on it
        if not self.init:
            object.__setattr__(self, "init", ALGORITHMS[self.algorithm].inits[0])
        if not self.eval_modes:
            object.__setattr__(self, "eval_modes", default_eval_modes(self))
        if isinstance(self.device, str) and self.device in DEVICE_SYNONYMS:
            object.__setattr__(self, "device", DEVICE_SYNONYMS[self.device])
        validate(self)

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    @property
    def depth(self) -> int:
        """Number of hidden layers."""
        return len(self.sizes) - 2


def field_doc(name: str) -> str:
    """The one-line documentation of a RunConfig field."""
    return RunConfig.__dataclass_fields__[name].metadata["doc"]


def default_eval_modes(cfg: RunConfig) -> tuple[str, ...]:
    return modes(ALGORITHMS[cfg.algorithm].mode_kinds, (cfg.T_neg,))


def _fail(name, value, allowed):
    raise ConfigError(f"{name}: {value!r} is not allowed; {allowed}", field=name)


def _choice(cfg, name, options):
    value = getattr(cfg, name)
    if not isinstance(value, str) or value not in options:
        _fail(name, value, f"choose one of {', '.join(map(str, options))}")


def _integer(cfg, name, low, optional=False):
    value = getattr(cfg, name)
    if optional and value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        _fail(name, value, f"must be a whole number >= {low}")


def _finite(value) -> bool:
    """A real number, neither NaN nor infinite (a bool is no number here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _number(cfg, name, positive):
    value = getattr(cfg, name)
    if not _finite(value) or (value <= 0 if positive else value < 0):
        _fail(name, value, "must be a finite number " + ("> 0" if positive else ">= 0"))


def validate(cfg: RunConfig) -> None:
    _choice(cfg, "algorithm", tuple(ALGORITHMS))
    algorithm = ALGORITHMS[cfg.algorithm]
    _choice(cfg, "backend", BACKENDS)
    _choice(cfg, "dataset", DATASETS)
    _choice(cfg, "init", algorithm.inits)
    _choice(cfg, "initializer_loss", INITIALIZER_LOSSES)
    _choice(cfg, "initializer_target", INITIALIZER_TARGETS)
    _choice(cfg, "bp_loss", BP_LOSSES)
    _choice(cfg, "dtype", DTYPES)
    _choice(cfg, "device", DEVICES)
    for name in ("random_sign", "symmetric"):
        if not isinstance(getattr(cfg, name), bool):
            _fail(name, getattr(cfg, name), "must be true or false")
    if len(cfg.sizes) < 3 or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1
                                     for n in cfg.sizes):
        _fail("sizes", cfg.sizes, "need at least [inputs, hidden, outputs], each a whole number >= 1 "
              "(depth >= 1 hidden layer)")
    for name, low in (("epochs", 0), ("batch_size", 1), ("T_neg", 0), ("T_pos", 0), ("seed", 0)):
        _integer(cfg, name, low)
    _integer(cfg, "train_size", 1, optional=True)
    _integer(cfg, "eval_size", 1, optional=True)
    _number(cfg, "eps", positive=True)
    _number(cfg, "lam", positive=False)
    _number(cfg, "kappa", positive=False)
    if "beta" in algorithm.reads:
        _number(cfg, "beta", positive=True)
    if cfg.data_dir and cfg.dataset == "synthetic":
        _fail("data_dir", cfg.data_dir, "the synthetic set is generated, not read: give data_dir with mnist or "
              "fashion-mnist only")
    if len(cfg.lrs) != len(cfg.sizes) - 1:
        _fail("lrs", cfg.lrs, f"need one learning rate per layer of weights: {len(cfg.sizes) - 1} "
              f"for sizes {list(cfg.sizes)}")
    for lr in cfg.lrs:
        if not _finite(lr) or not lr > 0:
            _fail("lrs", cfg.lrs, "every learning rate must be a finite number > 0")
    for name, field in RunConfig.__dataclass_fields__.items():
        if field.metadata["strict"] and name not in algorithm.reads and getattr(cfg, name) != field.default:
            readers = [a.name for a in ALGORITHMS.values() if name in a.reads]
            _fail(name, getattr(cfg, name), f"algorithm {cfg.algorithm!r} does not read it: use it with "
                  f"{' or '.join(map(repr, readers))} only")
    if algorithm.needs_autodiff and cfg.backend not in AUTODIFF_BACKENDS:
        _fail("backend", cfg.backend, f"{cfg.algorithm} differentiates through its computation and needs autodiff: "
              f"use {' or '.join(AUTODIFF_BACKENDS)}")
    for name, rule in algorithm.problems(cfg):
        _fail(name, getattr(cfg, name), rule)
    for text in cfg.eval_modes:
        if not isinstance(text, str):
            _fail("eval_modes", text, "give modes as text: 'relax@T', 'ff' or 'ff+relax@T'")
        try:
            mode = parse_mode(text)
        except ValueError as err:
            raise ConfigError(f"eval_modes: {err}", field="eval_modes") from None
        if mode.kind not in algorithm.mode_kinds:
            _fail("eval_modes", text, f"algorithm {cfg.algorithm!r} supports {', '.join(algorithm.mode_kinds)}")
