"""The tabular kind: a visit's structured fields, classified by a small MLP."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from medlethe import Kind, Requests, Sample
from medlethe.backends import ClassifyRequest
from medlethe.metrics import GOLD_LABEL
from medlethe.task import Instance, Task
from medlethe_tabular.model import MLP_FAMILY


class Tabular(Kind):
    """A visit's structured fields, classified by a small MLP (medlethe-tabular)."""

    request_types = ("classify",)
    family = MLP_FAMILY
    default_metrics = ("tabular/accuracy", "tabular/nll")
    primary_metric = "tabular/accuracy"
    accuracy_metric = "tabular/accuracy"
    paired_preconditions = True
    columns = (("forget accuracy", "tabular/accuracy", "forget"),
               ("retain accuracy", "tabular/accuracy", "retain"),
               ("holdout accuracy", "tabular/accuracy", "holdout"),
               ("forget NLL", "tabular/nll", "forget"),
               ("AFE", "afe", "forget"), ("MU retain", "mu", "retain"))

    def asks(self, instance: Instance, needs: frozenset[str]) -> Requests:
        return {"classify": [ClassifyRequest(instance.prompt)]}

    def sample(self, instance: Instance, answers: Requests, needs: frozenset[str]) -> Sample:
        return Sample(instance, classification=answers["classify"][0])

    def row_labels(self, task: Task, instances: Sequence[Instance]) -> dict[str, list[Any]]:
        return {GOLD_LABEL: [list(i.labels) for i in instances]}
