"""Figures drawn from stored tables only: nothing here trains or imports a backend."""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
matplotlib.rcParams["svg.hashsalt"] = "ep-suite"  # fixed clip-path ids: the same figure, the same bytes
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from . import costs, records, report, variants  # noqa: E402
from .algorithms import ALGORITHMS  # noqa: E402
from .algorithms.inference import parse_mode  # noqa: E402
from .costs import cost_points, with_outcome  # noqa: E402
from .files import atomic_write  # noqa: E402
from .store import RunStore  # noqa: E402

#: No date in the files: figures redrawn from unchanged tables are byte for byte the same.
FIXED_METADATA = {"svg": {"Date": None}, "png": {}}


def unfinished_note(rows: pd.DataFrame) -> str:
    """' 2 runs diverged, 1 skipped: not shown (summary.md lists them).' or '' (collapsed runs are
    shown, as seeds that did not train)."""
    stopped = report.unfinished(rows)
    counts = stopped[~stopped["status"].isin(records.OUTCOME_STATUSES)]["status"].value_counts()
    if counts.empty:
        return ""
    parts = [f"{n} run{'s' if n > 1 else ''} {status}" for status, n in counts.items()]
    return f" {', '.join(parts)}: not shown (summary.md lists them)."


def _finish(fig, caption: str, out: Path, name: str) -> list[Path]:
    fig.text(0.01, 0.005, caption, fontsize=8, ha="left", va="bottom", wrap=True)
    # room for the caption: a line of 8-point text is about 0.16 inch
    fig.tight_layout(rect=(0, 0.06 + 0.16 * caption.count("\n") / fig.get_figheight(), 1, 1))
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    for path in paths:
        atomic_write(path, lambda tmp, fmt=path.suffix[1:]: fig.savefig(tmp, format=fmt, dpi=130,
                                                                       metadata=FIXED_METADATA[fmt]))
    plt.close(fig)
    return paths


KIND_MARKERS = {"relax": "o", "ff+relax": "s", "ff": "D"}
DRAWN_SAVING = 1.5  # a saving is drawn as an arrow from this ratio on (below it, the points nearly touch)
VARIANT_STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))  # an algorithm's variants, in order


def multiply_adds(value: float, _=None) -> str:
    """'100k', '1M', '20M': a multiply-add count as an axis reads it."""
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:g}{unit}"
    return f"{value:g}"


def percent_axis(ax, low: float) -> None:
    """A log axis of error in % with readable ticks (0.5, 1, 2, 5, ..., 100)."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(LOG_PERCENT_TICKS))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_ylim(max(0.3, low / 1.5), 100)


def variant_styles(shown: pd.DataFrame) -> dict[str, object]:
    """Each variant that trained a seed, its line style: the order of its algorithm's variants."""
    styles = {}
    for _, group in shown[shown["trained"]].groupby("algorithm", sort=False):
        for i, variant in enumerate(dict.fromkeys(group["variant"])):
            styles[variant] = VARIANT_STYLES[i % len(VARIANT_STYLES)]
    return styles


def draw_series(ax, shown: pd.DataFrame, x: str, styles: dict, along: str = "mult_adds") -> None:
    """Per series that trained: the median over its trained seeds at each point of `along` (its
    budgets, or its evaluated epochs), joined in that order, with their range (a band where seeds
    share x, as multiply-adds and epochs do; bars where they differ, as measured seconds do), a marker
    per mode kind, and its seeds trained / run at its last point."""
    for series, group in shown[shown["trained"]].groupby("series", sort=False):
        first = group.iloc[0]
        colour = colour_of(first["algorithm"])
        per_budget = group.groupby(along).agg(x=(x, "median"), median=("error %", "median"),
                                              low=("error %", "min"), high=("error %", "max"))
        ax.plot(per_budget["x"], per_budget["median"], color=colour, linestyle=styles[first["variant"]],
                marker=KIND_MARKERS[first["mode_kind"]], markersize=5, linewidth=1.4)
        if x == along and len(per_budget) > 1:
            ax.fill_between(per_budget["x"], per_budget["low"], per_budget["high"], color=colour, alpha=0.12,
                            linewidth=0)
        else:
            ax.errorbar(per_budget["x"], per_budget["median"], fmt="none", ecolor=colour, elinewidth=0.8,
                        yerr=[per_budget["median"] - per_budget["low"], per_budget["high"] - per_budget["median"]])
        trained, run = group["run_id"].nunique(), shown.loc[shown["series"] == series, "run_id"].nunique()
        last = per_budget.iloc[-1]
        ax.annotate(f"{trained}/{run}", (last["x"], last["median"]), textcoords="offset points", xytext=(4, 3),
                    fontsize=7, color=colour)


