"""Micro-benchmarks (pytest-benchmark): one relaxation step, one EP training step and one IEP
forward pass per backend, on the paper's 784-500-10 net with batch 20.

Each workload is built and compiled before the benchmark starts, and every timed call ends with the
backend's sync. `nox -s microbench` times them and compares against the last saved run; in
`nox -s tests` they run once, untimed (--benchmark-disable), so they cannot rot.
"""
import numpy as np
import pytest

from backends import tree_map
from conftest import AVAILABLE
from suite.workload import NETS, Workload

ROUNDS, WARMUP_ROUNDS = 200, 5


def warmed_up(backend, benchmark, algorithm):
    """A compiled workload on one backend, described in the saved JSON."""
    work = Workload(backend, NETS[1], batch=20, algorithm=algorithm)
    work.warm_up(["ff"] if algorithm == "iep" else [])
    benchmark.extra_info.update(work.backend.describe())
    return work


@pytest.fixture(params=AVAILABLE)
def workload(request, benchmark):
    """An IEP workload: it has both nets, so it can relax and run the initializer."""
    return warmed_up(request.param, benchmark, "iep")


@pytest.fixture(params=AVAILABLE)
def ep_workload(request, benchmark):
    return warmed_up(request.param, benchmark, "ep")


def timed(benchmark, fn):
    return benchmark.pedantic(fn, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS, iterations=1)


def test_relaxation_step(benchmark, workload):
    states = timed(benchmark, lambda: workload.sync(workload.relax_steps(1)))
    states = [workload.backend.to_numpy(s) for s in states]
    assert [s.shape for s in states] == [(20, 500), (20, 10)]
    assert all(np.all((s >= 0) & (s <= 1)) for s in states)  # the clip keeps every state in [0, 1]


def test_ep_training_step(benchmark, ep_workload):
    """One EP minibatch (plain EP: no initializer to train)."""
    assert ep_workload.model.feedforward is None
    before = tree_map(np.array, ep_workload.backend.to_numpy(ep_workload.model.energy))
    state = timed(benchmark, lambda: ep_workload.sync(ep_workload.train_minibatch()))
    after = ep_workload.backend.to_numpy(state.model.energy)
    assert all(np.isfinite(w).all() for w in after.weights)
    assert not np.allclose(before.weights[0], after.weights[0])  # the weights learn


def test_iep_forward_pass(benchmark, workload):
    output = workload.backend.to_numpy(timed(benchmark, lambda: workload.sync(workload.infer("ff"))))
    assert output.shape == (1000, 10) and np.isfinite(output).all()
