"""Variants and outcomes over seeds: runs that differ in anything but the seed are never averaged,
and a variant is judged by how many seeds trained, with the median and range of their errors."""
import dataclasses

import numpy as np
import pandas as pd
import pytest

from suite import records, report, variants
from suite.config import RunConfig
from suite.run import config_columns


def run_rows(run_id, final_error, epoch=2, **changes):
    """The test-split rows of a finished run at epochs 0 and `epoch` (hand-made)."""
    cfg = RunConfig(**{"dataset": "synthetic", "sizes": (64, 16, 10), **changes})
    base = {**config_columns(cfg), "run_id": run_id, "depth": cfg.depth, "split": "test", "status": "ok",
            "mode": cfg.eval_modes[0], "code_fingerprint": "x"}
    return [{**base, "epoch": 0, "error": 0.9}, {**base, "epoch": epoch, "error": final_error}]


def table(*runs):
    return pd.DataFrame([row for run in runs for row in run])


def test_every_config_field_makes_a_variant_or_is_named_as_not_making_one():
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    assert set(variants.LABEL_ORDER) == fields - set(variants.NOT_VARIANT)


def test_runs_differing_only_in_symmetric_are_two_variants():
    rows = table(*(run_rows(f"{sym}{seed}", 0.1 + 0.01 * seed, symmetric=sym, seed=seed)
                   for sym in (False, True) for seed in (0, 1, 2)))
    summary = report.summary(rows)
    assert list(summary["variant"]) == ["EP no symmetric", "EP symmetric"]
    assert list(summary["seeds"]) == [3, 3] and list(summary["trained"]) == [3, 3]


def test_labels_name_what_varies_once():
    """lrs varies with sizes: it is fixed by sizes, so only sizes is named."""
    rows = table(run_rows("a", 0.1, sizes=(64, 16, 10), lrs=(0.1, 0.05)),
                 run_rows("b", 0.1, sizes=(64, 16, 16, 10), lrs=(0.1, 0.05, 0.01)),
                 run_rows("c", 0.1, sizes=(64, 16, 10), lrs=(0.1, 0.05), T_neg=4))
    labelled = variants.with_variants(rows).drop_duplicates("run_id").set_index("run_id")["variant"]
    assert labelled.to_dict() == {"a": "EP 64-16-10 T_neg=20", "b": "EP 64-16-16-10 T_neg=20",
                                  "c": "EP 64-16-10 T_neg=4"}


def test_labels_leave_out_fields_the_algorithm_does_not_use():
    rows = table(run_rows("ep4", 0.1, T_neg=4), run_rows("ep20", 0.1),
                 run_rows("iep", 0.1, algorithm="iep", lam=0.1),
                 run_rows("bp", 0.1, algorithm="bp"), run_rows("bp_ce", 0.1, algorithm="bp", bp_loss="cross_entropy"))
    labelled = variants.with_variants(rows).drop_duplicates("run_id").set_index("run_id")["variant"]
    assert labelled.to_dict() == {"ep4": "EP T_neg=4", "ep20": "EP T_neg=20", "iep": "IEP T_neg=20",
                                  "bp": "BP bp_loss=squared", "bp_ce": "BP bp_loss=cross_entropy"}


def test_runs_differing_only_in_fields_their_algorithm_ignores_keep_them_in_their_labels():
    rows = table(run_rows("a", 0.1, algorithm="bp", T_neg=4), run_rows("b", 0.1, algorithm="bp"))
    labelled = variants.with_variants(rows).drop_duplicates("run_id").set_index("run_id")["variant"]
    assert labelled.to_dict() == {"a": "BP T_neg=4", "b": "BP T_neg=20"}


def test_a_collision_is_an_error_not_an_average():
    rows = variants.with_variants(table(run_rows("a", 0.1), run_rows("b", 0.2)))  # same config, same seed
    final = records.final_rows(rows)
    with pytest.raises(variants.VariantCollision, match="2 rows share variant EP, mode relax@20, seed 0"):
        variants.outcomes(final, rows.drop_duplicates("run_id"))


