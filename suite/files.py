"""Files written whole or not at all, with the permissions any new file gets."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it
    os.umask(mask)
    return mask


#: What open() gives a new file. mkstemp makes its files private (0600): results and the data cache
#: must stay readable to whoever shares them.
FILE_MODE = 0o666 & ~_umask()


def _fsync(path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write) -> None:
    """write(temporary_path), then rename over path: a reader sees the old file or the new one. The
    file's bytes, then the rename, reach the disk before it returns, so a host crash leaves the old
    file or the whole new one, never an empty or truncated one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, FILE_MODE)
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        if err.errno and not err.filename:  # pyarrow's and others' errors name no file: this one
            raise OSError(err.errno, os.strerror(err.errno), str(path)) from err
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync(path.parent)  # the rename is the directory's change


def set_aside(path: Path) -> Path:
    """Rename a file that cannot be used to <name>.bad-<n> (the first free n) beside it, where no
    reader looks for it and a person can; the new path."""
    n = 1
    while (target := path.with_name(f"{path.name}.bad-{n}")).exists():
        n += 1
    os.replace(path, target)
    return target
