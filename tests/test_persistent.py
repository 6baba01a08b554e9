"""EP from persistent states: each example's free phase starts from its own last fixed point."""
import numpy as np
import pytest

from backends import tree_map
from conftest import AVAILABLE
from suite import data
from suite.config import RunConfig
from suite.run import Trainer

CFG = RunConfig(algorithm="ep", init="persistent", dataset="synthetic", sizes=(64, 16, 10), train_size=200,
                T_neg=8, dtype="float64")


def train(cfg, epochs):
    """The weights and persistent buffers (NumPy) after each epoch."""
    trainer = Trainer(cfg, data.load("synthetic"))
    trainer.warm_up()  # compiles on a throwaway copy: must not touch the real buffers
    history = []
    for _ in range(epochs):
        trainer.epoch()
        state = tree_map(np.array, trainer.backend.to_numpy(trainer.state))  # copies: training goes on in place
        history.append((state.model.energy, state.persistent))
    return history


def flat(tree):
    return np.concatenate([np.ravel(a) for group in tree for a in group])


@pytest.fixture(scope="module")
def reference():
    return train(CFG, 2)


def test_buffers_are_written_and_read(reference):
    (weights_1, buffers_1), (weights_2, buffers_2) = reference
    # written: after one epoch every example has a free fixed point of its own
    assert all((np.abs(b).sum(axis=1) > 0).all() for b in buffers_1)
    assert not np.allclose(flat([buffers_1]), flat([buffers_2]))  # and it moves on in the next
    # read: epoch 1 starts every example from zeros, like init 'zeros'; epoch 2 starts from the buffers
    zeros = train(CFG.replace(init="zeros"), 2)
    np.testing.assert_array_equal(flat(weights_1), flat(zeros[0][0]))
    assert np.max(np.abs(flat(weights_2) - flat(zeros[1][0]))) > 1e-6


@pytest.mark.parametrize("backend", [b for b in AVAILABLE if b != "numpy"])
def test_every_backend_agrees_with_numpy(reference, backend):
    for (weights, buffers), (want_weights, want_buffers) in zip(train(CFG.replace(backend=backend), 2), reference):
        np.testing.assert_allclose(flat(weights), flat(want_weights), rtol=0, atol=1e-10)
        np.testing.assert_allclose(flat([buffers]), flat([want_buffers]), rtol=0, atol=1e-10)
