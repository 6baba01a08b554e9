"""What made each stored study, and what today's code would do with it: ``python -m suite status``.

For a stored study: the code fingerprints of its runs, the git commits and dirty flags that made
them, the runs made from an edited tree (git_dirty: uncommitted changes outside results/) or from an
edited study file (runs that the study file committed at their commit does not hold), and how many
runs today's sweep would reuse. Read only: it reads the stored tables and study.toml, asks git for
the committed study files, and expands the study as the sweep does (sweep.run_configs); nothing
trains and nothing is written.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd

from . import identity, provenance, records
from .config import ConfigError, RunConfig
from .run import config_columns
from .store import RunStore
from .study import Study, from_text, with_scale
from .sweep import evaluation_plan, reusable, run_configs
from .variants import with_variants

#: Where a study's file is committed, found by the study's name (ablations first for results/ablations/).
SOURCES = ("suite/presets/{}.toml", "ablations/{}.toml")
WIDTH = 110


def report(directory: Path) -> str:
    """One stored study's block of lines; the last says what today's code would do with its runs."""
    store = RunStore(directory)
    rows = with_variants(records.load_table(directory))
    runs = rows.drop_duplicates("run_id").set_index("run_id")  # a run's configuration, variant and seed
    study, unreadable = study_as_run(store)
    return "\n".join([f"{directory}: {_count(len(runs), 'stored run')} ({len(rows):,} rows)",
                      _line(f"code fingerprints: {fingerprints(rows)}"), _line(f"made at: {commits(rows)}"),
                      edited_tree(rows, runs), *edited_study(directory, rows, runs, study, unreadable),
                      *today(store, study, unreadable)])


def study_as_run(store: RunStore) -> tuple[Study | None, str]:
    """The study as it was run (study.toml), or None and why it cannot be read."""
    try:
        study = store.study()
    except ConfigError as err:
        return None, f"today's code cannot read it: {err}"
    return (study, "") if study else (None, f"no {store.directory}/study.toml")


def fingerprints(rows: pd.DataFrame) -> str:
    """The stored runs' code fingerprints, today's of each algorithm and backend they ran, and the
    older ones recorded as computing the same bits (identity.equivalent_fingerprints)."""
    counts = rows.groupby("code_fingerprint", sort=False)["run_id"].nunique()
    today, same = [], {}
    for (algorithm, backend), _ in rows.groupby(["algorithm", "backend"], sort=False):
        cfg = RunConfig(algorithm=algorithm, backend=backend)
        today.append(f"{identity.run_fingerprint(cfg)} ({algorithm} {backend})")
        for old in identity.equivalent_fingerprints(cfg):
            same.setdefault(old, []).append(f"{algorithm} {backend}")
    recorded = "".join(f"; {old} recorded as the same bits for {', '.join(pairs)} ({identity.EQUIVALENT_CODE})"
                       for old, pairs in same.items())
    return ", ".join(f"{code} ({_count(n, 'run')})" for code, n in counts.items()) + \
        f"; today's code: {', '.join(today)}{recorded}"


def commits(rows: pd.DataFrame) -> str:
    """Each (commit, dirty flag) with its runs and rows; a run resumed in another tree counts in each."""
    made = rows.dropna(subset=["git_commit"])
    groups = made.groupby(["git_commit", "git_dirty"], sort=False)["run_id"].agg(["nunique", "size"])
    text = ", ".join(f"{commit[:7]} {'edited' if dirty else 'clean'} tree ({_count(n, 'run')}, {size:,} rows)"
                     for (commit, dirty), (n, size) in groups.iterrows()) or "no row records its commit"
    resumed = groups["nunique"].sum() - made["run_id"].nunique()
    if resumed:
        text += f" (counted in each: {_count(resumed, 'run')} resumed in another tree)"
    missing = rows[rows["git_commit"].isna()]
    if not missing.empty:
        kind = "status row" if (missing["split"] == "").all() else "row"
        text += f"; {_count(len(missing), kind)} with no provenance"
    return text


def edited_tree(rows: pd.DataFrame, runs: pd.DataFrame) -> str:
    """The runs with rows made from a tree with uncommitted changes (git_dirty), and which epochs
    when only some of their rows were (a run resumed after the tree was edited)."""
    measured = rows.dropna(subset=["git_dirty"])
    dirty = measured[measured["git_dirty"].astype(bool)]
    if dirty.empty:
        return _line("from an edited tree (git_dirty): no run")
    notes = {}
    for run_id, epochs in dirty.groupby("run_id")["epoch"]:
        if len(epochs) < (measured["run_id"] == run_id).sum():
            epochs = sorted(set(map(int, epochs)))
            notes[run_id] = f" (rows of epoch{'s' if len(epochs) > 1 else ''} {', '.join(map(str, epochs))})"
    chosen = runs.loc[dirty["run_id"].unique()]
    return _line(f"from an edited tree (git_dirty: uncommitted changes outside results/): "
                 f"{_count(len(chosen), 'run')}: {named(chosen, notes)}")


def edited_study(directory: Path, rows: pd.DataFrame, runs: pd.DataFrame, study: Study | None,
                 unreadable: str) -> list[str]:
    """For each commit that made runs: whether study.toml is the study file committed there, and
    which of those runs that file does not hold (they came from an edit of it)."""
    made = rows.dropna(subset=["git_commit"]).groupby("git_commit", sort=False)["run_id"].unique()
    if study is None:
        return [_line(f"study file at {', '.join(c[:7] for c in made.index)}: unknown ({unreadable})")]
    today_ids = as_run_ids(runs, study)
    lines = []
    for commit, made_there in made.items():
        where = f"study file at {commit[:7]}"
        path, text = committed_source(study.file_name, commit, directory.parent.name == "ablations")
        text = with_scale(text, study.scale) if path else text
        if not path:
            lines.append(_line(f"{where}: unknown ({text})"))
        elif text.strip() == study.text.strip():
            lines.append(_line(f"{where}: {path}, as committed"))
        else:
            lines.append(_line(_edited(f"{where}: {path}, edited ({directory}/study.toml differs from it)", path,
                                       commit, text, runs.loc[made_there], today_ids)))
    return lines


def _edited(head: str, path: str, commit: str, text: str, made_there: pd.DataFrame, today_ids: dict) -> str:
    """The runs made at commit that its study file does not hold, by today's run ids of both files."""
    try:
        committed = set(run_configs(from_text(text, f"{path} at {commit[:7]}")))
    except ConfigError as err:
        return f"{head}; which runs came from the edit: unknown (today's code cannot read the committed file: {err})"
    unmatched = sum(today_ids[i] is None for i in made_there.index)
    unknown = f" ({_count(unmatched, 'run')} not found in study.toml: unknown)" if unmatched else ""
    added = made_there[[today_ids[i] is not None and today_ids[i] not in committed for i in made_there.index]]
    if added.empty:
        return f"{head}; every run made there is in the committed file{unknown}"
    verb = "is" if len(added) == 1 else "are"
    return (f"{head}; {_count(len(added), 'run')} of the {len(made_there)} made there {verb} not in the committed "
            f"file{unknown}: {named(added)}")


