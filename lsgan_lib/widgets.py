"""Interactive explorers and animations, each with a static twin.

A widget needs a running kernel; the HTML book has none. So every explorer
here comes as a pair: ``*_figure`` draws one static view (what the book
shows), and the explorer function wraps that same drawing code in sliders
for a reader who runs the notebook.
"""

from __future__ import annotations

import io
import re

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import animation

from .losses import ls_optimal_discriminator, make_loss
from .plots import image_grid, show_images
from .trainer import History


# --------------------------------------------------------------------------
# explorers: sliders that redraw one picture


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def explorer(draw, **sliders):
    """Sliders above an image; ``draw(**values)`` returns the figure to show.

    The picture is an Image widget updated with PNG bytes, not an Output
    widget: nothing is printed, so running the notebook headless (nbval,
    nbconvert) sees no output-capture traffic.
    """
    import ipywidgets as widgets

    image = widgets.Image(format="png")

    def update(_change=None):
        image.value = _png(draw(**{name: s.value for name, s in sliders.items()}))

    for slider in sliders.values():
        slider.observe(update, names="value")
    update()
    return widgets.VBox([*sliders.values(), image])


# --------------------------------------------------------------------------
# the a-b-c loss explorer


def abc_loss_figure(a: float = -1.0, b: float = 1.0, c: float = 0.0, fig=None):
    """The least squares losses against D's raw score, and D* against p_d share.

    Left: D's loss on a real sample, (s - b)^2 / 2, and on a fake, (s - a)^2 / 2,
    and G's loss (s - c)^2 / 2, for raw scores s. Right: the optimal
    discriminator D* = (b p_d + a p_g) / (p_d + p_g) as a function of the
    share of real data p_d / (p_d + p_g) at a point.
    """
    fig = fig or plt.figure(figsize=(8, 3))
    fig.clear()
    left, right = fig.subplots(1, 2)
    scores = torch.linspace(-2.5, 2.5, 201)
    loss = make_loss("ls", (a, b, c))
    curves = {
        "D loss on a real sample": [loss.discriminator(s, s).real for s in scores],
        "D loss on a fake sample": [loss.discriminator(s, s).fake for s in scores],
        "G loss": [loss.generator(s) for s in scores],
    }
    for label, values in curves.items():
        left.plot(scores, torch.stack(values), label=label)
    left.set(xlabel="raw score s = D(x)", ylabel="loss", ylim=(0, 4),
             title=f"(a, b, c) = ({a:g}, {b:g}, {c:g})")  # fmt: skip
    left.legend(fontsize=7)
    share = torch.linspace(0, 1, 101)
    right.plot(share, ls_optimal_discriminator(share, 1 - share, a, b))
    right.axhline(c, color="grey", ls=":", lw=0.8)
    right.annotate("c: G's target", (0.02, c), fontsize=7, color="grey")
    right.set(xlabel="p_d / (p_d + p_g)", ylabel="D*", title="optimal D")
    fig.tight_layout()
    return fig


def abc_loss_explorer():
    """Sliders for a, b and c around :func:`abc_loss_figure` (b is kept != a)."""
    import ipywidgets as widgets

    def slider(value, name):
        return widgets.FloatSlider(
            value=value, min=-2, max=2, step=0.1, description=name
        )

    def draw(a, b, c):
        if a == b:  # D would have one target for real and fake alike
            b = a + 0.1
        return abc_loss_figure(a, b, c, fig=plt.figure(figsize=(8, 3)))

    return explorer(draw, a=slider(-1.0, "a"), b=slider(1.0, "b"), c=slider(0.0, "c"))


# --------------------------------------------------------------------------
# latent walk


@torch.no_grad()
def latent_walk_images(generator, latent_dim: int, seed: int = 0, steps: int = 8):
    """Images along the straight line between two noise vectors z0 and z1."""
    g = torch.Generator().manual_seed(seed)
    z0, z1 = torch.randn(2, latent_dim, generator=g)
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    z = (1 - t) * z0 + t * z1
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    images = generator(z.to(device)).float().cpu()
    generator.train(was_training)
    return images


def latent_walk_figure(generator, latent_dim: int, seeds=(0, 1, 2), steps: int = 8):
    """One row per seed: G(z) as z moves in a straight line between two draws."""
    rows = [latent_walk_images(generator, latent_dim, s, steps) for s in seeds]
    fig, ax = plt.subplots(figsize=(1.0 * steps, 1.1 * len(seeds)))
    show_images(torch.cat(rows), nrow=steps, ax=ax,
                title="latent walk: z0 (left) to z1 (right)")  # fmt: skip
    fig.tight_layout()
    return fig


