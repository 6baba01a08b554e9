"""PyTorch backend: eager ops under no_grad, CUDA when present, torch.func for autodiff."""
from __future__ import annotations

import functools

import array_api_compat.torch as xp_torch
import numpy as np
import torch

from .base import Backend, device_kind, tree_map


class TorchBackend(Backend):
    """compile=True wraps every compiled function in torch.compile: measured in suite.speed as
    1.4-2x faster per EP minibatch on CPU, but 15-70 s to compile each (shape, T), so off by default."""
    name = "torch"
    xp = xp_torch

    def __init__(self, dtype: str = "float32", device: str = "auto", compile: bool = False):
        super().__init__(dtype)
        self.compile = compile
        available = ("cpu", "gpu") if torch.cuda.is_available() else ("cpu",)
        kind = device_kind(self.name, device, available)
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

    @staticmethod
    def grad(fn):
        return torch.func.grad(fn)

    def zeros(self, shape):
        return torch.zeros(shape, dtype=self._dtype, device=self._device)

    def take_rows(self, a, idx):
        return a[idx]

    def sync(self, tree):
        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)
        return tree

    def describe(self):
        return {**super().describe(), "torch": torch.__version__, "torch_compile": self.compile}

    def threads(self) -> int:
        return torch.get_num_threads()
