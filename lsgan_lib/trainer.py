"""One trainer for every experiment in the course.

A *step* is one discriminator update followed by one generator update.
The discriminator sees the real and the fake batch in two separate forward
passes, so batch norm in D cannot tell them apart from batch statistics.
(``TrainConfig.d_joint_batch`` switches to ``joint_batch_step``, the
one-batch shortcut that some tutorials take, for an ablation only.)

Class-conditional models (those with a ``num_classes`` attribute above 0,
see ``conditional``) get labels: D scores each real image with its own
label, and G draws each fake with the label of the real image at the same
place in the batch, so the fakes' classes follow the data's.
"""

from __future__ import annotations

import math
import random
import sys
import threading
import time
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import distributed
from .checkpoint import (
    checkpoint_path,
    load_checkpoint,
    load_module_state,
    save_checkpoint,
)
from .conditional import ConditionalDiscriminator, ConditionalGenerator, class_labels
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
    # Speed options for GPUs, off by default: not measured yet, for want of a
    # GPU (bench/benchmark.py --variants times them; see the book's trainer page).
    channels_last: bool = False  # NHWC memory layout for the conv nets
    compile: bool = False  # torch.compile the models for the training step
    # Several CUDA processes: batch norm over the global batch (SyncBatchNorm).
    # On the CPU each process normalises its own slice; see distributed.py.
    sync_batch_norm: bool = True
    # Ablation only: D scores torch.cat([real, fake]) in one forward pass, so
    # batch norm in D normalises reals and fakes together (a tutorial shortcut).
    d_joint_batch: bool = False
    # Above 0: class-conditional DCGAN models for that many classes; the data
    # must then be an ImageData with labels.
    num_classes: int = 0

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
        if self.num_classes < 0:
            raise ValueError(f"num_classes must be 0 or more, got {self.num_classes}")
        if self.num_classes and self.d_joint_batch:
            raise ValueError("d_joint_batch is an ablation of unconditional runs only")


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
    warnings: list[str] = field(default_factory=list)  # e.g. collapsed samples

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
    checkpoint: Path | None = None  # the latest checkpoint written, if any

    @property
    def num_classes(self) -> int:
        """The number of classes of a conditional generator, 0 otherwise."""
        return _classes_of(self.generator)

    @torch.no_grad()
    def sample(
        self, n: int = 64, seed: int = 0, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Draw n samples (on the CPU) from the trained generator.

        A conditional generator draws ``labels`` (by default every class in
        equal consecutive blocks, see ``conditional.class_labels``).
        """
        z = noise_batch(n, self.config.latent_dim, seed).to(self.device)
        if self.num_classes:
            if labels is None:
                labels = class_labels(n, self.num_classes)
            labels = labels.to(self.device)
        return _eval_generator(self.generator, z, labels)


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
    """DCGAN models for (1, 28, 28) images (class-conditional ones when
    ``config.num_classes`` > 0), MLPs for flat vectors."""
    if len(sample_shape) == 3:
        if tuple(sample_shape) != (1, 28, 28):
            raise ValueError(f"the DCGAN models expect 1x28x28 images, got {sample_shape}")
        if config.num_classes:
            generator = ConditionalGenerator(
                config.latent_dim, config.num_classes, config.width, config.g_batch_norm
            )
            discriminator = ConditionalDiscriminator(
                config.num_classes, config.width, config.d_batch_norm
            )
        else:
            generator = Generator(config.latent_dim, config.width, config.g_batch_norm)
            discriminator = Discriminator(config.width, config.d_batch_norm)
        generator.apply(init_dcgan_weights)
        discriminator.apply(init_dcgan_weights)
    elif len(sample_shape) == 1:
        if config.num_classes:
            raise ValueError("conditional models exist only for 1x28x28 images")
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


def _check_conditional(generator, discriminator, labels, images) -> int:
    """The number of classes both models are conditioned on (0: neither),
    after checking that the labels fit them."""
    k_g, k_d = _classes_of(generator), _classes_of(discriminator)
    if k_g != k_d:
        raise ValueError(
            f"the generator is conditioned on {k_g} classes and the "
            f"discriminator on {k_d}: use conditional models for both or neither"
        )
    if not k_g:
        return 0
    if labels is None:
        raise ValueError(
            "conditional models need labels: pass an ImageData, not a bare tensor"
        )
    if labels.shape != (len(images),):
        raise ValueError(
            f"expected one label per image ({len(images)}), got shape "
            f"{tuple(labels.shape)}"
        )
    if labels.is_floating_point() or int(labels.min()) < 0 or int(labels.max()) >= k_g:
        raise ValueError(
            f"labels must be integers in 0..{k_g - 1} for models with {k_g} classes"
        )
    return k_g


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
def _eval_generator(generator: nn.Module, z: torch.Tensor, labels=None) -> torch.Tensor:
    was_training = generator.training
    generator.eval()
    out = _generate(generator, z, labels).float().cpu()
    generator.train(was_training)
    return out


def _classes_of(module: nn.Module) -> int:
    """``num_classes`` of a conditional model (wrapped or not), else 0."""
    return int(getattr(distributed.unwrap(module), "num_classes", 0) or 0)


def _generate(generator, z, labels=None):
    return generator(z) if labels is None else generator(z, labels)


class _Batches:
    """Shuffled batches by indexing one on-device tensor; drops the last partial.

    The order comes from ``torch.randperm`` on the global stream; a checkpoint
    keeps the order and the position in it, so a resumed run draws the same
    batches as an uninterrupted one.
    """

    def __init__(self, data: torch.Tensor, batch_size: int):
        self.data, self.batch_size = data, batch_size
        self.per_epoch = len(data) // batch_size
        self.position = self.per_epoch  # forces a shuffle on the first call
        self.order: torch.Tensor | None = None

    def next_index(self) -> torch.Tensor:
        """The indices of the next batch (to pick its labels too)."""
        if self.position == self.per_epoch:
            self.order = torch.randperm(len(self.data), device=self.data.device)
            self.position = 0
        start = self.position * self.batch_size
        self.position += 1
        return self.order[start : start + self.batch_size]

    def next(self) -> torch.Tensor:
        return self.data[self.next_index()]

    def state_dict(self) -> dict:
        order = None if self.order is None else self.order.cpu()
        return {"order": order, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        order = state["order"]
        self.order = None if order is None else order.to(self.data.device)
        self.position = int(state["position"])


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
    # Under DDP, D's own module scores the fakes: D's weights get no gradient
    # here, so there is nothing of D's to average across processes.
    with _frozen(discriminator), autocast:
        g_loss = loss.generator(distributed.unwrap(discriminator)(fake).float())
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    return d_loss, g_loss, d_real, d_fake


def joint_batch_step(generator, discriminator, opt_d, opt_g, loss, real, z, autocast):
    """``gan_step`` with one change, for the stability chapter's ablation:
    D scores ``torch.cat([real, fake])`` in ONE forward pass, so batch norm
    in D normalises reals and fakes with shared batch statistics.
    """
    # D update: minimise L_D(D(real), D(G(z))), both halves of one D batch.
    with autocast:
        fake = generator(z)
        scores = discriminator(torch.cat([real, fake.detach()])).float()
        d_real, d_fake = scores.split([len(real), len(fake)])
    d_loss = loss.discriminator(d_real, d_fake)
    opt_d.zero_grad(set_to_none=True)
    d_loss.total.backward()
    opt_d.step()

    # G update: minimise L_G(D(G(z))) over G's weights, D held fixed; D
    # sees the fakes alone here, as in the tutorials that take this shortcut.
    with _frozen(discriminator), autocast:
        g_loss = loss.generator(distributed.unwrap(discriminator)(fake).float())
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    return d_loss, g_loss, d_real, d_fake


def conditional_step(
    generator, discriminator, opt_d, opt_g, loss, real, labels, z, autocast
):
    """``gan_step`` for class-conditional models: G(z, y) and D(x, y).

    ``labels`` are the real batch's; G draws its fakes with the same labels,
    so the fakes' classes follow the data's.
    """
    # D update: minimise L_D(D(real, y), D(G(z, y), y)) over D's weights,
    # real and fake in separate forward passes.
    with autocast:
        fake = generator(z, labels)
        d_real = discriminator(real, labels).float()
        d_fake = discriminator(fake.detach(), labels).float()
    d_loss = loss.discriminator(d_real, d_fake)
    opt_d.zero_grad(set_to_none=True)
    d_loss.total.backward()
    opt_d.step()

    # G update: minimise L_G(D(G(z, y), y)) over G's weights, D held fixed.
    with _frozen(discriminator), autocast:
        d_fake_g = distributed.unwrap(discriminator)(fake, labels).float()
        g_loss = loss.generator(d_fake_g)
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    return d_loss, g_loss, d_real, d_fake


class CollapseWarning(UserWarning):
    """The fixed-noise samples look collapsed (blank or all alike)."""


def collapse_check(samples: torch.Tensor) -> str | None:
    """Why image samples in [-1, 1] look collapsed, or None if they do not.

    Cheap enough for every sample grid: blank means almost no pixel above 0
    (MNIST digits have about a fifth of their pixels there). Samples that are
    all alike are not flagged: an untrained generator's outputs are nearly
    equal grey images, so the test would fire at the start of healthy runs.
    """
    if samples.ndim != 4 or not torch.isfinite(samples).all():
        return None  # non-finite samples are the non-finite check's to report
    bright = (samples > 0).float().mean().item()
    if bright < BLANK_SHARE:
        return f"blank: only {bright:.2%} of pixels above 0"
    return None


BLANK_SHARE = 0.002
RUN_FIELDS_FREE_ON_RESUME = (
    "steps", "epochs", "device", "amp", "sample_every", "log_every", "progress",
    "compile", "channels_last", "sync_batch_norm",
)  # fmt: skip


class _Run:
    """The state of one run: models, optimizers, data stream and history."""

    def __init__(self, config, images, generator, discriminator, labels=None):
        self.config = config
        self.world = distributed.current_world()
        if config.batch_size % self.world.size:
            raise ValueError(
                f"batch_size {config.batch_size} must be divisible by the number "
                f"of processes ({self.world.size})"
            )
        self.device = distributed.local_device(pick_device(config.device))
        seed_everything(config.seed)
        self.loss = make_loss(config.loss, config.coding)
        if generator is None or discriminator is None:
            built_g, built_d = build_models(config, tuple(images.shape[1:]))
            generator = generator or built_g
            discriminator = discriminator or built_d
        self.generator = generator.to(self.device).train()
        self.discriminator = discriminator.to(self.device).train()
        self.num_classes = _check_conditional(
            self.generator, self.discriminator, labels, images
        )
        if self.num_classes and config.d_joint_batch:
            raise ValueError("d_joint_batch is an ablation of unconditional runs only")
        if config.channels_last and images.ndim == 4:
            for module in (self.generator, self.discriminator):
                module.to(memory_format=torch.channels_last)
        self.opt_g = _make_optimizer(config, generator.parameters(), config.lr_g)
        self.opt_d = _make_optimizer(config, discriminator.parameters(), config.lr_d)
        use_amp = config.amp if config.amp is not None else self.device.type == "cuda"
        self.autocast = (
            torch.autocast(self.device.type, dtype=torch.bfloat16)
            if use_amp
            else nullcontext()
        )
        self.train_g = self._for_training(self.generator)
        self.train_d = self._for_training(self.discriminator)

        self.batches = _Batches(images.to(self.device), config.batch_size)
        self.labels = None
        if self.num_classes:
            self.labels = labels.to(self.device)
        self.steps = config.steps
        if config.epochs is not None:
            self.steps = max(1, math.ceil(config.epochs * self.batches.per_epoch))
        self.fixed_noise = noise_batch(
            config.n_samples, config.latent_dim, config.seed + 1
        )
        self.fixed_noise_dev = self.fixed_noise.to(self.device)
        self.fixed_labels = None
        if self.num_classes:
            fixed = class_labels(config.n_samples, self.num_classes)
            self.fixed_labels = fixed.to(self.device)
        self.stats = torch.zeros(self.steps, 5, device=self.device)
        self.history = History()
        self.done = 0
        self.seconds_before = 0.0

    def _for_training(self, module: nn.Module) -> nn.Module:
        """The module the step calls: DDP across processes, compiled if asked."""
        sync = self.config.sync_batch_norm
        module = distributed.wrap(module, self.device, sync)
        return torch.compile(module) if self.config.compile else module

    def step(self) -> None:
        """One step on this process's share of the global batch."""
        c, step = self.config, self.done + 1
        index = self.batches.next_index()
        real = distributed.shard(self.batches.data[index], self.world)
        labels = None
        if self.labels is not None:
            labels = distributed.shard(self.labels[index], self.world)
        z = torch.randn(c.batch_size, c.latent_dim, device=self.device)
        z = distributed.shard(z, self.world)
        if c.channels_last and real.ndim == 4:
            real = real.contiguous(memory_format=torch.channels_last)
        models = (self.train_g, self.train_d, self.opt_d, self.opt_g, self.loss)
        if labels is not None:
            out = conditional_step(*models, real, labels, z, self.autocast)
        elif c.d_joint_batch:
            out = joint_batch_step(*models, real, z, self.autocast)
        else:
            out = gan_step(*models, real, z, self.autocast)
        d_loss, g_loss, d_real, d_fake = out
        self.stats[step - 1] = torch.stack(
            [d_loss.real, d_loss.fake, g_loss, d_real.mean(), d_fake.mean()]
        ).detach()
        self.done = step

    def take_samples(self) -> None:
        step = self.done
        samples = _eval_generator(
            self.generator, self.fixed_noise_dev, self.fixed_labels
        )
        self.history.samples[step] = samples
        why = collapse_check(samples) if step > 0 else None
        if why is not None and self.world.is_main:
            message = f"step {step}: the fixed-noise samples look collapsed ({why})"
            if not self.history.warnings:  # warn once, record every time
                warnings.warn(message, CollapseWarning, stacklevel=4)
            self.history.warnings.append(message)

    def first_bad_step(self, check_weights: bool = False) -> int | None:
        """The first step with a non-finite statistic on any process, if any.

        Before a checkpoint the weights are checked too: an update can turn
        them non-finite one step before any loss shows it.
        """
        seen = self.stats[: self.done]
        bad = not bool(torch.isfinite(seen).all())
        if check_weights and not bad and not self._weights_finite():
            return self.done
        if not distributed.any_process(bad, self.device):
            return None
        if not bad:  # another process saw it; its stats are not here
            return self.done
        return int((~torch.isfinite(seen)).any(1).nonzero()[0]) + 1

    def _weights_finite(self) -> bool:
        modules = (self.generator, self.discriminator)
        finite = all(
            bool(torch.isfinite(p).all()) for m in modules for p in m.parameters()
        )
        return not distributed.any_process(not finite, self.device)

    def state_dict(self) -> dict:
        rng = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        images = self.batches.data
        return {
            "config": _plain(asdict(self.config)),
            "step": self.done,
            "processes": self.world.size,
            "steps": self.steps,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": rng,
            "batches": self.batches.state_dict(),
            "data": _fingerprint(images),
            "stats": self.stats[: self.done].cpu(),
            "samples": dict(self.history.samples),
            "fixed_noise": self.fixed_noise,
            "warnings": list(self.history.warnings),
            "seconds": self.seconds_before + self.seconds_now(),
        }

    def load_state_dict(self, state: dict, path) -> None:
        _check_resumable(self.config, state, self.batches.data, path)
        step = int(state["step"])
        if step > self.steps:
            raise ValueError(
                f"the checkpoint in {path} is at step {step}, past the "
                f"{self.steps} steps this config asks for: raise steps or epochs"
            )
        load_module_state(self.generator, state["generator"], "generator", path)
        load_module_state(self.discriminator, state["discriminator"], "discriminator", path)
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.batches.load_state_dict(state["batches"])
        self.stats[:step] = state["stats"].to(self.device)
        self.history.samples = dict(state["samples"])
        self.history.warnings = list(state["warnings"])
        self.seconds_before = float(state["seconds"])
        self.done = step
        torch.set_rng_state(state["rng"]["cpu"])
        if self.device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)

    def seconds_now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter() - self.start


