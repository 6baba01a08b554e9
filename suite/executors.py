"""Where runs execute: a local process pool, or an existing dask.distributed cluster.

Both call ``execute`` on the worker and hand each Outcome back to the sweep as the run finishes;
only the sweep (the client) writes results and prints. Each run pins its libraries to ``threads``
threads, and the local pool also gives each worker its own cores, so parallel runs do not fight over
them. A local worker ends when its sweep ends, however the sweep ends (even by kill -9).
"""
from __future__ import annotations

import concurrent.futures
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterator, NamedTuple

EXECUTORS = ("local", "dask")


class Outcome(NamedTuple):
    index: int  # position of the run in the submitted list
    result: object | None  # suite.run.RunResult; None when the run did not run to its end
    not_run: str = ""  # then: skipped (it could not start: a backend not installed), or killed (its worker died)
    why: str = ""


class ExecutorError(RuntimeError):
    """The executor itself cannot run anything (its workers die before they start a run)."""


def pin_threads(threads: int, cores: list[int] | None = None) -> None:
    """Limit BLAS, OpenMP and torch to `threads` threads, and this process to `cores`.

    XLA has no thread-count option: its CPU client sizes its thread pool from the cores the process
    may run on when the client starts. So the cores, set here before a worker imports JAX, are what
    holds JAX to `threads` threads."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)  # libraries loaded from here on
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    from threadpoolctl import threadpool_limits
    threadpool_limits(threads)  # libraries already loaded (NumPy's BLAS)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


_DATASETS: dict = {}  # per worker process: each data set is loaded once
_PROGRESS = None  # a local worker's channel to its sweep: (run index, epochs done, message, resumed)
STARTED = "started"  # on that channel, (STARTED, run index, worker pid): a worker took the run


def execute(index: int, cfg, plan, checkpoint, threads: int) -> Outcome:
    """One run, on whichever process or machine calls it, resuming from and saving to its
    checkpoint file (if not None). A local worker reports its progress to the sweep; elsewhere the
    run reports nothing until it ends."""
    from backends import BackendOptionError, BackendUnavailable

    from . import data as datasets
    from .run import no_report, train_and_evaluate

    channel = _PROGRESS
    if channel is not None:  # first: should this worker die, the sweep knows which run it took with it
        channel.put((STARTED, index, os.getpid()))
    pin_threads(threads)
    key = (cfg.dataset, cfg.data_dir)
    if key not in _DATASETS:
        _DATASETS[key] = datasets.load(cfg.dataset, cfg.data_dir)
    report = no_report if channel is None else \
        lambda epochs, message, resumed=False: channel.put((index, epochs, message, resumed))
    try:
        return Outcome(index, train_and_evaluate(cfg, _DATASETS[key], report, plan, checkpoint))
    except (BackendUnavailable, BackendOptionError) as err:  # a library or a device this worker lacks
        return Outcome(index, None, "skipped", str(err))


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def end_with_parent(parent: int, poll_seconds: float = 1.0) -> None:
    """End this process when `parent` ends: at once on Linux (the kernel sends SIGKILL), and
    elsewhere within `poll_seconds` (a thread watches for the parent to change)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0:
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(1)
            return

    def watch():
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="end-with-parent").start()


def _start_worker(parent: int, slots, progress) -> None:
    """Pool initializer: end with the sweep, take the next free set of cores, report through progress."""
    global _PROGRESS
    end_with_parent(parent)
    threads, cores = slots.get()
    pin_threads(threads, cores)
    _PROGRESS = progress


def available_cores() -> list[int]:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def core_sets(workers: int, threads: int) -> list[list[int]]:
    """Disjoint sets of `threads` cores per worker, wrapping around when there are too few."""
    available = available_cores()
    return [[available[(w * threads + t) % len(available)] for t in range(threads)] for w in range(workers)]


OnProgress = Callable[[int, float, str, bool], None]  # (task index, epochs done, message, resumed)
Notify = Callable[[str], None]  # a line about the executor itself (a worker died, no worker is left)
REPORT_POLL_SECONDS = 0.2  # how often the sweep relays its workers' progress
DASK_POLL_SECONDS = 5.0  # how often a Dask sweep with nothing finishing checks that it has workers


def ignore_progress(index: int, epochs_done: float, message: str, resumed: bool) -> None:
    pass


def ignore_note(line: str) -> None:
    pass


def death(exitcode: int) -> str:
    """How a worker process ended, in words."""
    if exitcode >= 0:
        return f"exited with code {exitcode}"
    name = signal.Signals(-exitcode).name
    return f"was killed by {name}" + (" (the kernel's out-of-memory killer sends it, as does kill -9)"
                                      if -exitcode == signal.SIGKILL else "")


