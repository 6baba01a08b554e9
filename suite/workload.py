"""Timeable pieces of work on one backend: what suite.speed, asv and pytest-benchmark all measure.

    w = Workload("jax", NETS[3], batch=20)
    w.warm_up()                              # compiles everything; seconds, timed apart
    w.sync(w.train_minibatch())              # one EP minibatch (T_neg free + T_pos nudged steps)
    w.warm_up_chunk(); w.sync(w.train_chunk())   # TIMED_CHUNK minibatches in one call (jax: one lax.scan)
    w.sync(w.relax_steps(1))                 # one free relaxation step
    w.sync(w.infer("ff+relax@20"))           # one inference mode on the evaluation batch

Every call returns device arrays; pass them to ``sync`` to end a timed region honestly. The data is
random (timings do not depend on the values); the networks are Glorot-initialised like a real run.
"""
from __future__ import annotations

import time

import numpy as np

import backends

from .algorithms import ALGORITHMS
from .algorithms.energy import relax, zero_state
from .algorithms.inference import Model, parse_mode
from .config import RunConfig
from .engine import Engine, TrainState, glorot_layers, hyper, static_options, train_chunk, train_step

#: The benchmark nets by depth (hidden layers): the paper's 784-500-10 and 784-500-500-500-10 (docs/method.md §9).
NETS = {1: (784, 500, 10), 3: (784, 500, 500, 500, 10)}
T_NEG, T_POS = 20, 4
_BATCHES = 8  # distinct minibatches cycled through, so a step never sees its own output twice
TIMED_CHUNK = 20  # minibatches per call of the timed chunked path (a run's calls take up to run.CHUNK)


#: Backend specs beyond the plain names: torch with torch.compile, torch replaying CUDA graphs (a GPU only).
OPTIONS = {"torch+compile": {"compile": True}, "torch+graphs": {"cuda_graphs": True}}


def make_backend(spec: str) -> backends.Backend:
    """A backend name ('numpy', 'torch', 'jax') or one of OPTIONS."""
    if "+" in spec and spec not in OPTIONS:
        raise backends.BackendOptionError(f"backend: {spec!r} is unknown; choose a name or one of {', '.join(OPTIONS)}")
    return backends.get(spec.partition("+")[0], **OPTIONS.get(spec, {}))


class Workload:
    def __init__(self, backend: str = "numpy", sizes=NETS[1], batch: int = 20, algorithm: str = "ep",
                 T_neg: int = T_NEG, T_pos: int = T_POS, lam: float = 1.0, eval_batch: int = 1000,
                 seed: int = 0):
        self.engine = Engine(make_backend(backend))
        self.backend = bk = self.engine.backend
        self.sizes, self.batch, self.algorithm = tuple(sizes), batch, algorithm
        # the run this workload times a piece of (its backend is the engine's, given apart)
        self.cfg = RunConfig(algorithm=algorithm, backend=bk.name, sizes=self.sizes, T_neg=T_neg, T_pos=T_pos, eps=0.5, beta=0.5,
                             lrs=(0.01,) * (len(sizes) - 1), lam=lam if "lam" in ALGORITHMS[algorithm].reads else 0.0)
        self.lam = self.cfg.lam
        rng = np.random.default_rng(seed)
        n = batch * _BATCHES
        self.X = bk.asarray(rng.random((n, sizes[0])))
        self.Y = bk.asarray(np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)])
        self.x_eval = bk.asarray(rng.random((eval_batch, sizes[0])))
        nets = {name: glorot_layers(rng, sizes) for name in ALGORITHMS[algorithm].nets}
        self.state = bk.asarray(TrainState(Model(nets.get("energy"), nets.get("feedforward")), None))
        self.hp = hyper(self.cfg)
        self._batches = [bk.index_array(np.arange(i * batch, (i + 1) * batch)) for i in range(_BATCHES)]
        static = static_options(self.cfg)
        self._step = self.engine.compiled(train_step, donate_argnums=(0,), **static)
        self._chunk = self.engine.compiled(train_chunk, donate_argnums=(0,), **static)
        self._chunk_idx = bk.index_array(np.arange(TIMED_CHUNK * batch).reshape(TIMED_CHUNK, batch) % n)
        self._chunk_signs = bk.asarray(1.0 - 2.0 * (np.arange(TIMED_CHUNK) % 2))
        self._relax = self.engine.compiled(relax)
        self._x = bk.take_rows(self.X, self._batches[0])
        self.s = zero_state(bk, sizes, batch)
        self._i = 0

    @property
    def model(self) -> Model:
        return self.state.model

    def train_minibatch(self) -> TrainState:
        """One training step of the workload's algorithm; the nudging sign alternates."""
        i, self._i = self._i, self._i + 1
        self.state = self._step(self.state, self.X, self.Y, self._batches[i % _BATCHES],
                                1.0 - 2.0 * (i % 2), self.hp, self.lam)
        return self.state

    def train_chunk(self) -> TrainState:
        """TIMED_CHUNK training steps in one call (jax: one compiled loop); the nudging sign alternates."""
        self.state = self._chunk(self.state, self.X, self.Y, self._chunk_idx, self._chunk_signs, self.hp, self.lam)
        return self.state

    def relax_steps(self, steps: int = 1):
        """`steps` free relaxation steps of the energy net, continuing from the last state, as a relaxation
        from any state runs: the input drive, then a first step in the general (clipping) form. The
        in-range steps training takes are timed within train_minibatch, where a minibatch's phases
        share the drive and torch's stacked factors (one step alone would time mostly those)."""
        self.s = self._relax(self.model.energy, self._x, self.s, steps, self.hp.eps)
        return self.s

    def infer(self, mode: str):
        """The output state an inference mode ('relax@T', 'ff', 'ff+relax@T') predicts from."""
        return self.engine.output_state(self.model, self.x_eval, parse_mode(mode), self.hp.eps, self.lam)

    def sync(self, value):
        return self.backend.sync(value)

    def warm_up_chunk(self) -> float:
        """Compile the chunked path (where nothing compiles ahead, run it once); the seconds it took."""
        start = time.perf_counter()
        args = self.X, self.Y, self._chunk_idx, self._chunk_signs, self.hp, self.lam
        if not self.backend.compile_ahead(self._chunk, self.state, *args):
            self.sync(self.train_chunk())
        return time.perf_counter() - start

    def warm_up(self, modes=()) -> float:
        """Run (and so compile) every piece once; returns the seconds it took."""
        start = time.perf_counter()
        self.sync(self.train_minibatch())
        if self.model.energy is not None:
            self.sync(self.relax_steps(1))
        for mode in modes:
            self.sync(self.infer(mode))
        return time.perf_counter() - start
