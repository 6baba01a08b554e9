"""A study's report: its summary table over seeds, the convergence table, its claims judged, its
answer, and summary.md / summary.csv written beside its tables."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from . import costs
from .claims import table as claims_table
from .config import RunConfig
from .files import atomic_write
from .records import final_rows, primary_mode, save_text, steps_to
from .variants import COLLAPSE_ERROR, outcomes, with_variants

#: The figures suite.plots draws, in the order summary.md lists them.
FIGURES = ("answer", "against_depth", "headline_cost", "headline_seconds", "learning_curves", "train_seconds",
           "torch_vs_jax", "residuals", "alignment", "saturation")
#: What each figure shows, a line each: summary.md lists the study's figures with them.
CAPTIONS = {
    "answer": "the final error of each variant along what the question sweeps, with the claims' verdicts",
    "against_depth": "the steps EP from zeros needs, and the initializer's saving, against depth",
    "headline_cost": "test error against inference multiply-adds per sample, the saving drawn as an arrow",
    "headline_seconds": "test error against measured inference seconds per 10,000 samples",
    "learning_curves": "test error of each variant's own modes at every evaluated epoch",
    "train_seconds": "training seconds per epoch against depth",
    "torch_vs_jax": "the same configurations on both frameworks: training and inference time",
    "residuals": "the fixed-point residual against free steps, from zeros and from f",
    "alignment": "the cosine of EP's update with the exact gradient, and of IEP's local gradient with the global",
    "saturation": "the fraction of units stuck at 0 or 1, per layer and seed"}
assert set(CAPTIONS) == set(FIGURES)

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
    verdicts = judged_claims(rows, claims, collapse_error) if claims else pd.DataFrame(columns=["verdict", "claim"])
    return costs.answers(rows, collapse_error) + [f"{v}: {c}" for v, c in zip(verdicts["verdict"], verdicts["claim"])]


def answer_figure(rows: pd.DataFrame, claims, collapse_error: float = COLLAPSE_ERROR) -> str:
    """The figure that answers the study: its claims' answer figure where it has claims, else against
    depth where it compares depths, else error against multiply-adds."""
    return "answer" if claims else "against_depth" if costs.depths_compared(rows, collapse_error) else "headline_cost"


def summary_report(rows: pd.DataFrame, residuals: pd.DataFrame | None = None, tol: float = 1e-3,
                   collapse_error: float = COLLAPSE_ERROR, claims=(), figures=()) -> tuple[pd.DataFrame, str]:
    """The summary table and the markdown report of a study's tables (with figures, the names of the
    figures drawn beside them, each shown with its line)."""
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
        text += "\n## Figures\n\n" + "".join(f"![{CAPTIONS[name]}](figures/{name}.png)\n\n*`{name}`: "
                                              f"{CAPTIONS[name]}.*\n\n" for name in figures)
    return table, text


def drawn_figures(directory: Path) -> list[str]:
    """The figures drawn in a study's folder, in FIGURES order (summary.md lists them)."""
    return [name for name in FIGURES if (Path(directory) / "figures" / f"{name}.png").exists()]
