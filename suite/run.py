"""One run: train a configuration, evaluate every inference mode after every epoch, time it all.

Timing follows docs/method.md §7: compilation is timed apart (the first training minibatch, and
every distinct evaluation shape), every timed region ends with the backend's sync, inference
seconds are the median of repeats, and training seconds exclude evaluation.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict
from typing import Callable, NamedTuple

import numpy as np

from backends import tree_map

from . import data as datasets
from . import records
from .algorithms.energy import Pull, relax, zero_state
from .algorithms.ep import EPHyper
from .algorithms.inference import MODE_KINDS, Model, modes, multiply_adds, parse_mode
from .config import ConfigError, RunConfig
from .engine import Engine, TrainState, feedforward_prediction, glorot_layers, one_hot, train_chunk

SPLITS = ("train", "validation", "test")
EVAL_BATCH = 1000
REPORT_SECONDS = 0.5  # how often a run reports its progress within an epoch

#: report(epochs_done, message): progress of a run, epochs_done fractional within an epoch; a
#: non-empty message is a line worth printing (an epoch ended, the run diverged).
Report = Callable[[float, str], None]


def no_report(epochs_done: float, message: str) -> None:
    pass


class EvaluationPlan(NamedTuple):
    """When to evaluate (checkpoint epochs; empty: every epoch; the last epoch always), what the
    last checkpoint adds (every mode at every budget of the ladder, and residual traces), and how
    many timed repeats each inference measurement takes (the median is kept)."""
    checkpoints: tuple[int, ...] = ()
    ladder: tuple[int, ...] = ()
    splits: tuple[str, ...] = ("test",)
    residual_steps: int = 0
    timing_repeats: int = 3


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


def check_fits(cfg: RunConfig, ds: datasets.Dataset) -> None:
    if cfg.sizes[0] != ds.n_features:
        raise ConfigError(f"sizes: first size {cfg.sizes[0]} does not fit {ds.name}, whose images have "
                          f"{ds.n_features} features", field="sizes")
    if cfg.sizes[-1] != ds.n_classes:
        raise ConfigError(f"sizes: last size {cfg.sizes[-1]} does not fit {ds.name}, which has "
                          f"{ds.n_classes} classes", field="sizes")
    n_train = len(ds.train.x) if cfg.train_size is None else cfg.train_size
    if n_train > len(ds.train.x):
        raise ConfigError(f"train_size: {cfg.train_size} is more than the {len(ds.train.x)} training "
                          f"images of {ds.name}", field="train_size")
    if n_train < cfg.batch_size:
        raise ConfigError(f"batch_size: {cfg.batch_size} is more than the {n_train} training images",
                          field="batch_size")


def initial_state(engine: Engine, cfg: RunConfig, rng: np.random.Generator, n_train: int) -> TrainState:
    energy = glorot_layers(rng, cfg.sizes) if cfg.algorithm in ("ep", "iep") else None
    ff = glorot_layers(rng, cfg.sizes) if cfg.algorithm in ("iep", "bp") else None
    persistent = (tuple(np.zeros((n_train, n)) for n in cfg.sizes[1:])
                  if cfg.init == "persistent" else None)
    return engine.backend.asarray(TrainState(Model(energy, ff), persistent))


def hyper(cfg: RunConfig) -> EPHyper:
    return EPHyper(cfg.eps, cfg.beta, cfg.T_neg, cfg.T_pos, cfg.lrs, cfg.kappa)


CHUNK = 100  # minibatches per call at most (jax: one compiled loop); progress is reported between calls


def chunk_length(n_batches: int, most: int = CHUNK) -> int:
    """The largest divisor of n_batches that is at most `most`: every call has the same shape."""
    return max(k for k in range(1, min(most, n_batches) + 1) if n_batches % k == 0)


class Trainer:
    """A run's training state, its random streams and its compiled step: everything an epoch needs."""

    def __init__(self, cfg: RunConfig, ds: datasets.Dataset):
        self.cfg = cfg
        self.engine = Engine(cfg.backend, cfg.dtype, cfg.device)
        bk = self.backend = self.engine.backend
        init_rng, self.order_rng, self.sign_rng = (np.random.default_rng(s)
                                                   for s in np.random.SeedSequence(cfg.seed).spawn(3))
        self.n_train = len(ds.train.x) if cfg.train_size is None else cfg.train_size
        self.n_batches = self.n_train // cfg.batch_size  # a last partial batch is dropped: one shape
        self.X = bk.asarray(ds.train.x[:self.n_train])
        self.Y = bk.asarray(one_hot(ds.train.y[:self.n_train], ds.n_classes))
        self.state = initial_state(self.engine, cfg, init_rng, self.n_train)
        self.hp = hyper(cfg)
        self.chunk = self.engine.compiled(train_chunk, donate_argnums=(0,), algorithm=cfg.algorithm,
                                          init=cfg.init, symmetric=cfg.symmetric,
                                          global_loss=cfg.initializer_loss == "global", bp_loss=cfg.bp_loss,
                                          initializer_target=cfg.initializer_target)
        self.chunk_length = chunk_length(self.n_batches)

    def warm_up(self) -> float:
        """Compile the chunk of minibatches ahead where the backend can, else run one throwaway
        minibatch, on a copy of the state (the real one is untouched); the seconds it took."""
        bk, batch, k = self.backend, self.cfg.batch_size, self.chunk_length
        start = time.perf_counter()
        throwaway = bk.asarray(bk.to_numpy(self.state))  # asarray copies
        idx, signs = np.arange(k * batch).reshape(k, batch) % self.n_train, np.ones(k)
        args = self.X, self.Y, bk.index_array(idx), bk.asarray(signs), self.hp, self.cfg.lam
        if not bk.compile_ahead(self.chunk, throwaway, *args):
            bk.sync(self.chunk(throwaway, self.X, self.Y, bk.index_array(idx[:1]), bk.asarray(signs[:1]),
                               self.hp, self.cfg.lam))
        return time.perf_counter() - start

    def signs(self, n: int) -> np.ndarray:
        """The nudging signs of the next n minibatches: random, or all +1 without random_sign."""
        return self.sign_rng.choice((-1.0, 1.0), size=n) if self.cfg.random_sign else np.ones(n)

    def epoch(self, report: Callable[[int], None] = lambda batches_done: None) -> tuple[float, float]:
        """One pass over the training images in a fresh random order, chunk_length minibatches per
        call; its wall-clock seconds (synced) and this process's CPU seconds (over wall: the cores it
        kept busy). report(minibatches done) is called between chunks, at most every REPORT_SECONDS.
        Diverged on NaN or inf."""
        bk, batch, k = self.backend, self.cfg.batch_size, self.chunk_length
        order = self.order_rng.permutation(self.n_train)[:self.n_batches * batch].reshape(-1, batch)
        signs = self.signs(self.n_batches)
        cpu_start = time.process_time()
        start = last_report = time.perf_counter()
        for i in range(0, self.n_batches, k):
            self.state = self.chunk(self.state, self.X, self.Y, bk.index_array(order[i:i + k]),
                                    bk.asarray(signs[i:i + k]), self.hp, self.cfg.lam)
            if time.perf_counter() - last_report >= REPORT_SECONDS:
                report(i + k)
                last_report = time.perf_counter()
        bk.sync(self.state)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        check_finite(bk.to_numpy(self.state), "the weights or persistent states")
        return seconds, cpu_seconds


