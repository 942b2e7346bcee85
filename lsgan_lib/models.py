"""Generators and discriminators.

Every discriminator returns one raw score per sample, shape (N,), with no
sigmoid: the loss decides what to do with it (see ``losses``).
"""

from __future__ import annotations

import torch
from torch import nn


def _norm(channels: int, enabled: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if enabled else nn.Identity()


class Generator(nn.Module):
    """DCGAN-style generator for 28x28 images with outputs in [-1, 1].

    z (latent_dim) -> 2w x 7 x 7 -> w x 14 x 14 -> 1 x 28 x 28, where w = width.
    """

    def __init__(self, latent_dim: int = 100, width: int = 64, batch_norm: bool = True):
        super().__init__()
        self.latent_dim = latent_dim
        self.project = nn.Sequential(
            nn.Linear(latent_dim, 2 * width * 7 * 7, bias=not batch_norm),
            nn.Unflatten(1, (2 * width, 7, 7)),
            _norm(2 * width, batch_norm),
            nn.ReLU(),
        )
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=not batch_norm),
            _norm(width, batch_norm),
            nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.project(z))


class Discriminator(nn.Module):
    """DCGAN-style discriminator for 28x28 images; returns raw scores (N,).

    1 x 28 x 28 -> w x 14 x 14 -> 2w x 7 x 7 -> one linear score.
    """

    def __init__(self, width: int = 64, batch_norm: bool = True):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=not batch_norm),
            _norm(2 * width, batch_norm),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.score = nn.Linear(2 * width * 7 * 7, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(self.features(x)).squeeze(1)


def _mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """Small MLP generator for low-dimensional toy data (linear output)."""

    def __init__(
        self,
        latent_dim: int = 256,
        out_dim: int = 2,
        hidden: int = 128,
        depth: int = 2,
        activation: type[nn.Module] = nn.Tanh,
    ):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = _mlp([latent_dim] + [hidden] * depth + [out_dim], activation)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """Small MLP discriminator for toy data; returns raw scores (N,)."""

    def __init__(
        self,
        in_dim: int = 2,
        hidden: int = 128,
        depth: int = 2,
        activation: type[nn.Module] = nn.Tanh,
    ):
        super().__init__()
        self.net = _mlp([in_dim] + [hidden] * depth + [1], activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02), batch norm N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