def draw_saving(ax, here: pd.DataFrame, collapse_error: float) -> str:
    """The arrow from IEP's point to where EP from zeros first reaches its error, labelled with the
    saving; its words for the caption ('' without a saving to draw)."""
    match = costs.matched(here)
    if match is None or match.ep is None:
        return ""
    found = costs.headline_saving(match, costs.largest_saving(here, collapse_error))
    if found.ratio < DRAWN_SAVING or math.isnan(found.iep.reported) or math.isnan(found.ep.reported):
        return ""
    start, end = (found.iep.mult_adds, found.iep.reported), (found.ep.mult_adds, found.ep.reported)
    ax.annotate("", end, start, arrowprops=dict(arrowstyle="->", color="black", linewidth=1.2))
    label = f"{costs.bracket(found)} fewer\nmultiply-adds"
    ax.annotate(label, (math.sqrt(start[0] * end[0]), math.sqrt(start[1] * end[1])), textcoords="offset points",
                xytext=(0, 8), ha="center", fontsize=9, fontweight="bold")
    return (f"{found.iep.series.split(': ')[0]}'s {costs.mode_at(here, found.iep)} against "
            f"{found.ep.series.split(': ')[0]}'s {costs.mode_at(here, found.ep)}")


def legend(ax, shown: pd.DataFrame, styles: dict) -> None:
    """A line per variant that trained (colour: algorithm; line style: which of its variants); the
    caption names the markers of the mode kinds."""
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color=colour_of(shown.loc[shown["variant"] == v, "algorithm"].iloc[0]),
                      linestyle=style, label=v) for v, style in styles.items()]
    ax.legend(handles=handles, fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)


def untrained_strip(ax, shown: pd.DataFrame) -> None:
    """The variants no seed of which trained, with their counts, in a strip under the curves."""
    runs = shown.drop_duplicates("run_id")
    counts = runs.groupby("variant", sort=False)["trained"].agg(["sum", "size"])
    failed = [f"{v} (0 of {n})" for v, (k, n) in counts.iterrows() if k == 0]
    if failed:
        ax.text(0.01, 0.01, "\n".join(textwrap.wrap("did not train: " + ", ".join(failed), 70)),
                transform=ax.transAxes, fontsize=7, color="crimson", va="bottom",
                bbox=dict(facecolor="white", alpha=0.85, edgecolor="none"))


def without_sizes(points: pd.DataFrame) -> pd.DataFrame:
    """Points of one depth's panel with the layer sizes, which its title gives, left out of their names."""
    sizes = " " + points["sizes"].astype(str).str.replace(" ", "-")
    def strip(column):
        return [name.replace(part, "", 1) for name, part in zip(points[column], sizes)]
    return points.assign(variant=strip("variant"), series=strip("series"))


MAX_CURVES = 8  # variants per panel (a legend line each); more are split into panels (facets)


def facets(shown: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """The panels one depth's trained variants are drawn in, each titled by what it holds: all in one
    when they fit; else split by the field that gives the fewest panels of at most MAX_CURVES (a
    variant whose algorithm does not use the field, such as bp, in every panel); else in chunks."""
    runs = shown[shown["trained"]].drop_duplicates("variant").set_index("variant")
    trained = list(runs.index)
    if len(trained) <= MAX_CURVES:
        return [("", trained)]
    best = None
    for field in [f for f in variants.LABEL_ORDER[1:] if f in runs]:
        using = [v for v in trained if not variants.unused(runs.loc[v, "algorithm"], field)]
        values = list(dict.fromkeys(runs.loc[using, field].astype(str)))
        if len(values) < 2:
            continue
        common = [v for v in trained if v not in using]
        holding = {value: [u for u in using if str(runs.loc[u, field]) == value] for value in values}
        panels = [(variants.field_label(field, runs.loc[members[0], field]), common + members)
                  for members in holding.values()]
        if max(len(p[1]) for p in panels) <= MAX_CURVES and (best is None or len(panels) < len(best)):
            best = panels
    return best or [(f"part {i // MAX_CURVES + 1}", trained[i:i + MAX_CURVES])
                    for i in range(0, len(trained), MAX_CURVES)]


def cost_axes(ax, x: str, shown: pd.DataFrame) -> None:
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))  # 1M, 2M, 5M, 10M, ...
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(multiply_adds if x == "mult_adds" else
                                                                 lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    percent_axis(ax, shown.loc[shown["trained"], "error %"].min() if shown["trained"].any() else 1.0)
    ax.set_xlabel("multiply-adds per sample (log)" if x == "mult_adds" else "measured seconds per 10,000 samples (log)")
    ax.set_ylabel(f"{costs.REPORTING} error, % (log)")
    ax.grid(True, which="major", alpha=0.3)


ZOOM_SPREAD = 2.5  # a panel where most series' best errors lie within this factor gets an inset that tells them apart


def zoom(ax, shown: pd.DataFrame, x: str, styles: dict) -> None:
    """Where most series' best median errors (three in four) lie within ZOOM_SPREAD of the lowest (one
    hidden layer: near 2% on an axis to 100%), an inset of that band with fine ticks."""
    trained = shown[shown["trained"]]
    if trained.empty:
        return
    medians = trained.groupby(["series", "mult_adds"])["error %"].median()
    best = medians.groupby(level="series").min()
    low, high = best.min(), best.quantile(0.75) * 1.3  # most series, if not an outlier above them
    if len(best) < 3 or high > ZOOM_SPREAD * low:
        return
    inset = ax.inset_axes([0.42, 0.42, 0.55, 0.5])
    draw_series(inset, trained[trained["error %"] <= 2 * high], x, styles)
    inset.set_xscale("log")
    inset.set_yscale("log")
    inset.set_ylim(low / 1.08, high)
    inset.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8)))
    inset.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    inset.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    inset.xaxis.set_major_formatter(matplotlib.ticker.NullFormatter())
    inset.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    inset.tick_params(labelsize=7)
    inset.set_title("zoom: the band where the curves end", fontsize=7)
    inset.grid(True, which="major", alpha=0.3)


