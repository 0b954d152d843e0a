"""Across seeds: each number of a sweep as the mean over training seeds, the between-seed
spread, and an interval that includes training variance.

The interval is a two-stage (hierarchical) percentile bootstrap: each resample draws as
many seeds as there are, with replacement, and for each drawn seed one resample of its
sampling units (patients, questions), then averages the drawn seeds' values. So the
interval is wide when seeds disagree (training variance) and when one seed's value rests
on few patients (sampling variance). For a metric whose value is the mean of its per-row
values (answer scores, accuracies, most leakage rates) the within-seed stage resamples the
seed's own rows by cluster, exactly as that run's interval did; for any other metric (an
AUC, a ratio, a comparison) it draws from a normal with the spread of that run's own
interval (``se = (high - low) / (2 * 1.96)``), and the interval's method says so. With
three seeds the seed stage has only ten distinct draws: read the interval together with
the per-seed values and their range, which are stored beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from medlethe.metrics.bootstrap import Clusters, percentile_interval, resampled_means
from medlethe.metrics.constants import LEVEL, N_RESAMPLES
from medlethe.results.evaluation import EvaluationRun
from medlethe.results.schema import MetricResult

Key = tuple[str, str, str | None, str, str | None]  # task, split, subset, metric, against

EXACT = "hierarchical percentile (seeds, then {unit}s within each seed)"
NORMAL = "hierarchical percentile (seeds, then normal draws from each seed's interval)"
_Z = 1.959963984540054


@dataclass(frozen=True)
class SeedAggregate:
    task: str
    split: str
    subset: str | None
    metric: str
    against: str | None
    direction: str
    #: seed -> that seed's value
    per_seed: dict[int, float]
    mean: float
    sd: float | None
    low: float | None
    high: float | None
    method: str
    unit: str | None

    @property
    def n_seeds(self) -> int:
        return len(self.per_seed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task, "split": self.split, "subset": self.subset,
            "metric": self.metric, "against": self.against, "direction": self.direction,
            "n_seeds": self.n_seeds, "seeds": sorted(self.per_seed),
            "per_seed": [self.per_seed[s] for s in sorted(self.per_seed)],
            "mean": self.mean, "sd": self.sd,
            "min": min(self.per_seed.values()), "max": max(self.per_seed.values()),
            "ci_low": self.low, "ci_high": self.high, "ci_method": self.method,
            "ci_unit": self.unit,
        }


def _rows(run: EvaluationRun, m: MetricResult) -> tuple[np.ndarray, Clusters] | None:
    """The per-row values whose mean is ``m``'s value, with their clusters, or ``None``."""
    if m.against is not None or m.value is None:
        return None
    column = run.column(m.task, m.split, m.metric)
    if column is None or any(isinstance(v, list) for v in column):
        return None
    rows = np.arange(len(column))
    if m.subset:
        key, _, want = m.subset.partition("=")
        labels = run.row_labels(m.task, m.split, key)
        if labels is None or ";" in m.subset:
            return None
        rows = np.asarray([i for i, x in enumerate(labels) if str(x) == want], dtype=int)
    kept = np.asarray([i for i in rows if column[i] is not None], dtype=int)
    if kept.size < 2:
        return None
    data = np.asarray([column[i] for i in kept], dtype=float)
    if not np.all(np.isfinite(data)) or abs(float(data.mean()) - m.value) > 1e-9 * max(
        1.0, abs(m.value)
    ):
        return None
    return data, run.clusters(m.task, m.split).subset(kept)


def _within(
    run: EvaluationRun, m: MetricResult, seed: int, n: int
) -> tuple[np.ndarray, bool, str | None]:
    """``n`` within-seed resamples of ``m``: exact cluster resamples where ``m`` is a mean
    of its rows, else normal draws from its interval (a point mass without one); with
    ``n == 0`` only which of the two it is."""
    assert m.value is not None
    found = _rows(run, m)
    if found is not None:
        data, clusters = found
        if clusters.n_clusters >= 2:
            if n == 0:
                return np.empty(0), True, clusters.unit
            (means,) = resampled_means([data], clusters, seed, n)
            return means, True, clusters.unit
    se = (m.ci.high - m.ci.low) / (2 * _Z) if m.ci is not None else 0.0
    rng = np.random.default_rng(seed)
    return m.value + se * rng.standard_normal(n), False, m.ci.unit if m.ci else None


def aggregate_seeds(
    runs: Mapping[int, EvaluationRun], *, seed: int = 0, n_resamples: int = N_RESAMPLES
) -> list[SeedAggregate]:
    """One aggregate per metric of one model variant run under several seeds (``runs``:
    seed -> that seed's run of the same scenario and method variant)."""
    index: dict[Key, dict[int, MetricResult]] = {}
    for s, run in sorted(runs.items()):
        for m in run.results.metrics:
            if m.value is not None:
                index.setdefault((m.task, m.split, m.subset, m.metric, m.against), {})[s] = m
    out = []
    for key, by_seed in index.items():
        seeds = sorted(by_seed)
        values = np.asarray([by_seed[s].value for s in seeds], dtype=float)
        # one seed has no between-seed interval: its within-seed draws would go unused
        draws, exact, units = [], True, set()
        for i, s in enumerate(seeds):
            d, ok, unit = _within(runs[s], by_seed[s], seed + 7919 * i,
                                  n_resamples if len(seeds) >= 2 else 0)
            draws.append(d)
            exact &= ok
            units.add(unit)
        low = high = None
        if len(seeds) >= 2:
            rng = np.random.default_rng(seed)
            k = len(seeds)
            pick = rng.integers(0, k, size=(n_resamples, k))
            which = rng.integers(0, n_resamples, size=(n_resamples, k))
            stacked = np.stack(draws)  # (seeds, resamples)
            stats = stacked[pick, which].mean(axis=1)
            interval = percentile_interval(stats, "", "", LEVEL)
            if interval is not None:
                low, high = interval.low, interval.high
        unit = next(iter(units)) if len(units) == 1 else None
        method = EXACT.format(unit=unit or "unit") if exact else NORMAL
        first = by_seed[seeds[0]]
        out.append(SeedAggregate(
            key[0], key[1], key[2], key[3], key[4], first.direction,
            {s: float(v) for s, v in zip(seeds, values, strict=True)},
            float(values.mean()), float(values.std(ddof=1)) if len(seeds) >= 2 else None,
            low, high, method, unit,
        ))
    return out


def aggregate_sweep(
    runs: Mapping[tuple[str, int], Mapping[str, EvaluationRun]], *, seed: int = 0
) -> list[dict[str, Any]]:
    """Every scenario x model label of a sweep, aggregated across its seeds: rows of
    ``SeedAggregate.as_dict()`` with ``scenario`` and ``label``."""
    grouped: dict[tuple[str, str], dict[int, EvaluationRun]] = {}
    for (scenario, s), by_label in runs.items():
        for label, run in by_label.items():
            grouped.setdefault((scenario, label), {})[s] = run
    rows = []
    for (scenario, label), by_seed in grouped.items():
        for agg in aggregate_seeds(by_seed, seed=seed):
            rows.append({"scenario": scenario, "label": label, **agg.as_dict()})
    return rows

