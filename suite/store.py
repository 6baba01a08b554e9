"""One study's results directory: a file per finished run, the assembled tables, and a lock.

results/<study>/
    runs/<run_id>.rows.parquet        a finished run's rows; written last, so it marks the run done
    runs/<run_id>.residuals.parquet   its residual trace
    runs/<run_id>.diagnostics.parquet its gradient alignment and saturation (studies that ask for them)
                                      (run_id = <config key>-<code fingerprint>: identity.run_id)
    runs/<training_id>.checkpoint.npz the training's state after its last epoch, data only
                                      (suite.checkpoints): a killed run resumes there, a longer run
                                      of it starts there
    runs/*.bad-<n>                    a file set aside as unreadable (its run started over); kept
                                      for a look, never read
    rows.parquet, residuals.parquet,  every run of the study, in study order (see records.py)
    diagnostics.parquet
    study.toml                        the study as it was last run
    .lock                             held (flock) by the sweep writing here

Every file is written atomically, so a sweep killed at any moment leaves finished runs whole and
nothing half-written under a final name. The lock is an advisory flock: the kernel drops it when its
process dies, even by kill -9, so a killed sweep never leaves the directory locked.
"""
from __future__ import annotations

import datetime
import fcntl
import os
import socket
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from . import checkpoints, provenance, records
from .config import ConfigError
from .files import set_aside
from .study import Study, from_text


class StudyLocked(RuntimeError):
    """Another sweep is writing the same results directory."""


class RunStore:
    EXTRA_TABLES = ("residuals", "diagnostics")  # what a run stores beside its rows, in that order

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.runs = self.directory / "runs"

    def _path(self, run_id: str, table: str) -> Path:
        return self.runs / f"{run_id}.{table}.parquet"

    def finished(self, run_id: str) -> bool:
        return self._path(run_id, "rows").exists()

    def outdated(self, run_id: str) -> list[str]:
        """Stored runs of the same configuration and plan computed by other code."""
        key = run_id.rsplit("-", 1)[0]
        return sorted(other for other in (p.name.removesuffix(".rows.parquet")
                                          for p in self.runs.glob(f"{key}-*.rows.parquet")) if other != run_id)

    def study(self) -> Study | None:
        """The study as it was last run (its study.toml), or None when there is none."""
        path = self.directory / "study.toml"
        return from_text(path.read_text(), str(path)) if path.exists() else None

    def checkpoint(self, training_id: str) -> Path:
        return self.runs / f"{training_id}{checkpoints.SUFFIX}"

    def drop_checkpoints(self, training_id: str, keep_own: bool = True) -> None:
        """Delete the training's checkpoints saved by other code (and with keep_own=False, its own)."""
        key = training_id.rsplit("-", 1)[0]
        for path in self.runs.glob(f"{key}-*{checkpoints.SUFFIX}"):
            if not (keep_own and path == self.checkpoint(training_id)):
                path.unlink(missing_ok=True)

    def save_run(self, run_id: str, rows: pd.DataFrame, *extras: pd.DataFrame) -> None:
        """Store a finished run (rows, then EXTRA_TABLES in order); its results from other code,
        if any, are replaced."""
        outdated = self.outdated(run_id)
        for name, table in zip(self.EXTRA_TABLES, extras, strict=True):
            records.save_table(table, self._path(run_id, name))
        records.save_table(rows, self._path(run_id, "rows"))  # last: the run counts as done from here
        for other in outdated:
            for name in ("rows", *self.EXTRA_TABLES):
                self._path(other, name).unlink(missing_ok=True)

    def load_run(self, run_id: str) -> tuple[pd.DataFrame, ...]:
        """rows, then EXTRA_TABLES (empty for a run stored before the table existed); records.BadTable
        when a file is unreadable, lacks the columns of today's schema, or holds another run's rows."""
        return tuple(self._load(run_id, name) for name in ("rows", *self.EXTRA_TABLES))

    def _load(self, run_id: str, name: str) -> pd.DataFrame:
        path = self._path(run_id, name)
        if name != "rows" and not path.exists():
            return pd.DataFrame()
        table = records.read_table(path)
        required = records.MEASUREMENT_COLUMNS + provenance.COLUMNS if name == "rows" else ("run_id",)
        missing = [c for c in required if c not in table]
        if missing or (name == "rows" and table.empty):
            raise records.BadTable(path, f"not a run's {name} of this schema (missing: {', '.join(missing) or 'rows'})")
        others = set(table["run_id"]) - {run_id}
        if others:
            raise records.BadTable(path, f"holds the rows of another run ({', '.join(sorted(others))})")
        return table

    def set_aside(self, run_id: str) -> list[Path]:
        """Rename a run's stored files out of the way (files.set_aside), its rows first: it counts
        as not run. Their new paths."""
        paths = [self._path(run_id, name) for name in ("rows", *self.EXTRA_TABLES)]
        return [set_aside(path) for path in paths if path.exists()]

    @contextmanager
    def lock(self):
        """Hold the directory's lock for the duration; StudyLocked if another sweep holds it."""
        path = self.directory / ".lock"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+")
        except OSError as err:  # a file where a folder goes, no permission, a read-only disk, ...
            raise ConfigError(f"--results: cannot write the study's folder {self.directory} ({err.strerror}); "
                              "choose another --results") from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise StudyLocked(f"{self.directory}: another sweep is writing here ({holder}); wait for it "
                                  "to finish, or use another --results directory") from None
            handle.seek(0)
            handle.truncate()
            since = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
            handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since {since}")
            handle.flush()
            for orphan in self.directory.rglob(".*.tmp"):  # a killed sweep's half-written files
                orphan.unlink()
            try:
                yield self
            finally:
                handle.truncate(0)
                fcntl.flock(handle, fcntl.LOCK_UN)
