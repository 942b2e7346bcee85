"""Experiment code of the conditional chapter: does G draw the digit it is
asked for, and does it still vary within a digit?

* **class accuracy**: the share of generated digits that the metrics
  classifier assigns to the class G was asked for (chance: 1 / classes);
* **within-class spread**: the mean pixel distance between two samples of
  the same class, divided by the same for real held-out digits. A generator
  that ignores its noise and draws one image per class scores 0; real-like
  variety scores about 1. Classes are the classifier's predictions for every
  image set, so that conditional, unconditional and real images are grouped
  alike.
"""

from __future__ import annotations

import numpy as np
import torch

from .conditional import class_labels
from .experiments import ImageEvaluator, Run, mean_std
from .metrics import predict
from .trainer import TrainResult, noise_batch


def within_class_spread(images: torch.Tensor, classes: torch.Tensor) -> float:
    """Mean over classes (with at least two images) of the mean Euclidean
    pixel distance between two different images of that class."""
    spreads = []
    for label in torch.unique(classes).tolist():
        members = images[classes == label].flatten(1).float()
        n = len(members)
        if n < 2:
            continue
        distances = torch.cdist(members, members)
        spreads.append((distances.sum() / (n * (n - 1))).item())
    return float(np.mean(spreads)) if spreads else 0.0


@torch.no_grad()
def style_grid(result: TrainResult, per_class: int = 8, seed: int = 0):
    """``per_class`` noise vectors, each drawn as every class: image
    ``k * per_class + j`` is class ``k`` with noise ``j``, so a column of a
    grid with ``per_class`` images per row keeps one ``z``."""
    k = result.num_classes
    z = noise_batch(per_class, result.config.latent_dim, seed).repeat(k, 1)
    labels = torch.arange(k).repeat_interleave(per_class)
    generator = result.generator
    was_training = generator.training
    generator.eval()
    device = next(generator.parameters()).device
    out = generator(z.to(device), labels.to(device)).float().cpu()
    generator.train(was_training)
    return out


class ConditionalEvaluator:
    """``evaluate`` for ``experiments.run_grid``: the image metrics of
    ``ImageEvaluator`` on ``n`` samples (the held-out set's size, an equal
    number per class for a conditional G), plus class accuracy (conditional
    runs only), per-class accuracy and within-class spread."""

    def __init__(self, images: ImageEvaluator, classes: int = 10):
        self.images = images
        self.classes = classes
        held = images.heldout
        self.real_spread = within_class_spread(held, predict(images.classifier, held))
        self.extra = {**images.extra, "evaluate": "conditional", "classes": classes}

    def __call__(self, result: TrainResult) -> dict:
        n, seed = self.images.n, result.config.seed + 20_000
        labels = class_labels(n, self.classes) if result.num_classes else None
        samples = result.sample(n, seed=seed, labels=labels)
        metrics = self.images.measure(samples)
        predicted = predict(self.images.classifier, samples)
        spread = within_class_spread(samples, predicted)
        metrics.update(spread=spread, spread_ratio=spread / self.real_spread)
        if labels is not None:
            hits = (predicted == labels).float()
            per_class = [hits[labels == k].mean().item() for k in range(self.classes)]
            metrics.update(
                accuracy=hits.mean().item(),
                per_class_accuracy=per_class,
                style_grid=style_grid(result),
            )
        return metrics


def accuracy_table(runs: list[Run]) -> str:
    """Per-class accuracy of the conditional runs: one row per class, the
    mean and std over the seeds, and the lowest seed."""
    cond = [r for r in runs if "accuracy" in r.metrics]
    table = np.array([r.metrics["per_class_accuracy"] for r in cond])
    lines = ["digit  mean ± std     lowest seed", "-----  -----------  -----------"]
    for k, column in enumerate(table.T):
        mean, std = mean_std(column)
        lines.append(f"{k:>5}  {mean:.2f} ± {std:.2f}  {column.min():>11.2f}")
    return "\n".join(lines)


def plot_per_class_accuracy(runs: list[Run], ax=None):
    """Bars: per-class accuracy, mean over the conditional runs; dots: each
    seed; dotted line: chance."""
    import matplotlib.pyplot as plt

    cond = [r for r in runs if "accuracy" in r.metrics]
    table = np.array([r.metrics["per_class_accuracy"] for r in cond])
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 2.8))
    classes = np.arange(table.shape[1])
    ax.bar(classes, table.mean(0), color="0.75", label="mean over seeds")
    for i, row in enumerate(table):
        ax.plot(classes, row, "o", ms=3, label=f"seed {cond[i].seed}")
    ax.axhline(1 / len(classes), color="k", ls=":", lw=1, label="chance")
    ax.set(xlabel="digit asked for", ylabel="class accuracy", ylim=(0, 1.05),
           xticks=classes)  # fmt: skip
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    return ax.figure
