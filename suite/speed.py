"""How fast is EP training on each backend: against the GEMM roofline, and against EP written the
common way (suite.autograd_ep: torch autograd of the energy at every step), in the same run.

    python -m suite.speed [--backends numpy torch jax] [--batch 20] [--repeats 5] [--threads 1]
                          [--against-native] [--out results/speed]

For each net at the authors' budgets (784-500-10 at T_neg 20 + T_pos 4, 784-500x3-10 at 50 + 8)
and each backend, two paths of the same EP minibatch:
    minibatch   one compiled step per call, from Python (what progress reports and asv time)
    chunk       TIMED_CHUNK minibatches per call (jax: one lax.scan; numpy, torch: a loop in Python)
Compile / warm-up seconds are timed apart. Then every path and the reference run in alternated
rounds, each round a fixed number of minibatches ended by a sync; the median round is kept. The
roofline is the minibatch's matrix products alone, each shape timed as a plain GEMM (the fastest of
numpy, torch and jax). The table, with its provenance, goes to OUT/speed.parquet and OUT/speed.md.
--against-native then times the same paths with the kernel caps off (suite/isa.py; in a second
process, since a library reads its cap when it loads): the record then has a table per setting,
each path against the reference under the same kernels, and what the caps cost.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import backends
from backends import BackendUnavailable

from . import isa, provenance, records
from .executors import available_cores, pin_threads
from .workload import OPTIONS, TIMED_CHUNK, Workload

#: The nets by depth, at the authors' free and nudged budgets (docs/method.md §9).
SPEED_NETS = {1: ((784, 500, 10), 20, 4), 3: ((784, 500, 500, 500, 10), 50, 8)}
MINIBATCHES_PER_ROUND = TIMED_CHUNK


def relaxation_gemms(sizes, batch, steps, drive=True):
    """(m, k, n) of every matrix product in `steps` free relaxation steps: the input drive once
    (unless the caller shares one), then each step's bottom-up and top-down products."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    per_step = [(batch, a, b) for a, b in pairs[1:]] + [(batch, b, a) for a, b in pairs[1:]]
    return [(batch, sizes[0], sizes[1])] * drive + per_step * steps


def minibatch_gemms(sizes, batch, t_neg, t_pos):
    """(m, k, n) of every matrix product in one EP minibatch with random-sign nudging: one input
    drive for both phases, their steps, and the update (the first layer's contrast in one product,
    two for every other layer)."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    return (relaxation_gemms(sizes, batch, t_neg) + relaxation_gemms(sizes, batch, t_pos, drive=False)
            + [(sizes[0], batch, sizes[1])] + [(a, batch, b) for a, b in pairs[1:]] * 2)


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


class Reference:
    """suite.autograd_ep on the workload's network and data, as a timed unit."""

    def __init__(self, work: Workload):
        import torch

        from .autograd_ep import AutogradEP
        model = work.backend.to_numpy(work.model.energy)
        hp = work.hp
        self.ep = AutogradEP(model.weights, model.biases, hp.eps, hp.beta, hp.T_neg, hp.T_pos, hp.lrs)
        self.x = torch.tensor(work.backend.to_numpy(work.X), dtype=torch.float32)
        self.y = torch.tensor(work.backend.to_numpy(work.Y), dtype=torch.float32)
        self.batch, self.i = work.batch, 0

    def train_minibatch(self):
        rows = slice((self.i % 8) * self.batch, (self.i % 8 + 1) * self.batch)
        self.ep.train_step(self.x[rows], self.y[rows], 1.0 - 2.0 * (self.i % 2))
        self.i += 1

    def describe(self):
        import torch
        return {"backend": "reference", "device": "cpu", "threads": torch.get_num_threads(),
                "torch": torch.__version__}


def one_by_one(step, sync=lambda: None):
    """A round: MINIBATCHES_PER_ROUND calls of step, then sync."""
    def run():
        for _ in range(MINIBATCHES_PER_ROUND):
            step()
        sync()
    return run


