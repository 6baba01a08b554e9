"""Inference cost at matched error: the multiply-adds EP from zeros pays to reach the error that
IEP's initializer reaches, from each run's last checkpoint (every mode at every ladder budget).

Errors are medians over a variant's trained seeds; a seed that did not train never counts. EP is
measured at a ladder of budgets, so the budget it needs to reach an error is known only to lie
between the first rung that reaches it and the rung below: a ratio is given with both.

The choices (the matched error, the cheapest budget reaching it, the best error) are made on the
validation split and the test errors at them reported, so that no test error picks what is reported
on test. A study that evaluated its ladder on test only chooses on test, and its tables say so.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import pandas as pd

from . import records, variants
from .algorithms import ALGORITHMS

KIND_NAMES = {"relax": "relax@T from zeros", "ff": "ff", "ff+relax": "ff+relax@T"}
MATCH_TOLERANCE = 0.5  # percentage points: errors this close count as matched
#: Budgets, matched errors and best errors are chosen on one split and reported on another.
CHOOSING, REPORTING = "validation", "test"


def role(points: pd.DataFrame) -> pd.Series:
    """Each point's algorithm's side of the comparison: relaxation, initializer or '' (neither)."""
    return points["algorithm"].map(lambda a: ALGORITHMS[a].cost_role or "").rename("role")


def series_label(row) -> str:
    """A variant and the kind of its inference mode: 'IEP lam=0.1: ff+relax@T'."""
    return f"{row['variant']}: {KIND_NAMES[row['mode_kind']]}" if ALGORITHMS[row["algorithm"]].relaxes else row["variant"]


def with_outcome(rows: pd.DataFrame, collapse_error: float) -> pd.DataFrame:
    """rows with their variant, series and 'trained': whether the run finished with its best primary
    mode below collapse_error (a seed that did not train is drawn apart, never in a curve)."""
    rows = variants.with_variants(rows)
    final = records.final_rows(rows)
    final = final[final["status"] == "ok"]
    best = final[final.apply(records.primary_mode, axis=1)].groupby("run_id")["error"].min() if len(final) else \
        pd.Series(dtype=float)
    rows = rows.assign(trained=rows["run_id"].isin(best.index[best < collapse_error]),
                       **{"error %": 100 * rows["error"]})
    return rows.assign(series=rows.apply(series_label, axis=1)) if not rows.empty else rows


def cost_points(rows: pd.DataFrame, collapse_error: float = variants.COLLAPSE_ERROR) -> pd.DataFrame:
    """Final error per run, split, mode and budget T on the choosing and the reporting split, of the
    modes each algorithm is trained for (IEP's relax from zeros left out)."""
    final = with_outcome(records.final_rows(rows, (CHOOSING, REPORTING)), collapse_error)
    trained_for = [kind in ALGORITHMS[a].primary_kinds for a, kind in zip(final["algorithm"], final["mode_kind"])]
    return final[pd.Series(trained_for, index=final.index, dtype=bool)]


def choosing_split(points: pd.DataFrame) -> str:
    """The split that chooses: validation where the ladder was evaluated there too (every reported
    point has its validation twin); else the reporting split, for a study whose ladder was
    evaluated on test only (the table and figures then say it chose on test)."""
    def keys(split):
        return set(map(tuple, points.loc[points["split"] == split, ["run_id", "mode"]].to_numpy()))
    reported = keys(REPORTING)
    return CHOOSING if reported and reported <= keys(CHOOSING) else REPORTING


class Point(NamedTuple):
    """A series at one budget: its median error over trained seeds on the split that chose it, and
    on the reporting split at the same series and budget (NaN: not measured there)."""
    series: str
    mult_adds: float
    error: float  # %
    reported: float  # %


class Medians(NamedTuple):
    """One algorithm's median errors over trained seeds per (series, multiply-adds): on the split
    that chooses, and on the one that reports."""
    choosing: pd.Series
    reporting: pd.Series

    def point(self, key: tuple[str, float]) -> Point:
        return Point(*key, self.choosing[key], self.reporting.get(key, math.nan))

    def best(self) -> Point:
        return self.point(self.choosing.idxmin())


def medians(points: pd.DataFrame, split: str) -> tuple[pd.Series, pd.Series]:
    """The median error on one split over trained seeds per (series, multiply-adds) of the relaxation
    side (EP) and of the initializer side (IEP) of the comparison (Algorithm.cost_role)."""
    here = points[points["trained"] & (points["split"] == split)]
    found = here.groupby([role(here), "series", "mult_adds"])["error %"].median()
    roles = set(found.index.get_level_values(0))
    return tuple(found[name] if name in roles else pd.Series(dtype=float) for name in ("relaxation", "initializer"))


def both_medians(points: pd.DataFrame) -> tuple[Medians, Medians, str]:
    """EP's and IEP's Medians, and the split that chose."""
    chosen_on = choosing_split(points)
    (ep, iep), (ep_reported, iep_reported) = medians(points, chosen_on), medians(points, REPORTING)
    return Medians(ep, ep_reported), Medians(iep, iep_reported), chosen_on


class Match(NamedTuple):
    """The best median error both EP and IEP reach on the choosing split, the cheapest point of
    each that reaches it, and each one's best point; without a trained EP seed, IEP's best error
    and ep None."""
    error: float  # %, on chosen_on
    iep: Point
    ep: Point | None
    best_iep: Point
    best_ep: Point | None
    ep_below: float | None = None  # EP's true cost to reach the error lies above this (rung_below)
    chosen_on: str = REPORTING

    @property
    def ratio(self) -> float:
        """EP's multiply-adds over IEP's at the matched error (inf: EP trained no seed)."""
        return math.inf if self.ep is None else self.ep.mult_adds / self.iep.mult_adds

    @property
    def ratio_above(self) -> float | None:
        """The ratio lies above this: at its rung below, EP had not reached the error (None: no rung below)."""
        return None if self.ep_below is None else self.ep_below / self.iep.mult_adds


def rung_below(ep: pd.Series, error: float) -> float | None:
    """A budget EP's true cost to reach error lies above. The ladder measures each EP variant at its
    own budgets and nowhere in between: per variant, the budget below its first that reaches error
    (its largest budget when none does); the least of them. None when one reaches it at its cheapest."""
    bounds = []
    for _, budgets in ep.groupby(level="series"):
        budgets = budgets.droplevel("series")
        first = min(budgets[budgets <= error + MATCH_TOLERANCE].index, default=math.inf)
        below = budgets.index[budgets.index < first]
        if not len(below):
            return None
        bounds.append(max(below))
    return min(bounds, default=None)


def cheapest(found: Medians, error: float) -> Point:
    """The cheapest point whose median error is within the tolerance of error; among equally cheap
    ones (every variant's ff), the most accurate."""
    reaching = found.choosing[found.choosing <= error + MATCH_TOLERANCE]
    return found.point(min(reaching.index, key=lambda key: (key[1], reaching[key])))


def matched(points: pd.DataFrame) -> Match | None:
    """The match among cost points (of one panel or depth); None without a trained IEP seed."""
    ep, iep, chosen_on = both_medians(points)
    if iep.choosing.empty:
        return None
    if ep.choosing.empty:
        best = iep.best()
        return Match(best.error, cheapest(iep, best.error), None, best, None, None, chosen_on)
    error = max(ep.choosing.min(), iep.choosing.min())
    return Match(error, cheapest(iep, error), cheapest(ep, error), iep.best(), ep.best(),
                 rung_below(ep.choosing, error), chosen_on)


class Saving(NamedTuple):
    """An IEP point, and EP's cheapest point reaching its error on the choosing split."""
    iep: Point
    ep: Point | None  # None: no trained EP budget reaches the error
    ep_below: float | None = None  # EP's true cost to reach the error lies above this (rung_below)
    chosen_on: str = REPORTING

    @property
    def ratio(self) -> float:
        return math.inf if self.ep is None else self.ep.mult_adds / self.iep.mult_adds

    ratio_above = Match.ratio_above


def largest_saving(points: pd.DataFrame, collapse_error: float = variants.COLLAPSE_ERROR) -> Saving | None:
    """Over IEP's modes and budgets whose median error on the choosing split is below collapse_error
    (a net that has learned) and that EP from zeros also reaches (any, if no EP seed trained), the
    one for which EP needs the most multiply-adds relative to it to reach its error; None without
    such a point."""
    ep, iep, chosen_on = both_medians(points)
    candidates = iep.choosing[iep.choosing < 100 * collapse_error]
    if len(ep.choosing):  # an error EP never reaches is a difference in accuracy, not in cost
        candidates = candidates[candidates + MATCH_TOLERANCE >= ep.choosing.min()]
    savings = []
    for key, error in candidates.items():
        reaching = ep.choosing[ep.choosing <= error + MATCH_TOLERANCE]
        ep_point = ep.point(min(reaching.index, key=lambda k: k[1])) if len(reaching) else None
        below = rung_below(ep.choosing, error) if len(reaching) else None
        savings.append(Saving(iep.point(key), ep_point, below, chosen_on))
    return max(savings, key=lambda saving: (saving.ratio, -saving.iep.error), default=None)


def bracket(found: Match | Saving, of: str = "") -> str:
    """'9.89x that (more than 5x)' (of=' that'): the ratio and, where the ladder has a rung below,
    its lower bound."""
    above = "" if found.ratio_above is None else f" (more than {found.ratio_above:.3g}x)"
    return f"{found.ratio:.3g}x{of}{above}"


def chosen_words(chosen_on: str) -> str:
    """How a figure or table names the splits: 'chosen on validation, test error reported'."""
    return (f"chosen on {chosen_on}, {REPORTING} error reported" if chosen_on != REPORTING else
            f"chosen and reported on {REPORTING}: this study evaluated its ladder on {REPORTING} only")


def count(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def errors(point: Point | None, chosen_on: str) -> str:
    """A point's median error as a table cell: '2.10 (test 2.25)' where validation chose."""
    if point is None:
        return "-"
    return f"{point.error:.2f}" + (f" ({REPORTING} {point.reported:.2f})" if chosen_on != REPORTING else "")


def matches_per_depth(rows: pd.DataFrame, collapse_error: float = variants.COLLAPSE_ERROR):
    """Per depth where IEP trained: the depth, its cost points, their Match and largest Saving."""
    for depth, here in cost_points(rows, collapse_error).groupby("depth"):
        match = matched(here)
        if match is not None:
            yield depth, here, match, largest_saving(here, collapse_error)


def table(rows: pd.DataFrame, collapse_error: float = variants.COLLAPSE_ERROR) -> pd.DataFrame:
    """One line per depth where IEP trained: the match and its ratio, chosen on validation where the
    ladder was evaluated there (the test errors at those choices beside them)."""
    lines = []
    for depth, _, match, saving in matches_per_depth(rows, collapse_error):
        chosen_on = match.chosen_on
        lines.append({"hidden layers": depth, "chosen on": chosen_on,
                      "matched error %": round(match.error, 2),
                      "EP (cheapest there)": match.ep.series if match.ep else "no seed trained",
                      "EP multiply-adds": count(match.ep and match.ep.mult_adds),
                      "EP error %": errors(match.ep, chosen_on), "IEP (cheapest there)": match.iep.series,
                      "IEP multiply-adds": count(match.iep.mult_adds), "IEP error %": errors(match.iep, chosen_on),
                      "EP / IEP": f"{match.ratio:.3g}",
                      "rung below / IEP": "-" if match.ratio_above is None else f"{match.ratio_above:.3g}",
                      "best median % (EP / IEP)": f"{errors(match.best_ep, chosen_on)} / "
                                                  f"{errors(match.best_iep, chosen_on)}",
                      "largest saving (IEP mode at multiply-adds: median %)": "-" if saving is None else
                      f"{saving.iep.series.split(': ')[-1]} at {count(saving.iep.mult_adds)}: "
                      f"{errors(saving.iep, chosen_on)}",
                      "EP / IEP there": "-" if saving is None else f"{saving.ratio:.3g}",
                      "EP's rung below / IEP": "-" if saving is None or saving.ratio_above is None else
                      f"{saving.ratio_above:.3g}"})
    return pd.DataFrame(lines)


def first_rung(errors: pd.Series, target: float) -> float:
    """The fewest steps of a ladder (errors in % indexed by steps) whose error is within the
    tolerance of target; NaN when none is."""
    return min(errors.index[errors <= target + MATCH_TOLERANCE], default=math.nan)


def initializer_errors(points: pd.DataFrame, split: str) -> pd.Series:
    """Per depth, the median error of IEP's ff over its trained seeds on split (%)."""
    ff = points[points["trained"] & (points["split"] == split) & (role(points) == "initializer")
                & (points["mode_kind"] == "ff")]
    return ff.groupby("depth")["error %"].median()


def steps_per_seed(points: pd.DataFrame) -> pd.DataFrame:
    """Per trained seed of EP from zeros, on the choosing split: the fewest relaxation steps of the
    ladder that come within the tolerance of its own best error ('to its best'), and of the median
    error of IEP's initializer alone at its depth ('to IEP ff'; NaN: no rung gets there). The
    true count lies between that rung and the one below it."""
    chosen_on = choosing_split(points)
    here = points[points["trained"] & (points["split"] == chosen_on)]
    initializer = initializer_errors(points, chosen_on)
    relaxed = here[(role(here) == "relaxation") & (here["mode_kind"] == "relax")]
    lines = []
    for (depth, variant, _), run in relaxed.groupby(["depth", "variant", "run_id"], sort=False):
        errors = run.groupby("steps")["error %"].min().sort_index()
        lines.append({"depth": depth, "variant": variant, "T_neg": run["T_neg"].iloc[0], "seed": run["seed"].iloc[0],
                      "to its best": first_rung(errors, errors.min()),
                      "to IEP ff": first_rung(errors, initializer.get(depth, math.nan))})
    return pd.DataFrame(lines, columns=["depth", "variant", "T_neg", "seed", "to its best", "to IEP ff"])


def spread(values: pd.Series, never: str = "not within the ladder") -> str:
    """'64 (32-128)': the median over seeds and their range, with the count where only some seeds
    got there; never where none did."""
    reached = values.dropna()
    if reached.empty:
        return "-" if values.empty else never
    low, high = reached.min(), reached.max()
    text = f"{reached.median():g}" + ("" if low == high else f" ({low:g}-{high:g})")
    return text if len(reached) == len(values) else f"{text}, {len(reached)} of {len(values)} seeds"


def seeds_trained(points: pd.DataFrame, variant: str) -> str:
    """'2 of 3': a variant's seeds that trained, of those run."""
    runs = points[points["variant"] == variant].drop_duplicates("run_id")
    return f"{int(runs['trained'].sum())} of {len(runs)}"


def residual_steps(residuals: pd.DataFrame, runs: pd.Series, start: str, tol: float) -> str:
    """The median (range) over runs of the steps until the residual from start falls below tol."""
    reached = records.steps_to(residuals[residuals["run_id"].isin(runs)], tol)
    if start not in reached.index.get_level_values("start"):
        return "-"
    return spread(reached.xs(start, level="start"), "not within the trace")


def depth_table(rows: pd.DataFrame, residuals: pd.DataFrame, tol: float = 1e-3,
                collapse_error: float = variants.COLLAPSE_ERROR) -> pd.DataFrame:
    """One line per depth and training budget of EP from zeros, where IEP trained too: the seeds that
    trained; the relaxation steps EP needs to come within the tolerance of its best error and to
    reach IEP's ff error (median over seeds, and their range); the steps until the fixed-point
    residual falls below 1e-2 and tol, from zeros (EP) and from f (IEP); and EP's multiply-adds over
    IEP's at the best error both reach, with the ladder's bound below."""
    points = cost_points(rows, collapse_error)
    chosen_on = choosing_split(points)
    initializer = {split: initializer_errors(points, split) for split in (chosen_on, REPORTING)}
    lines = []
    for depth, variant, steps, ep, iep, match in per_ep_variant(points):
        ff = Point("IEP: ff", math.nan, *(initializer[split].get(depth, math.nan) for split in (chosen_on, REPORTING)))
        line = {"hidden layers": depth, "EP variant": variant,
                "EP seeds trained": seeds_trained(points, variant),
                "IEP seeds trained": " / ".join(seeds_trained(points, v) for v in iep["variant"].unique()) or "-",
                "EP steps to its best": spread(steps["to its best"]),
                "EP steps to IEP ff": spread(steps["to IEP ff"]) if not math.isnan(ff.error) else "-",
                "IEP ff %": errors(ff, chosen_on) if not math.isnan(ff.error) else "-"}
        for start, who, group in (("zeros", "EP", ep), ("forward", "IEP", iep)):
            for threshold in dict.fromkeys((1e-2, tol)):
                line[f"residual < {threshold:g}, {who} from {'zeros' if start == 'zeros' else 'f'}"] = \
                    residual_steps(residuals, group["run_id"].unique(), start, threshold)
        line["EP / IEP multiply-adds at matched error"] = "-" if match is None or match.ep is None else bracket(match)
        lines.append(line)
    return pd.DataFrame(lines)


def per_ep_variant(points: pd.DataFrame):
    """Per depth and EP variant with a trained seed (by depth, then training budget): the depth, the
    variant, its steps_per_seed, its cost points and IEP's at that depth, and their Match (None:
    no IEP seed trained there)."""
    for (depth, _, variant), steps in steps_per_seed(points).groupby(["depth", "T_neg", "variant"]):
        at_depth = points[points["depth"] == depth]
        iep = at_depth[role(at_depth) == "initializer"]
        ep = at_depth[at_depth["variant"] == variant]
        yield depth, variant, steps, ep, iep, matched(pd.concat([ep, iep]))


def depths_compared(rows: pd.DataFrame, collapse_error: float = variants.COLLAPSE_ERROR) -> bool:
    """Whether EP from zeros trained at two depths or more, where IEP trained too."""
    matches = [v for v in per_ep_variant(cost_points(rows, collapse_error)) if v[5] is not None]
    return len({v[0] for v in matches}) > 1


def mode_at(points: pd.DataFrame, point: Point) -> str:
    """The inference mode a point of a series stands for: 'ff+relax@2'."""
    return points.loc[(points["series"] == point.series) & (points["mult_adds"] == point.mult_adds), "mode"].iloc[0]


def headline_saving(match: Match, saving: Saving | None) -> Match | Saving:
    """What a study's answer states at a depth: the largest saving where it exceeds the match."""
    return saving if saving is not None and saving.ep is not None and saving.ratio > match.ratio else match


def answers(rows: pd.DataFrame, collapse_error: float = variants.COLLAPSE_ERROR) -> list[str]:
    """The study's answer, a sentence per depth where IEP trained: IEP's largest saving over EP from
    zeros (the largest saving, or the match where that is larger), at which error, with how many
    seeds."""
    sentences = []
    for depth, here, match, saving in matches_per_depth(rows, collapse_error):
        layers, chosen_on = f"{depth} hidden layer{'s' if depth > 1 else ''}", match.chosen_on
        seeds = f"IEP {seeds_trained(here, match.iep.series.rsplit(': ', 1)[0])} seeds trained"
        if match.ep is None:
            sentences.append(f"{layers}: EP from zeros trained no seed; IEP's {mode_at(here, match.best_iep)} "
                             f"reaches {errors(match.best_iep, chosen_on)}% {chosen_on} error; {seeds}.")
            continue
        found = headline_saving(match, saving)
        iep, ep = found.iep, found.ep
        seeds += f", EP {seeds_trained(here, ep.series.rsplit(': ', 1)[0])}"
        reported = f" ({REPORTING}: IEP {iep.reported:.1f}%, EP {ep.reported:.1f}%)" if chosen_on != REPORTING else ""
        saves = (f"{bracket(found)} fewer multiply-adds than EP from zeros" if found.ratio >= 1 else
                 f"more multiply-adds than EP from zeros (which needs {found.ratio:.3g}x as many): no saving")
        if found is match:
            sentences.append(f"{layers}: at {match.error:.1f}% {chosen_on} error, the best both reach, IEP's "
                             f"{mode_at(here, iep)} answers with {saves}{reported}; {seeds}.")
        else:
            sentences.append(f"{layers}: IEP's {mode_at(here, iep)} reaches {iep.error:.1f}% {chosen_on} error with "
                             f"{saves}{reported}; {seeds}.")
    return sentences
