"""What the asv benchmarks share: parameter grids, and warmed-up workloads built once per process.

asv re-runs a benchmark's ``setup`` before every timed call, so setup only fetches a workload that
was built and compiled the first time it was asked for: compilation never lands in a sample.
"""
import functools

BACKENDS = ["numpy", "torch", "jax"]
DEPTHS = [1, 3]
BATCHES = [20, 200]
MODES = ["relax@20", "ff", "ff+relax@20"]


def build(backend, depth, batch=20, algorithm="ep"):
    """A fresh suite.workload.Workload, not yet compiled; NotImplementedError (asv: skipped) when
    the backend is not installed."""
    from backends import BackendUnavailable
    from suite.workload import NETS, Workload

    try:
        return Workload(backend, NETS[depth], batch, algorithm=algorithm)
    except BackendUnavailable as err:
        raise NotImplementedError(str(err)) from None


@functools.lru_cache(maxsize=None)
def workload(backend, depth, batch=20, algorithm="ep"):
    """A compiled, warmed-up workload, built once per process."""
    work = build(backend, depth, batch, algorithm)
    work.warm_up(MODES if algorithm == "iep" else ())
    if hasattr(work, "warm_up_chunk"):  # commits before the chunked path have none
        work.warm_up_chunk()
    return work