def headline(rows: pd.DataFrame, out: Path, x: str, name: str, collapse_error: float) -> list[Path]:
    """Per depth, test error against inference cost (multiply-adds, or measured seconds): a curve per
    variant and mode kind over its relaxation budgets, IEP's ff a point, the saving drawn on the plot;
    a depth with more variants than a legend can tell apart is split into panels."""
    points = cost_points(rows, collapse_error)
    panels, columns, rows_of_panels = depth_panels(points)
    fig, axes = plt.subplots(rows_of_panels, columns, figsize=(6.4 * columns + 0.6, 6.6 * rows_of_panels + 0.8),
                             squeeze=False)
    compared = []
    for ax, (title, here, whole) in zip(axes.flat, panels):
        shown = here[here["split"] == costs.REPORTING]
        styles = variant_styles(shown)
        draw_series(ax, shown, x, styles)
        cost_axes(ax, x, shown)
        ax.set_title(title, fontsize=10)
        if x == "mult_adds" and not here.empty:
            words = draw_saving(ax, here, collapse_error)
            compared += [f"{title}: {words}"] if words else []
        legend(ax, shown, styles)
        if whole is not None:
            untrained_strip(ax, whole)
        zoom(ax, shown, x, styles)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    chosen_on = costs.choosing_split(points)
    spread = "band: their range" if x == "mult_adds" else "bars: their range; a point per budget at the median time"
    kinds = ", ".join(f"{shape}: {costs.KIND_NAMES[k]}" for k, shape in
                      (("relax", "circles"), ("ff+relax", "squares"), ("ff", "diamonds")))
    caption = (f"{costs.REPORTING.capitalize()} error at the last checkpoint against inference "
               f"{'multiply-adds' if x == 'mult_adds' else 'measured time'}: a curve per variant over its relaxation "
               f"budgets T ({kinds}: one forward pass), colour: the algorithm, the median over the seeds that trained "
               f"(k/n: seeds trained / run), {spread}. {rows.iloc[0]['dataset']}; {report.scale_words(rows)}."
               + (f" Arrows: {'; '.join(compared)}, {costs.chosen_words(chosen_on)}." if compared else "")
               + unfinished_note(rows))
    width = int(15 * fig.get_figwidth())
    return _finish(fig, "\n".join(textwrap.wrap(caption, width)), out, name)


BUDGET_STYLES = ("-", "--", ":")  # EP's training budgets at a depth, fewest steps first
MEASURE_COLOURS = {"to its best": "tab:blue", "to IEP ff": "tab:orange"}
MEASURE_NAMES = {"to its best": "to come within {tol:g} points of its best error",
                 "to IEP ff": "to reach the error of IEP's initializer alone (ff)"}


def budget_rank(per_variant: list) -> dict[str, int]:
    """Each EP variant's rank among the training budgets at its depth: 0 for the fewest steps."""
    ranks, seen = {}, {}
    for depth, variant, *_ in per_variant:  # per_ep_variant gives them by depth, then budget
        ranks[variant] = seen[depth] = seen.get(depth, -1) + 1
    return ranks


