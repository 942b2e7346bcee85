"""Experiment code of the stability chapter: settings, a failure rule, tables.

A generated sample is **blank** when it shows no digit strokes: fewer than
``MIN_INK`` of its pixels are clear ink (above ``CLEAR``) or fewer than
``MIN_BACKGROUND`` are clear background (below ``-CLEAR``). Every real MNIST
digit has at least 2% clear ink and 65% clear background; a uniform image of
any grey, a faint smudge and an image that is all ink are all blank.

A run *fails* when its final samples meet any of these conditions, all
measured by numbers, none by eye:

* **blank**: more than ``BLANK_SHARE`` of the samples are blank;
* **few classes**: the metrics classifier finds fewer than ``MIN_CLASSES`` of
  the 10 digits, a digit counting when it gets at least 2% of the samples
  (``metrics.class_coverage``);
* **non-finite**: training stopped on a non-finite loss.

The fixed-noise samples taken during training are checked for blankness too:
every run starts blank (an untrained generator draws a uniform grey), and
``strokes_from`` is the first sampled step from which more than half of the
samples show strokes until the end of the run (None if they never do).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from .experiments import ImageEvaluator, Run, mean_std
from .losses import make_loss
from .trainer import TrainConfig, TrainResult

CLEAR = 0.5  # clear ink: above +CLEAR; clear background: below -CLEAR
MIN_INK = 0.01  # a sample needs at least this share of clear ink ...
MIN_BACKGROUND = 0.10  # ... and this share of clear background
BLANK_SHARE = 0.5  # blank run: more than this share of the samples are blank
MIN_CLASSES = 6  # few classes: fewer than this many digits found


def blank_mask(images: torch.Tensor) -> torch.Tensor:
    """Which images (N, 1, 28, 28) in [-1, 1] show no digit strokes."""
    ink = (images > CLEAR).flatten(1).float().mean(1)
    background = (images < -CLEAR).flatten(1).float().mean(1)
    return (ink < MIN_INK) | (background < MIN_BACKGROUND)


def blank_share(images: torch.Tensor) -> float:
    """Share of blank images (see ``blank_mask``); 0 for an empty set."""
    if len(images) == 0:
        return 0.0
    return blank_mask(images).float().mean().item()


def ink_share(images: torch.Tensor) -> float:
    """Share of pixels brighter than the middle grey (0): about 0.19 for MNIST."""
    return (images > 0).float().mean().item()


def strokes_from(steps: list[int], blank: list[float]) -> int | None:
    """The first step from which the blank share stays at or below
    ``BLANK_SHARE`` to the end, or None when the last one is above it."""
    first = None
    for step, share in zip(steps, blank):
        if share > BLANK_SHARE:
            first = None
        elif first is None:
            first = step
    return first


def failure_reasons(metrics: dict) -> list[str]:
    """Why a run failed by the chapter's rule (empty list: it did not)."""
    reasons = []
    if metrics["stop_reason"] != "finished":
        reasons.append("non-finite")
    if metrics["blank"] > BLANK_SHARE:
        reasons.append("blank")
    if metrics["classes"] < MIN_CLASSES:
        reasons.append("few classes")
    return reasons


class StabilityEvaluator:
    """``evaluate`` for ``experiments.run_grid``: the image metrics of
    ``ImageEvaluator`` plus blankness and ink, at the end and over training,
    and the failure verdict."""

    def __init__(self, images: ImageEvaluator):
        self.images = images
        self.extra = {
            **images.extra,
            "evaluate": "stability",
            "rule": [CLEAR, MIN_INK, MIN_BACKGROUND, BLANK_SHARE, MIN_CLASSES],
        }

    def __call__(self, result: TrainResult) -> dict:
        final = result.sample(self.images.n, seed=result.config.seed + 20_000)
        finite = bool(torch.isfinite(final).all())
        metrics = self.images.measure(final.nan_to_num().clamp(-1, 1))
        samples = result.history.samples
        steps = sorted(samples)
        blank = [blank_share(samples[s]) for s in steps]
        metrics.update(
            blank=blank_share(final) if finite else 1.0,
            ink=ink_share(final),
            steps=steps,
            blank_over_time=blank,
            strokes_from=strokes_from(steps, blank),
            stop_reason=result.history.stop_reason,
        )
        metrics["why"] = failure_reasons(metrics)
        metrics["failed"] = bool(metrics["why"])
        return metrics


# ---------------------------------------------------------------------------
# The chapter's settings

LOSSES = ("ls", "gan-ns")


def _short(number: float) -> str:
    """5e-05 -> 5e-5, 0.0002 -> 2e-4."""
    mantissa, exponent = f"{number:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def factors(config: TrainConfig) -> dict[str, str]:
    """What a setting chooses, in words: the columns of the chapter's tables."""
    coding = "-"
    if config.loss == "ls":
        coding = "({:g}, {:g}, {:g})".format(*make_loss("ls", config.coding).coding)
    bn = {(True, True): "G, D", (False, True): "D", (True, False): "G"}
    return {
        "loss": config.loss,
        "optimizer": f"{'Adam' if config.optimizer == 'adam' else 'RMSprop'} "
        f"{_short(config.lr_d)}",
        "BN in": bn.get((config.g_batch_norm, config.d_batch_norm), "-"),
        "coding": coding,
        "D batch": "joint" if config.d_joint_batch else "separate",
    }


def setting_name(config: TrainConfig) -> str:
    """A short unique name built from ``factors``."""
    return " | ".join(factors(config).values())


