"""Figures used across the chapters. Each function returns its figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from .trainer import History


def image_grid(images: torch.Tensor, nrow: int = 8, pad: int = 1) -> np.ndarray:
    """Tile (N, 1, H, W) images in [-1, 1] into one 2-D array in [0, 1]."""
    images = images.detach().float().cpu().clamp(-1, 1).add(1).div(2)
    n, _, h, w = images.shape
    ncol = nrow
    nrows = -(-n // ncol)
    # the padding is a light grey once show_images inverts the grid
    canvas = np.full((nrows * (h + pad) + pad, ncol * (w + pad) + pad), 0.2)
    for i in range(n):
        r, c = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        canvas[top : top + h, left : left + w] = images[i, 0].numpy()
    return canvas


def show_images(images: torch.Tensor, nrow: int = 8, title: str = "", ax=None):
    """Show a grid of images (white background, dark ink as in print)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(3.2, 3.2))
    ax.imshow(1 - image_grid(images, nrow), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return ax.figure


def plot_sample_grids(history: History, steps: list[int] | None = None, nrow: int = 8):
    """Fixed-noise samples side by side at several steps of training."""
    steps = steps or sorted(history.samples)
    fig, axes = plt.subplots(1, len(steps), figsize=(2.2 * len(steps), 2.5))
    for ax, step in zip(np.atleast_1d(axes), steps):
        show_images(history.samples[step], nrow, f"step {step}", ax=ax)
    fig.tight_layout()
    return fig


def smooth(values, window: int) -> np.ndarray:
    """Moving average (window clipped to the series length)."""
    values = np.asarray(values, dtype=float)
    window = max(1, min(window, len(values)))
    kernel = np.ones(window) / window
    return np.convolve(values, kernel, mode="valid")


def plot_history(history: History, targets=None, window: int = 25):
    """Losses (D split into real and fake) and D's mean raw scores per step.

    ``targets`` = (a, b, c) draws the least squares targets on the score plot.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    x = np.arange(len(history.g_loss)) + 1
    xs = x[max(0, min(window, len(x)) - 1) :]
    for name, values in [
        ("D loss, real half", history.d_loss_real),
        ("D loss, fake half", history.d_loss_fake),
        ("G loss", history.g_loss),
    ]:
        left.plot(xs, smooth(values, window), label=name)
    left.set(xlabel="step", ylabel="loss", title=f"losses ({window}-step mean)")
    left.legend(fontsize=8)
    right.plot(xs, smooth(history.d_real, window), label="mean D(x), real")
    right.plot(xs, smooth(history.d_fake, window), label="mean D(G(z)), fake")
    if targets is not None:
        for value, name in zip(targets, "abc"):
            right.axhline(value, color="grey", lw=0.8, ls=":")
            right.annotate(name, (x[-1], value), fontsize=8, color="grey")
    right.set(xlabel="step", ylabel="raw score", title="discriminator scores")
    right.legend(fontsize=8)
    fig.tight_layout()
    return fig
