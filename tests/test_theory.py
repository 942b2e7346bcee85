"""The theory helpers: integrals and divergences against independent
references (closed forms, scipy.integrate.quad), trained discriminators
against the optimal-discriminator formulas, gradients of G's losses."""

import math

import matplotlib
import numpy as np
import pytest
import torch
from scipy import integrate as sci_integrate
from scipy import stats
from torch import nn

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lsgan_lib import theory as T  # noqa: E402
from lsgan_lib import theory_plots as TP  # noqa: E402
from lsgan_lib.data import Mixture2D, ring_mixture  # noqa: E402
from lsgan_lib.losses import (  # noqa: E402
    CODINGS,
    gan_optimal_discriminator,
    ls_optimal_discriminator,
    make_loss,
)

P_D = T.gaussian(-1.0, 0.8)
P_G = T.gaussian(1.0, 1.2)
X = T.grid()


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def densities(shift=0.0):
    return P_D.pdf(X), P_G.shifted(shift).pdf(X)


def test_mixture_pdf_matches_scipy_and_integrates_to_one():
    mix = T.Mixture1D((-2.0, 1.0), (0.5, 1.5), (1.0, 3.0))
    expected = 0.25 * stats.norm.pdf(X, -2, 0.5) + 0.75 * stats.norm.pdf(X, 1, 1.5)
    np.testing.assert_allclose(mix.pdf(X), expected, rtol=1e-12, atol=1e-300)
    assert T.integrate(mix.pdf(X), X) == pytest.approx(1.0, abs=1e-9)


def test_mixture_samples_have_the_right_moments():
    mix = T.Mixture1D((-2.0, 1.0), (0.5, 1.5), (1.0, 3.0))
    sample = mix.sample(200_000, torch.Generator().manual_seed(0)).double()
    assert sample.shape == (200_000, 1)
    mean = 0.25 * -2 + 0.75 * 1
    var = 0.25 * (0.25 + 4) + 0.75 * (2.25 + 1) - mean**2
    assert sample.mean().item() == pytest.approx(mean, abs=0.01)
    assert sample.var().item() == pytest.approx(var, rel=0.01)


def test_kl_matches_the_gaussian_closed_form():
    m1, s1, m2, s2 = -1.0, 0.8, 1.0, 1.2
    closed = math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
    p_d, p_g = densities()
    assert T.kl_divergence(p_d, p_g, X) == pytest.approx(closed, rel=1e-8)


def test_js_is_zero_for_equal_densities_and_log2_for_disjoint_ones():
    p_d, _ = densities()
    assert T.js_divergence(p_d, p_d, X) == pytest.approx(0.0, abs=1e-12)
    far = T.gaussian(8.0, 0.3).pdf(X)
    near_zero = T.gaussian(-8.0, 0.3).pdf(X)
    assert T.js_divergence(near_zero, far, X) == pytest.approx(math.log(2), rel=1e-6)


@pytest.mark.parametrize("shift", [-2.0, 0.0, 0.7, 3.0, 6.0])
def test_value_at_optimal_discriminator_is_minus_log4_plus_2js(shift):
    p_d, p_g = densities(shift)
    value = T.gan_value_at_optimum(p_d, p_g, X)
    assert math.isfinite(value)
    assert value == pytest.approx(-math.log(4) + 2 * T.js_divergence(p_d, p_g, X),
                                  abs=1e-10)


def test_gan_value_from_scores_matches_the_optimum_formula():
    p_d, p_g = densities()  # no underflow on this grid: log ratio is finite
    d_star_score = np.log(p_d) - np.log(p_g)
    assert T.gan_value(p_d, p_g, d_star_score, X) == pytest.approx(
        T.gan_value_at_optimum(p_d, p_g, X), abs=1e-10)


def test_js_against_scipy_quad():
    pd, pg = stats.norm(-1, 0.8).pdf, stats.norm(1, 1.2).pdf

    def integrand(x):
        m = 0.5 * (pd(x) + pg(x))
        return 0.5 * pd(x) * math.log(pd(x) / m) + 0.5 * pg(x) * math.log(pg(x) / m)

    direct, _ = sci_integrate.quad(integrand, -10, 10, epsabs=1e-12)
    p_d, p_g = densities()
    assert T.js_divergence(p_d, p_g, X) == pytest.approx(direct, rel=1e-7)


