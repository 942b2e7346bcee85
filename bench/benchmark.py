"""How fast is our trainer? Three loops on one machine, measured in one run.

- ours: ``lsgan_lib.train`` as the notebooks call it (data on the device as
  one tensor, batches drawn by indexing, history kept on the device);
- reference: the loop of popular tutorials, a DataLoader over a dataset of
  PIL images with ToTensor and Normalize, each batch copied to the device;
- bare: ``gan_step`` alone, on one batch made once and kept on the device.

All three use the DCGAN-28 models at width 64, batch 64, Adam, the least
squares loss. The machine may be shared, so the loops take turns, round
after round, and each ratio is the median of the ratios within a round.

Run with ``make bench`` or ``python bench/benchmark.py --help``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time
from contextlib import nullcontext
from dataclasses import replace

import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from lsgan_lib.data import load_images
from lsgan_lib.trainer import (
    TrainConfig,
    _make_optimizer,
    build_models,
    gan_step,
    pick_device,
    train,
)
from lsgan_lib.losses import make_loss

CONFIG = TrainConfig(batch_size=64, width=64, latent_dim=100, optimizer="adam")


class PILDigits(Dataset):
    """A torchvision-style dataset: one PIL image per item, then transforms."""

    def __init__(self, pixels_uint8: torch.Tensor, labels, transform):
        self.pixels, self.labels, self.transform = pixels_uint8.numpy(), labels, transform
        from PIL import Image

        self.to_image = Image.fromarray

    def __len__(self):
        return len(self.pixels)

    def __getitem__(self, i):
        image = self.to_image(self.pixels[i])  # uint8 (28, 28): mode "L"
        return self.transform(image), int(self.labels[i])


def reference_loop(data, device, steps, autocast):
    """The tutorial loop: DataLoader of PIL images, batches moved each step."""
    from torchvision import transforms

    pixels = data.images.add(1).mul(127.5).round().byte()[:, 0]
    to_tensor = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]
    )
    loader = DataLoader(
        PILDigits(pixels, data.labels, to_tensor),
        batch_size=CONFIG.batch_size, shuffle=True, drop_last=True, num_workers=0,
    )  # fmt: skip
    netG, netD = build_models(CONFIG, (1, 28, 28))
    netG.to(device), netD.to(device)
    optG = _make_optimizer(CONFIG, netG.parameters(), CONFIG.lr_g)
    optD = _make_optimizer(CONFIG, netD.parameters(), CONFIG.lr_d)
    loss = make_loss("ls")
    G_losses, D_losses, done = [], [], 0

    def run():
        nonlocal done
        while True:
            for real, _ in loader:
                real = real.to(device)
                noise = torch.randn(CONFIG.batch_size, CONFIG.latent_dim, device=device)
                errD, errG, _, _ = gan_step(
                    netG, netD, optD, optG, loss, real, noise, autocast
                )
                D_losses.append(errD.total.item())  # tutorials log every step
                G_losses.append(errG.item())
                done += 1
                if done % steps == 0:
                    return

    return run


def ours_loop(data, device, steps, **options):
    """Our trainer; timed by its own clock, which leaves out building the models."""
    config = replace(CONFIG, steps=steps, device=str(device), **options)

    def run():
        return train(config, data).history.seconds

    return run


def bare_loop(device, steps, autocast):
    generator, discriminator = build_models(CONFIG, (1, 28, 28))
    generator.to(device), discriminator.to(device)
    opt_g = _make_optimizer(CONFIG, generator.parameters(), CONFIG.lr_g)
    opt_d = _make_optimizer(CONFIG, discriminator.parameters(), CONFIG.lr_d)
    loss = make_loss("ls")
    real = torch.rand(CONFIG.batch_size, 1, 28, 28, device=device) * 2 - 1
    z = torch.randn(CONFIG.batch_size, CONFIG.latent_dim, device=device)

    def step():
        gan_step(generator, discriminator, opt_d, opt_g, loss, real, z, autocast)

    def run():
        for _ in range(steps):
            step()

    return run, step


def timed(run, device) -> float:
    """Seconds ``run`` took: by its own clock if it returns one, else by ours."""
    sync(device)
    start = time.perf_counter()
    own = run()
    sync(device)
    return own if own is not None else time.perf_counter() - start


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def flops_of_one_step(step) -> int:
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def matmul_rate(device, n=2048, repeats=10) -> float:
    """FLOP/s of a large fp32 matmul, best of ``repeats``: a measured ceiling,
    not the data sheet's peak."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    best = min(timed(lambda: (a @ b, None)[1], device) for _ in range(repeats))
    return 2 * n**3 / best


