"""Run a study: every RunConfig in turn, with progress, writing the tables after each run."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pandas as pd

from . import data as datasets
from . import records
from .algorithms.inference import parse_mode
from .config import RunConfig
from .run import EvaluationPlan, train_and_evaluate
from .study import Study


def evaluation_plan(study: Study) -> EvaluationPlan:
    return EvaluationPlan(study.checkpoints, study.ladder, study.ladder_splits, study.residual_steps)


def describe(cfg: RunConfig) -> str:
    budget = "" if cfg.algorithm == "bp" else f" T_neg={cfg.T_neg}" + (f" lam={cfg.lam}" if cfg.lam else "")
    return f"{cfg.algorithm} {cfg.backend} {'-'.join(map(str, cfg.sizes))}{budget} seed {cfg.seed}"


def tidy(result, cfg: RunConfig, identifier: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = pd.DataFrame(result.rows)
    rows.insert(0, "run_id", identifier)
    rows["depth"] = cfg.depth
    rows["mode_kind"] = [parse_mode(m).kind for m in rows["mode"]]
    rows["status"] = "ok"
    residuals = pd.DataFrame(result.residuals, columns=["start", "step", "residual"])
    residuals.insert(0, "run_id", identifier)
    for name in ("algorithm", "backend", "depth", "seed", "T_neg", "lam"):
        residuals[name] = getattr(cfg, name)
    return rows, residuals


def run_study(study: Study, results_dir: Path, echo: Callable[[str], None] = print) -> pd.DataFrame:
    """Run every configuration of the study; returns the rows table (also stored under results_dir)."""
    out = Path(results_dir) / study.name
    plan = evaluation_plan(study)
    loaded: dict[tuple, datasets.Dataset] = {}
    all_rows, all_residuals = [], []
    start = time.perf_counter()
    total = len(study.runs)
    for done, cfg in enumerate(study.runs):
        elapsed = time.perf_counter() - start
        eta = f", about {elapsed / done * (total - done) / 60:.1f} min left" if done else ""
        echo(f"[{done + 1}/{total}] {describe(cfg)} ({elapsed / 60:.1f} min so far{eta})")
        key = (cfg.dataset, cfg.data_dir)
        if key not in loaded:
            loaded[key] = datasets.load(cfg.dataset, cfg.data_dir)
        result = train_and_evaluate(cfg, loaded[key], progress=lambda m: echo("    " + m), plan=plan)
        rows, residuals = tidy(result, cfg, records.run_id(cfg, plan))
        all_rows.append(rows)
        all_residuals.append(residuals)
        records.save_table(pd.concat(all_rows, ignore_index=True), out / "rows.parquet")
        records.save_table(pd.concat(all_residuals, ignore_index=True), out / "residuals.parquet")
    table = pd.concat(all_rows, ignore_index=True)
    records.write_summary(table, out, pd.concat(all_residuals, ignore_index=True), study.residual_tol)
    records.save_text(study.text, out / "study.toml")
    echo(f"{total} runs in {(time.perf_counter() - start) / 60:.1f} min; tables in {out}/")
    return table
