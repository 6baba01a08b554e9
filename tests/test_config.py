"""Bad input is refused with a message that names the field, the value and what is allowed."""
import dataclasses
from pathlib import Path

import pytest

import backends
from conftest import AVAILABLE, FRAMEWORKS
from suite import data
from suite.cli import main
from suite.config import ConfigError, RunConfig, field_doc
from suite.run import check_fits

BAD = [
    (dict(backend="tensorflow"), "backend: 'tensorflow' is not allowed; choose one of numpy, torch, jax"),
    (dict(algorithm="hebb"), "algorithm: 'hebb' is not allowed; choose one of bp, bptt, contrastive, coupled, ep, iep"),
    (dict(dataset="cifar"), "dataset: 'cifar' is not allowed; choose one of mnist, fashion-mnist, synthetic"),
    (dict(T_neg=-1), "T_neg: -1 is not allowed; must be a whole number >= 0"),
    (dict(T_pos=2.5), "T_pos: 2.5 is not allowed; must be a whole number >= 0"),
    (dict(beta=0.0), "beta: 0.0 is not allowed; must be a finite number > 0"),
    (dict(algorithm="iep", lam=-0.1), "lam: -0.1 is not allowed; must be a finite number >= 0"),
    (dict(lam=0.5), "lam: 0.5 is not allowed; algorithm 'ep' does not read it: use it with 'iep' only"),
    (dict(lrs=(0.1,)), "lrs: (0.1,) is not allowed; need one learning rate per layer of weights: 2"),
    (dict(sizes=(784, 10)), "sizes: (784, 10) is not allowed; need at least [inputs, hidden, outputs]"),
    (dict(init="forward"), "init: 'forward' is not allowed; choose one of zeros, persistent"),
    (dict(eval_modes=("relax@x",)), "eval_modes: inference mode: 'relax@x' is not allowed"),
    (dict(eval_modes=("ff",)), "eval_modes: 'ff' is not allowed; algorithm 'ep' supports relax"),
    (dict(dtype="float16"), "dtype: 'float16' is not allowed; choose one of float32, float64"),
    (dict(batch_size=0), "batch_size: 0 is not allowed; must be a whole number >= 1"),
    (dict(kappa=-1.0), "kappa: -1.0 is not allowed; must be a finite number >= 0"),
    # inf is refused wherever NaN is: it passed validation and failed later with a traceback
    (dict(eps=float("inf")), "eps: inf is not allowed; must be a finite number > 0"),
    (dict(beta=float("inf")), "beta: inf is not allowed; must be a finite number > 0"),
    (dict(algorithm="iep", lam=float("inf")), "lam: inf is not allowed; must be a finite number >= 0"),
    (dict(kappa=float("inf")), "kappa: inf is not allowed; must be a finite number >= 0"),
    (dict(lrs=(0.1, float("inf"))), "lrs: (0.1, inf) is not allowed; every learning rate must be a finite number > 0"),
    (dict(beta=float("nan")), "beta: nan is not allowed; must be a finite number > 0"),
    (dict(algorithm="bp", kappa=0.5), "kappa: 0.5 is not allowed; algorithm 'bp' does not read it"),
    (dict(algorithm="iep", initializer_target="plus"), "initializer_target: 'plus' is not allowed; choose one of "
     "free, nudged"),
    (dict(initializer_target="nudged"), "initializer_target: 'nudged' is not allowed; algorithm 'ep' does not read it: use it with 'iep' only"),
    (dict(initializer_loss="global"), "initializer_loss: 'global' is not allowed; algorithm 'ep' does not read it: use it with 'iep' only"),
    (dict(algorithm="iep", bp_loss="cross_entropy"), "bp_loss: 'cross_entropy' is not allowed; algorithm 'iep' does not read it: use it with 'bp' only"),
]


@pytest.mark.parametrize("changes, message", BAD)
def test_bad_values_name_the_field(changes, message):
    with pytest.raises(ConfigError) as err:
        RunConfig(**changes)
    assert message in str(err.value)


def test_beta_is_not_needed_for_bp():
    assert RunConfig(algorithm="bp", beta=0.0).init == "none"