def peak_memory(device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2**20:,.0f} MiB (CUDA max allocated)"
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return f"{kib / 2**10:,.0f} MiB (process max RSS, CPU)"


def machine(device) -> str:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
        try:
            for line in open("/proc/cpuinfo"):
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
    return (
        f"{name}; {os.cpu_count()} CPUs, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="steps per timing")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of all loops")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default); on a busy "
                        "shared CPU, 1 can be several times faster than 2")
    parser.add_argument("--variants", action="store_true",
                        help="also time ours with channels_last and torch.compile")
    args = parser.parse_args(argv)
    device = pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    global CONFIG
    CONFIG = replace(CONFIG, device=str(device))
    data = load_images("mnist", verbose=False)
    amp = device.type == "cuda"
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if amp else nullcontext()

    bare, one_step = bare_loop(device, args.steps, autocast)
    loops = {
        "ours": ours_loop(data, device, args.steps),
        "reference": reference_loop(data, device, args.steps, autocast),
        "bare": bare,
    }
    if args.variants:
        loops["ours, channels_last"] = ours_loop(
            data, device, args.steps, channels_last=True
        )
        loops["ours, compile"] = ours_loop(data, device, args.steps, compile=True)
    print(f"machine: {machine(device)}")
    print(f"data: {data.describe()}")
    print(f"{args.rounds} rounds of {args.steps} steps at batch {CONFIG.batch_size}, "
          "after one warm-up round")  # fmt: skip
    for run in loops.values():  # warm-up: lazy imports, allocator, kernels
        run()
    rates = {name: [] for name in loops}
    for _ in range(args.rounds):
        for name, run in loops.items():
            seconds = timed(run, device)
            rates[name].append(args.steps * CONFIG.batch_size / seconds)

    flops = flops_of_one_step(one_step)
    peak = matmul_rate(device)
    print(f"\n{'loop':<22} {'img/s (median)':>15} {'min':>8} {'max':>8} "
          f"{'GFLOP/s':>8} {'of matmul':>9}")  # fmt: skip
    for name, values in rates.items():
        median = statistics.median(values)
        achieved = flops / CONFIG.batch_size * median
        print(f"{name:<22} {median:>15,.0f} {min(values):>8,.0f} {max(values):>8,.0f} "
              f"{achieved / 1e9:>8.1f} {achieved / peak:>9.1%}")  # fmt: skip
    for other in ("bare", "reference"):
        per_round = [o / b for o, b in zip(rates["ours"], rates[other])]
        print(f"ours / {other}: {statistics.median(per_round):.3f} "
              f"(median of per-round ratios; range {min(per_round):.3f} .. "
              f"{max(per_round):.3f})")  # fmt: skip
    print(f"\nFLOPs of one step (D and G update, forward and backward): "
          f"{flops / 1e9:.2f} GFLOP, {flops / CONFIG.batch_size / 1e6:.0f} MFLOP "
          "per image")  # fmt: skip
    print(f"measured fp32 2048x2048 matmul rate: {peak / 1e9:,.1f} GFLOP/s "
          "(the 'of matmul' column; the hardware peak is not known here)")
    print(f"peak memory: {peak_memory(device)}")


if __name__ == "__main__":
    main()
