"""The faster paths compute what the plain ones do: a chunk of minibatches in one call equals the
same minibatches one by one, and the speed yardstick (autograd per step) is EP itself."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backends import tree_map
from conftest import AVAILABLE, Problem
from suite.algorithms.ep import EPHyper
from suite.algorithms.inference import Model
from suite.config import RunConfig
from suite.engine import Engine, TrainState, glorot_layers, static_options, train_chunk, train_step
from suite.run import chunk_length

ROOT = Path(__file__).resolve().parent.parent


def flat(tree):
    leaves = []
    tree_map(lambda a: leaves.append(np.ravel(np.asarray(a, dtype=np.float64))), tree)
    return np.concatenate(leaves)


@pytest.mark.parametrize("name", AVAILABLE)
@pytest.mark.parametrize("algorithm", ["ep", "iep", "bp"])
def test_a_chunk_equals_its_minibatches_one_by_one(name, algorithm):
    engine = Engine(name, "float64")
    bk, rng = engine.backend, np.random.default_rng(0)
    sizes, batch, k = (12, 10, 8, 5), 4, 6
    model = Model(glorot_layers(rng, sizes) if algorithm != "bp" else None,
                  glorot_layers(rng, sizes) if algorithm != "ep" else None)
    X, Y = rng.random((30, sizes[0])), np.eye(sizes[-1])[rng.integers(0, sizes[-1], 30)]
    idx, signs = rng.permutation(30)[:k * batch].reshape(k, batch), rng.choice((-1.0, 1.0), k)
    hp, lam = EPHyper(0.5, 0.4, 7, 3, (0.1, 0.05, 0.02)), 0.3 if algorithm == "iep" else 0.0
    static = static_options(RunConfig(algorithm=algorithm, sizes=sizes, lrs=hp.lrs))
    step, chunk = engine.compiled(train_step, **static), engine.compiled(train_chunk, **static)
    X, Y = bk.asarray(X), bk.asarray(Y)
    one_by_one = bk.asarray(TrainState(model, None))
    for i in range(k):
        one_by_one = step(one_by_one, X, Y, bk.index_array(idx[i]), float(signs[i]), hp, lam)
    chunked = chunk(bk.asarray(TrainState(model, None)), X, Y, bk.index_array(idx), bk.asarray(signs), hp, lam)
    want, got = flat(bk.to_numpy(one_by_one.model)), flat(bk.to_numpy(chunked.model))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.max(np.abs(want - flat(model))) > 1e-3  # six minibatches of training moved the weights


def test_chunks_have_one_shape():
    assert [chunk_length(n) for n in (2500, 500, 20, 7, 101, 1)] == [100, 100, 20, 7, 1, 1]


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_the_autograd_yardstick_is_ep(sign):
    """suite.autograd_ep (autograd of the energy at every step) trains as the suite's EP does."""
    torch = pytest.importorskip("torch")
    from suite.autograd_ep import AutogradEP
    p = Problem()
    hp = EPHyper(0.5, 0.4, 25, 5, p.lrs)
    reference = AutogradEP(p.params.weights, p.params.biases, hp.eps, hp.beta, hp.T_neg, hp.T_pos, hp.lrs,
                           dtype=torch.float64)
    reference.train_step(torch.tensor(p.x), torch.tensor(p.y), sign)
    engine = Engine("numpy", "float64")
    step = engine.compiled(train_step, **static_options(RunConfig()))
    state = step(TrainState(Model(p.params, None), None), p.x, p.y, np.arange(len(p.x)), sign, hp, 0.0)
    got = [t.detach().numpy() for t in reference.weights + reference.biases]
    np.testing.assert_allclose(flat(got), flat(state.model.energy), rtol=0, atol=1e-12)
    assert np.max(np.abs(flat(got) - flat(p.params))) > 1e-4


def test_the_speed_record_has_every_backend_path_and_the_reference(tmp_path):
    """python -m suite.speed on tiny nets, one round: its table and markdown, with provenance."""
    pytest.importorskip("torch")
    import pandas as pd

    # In a process of its own: the record pins its process to one core.
    script = ("from suite import speed; speed.SPEED_NETS = {1: ((20, 16, 10), 3, 2), 2: ((20, 16, 16, 10), 4, 2)}; "
              f"speed.main(['--repeats', '1', '--out', {str(tmp_path)!r}])")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    table = pd.read_parquet(tmp_path / "speed.parquet")
    assert len(table) == 2 * (2 * len(AVAILABLE) + 1)  # per net: every backend's two paths, the reference
    assert set(table["path"]) == {"minibatch", "chunk", "autograd per step"}
    assert (table["ms_per_minibatch"] > 0).all() and (table["roofline_fraction"] > 0).all()
    assert (table.loc[table["backend"] == "reference", "x_reference"] == 1).all()
    assert (table["threads"] == 1).all() and table["git_commit"].str.len().min() == 40
    text = (tmp_path / "speed.md").read_text()
    assert "| 20-16-16-10 |" in text and "autograd per step" in text and "numpy 2." in text
    assert "caps: openblas Haswell" in text and "What the kernel caps cost" not in text

    # --against-native adds rows of another kernel setting: the record shows each path's cost of the caps
    from suite import speed
    uncapped = table.assign(isa="native: openblas SkylakeX", ms_per_minibatch=table["ms_per_minibatch"] / 2)
    text = speed.markdown(pd.concat([table, uncapped], ignore_index=True))
    assert text.count("autograd per step") == 2 * 3 and "Kernels: native: openblas SkylakeX" in text  # 2 nets, 3 tables
    assert "## With the kernel caps" in text and "## Native kernels" in text
    assert text.split("What the kernel caps cost")[1].count("+100 |") == len(table)


def test_the_uncapped_child_runs_with_every_library_choosing_its_kernels(monkeypatch):
    """--against-native's second process: none of the caps in its environment, and the suite sets none."""
    from suite import isa, speed
    environ = {name: value for name, value in os.environ.items() if name != isa.OPT_OUT}
    monkeypatch.setattr(os, "environ", {**environ, "XLA_FLAGS": "--xla_dump_to=/tmp/x"})  # a user's flag stays
    isa.apply()  # as importing the suite does
    assert os.environ["OPENBLAS_CORETYPE"] == "Haswell"
    env = speed.uncapped_environment()
    assert not set(isa.CAPS) & set(env) and env["XLA_FLAGS"] == "--xla_dump_to=/tmp/x"
    script = "import os, numpy; from suite import isa; print(isa.describe(), os.environ.get('OPENBLAS_CORETYPE'))"
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("native: openblas") and done.stdout.split()[-1] == "None", done.stderr


@pytest.mark.parametrize("option, value", [("--repeats", "0"), ("--threads", "0"), ("--batch", "-3"), ("--batch", "x")])
def test_the_speed_record_refuses_counts_below_one(tmp_path, capsys, option, value):
    from suite import speed
    with pytest.raises(SystemExit) as done:
        speed.main([option, value, "--out", str(tmp_path)])
    assert done.value.code == 2
    assert f"{option}: {value!r} is not allowed; give a whole number >= 1" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
