"""GAN losses as small pure functions of raw discriminator scores.

Every loss here takes the discriminator's raw score (any real number, no
sigmoid applied) for a real batch, ``d_real``, and for a fake batch,
``d_fake``. Each loss decides what to do with the scores.

Scale convention, stated once: the least squares losses keep the 1/2 factors
of Mao et al. (2017), eqs. (2) and (3) of the paper. ``torch.nn.MSELoss`` with
targets 1 and 0 is therefore *twice* our (0, 1, 1) discriminator loss; a test
pins this. The sigmoid cross-entropy losses are plain means, as in
Goodfellow et al. (2014).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

# Named (a, b, c) codings for the least squares loss. a is the target for
# fakes in D's loss, b the target for reals, c the value G wants D to give
# its fakes.
CODINGS: dict[str, tuple[float, float, float]] = {
    # b - c = 1 and b - a = 2: G then minimises the Pearson chi-square
    # divergence between p_d + p_g and 2 p_g (the paper's theorem).
    "pearson": (-1.0, 1.0, 0.0),
    # The 0-1 binary coding: G wants D to take its fakes for real.
    "binary": (0.0, 1.0, 1.0),
    # Seen in popular tutorials; not one of the paper's two codings.
    "tutorial": (-1.0, 1.0, 1.0),
}

LOSS_NAMES = ("ls", "gan-ns", "gan-minimax")


@dataclass(frozen=True)
class DiscriminatorLoss:
    """D's loss split into the part from real and the part from fake scores."""

    real: torch.Tensor
    fake: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        return self.real + self.fake


def ls_discriminator_loss(
    d_real: torch.Tensor, d_fake: torch.Tensor, a: float, b: float
) -> DiscriminatorLoss:
    """Least squares D loss, eq. (2) of Mao et al.:

    L_D = 1/2 E_x[(D(x) - b)^2] + 1/2 E_z[(D(G(z)) - a)^2]

    The mean is taken of the squares, never the square of the mean.
    """
    real = 0.5 * ((d_real - b) ** 2).mean()
    fake = 0.5 * ((d_fake - a) ** 2).mean()
    return DiscriminatorLoss(real, fake)


def ls_generator_loss(d_fake: torch.Tensor, c: float) -> torch.Tensor:
    """Least squares G loss, eq. (3) of Mao et al.: L_G = 1/2 E_z[(D(G(z)) - c)^2]."""
    return 0.5 * ((d_fake - c) ** 2).mean()


def gan_discriminator_loss(
    d_real: torch.Tensor, d_fake: torch.Tensor
) -> DiscriminatorLoss:
    """Sigmoid cross-entropy D loss (Goodfellow et al., 2014), as a minimisation:

    L_D = -E_x[log sigmoid(D(x))] - E_z[log(1 - sigmoid(D(G(z))))]

    Written with softplus, since -log sigmoid(s) = softplus(-s) and
    -log(1 - sigmoid(s)) = softplus(s); this stays finite for any score.
    """
    return DiscriminatorLoss(F.softplus(-d_real).mean(), F.softplus(d_fake).mean())


def gan_minimax_generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Saturating (minimax) G loss: L_G = E_z[log(1 - sigmoid(D(G(z))))]."""
    return -F.softplus(d_fake).mean()


def gan_nonsaturating_generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating G loss: L_G = -E_z[log sigmoid(D(G(z)))]."""
    return F.softplus(-d_fake).mean()


@dataclass(frozen=True)
class GANLoss:
    """One interface for every loss: ``discriminator`` and ``generator``.

    Build it with :func:`make_loss`; ``coding`` is only used by ``"ls"``.
    """

    name: str
    coding: tuple[float, float, float] | None = None

    def discriminator(
        self, d_real: torch.Tensor, d_fake: torch.Tensor
    ) -> DiscriminatorLoss:
        if self.name == "ls":
            a, b, _ = self.coding
            return ls_discriminator_loss(d_real, d_fake, a, b)
        return gan_discriminator_loss(d_real, d_fake)

    def generator(self, d_fake: torch.Tensor) -> torch.Tensor:
        if self.name == "ls":
            return ls_generator_loss(d_fake, self.coding[2])
        if self.name == "gan-minimax":
            return gan_minimax_generator_loss(d_fake)
        return gan_nonsaturating_generator_loss(d_fake)

    def describe(self) -> str:
        if self.name == "ls":
            a, b, c = self.coding
            return f"least squares, (a, b, c) = ({a:g}, {b:g}, {c:g})"
        return {
            "gan-ns": "sigmoid cross-entropy, non-saturating G",
            "gan-minimax": "sigmoid cross-entropy, minimax (saturating) G",
        }[self.name]


def parse_coding(coding) -> tuple[float, float, float]:
    """Accept a preset name, an (a, b, c) sequence or a string "a,b,c"."""
    if isinstance(coding, str):
        if coding in CODINGS:
            return CODINGS[coding]
        parts = coding.split(",")
        try:
            values = tuple(float(p) for p in parts)
        except ValueError:
            values = ()
        if len(values) != 3:
            raise ValueError(
                f"unknown coding {coding!r}: use one of {sorted(CODINGS)} "
                "or three numbers 'a,b,c' such as '-1,1,0'"
            )
        coding = values
    try:
        a, b, c = (float(v) for v in coding)
    except (TypeError, ValueError):
        raise ValueError(
            f"coding must be three numbers (a, b, c), got {coding!r}"
        ) from None
    if a == b:
        raise ValueError(
            f"coding (a, b, c) = ({a:g}, {b:g}, {c:g}) has a == b: the "
            "discriminator would have the same target for real and fake and "
            "could not tell them apart. Choose a != b, e.g. 'pearson' (-1, 1, 0)."
        )
    return (a, b, c)


def make_loss(name: str = "ls", coding="pearson") -> GANLoss:
    """Return the loss called ``name`` ("ls", "gan-ns" or "gan-minimax")."""
    if name not in LOSS_NAMES:
        raise ValueError(f"unknown loss {name!r}: choose one of {', '.join(LOSS_NAMES)}")
    if name == "ls":
        return GANLoss(name, parse_coding(coding))
    return GANLoss(name, None)


def ls_optimal_discriminator(p_d, p_g, a: float, b: float):
    """D*(x) = (b p_d(x) + a p_g(x)) / (p_d(x) + p_g(x)) for the LS loss."""
    return (b * p_d + a * p_g) / (p_d + p_g)


def gan_optimal_discriminator(p_d, p_g):
    """D*(x) = p_d(x) / (p_d(x) + p_g(x)), as a probability (after the sigmoid)."""
    return p_d / (p_d + p_g)
