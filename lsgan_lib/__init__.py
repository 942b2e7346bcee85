"""lsgan_lib: the small library behind the Least Squares GAN course."""

from .budget import choose, current_budget
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .checksums import DatasetChecksumError, verify_dataset_files
from .data import (
    DatasetNotFoundError,
    ImageData,
    grid_mixture,
    load_images,
    ring_mixture,
)
from .losses import CODINGS, GANLoss, make_loss
from .models import Discriminator, Generator, MLPDiscriminator, MLPGenerator
from .trainer import (
    CollapseWarning,
    History,
    TrainConfig,
    TrainResult,
    build_models,
    describe_run,
    gan_step,
    pick_device,
    seed_everything,
    train,
)

__version__ = "0.1.0"

__all__ = [
    "CODINGS", "DatasetNotFoundError", "Discriminator", "GANLoss", "Generator",
    "History", "ImageData", "MLPDiscriminator", "MLPGenerator", "TrainConfig",
    "TrainResult", "build_models", "choose", "current_budget", "describe_run",
    "gan_step", "grid_mixture", "load_images", "make_loss", "pick_device",
    "ring_mixture", "seed_everything", "train",
    "CheckpointError", "CollapseWarning", "DatasetChecksumError", "load_checkpoint",
    "save_checkpoint", "verify_dataset_files",
]  # fmt: skip
