"""One run: train a configuration, evaluate every inference mode after every epoch, time it all.

Timing follows docs/method.md §7: compilation is timed apart (the first training minibatch, and
every distinct evaluation shape), every timed region ends with the backend's sync, inference
seconds are the median of repeats, and training seconds exclude evaluation.

A run given a checkpoint file saves its whole state there after every epoch and, started again,
resumes from it: a killed run loses at most the epoch it was in.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from backends import tree_map

from . import data as datasets
from . import provenance
from .algorithms import ALGORITHMS
from .algorithms.energy import Pull, relax, zero_state
from .algorithms.inference import Model, modes, multiply_adds, parse_mode
from .checkpoints import Checkpoint, Saved
from .config import ConfigError, RunConfig
from .engine import (Engine, TrainState, feedforward_prediction, glorot_layers, hyper, one_hot, static_options,
                     train_chunk)

SPLITS = ("train", "validation", "test")
EVAL_BATCH = 1000
PROBE_SIZE = 100  # the first training images: the fixed probe batch of the diagnostics
REPORT_SECONDS = 0.5  # how often a run reports its progress within an epoch

#: report(epochs_done, message, resumed=False): progress of a run, epochs_done fractional within an
#: epoch; a non-empty message is a line worth printing (an epoch ended, the run diverged); resumed:
#: the run starts at epochs_done, from a checkpoint.
Report = Callable[..., None]


def no_report(epochs_done: float, message: str, resumed: bool = False) -> None:
    pass


class EvaluationPlan(NamedTuple):
    """When to evaluate (checkpoint epochs; empty: every epoch; the last epoch always), what the
    last checkpoint adds (every mode at every budget of the ladder, and residual traces), how
    many timed repeats each inference measurement takes (the median is kept), and when a run
    counts as collapsed and stops: its training error (best of its modes) above
    abort_if_error_above at an evaluated epoch from abort_after_epoch on (None: never)."""
    checkpoints: tuple[int, ...] = ()
    ladder: tuple[int, ...] = ()
    splits: tuple[str, ...] = ("validation", "test")
    residual_steps: int = 0
    timing_repeats: int = 3
    abort_if_error_above: float | None = None
    abort_after_epoch: int = 2
    diagnostics: bool = False  # record suite.algorithms.diagnostics at every evaluated epoch

    def evaluates(self, epoch: int, epochs: int) -> bool:
        """Whether a run of `epochs` epochs is evaluated after `epoch`."""
        return (epoch == epochs or not self.checkpoints or epoch in self.checkpoints
                or (self.abort_if_error_above is not None and epoch == self.abort_after_epoch))

    def collapsed(self, epoch: int, train_error: float) -> bool:
        return (self.abort_if_error_above is not None and epoch >= self.abort_after_epoch
                and train_error > self.abort_if_error_above)


class RunResult(NamedTuple):
    rows: list[dict]  # one per (epoch, split, inference mode)
    residuals: list[dict]  # one per (start, step) of the final free relaxation
    #: or "diverged" (the run stopped at `epoch`, rows hold what came before), or "collapsed" (the
    #: plan stopped it at `epoch`, rows up to and including that epoch)
    status: str = "ok"
    epoch: int | None = None
    note: str = ""
    diagnostics: list[dict] = []  # one per (epoch, quantity, layer) when the plan asks for them


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
    """The algorithm's nets, Glorot-initialised in the order it declares them, and EP's per-example
    states for init 'persistent'."""
    nets = {name: glorot_layers(rng, cfg.sizes) for name in ALGORITHMS[cfg.algorithm].nets}
    energy, ff = nets.get("energy"), nets.get("feedforward")
    persistent = (tuple(np.zeros((n_train, n)) for n in cfg.sizes[1:])
                  if cfg.init == "persistent" else None)
    return engine.backend.asarray(TrainState(Model(energy, ff), persistent))


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
        self.chunk = self.engine.compiled(train_chunk, donate_argnums=(0,), **static_options(cfg))
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

    def snapshot(self) -> dict:
        """Everything the next epoch depends on, as NumPy arrays and generator states."""
        return {"state": self.backend.to_numpy(self.state), "order_rng": self.order_rng.bit_generator.state,
                "sign_rng": self.sign_rng.bit_generator.state}

    def restore(self, snapshot: dict) -> None:
        self.state = self.backend.asarray(snapshot["state"])
        self.order_rng.bit_generator.state = snapshot["order_rng"]
        self.sign_rng.bit_generator.state = snapshot["sign_rng"]


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
            nxt = one_step(model.energy, x, s, 1, cfg.eps, pull=pull, kappa=cfg.kappa)
            rows.append({"start": start, "step": t,
                         "residual": max(float(xp.max(xp.abs(a - b))) for a, b in zip(nxt, s))})
            s = nxt
    return rows


def diagnose(trainer: "Trainer", epoch: int) -> list[dict]:
    """The diagnostics of the run's model now, on the probe batch: a row per quantity and layer."""
    cfg, bk = trainer.cfg, trainer.backend
    probe = ALGORITHMS[cfg.algorithm].probe
    if probe is None:  # bp: no energy net, nothing to relax or to saturate
        return []
    fn = trainer.engine.compiled(probe, steps=cfg.T_neg)
    found = fn(trainer.state.model, trainer.X[:PROBE_SIZE], trainer.Y[:PROBE_SIZE], trainer.hp, cfg.lam)
    return [{"epoch": epoch, "quantity": quantity, "layer": layer, "value": float(value)}
            for quantity, values in found.items() for layer, value in enumerate(bk.to_numpy(values), 1)]


