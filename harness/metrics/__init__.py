"""Metrics: the contract and the bootstrap interval every aggregate carries."""

from medlethe.metrics.base import Direction, Interval, Metric, Sample, bootstrap_ci

__all__ = ["Direction", "Interval", "Metric", "Sample", "bootstrap_ci"]