def latent_walk_explorer(generator, latent_dim: int, steps: int = 8):
    """Sliders for the seed of the pair (z0, z1) and for t along the line."""
    import ipywidgets as widgets

    def draw(seed, t):
        images = latent_walk_images(generator, latent_dim, seed, steps + 1)
        fig, ax = plt.subplots(figsize=(2, 2))
        show_images(images[round(t * steps)].unsqueeze(0), nrow=1, ax=ax,
                    title=f"seed {seed}, t = {t:.2f}")  # fmt: skip
        return fig

    return explorer(
        draw,
        seed=widgets.IntSlider(value=0, min=0, max=20, description="seed"),
        t=widgets.FloatSlider(value=0, min=0, max=1, step=1 / steps, description="t"),
    )


# --------------------------------------------------------------------------
# training-step scrubber and animations


def step_scrubber(history: History, nrow: int = 8):
    """A slider over the steps at which fixed-noise samples were stored."""
    import ipywidgets as widgets

    steps = sorted(history.samples)

    def draw(picture):
        fig, ax = plt.subplots(figsize=(3.2, 3.2))
        show_images(history.samples[steps[picture]], nrow, ax=ax,
                    title=f"step {steps[picture]}")  # fmt: skip
        return fig

    last = len(steps) - 1
    slider = widgets.IntSlider(value=last, min=0, max=last, description="picture")
    return explorer(draw, picture=slider)


def animate_samples(history: History, n: int = 16, nrow: int = 4, interval: int = 500):
    """An animation of the first ``n`` fixed-noise samples over training."""
    steps = sorted(history.samples)
    fig, ax = plt.subplots(figsize=(2.2, 2.4), dpi=72)
    ax.axis("off")
    frame = ax.imshow(1 - image_grid(history.samples[steps[0]][:n], nrow),
                      cmap="gray", vmin=0, vmax=1)  # fmt: skip
    title = ax.set_title("", fontsize=9)

    def update(i):
        frame.set_data(1 - image_grid(history.samples[steps[i]][:n], nrow))
        title.set_text(f"step {steps[i]}")
        return frame, title

    anim = animation.FuncAnimation(fig, update, frames=len(steps), interval=interval)
    plt.close(fig)
    return anim


def animate_points(snapshots: dict[int, torch.Tensor], data: torch.Tensor,
                   interval: int = 400, limit: float | None = None):  # fmt: skip
    """An animation of 2-D samples (orange) moving toward the data (blue)."""
    steps = sorted(snapshots)
    fig, ax = plt.subplots(figsize=(3.2, 3.2), dpi=72)
    data = data.detach().cpu().numpy()
    ax.scatter(data[:, 0], data[:, 1], s=2, alpha=0.3, label="data")
    first = snapshots[steps[0]].detach().cpu().numpy()
    points = ax.scatter(first[:, 0], first[:, 1], s=2, color="tab:orange", label="G(z)")
    if limit is None:
        limit = float(np.abs(data).max()) * 1.3
    ax.set(xlim=(-limit, limit), ylim=(-limit, limit), aspect="equal")
    ax.legend(fontsize=7, loc="upper right")
    title = ax.set_title("", fontsize=9)

    def update(i):
        points.set_offsets(snapshots[steps[i]].detach().cpu().numpy())
        title.set_text(f"step {steps[i]}")
        return points, title

    anim = animation.FuncAnimation(fig, update, frames=len(steps), interval=interval)
    plt.close(fig)
    return anim


# matplotlib's player draws its buttons with an icon font from a CDN; the
# book must work offline, so the buttons get plain Unicode symbols instead.
_PLAYER_ICONS = {
    "fa fa-minus": "\u2212",
    "fa fa-fast-backward": "\u23ee",
    "fa fa-step-backward": "\u25c1",
    "fa fa-play fa-flip-horizontal": "\u25c0",
    "fa fa-pause": "\u23f8",
    "fa fa-play": "\u25b6",
    "fa fa-step-forward": "\u25b7",
    "fa fa-fast-forward": "\u23ed",
    "fa fa-plus": "+",
}


def offline_player(html: str) -> str:
    """Drop the icon font link from a jshtml player and use text symbols."""
    html = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">',
                  "", html)  # fmt: skip
    for icon, symbol in _PLAYER_ICONS.items():
        html = html.replace(f'<i class="{icon}"></i>', symbol)
    return html


def as_html(anim) -> "object":
    """The animation as self-contained HTML (frames inlined, nothing fetched)."""
    from IPython.display import HTML

    return HTML(offline_player(anim.to_jshtml(default_mode="loop")))