def against_depth(rows: pd.DataFrame, out: Path, collapse_error: float) -> list[Path]:
    """The answer against depth: the relaxation steps EP from zeros needs (median and range over its
    trained seeds), and EP's multiply-adds over IEP's at matched error, per training budget."""
    points = cost_points(rows, collapse_error)
    per_variant = list(costs.per_ep_variant(points))
    ranks = budget_rank(per_variant)
    names = ("its lowest T_neg", "its 2nd lowest T_neg", "its 3rd lowest T_neg")
    fig, (steps_ax, saving_ax) = plt.subplots(1, 2, figsize=(12, 5))
    for rank in sorted(set(ranks.values()))[:len(BUDGET_STYLES)]:
        mine = [v for v in per_variant if ranks[v[1]] == rank]
        depths = [v[0] for v in mine]
        for measure, colour in MEASURE_COLOURS.items():
            medians = [v[2][measure].median() for v in mine]
            low = [m - v[2][measure].min() for m, v in zip(medians, mine)]
            high = [v[2][measure].max() - m for m, v in zip(medians, mine)]
            steps_ax.errorbar(depths, medians, yerr=[low, high], color=colour, linestyle=BUDGET_STYLES[rank],
                              marker="o", capsize=3, label=f"{measure.replace('to IEP ff', 'to IEP ff error')}, "
                              f"EP trained at {names[rank]}")
        for depth, variant, steps, *_ in mine:
            steps_ax.annotate(f"T_neg={int(steps['T_neg'].iloc[0])}, {costs.seeds_trained(points, variant)} seeds",
                              (depth, steps["to its best"].median()), textcoords="offset points",
                              xytext=(6, 4 - 12 * rank), fontsize=7, color="0.3")
        found = [(v[0], v[5]) for v in mine if v[5] is not None and v[5].ep is not None]
        if found:
            ratios = [m.ratio for _, m in found]
            lower = [r - (m.ratio_above if m.ratio_above is not None else r) for r, (_, m) in zip(ratios, found)]
            saving_ax.errorbar([d for d, _ in found], ratios, yerr=[lower, [0] * len(found)], color="tab:green",
                               linestyle=BUDGET_STYLES[rank], marker="o", capsize=3,
                               label=f"EP trained at {names[rank]}")
            for (depth, match), ratio in zip(found, ratios):
                saving_ax.annotate(f"{ratio:.3g}x", (depth, ratio), textcoords="offset points", xytext=(6, 4),
                                   fontsize=8)
    all_depths = sorted({v[0] for v in per_variant})
    for ax in (steps_ax, saving_ax):
        ax.set_xticks(all_depths)
        ax.set_xlabel("hidden layers")
        ax.set_yscale("log", base=2 if ax is steps_ax else 10)
        if ax is saving_ax:  # 0.5, 1, 2, 5, 10, 20, 50: a ratio is read off the axis
            ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    steps_ax.set_ylabel("relaxation steps EP from zeros needs (log)")
    steps_ax.set_title("Steps to the answer, EP from zeros", fontsize=10)
    saving_ax.axhline(1, color="0.5", linewidth=1)
    saving_ax.set_ylabel("EP's multiply-adds / IEP's at matched error (log)")
    saving_ax.set_title("The initializer's saving", fontsize=10)
    chosen_on = costs.choosing_split(points)
    caption = (f"Left: the fewest ladder steps EP from zeros needs {MEASURE_NAMES['to its best']} (blue) and "
               f"{MEASURE_NAMES['to IEP ff']} (orange), median and range over the seeds that trained; IEP's ff "
               "needs none. Right: at the best median error both reach, how many times IEP's multiply-adds EP "
               "needs; the whisker reaches down to the ladder's rung below, which EP had not yet passed. "
               f"{rows.iloc[0]['dataset']}; {costs.chosen_words(chosen_on)}.").format(tol=costs.MATCH_TOLERANCE)
    return _finish(fig, caption, out, "against_depth")


def colour_of(algorithm: str) -> str:
    """One colour per algorithm (its declaration's) in every figure that colours by algorithm (tab10:
    told apart in print and by most colour-blind readers)."""
    return ALGORITHMS[algorithm].colour


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LOG_PERCENT_TICKS = (0.5, 1, 2, 5, 10, 20, 50, 100)


def swept_fields(runs: pd.DataFrame, claims) -> list[str]:
    """The fields a study's question sweeps: those its claims name that vary across its runs (the
    depth for sizes); else every field that varies, but the algorithm."""
    def varies(name):
        return runs[name].astype(str).nunique() > 1
    def ordered(names):  # numbers with three values or more: a curve
        return [n for n in names if pd.api.types.is_numeric_dtype(runs[n]) and not pd.api.types.is_bool_dtype(runs[n])
                and runs[n].nunique() > 2]
    named = dict.fromkeys(k for c in claims for table in (c.where, c.than or {}) for k in table)
    named = ["depth" if n == "sizes" else n for n in named if n != "algorithm" and varies(n)]
    varying = ["depth" if n == "sizes" else n for n in variants.label_fields(runs) if n != "algorithm" and varies(n)]
    # one ordered axis where the question has one (T_neg, lam, depth), else where the study has one;
    # the other fields name the series
    numeric = ordered(named) or ordered(varying)
    return [max(numeric, key=lambda n: runs[n].nunique())] if numeric else named or varying


def final_outcomes(rows: pd.DataFrame, collapse_error: float) -> pd.DataFrame:
    """Per run, its final test error (%) in its own mode (the one claims judge it by), and whether it
    trained."""
    final = records.final_rows(rows)
    own = final[[parse_mode(m).kind == ALGORITHMS[a].own_kind and records.primary_mode(r)
                 for m, a, (_, r) in zip(final["mode"], final["algorithm"], final.iterrows())]]
    return own.assign(**{"error %": 100 * own["error"],
                         "trained": (own["error"] < collapse_error) & ~own["status"].isin(variants.STOPPED_EARLY)})


