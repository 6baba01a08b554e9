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

from .workload import NETS, T_NEG, T_POS, Workload


def relaxation_gemms(sizes, batch, steps):
    """(m, k, n) of every matrix product in `steps` free relaxation steps: the input drive once,
    then each step's bottom-up and top-down products."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    per_step = [(batch, a, b) for a, b in pairs[1:]] + [(batch, b, a) for a, b in pairs[1:]]
    return [(batch, sizes[0], sizes[1])] + per_step * steps


def minibatch_gemms(sizes, batch, t_neg=T_NEG, t_pos=T_POS):
    """(m, k, n) of every matrix product in one EP minibatch with random-sign nudging: two
    relaxations, then the update's correlations of both phases."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    return (relaxation_gemms(sizes, batch, t_neg) + relaxation_gemms(sizes, batch, t_pos)
            + [(a, batch, b) for a, b in pairs] * 2)


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


def roofline_seconds(gemms, repeats):
    """The time the matrix products alone take, each shape at its fastest plain-GEMM speed."""
    per_shape = {shape: gemm_seconds(*shape, repeats) for shape in set(gemms)}
    return sum(per_shape[shape] for shape in gemms)


def time_backend(spec, sizes, batch, repeats, steps_per_repeat=20):
    """(compile seconds, median seconds per EP minibatch, backend description)."""
    work = Workload(spec, sizes, batch)
    compile_seconds = work.warm_up()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps_per_repeat):
            work.train_minibatch()
        work.sync(work.state)
        times.append((time.perf_counter() - start) / steps_per_repeat)
    return compile_seconds, statistics.median(times), work.backend.describe()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=list(backends.NAMES),
                        help="names from %(default)s, or torch+compile")
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    unknown = [b for b in args.backends if b not in backends.NAMES + ("torch+compile",)]
    if unknown:
        parser.error(f"--backends: {unknown[0]!r} is unknown; choose from {', '.join(backends.NAMES)}, torch+compile")

    print(f"EP minibatch, T_neg={T_NEG}, T_pos={T_POS}, batch {args.batch}, float32; "
          f"median of {args.repeats} repeats\n")
    print("| net | backend | device | threads | compile / warm-up s | ms / minibatch | GEMM roofline ms | roofline % |")
    print("|---|---|---|---|---|---|---|---|")
    for sizes in NETS.values():
        roofline = roofline_seconds(minibatch_gemms(sizes, args.batch), args.repeats)
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
