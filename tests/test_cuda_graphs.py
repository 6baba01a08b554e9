"""torch's CUDA-graph path (backends.get('torch', cuda_graphs=True)): the replay logic on any machine,
the graphs themselves where a GPU is present."""
import numpy as np
import pytest

from conftest import Problem
from suite.algorithms.energy import InRange, Pull, constants

torch = pytest.importorskip("torch")
import backends  # noqa: E402
from backends.inplace import InPlaceRelaxer, affine_factors, affine_step  # noqa: E402
from backends.torch_backend import GraphedRelaxer  # noqa: E402

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")


def _problem(bk, seed):
    p = Problem(seed=seed, sizes=(9, 6, 5, 4, 3))
    params, x, s0, y, f = bk.asarray((p.params, p.x, p.s0, p.y, p.s1))
    return InRange(params, constants(params, x, bk.transpose), 0.5, 0.7, y, Pull(0.3, f), 0.9), s0


def _coefficients(bk, problem, n_layers):
    return affine_step(bk, problem, affine_factors(bk, problem, n_layers))


def test_a_replayed_relaxation_uses_each_calls_coefficients_and_start():
    """Static buffers and coefficients: a replay ('capture' here runs the function again, as a graph
    replays its kernels on the same memory) must see each call's weights, start and step count, and
    hand back states that a later call does not overwrite."""
    bk = backends.get("torch", "float64")
    first, start = _problem(bk, seed=1)
    shapes = [s.shape for s in start]
    graphed = GraphedRelaxer(InPlaceRelaxer(bk, shapes), _coefficients(bk, first, len(start)), capture=lambda fn: fn)
    results = []
    for seed, steps in ((2, 7), (3, 4), (1, 1)):
        problem, s0 = _problem(bk, seed)
        coeff = _coefficients(bk, problem, len(s0))
        want = InPlaceRelaxer(bk, shapes).run(steps, coeff, s0)
        got = graphed.run(steps, coeff, s0)
        results.append((got, want))
    for got, want in results:  # checked after every call: nothing returned was overwritten
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_graphs_without_a_gpu_are_refused():
    with pytest.raises(backends.BackendOptionError, match="cuda_graphs: needs a GPU, and this torch backend runs "
                                                          "on the cpu"):
        backends.get("torch", cuda_graphs=True)


@needs_gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_graphs_relax_as_numpy_does(dtype):
    """On a GPU: relaxations replayed from graphs (several shapes, odd and even step counts, free and
    nudged) equal the NumPy reference."""
    from suite.engine import Engine
    graphed, reference = Engine(backends.get("torch", dtype, "gpu", cuda_graphs=True)), Engine("numpy", dtype)
    tol = {"float32": 1e-5, "float64": 1e-10}[dtype]
    for seed, (sizes, batch) in enumerate((((12, 10, 8, 5), 7), ((12, 10, 5), 7), ((12, 10, 8, 5), 3))):
        p = Problem(seed=seed, sizes=sizes, batch=batch)
        for steps, nudging in ((50, {}), (7, dict(beta=0.7, y=p.y, lam=0.3, f=p.s1))):
            got = graphed.relax(p.params, p.x, p.s0, steps, **nudging)
            want = reference.relax(p.params, p.x, p.s0, steps, **nudging)
            for a, b in zip(got, want):
                np.testing.assert_allclose(a, b, rtol=0, atol=tol)


@needs_gpu
def test_cuda_graphs_train_as_eager_torch_does():
    """On a GPU: 30 EP minibatches of the deep benchmark net (float32), graphed and eager."""
    from suite.workload import NETS, Workload
    eager, graphed = (Workload(spec, NETS[3], batch=20, T_neg=11, T_pos=3) for spec in ("torch", "torch+graphs"))
    for _ in range(30):
        eager.train_minibatch(), graphed.train_minibatch()
    weights = [w.backend.to_numpy(w.model.energy.weights) for w in (eager, graphed)]
    for a, b in zip(*weights):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)
