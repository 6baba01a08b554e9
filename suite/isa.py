"""The same bits on every x86-64 CPU with AVX2: each library's run-time kernel choice, capped.

numpy's OpenBLAS, numpy's own loops, torch's MKL and ATen, and XLA (its code generator, oneDNN and
YNNPACK) choose kernels by the CPU they find, so the last bit of a product depends on the CPU, and
EP training amplifies it (docs/method.md §7 has the measurements). Each library reads its cap from
the environment when it loads, so apply() runs when the suite is imported, before any of them, and
spawned workers inherit it. EP_SUITE_ISA=native leaves every library its own choice: faster on some
CPUs, other bits. describe() says what the loaded libraries actually run with; every row records it.
"""
from __future__ import annotations

import os
import sys

OPT_OUT = "EP_SUITE_ISA"  # =native: no caps
CAPS = {
    "OPENBLAS_CORETYPE": "Haswell",  # numpy's BLAS: its AVX2 kernels (SkylakeX's on AVX-512 CPUs)
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy's loops (log10, ...): AVX2 at most
    # torch's BLAS: MKL's other branches (AVX2, even AVX2,STRICT) differ between Intel and AMD on
    # narrow products (N = 10); only COMPATIBLE gives both the same bits.
    "MKL_CBWR": "COMPATIBLE",
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's own vectorised loops
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # XLA's oneDNN products
}
# XLA's generated code at AVX2, and no YNNPACK fusions (YNNPACK picks its kernels by CPU, uncapped).
XLA_CAPS = ("--xla_cpu_max_isa=AVX2", "--xla_cpu_experimental_ynn_fusion_type=")
#: the libraries whose kernels apply() caps: loaded before it, they keep their own choice
CAPPED_AT_LOAD = ("numpy", "torch", "jax")


def native() -> bool:
    return os.environ.get(OPT_OUT, "").lower() == "native"


def apply() -> None:
    """Set the caps in this process's environment, leaving any the user set. Idempotent."""
    if native():
        return
    for name, value in CAPS.items():
        os.environ.setdefault(name, value)
    flags = os.environ.get("XLA_FLAGS", "").split()
    given = {flag.split("=", 1)[0] for flag in flags}
    os.environ["XLA_FLAGS"] = " ".join(flags + [f for f in XLA_CAPS if f.split("=", 1)[0] not in given])


def _openblas_core() -> str:
    from threadpoolctl import threadpool_info
    return next((p.get("architecture", "?") for p in threadpool_info() if p.get("internal_api") == "openblas"), "-")


def _numpy_level() -> str:
    from numpy._core._multiarray_umath import __cpu_features__ as features
    return next((level for level in ("X86_V4", "X86_V3", "X86_V2") if features.get(level)), "baseline")


def describe() -> str:
    """What the loaded libraries run with, e.g. 'caps: openblas Haswell, numpy X86_V3, mkl COMPATIBLE,
    aten AVX2, xla --xla_cpu_max_isa=AVX2 ...' ('native: ...' under the opt-out)."""
    parts = []
    if "numpy" in sys.modules:
        parts += [f"openblas {_openblas_core()}", f"numpy {_numpy_level()}"]
    if "torch" in sys.modules:
        import torch
        parts += [f"mkl {os.environ.get('MKL_CBWR', 'auto')}", f"aten {torch.backends.cpu.get_cpu_capability()}"]
    if "jax" in sys.modules:
        parts += [f"xla {os.environ.get('XLA_FLAGS', '') or 'auto'}",
                  f"onednn {os.environ.get('ONEDNN_MAX_CPU_ISA', 'auto')}"]
    return f"{'native' if native() else 'caps'}: {', '.join(parts)}"
