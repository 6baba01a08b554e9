"""python -m suite status: what made each stored study, and what today's code would reuse. Reads only."""
import hashlib
import os
import shutil
import stat
from pathlib import Path

import pandas as pd
import pytest

from suite import identity, provenance, records, report, study
from suite.cli import main
from suite.run import config_columns
from suite.store import RunStore
from suite.sweep import run_configs
from test_sweeps import ONE_RUN, TINY, sweep_here

HEAD = provenance.git("rev-parse", "HEAD")
in_git = pytest.mark.skipif(not HEAD, reason="needs this repository's git history")


def store(results: Path, text: str, commit: str = "0" * 40, dirty=lambda run: None, folder: str = "") -> Path:
    """A study stored as a sweep stores it, without training: rows of epochs 0-2 per run (its
    configuration and provenance; dirty(run): the first epoch made in an edited tree, or None), each
    run's file, study.toml."""
    chosen = study.from_text(text, "test")
    directory = results / folder / chosen.name
    tables = []
    for i, cfg in run_configs(chosen).items():
        rows = pd.DataFrame([{"run_id": i, **config_columns(cfg), "epoch": epoch, "split": "test", "mode": "ff",
                              "error": 0.1, "status": "ok", "note": "", "code_fingerprint": identity.run_fingerprint(cfg),
                              "git_commit": commit, "git_dirty": dirty(cfg) is not None and epoch >= dirty(cfg)}
                             for epoch in (0, 1, 2)])
        RunStore(directory).save_run(i, rows, pd.DataFrame(), pd.DataFrame())
        tables.append(rows)
    records.save_table(pd.concat(tables, ignore_index=True), directory / "rows.parquet")
    records.save_text(text, directory / "study.toml")
    return directory


def status(capsys, *args) -> str:
    assert main(["status", *args]) == 0
    return capsys.readouterr().out


def test_a_swept_study_is_reused_whole_and_its_runs_counted(tmp_path, capsys):
    sweep_here(ONE_RUN.replace("seed = [0]", "seed = [0, 1]"), tmp_path)
    out = status(capsys, "--results", str(tmp_path), "tiny")
    assert f"{tmp_path / 'tiny'}: 2 stored runs" in out
    today = identity.code_fingerprint("bp", "numpy")
    assert f"code fingerprints: {today} (2 runs); today's code: {today} (bp numpy)" in " ".join(out.split())
    assert out.rstrip().endswith("today's code would reuse 2 of 2 runs, recompute 0")


def test_runs_of_other_code_and_new_runs_are_recomputed(tmp_path, capsys):
    directory = store(tmp_path, TINY)
    first = sorted(directory.glob("runs/*.rows.parquet"))[0]
    first.rename(first.with_name(first.name.rsplit("-", 1)[0] + "-0123456789.rows.parquet"))
    (directory / "study.toml").write_text(TINY.replace("seed = [0, 1, 2]", "seed = [0, 1, 2, 3]"))
    out = status(capsys, "--results", str(tmp_path))
    assert "to recompute: 1 stored by other numeric code; 3 with no stored run under today's configuration key" in out
    assert out.rstrip().endswith("today's code would reuse 8 of 12 runs, recompute 4")


def test_runs_from_an_edited_tree_are_named_with_the_epochs_it_made(tmp_path, capsys):
    # seed 1 resumed in an edited tree for epoch 2, seed 2 for epochs 1 and 2 (each run has epochs 0-2)
    store(tmp_path, TINY, dirty=lambda run: {1: 2, 2: 1}.get(run.seed))
    out = " ".join(status(capsys, "--results", str(tmp_path)).split())  # unwrapped
    assert "0000000 clean tree (9 runs, 18 rows), 0000000 edited tree (6 runs, 9 rows)" in out
    assert "(counted in each: 6 runs resumed in another tree)" in out
    assert ("from an edited tree (git_dirty: uncommitted changes outside results/): 6 runs: EP seed 1 (rows of "
            "epoch 2); IEP seed 1 (rows of epoch 2); BP seed 1 (rows of epoch 2); EP seed 2 (rows of epochs 1, 2); "
            "IEP seed 2 (rows of epochs 1, 2); BP seed 2 (rows of epochs 1, 2)") in out


def test_runs_made_wholly_in_an_edited_tree_are_named_by_variant(tmp_path, capsys):
    store(tmp_path, TINY, dirty=lambda run: 0 if run.algorithm == "ep" or run.seed == 2 else None)
    out = " ".join(status(capsys, "--results", str(tmp_path)).split())
    assert "5 runs: EP seeds 0-2; IEP seed 2; BP seed 2" in out and "rows of" not in out


def test_a_clean_study_names_no_run(tmp_path, capsys):
    store(tmp_path, TINY)
    assert "from an edited tree (git_dirty): no run" in status(capsys, "--results", str(tmp_path))


@in_git
def test_runs_the_committed_study_file_does_not_hold_came_from_an_edit(tmp_path, capsys):
    committed = provenance.git("show", f"{HEAD}:suite/presets/smoke.toml")
    runs = len(study.from_text(committed, "smoke").runs)
    store(tmp_path / "as_committed", committed, HEAD)
    out = status(capsys, "--results", str(tmp_path / "as_committed"))
    assert f"study file at {HEAD[:7]}: suite/presets/smoke.toml, as committed" in out
    edited = committed + '\n[[runs]]\nalgorithm = "bp"\nsizes = [64, 7, 10]\nlrs = [0.1, 0.1]\nseed = 7\n'
    store(tmp_path / "edited", edited, HEAD)
    out = " ".join(status(capsys, "--results", str(tmp_path / "edited")).split())
    assert (f"study file at {HEAD[:7]}: suite/presets/smoke.toml, edited ({tmp_path / 'edited' / 'smoke'}/study.toml "
            f"differs from it); 1 run of the {runs + 1} made there is not in the committed file: BP 64-7-10 seed 7 ") \
        in out


