"""Multiple choice: each option's log-likelihood as a continuation of the question; the
model's answer is the likeliest option, and chance is one over the number of options."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from medlethe import Requests, Sample
from medlethe.kinds.text import TextKind, continuations
from medlethe.metrics import CHANCE_LABEL
from medlethe.task import Instance, Task


class MultipleChoice(TextKind):
    """Options scored by log-likelihood; the likeliest is the answer."""

    yaml_fields = ("doc_to_choice", "doc_to_gold")
    default_metrics = ("accuracy", "acc_norm")
    primary_metric = "accuracy"
    accuracy_metric = "accuracy"

    def axes(self, record: Any) -> tuple[str, str]:
        """A multiple-choice scenario's trade-off: accuracy on forget against retain."""
        return "MC forget acc.", "MC retain acc."

    def asks(self, instance: Instance, needs: frozenset[str]) -> Requests:
        return {"loglikelihood": continuations(instance, instance.choices)}

    def sample(self, instance: Instance, answers: Requests, needs: frozenset[str]) -> Sample:
        return Sample(instance, choices=tuple(answers["loglikelihood"]))

    def row_labels(self, task: Task, instances: Sequence[Instance]) -> dict[str, list[Any]]:
        return {CHANCE_LABEL: [1 / len(i.choices) for i in instances]}
