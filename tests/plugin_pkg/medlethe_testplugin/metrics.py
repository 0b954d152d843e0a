from __future__ import annotations

from medlethe.metrics import Metric, RunMetric, Sample, bootstrap_of_means, paired_values


class AnswerWords(Metric):
    direction = "lower"
    output_types = frozenset({"generate"})

    def score(self, sample: Sample) -> float | None:
        assert sample.generation is not None
        return float(len(sample.generation.text.split()))


class ForgetGap(RunMetric):
    """A third-party run metric: exact match of the target on forget minus this model's."""

    needs_runs = frozenset({"target"})

    def compute(self, run, refs, seed):  # type: ignore[no-untyped-def]
        out = []
        for task in run.values:
            pair = paired_values(run, refs["target"], task, "forget", "exact_match")
            if pair is None:
                continue
            value, ci = bootstrap_of_means(
                lambda after, before: before - after, [pair.after, pair.before], pair.clusters,
                seed,
            )
            out.append(self.result(task, "forget", value, ci, len(pair), against="target"))
        return out
