"""asv benchmarks. Every library runs one thread, on one core, as in the speed record: on a shared
2-core machine the thread pools one backend leaves spinning (OpenBLAS, OpenMP, XLA) slowed the next
one timed in the same process, so torch's small-net minibatch read 1.3, 2.1 and 3.3 ms on the same
code. Set here, before any benchmark imports a library; written out rather than taken from the
suite, whose code is the commit under test and may not have it."""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
if hasattr(os, "sched_setaffinity"):  # XLA sizes its thread pool from the cores it may run on
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1])

import suite  # noqa: E402,F401  the commit's kernel caps (suite/isa.py, where it has them), before any library loads
