"""Array-library backends behind one interface: ``backends.get("numpy" | "torch" | "jax")``."""
from __future__ import annotations

import importlib

from .base import DEVICES, DTYPES, Backend, BackendOptionError, tree_map

#: name -> (module, class, the pip requirement that provides the library)
_REGISTRY = {
    "numpy": ("numpy_backend", "NumpyBackend", "numpy"),
    "torch": ("torch_backend", "TorchBackend", "torch==2.13.0"),
    "jax": ("jax_backend", "JaxBackend", "jax"),
}
NAMES = tuple(_REGISTRY)


def module_name(name: str) -> str:
    """The module of this package that implements the backend (a run's code fingerprint hashes it)."""
    return _REGISTRY[name][0]


class BackendUnavailable(ImportError):
    """The backend is known but its library is not installed."""


def get(name: str, dtype: str = "float32", device: str = "auto", **options) -> Backend:
    """A ready backend. Unknown names and missing libraries raise errors that say what to do.
    options go to the backend's constructor (torch: compile=True)."""
    if name not in _REGISTRY:
        raise BackendOptionError(f"backend: {name!r} is unknown; choose one of {', '.join(NAMES)}")
    module, cls, requirement = _REGISTRY[name]
    try:
        mod = importlib.import_module(f".{module}", __name__)
    except ImportError as err:
        raise BackendUnavailable(
            f"backend {name!r} needs a library that is not installed ({err.name}); "
            f"install it with: python -m pip install '{requirement}'") from err
    return getattr(mod, cls)(dtype=dtype, device=device, **options)


__all__ = ["Backend", "BackendOptionError", "BackendUnavailable", "DEVICES", "DTYPES", "NAMES", "get", "module_name",
           "tree_map"]
