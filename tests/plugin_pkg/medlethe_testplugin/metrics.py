from __future__ import annotations

from medlethe.metrics import Metric, Sample


class AnswerWords(Metric):
    name = "answer_words"
    direction = "lower"
    output_types = frozenset({"generate"})

    def score(self, sample: Sample) -> float | None:
        assert sample.generation is not None
        return float(len(sample.generation.text.split()))
