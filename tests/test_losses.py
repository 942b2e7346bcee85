"""Losses against hand-computed values and torch.nn.functional references."""

import math

import pytest
import torch
import torch.nn.functional as F

from lsgan_lib.losses import (
    CODINGS,
    ls_optimal_discriminator,
    make_loss,
    parse_coding,
)

D_REAL = torch.tensor([2.0, 0.0])
D_FAKE = torch.tensor([-1.0, 0.5])


def test_least_squares_matches_hand_computed_values():
    loss = make_loss("ls", "pearson")  # a, b, c = -1, 1, 0
    parts = loss.discriminator(D_REAL, D_FAKE)
    # real: 1/2 * mean((2-1)^2, (0-1)^2) = 1/2 * 1 = 0.5
    # fake: 1/2 * mean((-1+1)^2, (0.5+1)^2) = 1/2 * 2.25/2 = 0.5625
    assert parts.real.item() == pytest.approx(0.5)
    assert parts.fake.item() == pytest.approx(0.5625)
    assert parts.total.item() == pytest.approx(1.0625)
    # G: 1/2 * mean((-1-0)^2, (0.5-0)^2) = 1/2 * 1.25/2 = 0.3125
    assert loss.generator(D_FAKE).item() == pytest.approx(0.3125)


def test_mean_of_squares_not_square_of_mean():
    # Scores [2, 0] average to the target 1: the known bug (square of the
    # batch mean) would give zero loss here.
    loss = make_loss("ls", "binary")
    assert loss.discriminator(D_REAL, torch.zeros(2)).real.item() == pytest.approx(0.5)
    assert loss.generator(torch.tensor([2.0, 0.0])).item() == pytest.approx(0.5)


def test_binary_coding_is_half_of_mse_loss():
    loss = make_loss("ls", "binary")  # a, b, c = 0, 1, 1
    d_real, d_fake = torch.randn(7), torch.randn(7)
    parts = loss.discriminator(d_real, d_fake)
    mse = torch.nn.MSELoss()
    reference = mse(d_real, torch.ones(7)) + mse(d_fake, torch.zeros(7))
    assert parts.total.item() == pytest.approx(0.5 * reference.item())
    assert loss.generator(d_fake).item() == pytest.approx(
        0.5 * mse(d_fake, torch.ones(7)).item()
    )


def test_sigmoid_cross_entropy_matches_hand_values_and_bce():
    loss = make_loss("gan-ns")
    parts = loss.discriminator(D_REAL, D_FAKE)
    sig = lambda s: 1 / (1 + math.exp(-s))  # noqa: E731
    real = -(math.log(sig(2.0)) + math.log(sig(0.0))) / 2
    fake = -(math.log(1 - sig(-1.0)) + math.log(1 - sig(0.5))) / 2
    assert parts.real.item() == pytest.approx(real)
    assert parts.fake.item() == pytest.approx(fake)
    bce = F.binary_cross_entropy_with_logits
    assert parts.real.item() == pytest.approx(bce(D_REAL, torch.ones(2)).item())
    assert parts.fake.item() == pytest.approx(bce(D_FAKE, torch.zeros(2)).item())
    ns = -(math.log(sig(-1.0)) + math.log(sig(0.5))) / 2
    assert loss.generator(D_FAKE).item() == pytest.approx(ns)
    minimax = (math.log(1 - sig(-1.0)) + math.log(1 - sig(0.5))) / 2
    assert make_loss("gan-minimax").generator(D_FAKE).item() == pytest.approx(minimax)


def test_sigmoid_losses_stay_finite_for_huge_scores():
    big = torch.tensor([1e4, -1e4])
    for name in ("gan-ns", "gan-minimax"):
        loss = make_loss(name)
        assert torch.isfinite(loss.discriminator(big, big).total)
        assert torch.isfinite(loss.generator(big))


def test_named_codings_are_the_papers_and_the_tutorials():
    assert CODINGS["pearson"] == (-1.0, 1.0, 0.0)
    assert CODINGS["binary"] == (0.0, 1.0, 1.0)
    assert CODINGS["tutorial"] == (-1.0, 1.0, 1.0)
    assert parse_coding("-1,1,0") == CODINGS["pearson"]
    assert parse_coding([0, 1, 1]) == CODINGS["binary"]


@pytest.mark.parametrize(
    "coding, message",
    [("1,1,0", "a == b"), ("nonsense", "unknown coding"), ("1,2", "unknown coding")],
)
def test_bad_codings_are_clear_errors(coding, message):
    with pytest.raises(ValueError, match=message):
        make_loss("ls", coding)


def test_unknown_loss_name_lists_the_choices():
    with pytest.raises(ValueError, match="gan-ns"):
        make_loss("wgan")


@pytest.mark.parametrize("coding", ["pearson", "binary", "tutorial"])
def test_ls_discriminator_loss_is_minimised_at_the_formula(coding):
    """Minimise the library's own D loss over a free table of scores.

    Real samples land on 4 bins with frequencies p_d, fake samples with
    frequencies p_g; D is one free number per bin. The minimiser of the
    empirical loss must equal D* = (b p_d + a p_g) / (p_d + p_g).
    """
    a, b, _ = CODINGS[coding]
    p_d = torch.tensor([0.1, 0.2, 0.3, 0.4])
    p_g = torch.tensor([0.4, 0.3, 0.2, 0.1])
    # 1000 samples per distribution, in exact proportion to p.
    real_bins = torch.repeat_interleave(torch.arange(4), (p_d * 1000).long())
    fake_bins = torch.repeat_interleave(torch.arange(4), (p_g * 1000).long())
    table = torch.zeros(4, requires_grad=True)
    loss = make_loss("ls", coding)
    optimizer = torch.optim.LBFGS([table], max_iter=200, tolerance_grad=1e-12)

    def closure():
        optimizer.zero_grad()
        value = loss.discriminator(table[real_bins], table[fake_bins]).total
        value.backward()
        return value

    optimizer.step(closure)
    expected = ls_optimal_discriminator(p_d, p_g, a, b)
    assert torch.allclose(table.detach(), expected, atol=1e-5)
    # and the formula is not trivially constant: D* differs across bins
    assert expected.std() > 0.1