def as_run_ids(runs: pd.DataFrame, study: Study) -> dict:
    """Each stored run's run_id today (sweep.run_configs of the study as run), found by its
    configuration columns (its stored id may hold an older configuration key); None if not found."""
    configs = {i: config_columns(cfg) for i, cfg in run_configs(study).items()}
    return {stored: next((i for i, columns in configs.items() if _same_configuration(run, columns)), None)
            for stored, run in runs.iterrows()}


def _same_configuration(run: pd.Series, columns: dict) -> bool:
    return all(pd.isna(run.get(k)) if v is None else run.get(k) == v for k, v in columns.items())


def committed_source(name: str, commit: str, ablation: bool) -> tuple[str, str]:
    """The path and text of the study's file committed at commit, found by its name; ('', why) when
    this repository has none."""
    if not provenance.git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"):
        return "", "the commit is not in this repository"
    paths = [source.format(name) for source in (SOURCES[::-1] if ablation else SOURCES)]
    for path in paths:
        text = provenance.git("show", f"{commit}:{path}")
        if text:
            return path, text
    return "", f"neither {' nor '.join(paths)} at that commit"


def today(store: RunStore, study: Study | None, unreadable: str) -> list[str]:
    """What a sweep of the study as run would do now: the runs it reuses (finished by this code,
    sweep.reusable) and those it recomputes."""
    if study is None:
        return [_line(f"today's code: unknown ({unreadable})")]
    configs = run_configs(study)
    reused = reusable(store, configs, evaluation_plan(study))
    pending = [i for i in configs if i not in reused]
    other_code = sum(bool(store.outdated(i)) for i in pending)
    why = [f"{other_code} stored by other numeric code"] if other_code else []
    if len(pending) > other_code:
        why.append(f"{len(pending) - other_code} with no stored run under today's configuration key (new runs, or "
                   "RunConfig's fields, the evaluation plan or the row schema changed since)")
    return ([_line(f"to recompute: {'; '.join(why)}")] if why else []) + [
        _line(f"today's code would reuse {len(reused)} of {_count(len(configs), 'run')}, recompute {len(pending)}")]


def named(runs: pd.DataFrame, notes: dict | None = None) -> str:
    """'EP T_neg=2 seeds 1-4; IEP T_neg=2 lam=0 seed 1 (...)': runs by variant, their seeds together."""
    seeds: dict[tuple, list] = {}
    for run_id, run in runs.iterrows():
        seeds.setdefault((run["variant"], (notes or {}).get(run_id, "")), []).append(int(run["seed"]))
    return "; ".join(f"{variant} {_seeds(s)}{note}" for (variant, note), s in seeds.items())


def _seeds(seeds: list[int]) -> str:
    seeds = sorted(set(seeds))
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"seeds {seeds[0]}-{seeds[-1]}"
    return "seeds " + ", ".join(map(str, seeds))


def _count(n: int, thing: str) -> str:
    return f"{n:,} {thing}{'' if n == 1 else 's'}"


def _line(text: str) -> str:
    """One item of a study's block, wrapped; never broken at the hyphens of sizes (784-500-10)."""
    return textwrap.fill(text, WIDTH, initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False,
                         break_long_words=False)
