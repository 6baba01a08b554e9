"""Digests of the products and loops whose bits depend on the CPU, and of a short EP training per
backend: run it on two machines (or under an emulated CPU) and compare the lines.

    python benchmarks/isa_digests.py                      # with the suite's kernel caps (suite/isa.py)
    EP_SUITE_ISA=native python benchmarks/isa_digests.py  # each library's own choice for this CPU
    qemu-x86_64 -cpu Haswell $(which python) benchmarks/isa_digests.py   # as on an AVX2 Intel CPU

One thread per library: OpenBLAS's products change their bits with the thread count too.
"""
import os
import sys
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import suite  # noqa: E402,F401  the caps, before numpy loads

import hashlib  # noqa: E402

import numpy as np  # noqa: E402

from suite.engine import Engine, glorot_layers, one_hot  # noqa: E402

SIZES = (784, 500, 500, 500, 10)  # the deep net: every kind of product EP trains with


def digest(arrays) -> str:
    flat = np.concatenate([np.ravel(np.asarray(a, dtype=np.float32)) for a in arrays])
    return hashlib.sha256(flat.tobytes()).hexdigest()[:10]


def operations(backend: str, rng) -> dict:
    """The single operations that differed between instruction sets (docs/method.md §7)."""
    x, w, v = rng.random((20, 784)), rng.normal(0, 0.05, (784, 500)), rng.random(100_003)
    engine = Engine(backend)
    xp, to = engine.backend.xp, engine.backend.asarray
    narrow = rng.normal(0, 0.05, (500, 10))
    return {f"{backend} 20x784x500": digest([to(x) @ to(w)]),
            f"{backend} 20x500x10": digest([to(x[:, :500]) @ to(narrow)]),
            f"{backend} 784x20x500": digest([to(x).T @ (to(x) @ to(w))]),
            f"{backend} log10": digest([xp.log10(to(v) + 1)])}


def training(backend: str, rng, minibatches: int = 3) -> str:
    """Free phase, nudged phase and update, a few minibatches of the deep net."""
    engine = Engine(backend)
    params = glorot_layers(rng, SIZES)
    for _ in range(minibatches):
        x, y = rng.random((20, 784)), one_hot(rng.integers(0, 10, 20), 10)
        s_neg = engine.relax(params, x, tuple(np.zeros((20, n)) for n in SIZES[1:]), steps=20)
        s_pos = engine.relax(params, x, s_neg, steps=8, beta=1.0, y=y)
        params = engine.ep_update(params, x, s_pos, s_neg, beta=1.0, lrs=(0.128, 0.032, 0.008, 0.002))
    return digest(params.weights + params.biases)


def main() -> None:
    from suite import isa
    backends = sys.argv[1:] or ["numpy", "torch", "jax"]
    lines = {}
    for backend in backends:
        lines.update(operations(backend, np.random.default_rng(0)))
        lines[f"{backend} EP training"] = training(backend, np.random.default_rng(1))
    print(isa.describe())
    for name, value in lines.items():
        print(f"{name:24s} {value}")


if __name__ == "__main__":
    main()