def timed_units(spec: str, sizes, batch, t_neg, t_pos):
    """(name, path, one round, compile seconds, description) for each of one backend's paths."""
    work = Workload(spec, sizes, batch, T_neg=t_neg, T_pos=t_pos)
    units = [(spec, "minibatch", one_by_one(work.train_minibatch, lambda: work.sync(work.state)), work.warm_up())]
    if spec != "torch+compile":  # torch.compile would unroll the whole chunk
        chunked = Workload(spec, sizes, batch, T_neg=t_neg, T_pos=t_pos)
        units.append((spec, "chunk", lambda: chunked.sync(chunked.train_chunk()), chunked.warm_up_chunk()))
    return work, [unit + (work.backend.describe(),) for unit in units]


def measure(net: int, names, batch: int, repeats: int) -> list[dict]:
    """Rows for one net: every backend's paths and the reference, timed in alternated rounds."""
    sizes, t_neg, t_pos = SPEED_NETS[net]
    units, reference = [], None
    for spec in names:
        try:
            work, found = timed_units(spec, sizes, batch, t_neg, t_pos)
        except BackendUnavailable as err:
            print(f"{spec}: skipped ({err})")
            continue
        units += found
        if reference is None and "torch" in spec:
            reference = Reference(work)
    if reference is None:
        reference = Reference(Workload("numpy", sizes, batch, T_neg=t_neg, T_pos=t_pos))
    reference.train_minibatch()  # autograd's first call allocates: out of the timing
    units.append(("reference", "autograd per step", one_by_one(reference.train_minibatch), 0.0,
                  reference.describe()))
    rounds = {i: [] for i in range(len(units))}
    for _ in range(repeats):
        for i, (_, _, run, _, _) in enumerate(units):
            start = time.perf_counter()
            run()
            rounds[i].append((time.perf_counter() - start) / MINIBATCHES_PER_ROUND)
    roofline = roofline_seconds(minibatch_gemms(sizes, batch, t_neg, t_pos), repeats)
    reference_seconds = statistics.median(rounds[len(units) - 1])
    rows = []
    for i, (name, path, _, compile_seconds, info) in enumerate(units):
        seconds = statistics.median(rounds[i])
        on_cpu = info["device"].startswith("cpu")  # the roofline is this core's GEMM speed: no bound for a GPU
        rows.append({"net": "-".join(map(str, sizes)), "T_neg": t_neg, "T_pos": t_pos, "batch": batch,
                     "backend": name, "path": path, "ms_per_minibatch": 1e3 * seconds,
                     "compile_seconds": compile_seconds, "roofline_ms": 1e3 * roofline if on_cpu else np.nan,
                     "roofline_fraction": roofline / seconds if on_cpu else np.nan,
                     "x_reference": reference_seconds / seconds,
                     "repeats": repeats, **provenance.collect(info)})
    return rows


def uncapped_environment() -> dict:
    """This process's environment without the kernel caps, for a child process in which every
    library chooses its kernels for this CPU."""
    env = {name: value for name, value in os.environ.items() if name not in isa.CAPS}
    env["XLA_FLAGS"] = " ".join(f for f in env.get("XLA_FLAGS", "").split() if f not in isa.XLA_CAPS)
    env[isa.OPT_OUT] = "native"
    return env


def native_rows(args) -> pd.DataFrame:
    """The record's rows with the kernel caps off, measured by a second process."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "suite.speed", "--backends", *args.backends, "--batch", str(args.batch),
                   "--repeats", str(args.repeats), "--threads", str(args.threads), "--out", out]
        if subprocess.run(command, env=uncapped_environment()).returncode != 0:
            sys.exit("--against-native: the uncapped run failed (its error is above); nothing was written")
        return records.read_table(Path(out) / "speed.parquet")


def caps_cost(capped: pd.DataFrame, uncapped: pd.DataFrame) -> str:
    """Markdown: each path's time with the caps and without them."""
    keys = ["net", "backend", "path"]
    both = capped[keys + ["ms_per_minibatch"]].merge(uncapped[keys + ["ms_per_minibatch"]], on=keys,
                                                    suffixes=(" caps", " native"))
    both["caps cost %"] = (100 * (both["ms_per_minibatch caps"] / both["ms_per_minibatch native"] - 1)).map("{:+.0f}".format)
    both = both.rename(columns=lambda c: c.replace("ms_per_minibatch", "ms"))
    return ("\n## What the kernel caps cost\n\n`caps cost %`: how much longer a minibatch takes with the caps "
            "than with each library's own kernels for this CPU. The two settings ran one after the other, in two "
            "processes, so a difference also holds the machine's drift between them: read a small one against a "
            "second record.\n\n" + both.to_markdown(index=False, floatfmt=".2f") + "\n")


