"""suite/equivalence.py: a stored run's configuration is replayed as it was, and a replay that differs
in one bit of its rows or its trained state is caught."""
import numpy as np
import pandas as pd

from suite.config import RunConfig
from suite.equivalence import differences, stored_value
from suite.run import config_columns
from suite.study import RUN_FIELDS


def test_a_stored_configuration_is_read_back_as_it_was():
    for cfg in (RunConfig(), RunConfig(algorithm="iep", backend="jax", lam=0.1, sizes=(784, 500, 500, 10),
                                       lrs=(0.128, 0.032, 0.008), train_size=1000, symmetric=True),
                RunConfig(algorithm="bp", bp_loss="cross_entropy", eval_size=200, data_dir="/data")):
        row = pd.DataFrame([config_columns(cfg)]).iloc[0]  # as a parquet table gives it back
        again = RunConfig(**{name: stored_value(row[name], name) for name in RUN_FIELDS if name != "eval_modes"})
        assert again == cfg


def write_replay(folder, rows, leaf):
    folder.mkdir()
    pd.DataFrame(rows).to_parquet(folder / "00.rows.parquet")
    pd.DataFrame({"step": [1], "residual": [0.5]}).to_parquet(folder / "00.residuals.parquet")
    pd.DataFrame({"epoch": [1], "value": [0.9]}).to_parquet(folder / "00.diagnostics.parquet")
    np.savez(folder / "00.checkpoint.npz", leaf0=leaf, meta=np.array("{}"))


def test_one_bit_of_difference_is_caught(tmp_path):
    rows = {"error": [0.25], "mode": ["ff"], "train_seconds": [1.0]}
    leaf = np.linspace(0, 1, 6, dtype=np.float32)
    write_replay(tmp_path / "a", rows, leaf)
    write_replay(tmp_path / "b", {**rows, "train_seconds": [2.0]}, leaf)  # time is not a number computed
    assert differences(tmp_path / "a", tmp_path / "b", "00") == []
    flipped = leaf.copy()
    flipped.view(np.uint32)[3] ^= 1  # the last bit of one weight
    write_replay(tmp_path / "c", {**rows, "error": [0.25 + 1e-17 + 2 ** -50]}, flipped)
    assert differences(tmp_path / "a", tmp_path / "c", "00") == ["rows: error differ", "the trained state differs"]