def test_outcomes_count_trained_seeds_and_take_median_and_range():
    """Four seeds: three trained (5, 7, 9%), one collapsed to 90%: the median and range cover all
    four, the mean only the three that trained."""
    rows = table(*(run_rows(f"s{seed}", error, seed=seed) for seed, error in enumerate((0.05, 0.07, 0.09, 0.9))))
    (outcome,) = report.summary(rows).to_dict("records")
    assert outcome["seeds"] == 4 and outcome["trained"] == 3
    assert outcome["median %"] == pytest.approx(8.0) and outcome["min %"] == pytest.approx(5.0)
    assert outcome["max %"] == pytest.approx(90.0)
    assert outcome["mean % (trained)"] == pytest.approx(7.0) and outcome["std % (trained)"] == pytest.approx(2.0)
    text = report.summary_markdown(report.summary(rows))
    assert "3 of 4" in text and "5.00-90.00" in text and "7.00 ± 2.00" in text


def test_a_study_sets_its_collapse_error():
    rows = table(*(run_rows(f"s{seed}", error, seed=seed) for seed, error in enumerate((0.05, 0.3))))
    assert report.summary(rows)["trained"].item() == 2
    assert report.summary(rows, collapse_error=0.2)["trained"].item() == 1
    assert np.isnan(report.summary(rows, collapse_error=0.01)["mean % (trained)"].item())


def test_convergence_reports_the_residual_at_each_budget_and_the_steps_to_each_threshold():
    def trace(run_id, seed, residuals):
        return [dict(run_id=run_id, seed=seed, start="zeros", step=t, residual=r, algorithm="ep", depth=1,
                     T_neg=20, lam=0.0, backend="numpy") for t, r in enumerate(residuals, 1)]
    residuals = pd.DataFrame(trace("a", 0, [1, 0.1, 5e-3, 2e-3, 5e-4, 1e-4, 0, 0])
                             + trace("b", 1, [1, 0.3, 0.05, 5e-3, 4e-3, 3e-3, 2e-3, 2e-3]))
    [line] = report.convergence(residuals, 1e-3).to_dict("records")
    assert [line[f"T={t}"] for t in (1, 2, 4, 8)] == ["1.0e+00", "2.0e-01", "3.5e-03", "1.0e-03"]
    assert line["steps to < 0.01"] == "3.5"  # steps 3 and 4
    assert line["steps to < 0.001"] == "5 (1 of 2 seeds)"


def stopped_run(run_id, train_errors, seed):
    """A run the abort rule stopped after its last epoch: train-split rows per epoch, and its status row."""
    cfg = RunConfig(dataset="synthetic", sizes=(64, 16, 10), algorithm="iep", lam=0.1, seed=seed)
    base = {**config_columns(cfg), "run_id": run_id, "depth": cfg.depth, "status": "collapsed",
            "code_fingerprint": "x"}
    rows = [{**base, "split": split, "mode": mode, "epoch": epoch, "error": error + (0.2 if mode == "ff" else 0)}
            for epoch, error in enumerate(train_errors) for split in ("train", "test") for mode in ("ff", "ff+relax@20")]
    last = len(train_errors) - 1
    return rows + [{**base, "split": "", "mode": "", "epoch": last, "error": np.nan, "note": "stopped"}]


def test_a_run_stopped_while_its_training_error_still_falls_is_named_stopped_not_collapsed():
    """The abort rule stops all three at 50%: one fell 84 -> 65 -> 62% (3 points in its last epoch),
    one sat at chance (90.0 -> 89.8%), one fell from above chance to it (93.5 -> 90.9%). Only the
    first is 'stopped'; none counts as trained."""
    rows = table(stopped_run("learning", (0.84, 0.65, 0.62), 0), stopped_run("stuck", (0.90, 0.90, 0.898), 1),
                 stopped_run("to chance", (0.95, 0.935, 0.909), 2))
    named = records.name_stops(rows)
    status = named.groupby("run_id")["status"].agg(set)
    assert status["learning"] == {"stopped"} and status["stuck"] == status["to chance"] == {"collapsed"}
    note = named.loc[(named["run_id"] == "learning") & (named["split"] == ""), "note"].item()
    assert note == "stopped; still falling: 65.0% to 62.0% from epoch 1 to 2"
    assert report.summary(named)["trained"].eq(0).all()
    assert set(report.unfinished(named)["status"]) == {"stopped", "collapsed"}