def speed_table(rows: pd.DataFrame) -> str:
    shown = rows.assign(**{"ms / minibatch": rows["ms_per_minibatch"].map("{:.2f}".format),
                           "compile s": rows["compile_seconds"].map("{:.2f}".format),
                           "roofline %": (100 * rows["roofline_fraction"]).map("{:.0f}".format),
                           "x reference": rows["x_reference"].map("{:.1f}".format)})
    columns = ["net", "T_neg", "T_pos", "batch", "backend", "path", "ms / minibatch", "compile s", "roofline %",
               "x reference", "threads"]
    return shown[columns].to_markdown(index=False) + "\n"


def markdown(table: pd.DataFrame) -> str:
    """The record: a table per kernel setting timed (every path and the reference in the same rounds,
    under the same kernels), then what the caps cost where both were timed."""
    first = table.iloc[0]
    versions = {k: v for text in table["versions"] for k, v in json.loads(text).items()}
    intro = (f"# EP training speed\n\nOne EP minibatch (random-sign nudging, float32, {first['threads']} thread(s) "
             f"each, {first['cpu']}); median of {first['repeats']} alternated rounds of {MINIBATCHES_PER_ROUND} "
             f"minibatches. `x reference`: how many times faster than EP written the common way "
             f"(`suite/autograd_ep.py`, torch autograd of the energy at every step), timed in the same rounds "
             f"with the same kernels. Commit {first['git_commit'][:10]}"
             f"{' (modified tree)' if first['git_dirty'] else ''}, "
             f"{', '.join(f'{k} {v}' for k, v in sorted(versions.items()))}.\n")
    settings = table.groupby("isa", sort=False)
    if len(settings) == 1:
        return intro + f"Kernels: {first['isa']}.\n\n" + speed_table(table)
    sections = [f"\n## {'Native kernels' if kernels.startswith('native') else 'With the kernel caps'}\n\n"
                f"Kernels: {kernels}.\n\n" + speed_table(rows) for kernels, rows in settings]
    capped, uncapped = (rows for _, rows in sorted(settings, key=lambda item: item[0].startswith("native")))
    return intro + "".join(sections) + caps_cost(capped, uncapped)


def at_least_one(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed; give a whole number >= 1")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=list(backends.NAMES),
                        help=f"names from %(default)s, or {', '.join(OPTIONS)} (CUDA graphs: a GPU only)")
    parser.add_argument("--batch", type=at_least_one, default=20)
    parser.add_argument("--repeats", type=at_least_one, default=5)
    parser.add_argument("--threads", type=at_least_one, default=1, help="threads (and cores) for every backend")
    parser.add_argument("--against-native", action="store_true",
                        help=f"also time every path with the kernel caps off ({isa.OPT_OUT}=native), in a second "
                             "process, and add what the caps cost")
    parser.add_argument("--out", type=Path, default=Path("results/speed"), help="where the table goes")
    args = parser.parse_args(argv)
    unknown = [b for b in args.backends if b not in backends.NAMES + tuple(OPTIONS)]
    if unknown:
        parser.error(f"--backends: {unknown[0]!r} is unknown; choose from {', '.join(backends.NAMES + tuple(OPTIONS))}")
    if args.against_native and isa.native():
        parser.error(f"--against-native: this process already runs without the caps ({isa.OPT_OUT}=native); "
                     f"unset {isa.OPT_OUT} to compare")
    pin_threads(args.threads, available_cores()[:args.threads])  # before torch and jax start their pools

    rows = []
    for net in SPEED_NETS:
        rows += measure(net, args.backends, args.batch, args.repeats)
        print(markdown(pd.DataFrame(rows)), flush=True)
    table = pd.DataFrame(rows)
    if args.against_native:
        table = pd.concat([table, native_rows(args)], ignore_index=True)
        print(markdown(table), flush=True)
    records.save_table(table, args.out / "speed.parquet")
    records.save_text(markdown(table), args.out / "speed.md")
    print(f"written: {args.out / 'speed.parquet'}, {args.out / 'speed.md'}")


if __name__ == "__main__":
    main()
