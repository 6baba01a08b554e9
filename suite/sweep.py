"""Run a study: every configuration once, resumable, on a local process pool or a Dask cluster.

Each run is keyed by identity.run_id (its configuration, the evaluation plan, the row schema and the
fingerprint of the code that computes the numbers). A finished run's rows are stored as soon as it
ends (store.RunStore), so a sweep run again skips them, and reruns those computed by other code; the
study's tables are reassembled, in study order, after every run. On this machine's pool a run also
saves its state after every epoch, so an unfinished run resumes where it was (a cluster's workers
may not share this disk: their runs start over).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import TextIO

import pandas as pd

import backends

from . import data as datasets
from . import identity, provenance, records, report
from .algorithms import ALGORITHMS
from .algorithms.inference import parse_mode
from .config import ConfigError, RunConfig
from .executors import LocalExecutor
from .progress import Progress, duration
from .run import EvaluationPlan, RunResult, check_fits, config_columns
from .store import RunStore
from .study import Study


def evaluation_plan(study: Study) -> EvaluationPlan:
    return EvaluationPlan(study.checkpoints, study.ladder, study.ladder_splits, study.residual_steps,
                          study.timing_repeats, study.abort_if_error_above, study.abort_after_epoch,
                          study.diagnostics)


def run_label(cfg: RunConfig) -> str:
    """A run in a line of progress: 'iep jax 784-500-10 T_neg=20 lam=0.1 seed 0'."""
    reads = ALGORITHMS[cfg.algorithm].reads
    budget = (f" T_neg={cfg.T_neg}" if "T_neg" in reads else "") + (f" lam={cfg.lam}" if cfg.lam else "")
    return f"{cfg.algorithm} {cfg.backend} {'-'.join(map(str, cfg.sizes))}{budget} seed {cfg.seed}"


def status_row(cfg: RunConfig, identifier: str, status: str, epoch: int, note: str, made_by: dict) -> dict:
    """The row that records a run which did not finish: where it stopped and why, and the provenance
    (provenance.COLUMNS) of what made it. It measured nothing: NaN in the measurement columns,
    which a table of status rows alone then still has."""
    return {**dict.fromkeys(records.MEASUREMENT_COLUMNS, math.nan), "run_id": identifier, **config_columns(cfg),
            "depth": cfg.depth, "epoch": epoch, "split": "",
            "mode": "", "mode_kind": "", "status": status, "note": note,
            **{name: made_by.get(name) for name in provenance.COLUMNS},
            "code_fingerprint": made_by.get("code_fingerprint") or identity.run_fingerprint(cfg)}


def tidy(result: RunResult, cfg: RunConfig, identifier: str, sweep_provenance: dict) -> tuple[pd.DataFrame, ...]:
    """The run's rows (a diverged run: its rows before, then a status row), residual trace and
    diagnostics, each table with the run's id and the fields that name its variant. A status row
    takes its provenance from the run's last row (the worker that stopped it), or from the sweep's
    (sweep_provenance) when the run stopped before measuring anything."""
    rows = pd.DataFrame(result.rows)
    if not rows.empty:
        rows.insert(0, "run_id", identifier)
        rows["depth"] = cfg.depth
        rows["mode_kind"] = [parse_mode(m).kind for m in rows["mode"]]
        rows["status"], rows["note"] = result.status, result.note
    if result.status != "ok":
        made_by = rows.iloc[-1].to_dict() if not rows.empty else sweep_provenance
        rows = pd.concat([rows, pd.DataFrame([status_row(cfg, identifier, result.status, result.epoch,
                                                         result.note, made_by)])], ignore_index=True)
    residuals = pd.DataFrame(result.residuals, columns=["start", "step", "residual"])
    diagnostics = pd.DataFrame(result.diagnostics, columns=["epoch", "quantity", "layer", "value"])
    for table in (residuals, diagnostics):
        table.insert(0, "run_id", identifier)
        for name in ("algorithm", "backend", "depth", "seed", "T_neg", "lam"):
            table[name] = getattr(cfg, name)
    return rows, residuals, diagnostics


def check_data(study: Study, required: bool = True) -> None:
    """Every run's sizes fit its data set, checked before anything runs. With required=False (a Dask
    client need not hold the data) a data set that is not here is left to the workers."""
    for key in dict.fromkeys((cfg.dataset, cfg.data_dir) for cfg in study.runs):
        try:
            ds = datasets.load(*key)
        except datasets.DataError:
            if required:
                raise
            continue
        for cfg in study.runs:
            if (cfg.dataset, cfg.data_dir) == key:
                try:
                    check_fits(cfg, ds)
                except ConfigError as err:
                    raise ConfigError(f"{study.source}: run '{run_label(cfg)}': {err}") from None


DEFAULT_RATE = 3e10  # multiply-adds per second of one core, when there is no speed record to read
TRAIN_IMAGES = {"mnist": 50_000, "fashion-mnist": 50_000, "synthetic": 1_000}


def training_multiply_adds(cfg: RunConfig) -> float:
    """The multiply-adds of a run's training: its algorithm's per sample (Algorithm.multiply_adds),
    times the samples of its epochs."""
    products = [a * b for a, b in zip(cfg.sizes[:-1], cfg.sizes[1:])]
    n_train = cfg.train_size or TRAIN_IMAGES[cfg.dataset]
    return ALGORITHMS[cfg.algorithm].multiply_adds(products, cfg) * (n_train // cfg.batch_size) * cfg.batch_size * cfg.epochs


def rates(speed_record: Path = identity.ROOT / "results" / "speed" / "speed.parquet") -> dict[str, float]:
    """Multiply-adds per second of one core per backend, from the speed record's chunked path."""
    if not speed_record.exists():
        return {}
    table = records.read_table(speed_record)
    table = table[table["path"] == "chunk"]
    seconds = table["ms_per_minibatch"] / 1e3
    work = [training_multiply_adds(RunConfig(sizes=tuple(map(int, net.split("-"))), T_neg=int(t), T_pos=int(p),
                                             lrs=(0.1,) * (net.count("-")), train_size=int(b), batch_size=int(b)))
            for net, t, p, b in zip(table["net"], table["T_neg"], table["T_pos"], table["batch"])]
    return (pd.Series(work, index=table.index) / seconds).groupby(table["backend"]).median().to_dict()


