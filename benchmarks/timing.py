"""Wall-clock benchmarks: relaxation steps, training minibatches and inference, per backend and depth.

Every timed call ends with the backend's sync. Compilation happens in setup (a cached workload),
and is tracked on its own by ``track_compile_seconds``.
"""
import time

from .common import BACKENDS, BATCHES, DEPTHS, MODES, build, workload


class Settings:
    timeout = 180
    repeat = (10, 50, 3.0)  # at least 10 samples, at most 50, stop adding after 3 s
    warmup_time = 0.5
    rounds = 1


class Relaxation(Settings):
    params = (BACKENDS, DEPTHS, BATCHES)
    param_names = ["backend", "depth", "batch"]

    def setup(self, backend, depth, batch):
        self.work = workload(backend, depth, batch)

    def time_relaxation_step(self, backend, depth, batch):
        """One free step s <- clip(s - eps dE/ds, 0, 1) of every layer, with the input drive it needs
        (a relaxation of one step from any state: the general step, not training's in-range one)."""
        self.work.sync(self.work.relax_steps(1))


class Training(Settings):
    params = (BACKENDS, DEPTHS, BATCHES)
    param_names = ["backend", "depth", "batch"]

    def setup(self, backend, depth, batch):
        self.work = workload(backend, depth, batch)

    def time_ep_minibatch(self, backend, depth, batch):
        """One EP minibatch: 20 free steps, 4 nudged steps, the local weight update."""
        self.work.sync(self.work.train_minibatch())


class TrainingChunk(Settings):
    params = (BACKENDS, DEPTHS, BATCHES)
    param_names = ["backend", "depth", "batch"]

    def setup(self, backend, depth, batch):
        self.work = workload(backend, depth, batch)
        if not hasattr(self.work, "train_chunk"):
            raise NotImplementedError("this commit has no chunked path")  # asv: skipped

    def time_ep_chunk_of_20(self, backend, depth, batch):
        """20 EP minibatches in one call: the compiled epoch's path (jax: one lax.scan; numpy and
        torch: a Python loop). Divide by 20 to compare with time_ep_minibatch."""
        self.work.sync(self.work.train_chunk())


class Inference(Settings):
    params = (BACKENDS, DEPTHS, MODES)
    param_names = ["backend", "depth", "mode"]

    def setup(self, backend, depth, mode):
        self.work = workload(backend, depth, algorithm="iep")

    def time_inference_1000(self, backend, depth, mode):
        """One inference mode on a batch of 1,000 inputs."""
        self.work.sync(self.work.infer(mode))


class Compile:
    params = (BACKENDS, DEPTHS)
    param_names = ["backend", "depth"]
    timeout = 180
    unit = "seconds"

    def track_compile_seconds(self, backend, depth):
        """First EP minibatch of a fresh engine (trace, compile, run), batch 20; synced."""
        work = build(backend, depth)
        start = time.perf_counter()
        work.sync(work.train_minibatch())
        return time.perf_counter() - start


class Memory:
    params = (BACKENDS,)
    param_names = ["backend"]
    timeout = 180

    def setup(self, backend):
        self.work = workload(backend, max(DEPTHS), 200)

    def peakmem_ep_minibatch_deepest(self, backend):
        """Peak resident memory around one EP minibatch of the deepest net, batch 200."""
        self.work.sync(self.work.train_minibatch())
