"""Bad input is refused with a message that names the field, the value and what is allowed."""
import pytest

import backends
from suite import data
from suite.cli import main
from suite.config import ConfigError, RunConfig
from suite.run import check_fits

BAD = [
    (dict(backend="tensorflow"), "backend: 'tensorflow' is not allowed; choose one of numpy, torch, jax"),
    (dict(algorithm="hebb"), "algorithm: 'hebb' is not allowed; choose one of ep, iep, bp"),
    (dict(dataset="cifar"), "dataset: 'cifar' is not allowed; choose one of mnist, fashion-mnist, synthetic"),
    (dict(T_neg=-1), "T_neg: -1 is not allowed; must be a whole number >= 0"),
    (dict(T_pos=2.5), "T_pos: 2.5 is not allowed; must be a whole number >= 0"),
    (dict(beta=0.0), "beta: 0.0 is not allowed; must be a number > 0"),
    (dict(algorithm="iep", lam=-0.1), "lam: -0.1 is not allowed; must be a number >= 0"),
    (dict(lam=0.5), "lam: 0.5 is not allowed; the pull term needs an initializer"),
    (dict(lrs=(0.1,)), "lrs: (0.1,) is not allowed; need one learning rate per layer of weights: 2"),
    (dict(sizes=(784, 10)), "sizes: (784, 10) is not allowed; need at least [inputs, hidden, outputs]"),
    (dict(init="forward"), "init: 'forward' is not allowed; choose one of zeros, persistent"),
    (dict(eval_modes=("relax@x",)), "eval_modes: inference mode: 'relax@x' is not allowed"),
    (dict(eval_modes=("ff",)), "eval_modes: 'ff' is not allowed; algorithm 'ep' supports relax"),
    (dict(dtype="float16"), "dtype: 'float16' is not allowed; choose one of float32, float64"),
    (dict(batch_size=0), "batch_size: 0 is not allowed; must be a whole number >= 1"),
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
    with pytest.raises(ValueError, match="backend: 'mxnet' is unknown; choose one of numpy, torch, jax"):
        backends.get("mxnet")
    with pytest.raises(ValueError, match="device: 'cuda' is not available to numpy; allowed: auto, cpu"):
        backends.get("numpy", device="cuda")


def test_cli_refuses_with_exit_code_2(capsys):
    assert main(["train", "--backend", "numpy", "--T-neg", "-3"]) == 2
    assert "error: T_neg: -3 is not allowed" in capsys.readouterr().err
