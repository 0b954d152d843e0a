"""Disease-informed analysis: the collateral matrix and hierarchy preservation by
ICD-10-CM distance to the forgotten codes (AMNESIA's finding: forgetting patients erodes
knowledge of other patients with the same condition)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from medlethe.metrics.bootstrap import bootstrap_of_means
from medlethe.metrics.comparison import VERSION, ratio
from medlethe.metrics.constants import PRIMARY
from medlethe.metrics.lexicon import icd10cm
from medlethe.metrics.runmetric import (
    RunMetric,
    own_values,
    paired_values,
)
from medlethe.results.schema import MetricResult

if TYPE_CHECKING:
    from medlethe.metrics.bootstrap import Clusters
    from medlethe.results.evaluation import EvaluationRun

DISTANCES = ("same_code", "same_category", "same_block", "same_chapter", "other_chapter")


def icd_distance(code: str, forgotten: Sequence[str]) -> str:
    """How close ``code`` is to the nearest forgotten code in the ICD-10-CM hierarchy."""
    icd = icd10cm()

    best = len(DISTANCES) - 1
    anc = icd.get_ancestors(code) if icd.is_valid_item(code) else []
    block = next((x for x in anc if icd.is_block(x)), None)
    chapter = anc[-1] if anc else None
    for f in forgotten:
        fanc = icd.get_ancestors(f) if icd.is_valid_item(f) else []
        if f == code:
            level = 0
        elif f[:3] == code[:3]:
            level = 1
        elif block is not None and block in fanc:
            level = 2
        elif chapter is not None and fanc and fanc[-1] == chapter:
            level = 3
        else:
            level = 4
        best = min(best, level)
    return DISTANCES[best]


def _drop(before: float | np.ndarray, after: float | np.ndarray) -> np.ndarray:
    return np.subtract(before, after)


def _primary(run: EvaluationRun) -> Iterator[tuple[str, str]]:
    """Each task of the run with the primary metric of its kind."""
    for task in run.values:
        yield task, PRIMARY.get(run.output_type(task), "")


def _grouped(
    metric: RunMetric, task: str, groups: Mapping[str, np.ndarray], data: Sequence[np.ndarray],
    kept: np.ndarray, clusters: Clusters, seed: int, fn: Callable[..., Any],
    method: str = "percentile (paired)", **extra: Any,
) -> list[MetricResult]:
    """A result per group of retain rows (``groups``: the subset label and a mask of the
    split's rows): ``fn`` of the means of ``data`` (the rows ``kept``) over the group, its
    interval resampling the group's clusters."""
    out = []
    for label, rows in groups.items():
        sel = rows[kept]
        value, ci = bootstrap_of_means(
            fn, [a[sel] for a in data], clusters.subset(sel), seed, method=method
        )
        out.append(metric.result(task, "retain", value, ci, int(sel.sum()), subset=label,
                                 **extra))
    return out


class Collateral(RunMetric):
    """One row of the collateral matrix: per disease category j of the retain split, the
    drop of the answer score (before - after unlearning; higher means more collateral
    damage). The row is the category (or categories) forgotten, recorded in ``subset`` as
    ``forgot=<cats>;category=<j>``."""

    version = VERSION
    direction = "lower"
    needs_runs = frozenset({"target"})

    def compute(
        self, run: EvaluationRun, refs: Mapping[str, EvaluationRun], seed: int
    ) -> list[MetricResult]:
        out = []
        for task, metric in _primary(run):
            cats = run.row_labels(task, "retain", "category")
            forgot = sorted({str(c) for c in run.row_labels(task, "forget", "category") or [] if c})
            pair = paired_values(run, refs["target"], task, "retain", metric)
            if not cats or pair is None or not forgot:
                continue
            label = f"forgot={'+'.join(forgot)};category="
            groups = {
                label + cat: np.asarray([str(c) == cat for c in cats])
                for cat in sorted({str(c) for c in cats if c})
            }
            out += _grouped(self, task, groups, [pair.before, pair.after], pair.kept,
                            pair.clusters, seed, _drop, against="target")
        return out


def distance_groups(run: EvaluationRun, task: str) -> dict[str, np.ndarray]:
    """Per ICD-10-CM distance to the nearest forgotten code, a mask of the retain rows."""
    codes = run.row_labels(task, "retain", "code")
    forgotten = sorted({str(c) for c in run.row_labels(task, "forget", "code") or [] if c})
    if not codes or not forgotten:
        return {}
    cache: dict[str, str] = {}
    out: dict[str, list[int]] = {}
    for i, c in enumerate(codes):
        if c:
            d = cache.setdefault(str(c), icd_distance(str(c), forgotten))
            out.setdefault(d, []).append(i)
    masks = {}
    for d in DISTANCES:
        if d in out:
            masks[d] = np.zeros(len(codes), dtype=bool)
            masks[d][out[d]] = True
    return masks


def _by_distance(run: EvaluationRun, task: str) -> dict[str, np.ndarray]:
    return {f"distance={d}": rows for d, rows in distance_groups(run, task).items()}


class HierarchyScore(RunMetric):
    """Hierarchy preservation: the retain answer score grouped by ICD-10-CM distance of each
    patient's code to the forgotten codes (same code, category, block, chapter, other)."""

    version = VERSION

    def compute(
        self, run: EvaluationRun, refs: Mapping[str, EvaluationRun], seed: int
    ) -> list[MetricResult]:
        out = []
        for task, metric in _primary(run):
            if run.column(task, "retain", metric) is None:
                continue
            own = own_values(run, task, "retain", metric)
            out += _grouped(self, task, _by_distance(run, task), [own.values], own.kept,
                            own.clusters, seed, lambda x: x, method="percentile")
        return out


class HierarchyMU(RunMetric):
    """Hierarchy preservation relative to the target: MU (after / before) per distance."""

    version = VERSION
    needs_runs = frozenset({"target"})

    def compute(
        self, run: EvaluationRun, refs: Mapping[str, EvaluationRun], seed: int
    ) -> list[MetricResult]:
        out = []
        for task, metric in _primary(run):
            pair = paired_values(run, refs["target"], task, "retain", metric)
            if pair is not None:
                out += _grouped(self, task, _by_distance(run, task), [pair.after, pair.before],
                                pair.kept, pair.clusters, seed, ratio, against="target")
        return out
