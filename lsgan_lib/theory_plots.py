"""Figures for the theory chapters. Each function returns its figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from .theory import score_map

REAL_COLOUR, FAKE_COLOUR, FAR_COLOUR = "tab:blue", "tab:orange", "tab:purple"


def plot_optimal_discriminator(
    x: np.ndarray,
    p_d: np.ndarray,
    p_g: np.ndarray,
    d_star: np.ndarray,
    d_trained: np.ndarray,
    mask: np.ndarray,
    ylabel: str = "D(x)",
):
    """Left: the densities p_d and p_g. Right: D* from its formula and a trained
    D on the same grid; the grey band is where too few samples fall to compare."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
    left.plot(x, p_d, color=REAL_COLOUR, label="$p_d$ (data)")
    left.plot(x, p_g, color=FAKE_COLOUR, label="$p_g$ (generator)")
    left.set(xlabel="x", ylabel="density", title="densities")
    right.plot(x, d_star, color="black", lw=2.5, alpha=0.35, label="$D^*$ (formula)")
    right.plot(x, d_trained, color="tab:green", lw=1.2, label="trained D")
    for ax in (left, right):
        ax.fill_between(x, 0, 1, where=~mask, color="grey", alpha=0.15,
                        transform=ax.get_xaxis_transform(), lw=0)
        ax.legend(fontsize=8)
        ax.set_xlim(x[mask].min() - 2, x[mask].max() + 2)
    right.set(xlabel="x", ylabel=ylabel, title="optimal vs trained discriminator")
    fig.tight_layout()
    return fig


def plot_curves(
    x: np.ndarray,
    curves: dict[str, np.ndarray],
    xlabel: str,
    ylabel: str,
    title: str = "",
    styles: dict[str, dict] | None = None,
    hline: float | None = None,
):
    """Several named curves over one x axis, in one small panel, with an
    optional dotted horizontal reference line at ``hline``."""
    fig, ax = plt.subplots(figsize=(6, 3))
    for name, values in curves.items():
        ax.plot(x, values, label=name, **(styles or {}).get(name, {}))
    if hline is not None:
        ax.axhline(hline, color="grey", ls=":", lw=0.8)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_loss_vs_score(
    scores: np.ndarray, curves: dict[str, tuple[np.ndarray, np.ndarray]]
):
    """G's loss L_G(s) (left) and its slope dL_G/ds (right) against the raw
    score s = D(G(z)), one line per loss; curves maps name -> (values, slopes)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
    for name, (values, slopes) in curves.items():
        left.plot(scores, values, label=name)
        right.plot(scores, np.abs(slopes), label=name)
    left.set(xlabel="raw score s = D(G(z))", ylabel="$L_G(s)$", title="G's loss")
    left.set_ylim(-6, 12)
    right.set(xlabel="raw score s = D(G(z))", ylabel="$|dL_G/ds|$",
              title="size of G's gradient factor")
    right.set_yscale("log")
    right.set_ylim(1e-5, 20)
    for ax in (left, right):
        ax.axvline(0, color="grey", lw=0.8, ls=":")
    left.legend(fontsize=7)
    fig.tight_layout()
    return fig


def draw_score_map(
    ax,
    discriminator: nn.Module,
    boundary: float,
    real: torch.Tensor,
    fake: torch.Tensor,
    far: torch.Tensor,
    grad: torch.Tensor | None = None,
    lim: float = 4.5,
    title: str = "",
) -> None:
    """On ``ax``: D's two sides (score above / below ``boundary``), the decision
    boundary, real and fake training points, far fakes and, where the gradient
    is not negligible (norm > 1e-6), unit arrows along -grad (G's update) on
    every 5th far fake."""
    xs, ys, scores = score_map(discriminator, lim)
    ax.contourf(xs, ys, scores > boundary, levels=[-0.5, 0.5, 1.5],
                colors=["#fde9d9", "#dbe8f6"])
    ax.contour(xs, ys, scores, levels=[boundary], colors="black", linewidths=1)
    ax.scatter(*fake.T, s=2, color=FAKE_COLOUR, label="fake (trains D)")
    ax.scatter(*real.T, s=2, color=REAL_COLOUR, label="real")
    ax.scatter(*far.T, s=6, color=FAR_COLOUR, label="far fakes")
    if grad is not None:  # arrows on every 5th far fake, to keep them readable
        points, grad = far[::5], grad[::5]
        norms = grad.norm(dim=1, keepdim=True)
        keep = norms.squeeze(1) > 1e-6
        step = -grad[keep] / norms[keep]
        ax.quiver(*points[keep].T, *step.T, color="black", angles="xy",
                  scale_units="xy", scale=1.6, width=0.007)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), title=title, aspect="equal")
    ax.tick_params(labelsize=7)
    ax.title.set_fontsize(9)


def plot_score_maps(panels: list[dict], **shared):
    """One ``draw_score_map`` panel per dict in ``panels`` (its keyword
    arguments), side by side; ``shared`` holds the arguments they all share."""
    fig, axes = plt.subplots(1, len(panels), figsize=(2.9 * len(panels), 3.1))
    for ax, panel in zip(np.atleast_1d(axes), panels):
        draw_score_map(ax, **shared, **panel)
    np.atleast_1d(axes)[0].legend(fontsize=6, loc="lower left", markerscale=3)
    fig.tight_layout()
    return fig


def plot_grad_norms(norms: dict[str, torch.Tensor], floor: float = 1e-30):
    """Per-sample gradient norms ||grad_x L_G|| of the far fakes, one column of
    dots per loss, on a log scale (norms below ``floor`` are drawn at it)."""
    fig, ax = plt.subplots(figsize=(6, 3))
    rng = np.random.default_rng(0)  # horizontal jitter only
    for i, (name, values) in enumerate(norms.items()):
        v = np.clip(values.detach().double().numpy(), floor, None)
        ax.scatter(i + rng.uniform(-0.15, 0.15, len(v)), v, s=5, alpha=0.6)
    ax.set_xticks(range(len(norms)), list(norms), fontsize=8)
    ax.set(yscale="log", ylabel=r"$\|\nabla_x L_G\|$",
           title="gradient reaching each far fake")
    fig.tight_layout()
    return fig
