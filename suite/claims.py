"""Claims as data, judged by the suite from a study's outcomes over seeds.

A study file states what it expects in a small vocabulary:

    [[claims]]
    says = "fails"                      # trains | fails | matches | beats
    where = {kappa = 0.0}               # the variants the claim is about: fields and values
    than = {kappa = 1.0}                # matches / beats: the variants to compare with, paired
                                        #   with `where`'s on every field neither table names ...
    pair_on = ["sizes", "T_neg"]        #   ... or on these fields only (e.g. across algorithms)
    mode = "ff+relax"                   # the inference mode kind judged (default: the algorithm's
                                        #   own: relax for EP, ff+relax for IEP, ff for bp)
    tolerance = 1.0                     # matches / beats: percentage points of median error
    text = "training fails without the 1/2 ||s||^2 term"
    source = "the authors' code notes (zero_deviation_cost)"

Verdicts, per variant (trains / fails) or per pair (matches / beats), then over all of them:
- trains: most seeds trained (final error below the study's collapse_error); fails: most did not;
  half and half: the seeds disagree.
- matches: the median errors are within `tolerance`; beats: the median error is lower by more
  than `tolerance` (worse by more: refuted; in between: no clear difference).
The claim is `supported` when every variant or pair agrees with it, `refuted` when every one
contradicts it, `inconclusive` otherwise.
"""
from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from .algorithms import ALGORITHMS
from .algorithms.inference import parse_mode
from .variants import LABEL_ORDER

KINDS = ("trains", "fails", "matches", "beats")


class ClaimError(ValueError):
    """A claim names variants the results do not have."""


class Claim(NamedTuple):
    says: str
    where: dict
    than: dict | None = None
    mode: str | None = None
    tolerance: float = 1.0
    text: str = ""
    source: str = ""
    pair_on: tuple | None = None

    def describe(self) -> str:
        def fields(table):
            return ", ".join(f"{k}={v}" for k, v in table.items())
        return f"{{{fields(self.where)}}} {self.says}" + (f" {{{fields(self.than)}}}" if self.than else "")


def _column_value(value):
    """A claim's value as the result tables store it (lists as space-separated text)."""
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else value


def _select(variants: pd.DataFrame, table: dict, claim: Claim) -> pd.DataFrame:
    chosen = variants
    for name, value in table.items():
        chosen = chosen[chosen[name] == _column_value(value)]
    if chosen.empty:
        raise ClaimError(f"claim '{claim.describe()}': no variant in the results has {table}")
    return chosen


def _outcome(summary: pd.DataFrame, variant: pd.Series, claim: Claim) -> dict:
    kind = claim.mode or ALGORITHMS[variant["algorithm"]].own_kind
    rows = summary[(summary["variant"] == variant["variant"]) &
                   (summary["mode"].map(lambda m: parse_mode(m).kind) == kind)]
    if rows.empty:
        raise ClaimError(f"claim '{claim.describe()}': variant {variant['variant']!r} has no final {kind} error")
    return rows.iloc[0].to_dict()


def _seeds(outcome: dict) -> str:
    return (f"{outcome['variant']} {outcome['mode']}: {outcome['trained']} of {outcome['seeds']} seeds trained, "
            f"median {outcome['median %']:.1f}%")


def _training_verdict(outcome: dict, says: str) -> str:
    trained, seeds = outcome["trained"], outcome["seeds"]
    if 2 * trained == seeds:
        return "inconclusive"
    return "supported" if (2 * trained > seeds) == (says == "trains") else "refuted"


def _comparison_verdict(a: dict, b: dict, claim: Claim) -> str:
    gap = a["median %"] - b["median %"]
    if claim.says == "matches":
        return "supported" if abs(gap) <= claim.tolerance else "refuted"
    if gap < -claim.tolerance:
        return "supported"
    return "refuted" if gap > claim.tolerance else "inconclusive"


def judge(claim: Claim, summary: pd.DataFrame, variants: pd.DataFrame) -> tuple[str, str]:
    """(verdict, the numbers behind it) for one claim. summary: report.summary of the study;
    variants: one row per variant with its configuration columns."""
    chosen = _select(variants, claim.where, claim)
    if claim.says in ("trains", "fails"):
        outcomes = [_outcome(summary, v, claim) for _, v in chosen.iterrows()]
        verdicts = [_training_verdict(o, claim.says) for o in outcomes]
        evidence = "; ".join(_seeds(o) for o in outcomes)
    else:
        others = _select(variants, claim.than, claim)
        shared = list(claim.pair_on or [f for f in LABEL_ORDER if f not in claim.where and f not in claim.than])
        pairs = chosen.merge(others, on=shared, suffixes=("", " than"))
        if pairs.empty:
            raise ClaimError(f"claim '{claim.describe()}': no variant of {claim.than} pairs with one of "
                             f"{claim.where} (they differ in fields neither names)")
        verdicts, evidence = [], []
        for _, pair in pairs.iterrows():
            a = _outcome(summary, pair, claim)
            b = _outcome(summary, pd.Series({"variant": pair["variant than"],
                                             "algorithm": pair.get("algorithm than", pair["algorithm"])}), claim)
            verdicts.append(_comparison_verdict(a, b, claim))
            evidence.append(f"{_seeds(a)} against {_seeds(b)}")
        evidence = "; ".join(evidence)
    verdict = verdicts[0] if len(set(verdicts)) == 1 and verdicts[0] != "inconclusive" else "inconclusive"
    return verdict, evidence


def table(claims, summary: pd.DataFrame, variants: pd.DataFrame, study: str = "") -> pd.DataFrame:
    """One row per claim: what it says, its verdict, the numbers and seed counts behind it."""
    rows = []
    for claim in claims:
        verdict, evidence = judge(claim, summary, variants)
        row = {"claim": claim.text or claim.describe(), "says": claim.describe(), "source": claim.source,
               "verdict": verdict, "evidence": evidence}
        rows.append({**({"study": study} if study else {}),
                     **{k: v.replace("|", "\\|") for k, v in row.items()}})  # Markdown tables split on |
    return pd.DataFrame(rows, columns=(["study"] if study else []) + ["claim", "says", "source", "verdict", "evidence"])
