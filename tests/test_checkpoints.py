"""Checkpoints are data: nothing in one can run code, and a bad one costs its run a fresh start, no more."""
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from suite import checkpoints, cli, records
from suite.run import EvaluationPlan, train_and_evaluate
from test_resume import same_rows, saved_epoch, tiny
from test_sweeps import comparable

PLAN = EvaluationPlan(ladder=(1,), residual_steps=2)
NAME = "training-x-y" + checkpoints.SUFFIX


class Payload:
    """Unpickling it touches `marker`: what a hostile checkpoint would do with os.system."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def run_with(checkpoint: Path, epochs: int = 2):
    messages = []
    result = train_and_evaluate(tiny(epochs=epochs), plan=PLAN, checkpoint=checkpoint,
                                report=lambda e, m, resumed=False: messages.append(m))
    return result, [m for m in messages if m]


@pytest.fixture(scope="module")
def fresh():
    return train_and_evaluate(tiny(epochs=2), plan=PLAN)


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> bytes:
    """The bytes of a real checkpoint after epoch 1 of the same training."""
    path = tmp_path_factory.mktemp("valid") / NAME
    train_and_evaluate(tiny(epochs=1), plan=PLAN, checkpoint=path)
    return path.read_bytes()


def pickled_object_array(marker: Path) -> bytes:
    """A .npz whose entries are object arrays: NumPy stores them as pickles."""
    path = marker.with_name("hostile.npz")
    np.savez(path, meta=np.array([Payload(marker)], dtype=object), leaf0=np.array([Payload(marker)], dtype=object))
    return path.read_bytes()


def with_meta(valid: bytes, tmp_path: Path, **changes) -> bytes:
    """The valid checkpoint with fields of its JSON replaced."""
    source = tmp_path / "source.npz"
    source.write_bytes(valid)
    with np.load(source, allow_pickle=False) as npz:
        entries = {k: npz[k] for k in npz.files}
    meta = {**json.loads(str(entries.pop("meta")[()])), **changes}
    target = tmp_path / "changed.npz"
    np.savez(target, **entries, meta=np.array(json.dumps(meta)))
    return target.read_bytes()


BAD = {
    "an old pickle that runs code": lambda valid, tmp: pickle.dumps({"epoch": 1, "x": Payload(tmp / "ran")}),
    "an npz of pickled object arrays": lambda valid, tmp: pickled_object_array(tmp / "ran"),
    "empty": lambda valid, tmp: b"",
    "truncated": lambda valid, tmp: valid[:len(valid) // 2],
    "random bytes": lambda valid, tmp: np.random.default_rng(0).bytes(4096),
    "another format": lambda valid, tmp: with_meta(valid, tmp, format=99),
    "another training's": lambda valid, tmp: with_meta(valid, tmp, training="training-other-run"),
    "arrays of another net": lambda valid, tmp: with_meta(valid, tmp, leaves=2),
    "a malformed generator state": lambda valid, tmp: with_meta(valid, tmp, order_rng={"bit_generator": "PCG64"}),
    "rows that are not rows": lambda valid, tmp: with_meta(valid, tmp, rows="x"),
    "a folder": lambda valid, tmp: None,
}


def put(path: Path, content: bytes | None) -> None:
    """A file of content where a run's file goes; a folder there when content is None."""
    if content is None:
        path.mkdir()
        (path / "inside").write_text("x")
    else:
        path.write_bytes(content)


@pytest.mark.parametrize("case", BAD)
def test_a_bad_checkpoint_is_set_aside_and_its_run_starts_over(tmp_path, fresh, valid, case):
    checkpoint = tmp_path / NAME
    put(checkpoint, BAD[case](valid, tmp_path))
    result, messages = run_with(checkpoint)
    assert not (tmp_path / "ran").exists(), "reading the checkpoint ran its code"
    set_aside = [m for m in messages if m.startswith("set aside")]
    assert set_aside == [f"set aside {NAME} as {NAME}.bad-1: " + set_aside[0].split(": ", 1)[1]]
    assert set_aside[0].endswith("the run starts over") and "\n" not in set_aside[0]
    assert not any(m.startswith("resumed") for m in messages)
    assert (tmp_path / f"{NAME}.bad-1").exists()  # kept for a look, not deleted
    same_rows(result.rows, fresh.rows)
    assert saved_epoch(checkpoint) == 2  # the run's own, written afresh


