"""Numerical companions to the theory chapters.

1-D densities on a grid, integrals by the trapezoidal rule, the divergences
that appear in the GAN and LSGAN theorems, a helper that trains a
discriminator to convergence on samples with the library's losses, and
per-sample gradients of the generator's loss.

Densities are NumPy arrays evaluated on one grid ``x``; the integral of
``f`` is ``integrate(f, x)``. The optimal discriminators themselves live in
:mod:`lsgan_lib.losses` (``gan_optimal_discriminator``,
``ls_optimal_discriminator``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from .losses import GANLoss
from .models import MLPDiscriminator

# draws n samples of shape (n, dim) with the given random generator
Sampler = Callable[[int, torch.Generator], torch.Tensor]

# ---------------------------------------------------------------------------
# 1-D densities and integrals


@dataclass(frozen=True)
class Mixture1D:
    """p(x) = sum_k w_k N(x; mu_k, sigma_k^2), a Gaussian mixture on the line."""

    means: tuple[float, ...]
    stds: tuple[float, ...]
    weights: tuple[float, ...]

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """The density p(x) at every point of ``x``."""
        x = np.asarray(x, dtype=np.float64)[..., None]
        mu, sd, w = (np.asarray(v, dtype=np.float64) for v in self._params())
        z = (x - mu) / sd
        return (w * np.exp(-0.5 * z**2) / (sd * math.sqrt(2 * math.pi))).sum(-1)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n samples as a float32 tensor of shape (n, 1), drawn with ``generator``."""
        mu, sd, w = (torch.tensor(v, dtype=torch.float64) for v in self._params())
        which = torch.multinomial(w, n, replacement=True, generator=generator)
        noise = torch.randn(n, generator=generator, dtype=torch.float64)
        return (mu[which] + sd[which] * noise).float().unsqueeze(1)

    def shifted(self, shift: float) -> "Mixture1D":
        """The same mixture moved by ``shift``: p(x - shift)."""
        return Mixture1D(tuple(m + shift for m in self.means), self.stds, self.weights)

    def _params(self):
        total = sum(self.weights)
        return self.means, self.stds, tuple(w / total for w in self.weights)


def gaussian(mean: float = 0.0, std: float = 1.0) -> Mixture1D:
    """N(mean, std^2) as a one-component mixture."""
    return Mixture1D((mean,), (std,), (1.0,))


def grid(lo: float = -15.0, hi: float = 15.0, n: int = 6001) -> np.ndarray:
    """n evenly spaced points from lo to hi (float64), for integrals and plots."""
    return np.linspace(lo, hi, n)


def integrate(values: np.ndarray, x: np.ndarray) -> float:
    """int f(x) dx by the trapezoidal rule on the grid ``x``."""
    return float(np.trapezoid(values, x))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, with 0 where den == 0 (points no density reaches)."""
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x log y, with the convention 0 log 0 = 0."""
    out = np.zeros_like(x, dtype=np.float64)
    np.multiply(x, np.log(y, where=x > 0, out=np.ones_like(y)), out=out, where=x > 0)
    return out


def kl_divergence(p: np.ndarray, q: np.ndarray, x: np.ndarray) -> float:
    """KL(p || q) = int p(x) log(p(x) / q(x)) dx."""
    return integrate(_xlogy(p, _ratio(p, q)), x)


def js_divergence(p: np.ndarray, q: np.ndarray, x: np.ndarray) -> float:
    """JS(p || q) = 1/2 KL(p || m) + 1/2 KL(q || m) with m = (p + q) / 2."""
    m = 0.5 * (p + q)
    return 0.5 * kl_divergence(p, m, x) + 0.5 * kl_divergence(q, m, x)


def pearson_chi2(p: np.ndarray, q: np.ndarray, x: np.ndarray) -> float:
    """chi^2(p || q) = int (p(x) - q(x))^2 / q(x) dx: the reference q is the
    denominator. (Mao et al. write the two arguments in the other order.)"""
    return integrate(_ratio((p - q) ** 2, q), x)


def support_mask(p_d: np.ndarray, p_g: np.ndarray, level: float = 0.02) -> np.ndarray:
    """Points where the mixture (p_d + p_g) / 2 is at least ``level`` of its peak:
    where a discriminator trained on samples has seen enough data."""
    m = 0.5 * (p_d + p_g)
    return m >= level * m.max()


# ---------------------------------------------------------------------------
# Values of the games at a given discriminator


def gan_value(
    p_d: np.ndarray, p_g: np.ndarray, scores: np.ndarray, x: np.ndarray
) -> float:
    """V(D, G) = int p_d log sigma(s) + p_g log(1 - sigma(s)) dx for raw scores
    s = D(x), written as -int p_d softplus(-s) + p_g softplus(s) dx."""
    s = np.asarray(scores, dtype=np.float64)
    return -integrate(p_d * np.logaddexp(0.0, -s) + p_g * np.logaddexp(0.0, s), x)


def gan_value_at_optimum(p_d: np.ndarray, p_g: np.ndarray, x: np.ndarray) -> float:
    """C(G) = V(D*, G) = int p_d log(p_d / (p_d + p_g)) + p_g log(p_g / (p_d + p_g)) dx,
    computed from the ratios so that saturated points stay finite."""
    total = p_d + p_g
    terms = _xlogy(p_d, _ratio(p_d, total)) + _xlogy(p_g, _ratio(p_g, total))
    return integrate(terms, x)


