"""Inference cost at matched error: the multiply-adds EP from zeros pays to reach the error that
IEP's initializer reaches, from each run's last checkpoint (every mode at every ladder budget).

Errors are medians over a variant's trained seeds; a seed that did not train never counts. EP is
measured at a ladder of budgets, so the budget it needs to reach an error is known only to lie
between the first rung that reaches it and the rung below: a ratio is given with both.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import pandas as pd

from . import records, variants

KIND_NAMES = {"relax": "relax@T from zeros", "ff": "ff", "ff+relax": "ff+relax@T"}
MATCH_TOLERANCE = 0.5  # percentage points: errors this close count as matched


def series_label(row) -> str:
    """A variant and the kind of its inference mode: 'IEP lam=0.1: ff+relax@T'."""
    return row["variant"] if row["algorithm"] == "bp" else f"{row['variant']}: {KIND_NAMES[row['mode_kind']]}"


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
    """Final test error per run, mode and budget T (IEP's relax from zeros left out)."""
    final = with_outcome(records.final_rows(rows), collapse_error)
    return final[~((final["algorithm"] == "iep") & (final["mode_kind"] == "relax"))]


class Match(NamedTuple):
    """The best median error both EP and IEP reach, and the cheapest series of each that reaches
    it; without a trained EP seed, IEP's best error and ep_series None."""
    error: float  # %
    iep_series: str
    iep_mult_adds: float
    ep_series: str | None
    ep_mult_adds: float | None
    best_iep: float  # each algorithm's best median error, %
    best_ep: float | None
    ep_below: float | None = None  # EP's true cost to reach the error lies above this (rung_below)

    @property
    def ratio(self) -> float:
        """EP's multiply-adds over IEP's at the matched error (inf: EP trained no seed)."""
        return math.inf if self.ep_mult_adds is None else self.ep_mult_adds / self.iep_mult_adds

    @property
    def ratio_above(self) -> float | None:
        """The ratio lies above this: at its rung below, EP had not reached the error (None: no rung below)."""
        return None if self.ep_below is None else self.ep_below / self.iep_mult_adds


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


def cheapest(medians: pd.Series, error: float) -> tuple[str, float]:
    """(series, multiply-adds) of the cheapest budget whose median error is within the tolerance;
    among equally cheap ones (every variant's ff), the most accurate."""
    reaching = medians[medians <= error + MATCH_TOLERANCE]
    return min(reaching.index, key=lambda key: (key[1], reaching[key]))


def medians(points: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """EP's and IEP's median error over trained seeds per (series, multiply-adds); empty if none."""
    found = points[points["trained"]].groupby(["algorithm", "series", "mult_adds"])["error %"].median()
    algorithms = set(found.index.get_level_values("algorithm"))
    return tuple(found[name] if name in algorithms else pd.Series(dtype=float) for name in ("ep", "iep"))


def matched(points: pd.DataFrame) -> Match | None:
    """The match among cost points (of one panel or depth); None without a trained IEP seed."""
    ep, iep = medians(points)
    if iep.empty:
        return None
    if ep.empty:
        return Match(iep.min(), *cheapest(iep, iep.min()), None, None, iep.min(), None)
    error = max(ep.min(), iep.min())
    return Match(error, *cheapest(iep, error), *cheapest(ep, error), iep.min(), ep.min(), rung_below(ep, error))


class Saving(NamedTuple):
    """An IEP mode and budget, its median error, and EP's cheapest budget reaching that error."""
    iep_series: str
    iep_mult_adds: float
    error: float  # %
    ep_mult_adds: float | None  # None: no trained EP budget reaches the error
    ep_below: float | None = None  # EP's true cost to reach the error lies above this (rung_below)

    ratio = Match.ratio
    ratio_above = Match.ratio_above


def largest_saving(points: pd.DataFrame, collapse_error: float = variants.COLLAPSE_ERROR) -> Saving | None:
    """Over IEP's modes and budgets whose median error is below collapse_error (a net that has
    learned) and that EP from zeros also reaches (any, if no EP seed trained), the one for which EP
    needs the most multiply-adds relative to it to reach its error; None without such a point."""
    ep, iep = medians(points)
    iep = iep[iep < 100 * collapse_error]
    if len(ep):  # an error EP never reaches is a difference in accuracy, not in cost
        iep = iep[iep + MATCH_TOLERANCE >= ep.min()]
    savings = []
    for (series, mult_adds), error in iep.items():
        reaching = ep[ep <= error + MATCH_TOLERANCE]
        ep_mult_adds = min(reaching.index.get_level_values("mult_adds")) if len(reaching) else None
        savings.append(Saving(series, mult_adds, error, ep_mult_adds, rung_below(ep, error) if len(reaching) else None))
    return max(savings, key=lambda saving: (saving.ratio, -saving.error), default=None)


def bracket(found: Match | Saving, of: str = "") -> str:
    """'9.89x that (more than 5x)' (of=' that'): the ratio and, where the ladder has a rung below,
    its lower bound."""
    above = "" if found.ratio_above is None else f" (more than {found.ratio_above:.3g}x)"
    return f"{found.ratio:.3g}x{of}{above}"


def describe(match: Match | None, saving: Saving | None = None) -> str:
    """The match (and the largest saving) in words, for a figure."""
    if match is None:
        return ""
    if match.ep_series is None:
        text = (f"no EP seed trained; {match.iep_series}\nreaches {match.error:.1f}% test error (median) "
                f"at {match.iep_mult_adds:,.0f} multiply-adds")
    else:
        text = (f"at {match.error:.1f}% test error (median, the best both reach):\n{match.ep_series}\nneeds "
                f"{bracket(match)} the multiply-adds of\n{match.iep_series}")
    if saving is not None and saving.ep_mult_adds is not None and saving.ratio > match.ratio:
        text += (f"\nlargest saving: to reach {saving.error:.1f}%, as IEP's {saving.iep_series.split(': ')[-1]} "
                 f"\ndoes at {saving.iep_mult_adds:,.0f}, EP needs {bracket(saving, ' that')}")
    return text


def count(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def table(rows: pd.DataFrame, collapse_error: float = variants.COLLAPSE_ERROR) -> pd.DataFrame:
    """One line per depth where IEP trained: the match and its ratio."""
    points = cost_points(rows, collapse_error)
    lines = []
    for depth, here in points.groupby("depth"):
        match, saving = matched(here), largest_saving(here, collapse_error)
        if match is not None:
            lines.append({"hidden layers": depth, "matched error %": round(match.error, 2),
                          "EP (cheapest there)": match.ep_series or "no seed trained",
                          "EP multiply-adds": count(match.ep_mult_adds), "IEP (cheapest there)": match.iep_series,
                          "IEP multiply-adds": count(match.iep_mult_adds), "EP / IEP": f"{match.ratio:.3g}",
                          "rung below / IEP": "-" if match.ratio_above is None else f"{match.ratio_above:.3g}",
                          "best median % (EP / IEP)": f"{'-' if match.best_ep is None else f'{match.best_ep:.2f}'}"
                                                      f" / {match.best_iep:.2f}",
                          "largest saving (IEP mode: median %)": "-" if saving is None else
                          f"{saving.iep_series.split(': ')[-1]} at {count(saving.iep_mult_adds)}: {saving.error:.2f}",
                          "EP / IEP there": "-" if saving is None else f"{saving.ratio:.3g}",
                          "EP's rung below / IEP": "-" if saving is None or saving.ratio_above is None else
                          f"{saving.ratio_above:.3g}"})
    return pd.DataFrame(lines)
