"""Files written whole or not at all (suite.files.atomic_write)."""
import os
from pathlib import Path

import pytest

from suite import files


def test_atomic_write_puts_the_bytes_then_the_rename_on_disk_before_it_returns(tmp_path, monkeypatch):
    synced, real_fsync = [], os.fsync

    def fsync(fd):
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    target = tmp_path / "table.parquet"
    files.atomic_write(target, lambda tmp: Path(tmp).write_bytes(b"rows"))
    assert target.read_bytes() == b"rows"
    assert len(synced) == 2 and synced[0].name.startswith(".table.parquet.") and synced[1] == tmp_path


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "summary.md"
    target.write_text("old")

    def half_written(tmp):
        Path(tmp).write_text("ne")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        files.atomic_write(target, half_written)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["summary.md"]
