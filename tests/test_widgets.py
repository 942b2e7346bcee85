"""Explorers, their static twins and the animations."""

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lsgan_lib.models import Generator  # noqa: E402
from lsgan_lib.trainer import History  # noqa: E402
from lsgan_lib.widgets import (  # noqa: E402
    abc_loss_explorer,
    abc_loss_figure,
    animate_points,
    animate_samples,
    as_html,
    latent_walk_explorer,
    latent_walk_figure,
    latent_walk_images,
    step_scrubber,
)


@pytest.fixture
def history():
    h = History()
    for step in (0, 10, 20):
        h.samples[step] = torch.full((4, 1, 28, 28), step / 20 * 2 - 1)
    return h


def test_abc_figure_draws_the_optimal_discriminator():
    fig = abc_loss_figure(-1, 1, 0)
    right = fig.axes[1]
    x, y = right.lines[0].get_data()
    # D* = (b s + a (1 - s)) with s the share of real data: -1 at 0, 1 at 1
    assert y[0] == pytest.approx(-1) and y[-1] == pytest.approx(1)
    assert np.interp(0.5, x, y) == pytest.approx(0)
    left = fig.axes[0]
    assert [line.get_label() for line in left.lines] == [
        "D loss on a real sample", "D loss on a fake sample", "G loss",
    ]  # fmt: skip
    # the G curve has its minimum, 0, at c
    gx, gy = left.lines[2].get_data()
    assert gx[np.argmin(gy)] == pytest.approx(0, abs=0.03)


def test_explorers_redraw_their_picture_when_a_slider_moves(history):
    for widget in (
        abc_loss_explorer(),
        latent_walk_explorer(Generator(8, 4), 8),
        step_scrubber(history),
    ):
        *sliders, image = widget.children
        assert isinstance(image, ipywidgets.Image)
        first = image.value
        assert first[:4] == b"\x89PNG"
        slider = sliders[-1]
        slider.value = slider.min if slider.value != slider.min else slider.max
        assert image.value != first, type(widget)


def test_latent_walk_ends_at_the_two_draws():
    g = Generator(8, 4)
    images = latent_walk_images(g, 8, seed=3, steps=5)
    z0, z1 = torch.randn(2, 8, generator=torch.Generator().manual_seed(3))
    g.eval()
    with torch.no_grad():
        assert torch.allclose(images[0], g(z0[None])[0], atol=1e-6)
        assert torch.allclose(images[-1], g(z1[None])[0], atol=1e-6)
    assert latent_walk_figure(g, 8, seeds=(0, 1), steps=4).axes


def test_animations_have_one_frame_per_stored_step(history):
    anim = animate_samples(history)
    html = as_html(anim).data
    assert html.count("data:image/png;base64") == 3
    points = {0: torch.zeros(5, 2), 5: torch.ones(5, 2)}
    html = as_html(animate_points(points, torch.randn(20, 2))).data
    assert html.count("data:image/png;base64") == 2


def test_animation_player_needs_nothing_from_the_network(history):
    html = as_html(animate_samples(history)).data
    assert "https://" not in html and "http://" not in html
    assert 'class="fa' not in html
    assert "\u25b6" in html  # the play button still has a symbol
