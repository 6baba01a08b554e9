"""The result tables: one tidy row per (run, checkpoint, split, inference mode), stored atomically.

results/<study>/
    rows.parquet        every measurement, with configuration and provenance columns
    residuals.parquet   the final free relaxation's max |s_{t+1} - s_t| per step
    diagnostics.parquet gradient alignment and saturation per evaluated epoch and layer (if asked for)
    summary.csv / .md   final test errors, mean and spread over seeds
    study.toml          the study as it was run
"""
from __future__ import annotations

import ast
import dataclasses
import datetime
import functools
import hashlib
import json
import platform
import subprocess
import tomllib
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pyarrow as pa

import backends

from . import isa
from .algorithms import ALGORITHMS, MODULES
from .algorithms.inference import modes
from .claims import table as claims_table
from .config import RunConfig
from .files import atomic_write
from .variants import COLLAPSE_ERROR, STOPPED_EARLY, outcomes, with_variants

SCHEMA_VERSION = 4  # 2: status rows and the note column; 3: the code_fingerprint column; 4: the isa column
#: Columns every row has, beyond the RunConfig fields (see tests/test_harness.py). A run's status is
#: on each of its rows: ok, collapsed (stopped early by the study's abort rule: an outcome, with a
#: status row at that epoch), diverged (a status row at the epoch it happened), or skipped or killed
#: (one row: it could not start, or its worker died; variants.NOT_RUN, run again by the next sweep).
MEASUREMENT_COLUMNS = ("run_id", "depth", "epoch", "split", "mode", "mode_kind", "steps", "mult_adds",
                       "error", "seconds_per_10k", "eval_warmup_seconds", "train_seconds", "train_cpu_seconds",
                       "train_seconds_total", "train_batches", "warmup_seconds", "status", "note")
PROVENANCE_COLUMNS = ("code_fingerprint", "git_commit", "git_dirty", "backend_device", "threads", "cpu", "isa",
                      "date", "versions")
#: Columns that differ between two runs of the same configuration (measured time, and when).
TIMING_COLUMNS = ("seconds_per_10k", "eval_warmup_seconds", "train_seconds", "train_cpu_seconds",
                  "train_seconds_total", "warmup_seconds", "date")


ROOT = Path(__file__).resolve().parent.parent
#: The numeric code every run executes: the run loop (training, evaluation, timing), the compiled step,
#: the data, the libraries' kernel caps, the algorithms' registry and shared core, and the backends'
#: protocol. A run's fingerprint hashes these, its algorithm's module and its backend's module, with
#: what those two import from their packages (code_fingerprint): a change there changes the run's key,
#: so stored results are never reused across it, and a module a run never executes is not part of it.
CORE_CODE = ("suite/engine.py", "suite/run.py", "suite/data.py", "suite/isa.py", "suite/algorithms/__init__.py",
             "suite/algorithms/algorithm.py", "suite/algorithms/energy.py", "suite/algorithms/feedforward.py",
             "suite/algorithms/inference.py", "backends/__init__.py", "backends/base.py")
#: Old fingerprints recorded as computing the same bits as today's (see equivalent_fingerprints).
EQUIVALENT_CODE = Path("results") / "equivalent_code.toml"


def imported_sources(path: Path, root: Path) -> set[Path]:
    """path and the files of its package that it imports, transitively (relative imports, and
    absolute ones of the suite's and backends' packages), found by reading, not running, the code."""
    packages = (root / "suite" / "algorithms", root / "backends")
    found, todo = set(), [path]
    while todo:
        source = todo.pop()
        if source in found or not source.exists() or not any(source.is_relative_to(p) for p in packages):
            continue
        found.add(source)
        package = source.parent
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.ImportFrom):
                base = (package if node.level == 1 else root).joinpath(*(node.module or "").split("."))
                todo += [base.with_suffix(".py"), base / "__init__.py"] + [base / f"{alias.name}.py" for alias in node.names]
            elif isinstance(node, ast.Import):
                todo += [root.joinpath(*alias.name.split(".")).with_suffix(".py") for alias in node.names]
    return found


