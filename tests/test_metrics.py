"""Each metric separates a good sample from a bad one.

Real MNIST-like images are not needed: a few synthetic "classes" of simple
shapes (bars at different positions) give a classifier something to learn
in a second, and make every check deterministic and fast.
"""

import math

import pytest
import torch

from lsgan_lib.data import grid_mixture, ring_mixture
from lsgan_lib.metrics import (
    ClassifierFeatures,
    accuracy,
    class_coverage,
    frechet_distance,
    memorisation,
    mode_stats,
    nearest_neighbour_distances,
    predict,
    train_classifier,
)

CLASSES = 4


def shapes(n: int, seed: int):
    """n images in [-1, 1]: class k is a bright bar at row band k, plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % CLASSES
    images = torch.full((n, 1, 28, 28), -1.0)
    for i, k in enumerate(labels.tolist()):
        top = 3 + 6 * k + int(torch.randint(0, 2, (1,), generator=g))
        left = int(torch.randint(2, 8, (1,), generator=g))
        images[i, 0, top : top + 3, left : left + 16] = 1.0
    images += 0.1 * torch.randn(images.shape, generator=g)
    return images.clamp(-1, 1), labels


@pytest.fixture(scope="module")
def data():
    train_x, train_y = shapes(800, seed=0)
    test_x, test_y = shapes(400, seed=1)
    classifier = train_classifier(train_x, train_y, steps=80, batch_size=64)
    return classifier, train_x, train_y, test_x, test_y


def test_classifier_learns_the_classes(data):
    classifier, _, _, test_x, test_y = data
    assert accuracy(classifier, test_x, test_y) > 0.95


def test_real_vs_real_frechet_distance_is_small_and_noise_is_far(data):
    classifier, train_x, _, test_x, _ = data
    real_real = frechet_distance(classifier, train_x[:400], test_x)
    noise = torch.rand(400, 1, 28, 28) * 2 - 1
    real_noise = frechet_distance(classifier, test_x, noise)
    same = frechet_distance(classifier, test_x, test_x)
    assert same < 1e-3
    assert real_real < 0.05 * real_noise


def test_frechet_distance_grows_when_a_class_is_missing(data):
    classifier, train_x, train_y, test_x, _ = data
    full = frechet_distance(classifier, test_x, train_x[:400])
    three = train_x[train_y != 0][:400]
    assert frechet_distance(classifier, test_x, three) > 3 * full


def test_feature_extractor_refuses_bytes_and_the_wrong_range(data):
    """torchmetrics hands a custom extractor the images untouched: a uint8 or
    [0, 255] batch must fail loudly, not give a meaningless distance."""
    features = ClassifierFeatures(data[0])
    assert features.num_features == 64  # so torchmetrics skips its probe
    with pytest.raises(TypeError):
        features(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError):
        features(torch.full((2, 1, 28, 28), 255.0))
    assert features(data[3][:5]).shape == (5, 64)


def test_a_single_class_generator_covers_one_class(data):
    classifier, train_x, train_y, test_x, _ = data
    one = train_x[train_y == 2][:100]
    coverage = class_coverage(classifier, one)
    assert coverage.covered == 1
    assert coverage.counts[2] >= 95
    assert coverage.kl_from_uniform == pytest.approx(math.log(CLASSES), abs=0.1)
    everyone = class_coverage(classifier, test_x)
    assert everyone.covered == CLASSES
    assert everyone.kl_from_uniform < 0.01


def test_coverage_threshold_is_a_share_of_samples():
    from lsgan_lib.metrics import Coverage

    coverage = Coverage([90, 5, 4, 1], min_share=0.05)
    assert coverage.covered == 2
    assert coverage.kl_from_uniform == pytest.approx(
        sum(p * math.log(4 * p) for p in (0.9, 0.05, 0.04, 0.01))
    )


def test_predict_checks_the_input_range(data):
    with pytest.raises(ValueError):
        predict(data[0], torch.zeros(3, 1, 28, 28) + 2)


def test_nearest_neighbour_distance_of_copies_is_zero(data):
    _, train_x, _, test_x, _ = data
    copies = train_x[torch.tensor([5, 17, 300, 799])]
    assert nearest_neighbour_distances(copies, train_x).max().item() < 1e-4
    assert nearest_neighbour_distances(test_x, train_x).min().item() > 0.5
    m = memorisation(train_x[:100], train_x, test_x[:100])
    assert m.generated < 1e-4 and m.heldout > 0.5 and m.ratio < 1e-3


def test_nearest_neighbour_distance_matches_brute_force():
    g = torch.Generator().manual_seed(3)
    q = torch.randn(50, 1, 28, 28, generator=g)
    r = torch.randn(300, 1, 28, 28, generator=g)
    expected = torch.cdist(q.flatten(1).double(), r.flatten(1).double()).min(1).values
    got = nearest_neighbour_distances(q, r, chunk=16)
    assert torch.allclose(got.double(), expected, atol=1e-4)


def test_a_single_mode_generator_covers_one_mode():
    ring = ring_mixture()
    g = torch.Generator().manual_seed(0)
    one = ring.centres[3] + ring.std * torch.randn(2500, 2, generator=g)
    stats = mode_stats(one, ring.centres, ring.std)
    assert stats.covered == 1 and stats.counts[3] > 2400
    assert stats.high_quality > 0.98  # 3 std in 2-D holds 98.9% of the mass


def test_real_samples_cover_every_mode_and_noise_is_low_quality():
    g = torch.Generator().manual_seed(0)
    for mixture in (ring_mixture(), grid_mixture()):
        stats = mode_stats(mixture.sample(2500, g), mixture.centres, mixture.std)
        assert stats.covered == len(mixture.centres)
        assert stats.high_quality > 0.97
    grid = grid_mixture()
    noise = torch.rand(2500, 2, generator=g) * 10 - 5
    assert mode_stats(noise, grid.centres, grid.std).high_quality < 0.05


def test_ring_has_eight_distinct_modes():
    centres = ring_mixture().centres
    gaps = torch.cdist(centres, centres) + 10 * torch.eye(8)
    assert len(centres) == 8 and gaps.min() > 0.7


def test_min_count_sets_how_many_samples_cover_a_mode():
    ring = ring_mixture()
    samples = torch.cat([ring.centres[:1].repeat(10, 1), ring.centres[1:2]])
    assert mode_stats(samples, ring.centres, ring.std).covered == 2
    assert mode_stats(samples, ring.centres, ring.std, min_count=5).covered == 1
