"""One interface over every backend: NumPy in, NumPy out, and the compiled training step.

    engine = Engine("jax")                       # or "numpy", "torch"; dtype="float64"
    s = engine.relax(params, x, s0, steps=50, beta=0.5, y=y_onehot, lam=0.1, f=f)
    params = engine.ep_update(params, x, s_pos, s_neg, beta=0.5, lrs=(0.1, 0.05))

Parameters are ``Layers(weights, biases)`` of NumPy arrays; states are tuples of (batch, n_l) arrays.
"""
from __future__ import annotations

import functools

import numpy as np

import backends

from .algorithms import ALGORITHMS, bp, ep, feedforward
from .algorithms.algorithm import EPHyper, TrainState
from .algorithms.energy import Layers, Pull, relax
from .algorithms.inference import Model, Mode, final_state


def glorot_layers(rng: np.random.Generator, sizes) -> Layers:
    """W ~ U(+-sqrt(6 / (n_in + n_out))), zero biases (docs/method.md §9), in float64 on the host."""
    weights = tuple(rng.uniform(-1, 1, (a, b)) * np.sqrt(6.0 / (a + b))
                    for a, b in zip(sizes[:-1], sizes[1:]))
    return Layers(weights, tuple(np.zeros(b) for b in sizes[1:]))


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes, dtype=np.float32)[labels]


def feedforward_prediction(backend, params: Layers, x):
    return feedforward.predict(params, x)


def train_step(backend, state: TrainState, X, Y, idx, sign, hp: EPHyper, lam, *, algorithm: str,
               **static) -> TrainState:
    """One minibatch of any algorithm; X, Y live on the device and idx picks the minibatch. static:
    the algorithm's compile-time options (Algorithm.static of the run's config)."""
    x, y = backend.take_rows(X, idx), backend.take_rows(Y, idx)
    return ALGORITHMS[algorithm].step(backend, state, x, y, idx, sign, hp, lam, **static)


def hyper(cfg) -> EPHyper:
    """A run's traced hyper-parameters."""
    return EPHyper(cfg.eps, cfg.beta, cfg.T_neg, cfg.T_pos, cfg.lrs, cfg.kappa)


def static_options(cfg) -> dict:
    """What the compiled training step of a run's configuration is specialised to."""
    return {"algorithm": cfg.algorithm, **ALGORITHMS[cfg.algorithm].static(cfg)}


def train_chunk(backend, state: TrainState, X, Y, idx, signs, hp: EPHyper, lam, **static) -> TrainState:
    """len(signs) minibatches in one call (on jax, one compiled loop): row k of idx picks the k-th
    minibatch, signs[k] its nudging sign."""
    return backend.scan(lambda st, batch: train_step(backend, st, X, Y, *batch, hp, lam, **static), state,
                        (idx, signs))


class Engine:
    """The algorithms of suite.algorithms, compiled for one backend (once per static option)."""

    def __init__(self, backend: str | backends.Backend = "numpy", dtype: str = "float32",
                 device: str = "auto"):
        self.backend = backends.get(backend, dtype, device) if isinstance(backend, str) else backend
        self._cache: dict = {}

    def compiled(self, fn, donate_argnums=(), **static):
        """fn(backend, *args, **static), compiled; static options are fixed, everything else traced."""
        key = (fn, donate_argnums, tuple(sorted(static.items())))
        if key not in self._cache:
            self._cache[key] = self.backend.jit(functools.partial(fn, self.backend, **static),
                                                donate_argnums=donate_argnums)
        return self._cache[key]

    def _numpy_call(self, fn, *args, **kwargs):
        bk = self.backend
        return bk.to_numpy(bk.sync(fn(*bk.asarray(args), **{k: bk.asarray(v) for k, v in kwargs.items()})))

    # -- NumPy in, NumPy out ------------------------------------------------------------------
    def relax(self, params, x, s, steps, eps=0.5, beta=0.0, y=None, lam=0.0, f=None, kappa=1.0):
        """`steps` relaxation steps from s; with y the nudged dynamics (F = E + beta C), with f the
        IEP pull of strength lam towards f; kappa weights the energy's 1/2 ||s||^2 terms."""
        pull = None if f is None else Pull(lam, tuple(f))
        return self._numpy_call(self.compiled(relax), Layers(*params), x, tuple(s), steps, eps, beta, y,
                                pull=pull, kappa=kappa)

    def ep_update(self, params, x, s_pos, s_neg, beta, lrs) -> Layers:
        return self._numpy_call(self.compiled(ep.ep_update), Layers(*params), x, tuple(s_pos),
                                tuple(s_neg), beta, tuple(lrs))

    def initializer_update(self, init_params, x, targets, lrs, global_loss=False) -> Layers:
        fn = self.compiled(feedforward.initializer_update, global_loss=global_loss)
        return self._numpy_call(fn, Layers(*init_params), x, tuple(targets), tuple(lrs))

    def bp_gradients(self, params, x, y, loss="squared") -> Layers:
        return self._numpy_call(self.compiled(bp.gradients, kind=loss), Layers(*params), x, y)

    # -- on the device ------------------------------------------------------------------------
    def output_state(self, model: Model, x, mode: Mode, eps, lam=0.0, kappa=1.0):
        """Device array (batch, n_L) an inference mode predicts from; x already on the device."""
        return self.compiled(final_state, kind=mode.kind)(model, x, mode.steps, eps, lam, kappa)