def evaluate(engine: Engine, cfg: RunConfig, model: Model, split: datasets.Split, mode_names,
             repeats: int = 3) -> list[dict]:
    """Error and measured seconds of each inference mode on one split: the median of `repeats`
    timed passes, after a pass over one chunk of every distinct shape (compilation) timed apart."""
    bk = engine.backend
    n = len(split.x) if cfg.eval_size is None else min(cfg.eval_size, len(split.x))
    x = bk.asarray(split.x[:n])
    chunks = [slice(i, min(i + EVAL_BATCH, n)) for i in range(0, n, EVAL_BATCH)]
    one_per_shape = list({c.stop - c.start: c for c in chunks}.values())  # the last may be shorter
    rows = []
    for text in mode_names:
        mode = parse_mode(text)

        def outputs_of(parts):
            return bk.sync([engine.output_state(model, x[c], mode, cfg.eps, cfg.lam, cfg.kappa) for c in parts])

        start = time.perf_counter()
        outputs_of(one_per_shape)
        warmup_seconds = time.perf_counter() - start
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            outputs = outputs_of(chunks)
            times.append(time.perf_counter() - start)
        outputs = bk.to_numpy(outputs)  # once: the finiteness check and the argmax both read it
        check_finite(outputs, f"the states of {mode}")
        predicted = np.concatenate([np.argmax(o, axis=1) for o in outputs])
        rows.append({"mode": str(mode), "steps": mode.steps, "mult_adds": multiply_adds(cfg.sizes, mode),
                     "error": float(np.mean(predicted != split.y[:n])),
                     "seconds_per_10k": statistics.median(times) * 10_000 / n,
                     "eval_warmup_seconds": warmup_seconds})
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
            nxt = one_step(model.energy, x, s, 1, cfg.eps, 0.0, None, pull, None, False, cfg.kappa)
            rows.append({"start": start, "step": t,
                         "residual": max(float(xp.max(xp.abs(a - b))) for a, b in zip(nxt, s))})
            s = nxt
    return rows


