"""Training on several processes with DistributedDataParallel (``torchrun``).

Every process seeds the same global stream, so all of them draw the same
shuffled order and the same noise for the *global* batch; each one then
keeps its own slice of it (rank r of W takes rows r*B/W .. (r+1)*B/W). The
gradients that DDP averages are then those of the global batch, and a run on
W processes follows a single-process run at the same global batch, up to
float rounding and to batch norm: each process normalises with the
statistics of its own slice (on CUDA, ``sync_batch_norm`` computes them over
the whole batch; PyTorch's SyncBatchNorm does not run on the CPU).
Only rank 0 writes checkpoints and files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1


def current_world() -> World:
    """The process group this process belongs to, or a world of one."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def init_from_env(device: str = "auto") -> World:
    """Join the group that ``torchrun`` describes in the environment, if any.

    gloo on the CPU, nccl on CUDA; a no-op for a plain single process.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return World()
    if not dist.is_initialized():
        wants_cuda = device.startswith("cuda") or (
            device == "auto" and torch.cuda.is_available()
        )
        if wants_cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if wants_cuda else "gloo")
    return current_world()


def local_device(device: torch.device) -> torch.device:
    """On CUDA each process of a node uses its own GPU (LOCAL_RANK)."""
    if device.type == "cuda" and device.index is None and current_world().active:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def shard(batch: torch.Tensor, world: World) -> torch.Tensor:
    """This process's slice of a global batch."""
    if not world.active:
        return batch
    size = len(batch) // world.size
    return batch[world.rank * size : (world.rank + 1) * size]


def wrap(module: nn.Module, device: torch.device, sync_batch_norm: bool) -> nn.Module:
    """DDP around ``module`` (already on ``device``) when the world is larger than one."""
    if not current_world().active:
        return module
    if sync_batch_norm and device.type == "cuda":
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if isinstance(module, DistributedDataParallel) else module


def mean_over_processes(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise mean of ``tensor`` over all processes (in place)."""
    world = current_world()
    if world.active:
        dist.all_reduce(tensor)
        tensor.div_(world.size)
    return tensor


def any_process(flag: bool, device: torch.device) -> bool:
    """True on every process if ``flag`` is true on any one of them."""
    if not current_world().active:
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def barrier() -> None:
    if current_world().active:
        dist.barrier()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
