"""Whether today's numeric code computes the same bits as the older code that made stored runs:
``python -m suite equivalence OLD_FINGERPRINT``.

A redesign meant to change no number (moving code between modules, say) changes every code
fingerprint, and so would make every stored study look computed by other code. This check earns the
old runs their place instead: it takes the commit that made the stored runs of the old fingerprint,
and for each committed study, algorithm, backend and depth among them, replays a short form of one of
its runs (the same configuration on a few hundred images for one epoch, with a short ladder and
residual trace) in that commit's tree and in this one, one thread each. The two replays must agree
bit for bit: every row's numbers, the residual trace, the diagnostics and the whole trained state (its checkpoint).
Only then is the old fingerprint recorded (identity.EQUIVALENT_CODE) as equivalent to today's
fingerprint of each algorithm and backend replayed, with the list of runs compared beside it; a
sweep and ``suite status`` then count those stored runs as today's. Any difference records nothing.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from . import identity, provenance, records
from .config import RunConfig
from .files import atomic_write
from .store import RunStore
from .study import RUN_FIELDS

#: The short form a run is replayed in: enough to go through every piece of its code.
SHORT = {"train_size": 400, "epochs": 1, "eval_size": 200}
SHORT_PLAN = {"checkpoints": (), "ladder": (1, 4), "residual_steps": 8, "timing_repeats": 1}
#: What a replay compares: everything in a row but what is measured in seconds or names the tree.
IGNORED = set(records.TIMING_COLUMNS) | set(provenance.COLUMNS)

#: Run in either tree: only what both codes have (RunConfig, EvaluationPlan, train_and_evaluate).
DRIVER = """
import json, sys
from pathlib import Path
import pandas as pd
from suite.executors import pin_threads
pin_threads(1)
from suite.config import RunConfig
from suite.run import EvaluationPlan, train_and_evaluate
for job in json.loads(Path(sys.argv[1]).read_text()):
    out = Path(job["out"])
    result = train_and_evaluate(RunConfig(**job["config"]), plan=EvaluationPlan(**job["plan"]),
                                checkpoint=out.with_suffix(".checkpoint.npz"))
    pd.DataFrame(result.rows).to_parquet(out.with_suffix(".rows.parquet"))
    pd.DataFrame(result.residuals).to_parquet(out.with_suffix(".residuals.parquet"))
    pd.DataFrame(result.diagnostics).to_parquet(out.with_suffix(".diagnostics.parquet"))
    print(job["name"], result.status, flush=True)
"""


class NotEquivalent(RuntimeError):
    """The old code cannot be replayed, or its replays differ from today's."""


def stored_runs(results: Path, fingerprint: str) -> pd.DataFrame:
    """One row per stored run made by the old code, with its study (results/<study> and
    results/ablations/<study>) and what made it."""
    found = []
    for rows_file in sorted(results.glob("**/runs/*.rows.parquet")):
        if rows_file.name.removesuffix(".rows.parquet").rsplit("-", 1)[-1] != fingerprint:
            continue
        rows = records.read_table(rows_file)
        found.append(rows.iloc[[0]].assign(study=rows_file.parent.parent.relative_to(results).as_posix()))
    if not found:
        raise NotEquivalent(f"no stored run under {results}/ was made by code {fingerprint}")
    return pd.concat(found, ignore_index=True)


def cases(runs: pd.DataFrame, results: Path) -> list[dict]:
    """The replays: per study, algorithm, backend and depth, the first stored run's configuration in
    its short form, and the evaluation plan's short form (its splits and diagnostics kept)."""
    chosen = runs.drop_duplicates(["study", "algorithm", "backend", "depth"])
    jobs = []
    for k, (_, run) in enumerate(chosen.iterrows()):
        config = {name: stored_value(run[name], name) for name in RUN_FIELDS if name in run and name != "eval_modes"}
        cfg = dataclasses.replace(RunConfig(**config), **SHORT)
        study = RunStore(results / run["study"]).study()
        plan = {"splits": tuple(study.ladder_splits), "diagnostics": study.diagnostics, **SHORT_PLAN} if study else \
            dict(SHORT_PLAN)
        jobs.append({"name": f"{k:02d}", "study": run["study"], "run": run["run_id"],
                     "config": json.loads(json.dumps(dataclasses.asdict(cfg))), "plan": plan})
    return jobs


def stored_value(value, name: str):
    """A configuration column as RunConfig takes it (tuples are stored as space-separated text)."""
    default = RunConfig.__dataclass_fields__[name].default
    if isinstance(default, tuple):
        return tuple(type(default[0])(v) for v in str(value).split())
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def replay(tree: Path, jobs: list[dict], out: Path) -> None:
    """Run the jobs in the tree's code, one process, writing <out>/<name>.* files."""
    out.mkdir(parents=True, exist_ok=True)
    spec = out / "jobs.json"
    spec.write_text(json.dumps([{**job, "out": str(out / job["name"])} for job in jobs]))
    done = subprocess.run([sys.executable, "-c", DRIVER, str(spec)], cwd=tree, capture_output=True, text=True,
                          env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(tree)})
    if done.returncode:
        raise NotEquivalent(f"replaying in {tree} failed:\n{done.stderr[-2000:]}")


