"""Two processes under torchrun (gloo, CPU) follow a single-process run.

Both processes draw the same order and noise for the global batch and each
keeps its half, so with batch norm off the only difference from one process
is float rounding in the averaged gradients. With batch norm on, each
process would normalise with its own half's statistics (SyncBatchNorm does
not run on the CPU), which is a different computation, so the comparison is
made without batch norm.
"""

import os
import socket
import subprocess
import sys

import torch

from lsgan_lib.checkpoint import load_checkpoint
from lsgan_lib.trainer import config_from_checkpoint, train

ARGS = ["--steps", "4", "--batch-size", "16", "--width", "4", "--latent-dim", "8",
        "--sample-every", "2", "--no-g-batch-norm", "--no-d-batch-norm",
        "--no-progress", "--data-root", "empty"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one_at_the_same_global_batch(tmp_path):
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
        "-m", "lsgan_lib", "train", *ARGS, "--out", str(tmp_path / "ddp"),
    ]  # fmt: skip
    env = {**os.environ, "LSGAN_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("checkpoint: ") == 1  # rank 0 alone reports
    state = load_checkpoint(tmp_path / "ddp")
    assert state["step"] == 4 and state["processes"] == 2
    assert "processes: 2" in done.stdout

    from lsgan_lib.data import load_images

    data = load_images("mnist", root=tmp_path / "empty", verbose=False)
    single = train(config_from_checkpoint(state), data)
    # The first step starts from equal weights on equal data: equal losses.
    assert abs(state["stats"][0, 2].item() - single.history.g_loss[0]) < 1e-6
    for name, module in (("generator", single.generator),
                         ("discriminator", single.discriminator)):  # fmt: skip
        for key, value in module.state_dict().items():
            torch.testing.assert_close(state[name][key], value, rtol=0, atol=TOL)


# Adam moves each weight by about lr = 2e-4 per step whatever the gradient's
# size, so a rounding difference can at worst change one step of a weight
# whose gradient is near zero; 4 steps move weights by up to 8e-4.
TOL = 1e-5
