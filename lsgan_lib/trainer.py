"""One trainer for every experiment in the course.

A *step* is one discriminator update followed by one generator update.
The discriminator sees the real and the fake batch in two separate forward
passes, so batch norm in D cannot tell them apart from batch statistics.
"""

from __future__ import annotations

import math
import random
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from .data import ImageData
from .losses import GANLoss, make_loss
from .models import (
    Discriminator,
    Generator,
    MLPDiscriminator,
    MLPGenerator,
    init_dcgan_weights,
)

OPTIMIZERS = ("adam", "rmsprop")


@dataclass
class TrainConfig:
    """Everything that defines a run; smaller runs via ``dataclasses.replace``."""

    loss: str = "ls"  # "ls", "gan-ns" or "gan-minimax"
    coding: str | tuple = "pearson"  # (a, b, c) for "ls": a preset or 3 numbers
    steps: int = 2000  # one step = one D update + one G update
    epochs: float | None = None  # if set, overrides steps: passes over the data
    batch_size: int = 64
    latent_dim: int = 100
    width: int = 64  # DCGAN: channels of the first conv; MLP: hidden units
    depth: int = 2  # MLP only: hidden layers
    g_batch_norm: bool = True  # DCGAN only
    d_batch_norm: bool = True  # DCGAN only
    optimizer: str = "adam"  # "adam" or "rmsprop"
    lr_d: float = 2e-4
    lr_g: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)  # Adam only
    seed: int = 0
    device: str = "auto"  # "auto" picks cuda, then mps, then cpu
    amp: bool | None = None  # bfloat16 autocast; None means on for CUDA only
    sample_every: int = 250  # steps between fixed-noise sample grids
    n_samples: int = 64  # size of the fixed noise batch
    log_every: int = 0  # steps between printed log lines; 0 prints none
    progress: bool = False  # show a tqdm progress bar

    def validate(self) -> None:
        make_loss(self.loss, self.coding)  # raises a clear error on bad names
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {self.optimizer!r}: choose one of "
                f"{', '.join(OPTIMIZERS)}"
            )
        for name in ("batch_size", "latent_dim", "width", "depth", "n_samples"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.epochs is None and self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.epochs is not None and self.epochs <= 0:
            raise ValueError(f"epochs must be positive, got {self.epochs}")
        if self.lr_d <= 0 or self.lr_g <= 0:
            raise ValueError("learning rates must be positive")


@dataclass
class History:
    """Per-step training statistics and the fixed-noise samples."""

    d_loss_real: list[float] = field(default_factory=list)
    d_loss_fake: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    d_real: list[float] = field(default_factory=list)  # mean raw score on reals
    d_fake: list[float] = field(default_factory=list)  # mean raw score on fakes
    samples: dict[int, torch.Tensor] = field(default_factory=dict)  # step -> batch
    seconds: float = 0.0
    images_per_second: float = 0.0
    stop_reason: str = "finished"

    @property
    def steps(self) -> list[int]:
        return list(range(1, len(self.g_loss) + 1))

    @property
    def d_loss(self) -> list[float]:
        return [r + f for r, f in zip(self.d_loss_real, self.d_loss_fake)]


@dataclass
class TrainResult:
    config: TrainConfig
    generator: nn.Module
    discriminator: nn.Module
    history: History
    device: str
    loss: GANLoss
    fixed_noise: torch.Tensor

    @torch.no_grad()
    def sample(self, n: int = 64, seed: int = 0) -> torch.Tensor:
        """Draw n samples (on the CPU) from the trained generator."""
        z = noise_batch(n, self.config.latent_dim, seed).to(self.device)
        return _eval_generator(self.generator, z)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) from one number."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda, then mps, then cpu; other names are checked, not trusted."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is visible")
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ValueError("device 'mps' was asked for but is not available")
    if name != "cpu" and not name.startswith(("cuda", "mps")):
        raise ValueError(f"unknown device {name!r}: use auto, cpu, cuda or mps")
    return torch.device(name)


