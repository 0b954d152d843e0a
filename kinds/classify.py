"""Classification: a sequence classifier's per-class logits for a text (and its image,
for an image + text model), scored against the gold classes; the task's classes and the
ones its scenario forgets go into the results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from medlethe import Kind, Requests, Sample
from medlethe.backends import ClassifyRequest
from medlethe.metrics import GOLD_LABEL
from medlethe.task import Instance, Task
from medlethe.training import SEQUENCE_CLASSIFIER


class Classify(Kind):
    request_types = ("classify",)
    family = SEQUENCE_CLASSIFIER
    default_metrics = ("class_logits", "sample_f1", "class_accuracy", "class_loss", "mia_loss")
    primary_metric = "sample_f1"
    accuracy_metric = "class_accuracy"
    paired_preconditions = True

    def asks(self, instance: Instance, needs: frozenset[str]) -> Requests:
        return {"classify": [ClassifyRequest(instance.prompt, instance.image)]}

    def sample(self, instance: Instance, answers: Requests, needs: frozenset[str]) -> Sample:
        return Sample(instance, classification=answers["classify"][0])

    def row_labels(self, task: Task, instances: Sequence[Instance]) -> dict[str, list[Any]]:
        return {GOLD_LABEL: [list(i.labels) for i in instances]}

    def record(self, task: Task) -> dict[str, Any]:
        return {"classes": {"names": list(task.classes), "multi_label": task.multi_label,
                            "forget": list(task.forget_classes)}}