@in_git
def test_a_study_run_at_a_scale_is_found_as_its_committed_file(tmp_path, capsys):
    committed = provenance.git("show", f"{HEAD}:ablations/zero_pull.toml")
    directory = store(tmp_path, study.with_scale(committed, "full"), HEAD, folder="ablations")
    assert directory.name == "zero_pull.full"
    out = " ".join(status(capsys, "--results", str(tmp_path / "ablations")).split())
    assert f"study file at {HEAD[:7]}: ablations/zero_pull.toml, as committed" in out


@in_git
def test_a_study_file_that_cannot_be_found_is_unknown(tmp_path, capsys):
    store(tmp_path, TINY, "f" * 40)
    store(tmp_path, TINY.replace('name = "tiny"', 'name = "no_such_study"'), HEAD, folder="ablations")
    out = status(capsys, "--results", str(tmp_path))
    assert "study file at fffffff: unknown (the commit is not in this repository)" in out
    assert (f"study file at {HEAD[:7]}: unknown (neither ablations/no_such_study.toml nor "
            "suite/presets/no_such_study.toml at that commit)") in " ".join(out.split())


def test_every_stored_study_gets_a_block_ablations_included(tmp_path, capsys):
    store(tmp_path, TINY)
    store(tmp_path, TINY.replace('name = "tiny"', 'name = "other"'), folder="ablations")
    blocks = status(capsys, "--results", str(tmp_path)).strip().split("\n\n")
    assert [b.splitlines()[0].split(":")[0] for b in blocks] == [str(tmp_path / "ablations" / "other"),
                                                                 str(tmp_path / "tiny")]
    assert all(b.splitlines()[-1].startswith("  today's code would reuse 9 of 9 runs") for b in blocks)


def snapshot(root: Path) -> dict:
    return {p: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in root.rglob("*")
            if p.is_file()} | {p: "folder" for p in root.rglob("*") if p.is_dir()}


def test_status_reads_only_even_a_read_only_copy(tmp_path, capsys, monkeypatch):
    sweep_here(ONE_RUN, tmp_path / "swept")
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "swept", copy)
    before = snapshot(copy)
    folders = [copy, *(p for p in copy.rglob("*") if p.is_dir())]

    def forbidden(*args, **kwargs):
        raise AssertionError("status must not write")
    for module in (records, report):  # every table, summary and figure goes through these
        monkeypatch.setattr(module, "atomic_write", forbidden)
    monkeypatch.setattr(Path, "write_text", forbidden)
    for path in folders:  # read-only (root ignores it: the write guards above and the snapshot still hold)
        path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert "today's code would reuse 1 of 1 run, recompute 0" in status(capsys, "--results", str(copy))
    finally:
        for path in folders:
            path.chmod(stat.S_IRWXU)
    assert snapshot(copy) == before


@pytest.mark.parametrize("args, message", [
    (["no_such_study"], "no stored results in {results}/no_such_study: run a study first"),
    (["--results", "{results}/tiny/study.toml"], "--results {results}/tiny/study.toml: not a folder"),
    (["--results", "{results}/nowhere"], "--results {results}/nowhere: not a folder"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, args, message):
    store(tmp_path, TINY)
    before = snapshot(tmp_path)
    arguments = [a.format(results=tmp_path) for a in args]
    assert main(["status", *(["--results", str(tmp_path)] if "--results" not in args else []), *arguments]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: {message.format(results=tmp_path)}") and captured.err.count("\n") == 1
    assert not captured.out
    assert snapshot(tmp_path) == before


def test_runs_of_code_recorded_as_the_same_bits_are_today_s(tmp_path, capsys, monkeypatch):
    """A stored run of an older fingerprint counts as today's where results/equivalent_code.toml says
    that code computes the same bits for its algorithm and backend, and only there."""
    directory = store(tmp_path, TINY)
    for path in directory.glob("runs/*.rows.parquet"):
        path.rename(path.with_name(path.name.rsplit("-", 1)[0] + "-0123456789.rows.parquet"))
    record = tmp_path / "equivalent_code.toml"
    monkeypatch.setattr(identity, "EQUIVALENT_CODE", record)
    pairs = {f"{a} numpy": identity.code_fingerprint(a, "numpy") for a in ("ep", "iep")}  # not bp
    record.write_text('[[equivalent]]\nold = "0123456789"\nnew = {' +
                      ", ".join(f'"{k}" = "{v}"' for k, v in pairs.items()) + "}\n")
    out = " ".join(status(capsys, "--results", str(tmp_path)).split())
    assert "0123456789 recorded as the same bits for ep numpy, iep numpy" in out
    assert out.endswith("today's code would reuse 6 of 9 runs, recompute 3")
    record.write_text('[[equivalent]]\nold = "0123456789"\nnew = {"ep numpy" = "not today\'s"}\n')
    assert " ".join(status(capsys, "--results", str(tmp_path)).split()).endswith("reuse 0 of 9 runs, recompute 9")
    record.write_text("[[equivalent]]\nold = 5\n")
    assert main(["status", "--results", str(tmp_path)]) == 2
    assert "equivalent[0] needs old" in capsys.readouterr().err