def test_sizes_must_fit_the_data():
    ds = data.load("synthetic")
    with pytest.raises(ConfigError, match="sizes: first size 784 does not fit synthetic, whose images have 64"):
        check_fits(RunConfig(dataset="synthetic"), ds)
    with pytest.raises(ConfigError, match="sizes: last size 7 does not fit synthetic, which has 10 classes"):
        check_fits(RunConfig(dataset="synthetic", sizes=(64, 7, 7), lrs=(0.1, 0.1)), ds)
    with pytest.raises(ConfigError, match="train_size: 5000 is more than the 1000 training images"):
        check_fits(RunConfig(dataset="synthetic", sizes=(64, 8, 10), train_size=5000), ds)
    with pytest.raises(ConfigError, match="batch_size: 20 is more than the 10 training images"):
        check_fits(RunConfig(dataset="synthetic", sizes=(64, 8, 10), train_size=10), ds)


def test_unknown_backend_and_device():
    with pytest.raises(backends.BackendOptionError, match="backend: 'mxnet' is unknown; choose one of numpy"):
        backends.get("mxnet")
    with pytest.raises(backends.BackendOptionError, match="device: 'cuda' was asked for, but numpy finds no GPU "
                       "on this machine; it has: cpu"):
        backends.get("numpy", device="cuda")
    with pytest.raises(backends.BackendOptionError, match="device: 'tpu' is not allowed; choose one of auto, cpu, "
                       "gpu"):
        backends.get("numpy", device="tpu")


def test_one_device_vocabulary():
    assert RunConfig(device="cuda").device == "gpu"  # a synonym, stored under one name
    with pytest.raises(ConfigError, match="device: 'tpu' is not allowed; choose one of auto, cpu, gpu"):
        RunConfig(device="tpu")
    for name in AVAILABLE:
        assert backends.get(name, device="cpu").device.startswith("cpu")


def no_gpu(name):
    """Whether the backend sees no GPU here (then asking for one must be refused)."""
    return "gpu" not in backends.get(name).device and "cuda" not in backends.get(name).device


@pytest.mark.parametrize("name", FRAMEWORKS)
@pytest.mark.parametrize("device", ["gpu", "cuda"])
def test_a_missing_gpu_is_one_line_and_exit_2(capsys, name, device):
    if not no_gpu(name):
        pytest.skip(f"{name} has a GPU here")
    assert main(["train", "--backend", name, "--device", device, "--dataset", "synthetic", "--sizes", "64", "8",
                 "10"]) == 2
    err = capsys.readouterr().err
    # 'cuda' is stored as 'gpu', its one name
    assert err == f"error: device: 'gpu' was asked for, but {name} finds no GPU on this machine; it has: cpu\n"


