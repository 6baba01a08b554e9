"""A run's checkpoint: its training state after its last epoch, stored as data only.

One .npz file, read with allow_pickle=False: the state's arrays in leaf order, and one JSON text
holding the rest (the epoch, the random generators' states, the rows and diagnostics so far, the
training seconds, and the training id the file claims). Nothing in it can run code when read.

A checkpoint that cannot be read back whole (truncated, corrupt, written by another format, or
claiming another training) is set aside, renamed beside itself, and the run starts over.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from backends import tree_map

from .files import atomic_write, set_aside

SUFFIX = ".checkpoint.npz"
FORMAT = 1  # the layout below; a file of another format is set aside, not guessed at
META = "meta"  # the JSON entry; the state's arrays are leaf0, leaf1, ...


class BadCheckpoint(ValueError):
    """A checkpoint file that cannot be read back whole; the message says why."""


class Saved(NamedTuple):
    """What a checkpoint holds. trainer: Trainer.snapshot()'s state (arrays shaped as the template
    it was read against) and its generators' states."""
    epoch: int
    trainer: dict
    rows: list[dict]
    diagnostics: list[dict]
    train_seconds_total: float


def leaves(tree) -> list[np.ndarray]:
    found: list = []
    tree_map(found.append, tree)
    return found


def write(path: Path, saved: Saved) -> None:
    arrays = leaves(saved.trainer["state"])
    meta = {"format": FORMAT, "training": path.name.removesuffix(SUFFIX), "epoch": saved.epoch,
            "leaves": len(arrays), "order_rng": saved.trainer["order_rng"], "sign_rng": saved.trainer["sign_rng"],
            "rows": saved.rows, "diagnostics": saved.diagnostics, "train_seconds_total": saved.train_seconds_total}
    entries = {f"leaf{i}": a for i, a in enumerate(arrays)}

    def write_npz(tmp):
        with open(tmp, "wb") as handle:  # by handle: given a name, np.savez would append .npz to it
            np.savez(handle, **entries, **{META: np.array(json.dumps(meta))})
    atomic_write(path, write_npz)


def _generator_state(value: Any, name: str) -> dict:
    """A bit generator's state, checked by giving it to a fresh generator of its kind."""
    try:
        generator = getattr(np.random, value["bit_generator"])()
        generator.state = value
    except (TypeError, KeyError, ValueError, AttributeError) as err:
        raise BadCheckpoint(f"{name} is not a random generator's state ({err})") from None
    return generator.state


def read(path: Path, template) -> Saved:
    """The checkpoint at path, its state's arrays shaped as template's leaves (the run's fresh
    state); BadCheckpoint when the file is not one this run can resume from whole."""
    if path.is_dir():
        raise BadCheckpoint("a folder, not a checkpoint file")
    with open(path, "rb") as handle:  # another OSError (no permission) is the environment's: raised
        if not zipfile.is_zipfile(handle):  # np.load would take it for a pickle, and say so
            raise BadCheckpoint("not an .npz archive (empty, truncated or another kind of file)")
        handle.seek(0)
        try:
            with np.load(handle, allow_pickle=False) as npz:
                meta = json.loads(str(npz[META][()]))
                if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                    raise BadCheckpoint(f"not a checkpoint of format {FORMAT}")
                arrays = [npz[f"leaf{i}"] for i in range(meta["leaves"])]
        except BadCheckpoint:
            raise
        except (zipfile.BadZipFile, EOFError, KeyError, TypeError, ValueError) as err:  # ValueError: JSON, pickles
            raise BadCheckpoint(f"not a readable checkpoint ({err})") from None
    claimed = meta.get("training")
    if claimed != path.name.removesuffix(SUFFIX):
        raise BadCheckpoint(f"it claims another training ({claimed!r})")
    expected = leaves(template)
    if len(arrays) != len(expected) or any(a.shape != e.shape or a.dtype != e.dtype for a, e in zip(arrays, expected)):
        raise BadCheckpoint("its arrays are not this run's state (their number, shapes or dtypes differ)")
    epoch, rows, diagnostics, seconds = (meta.get(k) for k in ("epoch", "rows", "diagnostics", "train_seconds_total"))
    if not (isinstance(epoch, int) and epoch >= 1 and isinstance(rows, list) and isinstance(diagnostics, list)
            and all(isinstance(r, dict) for r in rows + diagnostics) and isinstance(seconds, (int, float))):
        raise BadCheckpoint("its epoch, rows, diagnostics or training seconds are missing or malformed")
    remaining = iter(arrays)
    trainer = {"state": tree_map(lambda _: next(remaining), template),
               **{name: _generator_state(meta.get(name), name) for name in ("order_rng", "sign_rng")}}
    return Saved(epoch, trainer, rows, diagnostics, float(seconds))


class Checkpoint:
    """A run's checkpoint file (None: the run keeps none). A file further along than the run (the
    same training, more epochs) is neither read nor replaced."""

    def __init__(self, path: Path | None):
        self.path = path
        self.saved_epoch = 0

    def load(self, epochs: int, template, report) -> Saved | None:
        """The saved state, if there is one at an epoch a run of `epochs` epochs reaches. A bad file
        is set aside, with one line to report(0, line), and the run starts over."""
        if self.path is None or not self.path.exists():
            return None
        try:
            saved = read(self.path, template)
        except BadCheckpoint as err:
            kept = set_aside(self.path)
            report(0, f"set aside {self.path.name} as {kept.name}: {err}; the run starts over")
            return None
        self.saved_epoch = saved.epoch
        return saved if saved.epoch <= epochs else None

    def save(self, saved: Saved) -> None:
        if self.path is not None and saved.epoch > self.saved_epoch:
            write(self.path, saved)
            self.saved_epoch = saved.epoch
