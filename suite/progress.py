"""What a person watching runs sees: one line per finished epoch and run, printed by one process in
the order things happen, a time left estimated from the time measured so far (each run's epochs
weighted by their cost), and on a terminal a live bar that moves within epochs."""
from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


def duration(seconds: float) -> str:
    """'45 s', '3.5 min', '2.1 h': short times in seconds, long ones in larger units."""
    if seconds < 100:
        return f"{seconds:.0f} s"
    if seconds < 6000:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Progress of a set of runs, measured in epochs (fractional within an epoch).

    ``work`` maps each run to its number of epochs (at least 1: a run of 0 epochs still evaluates),
    ``cost`` each run to the cost of one of its epochs (default 1 each: epochs counted alike), so that
    the time left weighs a deep net's epoch above a small one's. Runs report with
    ``update(run, epochs_done, message)`` and end with ``done(run, line)``."""

    def __init__(self, work: dict, stream: TextIO | None = None, live: bool | None = None,
                 clock: Callable[[], float] = time.perf_counter, cost: dict | None = None):
        self.work = {run: max(1, epochs) for run, epochs in work.items()}
        self.cost = {run: (cost or {}).get(run, 1.0) for run in self.work}
        self.done_epochs = dict.fromkeys(self.work, 0.0)
        self.resumed = dict.fromkeys(self.work, 0.0)  # done by earlier sweeps: not at this one's rate
        self.stream = stream or sys.stdout
        self.clock, self.start = clock, clock()
        live = self.stream.isatty() if live is None else live
        self.bar = None
        if live:
            from tqdm import tqdm
            self.bar = tqdm(total=sum(self.work.values()), unit="epoch", file=self.stream, dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {n:.1f}/{total} epochs [{elapsed}<{remaining}]")

    @property
    def total(self) -> float:
        return float(sum(self.work.values()))

    def time_left(self) -> float | None:
        """Seconds left at the rate this sweep has measured in cost per second (epochs resumed from
        checkpoints left out); None before anything was measured."""
        def weighed(epochs: dict) -> float:
            return sum(self.cost[run] * n for run, n in epochs.items())
        done = weighed(self.done_epochs)
        done_here = done - weighed(self.resumed)
        return self.elapsed() * (weighed(self.work) - done) / done_here if done_here > 0 else None

    def elapsed(self) -> float:
        return self.clock() - self.start

    def timing(self) -> str:
        """'12 s so far, about 40 s left'."""
        left = self.time_left()
        return f"{duration(self.elapsed())} so far" + (f", about {duration(left)} left" if left is not None else "")

    def print(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def update(self, run, epochs_done: float, message: str = "", resumed: bool = False) -> None:
        """resumed: the run starts at epochs_done, trained by an earlier sweep."""
        if resumed:
            self.resumed[run] = min(epochs_done, self.work[run])
        self._advance(run, min(epochs_done, self.work[run]))
        if message:
            self.print(message)

    def done(self, run, line: str) -> None:
        """The run has ended (finished, diverged or skipped): all its work counts as done."""
        self._advance(run, self.work[run])
        self.print(f"{line} ({self.timing()})")

    def _advance(self, run, epochs_done: float) -> None:
        step = epochs_done - self.done_epochs[run]
        if step > 0:
            self.done_epochs[run] = epochs_done
            if self.bar is not None:
                self.bar.update(step)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