def dry_run(study: Study, workers: int = 1) -> str:
    """The expanded runs, their count and an estimate of their training time; nothing runs."""
    per_core = rates()
    lines = [f"  {i}. {run_label(cfg)}" for i, cfg in enumerate(study.runs, 1)]
    seconds = sum(training_multiply_adds(cfg) / per_core.get(cfg.backend, DEFAULT_RATE) for cfg in study.runs)
    source = "the speed record's rates" if per_core else "an assumed 3e10 multiply-adds per second"
    return "\n".join(lines + [
        f"{len(study.runs)} runs; about {duration(seconds)} of training on one core ({duration(seconds / workers)} "
        f"with {workers} worker{'s' if workers > 1 else ''}), from their multiply-adds at {source}; evaluation "
        "and compilation come on top"])


def check_devices(study: Study) -> None:
    """Every run's backend accepts its dtype and device on this machine, checked before anything
    runs (a backend that is not installed is left to the runs, which are then skipped)."""
    for cfg in {(c.backend, c.dtype, c.device): c for c in study.runs}.values():
        try:
            backends.get(cfg.backend, cfg.dtype, cfg.device)
        except backends.BackendUnavailable:
            continue
        except backends.BackendOptionError as err:
            raise ConfigError(f"{study.source}: run '{run_label(cfg)}': {err}") from None


def run_configs(study: Study) -> dict[str, RunConfig]:
    """The study's runs by identity.run_id, as a sweep keys them (a run listed twice runs once)."""
    plan = evaluation_plan(study)
    return {identity.run_id(cfg, plan): cfg for cfg in study.runs}


def reusable(store: RunStore, configs: dict[str, RunConfig], plan: EvaluationPlan) -> dict[str, str]:
    """The runs a sweep reuses, each with the id it is stored under: those finished in the store by
    this code, or by older code recorded as computing the same bits (identity.stored_ids)."""
    found = {}
    for identifier, cfg in configs.items():
        stored = next((i for i in identity.stored_ids(cfg, plan) if store.finished(i)), None)
        if stored:
            found[identifier] = stored
    return found


def edited_tree_warning(directory: Path, dirty: bool) -> str:
    """A warning when a sweep from an edited tree (provenance.collect's git_dirty) adds rows to a
    study whose stored rows all came from a clean one; else ''."""
    if not dirty or not (directory / "rows.parquet").exists():
        return ""
    try:
        flags = records.load_table(directory)["git_dirty"].dropna()  # status rows may carry none
    except records.BadTable:  # the sweep rewrites it
        return ""
    if flags.empty or flags.astype(bool).any():
        return ""
    return (f"warning: every stored row of {directory}/ came from a clean tree, and this sweep runs from one with "
            "uncommitted changes outside results/ (git status): its runs will carry git_dirty = True")