def noise_batch(n: int, latent_dim: int, seed: int) -> torch.Tensor:
    """A reproducible CPU noise batch, independent of the training stream."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, latent_dim, generator=generator)


def build_models(config: TrainConfig, sample_shape: tuple[int, ...]):
    """DCGAN models for (1, 28, 28) images, MLPs for flat vectors."""
    if len(sample_shape) == 3:
        if tuple(sample_shape) != (1, 28, 28):
            raise ValueError(f"the DCGAN models expect 1x28x28 images, got {sample_shape}")
        generator = Generator(config.latent_dim, config.width, config.g_batch_norm)
        discriminator = Discriminator(config.width, config.d_batch_norm)
        generator.apply(init_dcgan_weights)
        discriminator.apply(init_dcgan_weights)
    elif len(sample_shape) == 1:
        dim = sample_shape[0]
        generator = MLPGenerator(config.latent_dim, dim, config.width, config.depth)
        discriminator = MLPDiscriminator(dim, config.width, config.depth)
    else:
        raise ValueError(f"data of sample shape {sample_shape} is not supported")
    return generator, discriminator


def _make_optimizer(config: TrainConfig, params, lr: float) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(config.betas))
    return torch.optim.RMSprop(params, lr=lr)


def _check_data(images: torch.Tensor, config: TrainConfig) -> None:
    if images.ndim == 4 and images.min() >= 0:
        raise ValueError(
            "image data lies in [0, 1] (min >= 0), but the generator ends in tanh "
            "and outputs [-1, 1]: D would separate them by range alone. Scale the "
            "images with x * 2 - 1 (load_images already does)."
        )
    if config.batch_size > len(images):
        raise ValueError(
            f"batch_size {config.batch_size} is larger than the dataset "
            f"({len(images)} samples): lower batch_size"
        )


@contextmanager
def _frozen(module: nn.Module):
    """Stop parameter gradients of ``module`` while G is updated through it."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


@torch.no_grad()
def _eval_generator(generator: nn.Module, z: torch.Tensor) -> torch.Tensor:
    was_training = generator.training
    generator.eval()
    out = generator(z).float().cpu()
    generator.train(was_training)
    return out


class _Batches:
    """Shuffled batches by indexing one on-device tensor; drops the last partial."""

    def __init__(self, data: torch.Tensor, batch_size: int):
        self.data, self.batch_size = data, batch_size
        self.per_epoch = len(data) // batch_size
        self.position = self.per_epoch  # forces a shuffle on the first call

    def next(self) -> torch.Tensor:
        if self.position == self.per_epoch:
            self.order = torch.randperm(len(self.data), device=self.data.device)
            self.position = 0
        start = self.position * self.batch_size
        self.position += 1
        return self.data[self.order[start : start + self.batch_size]]


def gan_step(generator, discriminator, opt_d, opt_g, loss, real, z, autocast):
    """One step: a D update, then a G update on the same fake batch.

    Returns D's loss (real and fake halves), G's loss and D's raw scores.
    """
    # D update: minimise L_D(D(real), D(G(z))) over D's weights.
    # Real and fake go through D separately, never as one batch.
    with autocast:
        fake = generator(z)
        d_real = discriminator(real).float()
        d_fake = discriminator(fake.detach()).float()
    d_loss = loss.discriminator(d_real, d_fake)
    opt_d.zero_grad(set_to_none=True)
    d_loss.total.backward()
    opt_d.step()

    # G update: minimise L_G(D(G(z))) over G's weights, D held fixed.
    with _frozen(discriminator), autocast:
        g_loss = loss.generator(discriminator(fake).float())
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    return d_loss, g_loss, d_real, d_fake


