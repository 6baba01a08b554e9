"""JAX backend: jitted functions, lax.fori_loop with a traced step count, jax.grad."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .base import Backend, device_kind

#: add_product updates c by halves above this many elements (1 MiB of float32).
SPLIT_ABOVE = 2 ** 18


class JaxBackend(Backend):
    name = "jax"
    xp = jnp
    grad = staticmethod(jax.grad)

    def __init__(self, dtype: str = "float32", device: str = "auto"):
        super().__init__(dtype)
        platforms = {d.platform for d in jax.devices()} | {"cpu"}
        kind = device_kind(self.name, device, available=tuple(sorted({"cpu", "gpu"} & platforms)))
        if dtype == "float64":
            # Without this flag JAX silently computes float64 requests in float32.
            jax.config.update("jax_enable_x64", True)
        self._device = jax.devices(kind)[0]

    @property
    def device(self) -> str:
        return f"{self._device.platform}:{self._device.id}"

    def _asarray(self, a):
        a = np.asarray(a)
        if a.dtype.kind == "f":
            a = a.astype(self.dtype_name)
        return jax.device_put(a, self._device)  # jax arrays are immutable: never aliased

    def zeros(self, shape):
        # On the chosen device, like every other input: an uncommitted array would make a jitted
        # function compile a second time when its own (committed) output is passed back in.
        return jax.device_put(super().zeros(shape), self._device)

    def index_array(self, idx):
        return jax.device_put(np.asarray(idx, dtype=np.int32), self._device)

    def fori_loop(self, n, body, carry):
        # n may be traced: the step count is data, so changing T never recompiles.
        return jax.lax.fori_loop(0, n, body, carry)

    def scan(self, body, carry, xs):
        # One compiled loop over the leading axis: no Python between iterations.
        return jax.lax.scan(lambda c, x: (body(c, x), None), carry, xs)[0]

    def jit(self, fn, donate_argnums=()):
        return jax.jit(fn, donate_argnums=donate_argnums)

    def compile_ahead(self, fn, *args):
        fn.lower(*args).compile()  # fills the jit's cache: the first real call does not compile
        return True

    def add_product(self, c, a, b):
        # c + a @ b. As one expression XLA builds the whole product in a temporary and adds it in a
        # second pass; written into c's two row halves in turn, c is updated in place. That pays on
        # the input layer's update (784x500 += 784x20 @ 20x500: 0.22 ms, not 0.30). A half may round
        # a last bit otherwise than the whole product (tests/test_backends_agree.py: within 1e-5).
        # Smaller c stay one expression: the deep net's 500x500 layers gained nothing in a whole
        # minibatch, and there XLA fuses the layer's two products in an order the halves round otherwise.
        if c.size <= SPLIT_ABOVE:
            return c + a @ b
        half = c.shape[0] // 2
        for start, stop in ((0, half), (half, c.shape[0])):
            c = jax.lax.dynamic_update_slice(c, c[start:stop] + a[start:stop] @ b, (start, 0))
        return c

    def set_rows(self, a, idx, values):
        return a.at[idx].set(values)

    def sync(self, tree):
        return jax.block_until_ready(tree)

    def describe(self):
        import jaxlib
        return {**super().describe(), "jax": jax.__version__, "jaxlib": jaxlib.__version__}