# A run's own finite check (Diverged) reports a divergence in one line; numpy's overflow warnings
# on the way there would only print its symptoms first.
@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def train_and_evaluate(cfg: RunConfig, dataset: datasets.Dataset | None = None, report: Report = no_report,
                       plan: EvaluationPlan = EvaluationPlan(), checkpoint: Path | None = None) -> RunResult:
    """Train cfg; rows for every checkpoint (epoch 0 is the untrained net) and the final extras.
    With a checkpoint file, the run resumes from it and saves its state there after every epoch."""
    ds = dataset if dataset is not None else datasets.load(cfg.dataset, cfg.data_dir)
    check_fits(cfg, ds)
    trainer = Trainer(cfg, ds)
    engine, bk = trainer.engine, trainer.backend
    made_by = {**provenance.collect(bk.describe(), cfg), "warmup_seconds": trainer.warm_up()}
    splits = dict(zip(SPLITS, (ds.train_eval, ds.validation, ds.test)))

    def record(epoch, split_names, mode_names, seconds=(0.0, 0.0, 0.0)) -> list[dict]:
        train_seconds, train_cpu_seconds, train_seconds_total = seconds
        return [{**config_columns(cfg), "epoch": epoch, "split": name, **row, "train_seconds": train_seconds,
                 "train_cpu_seconds": train_cpu_seconds, "train_seconds_total": train_seconds_total,
                 "train_batches": trainer.n_batches, **made_by}
                for name in split_names
                for row in evaluate(engine, cfg, trainer.state.model, splits[name], mode_names, plan.timing_repeats)]

    def measure(epoch, seconds=(0.0, 0.0, 0.0)) -> list[dict]:
        if plan.diagnostics:
            probes.extend(diagnose(trainer, epoch))
        return record(epoch, SPLITS, cfg.eval_modes, seconds)

    saved = Checkpoint(checkpoint)
    resumed = saved.load(cfg.epochs, trainer.snapshot()["state"], report)
    if resumed:
        trainer.restore(resumed.trainer)
        # the saved rows may come from a shorter run of the same training: this run's columns
        rows, probes = [{**row, **config_columns(cfg)} for row in resumed.rows], resumed.diagnostics
        first, total = resumed.epoch + 1, resumed.train_seconds_total
        report(resumed.epoch, f"resumed after epoch {resumed.epoch} from {checkpoint.name}", resumed=True)
    else:
        rows, probes, first, total = [], [], 1, 0.0
    epoch = first - 1
    try:
        if not resumed:
            rows += measure(0)
        for epoch in range(first, cfg.epochs + 1):
            seconds, cpu_seconds = trainer.epoch(lambda done: report(epoch - 1 + done / trainer.n_batches, ""))
            total += seconds
            message = f"epoch {epoch}/{cfg.epochs}: {seconds:.1f} s training"
            if plan.evaluates(epoch, cfg.epochs):
                new = measure(epoch, (seconds, cpu_seconds, total))
                rows += new
                message += ", validation error " + ", ".join(f"{r['mode']} {r['error']:.3f}" for r in new
                                                             if r["split"] == "validation")
                train_error = min(r["error"] for r in new if r["split"] == "train")
                if plan.collapsed(epoch, train_error):
                    note = (f"training error {train_error:.3f} above {plan.abort_if_error_above:g} after epoch "
                            f"{epoch}: stopped")
                    report(epoch, f"collapsed: {note}")
                    return RunResult(rows, [], "collapsed", epoch, note, probes)
            saved.save(Saved(epoch, trainer.snapshot(), rows, probes, total))
            report(epoch, message)
    except Diverged as err:
        note = f"{err} in epoch {epoch}"
        report(epoch, f"diverged: {note}")
        return RunResult([r for r in rows if r["epoch"] < epoch], [], "diverged", epoch, note,
                         [p for p in probes if p["epoch"] < epoch])
    ladder = tuple(m for m in modes(ALGORITHMS[cfg.algorithm].mode_kinds, plan.ladder) if m not in cfg.eval_modes)
    rows += record(cfg.epochs, plan.splits, ladder, (rows[-1]["train_seconds"], rows[-1]["train_cpu_seconds"], total))
    x = bk.asarray(splits[plan.splits[0]].x[:min(EVAL_BATCH, len(splits[plan.splits[0]].x))])
    return RunResult(rows, residual_trace(engine, cfg, trainer.state.model, x, plan.residual_steps),
                     diagnostics=probes)


def config_columns(cfg: RunConfig) -> dict:
    """Every configuration field as a column (tuples as text, so tables stay flat)."""
    return {k: (" ".join(map(str, v)) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()
            if k != "eval_modes"}
