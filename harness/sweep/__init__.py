"""Sweeps: a plan's scenarios x method variants x seeds, run on one machine or on Ray, with
every number aggregated across seeds (docs/sweeps.md). Names load on first use, so the
leaderboard can read ``medlethe.sweep.report``'s constants without the training stack."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medlethe.analysis import (
        Rows,
        model_labels,
        ordered_labels,
        row_index,
        seed_difference,
        seed_values,
    )
    from medlethe.sweep.driver import Sweep, SweepOutput
    from medlethe.sweep.front import front_sections
    from medlethe.sweep.html import page_context
    from medlethe.sweep.plan import Plan, load_plan
    from medlethe.sweep.report import SUMMARY_FILE, SWEEP_SUMMARY_VERSION

_WHERE = {"Sweep": "driver", "SweepOutput": "driver", "Plan": "plan", "load_plan": "plan",
          "page_context": "html", "SUMMARY_FILE": "report", "SWEEP_SUMMARY_VERSION": "report",
          "front_sections": "front"}
#: what analyses (``register_analyses``) read the sweep's rows with: medlethe.analysis
_ANALYSIS = ("Rows", "model_labels", "ordered_labels", "row_index", "seed_difference",
             "seed_values")

__all__ = ["SUMMARY_FILE", "SWEEP_SUMMARY_VERSION", "Plan", "Rows", "Sweep", "SweepOutput",
           "front_sections", "load_plan", "model_labels", "ordered_labels", "page_context",
           "row_index", "seed_difference", "seed_values"]


def __getattr__(name: str) -> Any:
    if name in _ANALYSIS:
        return getattr(importlib.import_module("medlethe.analysis"), name)
    if name not in _WHERE:
        raise AttributeError(f"module 'medlethe.sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(f"medlethe.sweep.{_WHERE[name]}"), name)