@functools.lru_cache(maxsize=None)
def code_fingerprint(algorithm: str, backend: str, root: Path = ROOT) -> str:
    """Hash of the numeric code a run of this algorithm on this backend executes (CORE_CODE, and the
    two modules with what they import), paths and contents, in a fixed order."""
    module = root / "suite" / "algorithms" / f"{MODULES[algorithm]}.py"
    sources = {root / name for name in CORE_CODE} | imported_sources(module, root) | \
        imported_sources(root / "backends" / f"{backends.module_name(backend)}.py", root)
    digest = hashlib.sha256()
    for source in sorted(sources):
        digest.update(source.relative_to(root).as_posix().encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()[:10]


def run_fingerprint(cfg: RunConfig) -> str:
    return code_fingerprint(cfg.algorithm, cfg.backend)


class BadEquivalence(ValueError):
    """The record of equivalent code cannot be read; the message names the file and the entry."""


def equivalences(record: Path | None = None) -> list[dict]:
    """The entries of the record (default: the repository's, EQUIVALENT_CODE): each an old fingerprint,
    and the fingerprints of today's code, per 'algorithm backend', shown to compute the same bits."""
    record = ROOT / EQUIVALENT_CODE if record is None else record
    if not record.exists():
        return []
    try:
        entries = tomllib.loads(record.read_text()).get("equivalent", [])
    except tomllib.TOMLDecodeError as err:
        raise BadEquivalence(f"{record}: not TOML ({err})") from None
    for k, entry in enumerate(entries):
        if not (isinstance(entry, dict) and isinstance(entry.get("old"), str) and isinstance(entry.get("new"), dict)
                and all(isinstance(v, str) for v in entry["new"].values())):
            raise BadEquivalence(f"{record}: equivalent[{k}] needs old = \"<fingerprint>\" and new = "
                                 "{\"<algorithm> <backend>\" = \"<fingerprint>\", ...}")
    return entries


def equivalent_fingerprints(cfg: RunConfig) -> list[str]:
    """The older fingerprints recorded as computing the same bits as cfg's run does today, nearest
    first (an entry's old code may itself be recorded as equivalent to older code)."""
    pair, found = f"{cfg.algorithm} {cfg.backend}", []
    wanted = [run_fingerprint(cfg)]
    entries = equivalences()
    while wanted:
        current = wanted.pop(0)
        for entry in entries:
            if entry["new"].get(pair) == current and entry["old"] not in found:
                found.append(entry["old"])
                wanted.append(entry["old"])
    return found


def stored_ids(cfg: RunConfig, plan) -> list[str]:
    """The ids under which a finished run of cfg counts as today's: its run_id, then those of the
    older code recorded as equivalent (equivalent_fingerprints)."""
    return [run_id(cfg, plan)] + [run_id(cfg, plan, old) for old in equivalent_fingerprints(cfg)]


def config_key(cfg: RunConfig, plan) -> str:
    """Stable hash of a run's configuration, evaluation plan and the row schema."""
    key = json.dumps({"config": asdict(cfg), "plan": list(plan), "schema": SCHEMA_VERSION},
                     sort_keys=True, default=list)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def run_id(cfg: RunConfig, plan, code: str | None = None) -> str:
    """'<config key>-<code fingerprint>': everything that determines a run's rows."""
    return f"{config_key(cfg, plan)}-{code or run_fingerprint(cfg)}"


def training_id(cfg: RunConfig, plan) -> str:
    """Like run_id, for the run's training whatever its length: the same configuration with more
    epochs goes through the same states (and rows), so it can start from this one's checkpoint."""
    return f"training-{config_key(dataclasses.replace(cfg, epochs=1), plan)}-{run_fingerprint(cfg)}"


def git(*args) -> str:
    """git's output in this repository, stripped; '' where git or the repository is missing."""
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


def provenance(describe: dict, cfg: RunConfig | None = None) -> dict:
    """Where and with what a row was measured (the code fingerprint: of cfg's run; without one, '')."""
    versions = {k: v for k, v in describe.items() if k in ("numpy", "torch", "jax", "jaxlib", "torch_compile")}
    return {"code_fingerprint": run_fingerprint(cfg) if cfg else "", "git_commit": git("rev-parse", "HEAD") or "unknown",
            # results/ is excluded: a sweep rewriting its own tables does not make the code dirty
            "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", ".",
                                   ":(exclude)results")),
            "backend_device": describe.get("device", ""), "threads": describe.get("threads", 0),
            "cpu": _cpu_model(), "isa": isa.describe(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "versions": json.dumps(versions, sort_keys=True)}


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


