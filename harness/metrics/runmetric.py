"""The run-metric contract: a metric over whole runs, computed from stored per-sample values.

A run metric declares the reference runs it needs (``needs_runs``: ``"target"`` for the
model before unlearning, ``"oracle"`` for the model never trained on the forget set; empty
for metrics of the run alone, which ``medlethe evaluate`` computes itself). It receives
:class:`EvaluationRun` (a results record with its per-sample values and labels, no text) and
returns :class:`MetricResult` rows, each with an interval from :mod:`medlethe.metrics.bootstrap`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from medlethe.errors import MedletheError
from medlethe.hookspecs import Named
from medlethe.metrics.base import Direction
from medlethe.metrics.bootstrap import Clusters, Interval
from medlethe.results.schema import CI, MetricResult

if TYPE_CHECKING:
    from medlethe.results.evaluation import EvaluationRun

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
        return len(self.after)


def present_rows(*columns: Sequence[float | None] | None) -> np.ndarray:
    """A mask of the rows where every column has a value."""
    cols = [c or [] for c in columns]
    return np.asarray([all(v is not None for v in row) for row in zip(*cols, strict=True)],
                      dtype=bool)


def paired_values(
    run: EvaluationRun, ref: EvaluationRun, task: str, split: str, metric: str
) -> Paired | None:
    """The two runs' values of ``metric`` on ``task:split`` (one row per question; for a
    ``vector`` metric such as a classifier's logits, a row of values per question);
    ``None`` when either lacks them; an error when the runs did not answer the same
    questions."""
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


def own_values(run: EvaluationRun, task: str, split: str, metric: str) -> Column:
    """One run's values of ``metric`` on ``task:split`` (empty when absent)."""
    col = run.column(task, split, metric) or []
    keep = present_rows(col)
    values = np.asarray([v for v in col if v is not None], dtype=float)
    clusters = run.clusters(task, split).subset(keep) if col else Clusters.of(None, 0)
    return Column(values, clusters, keep)


def to_ci(interval: Interval | None) -> CI | None:
    return CI(**interval.__dict__) if interval is not None else None


class RunMetric(Named, ABC):
    """A metric over whole runs. Register it with ``register_metrics(...,
    run_metric=True)``; ``medlethe run`` and ``medlethe compare`` compute it (and
    ``medlethe evaluate`` when it needs no reference run), never a task's metric list."""

    version: ClassVar[str] = "1"
    direction: ClassVar[Direction] = "higher"
    needs_runs: ClassVar[frozenset[str]] = frozenset()
    #: the closed range of its values, and of those it ``also_reports`` (``None``: unbounded)
    bounds: ClassVar[tuple[float, float] | None] = None
    #: names of results it reports besides its own (``mia_resistance_loss`` beside
    #: ``mia_auc_loss``), so that readers of results files know them
    also_reports: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def compute(
        self, run: EvaluationRun, refs: Mapping[str, EvaluationRun], seed: int
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
        excluded: int = 0,
        withheld: str | None = None,
    ) -> MetricResult:
        """One result; a value that is not finite is written as None (``withheld`` says
        why, where the metric knows)."""
        ok = math.isfinite(value) and withheld is None
        if isinstance(ci, Interval):
            ci = to_ci(ci)
        return MetricResult(
            task=task,
            split=split,
            subset=subset,
            metric=metric or self.name,
            metric_version=self.version,
            plugin=self.plugin,
            value=value if ok else None,
            ci=ci if ok else None,
            direction=direction or self.direction,
            n=n,
            against=against,
            excluded=excluded,
            withheld=withheld,
        )