def answer(rows: pd.DataFrame, out: Path, claims, description: str, collapse_error: float) -> list[Path]:
    """The study's question answered along the field it sweeps: per variant, the final error against
    that field (median and range over the seeds that trained, 'k/n' trained above each point, a
    hollow point at the median of all seeds where none did), with the claims' verdicts beside."""
    final = final_outcomes(rows, collapse_error)
    runs = final.drop_duplicates("run_id")
    x_fields = swept_fields(runs, claims)
    labelled = variants.with_variants(final, given=tuple("sizes" if f == "depth" else f for f in x_fields))
    numeric = len(x_fields) == 1 and pd.api.types.is_numeric_dtype(runs[x_fields[0]]) and \
        not pd.api.types.is_bool_dtype(runs[x_fields[0]])
    at = labelled[x_fields].apply(lambda r: "\n".join(variants.field_label(f, v) if f != "depth" else f"{v} hidden"
                                                      for f, v in r.items()), axis=1)  # a field per line
    order = [at[i] for i in labelled.sort_values(x_fields).index]
    positions = {label: i for i, label in enumerate(dict.fromkeys(order))}
    labelled = labelled.assign(x=at.map(positions))
    fig, ax = plt.subplots(figsize=(max(7.0, 1.1 * len(positions) + 4), 5.6))
    series = list(dict.fromkeys(labelled["variant"]))
    for i, name in enumerate(series):
        mine = labelled[labelled["variant"] == name]
        colour = colour_of(mine["algorithm"].iloc[0])
        offset = 0.08 * (i - (len(series) - 1) / 2)  # side by side, not on top of each other
        points = []
        for x, here in mine.groupby("x"):
            trained = here.loc[here["trained"], "error %"]
            shown = trained if len(trained) else here["error %"]
            points.append((x + offset, shown.median(), shown.min(), shown.max(), len(trained), len(here)))
        xs, medians, lows, highs, k, n = map(list, zip(*points))
        marker = MARKERS[i % len(MARKERS)]
        if numeric:
            ax.plot(xs, medians, color=colour, linewidth=1, alpha=0.6)
        bars = [[m - lo for m, lo in zip(medians, lows)], [h - m for m, h in zip(medians, highs)]]
        ax.errorbar(xs, medians, yerr=bars, fmt="none", ecolor=colour, capsize=3)
        for x, m, trained, total in zip(xs, medians, k, n):
            ax.plot(x, m, marker=marker, color=colour, markerfacecolor=colour if trained else "white",
                    markersize=7, linestyle="none")
            ax.annotate(f"{trained}/{total}", (x, m), textcoords="offset points", xytext=(0, 7), ha="center",
                        fontsize=7, color=colour)
        ax.plot([], [], marker=marker, color=colour, label=name or mine["algorithm"].iloc[0].upper())
    ax.set_xticks(list(positions.values()), list(positions), fontsize=8 if len(x_fields) > 1 else 9)
    ax.set_xlabel(", ".join(x_fields))
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(LOG_PERCENT_TICKS))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_ylim(max(0.3, labelled["error %"].min() / 1.5), 150)  # room above 100% for the k/n labels
    ax.set_ylabel("final test error, % (log)")
    ax.axhline(100 * collapse_error, color="crimson", linewidth=0.8, linestyle=":")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    question = description.split("?")[0].removeprefix("Question:").strip() + "?" if "?" in description else ""
    question = question[:1].upper() + question[1:]
    seeds = int(labelled.groupby(["variant", "x"]).size().max())
    ax.set_title(("\n".join(textwrap.wrap(question, 90)) + "\n" if question else "") +
                 f"{report.scale_words(rows)}, up to {seeds} seeds per point", fontsize=9)
    verdicts = report.judged_claims(rows, claims, collapse_error) if claims else pd.DataFrame()
    lines = [f"{v['verdict']}: {c}" for c, v in zip(verdicts.get("claim", []), verdicts.to_dict("records"))]
    caption = ["Per variant, the median final test error of the seeds that trained (filled; bars: their range; "
               "hollow: none trained, median of all seeds), k/n: seeds trained, dotted: the "
               f"{100 * collapse_error:g}% line at which a seed did not train."] + [f"Claim {line}" for line in lines]
    width = int(15 * fig.get_figwidth())  # characters of 8-point text across the figure
    return _finish(fig, "\n".join(line for part in caption for line in textwrap.wrap(part, width)), out, "answer")


def depth_panels(points: pd.DataFrame):
    """The panels of a figure drawn per depth: (title, its rows, the depth's rows in its first panel
    to list what did not train, else None), split by facets where a depth has too many variants."""
    panels = []
    for depth in sorted(points["depth"].unique()):
        here = without_sizes(points[points["depth"] == depth])
        whole = here[here["split"] == costs.REPORTING] if "split" in here else here
        layers = f"{depth} hidden layer{'s' if depth > 1 else ''} ({here['sizes'].iloc[0].replace(' ', '-')})"
        for i, (title, chosen) in enumerate(facets(whole)):
            panels.append((layers + (f": {title}" if title else ""), here[here["variant"].isin(chosen)],
                           whole if i == 0 else None))
    columns = min(3, len(panels))
    return panels, columns, math.ceil(len(panels) / columns)


