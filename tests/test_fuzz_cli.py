"""Fuzz: the whole command line (run, train, table, plot, status) over study files, options, and
damaged files in a results folder and a data folder. Every outcome is success, or exit 2 with one
line (exit 1 with one line for a `train` run that diverged); never a traceback; and no finished run
is ever lost: a run's stored rows stay unless they were damaged (then they are set aside).

Runs execute in this process (the executor's task loop without its worker pool, which
test_sweeps.py tests), so hundreds of cases fit in a minute. EP_SUITE_FUZZ_EXAMPLES sets how many
(default 60, fixed cases: derandomized, so CI sees the same ones); EP_SUITE_FUZZ_RANDOM=1 draws new
ones each time.
"""
import copy
import json
import math
import os
import pickle
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from suite import cli, data, executors, study

EXAMPLES = int(os.environ.get("EP_SUITE_FUZZ_EXAMPLES", "60"))
RANDOM = os.environ.get("EP_SUITE_FUZZ_RANDOM") == "1"

STUDY = {"name": "fz", "ladder": [1, 2], "residual_steps": 2,
         "base": {"dataset": "synthetic", "backend": "numpy", "sizes": [64, 8, 10], "train_size": 200,
                  "epochs": 1, "eval_size": 100},
         "runs": [{"algorithm": ["ep", "iep", "bp"], "lam": [0.0, 1.0, 0.0], "zip": [["algorithm", "lam"]],
                   "T_neg": 4}]}


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml(document: dict) -> str:
    return "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in document.items())


class InProcess(executors.LocalExecutor):
    """The local executor's tasks, run one after the other in this process."""

    def map(self, tasks, on_progress=executors.ignore_progress, notify=executors.ignore_note):
        for index, task in enumerate(tasks):
            yield executors.execute(index, *task, self.threads)


NAMES = ["ep", "iep", "bp", "bptt", "numpy", "torch", "synthetic", "mnist", "fashion-mnist", "relax@2", "ff",
         "zeros", "persistent", "float64", "gpu", "test", "global"]
small = st.one_of(st.booleans(), st.integers(-2, 3), st.sampled_from([0.0, 0.5, 1e300, -1.0, math.inf, math.nan]),
                  st.text(max_size=4), st.sampled_from(NAMES))
values = small | st.lists(small, max_size=3)


