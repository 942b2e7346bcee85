"""Class-conditional models and the trainer's label path."""

from dataclasses import replace

import pytest
import torch

from lsgan_lib import trainer
from lsgan_lib.conditional import (
    ConditionalDiscriminator,
    ConditionalGenerator,
    class_labels,
)
from lsgan_lib.data import ImageData
from lsgan_lib.models import Discriminator
from lsgan_lib.trainer import TrainConfig, build_models, train

TINY = TrainConfig(steps=8, batch_size=8, width=4, latent_dim=8, sample_every=4,
                   n_samples=20, num_classes=4)  # fmt: skip


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(40, 1, 28, 28, generator=g) * 2 - 1
    labels = torch.arange(40) % 4
    return ImageData("toy", images, labels, "random test images")


def test_shapes_ranges_and_raw_scores():
    torch.manual_seed(0)
    g, d = ConditionalGenerator(8, 4, width=4), ConditionalDiscriminator(4, width=4)
    assert g.num_classes == d.num_classes == 4
    y = torch.tensor([0, 1, 2, 3, 3])
    x = g(torch.randn(5, 8) * 100, y)
    assert x.shape == (5, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    scores = d(torch.randn(5, 1, 28, 28) * 50, y)
    assert scores.shape == (5,)
    assert (scores < 0).any()  # a raw score, not a probability


def test_both_models_use_the_label():
    torch.manual_seed(0)
    g, d = ConditionalGenerator(8, 4, width=4), ConditionalDiscriminator(4, width=4)
    z = torch.randn(3, 8).repeat(2, 1)
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    x = g(z, y)
    assert not torch.allclose(x[:3], x[3:])
    same = torch.randn(3, 1, 28, 28).repeat(2, 1, 1, 1)
    scores = d(same, y)
    assert not torch.allclose(scores[:3], scores[3:])


def test_projection_is_the_unconditional_score_plus_a_dot_product():
    torch.manual_seed(0)
    d = ConditionalDiscriminator(4, width=4).eval()
    x, y = torch.randn(6, 1, 28, 28), torch.tensor([0, 1, 2, 3, 0, 1])
    h = d.body.features(x)
    expected = d.body.score(h).squeeze(1) + (d.embed.weight[y] * h).sum(1)
    assert torch.allclose(d(x, y), expected, atol=1e-6)


@pytest.mark.parametrize("y, error", [
    (torch.tensor([0, 4]), ValueError),  # out of range
    (torch.tensor([0, -1]), ValueError),
    (torch.tensor([0]), ValueError),  # one label for two images
    (torch.tensor([0.0, 1.0]), TypeError),
])  # fmt: skip
def test_bad_labels_are_a_clear_error(y, error):
    g = ConditionalGenerator(8, 4, width=4)
    with pytest.raises(error, match="label"):
        g(torch.randn(2, 8), y)


def test_class_labels_give_one_block_per_class():
    assert class_labels(100, 10).view(10, 10).T.tolist() == [list(range(10))] * 10
    labels = class_labels(64, 10)
    assert labels.tolist() == sorted(labels.tolist())
    assert set(labels.tolist()) == set(range(10))


def test_config_builds_conditional_models(data):
    g, d = build_models(TINY, (1, 28, 28))
    assert isinstance(g, ConditionalGenerator)
    assert isinstance(d, ConditionalDiscriminator)
    with pytest.raises(ValueError, match="28x28"):
        build_models(replace(TINY, width=4), (2,))


def test_a_conditional_run_is_repeatable_and_samples_every_class(data):
    first, second = train(TINY, data), train(TINY, data)
    assert first.num_classes == 4
    assert first.history.g_loss == second.history.g_loss
    for a, b in zip(first.generator.parameters(), second.generator.parameters()):
        assert torch.equal(a, b)
    assert first.history.samples[8].shape == (20, 1, 28, 28)
    one_class = first.sample(6, seed=3, labels=torch.full((6,), 2))
    assert one_class.shape == (6, 1, 28, 28)
    assert not torch.equal(one_class, first.sample(6, seed=3))
    assert "conditional on 4 classes" in trainer.describe_run(first)


class RecordingD(ConditionalDiscriminator):
    def __init__(self):
        super().__init__(4, width=4)
        self.calls = []

    def forward(self, x, y):
        self.calls.append((x.detach().clone(), y.clone()))
        return super().forward(x, y)


class RecordingG(ConditionalGenerator):
    def __init__(self):
        super().__init__(8, 4, width=4)
        self.labels = []

    def forward(self, z, y):
        self.labels.append(y.clone())
        return super().forward(z, y)


def test_reals_carry_their_own_labels_and_fakes_the_batch_labels(data):
    g, d = RecordingG(), RecordingD()
    config = replace(TINY, steps=3, sample_every=100)
    train(config, data, generator=g, discriminator=d)
    rows = {tuple(img.flatten()[:20].tolist()): int(lab)
            for img, lab in zip(data.images, data.labels)}  # fmt: skip
    # per step: D(real), D(fake) for D's update, D(fake) for G's update
    steps = [d.calls[i : i + 3] for i in range(0, len(d.calls), 3)]
    train_labels = [y for y in g.labels if len(y) == config.batch_size]
    assert len(steps) == config.steps == len(train_labels)
    for calls, y_drawn in zip(steps, train_labels):
        (real, y_real), (_, y_fake), (_, y_g) = calls
        assert [rows[tuple(r.flatten()[:20].tolist())] for r in real] == y_real.tolist()
        assert torch.equal(y_fake, y_real) and torch.equal(y_g, y_real)
        assert torch.equal(y_drawn, y_real)


def test_conditional_models_need_labelled_data(data):
    with pytest.raises(ValueError, match="labels"):
        train(TINY, data.images)
    bad = ImageData("toy", data.images, data.labels + 4, "bad labels")
    with pytest.raises(ValueError, match="0..3"):
        train(TINY, bad)


def test_half_conditional_models_are_a_clear_error(data):
    with pytest.raises(ValueError, match="both or neither"):
        train(TINY, data, discriminator=Discriminator(width=4))


def test_joint_batch_is_refused_for_conditional_runs(data):
    with pytest.raises(ValueError, match="unconditional"):
        train(replace(TINY, d_joint_batch=True), data)


def test_a_conditional_run_resumes_bitwise(data, tmp_path):
    whole = train(TINY, data)
    train(replace(TINY, steps=4), data, out=tmp_path)
    resumed = train(TINY, data, out=tmp_path, resume=True)
    assert resumed.history.g_loss == whole.history.g_loss
    for a, b in zip(whole.generator.parameters(), resumed.generator.parameters()):
        assert torch.equal(a, b)


def test_the_generator_learns_which_label_means_which_image():
    """Class 0: a bright square top left; class 1: bottom right. After a short
    run, G's samples for each label put their ink in their class's corner
    (a generator that ignored its label would score both labels alike)."""
    images = torch.full((64, 1, 28, 28), -1.0)
    images[0::2, :, 2:12, 2:12] = 1.0
    images[1::2, :, 16:26, 16:26] = 1.0
    data = ImageData("squares", images, torch.arange(64) % 2, "drawn in the test")
    config = TrainConfig(steps=150, batch_size=16, width=8, latent_dim=8,
                         sample_every=150, num_classes=2, lr_d=2e-3,
                         lr_g=2e-3)  # fmt: skip
    result = train(config, data)
    corners = []
    for label in (0, 1):
        x = result.sample(32, seed=1, labels=torch.full((32,), label))
        top_left = x[:, :, 2:12, 2:12].mean()
        bottom_right = x[:, :, 16:26, 16:26].mean()
        corners.append((top_left - bottom_right).item())
    assert corners[0] > 1.0 and corners[1] < -1.0, corners


# ---------------------------------------------------------------------------
# The conditional chapter's measures


def test_within_class_spread_is_the_mean_distance_between_two_members():
    from lsgan_lib.conditional_experiments import within_class_spread

    images = torch.full((5, 1, 28, 28), -1.0)
    images[1, 0, 0, :4] = 1.0  # 2 from image 0 in four pixels: distance 4
    classes = torch.tensor([0, 0, 1, 1, 2])  # class 1: two equal images
    assert within_class_spread(images, classes) == pytest.approx((4.0 + 0.0) / 2)
    assert within_class_spread(images[:1], classes[:1]) == 0.0


def test_style_grid_keeps_one_noise_per_column(data):
    from lsgan_lib.conditional_experiments import style_grid

    result = train(TINY, data)
    grid = style_grid(result, per_class=3)
    assert grid.shape == (12, 1, 28, 28)
    expected = result.sample(3, seed=0, labels=torch.full((3,), 2))
    assert torch.allclose(grid[6:9], expected, atol=1e-6)


def test_the_evaluator_scores_a_perfect_conditional_generator(data):
    """A 'generator' that returns a fixed image per label, and a classifier
    stand-in that reads the label back: accuracy 1, no spread."""
    from lsgan_lib.conditional_experiments import ConditionalEvaluator

    class Fixed(ConditionalGenerator):
        def forward(self, z, y):
            out = torch.full((len(z), 1, 28, 28), -1.0)
            out[torch.arange(len(z)), 0, 0, y] = 1.0
            return out

    class Reader(torch.nn.Module):
        head = torch.nn.Linear(1, 4)

        def forward(self, x):
            return x[:, 0, 0, :4]

    class Images:
        classifier, n, extra = Reader(), 8, {}
        heldout = Fixed(8, 4, width=4)(torch.zeros(8, 8), torch.arange(8) % 4)
        heldout[:, :, 5:] = torch.rand(8, 1, 23, 28) * 2 - 1  # real variety

        def measure(self, images):
            return {}

    result = train(replace(TINY, steps=1), data)
    result.generator = Fixed(8, 4, width=4)
    metrics = ConditionalEvaluator(Images(), classes=4)(result)
    assert metrics["accuracy"] == 1.0
    assert metrics["per_class_accuracy"] == [1.0] * 4
    assert metrics["spread"] == 0.0
