"""Bad input and a bad environment get one line naming the option, exit 2, and nothing written."""
import errno
import os
import shutil
from pathlib import Path

import pytest

from suite import cli, plots, records, report


def files_under(root: Path) -> set:
    return {p.relative_to(root) for p in root.rglob("*")}


@pytest.fixture
def scratch(tmp_path):
    """A folder holding a file, a subfolder, a non-UTF-8 study file and a results folder whose
    'smoke' entry is a file."""
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder").mkdir()
    (tmp_path / "latin1.toml").write_bytes("name = 'caf\xe9'".encode("latin-1"))
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "smoke").write_text("x")
    return tmp_path


@pytest.mark.parametrize("argv, message", [
    (["--study", "{tmp}/folder"], "error: --study {tmp}/folder: cannot be read (Is a directory)"),
    (["--study", "{tmp}/latin1.toml"], "error: --study {tmp}/latin1.toml: not UTF-8 text (byte 11)"),
    (["--study", "{tmp}/none.toml"], "error: --study {tmp}/none.toml: no such study file"),
    (["--preset", "smoke", "--results", "{tmp}/file"],
     "error: --results: cannot write the study's folder {tmp}/file/smoke (Not a directory)"),
    (["--preset", "smoke", "--results", "{tmp}/results"],
     "error: --results: cannot write the study's folder {tmp}/results/smoke (File exists)"),
    (["--preset", "smoke", "--results", "/proc/no-such/results"],
     "error: --results: cannot write the study's folder /proc/no-such/results/smoke (No such file or directory)"),
])
def test_a_bad_study_or_results_folder_is_one_line(scratch, capsys, argv, message):
    before = files_under(scratch)
    assert cli.main(["run", *[a.format(tmp=scratch) for a in argv]]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message.format(tmp=scratch)) and err.count("\n") == 1, err
    assert files_under(scratch) == before


def test_a_folder_that_cannot_be_written_still_prints_its_summary(tmp_path, capsys, monkeypatch):
    before = {p: p.read_bytes() for p in quick_tables(tmp_path).iterdir()}

    def read_only(path, write):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    for module in (records, report):  # summary.md and summary.csv go through these
        monkeypatch.setattr(module, "atomic_write", read_only)
    assert cli.main(["table", "--results", str(tmp_path), "quick"]) == 0
    out, err = capsys.readouterr()
    assert "## Final test error of each variant" in out and "summary.md not rewritten (Read-only file system)" in err
    assert {p: p.read_bytes() for p in (tmp_path / "quick").iterdir()} == before


def quick_tables(tmp_path: Path) -> Path:
    shutil.copytree(Path(__file__).parent.parent / "results" / "quick", tmp_path / "quick",
                    ignore=shutil.ignore_patterns("runs", "figures"))
    return tmp_path / "quick"


def test_figures_that_cannot_be_written_are_one_line(tmp_path, capsys, monkeypatch):
    quick = quick_tables(tmp_path)
    (quick / "figures").write_text("a file where the figures folder goes")
    assert cli.main(["plot", "--results", str(tmp_path), "quick"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {quick}/figures: File exists: fix that path, or choose another --results\n"
    (quick / "figures").unlink()

    def read_only(path, write):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(plots, "atomic_write", read_only)
    assert cli.main(["plot", "--results", str(tmp_path), "quick"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {quick}/figures/") and "Read-only file system" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv, message", [
    (["--data-dir", "/tmp"], "error: data_dir: '/tmp' is not allowed; the synthetic set is generated"),
    # 2.5 PB of weights: beyond any x86-64 address space, so refused even where memory is overcommitted
    (["--sizes", "64", "10000000000000", "10"], "error: out of memory for this configuration"),
])
def test_train_refuses_in_one_line(capsys, argv, message):
    assert cli.main(["train", "--dataset", "synthetic", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err


def test_a_train_run_that_diverges_fails_and_prints_no_table(capsys):
    argv = ["--sizes", "64", "16", "10", "--algorithm", "bp", "--lrs", "1000", "1000", "--epochs", "2"]
    assert cli.main(["train", "--dataset", "synthetic", *argv]) == 1
    out, err = capsys.readouterr()
    assert "error: the run diverged: the weights or persistent states became NaN or inf in epoch 1" in err
    assert "mult-adds" not in out  # the untrained epoch-0 table is no result


def test_ctrl_c_is_one_line_that_says_how_to_resume(capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "run", interrupted)
    monkeypatch.setitem(cli.COMMANDS, "table", interrupted)
    assert cli.main(["run", "--preset", "smoke"]) == 130
    assert capsys.readouterr().err == "interrupted: finished runs are stored; run the same command again to resume\n"
    assert cli.main(["table"]) == 130
    assert capsys.readouterr().err == "interrupted\n"  # nothing to resume


def test_a_full_disk_while_the_tables_are_assembled_is_one_line_and_loses_no_finished_run(tmp_path, capsys,
                                                                                           monkeypatch):
    real = records.save_table

    def full_disk(frame, path):  # the study's tables, not the runs' own files: the disk fills after a run
        if path.parent.name != "runs":
            path.parent.mkdir(parents=True, exist_ok=True)
            return records.atomic_write(path, lambda tmp: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
        return real(frame, path)

    args = ["run", "--preset", "smoke", "--results", str(tmp_path / "r"), "--no-plots", "--threads", "1"]
    monkeypatch.setattr(records, "save_table", full_disk)
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {tmp_path}/r/smoke/rows.parquet: No space left on device: free some space; finished "
                   "runs are stored, so run the same command again to resume\n")
    assert not list((tmp_path / "r").rglob(".*.tmp"))
    monkeypatch.setattr(records, "save_table", real)
    assert cli.main(args) == 0
    assert "1 of 12 runs already finished" in capsys.readouterr().out
