"""The Backend: everything that differs between array libraries, and nothing else.

The algorithms (suite.algorithms) are written once against ``backend.xp``, an array-API namespace,
and ask the backend only for what the namespace cannot say: how a loop of T steps runs, how a
function is compiled, autodiff, device placement, and the sync that ends a timed region.
"""
from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

DTYPES = ("float32", "float64")
#: One device vocabulary for every backend; "cuda" is accepted as a synonym of "gpu".
DEVICES = ("auto", "cpu", "gpu")
DEVICE_SYNONYMS = {"cuda": "gpu"}


class BackendOptionError(ValueError):
    """A backend option (dtype, device, ...) is not allowed or not available on this machine."""


def device_kind(backend: str, device: str, available: tuple[str, ...]) -> str:
    """'cpu' or 'gpu' for a requested device name, given the kinds this machine offers the backend."""
    kind = DEVICE_SYNONYMS.get(device, device)
    if kind not in DEVICES:
        raise BackendOptionError(f"device: {device!r} is not allowed; choose one of {', '.join(DEVICES)} "
                                 "('cuda' is a synonym of 'gpu')")
    if kind == "auto":
        return "gpu" if "gpu" in available else "cpu"
    if kind not in available:
        raise BackendOptionError(f"device: {device!r} was asked for, but {backend} finds no GPU on this "
                                 f"machine; it has: {', '.join(available)}")
    return kind


def tree_map(fn: Callable, tree: Any) -> Any:
    """Apply fn to every array leaf of nested tuples, lists and NamedTuples; None stays None."""
    if tree is None:
        return None
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):  # NamedTuple
        return type(tree)(*(tree_map(fn, t) for t in tree))
    if isinstance(tree, (tuple, list)):
        return type(tree)(tree_map(fn, t) for t in tree)
    return fn(tree)


class Backend:
    """Base class; subclasses set ``name``, ``xp`` and override what their library does differently."""

    name: str
    xp: Any
    #: f(fn) -> gradient function of a scalar fn, or None when the library has no autodiff.
    grad: Callable | None = None

    def __init__(self, dtype: str = "float32"):
        if dtype not in DTYPES:
            raise BackendOptionError(f"dtype: {dtype!r} is not allowed; choose one of {', '.join(DTYPES)}")
        self.dtype_name = dtype

    # -- data in and out -------------------------------------------------------------------
    def asarray(self, tree: Any) -> Any:
        """NumPy arrays (any nesting) -> this backend's arrays on its device, in its dtype. Always a
        copy: nothing the backend later updates in place shares memory with the caller's arrays."""
        return tree_map(self._asarray, tree)

    def to_numpy(self, tree: Any) -> Any:
        """This backend's arrays -> NumPy arrays; may share memory with them (no copy on a CPU)."""
        return tree_map(lambda a: np.asarray(a), tree)

    def index_array(self, idx: np.ndarray) -> Any:
        """Integer indices (for gathering minibatches on the device)."""
        return self.xp.asarray(idx)

    # -- execution -------------------------------------------------------------------------
    def fori_loop(self, n: Any, body: Callable, carry: Any) -> Any:
        """carry = body(i, carry) for i in range(n)."""
        for i in range(int(n)):
            carry = body(i, carry)
        return carry

    def relax_in_range(self, n: Any, body: Callable, carry: Any, problem: Any) -> Any:
        """n steps of the in-range relaxation: carry = body(i, carry). `problem` describes the step
        (suite.algorithms.energy.InRange) for a backend that overrides this with a fused form."""
        return self.fori_loop(n, body, carry)

    def scan(self, body: Callable, carry: Any, xs: tuple) -> Any:
        """carry = body(carry, x) for each x = tuple(a[i] for a in xs), i along the first axis."""
        for i in range(len(xs[0])):
            carry = body(carry, tuple(a[i] for a in xs))
        return carry

    def jit(self, fn: Callable, donate_argnums: tuple[int, ...] = ()) -> Callable:
        """Compile fn where the library can; plain fn otherwise. Donated arguments may be reused
        for the outputs (the caller must not use them afterwards)."""
        return fn

    def compile_ahead(self, fn: Callable, *args) -> bool:
        """Compile fn for these arguments without running it (a later call with arguments of the
        same shapes reuses it); False where the library does not compile ahead."""
        return False

    def sync(self, tree: Any) -> Any:
        """Block until every array in tree is computed; ends every timed region."""
        return tree

    def zeros(self, shape: tuple[int, ...]) -> Any:
        return self.xp.zeros(shape, dtype=getattr(self.xp, self.dtype_name))

    def add_product(self, c: Any, a: Any, b: Any) -> Any:
        """c + a @ b. A backend may compute it in place in c (NumPy, torch: no temporary of c's
        size), so c must be the caller's to give away: a donated training state, or a copy."""
        c += a @ b
        return c

    def transpose(self, a: Any) -> Any:
        """a.T, laid out for fast matrix products (where the library cares)."""
        return a.T

    def take_rows(self, a: Any, idx: Any) -> Any:
        return self.xp.take(a, idx, axis=0)

    def set_rows(self, a: Any, idx: Any, values: Any) -> Any:
        """a with a[idx] = values; may update a in place where the library allows it."""
        a[idx] = values
        return a

    # -- provenance ------------------------------------------------------------------------
    @property
    def device(self) -> str:
        return "cpu"

    def describe(self) -> dict[str, Any]:
        """Versions, device and threads: recorded next to every timing."""
        return {"backend": self.name, "device": self.device, "dtype": self.dtype_name,
                "threads": self.threads(), "numpy": np.__version__}

    def threads(self) -> int:
        try:
            from threadpoolctl import threadpool_info
            counts = [p["num_threads"] for p in threadpool_info()]
            return max(counts) if counts else os.cpu_count() or 1
        except ImportError:
            return os.cpu_count() or 1