def _plain(value):
    """Config values as plain containers that weights_only loading accepts."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def config_from_checkpoint(state: dict) -> TrainConfig:
    """The TrainConfig stored in a checkpoint (plain values, nothing executed)."""
    known = {f.name for f in fields(TrainConfig)}
    values = {k: v for k, v in state["config"].items() if k in known}
    if isinstance(values.get("coding"), list):
        values["coding"] = tuple(values["coding"])
    if isinstance(values.get("betas"), list):
        values["betas"] = tuple(values["betas"])
    return TrainConfig(**values)


def _check_resumable(config, state, images, path) -> None:
    # a field added to TrainConfig after the checkpoint was written had its
    # default value then
    stored = {**_plain(asdict(TrainConfig())), **state["config"]}
    ours = _plain(asdict(config))
    differ = [
        f"{k} {stored.get(k)!r} -> {v!r}"
        for k, v in ours.items()
        if k not in RUN_FIELDS_FREE_ON_RESUME and stored.get(k) != v
    ]
    if differ:
        raise ValueError(
            f"cannot resume from {path}: the config differs from the checkpoint's "
            f"({'; '.join(differ)})"
        )
    data, ours = state["data"], _fingerprint(images)
    if data["size"] != ours["size"] or data["shape"] != ours["shape"]:
        raise ValueError(
            f"cannot resume from {path}: it was trained on {data['size']} samples "
            f"of shape {tuple(data['shape'])}, this data has {ours['size']} of "
            f"shape {tuple(ours['shape'])}"
        )
    if not math.isclose(data["sum"], ours["sum"], rel_tol=1e-6, abs_tol=1e-3):
        raise ValueError(
            f"cannot resume from {path}: it was trained on other data of the "
            "same size (the sums of all values differ); check the dataset"
        )


def _fingerprint(images: torch.Tensor) -> dict:
    """Size, shape and sum of the data: enough to tell another dataset apart."""
    total = float(images.double().sum())
    return {"size": len(images), "shape": list(images.shape[1:]), "sum": total}


def _prepare_out(out) -> Path:
    """Create the output folder and prove it is writable, with a clear error."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ValueError(f"cannot write to the output folder {out}: {reason}") from None
    return out


