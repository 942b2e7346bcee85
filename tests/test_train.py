"""The trainer and models: real behaviour and the known traps of GAN code."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from lsgan_lib.data import ring_mixture
from lsgan_lib.models import Discriminator, Generator
from lsgan_lib.trainer import TrainConfig, train

TINY_IMAGES = TrainConfig(steps=6, batch_size=8, width=4, latent_dim=8, sample_every=3)


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(64, 1, 28, 28, generator=g) * 2 - 1


def weights(module):
    return torch.cat([p.detach().flatten() for p in module.state_dict().values()
                      if p.dtype.is_floating_point])


def test_same_seed_gives_bitwise_equal_weights_other_seed_does_not(images):
    first = train(TINY_IMAGES, images)
    second = train(TINY_IMAGES, images)
    other = train(replace(TINY_IMAGES, seed=1), images)
    assert torch.equal(weights(first.generator), weights(second.generator))
    assert torch.equal(weights(first.discriminator), weights(second.discriminator))
    assert first.history.g_loss == second.history.g_loss
    assert not torch.equal(weights(first.generator), weights(other.generator))


def test_noise_comes_from_the_seeded_stream(images):
    """Noise drawn from an unseeded generator would differ between runs;
    consuming the global stream before training must not change a run,
    because train() seeds it itself."""
    first = train(TINY_IMAGES, images)
    torch.randn(1000)
    second = train(TINY_IMAGES, images)
    assert torch.equal(weights(first.generator), weights(second.generator))


def test_discriminator_returns_raw_scores_without_sigmoid():
    d = Discriminator(width=4)
    assert not any(isinstance(m, nn.Sigmoid) for m in d.modules())
    nn.init.constant_(d.score.bias, 5.0)
    scores = d(torch.rand(3, 1, 28, 28) * 2 - 1)
    assert scores.shape == (3,)
    assert (scores > 1).all()  # impossible after a sigmoid


def test_generator_outputs_images_in_tanh_range():
    out = Generator(latent_dim=8, width=4)(torch.randn(5, 8) * 100)
    assert out.shape == (5, 1, 28, 28)
    assert out.min() >= -1 and out.max() <= 1


def test_real_and_fake_never_share_a_discriminator_batch(images):
    """Batch norm in D must not see one concatenated real+fake batch."""

    class Recording(Discriminator):
        def __init__(self):
            super().__init__(width=4)
            self.batches = []

        def forward(self, x):
            self.batches.append(x.detach().clone())
            return super().forward(x)

    d = Recording()
    train(TINY_IMAGES, images, discriminator=d)
    rows = {tuple(r.flatten()[:50].tolist()) for r in images}
    for batch in d.batches:
        is_real = [tuple(r.flatten()[:50].tolist()) in rows for r in batch]
        assert all(is_real) or not any(is_real)
    assert any(all(tuple(r.flatten()[:50].tolist()) in rows for r in b)
               for b in d.batches)


def test_images_in_zero_one_are_refused(images):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train(TINY_IMAGES, (images + 1) / 2)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"loss": "wgan"}, "unknown loss"),
        ({"optimizer": "sgd"}, "unknown optimizer"),
        ({"coding": "2,2,0"}, "a == b"),
        ({"batch_size": 1000}, "larger than the dataset"),
        ({"device": "tpu"}, "unknown device"),
    ],
)
def test_bad_config_is_a_clear_error(images, change, message):
    with pytest.raises(ValueError, match=message):
        train(replace(TINY_IMAGES, **change), images)


def test_history_and_samples_are_recorded(images):
    result = train(TINY_IMAGES, images)
    h = result.history
    assert len(h.g_loss) == len(h.d_real) == len(h.d_loss) == 6
    assert sorted(h.samples) == [0, 3, 6]
    assert h.samples[6].shape == (64, 1, 28, 28)
    assert h.images_per_second > 0 and h.stop_reason == "finished"
    assert h.d_loss[0] == pytest.approx(h.d_loss_real[0] + h.d_loss_fake[0])


def test_epochs_set_the_number_of_steps(images):
    result = train(replace(TINY_IMAGES, epochs=2), images)
    assert len(result.history.g_loss) == 2 * (64 // 8)


def test_rmsprop_runs(images):
    result = train(replace(TINY_IMAGES, optimizer="rmsprop"), images)
    assert all(torch.isfinite(torch.tensor(result.history.g_loss)))


@pytest.mark.parametrize("loss", ["ls", "gan-ns"])
def test_training_on_a_ring_moves_samples_toward_the_data(loss):
    ring = ring_mixture(8, std=0.05)
    data = ring.sample(4096, torch.Generator().manual_seed(0))
    config = TrainConfig(
        loss=loss, steps=400, batch_size=256, latent_dim=16, width=64,
        lr_d=1e-3, lr_g=1e-3, sample_every=400, n_samples=1000,
    )  # fmt: skip
    result = train(config, data)

    def mean_distance(points):
        return torch.cdist(points, ring.centres).min(1).values.mean().item()

    before = mean_distance(result.history.samples[0])
    after = mean_distance(result.history.samples[400])
    # The untrained generator sits in a blob near the origin, ~1 away.
    assert before > 0.5
    assert after < 0.4 * before
