"""Contrastive learning (suite/algorithms/contrastive.py): the update is the exact gradient of the
contrastive Hebbian objective, and beta, which it never reads, stays out of its labels."""
import pandas as pd

from suite.config import RunConfig
from suite.run import config_columns
from suite.variants import with_variants
from test_coupled import check_update_is_minus_the_objective_gradient


def test_contrastive_learning_descends_the_difference_of_the_two_energies():
    """docs/method.md §4b: with the output clamped to y, the update is -d/dtheta [E(clamped fixed
    point) - E(free fixed point)]: it stops where the free output is the target."""
    check_update_is_minus_the_objective_gradient(lambda y: lambda out: y, 1.0)


def test_its_labels_leave_out_what_it_never_reads():
    runs = [RunConfig(algorithm=a, backend="jax", beta=b, seed=s) for a, b in (("contrastive", 0.5),
                                                                              ("coupled", 0.5), ("coupled", 0.25))
            for s in (0, 1)]
    rows = pd.DataFrame([{"run_id": f"r{i}", **config_columns(cfg)} for i, cfg in enumerate(runs)])
    assert sorted(set(with_variants(rows)["variant"])) == ["CONTRASTIVE", "COUPLED beta=0.25", "COUPLED beta=0.5"]


def test_a_new_algorithm_is_one_new_module(tmp_path):
    """Drop a module declaring an algorithm into suite/algorithms/ of a copy of the code, and change
    nothing else: the command line offers it, a study sweeps it, and its table names it."""
    import subprocess
    import sys
    from test_sweeps import copy_of_the_code
    copy = copy_of_the_code(tmp_path)
    source = (copy / "suite" / "algorithms" / "contrastive.py").read_text()
    (copy / "suite" / "algorithms" / "hebbian.py").write_text(
        source.replace('name="contrastive"', 'name="hebbian"').replace('"contrastive"', '"hebbian"'))
    study = tmp_path / "new.toml"
    study.write_text('name = "new"\nladder = [1, 4]\n[base]\ndataset = "synthetic"\nbackend = "numpy"\n'
                     'sizes = [64, 16, 10]\ntrain_size = 200\nepochs = 1\n[[runs]]\nalgorithm = ["hebbian", "ep"]\n')
    done = subprocess.run([sys.executable, "-m", "suite", "run", "--study", str(study), "--results",
                           str(tmp_path / "results"), "--no-plots", "--threads", "1"], cwd=copy,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = pd.read_parquet(tmp_path / "results" / "new" / "rows.parquet")
    assert set(rows["algorithm"]) == {"hebbian", "ep"} and (rows["status"] == "ok").all()
    assert "HEBBIAN" in (tmp_path / "results" / "new" / "summary.md").read_text()
    listed = subprocess.run([sys.executable, "-m", "suite", "train", "--help"], cwd=copy, capture_output=True,
                            text=True, timeout=120).stdout
    assert "hebbian (contrastive learning" in " ".join(listed.split())
