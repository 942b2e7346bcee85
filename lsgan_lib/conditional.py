"""Class-conditional generator and discriminator for 28x28 images.

Both take the class label ``y`` (an integer in ``0 .. num_classes - 1``) as a
second argument, and both expose ``num_classes``: the trainer reads that
attribute to know it must pass labels.

* The generator learns one vector per class (an embedding) and appends it
  to the noise ``z``; the rest is the unconditional DCGAN generator.
* The discriminator is a *projection* discriminator: the unconditional
  score of the image's features ``h(x)``, plus the dot product of ``h(x)``
  with a learned vector for the class, ``psi(h(x)) + e_y . h(x)``. The
  class vector lets D judge whether an image fits its label; the score stays
  raw (no sigmoid), as for every discriminator in the course.
"""

from __future__ import annotations

import torch
from torch import nn

from .models import Discriminator, Generator


def class_labels(n: int, num_classes: int) -> torch.Tensor:
    """``n`` labels in equal consecutive blocks: 0, 0, ..., 1, 1, ..., so that a
    grid of ``n = num_classes * k`` samples with ``k`` per row has one row per
    class."""
    return torch.arange(n) * num_classes // n


def _check_labels(y: torch.Tensor, n: int, num_classes: int) -> None:
    if y.shape != (n,):
        raise ValueError(f"expected {n} labels of shape ({n},), got {tuple(y.shape)}")
    if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(f"labels must be integers, got dtype {y.dtype}")
    # the range check reads the values: only where that costs no device sync
    if y.device.type == "cpu" and len(y) and (
        int(y.min()) < 0 or int(y.max()) >= num_classes
    ):
        raise ValueError(
            f"labels must lie in 0..{num_classes - 1}, got "
            f"{int(y.min())}..{int(y.max())}"
        )


class ConditionalGenerator(nn.Module):
    """G(z, y): the DCGAN generator fed with ``z`` and a learned class vector.

    [z, embed(y)] (latent_dim + embed_dim) -> 2w x 7 x 7 -> w x 14 x 14 ->
    1 x 28 x 28 in [-1, 1], where w = width.
    """

    def __init__(
        self,
        latent_dim: int = 100,
        num_classes: int = 10,
        width: int = 64,
        batch_norm: bool = True,
        embed_dim: int = 16,
    ):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.body = Generator(latent_dim + embed_dim, width, batch_norm)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _check_labels(y, len(z), self.num_classes)
        return self.body(torch.cat([z, self.embed(y).to(z.dtype)], dim=1))


class ConditionalDiscriminator(nn.Module):
    """D(x, y): a projection discriminator; returns raw scores, shape (N,).

    h = features(x) (the DCGAN discriminator's 2w x 7 x 7 features, flat);
    D(x, y) = psi(h) + e_y . h, with psi the unconditional linear score and
    e_y a learned vector per class, started at small random values (std 0.02)
    so that at first D is nearly the unconditional one.
    """

    def __init__(self, num_classes: int = 10, width: int = 64, batch_norm: bool = True):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        self.num_classes = num_classes
        self.body = Discriminator(width, batch_norm)
        self.embed = nn.Embedding(num_classes, self.body.score.in_features)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _check_labels(y, len(x), self.num_classes)
        h = self.body.features(x)
        projection = (self.embed(y).to(h.dtype) * h).sum(1)
        return self.body.score(h).squeeze(1) + projection
