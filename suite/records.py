"""The result tables: one tidy row per (run, checkpoint, split, inference mode), their schema, atomic
parquet I/O that reads older schemas, and the selections every analysis starts from (final rows,
primary modes, stopped runs, steps to a residual). A run's identity is suite.identity's, a row's
provenance suite.provenance's, a study's report suite.report's.

results/<study>/
    rows.parquet        every measurement, with configuration and provenance columns
    residuals.parquet   the final free relaxation's max |s_{t+1} - s_t| per step
    diagnostics.parquet gradient alignment and saturation per evaluated epoch and layer (if asked for)
    summary.csv / .md   final test errors, mean and spread over seeds
    study.toml          the study as it was run
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pyarrow as pa

from .algorithms import ALGORITHMS
from .algorithms.inference import modes
from .config import RunConfig
from .files import atomic_write
from .variants import STOPPED_EARLY

#: Columns every row has, beyond the RunConfig fields (see tests/test_harness.py). A run's status is
#: on each of its rows: ok, collapsed (stopped early by the study's abort rule: an outcome, with a
#: status row at that epoch), diverged (a status row at the epoch it happened), or skipped or killed
#: (one row: it could not start, or its worker died; variants.NOT_RUN, run again by the next sweep).
MEASUREMENT_COLUMNS = ("run_id", "depth", "epoch", "split", "mode", "mode_kind", "steps", "mult_adds",
                       "error", "seconds_per_10k", "eval_warmup_seconds", "train_seconds", "train_cpu_seconds",
                       "train_seconds_total", "train_batches", "warmup_seconds", "status", "note")


#: Columns that differ between two runs of the same configuration (measured time, and when).
TIMING_COLUMNS = ("seconds_per_10k", "eval_warmup_seconds", "train_seconds", "train_cpu_seconds",
                  "train_seconds_total", "warmup_seconds", "date")


def save_table(frame: pd.DataFrame, path: Path) -> None:
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


class BadTable(ValueError):
    """A stored table that cannot be used: unreadable, of another schema, or another run's."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = Path(path), reason


def read_table(path: Path) -> pd.DataFrame:
    """A parquet file read through one open handle (BadTable, naming it, when it is not one). By
    path, pyarrow opens the file more than once, and a sweep replacing it meanwhile (atomic_write)
    can hand it parts of two versions."""
    if path.is_dir():  # a folder where a run's file goes: the run is redone, not the sweep stopped
        raise BadTable(path, "a folder, not a parquet table")
    with open(path, "rb") as handle:
        try:
            return pd.read_parquet(handle)
        except (pa.ArrowException, ValueError) as err:  # truncated, empty, not parquet
            first = str(err).split(". ")[0].removeprefix("Could not open Parquet input source '<Buffer>': ")
            raise BadTable(path, f"not a readable parquet table ({first})") from None


def save_text(text: str, path: Path) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def load_table(directory: Path, name: str = "rows") -> pd.DataFrame:
    path = Path(directory) / f"{name}.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run the study first (python -m suite run)")
    try:
        table = read_table(path)
    except BadTable as err:
        raise BadTable(err.path, f"{err.reason}; running its study again rebuilds it from runs/") from None
    if name == "rows" and "note" not in table:  # schema 1: every run finished
        table["note"] = ""
    for column in ("code_fingerprint", "isa"):  # not recorded before schemas 3 and 4
        if name == "rows" and column not in table:
            table[column] = "unknown"
    if name == "rows":  # fields added since the table was written: their defaults are what ran
        for field in dataclasses.fields(RunConfig):
            if field.name not in table and field.name != "eval_modes":
                table[field.name] = field.default
        table = name_stops(table)
    return table


#: The statuses whose runs are outcomes: finished, or stopped early (a seed that did not train).
OUTCOME_STATUSES = ("ok", *STOPPED_EARLY)
#: Training error falling by this much per epoch over a collapsed run's last two evaluated epochs: it
#: was stopped while still learning, not collapsed.
STILL_FALLING = 0.01
#: ... and already this far below chance (90% on ten classes): a fall from 93% to 91% is not learning.
LEARNING_BELOW = 0.8


def name_stops(rows: pd.DataFrame) -> pd.DataFrame:
    """rows, with each run the abort rule stopped ('collapsed') renamed 'stopped' where its training
    error (its best mode's) was below LEARNING_BELOW and still falling by STILL_FALLING or more per epoch;
    the note says by how much. Done when a table is read, so stored studies are named the same way."""
    train = rows[(rows["status"] == "collapsed") & (rows["split"] == "train")]
    falling = []
    for run_id, run in train.groupby("run_id"):
        error = run.groupby("epoch")["error"].min().sort_index()
        falls = len(error) >= 2 and (error.iloc[-2] - error.iloc[-1]) / (error.index[-1] - error.index[-2]) >= STILL_FALLING
        if falls and error.iloc[-1] < LEARNING_BELOW:
            falling.append((run_id, f"; still falling: {100 * error.iloc[-2]:.1f}% to {100 * error.iloc[-1]:.1f}% "
                                    f"from epoch {error.index[-2]} to {error.index[-1]}"))
    if not falling:
        return rows
    rows = rows.copy()
    for run_id, words in falling:
        run = rows["run_id"] == run_id
        rows.loc[run, "status"] = "stopped"
        rows.loc[run & (rows["split"] == ""), "note"] += words
    return rows


def final_rows(rows: pd.DataFrame, splits: tuple[str, ...] = ("test",)) -> pd.DataFrame:
    """Each run's last checkpoint on these splits (a collapsed run's: where it was stopped)."""
    last = rows.groupby("run_id")["epoch"].transform("max")
    return rows[(rows["epoch"] == last) & rows["split"].isin(splits) & rows["status"].isin(OUTCOME_STATUSES)]


def primary_mode(row) -> bool:
    """The mode a run is trained for: relax@T_neg (EP), ff and ff+relax@T_neg (IEP), ff (bp)."""
    return row["mode"] in modes(ALGORITHMS[row["algorithm"]].primary_kinds, (row["T_neg"],))


def steps_to(residuals: pd.DataFrame, tol: float) -> pd.Series:
    """Per run and start: the first step whose residual is below tol (NaN: never within the trace)."""
    runs = residuals.drop_duplicates(["run_id", "start"]).set_index(["run_id", "start"])
    reached = residuals[residuals["residual"] < tol].groupby(["run_id", "start"])["step"].min()
    return reached.reindex(runs.index)