def train_and_evaluate(cfg: RunConfig, dataset: datasets.Dataset | None = None, report: Report = no_report,
                       plan: EvaluationPlan = EvaluationPlan()) -> RunResult:
    """Train cfg; rows for every checkpoint (epoch 0 is the untrained net) and the final extras."""
    ds = dataset if dataset is not None else datasets.load(cfg.dataset, cfg.data_dir)
    check_fits(cfg, ds)
    trainer = Trainer(cfg, ds)
    engine, bk = trainer.engine, trainer.backend
    provenance = {**records.provenance(bk.describe()), "warmup_seconds": trainer.warm_up()}
    splits = dict(zip(SPLITS, (ds.train_eval, ds.validation, ds.test)))
    rows = []

    def record(epoch, train_seconds, train_cpu_seconds, train_seconds_total) -> list[dict]:
        ladder = modes(MODE_KINDS[cfg.algorithm], plan.ladder) if epoch == cfg.epochs else ()
        new = []
        for split_name, split in splits.items():
            extra = tuple(m for m in ladder if split_name in plan.splits and m not in cfg.eval_modes)
            for row in evaluate(engine, cfg, trainer.state.model, split, cfg.eval_modes + extra,
                                plan.timing_repeats):
                new.append({**config_columns(cfg), "epoch": epoch, "split": split_name, **row,
                            "train_seconds": train_seconds, "train_cpu_seconds": train_cpu_seconds,
                            "train_seconds_total": train_seconds_total,
                            "train_batches": trainer.n_batches, **provenance})
        rows.extend(new)
        return new

    epoch, total = 0, 0.0
    try:
        record(0, 0.0, 0.0, 0.0)
        for epoch in range(1, cfg.epochs + 1):
            seconds, cpu_seconds = trainer.epoch(lambda done: report(epoch - 1 + done / trainer.n_batches, ""))
            total += seconds
            message = f"epoch {epoch}/{cfg.epochs}: {seconds:.1f} s training"
            if epoch == cfg.epochs or not plan.checkpoints or epoch in plan.checkpoints:
                errors = {r["mode"]: r["error"] for r in record(epoch, seconds, cpu_seconds, total)
                          if r["split"] == "validation" and r["mode"] in cfg.eval_modes}
                message += ", validation error " + ", ".join(f"{m} {e:.3f}" for m, e in errors.items())
            report(epoch, message)
    except Diverged as err:
        note = f"{err} in epoch {epoch}"
        report(epoch, f"diverged: {note}")
        return RunResult([r for r in rows if r["epoch"] < epoch], [], "diverged", epoch, note)
    x = bk.asarray(splits[plan.splits[0]].x[:min(EVAL_BATCH, len(splits[plan.splits[0]].x))])
    return RunResult(rows, residual_trace(engine, cfg, trainer.state.model, x, plan.residual_steps))


def config_columns(cfg: RunConfig) -> dict:
    """Every configuration field as a column (tuples as text, so tables stay flat)."""
    return {k: (" ".join(map(str, v)) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()
            if k != "eval_modes"}
