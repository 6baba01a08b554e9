"""Tracked numbers that are not wall-clock times: accuracy after a short fixed training, the
multiply-adds of each inference mode, and how far the relaxation is from the GEMM roofline.

asv treats every number as lower-is-better, so each is written that way.
"""
import statistics
import time

from .common import BACKENDS, DEPTHS, MODES, workload


def algorithms() -> list[str]:
    """Every algorithm declared in this checkout's suite/algorithms/ (a module's `ALGORITHM =
    Algorithm(name=...)`), read from the source so that every commit asv measures gets the same
    grid; a commit without one of them skips it. A new algorithm is tracked with no change here."""
    import ast
    from pathlib import Path

    names = []
    for path in sorted((Path(__file__).resolve().parent.parent / "suite" / "algorithms").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == ["ALGORITHM"]:
                names += [k.value.value for k in node.value.keywords if k.arg == "name"]
    return names


ALGORITHMS = algorithms()
#: A short deterministic training per algorithm: the paper's 784-500-10 net, the first 10,000 MNIST
#: training images, one epoch, seed 0, each algorithm's defaults (T_neg 20); IEP with the 4-step
#: budget and a pull of 1.
SHORT_TRAINING = {"iep": {"T_neg": 4, "lam": 1.0}}


def short_training_error(algorithm, backend):
    """Test error (first 2,000 test images) of the algorithm's first inference mode; None when
    the backend or MNIST is not installed, or the algorithm cannot run there (bptt on numpy, an
    algorithm a commit does not have)."""
    from backends import BackendUnavailable
    from suite.config import ConfigError, RunConfig
    from suite.data import DataError
    from suite.run import train_and_evaluate

    try:
        cfg = RunConfig(algorithm=algorithm, backend=backend, dataset="mnist", train_size=10_000,
                        eval_size=2000, epochs=1, seed=0, **SHORT_TRAINING.get(algorithm, {}))
        rows = train_and_evaluate(cfg).rows
    except (BackendUnavailable, DataError, ConfigError):
        return None
    return next(r["error"] for r in rows
                if r["epoch"] == 1 and r["split"] == "test" and r["mode"] == cfg.eval_modes[0])


class Accuracy:
    params = (ALGORITHMS, BACKENDS)
    param_names = ["algorithm", "backend"]
    unit = "test error (fraction)"
    timeout = 600

    def setup_cache(self):
        return {(a, b): short_training_error(a, b) for a in ALGORITHMS for b in BACKENDS}

    setup_cache.timeout = 600

    def setup(self, errors, algorithm, backend):
        if errors[algorithm, backend] is None:  # asv: skipped, not failed
            raise NotImplementedError(f"{backend} or MNIST is not installed, or {algorithm} cannot run there")

    def track_test_error_after_short_training(self, errors, algorithm, backend):
        return errors[algorithm, backend]


class Cost:
    params = (DEPTHS, MODES)
    param_names = ["depth", "mode"]
    unit = "multiply-adds per sample"

    def track_multiply_adds(self, depth, mode):
        from suite.algorithms.inference import multiply_adds, parse_mode
        from suite.workload import NETS

        return multiply_adds(NETS[depth], parse_mode(mode))


class Roofline:
    """Seconds of a 20-step free relaxation (batch 20) divided by the seconds its matrix products
    take as plain GEMM calls: 1.0 is the roofline, and 1 / value the fraction of it reached."""
    params = (BACKENDS, DEPTHS)
    param_names = ["backend", "depth"]
    unit = "x GEMM roofline"
    timeout = 300
    steps, repeats = 20, 7

    def setup(self, backend, depth):
        self.work = workload(backend, depth)

    def track_relaxation_over_roofline(self, backend, depth):
        from suite.speed import relaxation_gemms, roofline_seconds

        times = []
        for _ in range(self.repeats):
            start = time.perf_counter()
            self.work.sync(self.work.relax_steps(self.steps))
            times.append(time.perf_counter() - start)
        roofline = roofline_seconds(relaxation_gemms(self.work.sizes, self.work.batch, self.steps),
                                    self.repeats)
        return statistics.median(times) / roofline
