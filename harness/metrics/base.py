"""The metric contract: a value per sample, an aggregate, a direction and a bootstrap CI."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from medlethe.backends.base import GenerateResult, LoglikelihoodResult
from medlethe.task.base import Instance

Direction = Literal["higher", "lower"]


@dataclass(frozen=True)
class Sample:
    """One instance with the model's answers: a generation, the continuation's
    log-likelihood, or one log-likelihood per multiple-choice option."""

    instance: Instance
    generation: GenerateResult | None = None
    continuation: LoglikelihoodResult | None = None
    choices: tuple[LoglikelihoodResult, ...] = ()


class Metric(ABC):
    """Subclass this and register it with ``register_metrics``.

    ``output_types`` says which tasks it applies to; ``score`` returns one value per sample
    (``None`` to skip a sample); ``aggregate`` defaults to the mean. Bump ``version`` when the
    definition changes: results with different metric versions are never ranked together.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    direction: ClassVar[Direction] = "higher"
    output_types: ClassVar[frozenset[str]] = frozenset(
        {"generate", "multiple_choice", "loglikelihood"}
    )

    @abstractmethod
    def score(self, sample: Sample) -> float | None:
        """The metric's value on one sample."""

    def aggregate(self, values: Sequence[float]) -> float:
        return float(np.mean(values)) if len(values) else math.nan


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    level: float
    method: str
    n_resamples: int


def bootstrap_ci(
    values: Sequence[float],
    *,
    statistic: str = "mean",
    level: float = 0.95,
    n_resamples: int = 1000,
    seed: int = 0,
) -> Interval | None:
    """A percentile bootstrap interval of the mean (scipy.stats.bootstrap); ``None`` for
    fewer than two values."""
    from scipy import stats

    data = np.asarray(values, dtype=float)
    if data.size < 2:
        return None
    if np.all(data == data[0]):
        return Interval(float(data[0]), float(data[0]), level, "percentile", n_resamples)
    res = stats.bootstrap(
        (data,),
        np.mean if statistic == "mean" else np.median,
        confidence_level=level,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    ci = res.confidence_interval
    return Interval(float(ci.low), float(ci.high), level, "percentile", n_resamples)
