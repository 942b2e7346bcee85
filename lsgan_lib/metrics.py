"""Numbers that judge a generator: Fréchet distance, class and mode coverage,
nearest-neighbour distances.

Images everywhere here are float tensors of shape (N, 1, 28, 28) in [-1, 1],
the range of the data and of the generator's tanh.

* ``train_classifier`` fits a small CNN on real images in seconds on a CPU.
  Its hidden layer (``FEATURES`` numbers) is the feature space of a
  Fréchet distance, the idea of FID (Heusel et al., 2017) with a digit or
  clothing classifier in place of Inception; its predictions give class
  coverage.
* ``nearest_neighbour_distances`` is the memorisation check: how close
  each generated image comes to some training image, in pixel space.
* ``mode_stats`` counts covered modes and high-quality samples of a 2-D
  mixture, the benchmark of the Unrolled GAN, VEEGAN and PacGAN papers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

FEATURES = 64  # size of the classifier's hidden layer, the Fréchet feature space


# ---------------------------------------------------------------------------
# The classifier


class Classifier(nn.Module):
    """A small CNN for 28x28 images in [-1, 1]: two conv blocks, one hidden layer.

    1 x 28 x 28 -> 16 x 14 x 14 -> 32 x 7 x 7 -> FEATURES -> classes.
    """

    def __init__(self, classes: int = 10, features: int = FEATURES):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 7 * 7, features),
            nn.ReLU(),
        )
        self.head = nn.Linear(features, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The hidden layer: the numbers the last layer reads, shape (N, FEATURES)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    steps: int = 600,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
) -> Classifier:
    """Fit a :class:`Classifier` on real images in [-1, 1] (Adam, cross-entropy).

    Each batch gets a random shift of up to 2 pixels, so that the classifier
    does not rely on exact pixel positions that a generator may miss by one.
    """
    _check_images(images)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = Classifier(classes=int(labels.max()) + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        idx = torch.randint(len(images), (batch_size,), generator=generator)
        x = _random_shift(images[idx], 2, generator)
        loss = F.cross_entropy(model(x), labels[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()


def _random_shift(x: torch.Tensor, pixels: int, generator: torch.Generator):
    """Shift the whole batch by one random offset, padding with background -1."""
    offsets = torch.randint(-pixels, pixels + 1, (2,), generator=generator)
    dx, dy = (int(v) for v in offsets)
    padded = F.pad(x, (pixels,) * 4, value=-1.0)
    h, w = x.shape[-2:]
    return padded[..., pixels + dy : pixels + dy + h, pixels + dx : pixels + dx + w]


def _check_images(images: torch.Tensor) -> None:
    if not images.is_floating_point():
        raise TypeError(
            f"expected float images in [-1, 1], got dtype {images.dtype}; "
            "scale bytes with x / 127.5 - 1"
        )
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError(
            f"expected images of shape (N, 1, 28, 28), got {tuple(images.shape)}"
        )
    if len(images) and (images.min() < -1.001 or images.max() > 1.001):
        raise ValueError(
            f"expected images in [-1, 1], got [{images.min():.2f}, {images.max():.2f}]"
        )


@torch.no_grad()
def predict(classifier: Classifier, images: torch.Tensor, batch: int = 1000):
    """Predicted class of each image."""
    _check_images(images)
    classifier.eval()
    return torch.cat([classifier(x).argmax(1) for x in images.split(batch)])


def accuracy(classifier: Classifier, images: torch.Tensor, labels: torch.Tensor):
    """Share of images whose predicted class is their label."""
    return (predict(classifier, images) == labels).float().mean().item()


# ---------------------------------------------------------------------------
# Fréchet distance in the classifier's feature space


class ClassifierFeatures(nn.Module):
    """The classifier's hidden layer as a feature extractor for torchmetrics' FID.

    How torchmetrics 1.9 treats a custom extractor (read from its source):
    when the module has an integer ``num_features``, it is not probed with a
    dummy image; otherwise it is called once on a (1, *input_img_size) image,
    by default 3 x 299 x 299, uint8, which a 1 x 28 x 28 network cannot take.
    ``normalize=True`` rescales [0, 1] floats to bytes only for the built-in
    Inception network; a custom module receives the images untouched. So we
    pass float images in [-1, 1], the range the classifier was trained on,
    and this module refuses anything else rather than compute nonsense.
    """

    def __init__(self, classifier: Classifier):
        super().__init__()
        self.classifier = classifier.eval()
        self.num_features = classifier.head.in_features

    def train(self, mode: bool = True) -> "ClassifierFeatures":
        return super().train(False)  # always in evaluation mode

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images)
        return self.classifier.features(images.float())


def frechet_distance(
    classifier: Classifier, real: torch.Tensor, fake: torch.Tensor, batch: int = 500
) -> float:
    """Fréchet distance between Gaussians fitted to the classifier features of
    ``real`` and ``fake`` images (both in [-1, 1]); 0 means equal statistics.

    Both sets should have the same size: the estimate is biased upward for
    small sets, so only distances from sets of equal size compare.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(
        feature=ClassifierFeatures(classifier), input_img_size=(1, 28, 28)
    )
    for is_real, images in ((True, real), (False, fake)):
        for x in images.split(batch):
            metric.update(x.float(), real=is_real)
    return max(0.0, float(metric.compute()))


