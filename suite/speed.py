"""How fast is one training minibatch on each backend, and how close to the GEMM roofline?

    python -m suite.speed [--backends numpy torch jax torch+compile] [--batch 20] [--repeats 5]

For each net (784-500-10 and 784-500-500-500-10) and backend: the compile / warm-up time of the
first EP minibatch (T_neg=20, T_pos=4), then the median over repeats of the milliseconds per
minibatch. The roofline is the same minibatch's matrix products alone, each shape timed as a plain
GEMM (the fastest of numpy, torch and jax), so `roofline %` says how much of a step is the products.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import backends
from backends import BackendUnavailable

from .algorithms.ep import EPHyper
from .algorithms.inference import Model
from .engine import Engine, TrainState, glorot_layers, train_step

NETS = ((784, 500, 10), (784, 500, 500, 500, 10))
T_NEG, T_POS = 20, 4


def minibatch_gemms(sizes, batch, t_neg=T_NEG, t_pos=T_POS):
    """(m, k, n) of every matrix product in one EP minibatch with random-sign nudging."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    gemms = [(batch, sizes[0], sizes[1])] * 2  # the input drive, once per relaxation
    per_step = [(batch, a, b) for a, b in pairs[1:]] + [(batch, b, a) for a, b in pairs[1:]]
    gemms += per_step * (t_neg + t_pos)
    gemms += [(a, batch, b) for a, b in pairs] * 2  # the update's correlations, two phases
    return gemms


def _median_seconds(fn, number, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def gemm_seconds(m, k, n, repeats):
    """Fastest plain GEMM of one shape in float32 among the libraries installed."""
    rng = np.random.default_rng(0)
    a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
    out = np.empty((m, n), dtype=np.float32)
    best = _median_seconds(lambda: np.matmul(a, b, out=out), 200, repeats)
    try:
        import torch
        ta, tb, tout = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
        best = min(best, _median_seconds(lambda: torch.matmul(ta, tb, out=tout), 200, repeats))
    except ImportError:
        pass
    try:
        import jax
        matmul, ja, jb = jax.jit(jax.numpy.matmul), jax.numpy.asarray(a), jax.numpy.asarray(b)
        matmul(ja, jb).block_until_ready()
        best = min(best, _median_seconds(lambda: matmul(ja, jb).block_until_ready(), 200, repeats))
    except ImportError:
        pass
    return best


def roofline_seconds(sizes, batch, repeats):
    gemms = minibatch_gemms(sizes, batch)
    per_shape = {shape: gemm_seconds(*shape, repeats) for shape in set(gemms)}
    return sum(per_shape[shape] for shape in gemms)


def time_backend(spec, sizes, batch, repeats, steps_per_repeat=20):
    name, _, option = spec.partition("+")
    engine = Engine(backends.get(name, compile=True) if option == "compile" else backends.get(name))
    bk = engine.backend
    rng = np.random.default_rng(0)
    n = batch * 8
    X = bk.asarray(rng.random((n, sizes[0])))
    Y = bk.asarray(np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)])
    state = bk.asarray(TrainState(Model(glorot_layers(rng, sizes), None), None))
    step = engine.compiled(train_step, donate_argnums=(0,), algorithm="ep", init="zeros",
                           symmetric=False, global_loss=False, bp_loss="squared")
    hp = EPHyper(0.5, 0.5, T_NEG, T_POS, (0.01,) * (len(sizes) - 1))
    batches = [bk.index_array(np.arange(i * batch, (i + 1) * batch) % n) for i in range(8)]

    start = time.perf_counter()
    state = bk.sync(step(state, X, Y, batches[0], 1.0, hp, 0.0))
    compile_seconds = time.perf_counter() - start

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(steps_per_repeat):
            state = step(state, X, Y, batches[i % 8], 1.0 - 2.0 * (i % 2), hp, 0.0)
        bk.sync(state)
        times.append((time.perf_counter() - start) / steps_per_repeat)
    return compile_seconds, statistics.median(times), bk.describe()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=list(backends.NAMES),
                        help="names from %(default)s, or torch+compile")
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    print(f"EP minibatch, T_neg={T_NEG}, T_pos={T_POS}, batch {args.batch}, float32; "
          f"median of {args.repeats} repeats\n")
    print("| net | backend | device | threads | compile / warm-up s | ms / minibatch | GEMM roofline ms | roofline % |")
    print("|---|---|---|---|---|---|---|---|")
    for sizes in NETS:
        roofline = roofline_seconds(sizes, args.batch, args.repeats)
        for name in args.backends:
            try:
                compile_s, step_s, info = time_backend(name, sizes, args.batch, args.repeats)
            except BackendUnavailable as err:
                print(f"| {'-'.join(map(str, sizes))} | {name} | skipped: {err} |")
                continue
            print(f"| {'-'.join(map(str, sizes))} | {name} | {info['device']} | {info['threads']} | "
                  f"{compile_s:.3f} | {step_s * 1e3:.2f} | {roofline * 1e3:.2f} | "
                  f"{100 * roofline / step_s:.0f} |", flush=True)


if __name__ == "__main__":
    main()