def train(
    config: TrainConfig,
    data: torch.Tensor | ImageData,
    generator: nn.Module | None = None,
    discriminator: nn.Module | None = None,
) -> TrainResult:
    """Train a GAN on ``data`` (images in [-1, 1] or flat vectors) by ``config``."""
    config.validate()
    images = data.images if isinstance(data, ImageData) else data
    _check_data(images, config)
    device = pick_device(config.device)
    seed_everything(config.seed)
    loss = make_loss(config.loss, config.coding)
    if generator is None or discriminator is None:
        built_g, built_d = build_models(config, tuple(images.shape[1:]))
        generator = generator or built_g
        discriminator = discriminator or built_d
    generator.to(device).train()
    discriminator.to(device).train()
    opt_g = _make_optimizer(config, generator.parameters(), config.lr_g)
    opt_d = _make_optimizer(config, discriminator.parameters(), config.lr_d)
    use_amp = config.amp if config.amp is not None else device.type == "cuda"
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16)
        if use_amp
        else nullcontext()
    )

    batches = _Batches(images.to(device), config.batch_size)
    steps = config.steps
    if config.epochs is not None:
        steps = max(1, math.ceil(config.epochs * batches.per_epoch))
    fixed_noise = noise_batch(config.n_samples, config.latent_dim, config.seed + 1)
    fixed_noise_dev = fixed_noise.to(device)
    stats = torch.zeros(steps, 5, device=device)
    history = History()
    history.samples[0] = _eval_generator(generator, fixed_noise_dev)
    bar = _progress_bar(steps, config.progress)
    start = time.perf_counter()
    done = 0
    for step in range(1, steps + 1):
        real = batches.next()
        z = torch.randn(config.batch_size, config.latent_dim, device=device)
        d_loss, g_loss, d_real, d_fake = gan_step(
            generator, discriminator, opt_d, opt_g, loss, real, z, autocast
        )

        stats[step - 1] = torch.stack(
            [d_loss.real, d_loss.fake, g_loss, d_real.mean(), d_fake.mean()]
        ).detach()
        done = step
        if step % config.sample_every == 0 or step == steps:
            history.samples[step] = _eval_generator(generator, fixed_noise_dev)
            if not torch.isfinite(stats[:step]).all():
                bad = int((~torch.isfinite(stats[:step])).any(1).nonzero()[0]) + 1
                history.stop_reason = f"non-finite loss at step {bad}"
                print(f"stopped: {history.stop_reason}", file=sys.stderr)
                break
        if bar is not None or (config.log_every and step % config.log_every == 0):
            _report(step, steps, stats, start, config, bar)
    if device.type == "cuda":
        torch.cuda.synchronize()
    history.seconds = time.perf_counter() - start
    history.images_per_second = done * config.batch_size / max(history.seconds, 1e-9)
    if bar is not None:
        bar.close()
    _fill_history(history, stats[:done].cpu())
    return TrainResult(
        config, generator, discriminator, history, str(device), loss, fixed_noise
    )


def _fill_history(history: History, stats: torch.Tensor) -> None:
    columns = stats.t().tolist()
    history.d_loss_real, history.d_loss_fake, history.g_loss = columns[:3]
    history.d_real, history.d_fake = columns[3:]


def _progress_bar(steps: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=steps, unit="step", dynamic_ncols=True)


def _report(step, steps, stats, start, config, bar) -> None:
    if bar is not None:
        bar.update(1)
        if step % max(1, config.log_every or 50) != 0:
            return
    d_real_loss, d_fake_loss, g_loss, d_real, d_fake = stats[step - 1].tolist()
    rate = step * config.batch_size / (time.perf_counter() - start)
    fields = {
        "D real": f"{d_real_loss:.3f}",
        "D fake": f"{d_fake_loss:.3f}",
        "G": f"{g_loss:.3f}",
        "D(x)": f"{d_real:+.2f}",
        "D(G(z))": f"{d_fake:+.2f}",
        "img/s": f"{rate:,.0f}",
    }
    if bar is not None:
        bar.set_postfix(fields, refresh=False)
    else:
        text = " | ".join(f"{k} {v}" for k, v in fields.items())
        print(f"step {step:>6}/{steps} | {text}")


def describe_run(result: TrainResult, data: ImageData | None = None) -> str:
    """One paragraph: device, data, loss, budget, seed and speed of a run."""
    c, h = result.config, result.history
    lines = [
        f"device: {result.device}",
        f"loss: {result.loss.describe()}",
        f"optimizer: {c.optimizer}, lr D {c.lr_d:g}, lr G {c.lr_g:g}, batch {c.batch_size}",
        f"steps: {len(h.g_loss)} ({h.stop_reason}), seed {c.seed}",
        f"time: {h.seconds:.1f} s, {h.images_per_second:,.0f} images/s",
    ]
    if data is not None:
        lines.insert(1, f"data: {data.describe()}")
    return "\n".join(lines)


def config_dict(config: TrainConfig) -> dict:
    return asdict(config)