def train(
    config: TrainConfig,
    data: torch.Tensor | ImageData,
    generator: nn.Module | None = None,
    discriminator: nn.Module | None = None,
    *,
    out: str | Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    stop: threading.Event | None = None,
) -> TrainResult:
    """Train a GAN on ``data`` (images in [-1, 1] or flat vectors) by ``config``.

    With ``out``, checkpoints go to ``out/checkpoint.pt`` every
    ``checkpoint_every`` steps (0: only at the end) and when ``stop`` is set;
    ``resume`` continues from that checkpoint, bitwise as if never stopped on
    the CPU. Under ``torchrun`` each process trains on its share of every
    batch, and only rank 0 writes.
    """
    config.validate()
    images = data.images if isinstance(data, ImageData) else data
    labels = data.labels if isinstance(data, ImageData) else None
    _check_data(images, config)
    if (resume or checkpoint_every) and out is None:
        raise ValueError("resume and checkpoint_every need an output folder (out)")
    if checkpoint_every < 0:
        raise ValueError(f"checkpoint_every must be 0 or more, got {checkpoint_every}")
    run = _Run(config, images, generator, discriminator, labels)
    path = None
    if out is not None:
        path = checkpoint_path(_prepare_out(out) if run.world.is_main else out)
        distributed.barrier()
    if resume:
        run.load_state_dict(load_checkpoint(path, map_location=run.device), path)
    else:
        run.take_samples()
    _loop(run, path, checkpoint_every, stop)
    h = run.history
    _fill_history(h, distributed.mean_over_processes(run.stats[: run.done]).cpu())
    return TrainResult(
        config, run.generator, run.discriminator, h, str(run.device), run.loss,
        run.fixed_noise, path if path is not None and path.exists() else None,
    )  # fmt: skip


