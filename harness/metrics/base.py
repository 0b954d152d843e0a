"""The metric contract: a value per sample, an aggregate, a direction and a bootstrap CI."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from medlethe.backends.base import ClassifyResult, GenerateResult, LoglikelihoodResult
from medlethe.hookspecs import Named
from medlethe.task.base import Instance, Task

Direction = Literal["higher", "lower", "none"]


@dataclass(frozen=True)
class Sample:
    """One instance with the model's answers: a generation, the gold continuation's
    log-likelihood, one log-likelihood per multiple-choice option, and per perturbed
    answer, as the task's output type and the metrics' needs ask."""

    instance: Instance
    generation: GenerateResult | None = None
    continuation: LoglikelihoodResult | None = None
    choices: tuple[LoglikelihoodResult, ...] = ()
    perturbed: tuple[LoglikelihoodResult, ...] = ()
    #: ``classify``: the classifier's per-class logits
    classification: ClassifyResult | None = None

    @property
    def gold(self) -> LoglikelihoodResult | None:
        """The gold answer's log-likelihood, whatever the output type."""
        if self.continuation is not None:
            return self.continuation
        if self.choices and self.instance.gold is not None:
            return self.choices[self.instance.gold]
        return None

    @property
    def wrong(self) -> tuple[LoglikelihoodResult, ...]:
        """Log-likelihoods of the wrong answers (perturbed ones, or the other options)."""
        if self.perturbed:
            return self.perturbed
        g = self.instance.gold
        return tuple(c for i, c in enumerate(self.choices) if i != g)


class Metric(Named, ABC):
    """Subclass this and register it with ``register_metrics``.

    ``output_types`` says which tasks it applies to; ``score`` returns one value per sample
    (``None`` to skip a sample); ``aggregate`` defaults to the mean. Bump ``version`` when the
    definition changes: results with different metric versions are never ranked together.
    """

    version: ClassVar[str] = "1"
    direction: ClassVar[Direction] = "higher"
    output_types: ClassVar[frozenset[str]] = frozenset(
        {"generate", "multiple_choice", "loglikelihood"}
    )
    #: the closed range every value lies in (``None``: unbounded); the leaderboard refuses
    #: a submitted aggregate or interval outside it
    bounds: ClassVar[tuple[float, float] | None] = None
    #: model outputs beyond the task's own output type: ``"gold"`` (token log-probs of the
    #: gold answer) and ``"perturbed"`` (of each wrong answer)
    needs: ClassVar[frozenset[str]] = frozenset()
    #: a per-row vector (``score`` returns a list of floats, e.g. a classifier's logits):
    #: stored in the values file for run metrics to read, never averaged into a result row
    vector: ClassVar[bool] = False

    def prepare(self, task: Task, split: str, instances: Sequence[Instance]) -> None:
        """Called before a split is scored (lexicons, identifier lists, calibration)."""
        return None

    @abstractmethod
    def score(self, sample: Sample) -> Any:
        """The metric's raw value on one sample (kept per sample): a float, ``None``, or a
        list of floats for a ``vector`` metric."""

    def score_all(self, samples: Sequence[Sample]) -> list[Any]:
        """All samples of a split; override to batch (embeddings)."""
        return [self.score(s) for s in samples]

    def summarise(self, values: Sequence[float], split: str) -> list[float]:
        """Per-sample values whose mean is the split's aggregate (identity by default;
        the truth ratio folds differently on forget and retain splits)."""
        return list(values)

    def aggregate(self, values: Sequence[float]) -> float:
        return float(np.mean(values)) if len(values) else math.nan
