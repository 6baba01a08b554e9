"""Runs that resume mid-way from their checkpoint, and runs stopped early as collapsed."""
import json
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest

import backends
import suite.run
from suite import records
from suite.config import RunConfig
from suite.run import EvaluationPlan, train_and_evaluate
from test_sweeps import ROOT, comparable, run_sweep, sweep_command, write_study

PLAN = EvaluationPlan(ladder=(1, 4), residual_steps=4, diagnostics=True)


class Killed(Exception):
    """Stands for the process being killed: the run stops wherever it was."""


def tiny(backend="numpy", **fields) -> RunConfig:
    return RunConfig(**{"algorithm": "iep", "lam": 1.0, "backend": backend, "dataset": "synthetic",
                        "sizes": (64, 16, 10), "lrs": (0.1, 0.05), "train_size": 400, "epochs": 3, "T_neg": 8,
                        **fields})


def kill_in_epoch(epoch: int):
    """A progress report that kills the run when it reports from inside `epoch`."""
    def report(epochs_done, message, resumed=False):
        if not message and epoch - 1 < epochs_done:
            raise Killed
    return report


def saved_epoch(path) -> int:
    with np.load(path, allow_pickle=False) as npz:
        return json.loads(str(npz["meta"][()]))["epoch"]


def same_rows(a, b) -> None:
    pd.testing.assert_frame_equal(comparable(pd.DataFrame(a)), comparable(pd.DataFrame(b)))


def installed(name):
    try:
        backends.get(name)
    except backends.BackendUnavailable:
        return pytest.param(name, marks=pytest.mark.skip(reason=f"{name} is not installed"))
    return name


@pytest.mark.parametrize("backend", [installed(name) for name in ("numpy", "torch", "jax")])
@pytest.mark.parametrize("fields", [{}, {"algorithm": "ep", "lam": 0.0, "init": "persistent"}],
                         ids=["iep", "ep-persistent"])
def test_a_run_killed_in_its_second_epoch_resumes_to_the_uninterrupted_rows(tmp_path, monkeypatch, backend, fields):
    monkeypatch.setattr(suite.run, "REPORT_SECONDS", 0.0)  # report after every chunk: the kill lands mid-epoch
    cfg, checkpoint = tiny(backend, **fields), tmp_path / "run.checkpoint.npz"
    with pytest.raises(Killed):
        train_and_evaluate(cfg, plan=PLAN, checkpoint=checkpoint, report=kill_in_epoch(2))
    assert saved_epoch(checkpoint) == 1
    messages = []
    resumed = train_and_evaluate(cfg, plan=PLAN, checkpoint=checkpoint, report=lambda e, m, resumed=False: messages.append(m))
    assert "resumed after epoch 1 from run.checkpoint.npz" in messages
    assert [m for m in messages if m.startswith("epoch ")][0].startswith("epoch 2/3")  # epoch 1 not trained again
    uninterrupted = train_and_evaluate(cfg, plan=PLAN)
    same_rows(resumed.rows, uninterrupted.rows)
    same_rows(resumed.residuals, uninterrupted.residuals)
    same_rows(resumed.diagnostics, uninterrupted.diagnostics)
    assert {d["epoch"] for d in resumed.diagnostics} == {0, 1, 2, 3}


def test_a_longer_run_of_the_same_training_starts_where_the_shorter_one_ended(tmp_path):
    checkpoint = tmp_path / "run.checkpoint.npz"
    train_and_evaluate(tiny(epochs=2), plan=PLAN, checkpoint=checkpoint)
    messages = []
    longer = train_and_evaluate(tiny(epochs=3), plan=PLAN, checkpoint=checkpoint,
                                report=lambda e, m, resumed=False: messages.append(m))
    assert "resumed after epoch 2 from run.checkpoint.npz" in messages
    same_rows(longer.rows, train_and_evaluate(tiny(epochs=3), plan=PLAN).rows)


def test_a_checkpoint_further_along_is_neither_used_nor_replaced(tmp_path):
    checkpoint = tmp_path / "run.checkpoint.npz"
    train_and_evaluate(tiny(epochs=3), plan=PLAN, checkpoint=checkpoint)
    shorter = train_and_evaluate(tiny(epochs=2), plan=PLAN, checkpoint=checkpoint)
    same_rows(shorter.rows, train_and_evaluate(tiny(epochs=2), plan=PLAN).rows)
    assert saved_epoch(checkpoint) == 3


LONG = """name = "long"
residual_steps = 4
[base]
dataset = "synthetic"
backend = "numpy"
sizes = [64, 16, 10]
epochs = 12
[[runs]]
algorithm = "iep"
lam = 1.0
"""


def test_kill_9_a_sweep_mid_run_and_the_rerun_resumes_it(tmp_path):
    study, results = write_study(tmp_path, LONG), tmp_path / "results"
    sweep = subprocess.Popen(sweep_command(study, results), cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(results.glob("long/runs/*.checkpoint.npz")) and time.monotonic() < deadline:
        time.sleep(0.002)
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    [checkpoint] = results.glob("long/runs/*.checkpoint.npz")
    killed_after = saved_epoch(checkpoint)
    assert killed_after < 12 and not list(results.glob("long/runs/*.rows.parquet")), "nothing was interrupted"
    done = run_sweep(study, results)
    assert done.returncode == 0, done.stderr
    assert f"resumed after epoch {killed_after}" in done.stdout
    uninterrupted = run_sweep(study, tmp_path / "uninterrupted")
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    pd.testing.assert_frame_equal(comparable(records.load_table(results / "long")),
                                  comparable(records.load_table(tmp_path / "uninterrupted" / "long")))


COLLAPSING = """name = "tiny"
abort_if_error_above = 0.5
abort_after_epoch = 2
ladder = [1, 4]
[base]
dataset = "synthetic"
backend = "numpy"
sizes = [64, 16, 10]
train_size = 400
epochs = 4
algorithm = "ep"
[[runs]]
lrs = [[0.5, 0.25], [1e-6, 1e-6]]
seed = [0, 1]
"""


def test_a_run_still_at_chance_is_stopped_as_collapsed_and_counted_as_a_seed(tmp_path, capsys):
    from suite.cli import main
    study, results = write_study(tmp_path, COLLAPSING), tmp_path / "results"
    assert main(["run", "--study", str(study), "--results", str(results), "--threads", "1"]) == 0
    rows = records.load_table(results / "tiny")
    stuck, learning = rows[rows["lrs"] == "1e-06 1e-06"], rows[rows["lrs"] == "0.5 0.25"]
    assert set(stuck["status"]) == {"collapsed"} and set(learning["status"]) == {"ok"}
    stops = stuck[stuck["split"] == ""]
    assert list(stops["epoch"]) == [2, 2] and stops["note"].str.contains("above 0.5 after epoch 2").all()
    assert sorted(stuck["epoch"].unique()) == [0, 1, 2]  # what it measured, up to where it stopped
    assert learning["epoch"].max() == 4
    summary = pd.read_csv(results / "tiny" / "summary.csv")
    stuck_line = summary[summary["variant"].str.contains("1e-06")]
    assert stuck_line[["seeds", "trained"]].values.tolist() == [[2, 0]]
    assert (stuck_line["median %"] >= 50).all()
    assert summary[summary["variant"].str.contains("0.25")]["trained"].tolist() == [2]
    assert "collapsed" in (results / "tiny" / "summary.md").read_text()
    assert "collapsed: training error" in capsys.readouterr().out
    assert (results / "tiny" / "figures" / "headline_cost.png").exists()
