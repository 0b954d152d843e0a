from __future__ import annotations

from medlethe.compare import RunMetric, paired_bootstrap, paired_values
from medlethe.metrics import Metric, Sample


class AnswerWords(Metric):
    name = "answer_words"
    direction = "lower"
    output_types = frozenset({"generate"})

    def score(self, sample: Sample) -> float | None:
        assert sample.generation is not None
        return float(len(sample.generation.text.split()))


class ForgetGap(RunMetric):
    """A third-party run metric: exact match of the target on forget minus this model's."""

    name = "forget_gap"
    needs_runs = frozenset({"target"})

    def compute(self, run, refs, seed):  # type: ignore[no-untyped-def]
        out = []
        for task in run.values:
            pair = paired_values(run, refs["target"], task, "forget", "exact_match")
            if pair is None:
                continue
            after, _ = pair
            value, ci = paired_bootstrap(lambda a, b: float(b.mean() - a.mean()), pair, seed)
            out.append(self.result(task, "forget", value, ci, len(after), against="target"))
        return out
