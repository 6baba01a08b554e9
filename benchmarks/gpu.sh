#!/usr/bin/env bash
# The checks that need a GPU, in one go, for a machine with CUDA builds of torch and jax (no installs,
# no network): run from the repository root, `bash benchmarks/gpu.sh [OUT]`.
#   1. the agreement tests, with torch and jax on the GPU, and the CUDA-graph tests;
#   2. the speed record on the GPU (eager torch, torch replaying CUDA graphs, jax) into OUT
#      (default results/speed-gpu).
# Pure-Python dependencies the image may lack (array-api-compat, tabulate, threadpoolctl, tqdm) are
# installed from ./wheels when that folder exists: pip download -d wheels --no-deps array-api-compat tabulate threadpoolctl tqdm
set -euo pipefail
out=${1:-results/speed-gpu}
if [ -d wheels ]; then python -m pip install -q --no-index --no-deps wheels/*.whl; fi
python - <<'PY'
import torch, jax
assert torch.cuda.is_available(), "torch sees no GPU"
assert any(d.platform == "gpu" for d in jax.devices()), f"jax sees no GPU: {jax.devices()}"
print(torch.cuda.get_device_name(), torch.__version__, jax.__version__)
PY
export PYTHONPATH=.
# addopts cleared: the image has no pytest-benchmark; -m keeps the slow tests out.
python -m pytest -q -o addopts= -m "not slow" -p no:cacheprovider \
    tests/test_backends_agree.py tests/test_cuda_graphs.py tests/test_ep_math.py
python -m suite.speed --backends torch torch+graphs jax --repeats 5 --out "$out"
