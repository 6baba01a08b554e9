"""The diagnostics: saturation and cosines on hand-made inputs, and a study that records them."""
import numpy as np
import pandas as pd
import pytest

from suite import records
from suite.algorithms import diagnostics
from suite.algorithms.energy import Layers
from suite.cli import main


def test_saturation_counts_units_stuck_for_every_input():
    states = (np.array([[0.0, 1.0, 0.3, 0.0],
                        [0.0, 1.0, 0.3, 1.0],
                        [0.0, 1.0, 0.3, 0.5]]),  # stuck at 0, stuck at 1, constant at 0.3, moving
              np.array([[1.0, 0.2], [1.0, 0.4], [1.0, 0.0]]))
    found = diagnostics.saturation(np, states)
    assert [float(v) for v in found["stuck at 0 or 1"]] == [0.5, 0.5]
    assert [float(v) for v in found["same for every input"]] == [0.75, 0.5]


def test_cosines_per_layer():
    a = Layers((np.array([[1.0, 0.0]]), np.array([[1.0, 2.0]])), (np.zeros(2), np.zeros(2)))
    b = Layers((np.array([[0.0, 3.0]]), np.array([[-2.0, -4.0]])), (np.ones(2), np.ones(2)))
    assert np.allclose(diagnostics.cosines(np, a, b), [0.0, -1.0])


STUDY = """name = "diag"
diagnostics = true
residual_steps = 4
ladder = [1, 4]
[base]
dataset = "synthetic"
backend = "{backend}"
sizes = [64, 16, 10]
train_size = 200
epochs = 2
T_neg = 8
[[runs]]
algorithm = ["ep", "iep", "bp"]
lam = [0.0, 0.1, 0.0]
zip = [["algorithm", "lam"]]
"""


@pytest.mark.parametrize("backend, ep_quantities", [
    ("numpy", set()),  # no autodiff: no BPTT oracle, the rest is there
    ("jax", {"cosine EP +beta / BPTT", "cosine EP -beta / BPTT", "cosine EP symmetric / BPTT"})])
def test_a_study_with_diagnostics_stores_them_per_epoch_and_layer_and_draws_them(tmp_path, backend, ep_quantities):
    pytest.importorskip(backend)
    study = tmp_path / "diag.toml"
    study.write_text(STUDY.format(backend=backend))
    assert main(["run", "--study", str(study), "--results", str(tmp_path), "--threads", "1"]) == 0
    table = records.load_table(tmp_path / "diag", "diagnostics")
    assert {"run_id", "epoch", "quantity", "layer", "value", "algorithm", "seed"} <= set(table.columns)
    saturation = {"stuck at 0 or 1", "same for every input"}
    by_algorithm = table.groupby("algorithm")["quantity"].agg(set)
    assert by_algorithm["ep"] == saturation | ep_quantities
    assert by_algorithm["iep"] == saturation | {"cosine initializer local / global"}
    assert "bp" not in by_algorithm  # no energy net
    assert set(table["epoch"]) == {0, 1, 2} and set(table["layer"]) == {1, 2}
    assert table["value"].between(-1, 1).all()
    for name in ("alignment", "saturation"):
        assert (tmp_path / "diag" / "figures" / f"{name}.png").stat().st_size > 1000
    per_run = [pd.read_parquet(path) for path in (tmp_path / "diag" / "runs").glob("*.diagnostics.parquet")]
    assert sum(len(rows) for rows in per_run) == len(table)  # the study's table is its runs' files (bp's is empty)