def test_optimal_discriminator_maximises_the_gan_value():
    p_d, p_g = densities()
    d_star_score = np.log(p_d) - np.log(p_g)
    best = T.gan_value(p_d, p_g, d_star_score, X)
    for eps in (-0.3, 0.3):
        assert T.gan_value(p_d, p_g, d_star_score + eps, X) < best
    assert T.gan_value(p_d, p_g, 0.5 * d_star_score, X) < best


def test_pearson_chi2_at_the_ls_optimum_matches_a_direct_integral():
    a, b, c = CODINGS["pearson"]
    p_d, p_g = densities()
    d_star = ls_optimal_discriminator(p_d, p_g, a, b)
    twice_value = 2 * T.ls_generator_value(p_d, p_g, d_star, c, X)
    pd, pg = stats.norm(-1, 0.8).pdf, stats.norm(1, 1.2).pdf
    direct, _ = sci_integrate.quad(
        lambda x: (2 * pg(x) - pd(x) - pg(x)) ** 2 / (pd(x) + pg(x)), -10, 10,
        epsabs=1e-12,
    )
    assert twice_value == pytest.approx(direct, rel=1e-7)
    assert T.pearson_chi2(2 * p_g, p_d + p_g, X) == pytest.approx(direct, rel=1e-7)
    # the argument order matters: the other order is a different number
    assert abs(T.pearson_chi2(p_d + p_g, 2 * p_g, X) - direct) > 0.1


@pytest.mark.parametrize("coding", sorted(CODINGS))
def test_ls_value_three_ways_and_its_offset(coding):
    a, b, c = CODINGS[coding]
    p_d, p_g = densities()
    d_star = ls_optimal_discriminator(p_d, p_g, a, b)
    by_d_star = T.ls_generator_value(p_d, p_g, d_star, c, X)
    assert T.ls_value_formula(p_d, p_g, a, b, c, X) == pytest.approx(by_d_star)
    assert T.ls_value_expanded(p_d, p_g, a, b, c, X) == pytest.approx(by_d_star)
    chi2 = T.pearson_chi2(2 * p_g, p_d + p_g, X)
    offset = (c - (a + b) / 2) ** 2
    assert by_d_star == pytest.approx(offset + (b - a) ** 2 / 8 * chi2)
    equal = T.ls_value_formula(p_d, p_d, a, b, c, X)
    assert equal == pytest.approx(offset, abs=1e-10)


def test_support_mask_keeps_the_bulk_and_drops_the_tails():
    p_d, p_g = densities()
    mask = T.support_mask(p_d, p_g, 0.05)
    assert mask[np.searchsorted(X, 0.0)] and not mask[0] and not mask[-1]


def test_trained_gan_discriminator_matches_its_optimum():
    p_d, p_g = densities()
    d = T.fit_discriminator(make_loss("gan-ns"), P_D.sample, P_G.sample)
    error = np.abs(T.sigmoid(T.scores_on(d, X)) - gan_optimal_discriminator(p_d, p_g))
    assert error[T.support_mask(p_d, p_g, 0.05)].max() < 0.02


def test_trained_ls_discriminator_matches_its_optimum():
    p_d, p_g = densities()
    d = T.fit_discriminator(make_loss("ls", "pearson"), P_D.sample, P_G.sample)
    error = np.abs(T.scores_on(d, X) - ls_optimal_discriminator(p_d, p_g, -1, 1))
    assert error[T.support_mask(p_d, p_g, 0.05)].max() < 0.04


def test_fit_discriminator_is_repeatable():
    kwargs = dict(steps=50, hidden=8)
    first = T.fit_discriminator(make_loss("ls"), P_D.sample, P_G.sample, **kwargs)
    second = T.fit_discriminator(make_loss("ls"), P_D.sample, P_G.sample, **kwargs)
    assert np.array_equal(T.scores_on(first, X), T.scores_on(second, X))


