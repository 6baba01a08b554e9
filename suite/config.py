"""What one run is: a validated dataclass. Every bad value raises ConfigError naming the field."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from backends import DTYPES, NAMES as BACKENDS

ALGORITHMS = ("ep", "iep", "bp")
DATASETS = ("mnist", "fashion-mnist", "synthetic")
INITS = {"ep": ("zeros", "persistent"), "iep": ("forward",), "bp": ("none",)}
DEFAULT_INIT = {"ep": "zeros", "iep": "forward", "bp": "none"}
INITIALIZER_LOSSES = ("local", "global")
BP_LOSSES = ("squared", "cross_entropy")
DEVICES = ("auto", "cpu", "cuda", "gpu")


class ConfigError(ValueError):
    """A configuration value is not allowed; the message names the field, the value and the rule."""


@dataclass(frozen=True)
class RunConfig:
    algorithm: str = "ep"
    backend: str = "numpy"
    dataset: str = "mnist"
    data_dir: str | None = None  # a directory of IDX files, in place of the packaged data
    train_size: int | None = None  # use only the first N training images (None: all 50,000)
    sizes: tuple[int, ...] = (784, 500, 10)
    epochs: int = 1
    batch_size: int = 20
    eps: float = 0.5
    beta: float = 0.5
    random_sign: bool = True
    symmetric: bool = False
    T_neg: int = 20
    T_pos: int = 4
    lrs: tuple[float, ...] = (0.1, 0.05)
    lam: float = 0.0
    init: str = ""  # "" picks the algorithm's default (zeros / forward / none)
    initializer_loss: str = "local"
    bp_loss: str = "squared"
    eval_modes: tuple[str, ...] = ()  # empty: the algorithm's defaults (default_eval_modes)
    eval_size: int | None = None  # evaluate on the first N images of each split (None: all)
    dtype: str = "float32"
    device: str = "auto"
    seed: int = 0

    def __post_init__(self):
        for name in ("sizes", "lrs", "eval_modes"):
            if not isinstance(getattr(self, name), (list, tuple)):
                _fail(name, getattr(self, name), "give a list")
            object.__setattr__(self, name, tuple(getattr(self, name)))
        _choice(self, "algorithm", ALGORITHMS)  # the defaults below depend on it
        if not self.init:
            object.__setattr__(self, "init", DEFAULT_INIT[self.algorithm])
        if not self.eval_modes:
            object.__setattr__(self, "eval_modes", default_eval_modes(self))
        validate(self)

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    @property
    def depth(self) -> int:
        """Number of hidden layers."""
        return len(self.sizes) - 2


def default_eval_modes(cfg: RunConfig) -> tuple[str, ...]:
    relaxed = f"relax@{cfg.T_neg}"
    return {"ep": (relaxed,), "iep": ("ff", f"ff+relax@{cfg.T_neg}", relaxed), "bp": ("ff",)}[cfg.algorithm]


def _fail(name, value, allowed):
    raise ConfigError(f"{name}: {value!r} is not allowed; {allowed}")


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


def _number(cfg, name, positive):
    value = getattr(cfg, name)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
    if not ok or (value <= 0 if positive else value < 0):
        _fail(name, value, "must be a number " + ("> 0" if positive else ">= 0"))


def validate(cfg: RunConfig) -> None:
    from .algorithms.inference import parse_mode, Model, supported_kinds  # no cycle at import

    _choice(cfg, "algorithm", ALGORITHMS)
    _choice(cfg, "backend", BACKENDS)
    _choice(cfg, "dataset", DATASETS)
    _choice(cfg, "init", INITS[cfg.algorithm])
    _choice(cfg, "initializer_loss", INITIALIZER_LOSSES)
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
    if cfg.algorithm != "bp":
        _number(cfg, "beta", positive=True)
    if len(cfg.lrs) != len(cfg.sizes) - 1:
        _fail("lrs", cfg.lrs, f"need one learning rate per layer of weights: {len(cfg.sizes) - 1} "
              f"for sizes {list(cfg.sizes)}")
    for lr in cfg.lrs:
        if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not lr > 0:
            _fail("lrs", cfg.lrs, "every learning rate must be a number > 0")
    if cfg.lam and cfg.algorithm != "iep":
        _fail("lam", cfg.lam, "the pull term needs an initializer: use it with algorithm 'iep' only")
    model_shape = Model(energy=() if cfg.algorithm != "bp" else None,
                        feedforward=() if cfg.algorithm != "ep" else None)
    kinds = supported_kinds(model_shape)
    for text in cfg.eval_modes:
        if not isinstance(text, str):
            _fail("eval_modes", text, "give modes as text: 'relax@T', 'ff' or 'ff+relax@T'")
        try:
            mode = parse_mode(text)
        except ValueError as err:
            raise ConfigError(f"eval_modes: {err}") from None
        if mode.kind not in kinds:
            _fail("eval_modes", text, f"algorithm {cfg.algorithm!r} supports {', '.join(kinds)}")

