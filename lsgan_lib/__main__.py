"""Command line: ``python -m lsgan_lib train ...`` and ``... sample ...``.

Every mistake in the input ends in one clear line on stderr and exit code 2,
never in a stack trace from deep inside torch. Run ``python -m lsgan_lib
train --help`` for the options.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from dataclasses import fields, replace
from pathlib import Path

from . import distributed
from .checkpoint import CheckpointError, checkpoint_path, load_checkpoint
from .checksums import DatasetChecksumError, verify_dataset_files
from .data import DatasetNotFoundError
from .losses import CODINGS, LOSS_NAMES

DATASETS = ("mnist", "fashion-mnist")
RUN_FILE = "run.json"  # what the CLI was asked; read back as data, never run
EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


class BadInput(ValueError):
    """Input the command refuses before training starts."""


def _defaults():
    from .trainer import TrainConfig  # torch is imported only when needed

    return TrainConfig()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lsgan_lib",
        description="Train the course's GANs and draw samples from checkpoints.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_train(commands)
    _add_sample(commands)
    return parser


def _add_train(commands) -> None:
    d = _defaults()
    p = commands.add_parser(
        "train",
        help="train a GAN on MNIST or Fashion-MNIST",
        description="Train a DCGAN-style GAN. Checkpoints, sample grids and the "
        "loss history go to --out. Options left out keep the defaults shown; "
        "with --resume they keep the checkpoint's values. Ctrl-C once "
        "finishes the step, saves a checkpoint and stops; --resume continues.",
    )
    run = p.add_argument_group("the run")
    run.add_argument("--loss", choices=LOSS_NAMES,
                     help=f"ls: least squares; gan-ns / gan-minimax: sigmoid "
                     f"cross-entropy, non-saturating or saturating G [{d.loss}]")
    run.add_argument("--coding", help=f"ls only: (a, b, c) as 'a,b,c' or one of "
                     f"{', '.join(CODINGS)} [{d.coding}]")
    run.add_argument("--dataset", choices=DATASETS, help="[mnist]")
    run.add_argument("--data-root", type=Path,
                     help="folder with <Name>/raw/ IDX files [the repository's data/]")
    length = run.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=float, help="passes over the data")
    length.add_argument("--steps", type=int,
                        help=f"D+G updates, if --epochs is not given [{d.steps}]")
    run.add_argument("--batch-size", type=int,
                     help=f"global batch, split across processes [{d.batch_size}]")
    run.add_argument("--latent-dim", type=int, help=f"size of z [{d.latent_dim}]")
    run.add_argument("--width", type=int,
                     help=f"channels of the first conv layer [{d.width}]")
    run.add_argument("--no-g-batch-norm", dest="g_batch_norm", action="store_false",
                     help="no batch norm in the generator")
    run.add_argument("--no-d-batch-norm", dest="d_batch_norm", action="store_false",
                     help="no batch norm in the discriminator")
    run.add_argument("--optimizer", choices=("adam", "rmsprop"), help=f"[{d.optimizer}]")
    run.add_argument("--lr", type=float, help="learning rate of both D and G")
    run.add_argument("--lr-d", type=float, help=f"D's learning rate [{d.lr_d:g}]")
    run.add_argument("--lr-g", type=float, help=f"G's learning rate [{d.lr_g:g}]")
    run.add_argument("--seed", type=int, help=f"seeds weights, data order, noise [{d.seed}]")

    out = p.add_argument_group("output and checkpoints")
    out.add_argument("--out", type=Path, required=True,
                     help="run folder: checkpoint.pt, samples/, history.json")
    out.add_argument("--resume", action="store_true",
                     help="continue the run in --out from its checkpoint")
    out.add_argument("--checkpoint-every", type=int, default=500,
                     help="steps between checkpoints (0: only at the end) [500]")
    out.add_argument("--sample-every", type=int,
                     help=f"steps between fixed-noise sample grids [{d.sample_every}]")
    out.add_argument("--log-every", type=int, default=100,
                     help="steps between log lines without a progress bar, between "
                     "loss updates with one [100]")
    out.add_argument("--progress", action=argparse.BooleanOptionalAction,
                     help="progress bar [on when stderr is a terminal]")
    out.add_argument("--no-verify", dest="verify", action="store_false",
                     help="skip the MD5 check of the original dataset files")

    speed = p.add_argument_group("device and speed")
    speed.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps [auto]")
    speed.add_argument("--amp", action=argparse.BooleanOptionalAction,
                       help="bfloat16 autocast [on for CUDA only]")
    speed.add_argument("--channels-last", action="store_true", default=None,
                       help="NHWC memory layout for the conv nets (for GPUs; "
                       "not measured yet)")
    speed.add_argument("--compile", action="store_true", default=None,
                       help="torch.compile the models (for GPUs; not measured yet)")
    p.set_defaults(g_batch_norm=None, d_batch_norm=None, verify=True)


def _add_sample(commands) -> None:
    p = commands.add_parser(
        "sample",
        help="draw a grid of samples (PNG) from a checkpoint",
        description="Draw n samples from a checkpoint's generator and save them "
        "as one PNG grid.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("checkpoint", type=Path, help="checkpoint.pt, or a run folder")
    p.add_argument("--n", type=int, default=64, help="number of samples")
    p.add_argument("--nrow", type=int, default=8, help="samples per row")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise")
    p.add_argument("--out", type=Path, default=Path("samples.png"), help="PNG file")
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps")


# ---------------------------------------------------------------------------
# train


def _config_from_args(args, base):
    """``base`` with every option the user gave on the command line."""
    changes = {f.name: getattr(args, f.name) for f in fields(base)
               if getattr(args, f.name, None) is not None}  # fmt: skip
    if args.lr is not None:
        changes.update(lr_d=args.lr, lr_g=args.lr)
    if args.epochs is not None:
        changes["steps"] = base.steps
    elif args.steps is not None:
        changes["epochs"] = None
    config = replace(base, **changes)
    if args.coding is not None and config.loss != "ls":
        raise BadInput(
            f"--coding is for --loss ls only; {config.loss} has no (a, b, c)"
        )
    return config


def _load_run_file(out: Path) -> dict:
    try:
        return json.loads((out / RUN_FILE).read_text())
    except (OSError, ValueError):
        return {}


def cmd_train(args) -> int:
    from .data import load_images
    from .trainer import TrainConfig, config_from_checkpoint, train

    world = distributed.init_from_env(args.device or "auto")
    base, dataset = TrainConfig(), args.dataset
    if args.resume:
        state = load_checkpoint(checkpoint_path(args.out))
        base = config_from_checkpoint(state)
        dataset = dataset or _load_run_file(args.out).get("dataset")
    dataset = dataset or "mnist"
    config = _config_from_args(args, base)
    if args.progress is None:
        config = replace(config, progress=sys.stderr.isatty())
    if not config.progress:
        config = replace(config, log_every=args.log_every)
    config.validate()
    if args.verify:
        for note in verify_dataset_files(dataset, args.data_root):
            print(f"note: {note}", file=sys.stderr)
    data = load_images(dataset, root=args.data_root, verbose=world.is_main)
    stop = threading.Event()
    with _stop_on_ctrl_c(stop):
        result = train(config, data, out=args.out, resume=args.resume,
                       checkpoint_every=args.checkpoint_every, stop=stop)  # fmt: skip
    if world.is_main:
        _write_outputs(args.out, result, dataset)
    distributed.shutdown()
    reason = result.history.stop_reason
    if reason.startswith("interrupted"):
        return EXIT_INTERRUPTED
    return 0 if reason == "finished" else EXIT_FAILED


class _stop_on_ctrl_c:
    """First Ctrl-C: finish the step, save a checkpoint, stop. Second: abort."""

    def __init__(self, stop: threading.Event):
        self.stop, self.previous = stop, None

    def _handle(self, signum, frame):
        if self.stop.is_set():
            raise KeyboardInterrupt
        self.stop.set()
        print("\nstopping after this step (Ctrl-C again to abort)", file=sys.stderr)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def _write_outputs(out: Path, result, dataset: str) -> None:
    from .trainer import describe_run

    h = result.history
    samples = out / "samples"
    samples.mkdir(exist_ok=True)
    for step, images in sorted(h.samples.items()):
        if images.ndim == 4:
            save_grid(images, samples / f"step-{step:06d}.png")
    history = {
        "stop_reason": h.stop_reason, "warnings": h.warnings, "seconds": h.seconds,
        "images_per_second": h.images_per_second, "steps": len(h.g_loss),
        "d_loss_real": h.d_loss_real, "d_loss_fake": h.d_loss_fake,
        "g_loss": h.g_loss, "d_real": h.d_real, "d_fake": h.d_fake,
    }  # fmt: skip
    (out / "history.json").write_text(json.dumps(history))
    (out / RUN_FILE).write_text(json.dumps({"dataset": dataset}, indent=1))
    print(describe_run(result))
    processes = distributed.current_world().size
    if processes > 1:
        print(f"processes: {processes}, each on 1/{processes} of every batch")
    print(f"samples:    {samples}/ ({len(h.samples)} grids of the fixed noise)")
    print(f"checkpoint: {result.checkpoint or 'none written'}")
    print(f"history:    {out / 'history.json'}")
    for warning in h.warnings[:1]:
        print(f"warning: {warning}")
    if h.stop_reason != "finished":
        print(f"resume with: python -m lsgan_lib train --resume --out {out}")


# ---------------------------------------------------------------------------
# sample


def cmd_sample(args) -> int:
    from .checkpoint import load_module_state
    from .trainer import build_models, config_from_checkpoint, noise_batch, pick_device

    if args.n < 1 or args.nrow < 1:
        raise BadInput("--n and --nrow must be at least 1")
    device = pick_device(args.device)
    state = load_checkpoint(args.checkpoint, map_location=device)
    config = config_from_checkpoint(state)
    shape = tuple(state["data"]["shape"])
    if len(shape) != 3:
        raise BadInput(f"the checkpoint's data has shape {shape}: not images")
    generator, _ = build_models(config, shape)
    load_module_state(generator, state["generator"], "generator", args.checkpoint)
    generator.to(device).eval()
    import torch

    with torch.no_grad():
        z = noise_batch(args.n, config.latent_dim, args.seed).to(device)
        images = generator(z).float().cpu()
    save_grid(images, args.out, args.nrow)
    print(f"{args.n} samples of step {state['step']} -> {args.out}")
    return 0


def save_grid(images, path: Path, nrow: int = 8, pad: int = 2) -> None:
    """Images (N, 1, H, W) in [-1, 1] as one PNG: dark ink on white."""
    import numpy as np
    from PIL import Image

    pixels = images.clamp(-1, 1).add(1).mul(127.5).round().byte().numpy()[:, 0]
    n, h, w = pixels.shape
    rows = -(-n // nrow)
    canvas = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad), 200, np.uint8)
    for i in range(n):
        r, c = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        canvas[top : top + h, left : left + w] = 255 - pixels[i]
    Image.fromarray(canvas).save(path)


# ---------------------------------------------------------------------------


def _glue_coding(argv: list[str]) -> list[str]:
    """'--coding -1,1,0' as '--coding=-1,1,0': argparse reads '-1,1,0' as an option."""
    glued, rest = [], iter(argv)
    for arg in rest:
        value = next(rest, None) if arg == "--coding" else None
        glued.append(arg if value is None else f"--coding={value}")
    return glued


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(_glue_coding(argv))
    command = {"train": cmd_train, "sample": cmd_sample}[args.command]
    try:
        return command(args)
    except (ValueError, CheckpointError, DatasetNotFoundError,
            DatasetChecksumError, OSError) as error:  # fmt: skip
        print(f"python -m lsgan_lib {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("aborted; the last checkpoint is kept", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
