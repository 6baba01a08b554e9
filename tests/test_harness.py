"""The harness end to end on the smoke preset: study -> runs -> tables -> figures."""
import contextlib
import dataclasses
import io
import os
import re
import stat
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from suite import costs, identity, plots, provenance, records, report, study
from suite.cli import main
from suite.config import ConfigError, RunConfig
from suite.store import RunStore


ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["run", "--preset", "smoke", "--results", str(root)]) == 0
    (root / "printed.txt").write_text(printed.getvalue())
    return root / "smoke"


def test_a_sweep_ends_with_its_answer_and_its_figure(smoke_results):
    """The last lines: a sentence per depth (as summary.md opens with), then the figure's path."""
    printed = (smoke_results.parent / "printed.txt").read_text().rstrip().splitlines()
    answers = report.answer_lines(records.load_table(smoke_results), ())
    figure = smoke_results / "figures" / f"{report.answer_figure(records.load_table(smoke_results), ())}.png"
    assert answers and printed[-len(answers) - 1:] == [f"  {a}" for a in answers] + [f"The figure: {figure}"]
    assert figure.exists()
    summary = (smoke_results / "summary.md").read_text()
    assert summary.startswith("## The answer\n\n" + "".join(f"- {a}\n" for a in answers))
    drawn = report.drawn_figures(smoke_results)  # every figure drawn, shown with its line
    assert "headline_cost" in drawn and all(f"](figures/{name}.png)\n\n*`{name}`: {report.CAPTIONS[name]}.*" in summary
                                            for name in drawn)


