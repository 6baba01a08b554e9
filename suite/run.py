"""One run: train a configuration, evaluate every inference mode after every epoch, time it all.

Timing follows SPEC.md §6: the first (compiling) minibatch is timed apart as warm-up, every timed
region ends with the backend's sync, and training seconds exclude evaluation.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from typing import Callable

import numpy as np

from . import data as datasets
from .algorithms.ep import EPHyper
from .algorithms.inference import Model, multiply_adds, parse_mode
from .config import ConfigError, RunConfig
from .engine import Engine, TrainState, glorot_layers, one_hot, train_step

SPLITS = ("train", "validation", "test")
EVAL_BATCH = 1000


def check_fits(cfg: RunConfig, ds: datasets.Dataset) -> None:
    if cfg.sizes[0] != ds.n_features:
        raise ConfigError(f"sizes: first size {cfg.sizes[0]} does not fit {ds.name}, whose images have "
                          f"{ds.n_features} features")
    if cfg.sizes[-1] != ds.n_classes:
        raise ConfigError(f"sizes: last size {cfg.sizes[-1]} does not fit {ds.name}, which has "
                          f"{ds.n_classes} classes")
    n_train = len(ds.train.x) if cfg.train_size is None else cfg.train_size
    if n_train > len(ds.train.x):
        raise ConfigError(f"train_size: {cfg.train_size} is more than the {len(ds.train.x)} training "
                          f"images of {ds.name}")
    if n_train < cfg.batch_size:
        raise ConfigError(f"batch_size: {cfg.batch_size} is more than the {n_train} training images")


def initial_state(engine: Engine, cfg: RunConfig, rng: np.random.Generator, n_train: int) -> TrainState:
    energy = glorot_layers(rng, cfg.sizes) if cfg.algorithm in ("ep", "iep") else None
    ff = glorot_layers(rng, cfg.sizes) if cfg.algorithm in ("iep", "bp") else None
    persistent = (tuple(np.zeros((n_train, n)) for n in cfg.sizes[1:])
                  if cfg.init == "persistent" else None)
    return engine.backend.asarray(TrainState(Model(energy, ff), persistent))


def hyper(cfg: RunConfig) -> EPHyper:
    return EPHyper(cfg.eps, cfg.beta, cfg.T_neg, cfg.T_pos, cfg.lrs)


def evaluate(engine: Engine, cfg: RunConfig, model: Model, split: datasets.Split) -> list[dict]:
    """Error and measured seconds of every inference mode on one split."""
    bk = engine.backend
    n = len(split.x) if cfg.eval_size is None else min(cfg.eval_size, len(split.x))
    x = bk.asarray(split.x[:n])
    rows = []
    for text in cfg.eval_modes:
        mode = parse_mode(text)
        chunks = [slice(i, min(i + EVAL_BATCH, n)) for i in range(0, n, EVAL_BATCH)]
        start = time.perf_counter()  # the first chunk compiles: timed apart and reported
        bk.sync(engine.output_state(model, x[chunks[0]], mode, cfg.eps, cfg.lam))
        warmup_seconds = time.perf_counter() - start
        start = time.perf_counter()
        outputs = [engine.output_state(model, x[c], mode, cfg.eps, cfg.lam) for c in chunks]
        bk.sync(outputs)
        seconds = time.perf_counter() - start
        predicted = np.concatenate([np.argmax(bk.to_numpy(o), axis=1) for o in outputs])
        rows.append({"mode": str(mode), "steps": mode.steps, "mult_adds": multiply_adds(cfg.sizes, mode),
                     "error": float(np.mean(predicted != split.y[:n])),
                     "seconds_per_10k": seconds * 10_000 / n, "eval_warmup_seconds": warmup_seconds})
    return rows


def train_and_evaluate(cfg: RunConfig, dataset: datasets.Dataset | None = None,
                       progress: Callable[[str], None] = lambda message: None) -> list[dict]:
    """Train cfg and return one row per (epoch, split, inference mode); epoch 0 is the untrained net."""
    ds = dataset if dataset is not None else datasets.load(cfg.dataset, cfg.data_dir)
    check_fits(cfg, ds)
    engine = Engine(cfg.backend, cfg.dtype, cfg.device)
    bk = engine.backend
    seeds = np.random.SeedSequence(cfg.seed).spawn(3)
    init_rng, order_rng, sign_rng = (np.random.default_rng(s) for s in seeds)

    n_train = len(ds.train.x) if cfg.train_size is None else cfg.train_size
    X = bk.asarray(ds.train.x[:n_train])
    Y = bk.asarray(one_hot(ds.train.y[:n_train], ds.n_classes))
    state = initial_state(engine, cfg, init_rng, n_train)
    step = engine.compiled(train_step, donate_argnums=(0,), algorithm=cfg.algorithm, init=cfg.init,
                           symmetric=cfg.symmetric, global_loss=cfg.initializer_loss == "global",
                           bp_loss=cfg.bp_loss)
    hp = hyper(cfg)
    n_batches = n_train // cfg.batch_size  # a last partial batch is dropped: every step has one shape

    def batch_args(order, i):
        idx = bk.index_array(order[i * cfg.batch_size:(i + 1) * cfg.batch_size])
        sign = float(sign_rng.choice((-1.0, 1.0))) if cfg.random_sign else 1.0
        return X, Y, idx, sign, hp, cfg.lam

    # Warm-up (compilation) on a copy of the state and a throwaway batch, timed apart.
    start = time.perf_counter()
    bk.sync(step(bk.asarray(bk.to_numpy(state)), X, Y, bk.index_array(np.arange(cfg.batch_size)), 1.0,
                 hp, cfg.lam))
    warmup_seconds = time.perf_counter() - start

    provenance = {**bk.describe(), "warmup_seconds": warmup_seconds}
    rows = []

    def record(epoch, train_seconds):
        for split_name, split in zip(SPLITS, (ds.train_eval, ds.validation, ds.test)):
            for row in evaluate(engine, cfg, state.model, split):
                rows.append({**config_columns(cfg), "epoch": epoch, "split": split_name, **row,
                             "train_seconds": train_seconds, **provenance})

    record(0, 0.0)
    for epoch in range(1, cfg.epochs + 1):
        order = order_rng.permutation(n_train)
        start = time.perf_counter()
        for i in range(n_batches):
            state = step(state, *batch_args(order, i))
        bk.sync(state)
        train_seconds = time.perf_counter() - start
        check_finite(bk, state, epoch)
        record(epoch, train_seconds)
        val = [r["error"] for r in rows if r["epoch"] == epoch and r["split"] == "validation"]
        progress(f"{cfg.algorithm} {cfg.backend} epoch {epoch}/{cfg.epochs}: {train_seconds:.1f} s, "
                 f"validation error {', '.join(f'{e:.3f}' for e in val)}")
    return rows


def check_finite(bk, state: TrainState, epoch: int) -> None:
    leaves = [a for part in state.model if part is not None for group in part for a in group]
    if not all(np.isfinite(bk.to_numpy(a)).all() for a in leaves):
        raise FloatingPointError(f"weights became NaN or inf in epoch {epoch}")


def config_columns(cfg: RunConfig) -> dict:
    """Every configuration field as a column (tuples as text, so tables stay flat)."""
    return {k: (" ".join(map(str, v)) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()
            if k != "eval_modes"}
