"""Run budgets chosen by the LSGAN_BUDGET environment variable.

"smoke" is a seconds-long check that the code runs, "default" is what the
book's stored outputs come from (minutes on a 2-core CPU), "full" is for a
GPU. With the variable unset, "full" is chosen when a CUDA GPU is visible
and "default" otherwise, so a notebook opened on a Colab GPU needs no edits.
"""

from __future__ import annotations

import os
from typing import TypeVar

import torch

BUDGET_ENV = "LSGAN_BUDGET"
BUDGET_NAMES = ("smoke", "default", "full")

T = TypeVar("T")


def current_budget() -> str:
    name = os.environ.get(BUDGET_ENV, "").strip().lower()
    if not name:
        return "full" if torch.cuda.is_available() else "default"
    if name not in BUDGET_NAMES:
        raise ValueError(
            f"{BUDGET_ENV}={name!r} is not a budget: use one of {', '.join(BUDGET_NAMES)}"
        )
    return name


def choose(options: dict[str, T]) -> tuple[str, T]:
    """Return (budget name, the option for it) from a dict keyed by budget."""
    missing = set(BUDGET_NAMES) - set(options)
    if missing:
        raise ValueError(f"budget options lack {sorted(missing)}")
    name = current_budget()
    return name, options[name]
