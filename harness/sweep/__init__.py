"""Sweeps: a plan's scenarios x method variants x seeds, run on one machine or on Ray, with
every number aggregated across seeds (docs/sweeps.md). Names load on first use, so the
leaderboard can read ``medlethe.sweep.report``'s constants without the training stack."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medlethe.sweep.driver import Sweep, SweepOutput
    from medlethe.sweep.html import page_context
    from medlethe.sweep.plan import Plan, load_plan
    from medlethe.sweep.report import SUMMARY_FILE, SWEEP_SUMMARY_VERSION

_WHERE = {"Sweep": "driver", "SweepOutput": "driver", "Plan": "plan", "load_plan": "plan",
          "page_context": "html", "SUMMARY_FILE": "report", "SWEEP_SUMMARY_VERSION": "report"}

__all__ = ["SUMMARY_FILE", "SWEEP_SUMMARY_VERSION", "Plan", "Sweep", "SweepOutput",
           "load_plan", "page_context"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'medlethe.sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(f"medlethe.sweep.{_WHERE[name]}"), name)
