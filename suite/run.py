"""One run: train a configuration, evaluate every inference mode after every epoch, time it all.

Timing follows SPEC.md §6: the first (compiling) minibatch is timed apart as warm-up, every timed
region ends with the backend's sync, and training seconds exclude evaluation.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from typing import Callable, NamedTuple

import numpy as np

from backends import tree_map

from . import data as datasets
from . import records
from .algorithms.energy import Pull, relax, zero_state
from .algorithms.ep import EPHyper
from .algorithms.inference import Model, multiply_adds, parse_mode
from .config import ConfigError, RunConfig
from .engine import Engine, TrainState, feedforward_prediction, glorot_layers, one_hot, train_step

SPLITS = ("train", "validation", "test")
EVAL_BATCH = 1000


class EvaluationPlan(NamedTuple):
    """When to evaluate (checkpoint epochs; empty: every epoch; the last epoch always), and what the
    last checkpoint adds: every mode at every budget of the ladder, and residual traces."""
    checkpoints: tuple[int, ...] = ()
    ladder: tuple[int, ...] = ()
    splits: tuple[str, ...] = ("test",)
    residual_steps: int = 0


class RunResult(NamedTuple):
    rows: list[dict]  # one per (epoch, split, inference mode)
    residuals: list[dict]  # one per (start, step) of the final free relaxation
    status: str = "ok"  # or "diverged": the run stopped at `epoch`, rows hold what came before
    epoch: int | None = None
    note: str = ""


class Diverged(FloatingPointError):
    """NaN or inf in the weights or states: the run stops there."""


def check_finite(tree, what: str) -> None:
    """Diverged unless every NumPy array in tree is finite."""
    leaves = []
    tree_map(leaves.append, tree)
    if not all(np.isfinite(a).all() for a in leaves):
        raise Diverged(f"{what} became NaN or inf")


def ladder_modes(cfg: RunConfig, ladder) -> tuple[str, ...]:
    """The algorithm's inference modes at every budget T of the ladder (SPEC.md §3, §6)."""
    per_kind = {"ep": ("relax",), "iep": ("ff+relax", "relax"), "bp": ()}[cfg.algorithm]
    modes = ("ff",) if cfg.algorithm in ("iep", "bp") else ()
    return modes + tuple(f"{kind}@{t}" for kind in per_kind for t in ladder)


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


def evaluate(engine: Engine, cfg: RunConfig, model: Model, split: datasets.Split, modes) -> list[dict]:
    """Error and measured seconds of each inference mode on one split."""
    bk = engine.backend
    n = len(split.x) if cfg.eval_size is None else min(cfg.eval_size, len(split.x))
    x = bk.asarray(split.x[:n])
    rows = []
    for text in modes:
        mode = parse_mode(text)
        chunks = [slice(i, min(i + EVAL_BATCH, n)) for i in range(0, n, EVAL_BATCH)]
        start = time.perf_counter()  # the first chunk compiles: timed apart and reported
        bk.sync(engine.output_state(model, x[chunks[0]], mode, cfg.eps, cfg.lam))
        warmup_seconds = time.perf_counter() - start
        start = time.perf_counter()
        outputs = [engine.output_state(model, x[c], mode, cfg.eps, cfg.lam) for c in chunks]
        bk.sync(outputs)
        seconds = time.perf_counter() - start
        outputs = bk.to_numpy(outputs)  # once: the finiteness check and the argmax both read it
        check_finite(outputs, f"the states of {mode}")
        predicted = np.concatenate([np.argmax(o, axis=1) for o in outputs])
        rows.append({"mode": str(mode), "steps": mode.steps, "mult_adds": multiply_adds(cfg.sizes, mode),
                     "error": float(np.mean(predicted != split.y[:n])),
                     "seconds_per_10k": seconds * 10_000 / n, "eval_warmup_seconds": warmup_seconds})
    return rows


def residual_trace(engine: Engine, cfg: RunConfig, model: Model, x, steps: int) -> list[dict]:
    """max |s_{t+1} - s_t| for each free step, from zeros and (IEP) from the initializer's guess."""
    if model.energy is None or steps == 0:
        return []
    bk, xp = engine.backend, engine.backend.xp
    one_step = engine.compiled(relax)
    starts = [("zeros", zero_state(bk, cfg.sizes, x.shape[0]), None)]
    if model.feedforward is not None:
        f = engine.compiled(feedforward_prediction)(model.feedforward, x)
        starts.append(("forward", f, Pull(cfg.lam, f)))
    rows = []
    for start, s, pull in starts:
        for t in range(1, steps + 1):
            nxt = one_step(model.energy, x, s, 1, cfg.eps, 0.0, None, pull)
            rows.append({"start": start, "step": t,
                         "residual": max(float(xp.max(xp.abs(a - b))) for a, b in zip(nxt, s))})
            s = nxt
    return rows


def train_and_evaluate(cfg: RunConfig, dataset: datasets.Dataset | None = None,
                       progress: Callable[[str], None] = lambda message: None,
                       plan: EvaluationPlan = EvaluationPlan()) -> RunResult:
    """Train cfg; rows for every checkpoint (epoch 0 is the untrained net) and the final extras."""
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

    provenance = {**records.provenance(bk.describe()), "warmup_seconds": warmup_seconds}
    rows = []

    def record(epoch, train_seconds, train_seconds_total):
        extra = ladder_modes(cfg, plan.ladder) if epoch == cfg.epochs else ()
        for split_name, split in zip(SPLITS, (ds.train_eval, ds.validation, ds.test)):
            modes = cfg.eval_modes + tuple(m for m in extra if split_name in plan.splits
                                           and m not in cfg.eval_modes)
            for row in evaluate(engine, cfg, state.model, split, modes):
                rows.append({**config_columns(cfg), "epoch": epoch, "split": split_name, **row,
                             "train_seconds": train_seconds, "train_seconds_total": train_seconds_total,
                             "train_batches": n_batches, **provenance})

    epoch, total = 0, 0.0
    try:
        record(0, 0.0, 0.0)
        for epoch in range(1, cfg.epochs + 1):
            order = order_rng.permutation(n_train)
            start = time.perf_counter()
            for i in range(n_batches):
                state = step(state, *batch_args(order, i))
            bk.sync(state)
            train_seconds = time.perf_counter() - start
            total += train_seconds
            check_finite(bk.to_numpy(state), "the weights or persistent states")
            message = f"{cfg.algorithm} {cfg.backend} epoch {epoch}/{cfg.epochs}: {train_seconds:.1f} s"
            if epoch == cfg.epochs or not plan.checkpoints or epoch in plan.checkpoints:
                record(epoch, train_seconds, total)
                val = [r["error"] for r in rows if r["epoch"] == epoch and r["split"] == "validation"]
                message += f", validation error {', '.join(f'{e:.3f}' for e in val[:len(cfg.eval_modes)])}"
            progress(message)
    except Diverged as err:
        note = f"{err} in epoch {epoch}"
        progress(f"{cfg.algorithm} {cfg.backend} diverged: {note}")
        return RunResult([r for r in rows if r["epoch"] < epoch], [], "diverged", epoch, note)
    split = dict(zip(SPLITS, (ds.train_eval, ds.validation, ds.test)))[plan.splits[0]]
    x = bk.asarray(split.x[:min(EVAL_BATCH, len(split.x))])
    return RunResult(rows, residual_trace(engine, cfg, state.model, x, plan.residual_steps))


def config_columns(cfg: RunConfig) -> dict:
    """Every configuration field as a column (tuples as text, so tables stay flat)."""
    return {k: (" ".join(map(str, v)) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()
            if k != "eval_modes"}
