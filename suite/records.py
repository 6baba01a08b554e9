"""The result tables: one tidy row per (run, checkpoint, split, inference mode), stored atomically.

results/<study>/
    rows.parquet        every measurement, with configuration and provenance columns
    residuals.parquet   the final free relaxation's max |s_{t+1} - s_t| per step
    summary.csv / .md   final test errors, mean and spread over seeds
    study.toml          the study as it was run
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from .config import RunConfig

SCHEMA_VERSION = 2  # 2: status 'diverged' / 'skipped' with a status row, and the note column
#: Columns every row has, beyond the RunConfig fields (see tests/test_harness.py). A run's status is
#: on each of its rows: ok, diverged (a status row at the epoch it happened) or skipped (one row).
MEASUREMENT_COLUMNS = ("run_id", "depth", "epoch", "split", "mode", "mode_kind", "steps", "mult_adds",
                       "error", "seconds_per_10k", "eval_warmup_seconds", "train_seconds", "train_seconds_total",
                       "train_batches", "warmup_seconds", "status", "note")
PROVENANCE_COLUMNS = ("git_commit", "git_dirty", "backend_device", "threads", "cpu", "date", "versions")
#: Columns that differ between two runs of the same configuration (measured time, and when).
TIMING_COLUMNS = ("seconds_per_10k", "eval_warmup_seconds", "train_seconds", "train_seconds_total",
                  "warmup_seconds", "date")


def run_id(cfg: RunConfig, plan) -> str:
    """Stable hash of everything that determines a run's rows: configuration and evaluation plan."""
    key = json.dumps({"config": asdict(cfg), "plan": list(plan), "schema": SCHEMA_VERSION},
                     sort_keys=True, default=list)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _git(*args) -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(describe: dict) -> dict:
    """Where and with what a row was measured."""
    versions = {k: v for k, v in describe.items() if k in ("numpy", "torch", "jax", "jaxlib", "torch_compile")}
    return {"git_commit": _git("rev-parse", "HEAD") or "unknown",
            # results/ is excluded: a sweep rewriting its own tables does not make the code dirty
            "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no", "--", ".",
                                   ":(exclude)results")),
            "backend_device": describe.get("device", ""), "threads": describe.get("threads", 0),
            "cpu": _cpu_model(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "versions": json.dumps(versions, sort_keys=True)}


def atomic_write(path: Path, write) -> None:
    """write(temporary_path), then rename over path: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_table(frame: pd.DataFrame, path: Path) -> None:
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


def save_text(text: str, path: Path) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def load_table(directory: Path, name: str = "rows") -> pd.DataFrame:
    path = Path(directory) / f"{name}.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run the study first (python -m suite run)")
    table = pd.read_parquet(path)
    if name == "rows" and "note" not in table:  # schema 1: every run finished
        table["note"] = ""
    return table


def final_rows(rows: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Each run's last checkpoint on one split."""
    last = rows.groupby("run_id")["epoch"].transform("max")
    return rows[(rows["epoch"] == last) & (rows["split"] == split) & (rows["status"] == "ok")]


def primary_mode(row) -> bool:
    """The mode a run is trained for: relax@T_neg (EP), ff and ff+relax@T_neg (IEP), ff (bp)."""
    return row["mode"] in {"ep": (f"relax@{row['T_neg']}",), "iep": ("ff", f"ff+relax@{row['T_neg']}"),
                           "bp": ("ff",)}[row["algorithm"]]


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Final test error (%) per algorithm x depth x budget x mode x backend: mean and spread over seeds."""
    final = final_rows(rows)
    final = final[final.apply(primary_mode, axis=1)]
    grouped = final.groupby(["algorithm", "depth", "T_neg", "lam", "mode", "backend"])["error"]
    table = grouped.agg(["mean", "std", "count"]).reset_index()
    table["test error %"] = [f"{100 * m:.2f} ± {100 * (0 if pd.isna(s) else s):.2f}"
                             for m, s in zip(table["mean"], table["std"])]
    table.loc[table["algorithm"] == "bp", "T_neg"] = 0
    wide = table.pivot_table(index=["algorithm", "depth", "T_neg", "lam", "mode"], columns="backend",
                             values="test error %", aggfunc="first")
    seeds = table.groupby(["algorithm", "depth", "T_neg", "lam", "mode"])["count"].max().rename("seeds")
    return wide.join(seeds).reset_index()


def unfinished(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per run that diverged or was skipped: what it was, where it stopped and why."""
    stopped = rows[(rows["status"] != "ok") & (rows["split"] == "")]
    return stopped[["algorithm", "backend", "sizes", "T_neg", "lam", "lrs", "seed", "status", "epoch", "note"]]


def convergence(residuals: pd.DataFrame, tol: float) -> pd.DataFrame:
    """Free steps until max |s_{t+1} - s_t| < tol at the last checkpoint (median over seeds);
    'never' when the trace ends first."""
    keys = ["algorithm", "depth", "T_neg", "lam", "start", "backend"]
    runs = residuals.drop_duplicates(["run_id", "start"])[["run_id"] + keys]
    runs = runs.merge(residuals[residuals["residual"] < tol].groupby(["run_id", "start"])["step"].min()
                      .rename("steps").reset_index(), on=["run_id", "start"], how="left")
    table = runs.groupby(keys)["steps"].agg(lambda s: "never" if s.isna().any() else f"{s.median():g}")
    return table.rename(f"steps to residual < {tol:g}").reset_index()


def write_summary(rows: pd.DataFrame, directory: Path, residuals: pd.DataFrame | None = None,
                  tol: float = 1e-3) -> pd.DataFrame:
    table = summary(rows)
    atomic_write(Path(directory) / "summary.csv", lambda tmp: table.to_csv(tmp, index=False))
    text = "## Final test error %, mean ± std over seeds\n\n" + table.to_markdown(index=False) + "\n"
    stopped = unfinished(rows)
    if not stopped.empty:
        text += ("\n## Runs that did not finish (not in the means above)\n\n"
                 + stopped.to_markdown(index=False) + "\n")
    if residuals is not None and not residuals.empty:
        text += ("\n## Fixed-point convergence at the last checkpoint (test images)\n\n"
                 + convergence(residuals, tol).to_markdown(index=False) + "\n")
    save_text(text, Path(directory) / "summary.md")
    return table
