"""Figures drawn from stored tables only: nothing here trains or imports a backend."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
matplotlib.rcParams["svg.hashsalt"] = "ep-suite"  # fixed clip-path ids: the same figure, the same bytes
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from . import records  # noqa: E402

FIGURES = ("headline_cost", "headline_seconds", "learning_curves", "train_seconds", "torch_vs_jax")
#: No date in the files: figures redrawn from unchanged tables are byte for byte the same.
FIXED_METADATA = {"svg": {"Date": None}, "png": {}}


def series_label(row) -> str:
    """What a mark is; the training budgets go in the panel title (they differ by depth)."""
    if row["algorithm"] == "bp":
        return "bp: feedforward net"
    if row["algorithm"] == "ep":
        return "EP: relax@T from zeros"
    if row["mode_kind"] == "ff":
        return "IEP: initializer alone (ff)"
    return "IEP: relax@T from f" if row["mode_kind"] == "ff+relax" else "IEP: relax@T from zeros"


def budgets(rows: pd.DataFrame) -> str:
    """'EP T_neg=20; IEP T_neg=4, lam=1' for the runs of one panel."""
    parts = []
    for algorithm, group in rows[rows["algorithm"] != "bp"].groupby("algorithm"):
        t = "/".join(str(v) for v in sorted(group["T_neg"].unique()))
        lam = "/".join(f"{v:g}" for v in sorted(group["lam"].unique()))
        parts.append(f"{algorithm.upper()} T_neg={t}" + (f", lam={lam}" if algorithm == "iep" else ""))
    return "; ".join(parts)


def cost_points(rows: pd.DataFrame) -> pd.DataFrame:
    """Final test error per (depth, series, T): mean over seeds (and backends, for cost)."""
    final = records.final_rows(rows).copy()
    final = final[~((final["algorithm"] == "iep") & (final["mode_kind"] == "relax"))]
    final["series"] = final.apply(series_label, axis=1)
    final["error %"] = 100 * final["error"]
    return final


MATCH_TOLERANCE = 0.5  # percentage points: errors this close count as matched


def savings_text(points: pd.DataFrame) -> str:
    """At the best error both EP and IEP reach, how many times IEP's multiply-adds EP needs."""
    ep = points[points["algorithm"] == "ep"].groupby("mult_adds")["error %"].mean()
    iep = points[points["algorithm"] == "iep"].groupby("mult_adds")["error %"].mean()
    if ep.empty or iep.empty:
        return ""
    target = max(ep.min(), iep.min())
    ep_cost = ep[ep <= target + MATCH_TOLERANCE].index.min()
    iep_cost = iep[iep <= target + MATCH_TOLERANCE].index.min()
    return (f"at {target:.1f}% test error (the best both reach)\n"
            f"EP needs {ep_cost / iep_cost:.2g}x IEP's multiply-adds")


def unfinished_note(rows: pd.DataFrame) -> str:
    """' 2 runs diverged, 1 skipped: not shown (summary.md lists them).' or ''."""
    counts = records.unfinished(rows)["status"].value_counts()
    if counts.empty:
        return ""
    parts = [f"{n} run{'s' if n > 1 else ''} {status}" for status, n in counts.items()]
    return f" {', '.join(parts)}: not shown (summary.md lists them)."


