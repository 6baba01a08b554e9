"""Training end to end: reproducible, and it learns on every backend."""
import pytest

from conftest import AVAILABLE, requires_mnist
from suite import data, records
from suite.algorithms.inference import Mode, multiply_adds
from suite.config import RunConfig
from suite.run import train_and_evaluate

# timings and the wall-clock date vary between identical runs; everything else must not
NOT_RESULTS = records.TIMING_COLUMNS


def strip_timing(rows):
    return [{k: v for k, v in r.items() if k not in NOT_RESULTS} for r in rows]


@pytest.mark.parametrize("backend", AVAILABLE)
@pytest.mark.parametrize("algorithm, options", [("ep", {"init": "persistent"}), ("iep", {"lam": 0.1}),
                                                ("bp", {})])
def test_same_seed_same_result(backend, algorithm, options):
    cfg = RunConfig(algorithm=algorithm, backend=backend, dataset="synthetic", sizes=(64, 16, 10),
                    epochs=1, train_size=300, **options)
    first, second = train_and_evaluate(cfg).rows, train_and_evaluate(cfg).rows
    assert strip_timing(first) == strip_timing(second)
    other = train_and_evaluate(cfg.replace(seed=1)).rows
    assert strip_timing(other) != strip_timing(first)


def test_multiply_adds_hand_counted():
    sizes = (784, 500, 500, 10)
    ff = 784 * 500 + 500 * 500 + 500 * 10
    step = 2 * (500 * 500 + 500 * 10)
    assert multiply_adds(sizes, Mode("ff", 0)) == ff == 647_000
    assert multiply_adds(sizes, Mode("relax", 0)) == 784 * 500
    assert multiply_adds(sizes, Mode("relax", 20)) == 784 * 500 + 20 * step == 10_592_000
    assert multiply_adds(sizes, Mode("ff+relax", 4)) == ff + 784 * 500 + 4 * step


@requires_mnist()
@pytest.mark.parametrize("backend", AVAILABLE)
def test_short_mnist_training_beats_chance(backend):
    """2,000 MNIST images, one epoch: EP, IEP and bp all end far below chance (90% error).

    IEP's initializer learns from the free fixed points, so it lags them: its own ff error is only
    required to fall clearly."""
    ds = data.load("mnist")
    common = dict(backend=backend, train_size=2000, eval_size=1000, sizes=(784, 100, 10), epochs=1)
    for cfg, primary in ((RunConfig(algorithm="ep", **common), "relax@20"),
                         (RunConfig(algorithm="iep", lam=0.1, **common), "ff+relax@20"),
                         (RunConfig(algorithm="bp", **common), "ff")):
        rows = train_and_evaluate(cfg, ds).rows
        final = {r["mode"]: r["error"] for r in rows if r["epoch"] == 1 and r["split"] == "validation"}
        untrained = {r["mode"]: r["error"] for r in rows if r["epoch"] == 0 and r["split"] == "validation"}
        assert final[primary] < 0.35 < 0.8 < untrained[primary], (cfg.algorithm, untrained, final)
        assert all(final[m] < untrained[m] - 0.05 for m in final), (cfg.algorithm, untrained, final)
