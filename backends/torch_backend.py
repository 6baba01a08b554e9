"""PyTorch backend: eager ops under no_grad, CUDA when present, torch.func for autodiff."""
from __future__ import annotations

import functools

import array_api_compat.torch as xp_torch
import numpy as np
import torch

from .base import Backend, BackendOptionError, device_kind, tree_map
from .inplace import AffineStep, InPlaceRelaxer, affine_factors, affine_step


def cuda_graph(fn):
    """fn captured in a CUDA graph, as a function that replays it. fn must only write into tensors
    that outlive the graph (it is replayed on the same memory, with whatever those tensors hold)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up outside the capture: cuBLAS sets up its handles and workspace
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


class GraphedRelaxer:
    """InPlaceRelaxer replayed from captured graphs: two steps are one launch instead of about 4L
    kernel launches each, which at batch 20 is what a GPU step costs. The buffers and coefficients are
    static; each call copies its coefficients and start into them, and returns copies of the result."""

    def __init__(self, relaxer: InPlaceRelaxer, coeff: AffineStep, capture=cuda_graph):
        self.relaxer = relaxer
        self.coeff = tree_map(torch.clone, coeff)  # clone keeps the strides (column-major factors)
        self.two_steps = capture(lambda: (relaxer.step(0, 1, self.coeff), relaxer.step(1, 0, self.coeff)))
        self.one_step = capture(lambda: relaxer.step(0, 1, self.coeff))

    def run(self, n: int, coeff: AffineStep, carry) -> tuple:
        for statics, news in zip(self.coeff, coeff):
            for static, new in zip(statics, news):
                static.copy_(new)
        self.relaxer.load(carry)
        for _ in range(n // 2):
            self.two_steps()
        if n % 2:
            self.one_step()
        return tuple(s.clone() for s in self.relaxer.states[n % 2])


class TorchBackend(Backend):
    """compile=True wraps every compiled function in torch.compile, off by default: in suite.speed on
    one CPU core, 1.16x faster per EP minibatch than this eager path on 784-500-10 but 0.75x on the
    deep net, and 17-19 s to compile each (shape, T).
    cuda_graphs=True (a GPU only) replays every in-range relaxation from CUDA graphs, captured once
    per shape."""
    name = "torch"
    xp = xp_torch

    def __init__(self, dtype: str = "float32", device: str = "auto", compile: bool = False,
                 cuda_graphs: bool = False):
        super().__init__(dtype)
        self.compile = compile
        available = ("cpu", "gpu") if torch.cuda.is_available() else ("cpu",)
        kind = device_kind(self.name, device, available)
        if cuda_graphs and kind != "gpu":
            raise BackendOptionError(f"cuda_graphs: needs a GPU, and this torch backend runs on the {kind} "
                                     "(device='gpu' on a machine with CUDA)")
        self.cuda_graphs = cuda_graphs
        self._graphed: dict = {}  # GraphedRelaxer per (state shapes, coefficient shapes)
        self._factors = None  # (Constants, eps, affine factors) of the last relaxation
        self._device = torch.device("cuda" if kind == "gpu" else "cpu")
        self._dtype = getattr(torch, dtype)

    @property
    def device(self) -> str:
        return str(self._device)

    def _asarray(self, a):
        a = np.asarray(a)
        dtype = self._dtype if a.dtype.kind == "f" else None
        # torch.tensor copies (torch.as_tensor would share a CPU array's memory): set_rows updates
        # buffers in place, and must never write into arrays the caller still holds.
        return torch.tensor(a, dtype=dtype, device=self._device)

    def to_numpy(self, tree):
        return tree_map(lambda t: t.detach().cpu().numpy(), tree)

    def index_array(self, idx):
        return torch.tensor(idx, device=self._device)

    def jit(self, fn, donate_argnums=()):
        # Eager execution without autograd's bookkeeping; torch.func.grad inside still works.
        @functools.wraps(fn)
        def no_grad_fn(*args, **kwargs):
            with torch.no_grad():
                return fn(*args, **kwargs)
        return torch.compile(no_grad_fn, dynamic=False) if self.compile else no_grad_fn

    def relax_in_range(self, n, body, carry, problem):
        """In place (backends/inplace.py): torch eager at batch 20 is bound by dispatch, and this
        step dispatches three operations per layer where the generic one dispatches about ten."""
        n = int(n)
        if n == 0:
            return carry
        coeff = affine_step(self, problem, self.factors(problem, len(carry)))
        return self.relaxer([s.shape for s in carry], coeff).run(n, coeff, carry)

    def factors(self, problem, n_layers: int) -> list:
        """affine_factors, built once per Constants and eps: EP's phases share one Constants per
        minibatch (its weights do not change until the update), so the nudged phase reuses the free
        phase's factors instead of stacking 1-2 MB of weights again (deep net: about 1 ms a minibatch).
        The Constants is held, so a later one is never mistaken for it."""
        if self._factors is None or self._factors[0] is not problem.const or self._factors[1] is not problem.eps:
            self._factors = (problem.const, problem.eps, affine_factors(self, problem, n_layers))
        return self._factors[2]

    def relaxer(self, shapes, coeff: AffineStep):
        """Fresh buffers for each relaxation (the states returned are the caller's to keep), or with
        cuda_graphs the graphed relaxer of these shapes (it returns copies)."""
        if not self.cuda_graphs:
            return InPlaceRelaxer(self, shapes)
        key = (tuple(shapes), tuple(tuple(t.shape) for group in coeff for t in group))
        if key not in self._graphed:
            self._graphed[key] = GraphedRelaxer(InPlaceRelaxer(self, shapes), coeff)
        return self._graphed[key]

    # -- what InPlaceRelaxer and affine_step ask of a backend --------------------------------
    def scalar(self, value):
        return torch.as_tensor(value, dtype=self._dtype, device=self._device)

    def column_major(self, a):
        return a.t().contiguous().t()

    def product_into(self, out, k, a, m):
        torch.addmm(k, a, m, out=out)

    def add_scaled_and_clip(self, out, s, a):
        out.addcmul_(s, a).clamp_(0.0, 1.0)

    @staticmethod
    def grad(fn):
        return torch.func.grad(fn)

    def add_product(self, c, a, b):
        return c.addmm_(a, b)  # one fused call, no temporary (784x500 += 784x20 @ 20x500: 0.2 ms, not 0.33)

    def zeros(self, shape):
        return torch.zeros(shape, dtype=self._dtype, device=self._device)

    def take_rows(self, a, idx):
        return a[idx]

    def sync(self, tree):
        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)
        return tree

    def describe(self):
        return {**super().describe(), "torch": torch.__version__, "torch_compile": self.compile,
                "cuda_graphs": self.cuda_graphs}

    def threads(self) -> int:
        return torch.get_num_threads()
