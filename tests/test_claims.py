"""Claims as data: each kind's verdict on hand-made outcomes, and claims the results cannot judge."""
import re

import pytest

from suite import report, study
from suite.claims import Claim, ClaimError
from suite.config import ConfigError
from test_outcomes import run_rows, table


def judge(claim, rows):
    (row,) = report.judged_claims(rows, [claim]).to_dict("records")
    return row["verdict"], row["evidence"]


def seeds(errors, **changes):
    """A variant's runs, one per final error."""
    return [run_rows(f"{changes}{seed}", error, seed=seed, **changes) for seed, error in enumerate(errors)]


TRAINED, COLLAPSED = 0.08, 0.9


@pytest.mark.parametrize("says, errors, verdict", [
    ("trains", [TRAINED, TRAINED, COLLAPSED], "supported"), ("trains", [COLLAPSED, COLLAPSED, TRAINED], "refuted"),
    ("fails", [COLLAPSED, COLLAPSED, TRAINED], "supported"), ("fails", [TRAINED] * 3, "refuted"),
    ("trains", [TRAINED, COLLAPSED], "inconclusive")])  # the seeds disagree
def test_trains_and_fails_follow_most_seeds(says, errors, verdict):
    rows = table(*seeds(errors, T_neg=4), *seeds([TRAINED] * 3, T_neg=20))
    got, evidence = judge(Claim(says, {"T_neg": 4}), rows)
    assert got == verdict and f"of {len(errors)} seeds trained" in evidence and "EP T_neg=4 relax@4" in evidence


@pytest.mark.parametrize("says, a, b, verdict", [
    ("beats", 0.05, 0.08, "supported"), ("beats", 0.08, 0.05, "refuted"), ("beats", 0.080, 0.085, "inconclusive"),
    ("matches", 0.080, 0.085, "supported"), ("matches", 0.05, 0.08, "refuted")])
def test_matches_and_beats_compare_medians_within_a_tolerance(says, a, b, verdict):
    rows = table(*seeds([a] * 3, symmetric=True), *seeds([b] * 3, symmetric=False))
    got, evidence = judge(Claim(says, {"symmetric": True}, {"symmetric": False}, tolerance=1.0), rows)
    assert got == verdict and "EP symmetric relax@20" in evidence and "against EP no symmetric" in evidence


def test_a_claim_over_several_pairs_needs_them_all():
    """symmetric beats random-sign at T_neg 4 but not at 20: inconclusive."""
    rows = table(*seeds([0.05] * 3, symmetric=True, T_neg=4), *seeds([0.08] * 3, symmetric=False, T_neg=4),
                 *seeds([0.08] * 3, symmetric=True, T_neg=20), *seeds([0.05] * 3, symmetric=False, T_neg=20))
    assert judge(Claim("beats", {"symmetric": True}, {"symmetric": False}), rows)[0] == "inconclusive"


def test_a_claim_about_variants_the_results_lack_names_them():
    rows = table(*seeds([TRAINED] * 3, T_neg=4))
    with pytest.raises(ClaimError, match=r"claim '\{T_neg=10\} trains': no variant in the results has \{'T_neg': 10\}"):
        judge(Claim("trains", {"T_neg": 10}), rows)


STUDY = "name = 'c'\n[base]\ndataset = 'synthetic'\nsizes = [64, 16, 10]\n[[runs]]\nT_neg = [4, 20]\n"


@pytest.mark.parametrize("claim, message", [
    ("says = 'wins'\nwhere = {T_neg = 4}", "claims[0].says: 'wins' is not allowed; choose one of trains"),
    ("says = 'beats'\nwhere = {T_neg = 4}", "claims[0].than: needed by matches and beats"),
    ("says = 'trains'\nwhere = {T_neg = 7}", "claims[0].where: no run of the study has {'T_neg': 7}"),
    ("says = 'trains'\nwhere = {tneg = 4}", "claims[0].where: {'tneg': 4} is not allowed"),
    ("says = 'trains'\nwhere = {seed = 0}", "claims[0].where: {'seed': 0} is not allowed; give a table of fields "
     "that make a variant"),
    ("says = 'trains'\nwhere = {eval_modes = ['relax']}", "claims[0].where: {'eval_modes': ['relax']} is not allowed"),
    ("says = 'trains'\nwhere = {T_neg = 4}\nmode = 'fast'", "claims[0].mode: 'fast' is not allowed"),
    ("says = 'trains'\nwhere = {T_neg = 4}\nverdict = 'yes'", "claims[0].verdict: unknown key")])
def test_a_bad_claim_is_refused_before_anything_runs(claim, message):
    with pytest.raises(ConfigError, match=re.escape("c.toml: " + message)):
        study.from_text(STUDY + "[[claims]]\n" + claim + "\n", "c.toml")