def run_study(study: Study, results_dir: Path, executor=None, force: bool = False,
              stream: TextIO | None = None, live: bool | None = None) -> pd.DataFrame:
    """Run every configuration not yet finished under results_dir/<study> by this code (all of them
    with force); returns the study's rows table, also stored there with the residuals, summary and
    study.toml. Progress goes to stream (default stdout), with a live bar on a terminal."""
    executor = executor or LocalExecutor()
    check_data(study, required=executor.data_here)
    if executor.data_here:
        check_devices(study)
    store = RunStore(Path(results_dir) / study.name)
    plan = evaluation_plan(study)
    configs = run_configs(study)
    here = provenance.collect({})  # the sweep's own: its tree, and a skipped run's provenance
    with store.lock():
        set_aside: list[str] = []
        finished = {} if force else load_runs(store, reusable(store, configs, plan), set_aside)
        pending = [i for i in configs if i not in finished]
        # Runs computed by other code stay in the tables (marked) until their rerun replaces them.
        outdated = {} if force else load_runs(store, {i: store.outdated(i)[0] for i in pending if store.outdated(i)},
                                              set_aside)
        progress = Progress({i: configs[i].epochs for i in pending}, stream, live,
                            cost={i: training_multiply_adds(configs[i]) / max(1, configs[i].epochs) for i in pending})
        for line in set_aside:
            progress.print(line)
        if finished:
            progress.print(f"{len(finished)} of {len(configs)} runs already finished in {store.directory}/ by "
                           "this code: reusing them (--force runs them again)")
        if outdated:
            progress.print(f"{len(outdated)} stored run{'s were' if len(outdated) > 1 else ' was'} computed by "
                           "other code (the fingerprint of the numeric code they execute has changed): running again")
        progress.print(f"{len(pending)} run{'' if len(pending) == 1 else 's'} to go on {executor.describe()}")
        warning = edited_tree_warning(store.directory, here["git_dirty"]) if pending else ""
        if warning:
            progress.print(warning)
        not_run: dict[str, pd.DataFrame] = {}
        training = {i: identity.training_id(configs[i], plan) for i in pending}
        if force:
            for i in pending:
                store.drop_checkpoints(training[i], keep_own=False)
        checkpoints = {i: store.checkpoint(training[i]) if executor.data_here else None for i in pending}

        def on_progress(index, epochs_done, message, resumed):
            identifier = pending[index]
            progress.update(identifier, epochs_done,
                            message and f"    run {index + 1}, {run_label(configs[identifier])}: {message}", resumed)

        tasks = [(configs[i], plan, checkpoints[i]) for i in pending]
        for done, outcome in enumerate(executor.map(tasks, on_progress, progress.print), 1):
            identifier = pending[outcome.index]
            cfg = configs[identifier]
            if outcome.not_run:  # recorded, not stored as finished: the next sweep runs it
                row = status_row(cfg, identifier, outcome.not_run, 0, outcome.why, here)
                not_run[identifier] = pd.DataFrame([row])
                what = f"{outcome.not_run}: {outcome.why}"
            else:
                finished[identifier] = tidy(outcome.result, cfg, identifier, here)
                store.save_run(identifier, *finished[identifier])
                store.drop_checkpoints(training[identifier])
                what = outcome.result.status if outcome.result.status == "ok" else outcome.result.note
            save_tables(store, configs, finished, not_run, outdated)
            progress.done(identifier, f"[{done}/{len(pending)} done] run {outcome.index + 1}, {run_label(cfg)}: {what}")
        progress.close()
        table, residuals, _ = save_tables(store, configs, finished, not_run, outdated)
        report.write_summary(table, store.directory, residuals, study.residual_tol, study.collapse_error,
                              study.claims)
        records.save_text(study.text, store.directory / "study.toml")
    progress.print(f"{len(configs)} runs ({len(pending)} run now, {len(not_run)} not run to their end) in "
                   f"{duration(progress.elapsed())}; tables in {store.directory}/")
    return table


def load_runs(store: RunStore, stored: dict[str, str], set_aside: list[str]) -> dict[str, tuple]:
    """The tables of stored runs ({run: the stored run id to read}). A run whose files cannot be
    used (records.BadTable) has them set aside and is left out, so it runs again; a line saying so
    is added to set_aside."""
    loaded = {}
    for identifier, stored_id in stored.items():
        try:
            loaded[identifier] = store.load_run(stored_id)
        except records.BadTable as err:
            renamed = store.set_aside(stored_id)
            set_aside.append(f"set aside {err.path.name}: {err.reason}; renamed to {renamed[0].name}, with the "
                             "rest of its run's files; that run runs again")
    return loaded


def save_tables(store: RunStore, configs: dict, finished: dict, not_run: dict, outdated: dict):
    """The study's rows and residuals, in study order, from every run that has an outcome: this
    code's, or else (until it is rerun) one computed by other code, or else the status row of one
    that did not run to its end (skipped, killed)."""
    stored = {**outdated, **finished}
    order = [i for i in configs if i in stored or i in not_run]
    rows = pd.concat([stored[i][0] if i in stored else not_run[i] for i in order], ignore_index=True)
    records.save_table(rows, store.directory / "rows.parquet")
    tables = [rows]
    for k, name in enumerate(RunStore.EXTRA_TABLES, 1):
        table = pd.concat([stored[i][k] for i in order if i in stored] or [pd.DataFrame()], ignore_index=True)
        records.save_table(table, store.directory / f"{name}.parquet")
        tables.append(table)
    return tables