def _loop(run: _Run, path, checkpoint_every, stop) -> None:
    config, steps, h = run.config, run.steps, run.history
    bar = _progress_bar(steps, config.progress and run.world.is_main, run.done)
    first = run.done
    run.start = time.perf_counter()
    while run.done < steps:
        run.step()
        step = run.done
        sampling = step % config.sample_every == 0 or step == steps
        saving = path is not None and (
            step == steps or (checkpoint_every and step % checkpoint_every == 0)
        )
        stopping = stop is not None and stop.is_set()
        if sampling:
            run.take_samples()
        if sampling or saving or stopping:
            bad = run.first_bad_step(check_weights=saving or stopping)
            if bad is not None:
                h.stop_reason = f"non-finite loss at step {bad}"
                _say_stopped(run, path)
                break
        if stopping:
            h.stop_reason = f"interrupted after step {step}"
            saving = path is not None
        if saving:
            distributed.mean_over_processes(run.stats[:step])
            if run.world.is_main:
                save_checkpoint(run.state_dict(), path)
        if bar is not None or (config.log_every and step % config.log_every == 0):
            if run.world.is_main:
                _report(step, steps, run.stats, run.start, config, bar, first)
        if stopping:
            break
    seconds = run.seconds_now()
    h.seconds = run.seconds_before + seconds
    h.images_per_second = (run.done - first) * config.batch_size / max(seconds, 1e-9)
    if bar is not None:
        bar.close()