def test_a_sweep_asking_for_a_missing_gpu_writes_nothing(tmp_path, capsys):
    if not no_gpu("numpy"):
        pytest.skip("unreachable: numpy never has a GPU")
    study = tmp_path / "gpu.toml"
    study.write_text("name = 'gpu'\n[base]\ndataset = 'synthetic'\nsizes = [64, 8, 10]\n[[runs]]\ndevice = 'gpu'\n")
    assert main(["run", "--study", str(study), "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run 'ep numpy 64-8-10 T_neg=20 seed 0': device: 'gpu' was asked for" in err
    assert not (tmp_path / "r").exists()


def test_cli_refuses_with_exit_code_2(capsys):
    assert main(["train", "--backend", "numpy", "--T-neg", "-3"]) == 2
    assert "error: T_neg: -3 is not allowed" in capsys.readouterr().err


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for field in dataclasses.fields(RunConfig):
        option = "--" + field.name.replace("_", "-")
        assert option in text, option
        assert " ".join(field_doc(field.name).split()) in text, field.name
    assert "(default: 0.5)" in text and "(default: 784 500 10)" in text


STUDY_FILES = sorted((Path(__file__).resolve().parent.parent / "ablations").glob("*.toml")) + \
    sorted((Path(__file__).resolve().parent.parent / "suite" / "presets").glob("*.toml"))


@pytest.mark.parametrize("path", STUDY_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_study_loads_and_fits_its_data(path, capsys, tmp_path):
    """Each ablation and preset validates (and its sizes fit its data) without training: --dry-run."""
    from suite import study
    from suite.sweep import check_data
    loaded = study.load(path)
    assert loaded.name == path.stem
    if path.parent.name == "presets":  # offered by --preset
        assert loaded.name in study.PRESETS and study.preset(loaded.name).runs == loaded.runs
    else:
        assert len(loaded.description) > 200  # question, claim, source, scale
    for scaled in [loaded] + [study.load(path, scale) for scale in loaded.scales]:
        check_data(scaled, required=False)  # sizes and image counts against every data set this machine has
    assert main(["run", "--study", str(path), "--dry-run", "--results", str(tmp_path / "results")]) == 0
    assert f"{len(loaded.runs)} runs; about" in capsys.readouterr().out
    assert not (tmp_path / "results").exists()  # a dry run writes nothing


SCALED = """name = "tiny"
description = "x"
[base]
dataset = "mnist"
train_size = 100
epochs = 1
[[runs]]
algorithm = ["ep", "iep"]
lam = [0.0, 1.0]
zip = [["algorithm", "lam"]]
[[claims]]
says = "trains"
where = {algorithm = "ep"}
[[scales.full]]
train_size = 1000
epochs = 3
[[scales.full]]
where = {algorithm = "iep"}
epochs = 2
"""


def test_a_scale_runs_the_same_study_larger_into_its_own_folder(tmp_path):
    """--scale replaces the fields of every run (in order, where each entry matches), names the study
    <name>.<scale>, and the text stored beside its results reads back at that scale."""
    from suite import study
    path = tmp_path / "tiny.toml"
    path.write_text(SCALED)
    as_written, full = study.load(path), study.load(path, "full")
    assert (as_written.name, as_written.scales, as_written.scale) == ("tiny", ("full",), "")
    assert [(c.train_size, c.epochs) for c in as_written.runs] == [(100, 1), (100, 1)]
    assert (full.name, full.file_name, full.claims) == ("tiny.full", "tiny", as_written.claims)
    assert [(c.algorithm, c.train_size, c.epochs) for c in full.runs] == [("ep", 1000, 3), ("iep", 1000, 2)]
    assert [dataclasses.replace(c, train_size=100, epochs=1) for c in full.runs] == list(as_written.runs)
    assert study.from_text(full.text, "stored").runs == full.runs  # the store reads it back at its scale


@pytest.mark.parametrize("scales, message", [
    ('scale = "big"\n', "scale: 'big' is not a scale of this study; choose one of full"),
    ('scale = [false]\n', "scale: [False] is not allowed; give the name of one of the study's scales"),
    ('[[scales.bad]]\nepoch = 3\n', "scales.bad.epoch: unknown field"),
    ('[[scales.bad]]\nepochs = -1\n', "scales.bad: epochs"),
    ('[[scales.bad]]\nwhere = {nope = 1}\nepochs = 2\n', "scales.bad.where"),
    ('[scales]\nbad = 3\n', "scales.bad: give [[scales.NAME]] tables")])
def test_a_bad_scale_names_the_field_and_runs_nothing(tmp_path, capsys, scales, message):
    path = tmp_path / "tiny.toml"
    text = SCALED.split("[[scales.full]]")[0]
    path.write_text((scales + text if scales.startswith("scale =") else text + scales) +
                    ("[[scales.full]]\nepochs = 2\n" if scales.startswith("scale =") else ""))
    assert main(["run", "--study", str(path), "--results", str(tmp_path / "r"), "--dry-run"]) == 2
    assert message in capsys.readouterr().err


def test_claims_md_sets_the_verdicts_of_each_scale_side_by_side():
    import pandas as pd
    from suite.cli import claims_by_scale
    verdicts = pd.DataFrame({"study": ["a", "a", "b", "a", "a"], "claim": ["x", "y", "z", "x", "y"],
                             "scale": ["small", "small", "small", "full", "full"],
                             "verdict": ["supported", "refuted", "supported", "refuted", "refuted"],
                             "says": "", "source": "", "evidence": ""})
    table = claims_by_scale(verdicts)
    assert list(zip(table["claim"], table["scale"])) == [("x", "small"), ("x", "full"), ("y", "small"),
                                                         ("y", "full"), ("z", "small")]
    assert list(table["changes with scale"]) == ["yes", "yes", "", "", ""]
