"""Checkpoints written atomically and read without executing anything.

A checkpoint holds only tensors, plain Python containers and numbers, so it
is read with ``torch.load(..., weights_only=True)``: a file from elsewhere
cannot run code. It is written to a temporary file in the same folder,
flushed to disk with fsync and then renamed over the old one with
``os.replace``, which is atomic: a crash or Ctrl-C while saving leaves the
previous checkpoint in place, never half of a new one.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import torch
from torch import nn

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, damaged, or belongs to another model."""


def checkpoint_path(out: str | Path) -> Path:
    """Where the latest checkpoint of the run in folder ``out`` lives."""
    return Path(out) / CHECKPOINT_NAME


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({"format": FORMAT_VERSION, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C included: never leave the temporary file
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where unsupported."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint; a clear ``CheckpointError`` if it is not a good one."""
    path = Path(path)
    if path.is_dir():
        path = checkpoint_path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError,
            zipfile.BadZipFile, ValueError, KeyError) as error:  # fmt: skip
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated, corrupted or not "
            f"written by lsgan_lib): {type(error).__name__} {first_line}".rstrip()
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} is not an lsgan_lib checkpoint of format {FORMAT_VERSION}"
        )
    return state


def load_module_state(module: nn.Module, state: dict, what: str, path="") -> None:
    """``module.load_state_dict`` with a one-line error for another architecture."""
    try:
        module.load_state_dict(state)
    except RuntimeError as error:
        lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0] if lines else ""
        raise CheckpointError(
            f"the {what} in checkpoint {path} has another architecture than "
            f"the one built from its config: {detail}"
        ) from None
