"""The tabular kind's default metrics: whether the MLP's likeliest class is the visit's,
and the negative log-likelihood of the visit's class."""

from __future__ import annotations

import math

from medlethe import Metric, Sample


def _log_softmax(logits: tuple[float, ...]) -> list[float]:
    top = max(logits)
    norm = top + math.log(sum(math.exp(v - top) for v in logits))
    return [v - norm for v in logits]


class Accuracy(Metric):
    """1 where the likeliest class is the visit's class."""

    output_types = frozenset({"tabular"})
    bounds = (0.0, 1.0)

    def score(self, sample: Sample) -> float:
        assert sample.classification is not None
        logits = sample.classification.logits
        return float(logits.index(max(logits)) == sample.instance.labels[0])


class NLL(Metric):
    """-log p(the visit's class)."""

    output_types = frozenset({"tabular"})
    direction = "lower"

    def score(self, sample: Sample) -> float:
        assert sample.classification is not None
        return -_log_softmax(sample.classification.logits)[sample.instance.labels[0]]