@st.composite
def study_files(draw) -> bytes:
    """The fuzz study, unchanged or with one or two values replaced, or bytes that are no study."""
    kind = draw(st.sampled_from(["valid", "changed", "changed", "changed", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    document = copy.deepcopy(STUDY)
    for _ in range(draw(st.integers(1, 2)) if kind == "changed" else 0):
        where = draw(st.sampled_from(["top", "base", "runs"]))
        target = document if where == "top" else document["base"] if where == "base" else document["runs"][0]
        keys = (sorted(study.STUDY_KEYS - {"name", "base", "runs"}) if where == "top"
                else sorted(study.RUN_FIELDS) + ["zip", "bogus"])
        target[draw(st.sampled_from(keys))] = draw(values)
    return toml(document).encode()


numbers = st.sampled_from(["0", "1", "2", "-1", "abc", "1.5", "10000000000000"])
floats = st.sampled_from(["0.1", "0", "-1", "inf", "nan", "1e300", "x"])
run_options = st.lists(st.one_of(
    st.just(["--force"]), st.just(["--dry-run"]), st.just(["--no-plots"]), st.just(["--no-plots"]),
    st.just(["--workers", "1"]), st.just(["--workers", "2"]),
    st.tuples(st.just("--workers"), numbers).map(list), st.tuples(st.just("--threads"), numbers).map(list),
    st.tuples(st.just("--executor"), st.sampled_from(["local", "dask", "slurm"])).map(list),
    st.just(["--scheduler", "tcp://127.0.0.1:1"]), st.just(["--bogus"])), max_size=2)
train_options = st.lists(st.one_of(
    st.tuples(st.just("--dataset"), st.sampled_from(["synthetic", "mnist", "fashion-mnist", "cifar"])).map(list),
    st.tuples(st.just("--data-dir"), st.sampled_from(["{data}", "{tmp}/nowhere", "{tmp}/file"])).map(list),
    st.tuples(st.just("--sizes"), st.lists(st.sampled_from(["0", "1", "8", "10", "64", "x", "10000000000000"]),
                                           min_size=0, max_size=4)).map(lambda t: [t[0], *t[1]]),
    st.tuples(st.sampled_from(["--epochs", "--train-size", "--T-neg", "--batch-size", "--seed"]), numbers).map(list),
    st.tuples(st.sampled_from(["--eps", "--beta", "--lam", "--kappa"]), floats).map(list),
    st.tuples(st.just("--lrs"), st.lists(floats, max_size=3)).map(lambda t: [t[0], *t[1]]),
    st.tuples(st.sampled_from(["--algorithm", "--backend", "--init", "--device", "--dtype"]),
              st.sampled_from(NAMES)).map(list)), max_size=4)


def damage(path: Path, how: str, blob: bytes) -> None:
    """Damage one file of a results or data folder."""
    if how == "delete":
        path.unlink()
    elif how == "truncate":
        path.write_bytes(path.read_bytes()[:len(blob)])
    elif how == "pickle":
        path.write_bytes(pickle.dumps({"epoch": 1, "rows": []}))
    else:  # replace with other bytes (empty included)
        path.write_bytes(blob)


damages = st.lists(st.tuples(st.integers(0, 1000), st.sampled_from(["delete", "truncate", "pickle", "replace"]),
                             st.binary(max_size=64)), max_size=2)


@st.composite
def commands(draw):
    command = draw(st.sampled_from(["run", "run", "run", "train", "train", "table", "plot", "status"]))
    results = draw(st.sampled_from(["{results}"] * 4 + ["{tmp}/new", "{tmp}/file", "/proc/no/such"]))
    if command == "run":
        source = draw(st.sampled_from([["--study", "{study}"]] * 5 + [["--study", "{tmp}"], ["--study", "{tmp}/x.toml"],
                                       ["--preset", "smoke", "--dry-run"], ["--preset", "bogus"]]))
        return ["run", *source, "--results", results, "--threads", "1", *sum(draw(run_options), [])]
    if command == "train":
        return ["train", "--dataset", "synthetic", "--sizes", "64", "8", "10", "--train-size", "200",
                "--eval-size", "100", *sum(draw(train_options), [])]
    names = draw(st.sampled_from([[], ["fz"], ["nope"]]))
    return [command, "--results", results, *names]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A results folder holding the fuzz study, finished (runs, checkpoints, tables, figures), and a
    folder of IDX files."""
    root = tmp_path_factory.mktemp("stored")
    (root / "fz.toml").write_text(toml(STUDY))
    mp = pytest.MonkeyPatch()
    mp.setattr(executors, "LocalExecutor", InProcess)
    try:
        assert cli.main(["run", "--study", str(root / "fz.toml"), "--results", str(root / "results")]) == 0
    finally:
        mp.undo()
    idx = root / "idx"
    idx.mkdir()
    for array, name in zip(data.synthetic_raw(n_features=784), data.IDX_FILES):
        (idx / f"{name}.gz").write_bytes(__import__("gzip").compress(data.idx_bytes(array)))
    return root


def finished_runs(results: Path) -> set[str]:
    return {p.name for p in results.glob("fz/runs/*.rows.parquet")}


@settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(argv=commands(), study_file=study_files(), results_damage=damages, data_damage=damages)
def test_every_command_line_succeeds_or_says_why_in_one_line(stored, capsys, monkeypatch, argv, study_file,
                                                             results_damage, data_damage):
    monkeypatch.setattr(executors, "LocalExecutor", InProcess)
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        shutil.copytree(stored / "results", tmp / "results")
        shutil.copytree(stored / "idx", tmp / "idx")
        (tmp / "fz.toml").write_bytes(study_file)
        (tmp / "file").write_text("x")
        stored_files = sorted(p for p in (tmp / "results").rglob("*") if p.is_file())
        damaged = set()
        for index, how, blob in results_damage:
            path = stored_files[index % len(stored_files)]
            if path.exists():
                damage(path, how, blob)
                damaged.add(path.name)
        idx_files = sorted((tmp / "idx").iterdir())
        for index, how, blob in data_damage:
            path = idx_files[index % len(idx_files)]
            if path.exists():
                damage(path, how, blob)
        kept = finished_runs(tmp / "results") - damaged
        line = [a.format(results=tmp / "results", tmp=tmp, study=tmp / "fz.toml", data=tmp / "idx") for a in argv]
        capsys.readouterr()
        try:
            code = cli.main(line)
        except SystemExit as exit_:  # argparse
            code = exit_.code
        err = capsys.readouterr().err
        event(f"{line[0]} exit {code}" + (f": {err.replace(str(tmp), '')[7:40]}" if code else ""))
        assert "Traceback" not in err, (line, err)
        if code == 1:
            assert line[0] == "train" and err.startswith("error: the run ") and err.count("\n") == 1, (line, err)
        elif code != 0:
            assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, (line, err)
        assert kept <= finished_runs(tmp / "results"), (line, "a finished run was lost")
        assert not list((tmp / "results").rglob(".*.tmp")), line