def ls_generator_value(
    p_d: np.ndarray, p_g: np.ndarray, d: np.ndarray, c: float, x: np.ndarray
) -> float:
    """G's extended LS objective 1/2 int p_d (D - c)^2 + 1/2 int p_g (D - c)^2 dx;
    at D = D* this is C(G) of Mao et al."""
    return 0.5 * integrate((p_d + p_g) * (d - c) ** 2, x)


def ls_value_formula(
    p_d: np.ndarray, p_g: np.ndarray, a: float, b: float, c: float, x: np.ndarray
) -> float:
    """C(G) = 1/2 int ((b - c)(p_d + p_g) - (b - a) p_g)^2 / (p_d + p_g) dx."""
    s = p_d + p_g
    return 0.5 * integrate(_ratio(((b - c) * s - (b - a) * p_g) ** 2, s), x)


def ls_value_expanded(
    p_d: np.ndarray, p_g: np.ndarray, a: float, b: float, c: float, x: np.ndarray
) -> float:
    """C(G) = (b - c)^2 - (b - c)(b - a) + (b - a)^2 / 2 * int p_g^2 / (p_d + p_g) dx,
    the formula above multiplied out (both densities integrate to 1)."""
    overlap = integrate(_ratio(p_g**2, p_d + p_g), x)
    return (b - c) ** 2 - (b - c) * (b - a) + 0.5 * (b - a) ** 2 * overlap


# ---------------------------------------------------------------------------
# Training a discriminator to convergence on fixed samples


def fit_discriminator(
    loss: GANLoss,
    sample_real: Sampler,
    sample_fake: Sampler,
    steps: int = 2000,
    batch_size: int = 256,
    lr: float = 1e-2,
    hidden: int = 32,
    activation: type[nn.Module] = nn.Tanh,
    seed: int = 0,
) -> MLPDiscriminator:
    """Minimise loss.discriminator(D(real), D(fake)) over an MLP's weights.

    Each step draws fresh batches from the two samplers, so the loss being
    minimised is the expectation over p_d and p_g, not one fixed sample set.
    Adam's learning rate falls linearly to 0, which lets the weights settle.
    Seeded: the same call returns the same weights on one machine.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    dim = sample_real(1, generator).shape[1]
    discriminator = MLPDiscriminator(dim, hidden, 2, activation)
    opt = torch.optim.Adam(discriminator.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 1 - i / steps)
    for _ in range(steps):
        real = sample_real(batch_size, generator)
        fake = sample_fake(batch_size, generator)
        total = loss.discriminator(discriminator(real), discriminator(fake)).total
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        schedule.step()
    return discriminator.eval()


@torch.no_grad()
def scores_on(discriminator: nn.Module, x: np.ndarray) -> np.ndarray:
    """Raw scores D(x) at the points of a 1-D grid, as float64."""
    xs = torch.as_tensor(x, dtype=torch.float32).reshape(-1, 1)
    return discriminator(xs).double().numpy()


def sigmoid(s: np.ndarray) -> np.ndarray:
    """sigma(s) = 1 / (1 + exp(-s)): a raw score as a probability of 'real'."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(s, dtype=np.float64)))


# ---------------------------------------------------------------------------
# Generator loss and its gradient


def generator_loss_curve(
    loss: GANLoss, scores: torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """For each raw score s = D(G(z)): G's loss L_G(s) on that one sample and
    its derivative dL_G/ds, the factor every gradient to G is multiplied by."""
    s = scores.detach().double().clone().requires_grad_(True)
    values = torch.stack([loss.generator(s[i : i + 1]) for i in range(len(s))])
    (slope,) = torch.autograd.grad(values.sum(), s)
    return values.detach().numpy(), slope.numpy()


def per_sample_generator_grad(
    loss: GANLoss, discriminator: nn.Module, fake: torch.Tensor
) -> torch.Tensor:
    """grad_x L_G(D(x)) for each fake x separately, shape (n, dim).

    L_G is a batch mean, so n * L_G is the sum of per-sample losses and, with
    samples independent in D, its gradient's row i is sample i's own gradient.
    """
    x = fake.detach().clone().requires_grad_(True)
    total = loss.generator(discriminator(x)) * len(x)
    (grad,) = torch.autograd.grad(total, x)
    return grad


def far_fakes_report(
    loss: GANLoss, discriminator: nn.Module, fake: torch.Tensor, real: torch.Tensor
) -> dict[str, float]:
    """Median per-sample gradient norm ||grad_x L_G|| over ``fake`` and the share
    of fakes whose update -grad points toward the data (cosine > 0)."""
    grad = per_sample_generator_grad(loss, discriminator, fake)
    cosine = toward_data_cosine(grad, fake, real)
    return {
        "median_norm": float(grad.norm(dim=1).median()),
        "toward_data": float((cosine > 0).double().mean()),
    }


def toward_data_cosine(
    grad: torch.Tensor, fake: torch.Tensor, real: torch.Tensor
) -> torch.Tensor:
    """cos of the angle between the descent direction -grad and the direction
    from each fake to its nearest real point (1: straight at the data)."""
    nearest = real[torch.cdist(fake, real).argmin(1)]
    to_data = nearest - fake
    return torch.nn.functional.cosine_similarity(-grad, to_data, dim=1)


@torch.no_grad()
def score_map(
    discriminator: nn.Module, lim: float, n: int = 200
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw scores of a 2-D discriminator on an n x n grid over [-lim, lim]^2."""
    ticks = torch.linspace(-lim, lim, n)
    xs, ys = torch.meshgrid(ticks, ticks, indexing="xy")
    points = torch.stack([xs.flatten(), ys.flatten()], dim=1)
    scores = discriminator(points).reshape(n, n)
    return xs.numpy(), ys.numpy(), scores.double().numpy()