def learning_curves(rows: pd.DataFrame, out: Path, collapse_error: float) -> list[Path]:
    """Per depth, each variant's own modes' test error at every evaluated epoch (marked), median over
    trained seeds with their range; what did not train listed apart; a cross where a run diverged."""
    data = rows[(rows["split"] == costs.REPORTING) & rows.apply(records.primary_mode, axis=1)]
    data = with_outcome(data[data["status"].isin(records.OUTCOME_STATUSES)], collapse_error)
    diverged = rows[(rows["status"] == "diverged") & (rows["split"] == "")]
    panels, columns, lines = depth_panels(data)
    fig, axes = plt.subplots(lines, columns, figsize=(6.4 * columns + 0.6, 6.2 * lines + 0.6), squeeze=False)
    for ax, (title, here, whole) in zip(axes.flat, panels):
        styles = variant_styles(here)
        draw_series(ax, here, "epoch", styles, along="epoch")
        stopped = diverged[diverged["sizes"] == here["sizes"].iloc[0]] if not here.empty else diverged.iloc[:0]
        if not stopped.empty:  # where a run diverged: a cross at the top, not a silent gap
            ax.scatter(stopped["epoch"], [90] * len(stopped), marker="X", s=80, color="black", zorder=5)
        percent_axis(ax, here.loc[here["trained"], "error %"].min() if here["trained"].any() else 1.0)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=10))  # ticks that never overlap
        ax.set(xlabel="epoch (0 = untrained)", ylabel=f"{costs.REPORTING} error, % (log)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        legend(ax, here, styles)
        if whole is not None:
            untrained_strip(ax, whole)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    caption = (f"{costs.REPORTING.capitalize()} error of each variant's own inference modes (circles: relax@T_neg "
               "from zeros, squares: ff+relax@T_neg, diamonds: ff) at the epochs it was evaluated at (the markers; "
               "lines join them): the median over the seeds that trained (k/n: seeds trained / run), band: their "
               f"range. {rows.iloc[0]['dataset']}; {report.scale_words(rows)}."
               + (f" A black cross: a run diverged there ({len(diverged)})." if not diverged.empty else "")
               + unfinished_note(rows))
    return _finish(fig, "\n".join(textwrap.wrap(caption, int(15 * fig.get_figwidth()))), out, "learning_curves")


START_NAMES = {"zeros": "from zeros", "forward": "from f"}


def residual_curves(rows: pd.DataFrame, residuals: pd.DataFrame, out: Path) -> list[Path]:
    """The fixed-point residual against free steps at the last checkpoint, per depth: EP from
    zeros against IEP from its initializer's prediction (IEP from zeros is in summary.md); the
    median over seeds thick, each seed thin; a curve ends where its state stopped moving exactly."""
    named = variants.with_variants(rows, given=("sizes",)).drop_duplicates("run_id").set_index("run_id")
    own_start = [ALGORITHMS[a].start == start for a, start in zip(residuals["algorithm"], residuals["start"])]
    residuals = residuals[pd.Series(own_start, index=residuals.index, dtype=bool)]
    data = residuals[residuals["residual"] > 0]  # exactly 0: the state stopped moving, where the curve ends
    data = data.assign(variant=[f"{named.loc[r, 'variant']} {START_NAMES[s]}" for r, s in
                                zip(data["run_id"], data["start"])],
                       sizes=named.loc[data["run_id"], "sizes"].to_numpy(), trained=True)
    data = data.assign(series=data["variant"])
    panels, columns, lines = depth_panels(data)
    fig, axes = plt.subplots(lines, columns, figsize=(6.4 * columns + 0.6, 5.8 * lines + 0.6), squeeze=False)
    for ax, (title, here, _) in zip(axes.flat, panels):
        styles = variant_styles(here)
        for (variant, run), seed in here.groupby(["variant", "run_id"], sort=False):
            colour = colour_of(seed["algorithm"].iloc[0])
            ax.plot(seed["step"], seed["residual"], color=colour, linestyle=styles[variant], linewidth=0.6, alpha=0.35)
        for variant, group in here.groupby("variant", sort=False):
            steps = group.groupby("step")["residual"]  # the median while every seed is still moving
            median = steps.median()[steps.size() == group["run_id"].nunique()]
            colour = colour_of(group["algorithm"].iloc[0])
            ax.plot(median.index, median.to_numpy(), color=colour, linestyle=styles[variant], linewidth=1.8)
        ax.set(xscale="log", yscale="log", xlabel="free relaxation step $t$ (log)",
               ylabel=r"residual $\max\,|s_{t+1} - s_t|$ (log)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        legend(ax, here, styles)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    caption = ("How fast the free relaxation settles at the last checkpoint, on up to 1,000 images of the first "
               "ladder split: the largest change of any unit in one step, EP from zeros and IEP from its "
               "initializer's prediction f with the pull; thick: the median over seeds while all are still moving, "
               "thin: each seed. A curve ends where its state stopped moving exactly (residual 0).")
    return _finish(fig, "\n".join(textwrap.wrap(caption, int(15 * fig.get_figwidth()))), out, "residuals")


def _layer_panels(data: pd.DataFrame, order, styles: int, title: str):
    """A panel per layer (title: e.g. 'weights W_{layer}'), and a row of them per group of variants
    small enough for a legend of at most MAX_CURVES lines with its `styles` style entries. Yields the
    figure, the panel, its rows, the row's variants, and whether the panel is the last of its row."""
    layers = sorted(data["layer"].unique())
    size = max(1, MAX_CURVES - styles - 2)  # seaborn's legend heads its hue and its style entries
    groups = [order[i:i + size] for i in range(0, len(order), size)]
    fig, axes = plt.subplots(len(groups), len(layers), figsize=(4.6 * len(layers) + 4, 4.2 * len(groups) + 0.8),
                             squeeze=False)
    for line, chosen in zip(axes, groups):
        for ax, layer in zip(line, layers):
            ax.set_title(title.format(layer=layer), fontsize=10)
            yield fig, ax, data[(data["layer"] == layer) & data["variant"].isin(chosen)], chosen, ax is line[-1]


def diagnostics_named(rows: pd.DataFrame, diagnostics: pd.DataFrame, collapse_error: float) -> pd.DataFrame:
    """diagnostics with each run's variant and whether it trained."""
    runs = costs.with_outcome(rows, collapse_error).drop_duplicates("run_id").set_index("run_id")
    return diagnostics.assign(variant=diagnostics["run_id"].map(runs["variant"]),
                              outcome=diagnostics["run_id"].map(runs["trained"]).map(
                                  {True: "trained", False: "did not train"}))


def alignment(data: pd.DataFrame, out: Path) -> list[Path]:
    """Cosines against epoch: each energy algorithm's update against the BPTT gradient, IEP's local
    initializer gradient against backprop's; one panel per layer of weights, a line per variant and
    quantity (colour: the algorithm)."""
    data = data[data["quantity"].str.startswith("cosine")]
    data = data.assign(compared=data["quantity"].str.removeprefix("cosine "))
    order = list(dict.fromkeys(data["variant"]))
    # colour: the algorithm where it names the variant; else one per variant
    one_each = data.groupby("algorithm")["variant"].nunique().max() == 1
    palette = {v: colour_of(a) for v, a in zip(data["variant"], data["algorithm"])} if one_each else None
    for fig, ax, here, chosen, last in _layer_panels(data, order, data["compared"].nunique(), "weights $W_{{{layer}}}$"):
        compared = list(dict.fromkeys(here["compared"]))  # only what this row's variants measured
        sns.lineplot(data=here, x="epoch", y="value", hue="variant", hue_order=chosen, palette=palette,
                     style="compared", style_order=compared, estimator="median", errorbar=("pi", 100), marker="o",
                     ax=ax, legend=last)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set(ylim=(-1.05, 1.05), xlabel="epoch (0 = untrained)", ylabel="cosine")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        if last:
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    return _finish(fig, "Gradient alignment on a fixed probe batch of 100 training images, per layer of weights: the "
                   "cosine between each energy algorithm's update (EP's from +beta, -beta, or both: symmetric) and the "
                   "exact gradient of the cost after T_neg free steps (BPTT), and between IEP's local initializer "
                   "gradient and backprop through the initializer; 0 where an update vanishes. Median over seeds, "
                   "band: range.", out, "alignment")


def saturation_figure(data: pd.DataFrame, out: Path) -> list[Path]:
    """Saturated units against epoch per layer, each seed its own line: a collapsed seed beside a
    trained one of the same variant."""
    data = data[data["quantity"] == "stuck at 0 or 1"]
    order = list(dict.fromkeys(data["variant"]))
    for fig, ax, here, chosen, last in _layer_panels(data, order, 2, "states $s_{{{layer}}}$"):
        sns.lineplot(data=here, x="epoch", y="value", hue="variant", hue_order=chosen, style="outcome",
                     style_order=["trained", "did not train"], units="seed", estimator=None, marker="o",
                     ax=ax, legend=last)
        ax.set(ylim=(-0.03, 1.03), xlabel="epoch (0 = untrained)", ylabel="fraction of units")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        if last:
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    return _finish(fig, "Saturation on the probe batch, per layer of states: the fraction of units at exactly 0 or "
                   "exactly 1 for every probe image (units that no longer learn), one line per seed; dashed: a seed "
                   "that did not train.", out, "saturation")


def across_backends_and_depths(rows: pd.DataFrame) -> pd.DataFrame:
    """rows with the variant named apart from the backend, with the layer sizes given (by depth)."""
    return variants.with_variants(rows, exclude=("backend",), given=("sizes",))


def per_epoch_seconds(rows: pd.DataFrame) -> pd.DataFrame:
    epochs = rows[(rows["epoch"] >= 1) & (rows["split"] != "")].drop_duplicates(["run_id", "epoch"])
    epochs = across_backends_and_depths(epochs)
    return epochs.assign(**{"ms per minibatch": 1000 * epochs["train_seconds"] / epochs["train_batches"]})


def train_seconds(rows: pd.DataFrame, out: Path) -> list[Path]:
    """Training seconds per epoch against depth, per variant and backend: the median over epochs and
    seeds with their range; a line joins two depths only where no depth between them went unmeasured;
    where one panel would need more than MAX_CURVES legend lines, a panel per algorithm and per
    MAX_CURVES of its series."""
    epochs = per_epoch_seconds(rows)
    styles = {b: s for b, s in zip(dict.fromkeys(epochs["backend"]), VARIANT_STYLES)}
    keys = list(epochs.groupby(["variant", "backend"], sort=False).groups)
    if len(keys) > MAX_CURVES:  # a panel per algorithm, and per MAX_CURVES of its series
        by_algorithm = epochs.drop_duplicates(["variant", "backend"]).groupby("algorithm", sort=False)
        chunks = [mine[i:i + MAX_CURVES] for _, g in by_algorithm
                  for mine in [list(zip(g["variant"], g["backend"]))] for i in range(0, len(mine), MAX_CURVES)]
    else:
        chunks = [keys]
    pairs = list(zip(epochs["variant"], epochs["backend"]))
    groups = [epochs[[p in chunk for p in pairs]] for chunk in chunks]
    fig, axes = plt.subplots(1, len(groups), figsize=(7.5 * len(groups), 5.6), squeeze=False)
    for ax, shown in zip(axes[0], groups):
        for (variant, backend), group in shown.groupby(["variant", "backend"], sort=False):
            per_depth = group.groupby("depth")["train_seconds"].agg(["median", "min", "max"])
            algorithm = group["algorithm"].iloc[0]
            colour = colour_of(algorithm)
            mine = list(dict.fromkeys(epochs.loc[epochs["algorithm"] == algorithm, "variant"]))
            ax.errorbar(per_depth.index, per_depth["median"], yerr=[per_depth["median"] - per_depth["min"],
                                                                   per_depth["max"] - per_depth["median"]],
                        color=colour, marker=MARKERS[mine.index(variant) % len(MARKERS)], linestyle="none",
                        capsize=3, label=f"{variant} {backend}" if epochs["backend"].nunique() > 1 else variant)
            for (d0, m0), (d1, m1) in zip(per_depth["median"].items(), list(per_depth["median"].items())[1:]):
                if d1 == d0 + 1:  # measured neighbours only
                    ax.plot([d0, d1], [m0, m1], color=colour, linestyle=styles[backend], linewidth=1)
        ax.set(yscale="log", xlabel="hidden layers", ylabel="training seconds per epoch (log)",
               xticks=sorted(epochs["depth"].unique()))
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    n = int(epochs["train_batches"].iloc[0])
    caption = (f"Wall-clock training time per epoch ({n} minibatches, evaluation excluded, compile timed apart); the "
               "median over epochs and seeds, bars: their range; colour: the algorithm. Lines join measured "
               "neighbouring depths only.")
    return _finish(fig, "\n".join(textwrap.wrap(caption, int(15 * fig.get_figwidth()))), out, "train_seconds")


def on_every_backend(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the configurations measured on more than one backend: a comparison needs both."""
    backends = table.groupby("config")["backend"].transform("nunique")
    return table[backends > 1]


def torch_vs_jax(rows: pd.DataFrame, out: Path) -> list[Path]:
    """The configurations run on both frameworks: training minibatch time and inference time."""
    epochs = per_epoch_seconds(rows)
    epochs = on_every_backend(epochs.assign(config=[f"{v}, depth {d}" for v, d in zip(epochs["variant"],
                                                                                      epochs["depth"])]))
    final = records.final_rows(rows)
    final = across_backends_and_depths(final[final.apply(records.primary_mode, axis=1)])
    final = on_every_backend(final.assign(config=[f"{v} {m}, depth {d}" for m, v, d in
                                                  zip(final["mode"], final["variant"], final["depth"])]))
    bars = max(epochs["config"].nunique(), final["config"].nunique())
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.45 * bars + 2.4))
    sns.barplot(data=epochs, y="config", x="ms per minibatch", hue="backend", estimator="median",
                errorbar=("pi", 100), ax=axes[0])
    sns.barplot(data=final, y="config", x="seconds_per_10k", hue="backend", estimator="median",
                errorbar=("pi", 100), ax=axes[1])
    axes[0].set(xscale="log", xlabel="milliseconds per training minibatch (log)", ylabel="")
    axes[1].set(xscale="log", xlabel="seconds per 10,000 test samples (log)", ylabel="")
    for ax in axes:
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    return _finish(fig, "The configurations run on both frameworks: training minibatch time (left) and inference "
                   "time (right). Medians over epochs / seeds; whiskers: range.", out, "torch_vs_jax")


def draw_all(directory: Path, collapse_error: float = variants.COLLAPSE_ERROR) -> list[Path]:
    """Every figure for one results directory, from its stored tables."""
    directory = Path(directory)
    rows = records.load_table(directory)
    finished = rows[rows["status"].isin(records.OUTCOME_STATUSES)]
    if finished.empty:  # every run diverged or was skipped: summary.md says which and why
        return []
    out = directory / "figures"
    out.mkdir(parents=True, exist_ok=True)
    sns.set_theme(style="whitegrid", context="notebook")
    study = RunStore(directory).study()
    paths = answer(rows, out, study.claims, study.description, collapse_error) if study and study.claims else []
    paths += against_depth(rows, out, collapse_error) if costs.depths_compared(rows, collapse_error) else []
    paths += headline(rows, out, "mult_adds", "headline_cost", collapse_error)
    paths += headline(rows, out, "seconds_per_10k", "headline_seconds", collapse_error)
    paths += learning_curves(rows, out, collapse_error)
    paths += train_seconds(rows, out)
    if finished["backend"].nunique() > 1:
        paths += torch_vs_jax(rows, out)
    residuals = records.load_table(directory, "residuals")
    if not residuals.empty:
        paths += residual_curves(rows, residuals, out)
    if (directory / "diagnostics.parquet").exists():
        diagnostics = records.load_table(directory, "diagnostics")
        if not diagnostics.empty:
            named = diagnostics_named(rows, diagnostics, collapse_error)
            paths += alignment(named, out) + saturation_figure(named, out)
    return paths