class Executor:
    """Runs (cfg, plan, checkpoint) tasks somewhere; a context manager that lets go of what it holds."""

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

    def map(self, tasks: list[tuple], on_progress: OnProgress = ignore_progress,
            notify: Notify = ignore_note) -> Iterator[Outcome]:
        """tasks: (cfg, plan, checkpoint file or None); yields each Outcome as its run finishes, and calls
        on_progress(task index, epochs done, message, resumed) in this process as runs report.

        A worker that dies (the out-of-memory killer, a crash) breaks the pool: its run is yielded
        as killed, and the other unfinished runs go on in a new pool (from their checkpoints)."""
        remaining = dict(enumerate(tasks))
        while remaining:
            yield from self._pool(remaining, on_progress, notify)

    def _pool(self, remaining: dict[int, tuple], on_progress: OnProgress, notify: Notify) -> Iterator[Outcome]:
        """One pool over the remaining tasks, removing each from it as it ends; it returns early
        when a worker dies, having yielded that worker's run as killed."""
        context = multiprocessing.get_context("spawn")  # never fork a process that may hold threads
        slots = context.Queue()
        for cores in core_sets(self.workers, self.threads):
            slots.put((self.threads, cores))
        # A SimpleQueue writes synchronously: a run's reports are in the pipe before its result is.
        progress = context.SimpleQueue()
        taken: dict[int, int] = {}  # task index -> pid of the worker that took it

        def relay():
            while not progress.empty():
                report = progress.get()
                if report[0] == STARTED:
                    taken[report[1]] = report[2]
                else:
                    on_progress(*report)

        with concurrent.futures.ProcessPoolExecutor(self.workers, mp_context=context, initializer=_start_worker,
                                                    initargs=(os.getpid(), slots, progress)) as pool:
            futures = {pool.submit(execute, i, *task, self.threads) for i, task in remaining.items()}
            processes = dict(pool._processes)  # pid -> Process; all started by the submits above
            try:
                while futures:
                    done, futures = concurrent.futures.wait(futures, timeout=REPORT_POLL_SECONDS,
                                                            return_when=concurrent.futures.FIRST_COMPLETED)
                    relay()
                    for future in done:
                        try:
                            outcome = future.result()
                        except BrokenProcessPool:
                            relay()
                            yield from self._killed(remaining, taken, processes, notify)
                            return
                        del remaining[outcome.index]
                        yield outcome
            finally:
                if futures:  # ended early (a run's error, Ctrl-C, the consumer stopped): end the runs at once
                    workers = list(pool._processes.values())  # Python < 3.14 has no terminate_workers()
                    pool.shutdown(wait=False, cancel_futures=True)  # leaving `with` then waits for nothing
                    for worker in workers:  # a rerun resumes from the last epoch's checkpoint
                        worker.terminate()
                    for worker in workers:
                        worker.join()

    @staticmethod
    def _killed(remaining: dict[int, tuple], taken: dict[int, int], processes: dict, notify: Notify):
        """The broken pool's dead workers' runs, as killed outcomes (removed from remaining). The
        pool ends the other workers with SIGTERM: a worker that ended otherwise is one that died (if
        none did, all count as dead)."""
        for process in processes.values():
            process.join()
        exits = {pid: p.exitcode for pid, p in processes.items()}
        dead = {pid: code for pid, code in exits.items() if code != -signal.SIGTERM} or exits
        lost = [i for i in remaining if taken.get(i) in dead]
        if not lost:
            codes = ", ".join(death(p.exitcode) for p in processes.values())
            raise ExecutorError(f"--executor local: the worker processes died before they could start a run "
                                f"({codes})") from None
        for index in lost:
            del remaining[index]
            yield Outcome(index, None, "killed", f"its worker process {death(dead[taken[index]])}; it runs "
                                                 "again in the next sweep")
        if remaining:
            notify(f"a worker process died; {len(remaining)} unfinished run{'s' if len(remaining) > 1 else ''} "
                   "go on in new worker processes (from their checkpoints)")


class DaskExecutor(Executor):
    """Runs on an existing dask.distributed cluster (dask scheduler / dask worker, see README)."""

    data_here = False

    def __init__(self, scheduler: str, threads: int = 1):
        try:
            import dask
            from distributed import Client
        except ImportError:
            raise ImportError("--executor dask needs dask.distributed: python -m pip install "
                              "'dask[distributed]'") from None
        from .config import ConfigError

        if scheduler.startswith("tls://") and not dask.config.get("distributed.comm.tls.ca-file", None):
            raise ConfigError(f"--scheduler: {scheduler!r} is a TLS address, and Dask's configuration has no "
                              "certificate for the client (distributed.comm.tls.ca-file, .client.cert, "
                              ".client.key; see the README's Dask section)")
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

    def map(self, tasks: list[tuple], on_progress: OnProgress = ignore_progress,
            notify: Notify = ignore_note) -> Iterator[Outcome]:
        """As LocalExecutor.map; runs on a cluster report only when they end. A run whose workers
        died running it as often as the scheduler allows (KilledWorker) is yielded as killed; while
        the cluster has no worker at all, notify says that the sweep waits for one."""
        from distributed import KilledWorker, wait

        futures = {self.client.submit(execute, i, *task, self.threads, pure=False): i for i, task in enumerate(tasks)}
        pending, waiting = set(futures), False
        try:
            while pending:
                try:
                    done, pending = wait(pending, timeout=DASK_POLL_SECONDS, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    workers = len(self.client.nthreads())
                    if not workers and not waiting:
                        runs = f"{len(pending)} run{'s' if len(pending) > 1 else ''}"
                        notify(f"waiting: no Dask worker is connected to {self.client.scheduler.address}; "
                               f"{runs} to go {'wait' if len(pending) > 1 else 'waits'} for one (start it with: dask worker ADDRESS)")
                    waiting = not workers
                    continue
                for future in done:
                    try:
                        yield future.result()
                    except KilledWorker:
                        yield Outcome(futures[future], None, "killed", "the Dask workers running it died as often as "
                                      "the scheduler allows (KilledWorker); it runs again in the next sweep")
        finally:
            self.client.cancel(list(futures))


def check_options(executor: str, workers: int | None = None, threads: int | None = None,
                  scheduler: str | None = None) -> None:
    """ConfigError naming the option for a bad choice of executor options."""
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
    elif scheduler:
        raise ConfigError("--scheduler: only used with --executor dask")


def make(executor: str, workers: int | None = None, threads: int | None = None, scheduler: str | None = None):
    """The executor the command line asked for; ConfigError naming the option for a bad choice."""
    check_options(executor, workers, threads, scheduler)
    return DaskExecutor(scheduler, threads or 1) if executor == "dask" else LocalExecutor(workers or 1, threads)

