"""Answer-level metrics every task type gets by default."""

from __future__ import annotations

import functools
import math
import re
from typing import Any, ClassVar

from medlethe.metrics.base import Direction, Metric, Sample


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


class ExactMatch(Metric):
    """1 if the normalised generation equals the normalised gold answer (case, punctuation
    and whitespace ignored)."""

    name = "exact_match"
    output_types = frozenset({"generate"})

    def score(self, sample: Sample) -> float | None:
        assert sample.generation is not None
        return float(_normalise(sample.generation.text) == _normalise(sample.instance.target))


@functools.lru_cache(maxsize=1)
def _rouge() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


class _RougeL(Metric):
    output_types = frozenset({"generate"})
    field: ClassVar[str]

    def score(self, sample: Sample) -> float | None:
        assert sample.generation is not None
        result = _rouge().score(sample.instance.target, sample.generation.text)["rougeL"]
        return float(getattr(result, self.field))


class RougeLRecall(_RougeL):
    """ROUGE-L recall of the greedy answer against the gold answer (TOFU's choice)."""

    name = "rouge_l_recall"
    field = "recall"


class RougeLF1(_RougeL):
    """ROUGE-L F1 of the greedy answer against the gold answer (MUSE's choice)."""

    name = "rouge_l_f1"
    field = "fmeasure"


class Accuracy(Metric):
    """Multiple choice: 1 if the option with the highest summed log-likelihood is gold."""

    name = "accuracy"
    output_types = frozenset({"multiple_choice"})
    normalise: ClassVar[bool] = False

    def score(self, sample: Sample) -> float | None:
        scores = [c.mean if self.normalise else c.total for c in sample.choices]
        best = max(range(len(scores)), key=scores.__getitem__)
        return float(best == sample.instance.gold)


class AccuracyNorm(Accuracy):
    """Multiple choice, length-normalised: the option with the highest mean per-token
    log-likelihood (harness choice: normalised by tokens, consistent with the truth
    ratio's length-normalised probability)."""

    name = "accuracy_norm"
    normalise = True


class Probability(Metric):
    """exp(-mean token NLL) of the gold answer given the question."""

    name = "probability"
    output_types = frozenset({"loglikelihood"})

    def score(self, sample: Sample) -> float | None:
        assert sample.continuation is not None
        return sample.continuation.probability


class MeanNLL(Metric):
    """Mean token negative log-likelihood of the gold answer (lower means better known)."""

    name = "mean_nll"
    direction: ClassVar[Direction] = "lower"
    output_types = frozenset({"loglikelihood"})

    def score(self, sample: Sample) -> float | None:
        assert sample.continuation is not None
        value = -sample.continuation.mean
        return value if math.isfinite(value) else None