def _say_stopped(run: _Run, path) -> None:
    if not run.world.is_main:
        return
    kept = ""
    if path is not None:
        kept = (
            f"; the last good checkpoint is {path}"
            if path.exists()
            else "; no checkpoint had been written yet"
        )
    print(f"stopped: {run.history.stop_reason}{kept}", file=sys.stderr)


def _fill_history(history: History, stats: torch.Tensor) -> None:
    columns = stats.t().tolist()
    history.d_loss_real, history.d_loss_fake, history.g_loss = columns[:3]
    history.d_real, history.d_fake = columns[3:]


def _progress_bar(steps: int, enabled: bool, initial: int = 0):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=steps, initial=initial, unit="step", dynamic_ncols=True)


def _report(step, steps, stats, start, config, bar, first=0) -> None:
    if bar is not None:
        bar.update(1)
        if step % max(1, config.log_every or 50) != 0:
            return
    d_real_loss, d_fake_loss, g_loss, d_real, d_fake = stats[step - 1].tolist()
    rate = (step - first) * config.batch_size / (time.perf_counter() - start)
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
    if result.num_classes:
        lines.insert(2, f"conditional on {result.num_classes} classes")
    if c.d_joint_batch:
        lines.insert(2, "D scores real and fake in one joint batch (ablation)")
    if data is not None:
        lines.insert(1, f"data: {data.describe()}")
    return "\n".join(lines)


def config_dict(config: TrainConfig) -> dict:
    return asdict(config)
