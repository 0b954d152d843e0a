"""The run-metric contract: a metric over whole runs, computed from stored per-sample values.

A run metric declares the reference runs it needs (``needs_runs``: ``"target"`` for the
model before unlearning, ``"oracle"`` for the model never trained on the forget set; empty
for metrics of the run alone, which ``medlethe evaluate`` computes itself). It receives
:class:`RunData` (a results record with its per-sample values and labels, no text) and
returns :class:`MetricResult` rows, each with an interval from :mod:`medlethe.metrics.bootstrap`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from medlethe.errors import MedletheError
from medlethe.metrics.base import Direction
from medlethe.metrics.bootstrap import Clusters, Interval
from medlethe.results.schema import CI, MetricResult, Results

Values = dict[str, dict[str, dict[str, list[float | None]]]]
Labels = dict[str, dict[str, dict[str, list[Any]]]]
#: the per-sample label that names each row's cluster (the task's sampling unit)
CLUSTER_LABEL = "cluster"


@dataclass
class RunData:
    """A results record with its per-sample values and labels (``path``: where it was read
    from or written to, ``None`` while it is only in memory)."""

    results: Results
    path: Path | None
    values: Values
    labels: Labels

    @property
    def run_id(self) -> str:
        return self.results.run_id

    @property
    def label(self) -> str:
        return self.path.name if self.path is not None else self.run_id

    def column(self, task: str, split: str, metric: str) -> list[float | None] | None:
        return self.values.get(task, {}).get(split, {}).get(metric)

    def output_type(self, task: str) -> str:
        return self.results.tasks[task].output_type

    def row_labels(self, task: str, split: str, key: str) -> list[Any] | None:
        """One per-sample label of a split (``type``, ``category``, ``code``, ...)."""
        return self.labels.get(task, {}).get(split, {}).get(key)

    def clusters(self, task: str, split: str) -> Clusters:
        """The sampling units of a split's rows (each row alone for runs written before
        tasks declared them)."""
        labels = self.row_labels(task, split, CLUSTER_LABEL)
        record = self.results.tasks.get(task)
        unit = record.sampling_unit if record is not None else None
        n = len(labels) if labels is not None else len(next(iter(
            self.values.get(task, {}).get(split, {}).values()), []))
        return Clusters.of(labels, n, unit)


@dataclass(frozen=True)
class Paired:
    """Per-question values of a run and of a reference on the same questions, with the
    clusters of the rows kept (pairs where either value is missing are dropped; ``kept``
    marks the split's rows that remain, to select labels of the same rows)."""

    after: np.ndarray
    before: np.ndarray
    clusters: Clusters
    kept: np.ndarray

    def __len__(self) -> int:
        return int(self.after.size)


def present_rows(*columns: Sequence[float | None] | None) -> np.ndarray:
    """A mask of the rows where every column has a value."""
    cols = [c or [] for c in columns]
    return np.asarray([all(v is not None for v in row) for row in zip(*cols, strict=True)],
                      dtype=bool)


def paired_values(
    run: RunData, ref: RunData, task: str, split: str, metric: str
) -> Paired | None:
    """The two runs' values of ``metric`` on ``task:split``; ``None`` when either lacks
    them; an error when the runs did not answer the same questions."""
    a, b = run.column(task, split, metric), ref.column(task, split, metric)
    if a is None or b is None:
        return None
    fa = run.results.tasks[task].data_fingerprints.get(split)
    fb = ref.results.tasks[task].data_fingerprints.get(split)
    if fa != fb or len(a) != len(b):
        raise MedletheError(
            f"Runs {run.label} and {ref.label} did not answer the same questions on "
            f"{task}:{split} (data fingerprints differ); compare runs of the same task and "
            "task arguments."
        )
    keep = present_rows(a, b)
    if not keep.any():
        return None
    after = np.asarray([x for x, k in zip(a, keep, strict=True) if k], dtype=float)
    before = np.asarray([y for y, k in zip(b, keep, strict=True) if k], dtype=float)
    return Paired(after, before, run.clusters(task, split).subset(keep), keep)


@dataclass(frozen=True)
class Column:
    """One run's non-missing values of a metric on a split, with their clusters; ``kept``
    marks the split's rows that remain."""

    values: np.ndarray
    clusters: Clusters
    kept: np.ndarray


def own_values(run: RunData, task: str, split: str, metric: str) -> Column:
    """One run's values of ``metric`` on ``task:split`` (empty when absent)."""
    col = run.column(task, split, metric) or []
    keep = present_rows(col)
    values = np.asarray([v for v in col if v is not None], dtype=float)
    clusters = run.clusters(task, split).subset(keep) if col else Clusters.of(None, 0)
    return Column(values, clusters, keep)


def to_ci(interval: Interval | None) -> CI | None:
    return CI(**interval.__dict__) if interval is not None else None


class RunMetric(ABC):
    """A metric over whole runs. Register it with ``register_metrics(...,
    run_metric=True)``; ``medlethe run`` and ``medlethe compare`` compute it (and
    ``medlethe evaluate`` when it needs no reference run), never a task's metric list."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    direction: ClassVar[Direction] = "higher"
    needs_runs: ClassVar[frozenset[str]] = frozenset()
    #: names of results it reports besides its own (``mia_resistance_loss`` beside
    #: ``mia_auc_loss``), so that readers of results files know them
    also_reports: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def compute(
        self, run: RunData, refs: Mapping[str, RunData], seed: int
    ) -> list[MetricResult]:
        """Results for every task and split the metric applies to (may be empty)."""

    def result(
        self,
        task: str,
        split: str,
        value: float,
        ci: CI | Interval | None,
        n: int,
        *,
        subset: str | None = None,
        against: str | None = None,
        direction: Direction | None = None,
        metric: str | None = None,
    ) -> MetricResult:
        ok = math.isfinite(value)
        if isinstance(ci, Interval):
            ci = to_ci(ci)
        return MetricResult(
            task=task,
            split=split,
            subset=subset,
            metric=metric or self.name,
            metric_version=self.version,
            plugin="core_metrics",
            value=value if ok else None,
            ci=ci if ok else None,
            direction=direction or self.direction,
            n=n,
            against=against,
        )
