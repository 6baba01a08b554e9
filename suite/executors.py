"""Where runs execute: a local process pool, or an existing dask.distributed cluster.

Both call ``execute`` on the worker and hand each Outcome back to the sweep as the run finishes;
only the sweep (the client) writes results. Each run pins its libraries to ``threads`` threads, and
the local pool also gives each worker its own cores, so parallel runs do not fight over them.
"""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import sys
from typing import Iterator, NamedTuple

EXECUTORS = ("local", "dask")


class Outcome(NamedTuple):
    index: int  # position of the run in the submitted list
    result: object | None  # suite.run.RunResult; None when skipped
    skipped: str = ""  # why the run could not start (a backend that is not installed)


def pin_threads(threads: int, cores: list[int] | None = None) -> None:
    """Limit BLAS, OpenMP, torch and XLA to `threads` threads (and this process to `cores`)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)  # libraries loaded from here on
    single = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    if threads == 1 and single not in os.environ.get("XLA_FLAGS", ""):  # read when JAX starts its CPU client
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {single}".strip()
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    from threadpoolctl import threadpool_limits
    threadpool_limits(threads)  # libraries already loaded (NumPy's BLAS)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


_DATASETS: dict = {}  # per worker process: each data set is loaded once


def execute(index: int, cfg, plan, threads: int, echo: bool = True) -> Outcome:
    """One run, on whichever process or machine calls it."""
    from backends import BackendUnavailable

    from . import data as datasets
    from .run import train_and_evaluate

    pin_threads(threads)
    key = (cfg.dataset, cfg.data_dir)
    if key not in _DATASETS:
        _DATASETS[key] = datasets.load(cfg.dataset, cfg.data_dir)
    progress = (lambda message: print(f"    run {index + 1}: {message}", flush=True)) if echo else (lambda m: None)
    try:
        return Outcome(index, train_and_evaluate(cfg, _DATASETS[key], progress, plan))
    except BackendUnavailable as err:
        return Outcome(index, None, str(err))


def _claim_cores(slots) -> None:
    """Pool initializer: this worker takes the next free set of cores."""
    threads, cores = slots.get()
    pin_threads(threads, cores)


def available_cores() -> list[int]:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def core_sets(workers: int, threads: int) -> list[list[int]]:
    """Disjoint sets of `threads` cores per worker, wrapping around when there are too few."""
    available = available_cores()
    return [[available[(w * threads + t) % len(available)] for t in range(threads)] for w in range(workers)]


class Executor:
    """Runs (cfg, plan) tasks somewhere; a context manager that lets go of what it holds."""

    #: whether runs read their data on this machine (so the sweep can check it before starting)
    data_here = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        pass


class LocalExecutor(Executor):
    """A pool of `workers` processes on this machine, each pinned to `threads` cores of its own."""

    def __init__(self, workers: int = 1, threads: int | None = None):
        self.workers = workers
        self.threads = threads or max(1, len(available_cores()) // workers)

    def describe(self) -> str:
        return (f"local: {self.workers} worker process{'es' if self.workers > 1 else ''} x {self.threads} "
                f"thread{'s' if self.threads > 1 else ''}")

    def map(self, tasks: list[tuple]) -> Iterator[Outcome]:
        """tasks: (cfg, plan) pairs; yields each Outcome as its run finishes."""
        context = multiprocessing.get_context("spawn")  # never fork a process that may hold threads
        slots = context.Queue()
        for cores in core_sets(self.workers, self.threads):
            slots.put((self.threads, cores))
        with concurrent.futures.ProcessPoolExecutor(self.workers, mp_context=context, initializer=_claim_cores,
                                                    initargs=(slots,)) as pool:
            futures = [pool.submit(execute, i, cfg, plan, self.threads) for i, (cfg, plan) in enumerate(tasks)]
            try:
                for future in concurrent.futures.as_completed(futures):
                    yield future.result()
            finally:
                for future in futures:
                    future.cancel()


class DaskExecutor(Executor):
    """Runs on an existing dask.distributed cluster (dask scheduler / dask worker, see README)."""

    data_here = False

    def __init__(self, scheduler: str, threads: int = 1):
        try:
            from distributed import Client
        except ImportError:
            raise ImportError("--executor dask needs dask.distributed: python -m pip install "
                              "'dask[distributed]'") from None
        from .config import ConfigError

        try:
            self.client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as err:
            raise ConfigError(f"--scheduler: could not reach {scheduler!r} ({err}); is `dask scheduler` "
                              "running there?") from None
        self.threads = threads

    def describe(self) -> str:
        workers = len(self.client.scheduler_info().get("workers", {}))
        return (f"dask: {self.client.scheduler.address}, {workers} workers, {self.threads} "
                f"thread{'s' if self.threads > 1 else ''} per run")

    def close(self) -> None:
        self.client.close()

    def map(self, tasks: list[tuple]) -> Iterator[Outcome]:
        from distributed import as_completed

        futures = [self.client.submit(execute, i, cfg, plan, self.threads, False, pure=False)
                   for i, (cfg, plan) in enumerate(tasks)]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            self.client.cancel(futures)


def make(executor: str, workers: int | None = None, threads: int | None = None, scheduler: str | None = None):
    """The executor the command line asked for; ConfigError naming the option for a bad choice."""
    from .config import ConfigError

    if executor not in EXECUTORS:
        raise ConfigError(f"--executor: {executor!r} is not allowed; choose one of {', '.join(EXECUTORS)}")
    for name, value in (("--workers", workers), ("--threads", threads)):
        if value is not None and value < 1:
            raise ConfigError(f"{name}: {value} is not allowed; give a whole number >= 1")
    if executor == "dask":
        if not scheduler:
            raise ConfigError("--scheduler: required with --executor dask, e.g. tcp://HOST:8786")
        if workers is not None:
            raise ConfigError("--workers: only used with --executor local; a dask cluster has the workers "
                              "started on it (dask worker --nworkers N)")
        return DaskExecutor(scheduler, threads or 1)
    if scheduler:
        raise ConfigError("--scheduler: only used with --executor dask")
    return LocalExecutor(workers or 1, threads)