def summary(rows: pd.DataFrame, collapse_error: float = COLLAPSE_ERROR) -> pd.DataFrame:
    """Final test error of every variant's primary modes, judged over its seeds (variants.outcomes)."""
    rows = with_variants(rows)
    final = final_rows(rows)
    return outcomes(final[final.apply(primary_mode, axis=1)], rows.drop_duplicates("run_id"), collapse_error)


def summary_markdown(table: pd.DataFrame) -> str:
    """The summary as a Markdown table: errors in %, the range as min-max."""
    def number(value):
        return "-" if pd.isna(value) else f"{value:.2f}"
    shown = pd.DataFrame({
        "variant": table["variant"], "mode": table["mode"],
        "seeds trained": [f"{t} of {n}" for t, n in zip(table["trained"], table["seeds"])],
        "median %": table["median %"].map(number),
        "range %": [f"{number(a)}-{number(b)}" for a, b in zip(table["min %"], table["max %"])],
        "mean ± std % (trained seeds)": [f"{number(m)} ± {number(s)}" if not pd.isna(m) else "-"
                                         for m, s in zip(table["mean % (trained)"], table["std % (trained)"])]})
    return shown.to_markdown(index=False)


def unfinished(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per run that collapsed, diverged, was skipped or killed: what it was (its algorithm, backend,
    sizes, and every field that varies between the study's runs), where it stopped and why."""
    stopped = rows[(rows["status"] != "ok") & (rows["split"] == "")]
    named, runs = ["algorithm", "backend", "sizes"], rows.drop_duplicates("run_id")
    varied = [f.name for f in dataclasses.fields(RunConfig) if f.name in runs and f.name not in named + ["seed"]
              and runs[f.name].astype(str).nunique() > 1]
    return stopped[named + varied + ["seed", "status", "epoch", "note"]]


CONVERGENCE_KEYS = ["algorithm", "depth", "T_neg", "lam", "start", "backend"]


def steps_to(residuals: pd.DataFrame, tol: float) -> pd.Series:
    """Per run and start: the first step whose residual is below tol (NaN: never within the trace)."""
    runs = residuals.drop_duplicates(["run_id", "start"]).set_index(["run_id", "start"])
    reached = residuals[residuals["residual"] < tol].groupby(["run_id", "start"])["step"].min()
    return reached.reindex(runs.index)


def _median_steps(steps: pd.Series) -> str:
    """'24', 'never', or '31 (2 of 3 seeds)' when only some seeds get there."""
    reached = steps.dropna()
    if reached.empty:
        return "never"
    text = f"{reached.median():g}"
    return text if len(reached) == len(steps) else f"{text} ({len(reached)} of {len(steps)} seeds)"


def convergence(residuals: pd.DataFrame, tol: float) -> pd.DataFrame:
    """The fixed-point residual max |s_{t+1} - s_t| reached after 1, 2, 4, ... free steps (median over
    seeds) at the last checkpoint, and the steps until it falls below 1e-2 and below tol."""
    runs = residuals.drop_duplicates(["run_id", "start"])[["run_id", "start"] + CONVERGENCE_KEYS[:4]
                                                           + CONVERGENCE_KEYS[5:]]
    budgets = [2 ** k for k in range(int(residuals["step"].max()).bit_length())]
    at_budget = residuals[residuals["step"].isin(budgets)].pivot_table(
        index=["run_id", "start"], columns="step", values="residual")
    at_budget.columns = [f"T={t}" for t in at_budget.columns]
    table = runs.join(at_budget, on=["run_id", "start"])
    for threshold in dict.fromkeys((1e-2, tol)):
        table[f"steps to < {threshold:g}"] = steps_to(residuals, threshold).reindex(
            pd.MultiIndex.from_frame(table[["run_id", "start"]])).to_numpy()
    grouped = table.groupby(CONVERGENCE_KEYS, sort=False)
    summary = grouped[list(at_budget.columns)].median().map(lambda r: f"{r:.1e}")  # shown as written
    for column in [c for c in table if c.startswith("steps to")]:
        summary[column] = grouped[column].agg(_median_steps)
    return summary.reset_index()


def mixed_code_note(rows: pd.DataFrame) -> str:
    """A warning when runs of one algorithm and backend come from more than one version of the numeric
    code they execute, else ''."""
    runs = rows.drop_duplicates("run_id")
    versions = runs.groupby(["algorithm", "backend"])["code_fingerprint"].nunique()
    if not (versions > 1).any():
        return ""
    counts = ", ".join(f"{code} ({n} run{'s' if n > 1 else ''})" for code, n in
                       runs["code_fingerprint"].value_counts().items())
    return (f"**Mixed code:** these rows were computed by more than one version of the numeric code that "
            f"{' and '.join(f'{a} on {b}' for a, b in versions[versions > 1].index)} execute (fingerprints "
            f"{counts}). `python -m suite status` says which today's code would recompute.")


def scale_words(rows: pd.DataFrame) -> str:
    """The scale a study's runs trained at: '10,000 images x 5 epochs', with each combination of
    training images and epochs it has ('all' where a run took every training image)."""
    runs = rows.drop_duplicates("run_id")
    images = runs["train_size"].map(lambda n: "all" if pd.isna(n) else f"{int(n):,}")
    pairs = dict.fromkeys(zip(images, runs["epochs"].astype(int)))
    return "; ".join(f"{n} images x {e} epoch{'s' if e != 1 else ''}" for n, e in pairs)


def judged_claims(rows: pd.DataFrame, claims, collapse_error: float = COLLAPSE_ERROR,
                  study: str = "") -> pd.DataFrame:
    """Each claim's verdict and the numbers behind it (suite.claims)."""
    return claims_table(claims, summary(rows, collapse_error), with_variants(rows).drop_duplicates("variant"),
                         study)


def write_summary(rows: pd.DataFrame, directory: Path, residuals: pd.DataFrame | None = None,
                  tol: float = 1e-3, collapse_error: float = COLLAPSE_ERROR, claims=()) -> str:
    """summary.csv and summary.md of a study's tables, written into directory; the markdown."""
    table, text = summary_report(rows, residuals, tol, collapse_error, claims, drawn_figures(directory))
    save_summary(table, text, directory)
    return text


def save_summary(table: pd.DataFrame, text: str, directory: Path) -> None:
    atomic_write(Path(directory) / "summary.csv", lambda tmp: table.to_csv(tmp, index=False))
    save_text(text, Path(directory) / "summary.md")


def answer_lines(rows: pd.DataFrame, claims, collapse_error: float = COLLAPSE_ERROR) -> list[str]:
    """What a study answers, a line each: per depth, IEP's saving (costs.answers); per claim, its verdict."""
    from . import costs  # here, not at the top: costs builds on this module
    verdicts = judged_claims(rows, claims, collapse_error) if claims else pd.DataFrame(columns=["verdict", "claim"])
    return costs.answers(rows, collapse_error) + [f"{v}: {c}" for v, c in zip(verdicts["verdict"], verdicts["claim"])]


def answer_figure(rows: pd.DataFrame, claims, collapse_error: float = COLLAPSE_ERROR) -> str:
    """The figure that answers the study: its claims' answer figure where it has claims, else against
    depth where it compares depths, else error against multiply-adds."""
    from . import costs  # here, not at the top: costs builds on this module
    return "answer" if claims else "against_depth" if costs.depths_compared(rows, collapse_error) else "headline_cost"


def summary_report(rows: pd.DataFrame, residuals: pd.DataFrame | None = None, tol: float = 1e-3,
                   collapse_error: float = COLLAPSE_ERROR, claims=(), figures=()) -> tuple[pd.DataFrame, str]:
    """The summary table and the markdown report of a study's tables (with figures, the names of the
    figures drawn beside them, each shown with its line)."""
    from . import costs  # here, not at the top: costs builds on this module
    table = summary(rows, collapse_error)
    warning = mixed_code_note(rows)
    text = f"{warning}\n\n" if warning else ""
    answers = answer_lines(rows, claims, collapse_error)
    if answers:
        figure = answer_figure(rows, claims, collapse_error)
        text += ("## The answer\n\n" + "".join(f"- {sentence}\n" for sentence in answers)
                 + f"\n![the study's answer](figures/{figure}.png)\n\n")
    text += "## Final test error of each variant, over its seeds\n\n"
    text += (f"A seed trained when its final error is below {100 * collapse_error:g}%; the mean and standard "
             "deviation are over the trained seeds only (a mean over trained and collapsed seeds describes "
             "neither).\n\n" + summary_markdown(table) + "\n")
    stopped = unfinished(rows)
    if not stopped.empty:
        text += ("\n## Runs that did not finish (collapsed runs, and runs stopped while still learning, count "
                 "above as seeds that did not train; the others are not in the table)\n\n"
                 + stopped.to_markdown(index=False) + "\n")
    matched = costs.table(rows, collapse_error)
    if not matched.empty:
        text += ("\n## Inference cost at matched error, per depth\n\nAt the best median error that both EP "
                 "from zeros and IEP reach (trained seeds; within "
                 f"{costs.MATCH_TOLERANCE:g} points), the cheapest mode of each that reaches it, from the last "
                 "checkpoint's ladder, and how many times IEP's multiply-adds per sample EP needs. The split "
                 f"in `chosen on` picks the errors, budgets and best errors; where it is {costs.CHOOSING}, each "
                 f"error is followed by the {costs.REPORTING} error at the same choice, which is what to report. "
                 f"A study whose ladder was evaluated on {costs.REPORTING} only chose on it.\n\n"
                 + matched.to_markdown(index=False) + "\n")
    if residuals is not None and costs.depths_compared(rows, collapse_error):
        text += ("\n## Steps and savings against depth\n\nPer depth and training budget of EP from zeros (its trained "
                 "seeds): the fewest steps of the ladder that bring its error within "
                 f"{costs.MATCH_TOLERANCE:g} points of its own best, and of the median error of IEP's initializer "
                 "alone (ff), as the median over seeds with their range (the true count lies between that rung and "
                 "the one below); the steps until the fixed-point residual falls below each threshold, from zeros "
                 "for EP and from f for IEP; and EP's multiply-adds over IEP's at the best median error both reach, "
                 f"with the ladder's bound below. Chosen on the split in the table above; IEP ff's {costs.REPORTING} "
                 "error follows its chosen one.\n\n"
                 + costs.depth_table(rows, residuals, tol, collapse_error).to_markdown(index=False) + "\n")
    if residuals is not None and not residuals.empty:
        text += ("\n## Fixed-point convergence at the last checkpoint (up to 1,000 images of the first ladder split)\n\n"
                 "The residual max |s_{t+1} - s_t| after T free steps (median over seeds; from zeros, and for IEP from "
                 "its initializer's prediction f with the pull), and the steps until it falls below each threshold.\n\n"
                 + convergence(residuals, tol).to_markdown(index=False, disable_numparse=True) + "\n")
    if claims:
        text += ("\n## Claims, judged from the seeds above\n\n"
                 + judged_claims(rows, claims, collapse_error).to_markdown(index=False) + "\n")
    if figures:
        from .plots import CAPTIONS  # here: only a summary that lists figures needs their module
        text += "\n## Figures\n\n" + "".join(f"![{CAPTIONS[name]}](figures/{name}.png)\n\n*`{name}`: "
                                              f"{CAPTIONS[name]}.*\n\n" for name in figures)
    return table, text


def drawn_figures(directory: Path) -> list[str]:
    """The figures drawn in a study's folder, in plots.FIGURES order (summary.md lists them)."""
    from .plots import FIGURES
    return [name for name in FIGURES if (Path(directory) / "figures" / f"{name}.png").exists()]
