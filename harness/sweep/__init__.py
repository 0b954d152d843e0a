"""Sweeps: a plan's scenarios x method variants x seeds, run on one machine or on Ray, with
every number aggregated across seeds (docs/sweeps.md)."""

from medlethe.sweep.driver import Sweep, SweepOutput
from medlethe.sweep.plan import Plan, load_plan

__all__ = ["Plan", "Sweep", "SweepOutput", "load_plan"]