def test_smoke_writes_tables_and_figures(smoke_results):
    for name in ("rows.parquet", "residuals.parquet", "summary.csv", "summary.md", "study.toml"):
        assert (smoke_results / name).exists(), name
    # one backend: no torch-vs-jax figure; no diagnostics asked for: no alignment or saturation; IEP
    # trains at one depth only: no figure against depth; no claims: no answer figure (the committed
    # studies draw both)
    assert not costs.depths_compared(records.load_table(smoke_results)) and not study.preset("smoke").claims
    for figure in set(report.FIGURES) - {"torch_vs_jax", "alignment", "saturation", "against_depth", "answer"}:
        for suffix in ("png", "svg"):
            assert (smoke_results / "figures" / f"{figure}.{suffix}").stat().st_size > 1000
    assert not list(smoke_results.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_row_schema(smoke_results):
    rows = records.load_table(smoke_results)
    expected = {f.name for f in dataclasses.fields(RunConfig)} - {"eval_modes"}
    expected |= set(records.MEASUREMENT_COLUMNS) | set(provenance.COLUMNS)
    assert expected <= set(rows.columns), expected - set(rows.columns)
    smoke = study.preset("smoke")
    assert rows["run_id"].nunique() == len(smoke.runs) == 12
    # a row per (run, checkpoint, split, mode): no duplicates, every checkpoint 0..epochs present
    assert not rows.duplicated(["run_id", "epoch", "split", "mode"]).any()
    assert sorted(rows["epoch"].unique()) == [0, 1, 2]
    # the ladder is evaluated at the last checkpoint only, on validation (to choose) and test (to report)
    ep = rows[rows["algorithm"] == "ep"]
    for split in ("validation", "test"):
        assert set(ep[(ep["split"] == split) & (ep["epoch"] == 2)]["mode"]) == {f"relax@{t}" for t in (1, 2, 4, 8)}
    assert set(ep[(ep["split"] == "validation") & (ep["epoch"] == 1)]["mode"]) == {"relax@8"}
    assert set(ep[ep["split"] == "train"]["mode"]) == {"relax@8"}
    iep = rows[(rows["algorithm"] == "iep") & (rows["epoch"] == 2) & (rows["split"] == "test")]
    assert {"ff", "ff+relax@1", "ff+relax@8", "relax@8"} <= set(iep["mode"])
    assert (rows["error"].between(0, 1)).all() and (rows["mult_adds"] > 0).all()
    assert (rows.loc[rows["epoch"] > 0, "train_seconds"] > 0).all()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert len(head) == 40 and set(rows.loc[rows["split"] != "", "git_commit"]) == {head}
    assert set(rows["code_fingerprint"]) == {identity.code_fingerprint(a, "numpy") for a in rows["algorithm"].unique()}


def test_residuals_shrink(smoke_results):
    residuals = records.load_table(smoke_results, "residuals")
    assert set(residuals["start"]) == {"zeros", "forward"}
    for _, trace in residuals.groupby(["run_id", "start"]):
        assert trace["residual"].iloc[-1] < trace["residual"].iloc[0]


def test_plot_and_table_never_train(smoke_results, monkeypatch, capsys):
    import suite.engine
    import suite.run

    def forbidden(*args, **kwargs):
        raise AssertionError("plotting must not train or build an engine")
    monkeypatch.setattr(suite.run, "train_and_evaluate", forbidden)
    monkeypatch.setattr(suite.engine, "Engine", forbidden)
    (smoke_results / "figures" / "headline_cost.png").unlink()
    assert main(["plot", "--results", str(smoke_results.parent), "smoke"]) == 0
    assert (smoke_results / "figures" / "headline_cost.png").exists()
    assert main(["table", "--results", str(smoke_results.parent)]) == 0
    assert "relax@8" in capsys.readouterr().out


def test_plot_without_results_says_what_to_do(tmp_path, capsys):
    assert main(["plot", "--results", str(tmp_path)]) == 2
    assert "run a study first" in capsys.readouterr().err


def cost_point(algorithm, series, mult_adds, error, trained=True, seed=0, split="test"):
    return dict(algorithm=algorithm, series=series, mult_adds=mult_adds, trained=trained, seed=seed, split=split,
                run_id=f"{series} {seed}", mode=f"T={mult_adds}", **{"error %": error})


COST_POINTS = pd.DataFrame([
    cost_point("iep", "IEP: ff", 100, 5.0), cost_point("iep", "IEP: ff+relax@T", 200, 4.0),
    cost_point("ep", "EP: relax@T", 150, 20.0), cost_point("ep", "EP: relax@T", 800, 4.2),
    cost_point("ep", "EP: relax@T", 800, 4.4, seed=1),
    cost_point("ep", "EP: relax@T", 800, 90.0, trained=False, seed=2), cost_point("ep", "EP: relax@T", 1600, 3.0)])


def test_savings_ratio_at_matched_error():
    """Medians over trained seeds; a seed that did not train never counts; both variants are named."""
    points = COST_POINTS
    # both reach 4.0%; EP first does (median 4.3, within 0.5 points) at 800, IEP at 200
    match = costs.matched(points)
    assert (match.error, match.ep[:2], match.iep[:2]) == (4.0, ("EP: relax@T", 800), ("IEP: ff+relax@T", 200))
    assert (match.ratio, match.ratio_above, costs.bracket(match)) == (4, 0.75, "4x (more than 0.75x)")
    worse_ep = points[points["mult_adds"] < 1000]
    assert costs.matched(worse_ep).error == pytest.approx(4.3)  # EP's best median bounds the match
    best = costs.matched(worse_ep)
    assert (best.best_iep.error, best.best_ep.error) == pytest.approx((4.0, 4.3))
    no_ep = costs.matched(points[(points["algorithm"] == "iep") | ~points["trained"]])
    assert no_ep.ep is None and no_ep.ratio == float("inf") and no_ep.error == 4.0
    assert no_ep.iep[:2] == ("IEP: ff+relax@T", 200)
    assert costs.matched(points[points["algorithm"] == "ep"]) is None
    # IEP's ff (5.0% at 100) is what EP needs most to match: 800 multiply-adds (median 4.3%), 8x; at its
    # rung below (150) EP is at 20%, so the ladder puts the ratio between 1.5x and 8x
    saving = costs.largest_saving(points)
    assert (saving.iep[:3], saving.ep.mult_adds, saving.ep_below) == (("IEP: ff", 100, 5.0), 800, 150)
    assert saving.ratio == 8 and saving.ratio_above == 1.5
    assert costs.bracket(saving, " that") == "8x that (more than 1.5x)"
    cheapest_rung = costs.largest_saving(points[points["mult_adds"] != 150])
    assert cheapest_rung.ep_below is None and costs.bracket(cheapest_rung) == "8x"
    # two EP variants measured at other budgets: each has its own rung below, and the bound is the least
    other = pd.concat([points[points["mult_adds"] != 150], pd.DataFrame([
        cost_point("ep", "EP: relax@T", 300, 25.0), cost_point("ep", "EP T=2: relax@T", 150, 20.0),
        cost_point("ep", "EP T=2: relax@T", 400, 30.0), cost_point("ep", "EP T=2: relax@T", 1000, 4.0)])])
    assert (costs.largest_saving(other).ep.mult_adds, costs.largest_saving(other).ep_below) == (800, 300)  # not 400
    ep_medians = costs.medians(other, "test")[0]
    assert costs.rung_below(ep_medians, 2.0) == 1000  # no variant reaches it: the least largest budget
    assert costs.largest_saving(points[points["algorithm"] == "iep"]).ratio == float("inf")  # no EP seed at all


def test_cost_choices_are_made_on_validation_and_reported_on_test():
    """With the ladder on validation too, validation picks the matched error and the budgets, and the
    test errors at those picks are reported; test errors never move a choice."""
    validation = COST_POINTS.assign(split="validation")
    # on test, EP at 800 is far better (1.0%): a choice made on test would match at IEP's 4.0% with 800
    test = COST_POINTS.assign(**{"error %": COST_POINTS["error %"].where(COST_POINTS["mult_adds"] != 800, 1.0)})
    both = pd.concat([validation, test])
    match = costs.matched(both)
    assert match.chosen_on == "validation" and match.error == 4.0
    assert (match.ep.mult_adds, match.ep.error, match.ep.reported) == (800, pytest.approx(4.3), 1.0)
    assert (match.iep.mult_adds, match.iep.reported) == (200, 4.0)
    flipped = costs.matched(pd.concat([validation, test.assign(**{"error %": 50.0 - test["error %"]})]))

    def choice(found):
        return found.error, found.ep[:3], found.iep[:3], found.best_ep[:3], found.best_iep[:3], found.ep_below
    assert choice(flipped) == choice(match) and flipped.ep.reported == 49.0  # other test errors: the same choices
    assert costs.matched(test).chosen_on == "test"  # a ladder on test only: chosen there, and said so
    assert "test only" in costs.chosen_words("test")
    # a ladder on validation for some runs only: not every reported point has its twin, so test chooses
    assert costs.matched(pd.concat([validation.iloc[1:], test])).chosen_on == "test"


def ladder_points(depth, seed, errors, algorithm="ep", T_neg=20, trained=True, split="validation"):
    """One run's final points: relax@T from zeros at each ladder rung (EP), or ff (IEP)."""
    variant = f"{algorithm.upper()} depth {depth} T_neg={T_neg}"
    kind = "relax" if algorithm == "ep" else "ff"
    return [dict(algorithm=algorithm, variant=variant, series=f"{variant}: {kind}", run_id=f"{variant} {seed}",
                 depth=depth, T_neg=T_neg, seed=seed, split=split, mode_kind=kind, mode=f"{kind}@{steps}",
                 steps=steps, mult_adds=100 * steps * depth or 50 * depth, trained=trained, **{"error %": error})
            for steps, error in errors.items()]


def test_steps_against_depth_are_chosen_on_validation_per_seed():
    """The fewest ladder steps within half a point of a seed's own best, and of IEP's median ff error;
    NaN where no rung gets there; a seed that did not train never counts."""
    ladder = {
        (0, 0): {1: 30.0, 2: 5.0, 4: 4.4, 8: 4.0},   # best 4.0: 4 is within half a point; IEP's 6% at 2
        (0, 1): {1: 30.0, 2: 20.0, 4: 9.0, 8: 7.0},  # best 7.0 at 8; never within IEP's 6%
        (0, 2): {1: 91.0, 2: 91.0, 4: 91.0, 8: 91.0}}  # did not train
    points = [p for (_, seed), errors in ladder.items()
              for p in ladder_points(2, seed, errors, trained=seed < 2)]
    points += [p for seed, error in enumerate((6.0, 6.2, 5.8)) for p in ladder_points(2, seed, {0: error}, "iep")]
    validation = pd.DataFrame(points)
    test = validation.assign(split="test", **{"error %": 1.0})  # a test error never moves a choice
    steps = costs.steps_per_seed(pd.concat([validation, test])).set_index("seed")
    assert list(steps.index) == [0, 1]
    assert steps.loc[0, "to its best"] == 4 and steps.loc[0, "to IEP ff"] == 2
    assert steps.loc[1, "to its best"] == 8 and np.isnan(steps.loc[1, "to IEP ff"])
    assert costs.spread(steps["to its best"]) == "6 (4-8)"
    assert costs.spread(steps["to IEP ff"]) == "2, 1 of 2 seeds"
    assert costs.spread(pd.Series([np.nan])) == "not within the ladder"
    assert costs.seeds_trained(validation, "EP depth 2 T_neg=20") == "2 of 3"


BAD_STUDIES = [
    ("name = 'x'\nfoo = 1\n[[runs]]\nalgorithm = 'ep'", "foo: unknown key"),
    ("name = '..'\n[[runs]]\nalgorithm = 'ep'", "name: '..' is not allowed; give letters, digits"),
    ("name = 'a/b'\n[[runs]]\nalgorithm = 'ep'", "name: 'a/b' is not allowed"),
    ("name = 'x'\n[[runs]]\nalgoritm = 'ep'", "runs[0].algoritm: unknown field"),
    ("name = 'x'\n[[runs]]\nbackend = []", "runs[0].backend: an empty list is not allowed"),
    ("name = 'x'\n[[runs]]\nT_neg = [-1, 4]", "runs[0]: T_neg: -1 is not allowed"),
    ("name = 'x'\n[[runs]]\nsizes = [[784, 500, 10], [784, 10]]\nlrs = [[0.1, 0.1]]\nzip = [['sizes', 'lrs']]",
     "must have the same number of options"),
    ("name = 'x'\n[[runs]]\nalgorithm = 'ep'\nexclude = [{algorithm = 'ep'}]", "every combination is excluded"),
    ("name = 'x'\nladder = [4, -1]\n[[runs]]\nalgorithm = 'ep'", "ladder: [4, -1] is not allowed"),
    ("name = 'x'\n[base]\nbackend = 'mxnet'\n[[runs]]\nalgorithm = 'ep'", "base: backend: 'mxnet' is not allowed"),
    ("name = 'x'\n[base]\nbeta = 0.0\n[[runs]]\nalgorithm = 'ep'", "base: beta: 0.0 is not allowed"),
    ("name = 'x'\n[base]\nbeta = 0.5\n[[runs]]\nbeta = [0.5, -1.0]", "runs[0]: beta: -1.0 is not allowed"),
    ("name = 'x'\ntiming_repeats = 0\n[[runs]]\nalgorithm = 'ep'", "timing_repeats: 0 is not allowed"),
    ("name = 'x'\nabort_if_error_above = 1.5\n[[runs]]\nalgorithm = 'ep'",
     "abort_if_error_above: 1.5 is not allowed; give an error rate in (0, 1)"),
    ("name = 'x'\nabort_after_epoch = 0\n[[runs]]\nalgorithm = 'ep'", "abort_after_epoch: 0 is not allowed"),
    ("name = 'x'\ndiagnostics = 'yes'\n[[runs]]\nalgorithm = 'ep'", "diagnostics: 'yes' is not allowed; give true or false"),
    ("name = 'x'\n[[runs]\n", "not valid TOML"),
    ("name = 'x'\n[[runs]]\nalgorithm = 'ep'\nexclude = [{backnd = 'jax'}]", "exclude: unknown field 'backnd'"),
    ("name = 'x'\n[[runs]]\nT_neg = 'four'", "runs[0]: T_neg: 'four' is not allowed; must be a whole number >= 0"),
    ("name = 'x'\n[[runs]]\nepochs = 1.5", "runs[0]: epochs: 1.5 is not allowed; must be a whole number >= 0"),
    ("name = 'x'\n[[runs]]\nrandom_sign = 'yes'", "runs[0]: random_sign: 'yes' is not allowed; must be true or false"),
    ("name = 'x'\n[[runs]]\nsizes = [784, 10]\nlrs = [0.1]", "runs[0]: sizes: (784, 10) is not allowed; need at "
     "least [inputs, hidden, outputs]"),
    ("name = 'x'\n[[runs]]\nalgorithm = 'ep2'", "runs[0]: algorithm: 'ep2' is not allowed; choose one of bp, bptt, contrastive, coupled, ep, iep"),
    ("name = 'x'\n[[runs]]\ndataset = 'cifar'", "runs[0]: dataset: 'cifar' is not allowed; choose one of mnist"),
    ("name = 'x'\n[[runs]]\nalgorithm = 'ep'\neval_modes = ['relax@x']", "inference mode: 'relax@x' is not allowed"),
    ("name = 'x'\n[[runs]]\nalgorithm = 'ep'\neval_modes = ['ff']", "eval_modes: 'ff' is not allowed; algorithm "
     "'ep' supports relax"),
    ("name = 'x'\n[[runs]]\nalgorithm = 'iep'\nlam = -0.1", "runs[0]: lam: -0.1 is not allowed; must be a finite number >= 0"),
    ("name = 'x'\n[[runs]]\nlrs = [0.1, 0.1, 0.1]", "runs[0]: lrs: (0.1, 0.1, 0.1) is not allowed; need one "
     "learning rate per layer of weights: 2"),
    ("name = 'x'\nruns = [3]", "runs[0]: 3 is not allowed; each [[runs]] block is a table"),
    ("name = 'x'\nladder = 'all'\n[[runs]]\nalgorithm = 'ep'", "ladder: 'all' is not allowed"),
]


@pytest.mark.parametrize("text, message", BAD_STUDIES)
def test_bad_studies_name_the_file_and_field(text, message):
    with pytest.raises(ConfigError) as err:
        study.from_text(text, "my.toml")
    assert str(err.value).startswith("my.toml:") and message in str(err.value)


EP_BLOCK = 'name = "x"\n[base]\ndataset = "synthetic"\n[[runs]]\nalgorithm = "ep"\n'  # a study's start


def test_products_zips_and_excludes():
    text = EP_BLOCK + """backend = ["numpy", "jax"]
T_neg = [4, 20]
sizes = [[64, 8, 10], [64, 8, 8, 10]]
lrs = [[0.1, 0.1], [0.1, 0.1, 0.1]]
zip = [["sizes", "lrs"]]
exclude = [{backend = "jax", T_neg = 4}]
"""
    runs = study.from_text(text, "x.toml").runs
    assert len(runs) == 2 * 2 * 2 - 2
    assert all(len(r.lrs) == len(r.sizes) - 1 for r in runs)
    assert not any(r.backend == "jax" and r.T_neg == 4 for r in runs)


def test_exclude_matches_a_field_left_at_its_default():
    text = EP_BLOCK + """T_pos = [4, 8]
exclude = [{backend = "numpy", T_neg = 20, T_pos = 8}]
"""
    assert RunConfig().backend == "numpy" and RunConfig().T_neg == 20  # neither is set by the study
    assert [r.T_pos for r in study.from_text(text, "x.toml").runs] == [4]


def test_a_bad_study_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'bad'\n[[runs]]\nalgorithm = 'ep'\nbeta = [0.5, 0.0]\n")
    assert main(["run", "--study", str(bad), "--results", str(tmp_path / "results")]) == 2
    assert f"{bad}: runs[0]: beta: 0.0 is not allowed" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("text, message", BAD_STUDIES)
def test_every_bad_study_exits_2_with_one_line(tmp_path, capsys, text, message):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    assert main(["run", "--study", str(bad), "--results", str(tmp_path / "results")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "results").exists()


def test_sizes_that_do_not_fit_the_data_are_refused_before_anything_runs(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'bad'\n[base]\ndataset = 'synthetic'\n[[runs]]\nalgorithm = 'ep'\n"
                   "sizes = [[64, 16, 10], [784, 16, 10]]\nlrs = [0.1, 0.1]\n")
    assert main(["run", "--study", str(bad), "--results", str(tmp_path / "results")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: run 'ep numpy 784-16-10 T_neg=20 seed 0': sizes: first size 784 does not fit" in err
    assert not (tmp_path / "results").exists()


def test_checkpoint_schedule(tmp_path):
    """Evaluation happens at epoch 0, at the listed checkpoints and at the last epoch only."""
    from suite.run import EvaluationPlan, train_and_evaluate
    cfg = RunConfig(dataset="synthetic", sizes=(64, 16, 10), epochs=4, train_size=200)
    rows = train_and_evaluate(cfg, plan=EvaluationPlan(checkpoints=(2,))).rows
    assert sorted({r["epoch"] for r in rows}) == [0, 2, 4]
    totals = {r["epoch"]: r["train_seconds_total"] for r in rows}
    assert totals[0] == 0 < totals[2] < totals[4]
    with pytest.raises(ConfigError, match="checkpoints: \\[0\\] is not allowed"):
        study.from_text("name = 'x'\ncheckpoints = [0]\n[[runs]]\nalgorithm = 'ep'", "x.toml")


def figure_bytes(directory):
    return {path.name: path.read_bytes() for path in sorted((directory / "figures").iterdir())}


def test_figures_redraw_byte_for_byte(smoke_results):
    """No date, no random ids: plotting unchanged tables twice writes the same bytes."""
    assert main(["plot", "--results", str(smoke_results.parent), "smoke"]) == 0
    first = figure_bytes(smoke_results)
    assert main(["plot", "--results", str(smoke_results.parent), "smoke"]) == 0
    assert figure_bytes(smoke_results) == first


def matplotlib_that_drew(svg: Path) -> str:
    """The matplotlib version named in an SVG's metadata ('<dc:title>Matplotlib v3.11.2, https://...')."""
    text = svg.read_text()
    return text.split("Matplotlib v", 1)[1].split(",", 1)[0] if "Matplotlib v" in text else "unknown"


COMMITTED = [p.parent.relative_to(ROOT / "results").as_posix() for p in sorted((ROOT / "results").glob("**/study.toml"))]


#: An SVG's numbers (coordinates, sizes) and matplotlib's clip-path ids, which hash the clip path's
#: coordinates: another CPU's numpy rounds a log-axis coordinate's last digit otherwise
#: (235.129187 against 235.129188), and every id that hashes it changes with it.
SVG_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
CLIP_ID = re.compile(r"#?p[0-9a-f]{10}\b")
SVG_TOLERANCE = 1e-3  # points: 1/72,000 inch, far below a pixel and far above a last-digit difference
PNG_TOLERANCE = 2 / 255  # one anti-aliased edge pixel a level or two apart


def svg_drawing(text: str) -> tuple[list[str], np.ndarray]:
    """What an SVG draws: its text between numbers (clip-path ids blanked), and its numbers."""
    text = CLIP_ID.sub("clip", text)
    return SVG_NUMBER.split(text), np.array([float(n) for n in SVG_NUMBER.findall(text)])


def same_drawing(got: Path, want: Path) -> bool:
    """The same figure up to a last-digit difference: an SVG's structure and text equal and its numbers
    within SVG_TOLERANCE; a PNG's pixels within PNG_TOLERANCE."""
    if got.suffix == ".svg":
        (got_text, got_numbers), (want_text, want_numbers) = (svg_drawing(p.read_text()) for p in (got, want))
        return (got_text == want_text and got_numbers.shape == want_numbers.shape
                and np.allclose(got_numbers, want_numbers, rtol=0, atol=SVG_TOLERANCE))
    import matplotlib.image
    got_pixels, want_pixels = matplotlib.image.imread(got), matplotlib.image.imread(want)
    return got_pixels.shape == want_pixels.shape and np.abs(got_pixels - want_pixels).max() <= PNG_TOLERANCE


def redraw_committed(study: str, into: Path) -> Path:
    """python -m suite plot on a copy of a committed study's tables; the copy's folder."""
    committed, copy = ROOT / "results" / study, into / study
    copy.mkdir(parents=True)
    for name in ("rows.parquet", "residuals.parquet", "diagnostics.parquet", "study.toml"):
        if (committed / name).exists():  # diagnostics: only where the study asked for them
            (copy / name).write_bytes((committed / name).read_bytes())
    assert main(["plot", "--results", str(into), study]) == 0
    return copy


@pytest.mark.parametrize("study, swept", [("steps", ["T_neg"]), ("pull", ["lam"]), ("baselines", ["depth"]),
                                          ("zero_pull", ["kappa"]), ("nudging", ["random_sign", "symmetric"])])
def test_an_answer_figure_is_drawn_along_what_its_question_sweeps(study, swept):
    """The axis comes from the claims' fields that vary (a number with three values or more first,
    else one of the study's own; else the claims' fields, each value a category)."""
    directory = ROOT / "results" / "ablations" / study
    stored = RunStore(directory).study()
    runs = plots.final_outcomes(records.load_table(directory), stored.collapse_error).drop_duplicates("run_id")
    assert plots.swept_fields(runs, stored.claims) == swept
    assert (directory / "figures" / "answer.png").exists()


@pytest.mark.parametrize("study", COMMITTED)
def test_committed_figures_are_what_plot_draws_from_the_committed_tables(tmp_path, study):
    """python -m suite plot on the committed tables draws the committed figures (with the matplotlib
    that drew them: another version draws other figures), up to a last-digit difference."""
    import matplotlib
    committed = ROOT / "results" / study / "figures"
    drawn_with = matplotlib_that_drew(committed / "headline_cost.svg")
    if drawn_with != matplotlib.__version__:
        pytest.skip(f"the committed figures were drawn with matplotlib {drawn_with}, this is {matplotlib.__version__}")
    redrawn = redraw_committed(study, tmp_path) / "figures"
    assert sorted(p.name for p in redrawn.iterdir()) == sorted(p.name for p in committed.iterdir())
    different = [p.name for p in sorted(committed.iterdir()) if not same_drawing(redrawn / p.name, p)]
    assert not different, f"{study}: {different} differ from a redraw of the committed tables"


def drawn_figures(directory: Path, into: Path, monkeypatch) -> dict:
    """Every figure plots.draw_all draws for a copy of a study's tables, by name: per panel, its legend
    entries, its log axes' tick labels and its texts (read before the figure is saved and closed)."""
    finish, drawn = plots._finish, {}

    def reading(fig, caption, out, name):
        fig.canvas.draw()
        panels = []
        for ax in fig.axes:
            if not ax.get_visible():
                continue
            legend = ax.get_legend()
            ticks = {axis: [t.get_text() for t in getattr(ax, f"get_{axis}ticklabels")() if t.get_text()]
                     for axis in "xy" if getattr(ax, f"get_{axis}scale")() == "log"
                     and getattr(ax, f"get_{axis}label")()}  # an inset's unlabelled axis repeats its panel's
            panels.append({"legend": len(legend.get_texts()) if legend else 0, "log ticks": ticks,
                           "texts": [t.get_text() for t in ax.texts], "title": ax.get_title()})
        drawn[name] = panels
        return finish(fig, caption, out, name)

    monkeypatch.setattr(plots, "_finish", reading)
    copy = redraw_committed(str(directory.relative_to(ROOT / "results")), into)
    assert copy.exists()
    return drawn


@pytest.mark.parametrize("study", ["paper", "quick", "ablations/steps", "ablations/baselines"])
def test_figures_stay_legible(tmp_path, monkeypatch, study):
    """At most MAX_CURVES legend entries per panel, labelled ticks on every log axis, and the saving
    written on a headline panel is the number the cost table gives."""
    drawn = drawn_figures(ROOT / "results" / study, tmp_path, monkeypatch)
    assert {"headline_cost", "learning_curves", "train_seconds"} <= set(drawn)
    for name, panels in drawn.items():
        for panel in panels:
            assert panel["legend"] <= plots.MAX_CURVES, (name, panel["title"])
            for axis, labels in panel["log ticks"].items():
                assert len(labels) >= 2, (name, panel["title"], axis)
    rows = records.load_table(ROOT / "results" / study)
    points = costs.cost_points(rows)
    for panel in drawn["headline_cost"]:
        arrows = [t for t in panel["texts"] if "fewer" in t]
        depth = int(panel["title"].split()[0])
        here = points[points["depth"] == depth]
        match = costs.matched(here)
        if arrows and match is not None:
            found = costs.headline_saving(match, costs.largest_saving(here))
            assert arrows == [f"{costs.bracket(found)} fewer\nmultiply-adds"]
            assert costs.bracket(found) in " ".join(report.answer_lines(rows, ()))  # the sentence says it too


def test_a_figure_comparison_sees_a_real_change_and_not_a_last_digit(tmp_path):
    """The comparison above passes a last-digit change of every number (and the clip ids it moves),
    and fails when one error in the table moves by 0.1 point."""
    study = "quick"
    committed = ROOT / "results" / study / "figures" / "headline_cost.svg"
    text = committed.read_text()
    nudged = tmp_path / "nudged.svg"
    nudged.write_text(CLIP_ID.sub("p0123456789", re.sub(r"(\.\d{5})\d\b", r"\g<1>9", text)))
    assert nudged.read_text() != text and same_drawing(nudged, committed)
    rows = records.load_table(ROOT / "results" / study)
    moved = tmp_path / "moved" / study
    moved.mkdir(parents=True)
    rows.loc[rows["mode"].str.startswith("ff") & (rows["split"] == "test"), "error"] += 0.001
    records.save_table(rows, moved / "rows.parquet")
    for name in ("residuals.parquet", "study.toml"):
        (moved / name).write_bytes((ROOT / "results" / study / name).read_bytes())
    assert main(["plot", "--results", str(tmp_path / "moved"), study]) == 0
    for name in ("headline_cost.svg", "headline_cost.png"):
        assert not same_drawing(moved / "figures" / name, ROOT / "results" / study / "figures" / name), name


def test_a_table_read_while_a_sweep_replaces_it_is_one_version(tmp_path):
    """A reader (suite table, a resuming sweep) sees the old table or the new one, never parts of
    both, while a writer keeps replacing it."""
    path, stop = tmp_path / "summary.parquet", threading.Event()

    def version(i):
        return pd.DataFrame({"version": [i] * (1 + i % 50), "text": ["x" * (i % 7)] * (1 + i % 50)})

    def keep_replacing():
        i = 0
        while not stop.is_set():
            records.save_table(version(i), path)
            i += 1

    records.save_table(version(0), path)
    writer = threading.Thread(target=keep_replacing)
    writer.start()
    try:
        deadline, reads = time.monotonic() + 1, 0
        while time.monotonic() < deadline:
            table = records.load_table(tmp_path, "summary")
            pd.testing.assert_frame_equal(table, version(int(table["version"].iloc[0])))
            reads += 1
    finally:
        stop.set()
        writer.join()
    assert reads > 20


def test_written_files_get_the_permissions_of_any_new_file(tmp_path):
    """Results are written through a temporary file, which mkstemp makes private (0600)."""
    table = tmp_path / "t.parquet"
    records.save_table(pd.DataFrame({"a": [1]}), table)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(table.stat().st_mode) == 0o666 & ~mask


def test_the_suite_imports_in_one_direction():
    """No module of suite/ imports, at any depth, one that imports it back (the house's flow)."""
    import ast
    modules = {p.stem: p for p in (ROOT / "suite").glob("*.py")}
    imports = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        imports[name] = found & set(modules)

    def reach(name, seen):
        for other in imports[name] - seen:
            seen.add(other)
            reach(other, seen)
        return seen
    assert [name for name in modules if name in reach(name, set())] == []