def test_generator_loss_curves_saturate_where_theory_says():
    scores = torch.tensor([-10.0, 0.0, 10.0])
    _, ns = T.generator_loss_curve(make_loss("gan-ns"), scores)
    _, sat = T.generator_loss_curve(make_loss("gan-minimax"), scores)
    values, ls = T.generator_loss_curve(make_loss("ls", "pearson"), scores)
    # non-saturating: -sigma(-s); saturating (minimax): -sigma(s)
    np.testing.assert_allclose(ns, -T.sigmoid(-scores.numpy()), rtol=1e-10)
    np.testing.assert_allclose(sat, -T.sigmoid(scores.numpy()), rtol=1e-10)
    assert abs(ns[2]) < 1e-4 and abs(sat[0]) < 1e-4
    assert abs(ns[0]) > 0.99 and abs(sat[2]) > 0.99
    # least squares with c = 0: L = s^2 / 2, slope s, never flat away from c
    np.testing.assert_allclose(values, [50.0, 0.0, 50.0])
    np.testing.assert_allclose(ls, [-10.0, 0.0, 10.0])


def test_per_sample_gradient_equals_one_sample_at_a_time():
    torch.manual_seed(0)
    d = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1), nn.Flatten(0))
    fake = torch.randn(5, 2)
    loss = make_loss("ls", "binary")
    batch = T.per_sample_generator_grad(loss, d, fake)
    for i in range(5):
        x = fake[i : i + 1].clone().requires_grad_(True)
        (single,) = torch.autograd.grad(loss.generator(d(x)), x)
        torch.testing.assert_close(batch[i : i + 1], single)


def test_toward_data_cosine_signs():
    real = torch.tensor([[0.0, 0.0]])
    fake = torch.tensor([[2.0, 0.0], [2.0, 0.0]])
    grad = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])  # descent goes to -grad
    cos = T.toward_data_cosine(grad, fake, real)
    torch.testing.assert_close(cos, torch.tensor([1.0, -1.0]))


@pytest.fixture(scope="module")
def toy_2d():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the notebook's setting, so the same weights
    ring = ring_mixture(8, 1.0, 0.05)
    fakes = Mixture2D(torch.tensor([[-3.0, 0.0]]), 0.4)
    far = Mixture2D(torch.tensor([[3.2, 1.5]]), 0.35)
    far_sample = far.sample(100, torch.Generator().manual_seed(1))
    fit = dict(steps=1000, hidden=64, activation=nn.LeakyReLU)
    sigmoid_d = T.fit_discriminator(make_loss("gan-ns"), ring.sample, fakes.sample,
                                    **fit)
    ls_d = T.fit_discriminator(make_loss("ls", "binary"), ring.sample, fakes.sample,
                               **fit)
    torch.set_num_threads(threads)
    return ring, far_sample, sigmoid_d, ls_d


def test_far_fakes_get_no_gradient_through_the_sigmoid_but_do_with_ls(toy_2d):
    ring, far, sigmoid_d, ls_d = toy_2d
    with torch.no_grad():
        assert (sigmoid_d(far) > 5).all()  # far fakes sit on D's real side
        assert (ls_d(far) > 0.5).all()
    ns = T.far_fakes_report(make_loss("gan-ns"), sigmoid_d, far, ring.centres)
    ls = T.far_fakes_report(make_loss("ls", "binary"), ls_d, far, ring.centres)
    assert ns["median_norm"] < 1e-6
    assert ls["median_norm"] > 1e-3
    assert ls["toward_data"] > 0.9


def test_plotting_helpers_return_figures(toy_2d):
    ring, far, sigmoid_d, ls_d = toy_2d
    p_d, p_g = densities()
    d_star = gan_optimal_discriminator(p_d, p_g)
    mask = T.support_mask(p_d, p_g)
    scores = torch.linspace(-5, 5, 11)
    curves = {"ns": T.generator_loss_curve(make_loss("gan-ns"), scores)}
    grad = T.per_sample_generator_grad(make_loss("ls", "binary"), ls_d, far)
    figures = [
        TP.plot_optimal_discriminator(X, p_d, p_g, d_star, d_star, mask),
        TP.plot_curves(X, {"p_d": p_d}, "x", "density"),
        TP.plot_loss_vs_score(scores.numpy(), curves),
        TP.plot_score_maps(
            [dict(discriminator=ls_d, boundary=0.5, grad=grad, title="ls"),
             dict(discriminator=sigmoid_d, boundary=0.0, title="sigmoid")],
            real=ring.sample(50, torch.Generator().manual_seed(0)),
            fake=far, far=far,
        ),
        TP.plot_grad_norms({"ls": grad.norm(dim=1), "zero": torch.zeros(3)}),
    ]
    for fig in figures:
        assert isinstance(fig, matplotlib.figure.Figure)
        assert fig.axes
        plt.close(fig)