def stress_settings(base: TrainConfig) -> dict[str, TrainConfig]:
    """The paper's stress tests (Mao et al., 2017) beside the reference, for
    both losses: Adam with batch norm in G and D (the reference), Adam without
    batch norm in G, RMSprop without batch norm in G or D."""
    configs = []
    for loss in LOSSES:
        ref = replace(base, loss=loss)
        configs += [
            ref,
            replace(ref, g_batch_norm=False),
            replace(ref, optimizer="rmsprop", g_batch_norm=False, d_batch_norm=False),
        ]
    return {setting_name(c): c for c in configs}


def tutorial_recipe(base: TrainConfig) -> TrainConfig:
    """The tutorial's recipe: RMSprop with lr 5e-5 for both networks, the
    coding (-1, 1, 1) for the least squares loss, and D scoring real and fake
    in one joint batch through batch norm."""
    coding = "tutorial" if base.loss == "ls" else base.coding
    return replace(
        base, optimizer="rmsprop", lr_d=5e-5, lr_g=5e-5, coding=coding,
        d_joint_batch=True,
    )  # fmt: skip


def tutorial_settings(base: TrainConfig) -> dict[str, TrainConfig]:
    """The tutorial's recipe and its three choices taken apart.

    For the least squares loss: the recipe; the recipe with separate D
    batches; from there, the coding (-1, 1, 0) instead of (-1, 1, 1) or Adam
    2e-4 instead of RMSprop 5e-5 (with the reference of ``stress_settings``,
    the four combinations of coding and optimizer); and the joint batch alone,
    added to the reference. For the sigmoid loss, which has no coding: the
    recipe and the recipe with separate batches.
    """
    ls = replace(base, loss="ls", coding="pearson")
    recipe = tutorial_recipe(ls)
    separate = replace(recipe, d_joint_batch=False)
    configs = [
        recipe,
        separate,
        replace(separate, coding="pearson"),
        replace(separate, optimizer=ls.optimizer, lr_d=ls.lr_d, lr_g=ls.lr_g),
        replace(ls, d_joint_batch=True),
    ]
    gan = tutorial_recipe(replace(base, loss="gan-ns"))
    configs += [gan, replace(gan, d_joint_batch=False)]
    return {setting_name(c): c for c in configs}


# ---------------------------------------------------------------------------
# Tables and figures


def failure_table(runs: list[Run]) -> str:
    """One row per setting: its factors, then the failed runs and why, the
    step from which the samples show strokes (mean over the runs where they
    do, and how many do), and the final Fréchet distance and classes found
    (mean ± std over the seeds)."""
    results = ["failed", "why", "strokes from", "Fréchet", "classes"]
    header, rows = None, []
    for name in dict.fromkeys(r.setting for r in runs):
        mine = [r for r in runs if r.setting == name]
        described = factors(mine[0].config)
        header = header or list(described) + results
        fid = mean_std([r.metrics["fid"] for r in mine])
        classes = mean_std([r.metrics["classes"] for r in mine])
        why = sorted({w for r in mine for w in r.metrics["why"]})
        rows.append(list(described.values()) + [
            share_text(failed_share(runs, name)), ", ".join(why) or "-",
            _strokes_text([r.metrics["strokes_from"] for r in mine]),
            f"{fid[0]:.0f} ± {fid[1]:.0f}", f"{classes[0]:.1f} ± {classes[1]:.1f}",
        ])  # fmt: skip
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
             for row in [header] + rows]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _strokes_text(steps: list) -> str:
    found = [s for s in steps if s is not None]
    if not found:
        return f"never (0/{len(steps)})"
    return f"{np.mean(found):.0f} ({len(found)}/{len(steps)})"


def failed_share(runs: list[Run], setting: str) -> tuple[int, int]:
    """(failed runs, runs) of one setting."""
    mine = [r for r in runs if r.setting == setting]
    if not mine:
        raise KeyError(f"no runs of setting {setting!r}")
    return sum(r.metrics["failed"] for r in mine), len(mine)


def plot_over_time(runs: list[Run], key: str, ylabel: str, ax=None):
    """``metrics[key]`` over the sampled steps: one thin line per run, one
    colour per setting."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, name in enumerate(dict.fromkeys(r.setting for r in runs)):
        for j, run in enumerate(r for r in runs if r.setting == name):
            ax.plot(
                run.metrics["steps"], run.metrics[key], lw=1, alpha=0.8,
                color=colours[i % len(colours)], label=name if j == 0 else None,
            )  # fmt: skip
    ax.set(xlabel="step", ylabel=ylabel)
    ax.legend(fontsize=7)
    return ax.figure


def first_failure(runs: list[Run], prefer: tuple[str, ...] = ("blank",)):
    """The first failed run whose reasons include one of ``prefer``, else the
    first failed run, else None."""
    failed = [r for r in runs if r.metrics["failed"]]
    for reason in prefer:
        for run in failed:
            if reason in run.metrics["why"]:
                return run
    return failed[0] if failed else None


def share_text(counts: tuple[int, int]) -> str:
    return f"{counts[0]}/{counts[1]}"


def mean_of(runs: list[Run], setting: str, key: str) -> float:
    return float(np.mean([r.metrics[key] for r in runs if r.setting == setting]))


def select(runs: list[Run], **fields) -> list[Run]:
    """The runs whose config has every given field value, e.g.
    ``select(runs, loss="ls", d_joint_batch=True)``."""
    def matches(run: Run) -> bool:
        return all(getattr(run.config, k) == v for k, v in fields.items())

    return [r for r in runs if matches(r)]


def count_failed(runs: list[Run], **fields) -> tuple[int, int]:
    """(failed runs, runs) among ``select(runs, **fields)``."""
    mine = select(runs, **fields)
    return sum(r.metrics["failed"] for r in mine), len(mine)