def _finish(fig, caption: str, out: Path, name: str) -> list[Path]:
    fig.text(0.01, 0.005, caption, fontsize=8, ha="left", va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    for path in paths:
        records.atomic_write(path, lambda tmp, fmt=path.suffix[1:]: fig.savefig(tmp, format=fmt, dpi=130,
                                                                               metadata=FIXED_METADATA[fmt]))
    plt.close(fig)
    return paths


def _panels(data: pd.DataFrame, height: float = 4.6):
    depths = sorted(data["depth"].unique())
    fig, axes = plt.subplots(1, len(depths), figsize=(5.2 * len(depths), height), squeeze=False, sharey=True)
    for ax, depth in zip(axes[0], depths):
        here = data[data["depth"] == depth]
        ax.set_title(f"{depth} hidden layer{'s' if depth > 1 else ''}\n(trained: {budgets(here)})", fontsize=10)
        yield fig, ax, here, ax is axes[0][-1]


def headline(rows: pd.DataFrame, out: Path, x: str, name: str) -> list[Path]:
    points = cost_points(rows)
    order = sorted(points["series"].unique())
    for fig, ax, here, last in _panels(points, height=5.4):
        if x == "mult_adds":  # the cost is exact, so seeds share x: band over seeds
            sns.lineplot(data=here, x=x, y="error %", hue="series", hue_order=order, marker="o",
                         errorbar=("pi", 100), estimator="mean", ax=ax, legend=last)
        else:  # measured seconds differ per seed: one mean point per (series, backend, T), in T order
            means = (here.groupby(["series", "backend", "steps"])[[x, "error %"]].mean().reset_index()
                     .sort_values("steps"))
            sns.lineplot(data=means, x=x, y="error %", hue="series", hue_order=order, style="backend",
                         marker="o", estimator=None, sort=False, ax=ax, legend=last)
        ax.set(xscale="log", yscale="log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("multiply-adds per sample (log)" if x == "mult_adds" else
                      "measured seconds per 10,000 samples (log)")
        ax.set_ylabel("test error, % (log)")
        ax.grid(True, which="both", alpha=0.3)
        if x == "mult_adds":
            ax.text(0.5, -0.22, savings_text(here), transform=ax.transAxes, fontsize=9, ha="center",
                    va="top", bbox=dict(facecolor="white", alpha=0.8, edgecolor="0.7"))
        if last:
            sns.move_legend(ax, "upper left", bbox_to_anchor=(1.02, 1), fontsize=8, title=None)
    what = "multiply-adds" if x == "mult_adds" else "measured time"
    spread = "band: range over seeds" if x == "mult_adds" else "solid torch, dashed jax"
    caption = (f"Test error at the last checkpoint against inference {what}. A curve runs over the relaxation "
               f"budget T; points are single forward passes. {rows.iloc[0]['dataset']}; mean over seeds, "
               f"{spread}." + unfinished_note(rows))
    return _finish(fig, caption, out, name)


def learning_curves(rows: pd.DataFrame, out: Path) -> list[Path]:
    data = rows[(rows["split"] == "test") & rows.apply(records.primary_mode, axis=1)].copy()
    data["series"] = data.apply(series_label, axis=1)
    data["error %"] = 100 * data["error"]
    order = sorted(data["series"].unique())
    diverged = rows[(rows["status"] == "diverged") & (rows["split"] == "")]
    for fig, ax, here, last in _panels(data):
        sns.lineplot(data=here[here["status"] == "ok"], x="epoch", y="error %", hue="series", hue_order=order,
                     marker="o", errorbar=("pi", 100), ax=ax, legend=last)
        stopped = diverged[diverged["depth"] == here["depth"].iloc[0]]
        if not stopped.empty:  # where a run diverged: a cross at the top, not a silent gap
            ax.scatter(stopped["epoch"], [100] * len(stopped), marker="X", s=80, color="crimson",
                       label=f"diverged ({len(stopped)} run{'s' if len(stopped) > 1 else ''})", zorder=5)
        ax.set(yscale="log", xlabel="epoch (0 = untrained)", ylabel="test error, % (log)",
               xticks=sorted(here["epoch"].unique()))
        ax.grid(True, which="both", alpha=0.3)
        if last and ax.get_legend():
            sns.move_legend(ax, "upper left", bbox_to_anchor=(1.02, 1), fontsize=8, title=None)
    return _finish(fig, "Test error of each algorithm's own inference mode (relax@T_neg, ff, ff+relax@T_neg) "
                   "after every epoch; mean over seeds and backends of the runs that finished, band: range; "
                   "a red cross marks the epoch where a run diverged." + unfinished_note(rows), out,
                   "learning_curves")


def per_epoch_seconds(rows: pd.DataFrame) -> pd.DataFrame:
    epochs = rows[(rows["epoch"] >= 1) & (rows["split"] != "")].drop_duplicates(["run_id", "epoch"]).copy()
    epochs["ms per minibatch"] = 1000 * epochs["train_seconds"] / epochs["train_batches"]
    epochs["label"] = [a if a == "bp" else f"{a} T_neg={t}" for a, t in zip(epochs["algorithm"], epochs["T_neg"])]
    return epochs


def train_seconds(rows: pd.DataFrame, out: Path) -> list[Path]:
    epochs = per_epoch_seconds(rows)
    fig, ax = plt.subplots(figsize=(6.5, 4.4))
    sns.lineplot(data=epochs, x="depth", y="train_seconds", hue="algorithm", style="backend", marker="o",
                 estimator="median", errorbar=("pi", 100), ax=ax)
    ax.set(yscale="log", xlabel="hidden layers", ylabel="training seconds per epoch (log)",
           xticks=sorted(epochs["depth"].unique()))
    ax.grid(True, which="both", alpha=0.3)
    n = int(epochs["train_batches"].iloc[0])
    return _finish(fig, f"Wall-clock training time per epoch ({n} minibatches, evaluation excluded, compile "
                   "timed apart); median over epochs and seeds, band: range.", out, "train_seconds")


def torch_vs_jax(rows: pd.DataFrame, out: Path) -> list[Path]:
    epochs = per_epoch_seconds(rows)
    epochs["config"] = [f"{lab}, depth {d}" for lab, d in zip(epochs["label"], epochs["depth"])]
    final = records.final_rows(rows)
    final = final[final.apply(records.primary_mode, axis=1)].copy()
    final["config"] = [f"{m}, {a}, depth {d}" for m, a, d in zip(final["mode"], final["algorithm"], final["depth"])]
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.45 * max(epochs["config"].nunique(), final["config"].nunique()) + 2))
    sns.barplot(data=epochs, y="config", x="ms per minibatch", hue="backend", estimator="median",
                errorbar=("pi", 100), ax=axes[0])
    sns.barplot(data=final, y="config", x="seconds_per_10k", hue="backend", estimator="median",
                errorbar=("pi", 100), ax=axes[1])
    axes[0].set(xscale="log", xlabel="milliseconds per training minibatch (log)", ylabel="")
    axes[1].set(xscale="log", xlabel="seconds per 10,000 test samples (log)", ylabel="")
    return _finish(fig, "Same configuration, two frameworks: training minibatch time (left) and inference time "
                   "(right). Medians over epochs / seeds; whiskers: range.", out, "torch_vs_jax")


def draw_all(directory: Path) -> list[Path]:
    """Every figure for one results directory, from its stored tables."""
    directory = Path(directory)
    rows = records.load_table(directory)
    finished = rows[rows["status"] == "ok"]
    if finished.empty:  # every run diverged or was skipped: summary.md says which and why
        return []
    out = directory / "figures"
    out.mkdir(parents=True, exist_ok=True)
    sns.set_theme(style="whitegrid", context="notebook")
    paths = headline(rows, out, "mult_adds", "headline_cost")
    paths += headline(rows, out, "seconds_per_10k", "headline_seconds")
    paths += learning_curves(rows, out)
    paths += train_seconds(rows, out)
    if finished["backend"].nunique() > 1:
        paths += torch_vs_jax(rows, out)
    return paths