def differences(old: Path, new: Path, name: str) -> list[str]:
    """What differs between the two replays of one job (empty: the same bits)."""
    found = []
    for table in ("rows", "residuals", "diagnostics"):
        a, b = (pd.read_parquet(d / f"{name}.{table}.parquet") for d in (old, new))
        a, b = (t[[c for c in t.columns if c not in IGNORED]] for t in (a, b))
        if list(a.columns) != list(b.columns) or len(a) != len(b):
            found.append(f"{table}: other columns or rows")
        elif not a.equals(b):
            found.append(f"{table}: {', '.join(c for c in a.columns if not a[c].equals(b[c]))} differ")
    with np.load(old / f"{name}.checkpoint.npz") as a, np.load(new / f"{name}.checkpoint.npz") as b:
        leaves = [k for k in a.files if k.startswith("leaf")]  # the trained state's arrays (suite.checkpoints)
        if sorted(leaves) != sorted(k for k in b.files if k.startswith("leaf")) or \
                any(a[k].dtype != b[k].dtype or a[k].tobytes() != b[k].tobytes() for k in leaves):
            found.append("the trained state differs")
    return found


def old_commit(runs: pd.DataFrame) -> str:
    """The clean commit that made the old runs (their rows' git_commit)."""
    clean = runs[~runs["git_dirty"].astype(bool)]["git_commit"].dropna().unique()
    if not len(clean):
        raise NotEquivalent("no stored run of that code was made from a clean tree: there is no commit to replay")
    return str(clean[0])


def check(fingerprint: str, results: Path = identity.ROOT / "results", stream=sys.stdout) -> Path:
    """Replay, compare and, when every replay agrees bit for bit, record the equivalence; returns the
    evidence file. NotEquivalent (recording nothing) otherwise."""
    runs = stored_runs(results, fingerprint)
    commit, jobs = old_commit(runs), cases(runs, results)
    print(f"{len(runs)} stored runs of code {fingerprint}, made at {commit[:7]}: replaying {len(jobs)} short runs "
          "(one per study, algorithm, backend and depth) in that commit and in this tree", file=stream, flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        tree = scratch / "old"
        tree.mkdir()
        archive = subprocess.run(["git", "archive", commit], cwd=identity.ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        replay(tree, jobs, scratch / "old-runs")
        replay(identity.ROOT, jobs, scratch / "new-runs")
        lines = []
        for job in jobs:
            cfg = RunConfig(**job["config"])
            found = differences(scratch / "old-runs", scratch / "new-runs", job["name"])
            lines.append({"study": job["study"], "stored run": job["run"], "algorithm": cfg.algorithm,
                          "backend": cfg.backend, "depth": cfg.depth, "replayed": _short(job),
                          "today's fingerprint": identity.run_fingerprint(cfg), "same bits": not found,
                          "differences": "; ".join(found)})
    table = pd.DataFrame(lines)
    print(table.drop(columns=["stored run", "replayed"]).to_string(index=False), file=stream)
    if not table["same bits"].all():
        raise NotEquivalent(f"{int((~table['same bits']).sum())} of {len(table)} replays differ: nothing recorded")
    return record(fingerprint, commit, table)


def _short(job: dict) -> str:
    return ", ".join(f"{k}={job['config'][k]}" for k in SHORT) + f"; ladder {list(job['plan']['ladder'])}"


def record(fingerprint: str, commit: str, table: pd.DataFrame) -> Path:
    """The evidence (results/equivalence/<old>.csv) and the record's entry for it (identity.EQUIVALENT_CODE:
    a fact about the code, kept with the repository's results whichever results root was checked)."""
    results = identity.ROOT / "results"
    evidence = results / "equivalence" / f"{fingerprint}.csv"
    evidence.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(evidence, lambda tmp: table.to_csv(tmp, index=False))
    pairs = table.drop_duplicates(["algorithm", "backend"])
    new = {f"{a} {b}": f for a, b, f in zip(pairs["algorithm"], pairs["backend"], pairs["today's fingerprint"])}
    path = identity.ROOT / identity.EQUIVALENT_CODE
    entries = [e for e in identity.equivalences(path) if e["old"] != fingerprint]
    entries.append({"old": fingerprint, "made_at": commit, "checked_on": _today(), "cpu": provenance.collect({})["cpu"],
                    "evidence": evidence.relative_to(results).as_posix(), "new": new})
    records.save_text(HEADER + "".join(_entry(e) for e in entries), path)
    return evidence


HEADER = """# Code recorded as computing the same bits as today's (python -m suite equivalence OLD_FINGERPRINT):
# a stored run whose fingerprint is `old` counts as computed by today's code of the algorithm and
# backend named in `new`, while today's fingerprint for them is the one given. `evidence` lists the
# short runs replayed by both codes and compared bit for bit.
"""


def _entry(entry: dict) -> str:
    new = ", ".join(f'"{pair}" = "{f}"' for pair, f in entry["new"].items())
    fields = "".join(f'{k} = "{entry[k]}"\n' for k in ("old", "made_at", "checked_on", "cpu", "evidence") if k in entry)
    return f"\n[[equivalent]]\n{fields}new = {{{new}}}\n"


def _today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()