# ---------------------------------------------------------------------------
# Class coverage


@dataclass(frozen=True)
class Coverage:
    """How generated samples spread over the classes."""

    counts: list[int]  # samples predicted as each class
    min_share: float  # a class is covered if it gets at least this share

    @property
    def shares(self) -> list[float]:
        total = max(1, sum(self.counts))
        return [c / total for c in self.counts]

    @property
    def covered(self) -> int:
        return sum(s >= self.min_share for s in self.shares)

    @property
    def kl_from_uniform(self) -> float:
        """KL(p || uniform) = log K - H(p), in nats; 0 for a perfectly even spread,
        log K when every sample falls in one class."""
        k = len(self.counts)
        return sum(p * math.log(p * k) for p in self.shares if p > 0)


def class_coverage(
    classifier: Classifier, images: torch.Tensor, min_share: float | None = None
) -> Coverage:
    """Histogram of predicted classes. By default a class is covered if it
    receives at least a fifth of its fair share, 0.2 / K (2% for 10 classes)."""
    classes = classifier.head.out_features
    if min_share is None:
        min_share = 0.2 / classes
    counts = torch.bincount(predict(classifier, images), minlength=classes)
    return Coverage(counts.tolist(), min_share)


# ---------------------------------------------------------------------------
# Nearest neighbours: the memorisation check


@torch.no_grad()
def nearest_neighbour_distances(
    queries: torch.Tensor,
    reference: torch.Tensor,
    chunk: int = 256,
    candidates: int = 8,
) -> torch.Tensor:
    """Euclidean pixel distance from each query to its nearest reference image.

    Distances are ranked with one float32 matrix product per chunk, then the
    best ``candidates`` are measured again exactly, so that an exact copy of
    a reference image gets a distance of 0, not a rounding error.
    """
    q = queries.flatten(1).float()
    r = reference.flatten(1).float()
    r_sq = (r * r).sum(1)
    k = min(candidates, len(r))
    out = []
    for block in q.split(chunk):
        approx = r_sq[None, :] - 2 * block @ r.T  # |q - r|^2 - |q|^2
        idx = approx.topk(k, dim=1, largest=False).indices  # (B, k)
        exact = (block[:, None, :] - r[idx]).pow(2).sum(-1).min(1).values
        out.append(exact.sqrt())
    return torch.cat(out)


@dataclass(frozen=True)
class Memorisation:
    """Mean nearest-training-image distance of generated and held-out images."""

    generated: float
    heldout: float

    @property
    def ratio(self) -> float:
        """Below 1: generated images lie closer to training images than new real
        images do, the sign of copying; near 0: exact copies."""
        return self.generated / self.heldout


def memorisation(
    generated: torch.Tensor, train: torch.Tensor, heldout: torch.Tensor
) -> Memorisation:
    """Compare how close generated and held-out real images come to ``train``."""
    gen = nearest_neighbour_distances(generated, train).mean().item()
    held = nearest_neighbour_distances(heldout, train).mean().item()
    return Memorisation(gen, held)


# ---------------------------------------------------------------------------
# 2-D mixtures: modes covered and high-quality samples


@dataclass(frozen=True)
class ModeStats:
    counts: list[int]  # high-quality samples nearest to each mode
    high_quality: float  # share of samples within `threshold` std of a mode
    min_count: int

    @property
    def covered(self) -> int:
        return sum(c >= self.min_count for c in self.counts)


def mode_stats(
    samples: torch.Tensor,
    centres: torch.Tensor,
    std: float,
    threshold: float = 3.0,
    min_count: int = 1,
) -> ModeStats:
    """PacGAN's measures: a sample is high quality if it lies within
    ``threshold`` standard deviations of its nearest mode; a mode is covered
    if at least ``min_count`` high-quality samples are nearest to it."""
    distances = torch.cdist(samples.float(), centres.float())  # (N, K)
    nearest, which = distances.min(1)
    good = nearest <= threshold * std
    counts = torch.bincount(which[good], minlength=len(centres))
    share = good.float().mean().item() if len(samples) else 0.0
    return ModeStats(counts.tolist(), share, min_count)
