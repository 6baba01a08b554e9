"""Variants and their outcomes over seeds.

A variant is a run's whole configuration except its seed: every table and figure keys on it, so
runs that differ in anything (T_neg, symmetric, init, ...) are never averaged as if they were seeds.
A seed mostly either trains or collapses to chance, so a variant is judged by how many of its seeds
trained, and by the median and range of their errors; a mean over trained and collapsed seeds
describes neither, and the mean is given over the trained seeds only. A seed the abort rule stopped
while it was still learning (status stopped) is not called collapsed, but it did not train either.
"""
from __future__ import annotations

import pandas as pd

from .algorithms import ALGORITHMS
from .algorithms.algorithm import OPTIONAL_FIELDS

#: The fields that make a variant, in the order a label names them.
LABEL_ORDER = ("algorithm", "dataset", "sizes", "T_neg", "T_pos", "lam", "kappa", "init", "symmetric",
               "random_sign", "initializer_loss", "initializer_target", "bp_loss", "beta", "eps", "lrs", "epochs",
               "batch_size", "train_size", "eval_size", "backend", "dtype", "device", "data_dir")
NOT_VARIANT = ("seed", "eval_modes")  # what varies across a variant's runs; what follows from T_neg
OUTCOME_COLUMNS = ("variant", "mode", "seeds", "trained", "median %", "min %", "max %", "mean % (trained)",
                   "std % (trained)")
COLLAPSE_ERROR = 0.5  # a final error at or above this is a seed that did not train (chance is 0.9)


class VariantCollision(AssertionError):
    """Two rows claim the same variant, mode and seed: an error in the code, never averaged away."""


def unused(algorithm: str, field: str) -> bool:
    """Whether the algorithm never reads the field: its labels leave it out (no "BP T_neg=20", no "EP lam=0")."""
    return field in OPTIONAL_FIELDS and field not in ALGORITHMS[algorithm].reads


def label_fields(runs: pd.DataFrame, exclude=(), given=()) -> list[str]:
    """The fields a label names: the algorithm, then in LABEL_ORDER every field whose value is not
    already fixed by the fields before it (fields that vary together, like sizes and lrs, show once).
    `given` fields are known from elsewhere (a figure's axis or panel): they fix others, unnamed."""
    chosen = ["algorithm", *given]
    for name in LABEL_ORDER[1:]:
        if name not in exclude and name not in chosen and \
                (runs.groupby(chosen, dropna=False)[name].nunique(dropna=False) > 1).any():
            chosen.append(name)
    return [name for name in chosen if name not in given]


def field_label(name: str, value) -> str:
    """A field's part of a label: 'EP', '784-500-10', 'T_neg=20', 'symmetric' or 'no symmetric'."""
    if name == "algorithm":
        return str(value).upper()
    if name == "sizes":
        return str(value).replace(" ", "-")
    if name in ("dataset", "backend", "dtype"):
        return str(value)
    if isinstance(value, bool):
        return name if value else f"no {name}"
    return f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"


def with_variants(rows: pd.DataFrame, exclude=(), given=()) -> pd.DataFrame:
    """rows with a 'variant' column: a readable label, unique per configuration-but-seed (but for
    the fields in exclude, such as the backend where a figure compares backends, and together with
    the given fields)."""
    runs = rows.drop_duplicates("run_id").set_index("run_id")
    fields = label_fields(runs, exclude, given)

    def label(run, named):
        return " ".join(field_label(name, run[name]) for name in named)

    labels = {run_id: label(run, [n for n in fields if not unused(run["algorithm"], n)])
              for run_id, run in runs.iterrows()}
    # Runs that differ only in fields their algorithm ignores (the same training twice) keep those fields.
    full = {run_id: label(run, fields) for run_id, run in runs.iterrows()}
    ambiguous = pd.DataFrame({"short": labels, "full": full}).groupby("short")["full"].transform("nunique") > 1
    labels = {run_id: full[run_id] if ambiguous[run_id] else text for run_id, text in labels.items()}
    return rows.assign(variant=rows["run_id"].map(labels))


def check_no_collisions(rows: pd.DataFrame, keys) -> None:
    """VariantCollision if two rows share the keys (e.g. variant, mode, seed)."""
    clash = rows[rows.duplicated(list(keys), keep=False)]
    if not clash.empty:
        first = clash.iloc[0]
        raise VariantCollision(f"{len(clash)} rows share {', '.join(f'{k} {first[k]}' for k in keys)}: "
                               "runs that differ outside the variant's fields would be averaged as seeds")


#: Statuses of runs that did not run to their end for reasons outside them (a backend not
#: installed; a worker killed, by the out-of-memory killer say): not counted as seeds run.
NOT_RUN = ("skipped", "killed")
#: Runs the study's abort rule stopped early: collapsed, or stopped while their training error was
#: still falling (records.name_stops). Outcomes, but neither counts as a seed that trained.
STOPPED_EARLY = ("collapsed", "stopped")


def outcomes(final: pd.DataFrame, runs: pd.DataFrame, collapse_error: float = COLLAPSE_ERROR) -> pd.DataFrame:
    """Per variant and mode, from each seed's final error (final: one row per variant, mode and seed
    that finished; runs: every run of the study, to count seeds that did not finish):
    seeds run, seeds trained (error < collapse_error, and not stopped early), median and range
    over all seeds with an outcome, and
    mean and standard deviation over the trained seeds only (errors in %)."""
    check_no_collisions(final, ("variant", "mode", "seed"))
    seeds_run = runs[~runs["status"].isin(NOT_RUN)].groupby("variant")["seed"].nunique()
    table = []  # a row per variant and mode; none when no run finished
    for (variant, mode), group in final.groupby(["variant", "mode"], sort=False):
        errors = 100 * group["error"]
        trained = errors[(group["error"] < collapse_error) & ~group["status"].isin(STOPPED_EARLY)]
        table.append({"variant": variant, "mode": mode, "seeds": int(seeds_run.get(variant, len(group))),
                      "trained": len(trained), "median %": errors.median(), "min %": errors.min(),
                      "max %": errors.max(), "mean % (trained)": trained.mean() if len(trained) else float("nan"),
                      "std % (trained)": trained.std() if len(trained) > 1 else float("nan")})
    return pd.DataFrame(table, columns=OUTCOME_COLUMNS)
