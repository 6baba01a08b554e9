"""The NumPy reference backend: plain loops, no compilation, hand-derived gradients."""
from __future__ import annotations

import numpy as np

from .base import Backend


class NumpyBackend(Backend):
    name = "numpy"
    xp = np

    def __init__(self, dtype: str = "float32", device: str = "auto"):
        super().__init__(dtype)
        if device not in ("auto", "cpu"):
            raise ValueError(f"device: {device!r} is not available to numpy; allowed: auto, cpu")

    def _asarray(self, a):
        return np.array(a, dtype=self.dtype_name) if np.asarray(a).dtype.kind == "f" else np.asarray(a)
