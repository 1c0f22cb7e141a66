"""Dataset reading and preparation: IDX files, checksums, mnist-5k, xor, offline errors."""
import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import write_idx, write_tiny_idx_dataset
from mlpstudy.datasets import (IDX_FILES, DataError, load_idx_dir, load_mnist_5k,
                               load_torchvision_dataset, make_xor, parse_idx)

pytestmark = pytest.mark.unit

FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_idx_round_trip(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = write_idx(tmp_path / "images.idx", images).read_bytes()
    assert torch.equal(parse_idx(raw), torch.from_numpy(images))


def test_truncated_idx_is_reported_with_its_sizes(tmp_path):
    raw = write_idx(tmp_path / "x.idx", np.zeros((5, 28, 28), np.uint8)).read_bytes()
    with pytest.raises(DataError, match="truncated"):
        parse_idx(raw[:-10], "x.idx")


def test_non_idx_file_is_reported():
    with pytest.raises(DataError, match="not an IDX file"):
        parse_idx(b"<html>404 not found</html>", "x.idx")


def test_idx_directory_loads_as_flat_uint8_images_and_int64_labels(tmp_path):
    data = load_idx_dir(write_tiny_idx_dataset(tmp_path, n_train=40, n_test=10, classes=4))
    assert data["train_x"].shape == (40, 784) and data["train_x"].dtype == torch.uint8
    assert data["test_y"].shape == (10,) and data["test_y"].dtype == torch.int64
    assert data["classes"] == 4 and data["scale"] == pytest.approx(1 / 255)


def test_gzipped_idx_files_load_as_the_plain_ones(tmp_path):
    plain = write_tiny_idx_dataset(tmp_path / "plain", n_train=20, n_test=5)
    zipped = tmp_path / "zipped"
    zipped.mkdir()
    for stem in IDX_FILES.values():
        (zipped / f"{stem}.gz").write_bytes(gzip.compress((plain / stem).read_bytes()))
    a, b = load_idx_dir(plain), load_idx_dir(zipped)
    assert all(torch.equal(a[k], b[k]) for k in ("train_x", "train_y", "test_x", "test_y"))


def test_checksum_mismatch_names_the_file_and_both_digests(tmp_path):
    write_tiny_idx_dataset(tmp_path / "fashion-mnist")
    with pytest.raises(DataError, match="checksum mismatch") as error:
        load_torchvision_dataset("fashion-mnist", [str(tmp_path / "{name}")], download=False,
                                 download_dir=tmp_path / "dl")
    raw = (tmp_path / "fashion-mnist" / IDX_FILES["train_x"]).read_bytes()
    assert IDX_FILES["train_x"] in str(error.value)
    assert hashlib.sha256(raw).hexdigest() in str(error.value)


def test_offline_without_local_copy_says_how_to_provide_the_data(tmp_path):
    with pytest.raises(DataError) as error:
        load_torchvision_dataset("mnist", [str(tmp_path / "{name}")], download=False,
                                 download_dir=tmp_path / "dl")
    message = str(error.value)
    assert "train-images-idx3-ubyte.gz" in message and str(tmp_path / "mnist") in message
    assert "dataset=mnist-5k" in message and "dataset-fashion-mnist" in message


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_the_debian_package_passes_the_checksums(tmp_path):
    data = load_torchvision_dataset("fashion-mnist", [str(FASHION.parent / "{name}")],
                                    download=False, download_dir=tmp_path)
    assert data["train_x"].shape == (60000, 784) and data["test_x"].shape == (10000, 784)
    assert data["train_y"].bincount().tolist() == [6000] * 10


def test_mnist_5k_is_a_stratified_deterministic_4000_1000_split():
    a, b = load_mnist_5k(), load_mnist_5k()
    assert a["train_y"].bincount().tolist() == [400] * 10
    assert a["test_y"].bincount().tolist() == [100] * 10
    assert torch.equal(a["test_x"], b["test_x"])
    assert a["train_x"].dtype == torch.uint8 and int(a["train_x"].max()) == 255
    # train and test share no digit
    train = {bytes(row) for row in a["train_x"].numpy()}
    assert not any(bytes(row) in train for row in a["test_x"].numpy())


def test_xor_is_the_four_corners_with_xor_labels():
    data = make_xor(repeats=1, jitter=0.0)
    assert data["train_x"].tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert data["train_y"].tolist() == [0, 1, 1, 0]
    jittered = make_xor(repeats=5, jitter=0.1)
    assert jittered["train_x"].shape == (20, 2)
    assert torch.equal(jittered["train_y"], torch.tensor([0, 1, 1, 0] * 5))
    assert not torch.equal(jittered["train_x"], jittered["test_x"])