def test_a_valid_checkpoint_resumes_and_a_second_bad_one_takes_the_next_free_name(tmp_path, fresh, valid):
    checkpoint = tmp_path / NAME
    (tmp_path / f"{NAME}.bad-1").write_bytes(b"an earlier one")
    checkpoint.write_bytes(b"junk")
    run_with(checkpoint)
    assert (tmp_path / f"{NAME}.bad-1").read_bytes() == b"an earlier one"
    assert (tmp_path / f"{NAME}.bad-2").read_bytes() == b"junk"
    checkpoint.write_bytes(valid)
    result, messages = run_with(checkpoint)
    assert f"resumed after epoch 1 from {NAME}" in messages
    same_rows(result.rows, fresh.rows)


def test_a_checkpoint_holds_only_arrays_and_json(tmp_path, valid):
    path = tmp_path / NAME
    path.write_bytes(valid)
    with np.load(path, allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)
        meta = json.loads(str(npz["meta"][()]))
    assert meta["format"] == checkpoints.FORMAT and meta["training"] == "training-x-y" and meta["epoch"] == 1
    assert meta["order_rng"]["bit_generator"] == "PCG64"


TWO_RUNS = """name = "two"
[base]
dataset = "synthetic"
backend = "numpy"
sizes = [64, 16, 10]
train_size = 400
epochs = 1
[[runs]]
algorithm = "iep"
lam = 1.0
seed = [0, 1]
"""


def stored_run_bytes(runs: Path, first: Path, case: str) -> bytes:
    """A bad stand-in for the first run's rows file."""
    other = next(p for p in sorted(runs.glob("*.rows.parquet")) if p != first)
    return {"empty": b"", "truncated": first.read_bytes()[:200], "random bytes": np.random.default_rng(1).bytes(999),
            "another run's": other.read_bytes(), "a folder": None,
            "another schema": pd.read_parquet(first).drop(columns=["error", "isa"]).to_parquet()}[case]


@pytest.mark.parametrize("case", ["empty", "truncated", "random bytes", "another run's", "another schema", "a folder"])
def test_a_bad_stored_run_is_set_aside_and_only_that_run_runs_again(tmp_path, capsys, case):
    study = tmp_path / "two.toml"
    study.write_text(TWO_RUNS)
    args = ["run", "--study", str(study), "--results", str(tmp_path / "r"), "--no-plots", "--threads", "1"]
    assert cli.main(args) == 0
    runs = tmp_path / "r" / "two" / "runs"
    before = records.load_table(tmp_path / "r" / "two")
    first = sorted(runs.glob("*.rows.parquet"))[0]
    content = stored_run_bytes(runs, first, case)
    first.unlink()
    put(first, content)
    capsys.readouterr()
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if line.startswith("set aside")]
    assert line.startswith(f"set aside {first.name}: ") and f"renamed to {first.name}.bad-1, with the rest" in line
    assert line.endswith("that run runs again")
    assert "1 of 2 runs already finished" in out and "1 run to go" in out
    assert (runs / f"{first.name}.bad-1").exists()
    pd.testing.assert_frame_equal(comparable(records.load_table(tmp_path / "r" / "two")), comparable(before))


def test_a_corrupt_study_table_is_one_line_for_table_plot_and_status_and_a_sweep_rebuilds_it(tmp_path, capsys):
    study = tmp_path / "two.toml"
    study.write_text(TWO_RUNS)
    args = ["run", "--study", str(study), "--results", str(tmp_path / "r"), "--no-plots", "--threads", "1"]
    assert cli.main(args) == 0
    table = tmp_path / "r" / "two" / "rows.parquet"
    before = records.load_table(table.parent)
    table.write_bytes(b"garbage")
    capsys.readouterr()
    for command in ("table", "plot", "status"):
        assert cli.main([command, "--results", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {table}: not a readable parquet table") and err.count("\n") == 1, err
        assert "running its study again rebuilds it from runs/" in err
    assert cli.main(args) == 0
    pd.testing.assert_frame_equal(records.load_table(table.parent), before)
