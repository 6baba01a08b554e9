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
