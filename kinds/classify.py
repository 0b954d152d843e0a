"""Classification: a sequence classifier's per-class logits for a text (and its image,
for an image + text model), scored against the gold classes; the task's classes and the
ones its scenario forgets go into the results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from medlethe import Kind, Requests, Row, Sample
from medlethe.backends import ClassifyRequest
from medlethe.kinds.text import ATTACKS
from medlethe.metrics import GOLD_LABEL
from medlethe.task import Instance, Task
from medlethe.training import SEQUENCE_CLASSIFIER

CLASS_LEVEL = (
    ("forget-class F1", "forget_class_f1", "holdout"),
    ("retain avg F1", "retain_avg_f1", "holdout"),
    ("macro AUROC", "auroc", "holdout"),
    ("forget-class F1 (train)", "forget_class_f1", "forget"),
    ("MIA AUC LOSS", "mia_auc_loss", "forget~holdout"),
    ("% params modified", "params_modified", "(weights)"),
    ("to oracle", "forget_progress", "forget"),
    ("recovery", "recovery_ratio", "forget"),
)
PATIENT_LEVEL = (
    ("forget macro F1", "f1", "forget"),
    ("forget macro AUROC", "auroc", "forget"),
    ("test macro F1", "f1", "holdout"),
    ("test macro AUROC", "auroc", "holdout"),
    ("MIA SVC share", "mia_svc", "forget"),
    ("MIA SVC balanced", "mia_svc_balanced", "forget"),
    ("1 - cos vs oracle (retain)", "logit_distance", "retain"),
    ("to oracle", "forget_progress", "forget"),
    ("recovery", "recovery_ratio", "forget"),
)

#: the full report of a classifier's run
SECTIONS = (
    ("Classification (F1 of the forgotten class; mean F1 of the others)", (
        Row("forget-class F1 holdout", "forget_class_f1", "holdout"),
        Row("retain avg F1 holdout", "retain_avg_f1", "holdout"),
        Row("macro F1 holdout", "f1", "holdout"),
        Row("macro AUROC holdout", "auroc", "holdout"),
        Row("forget-class F1 forget", "forget_class_f1", "forget"),
        Row("forget-class F1 paraphrase", "forget_class_f1", "paraphrase"),
        Row("retain avg F1 retain", "retain_avg_f1", "retain"),
        Row("1 - cos(logits, oracle) holdout", "logit_distance", "holdout"),
        Row("macro F1 forget", "f1", "forget"),
        Row("macro AUROC forget", "auroc", "forget"),
        Row("MIA SVC share called members", "mia_svc", "forget"),
        Row("MIA SVC share, balanced classes", "mia_svc_balanced", "forget"),
        Row("1 - cos(logits, oracle) retain", "logit_distance", "retain"),
    )),
    (ATTACKS, (Row("forget (samples F1)", "recovery_ratio", "forget"),)),
)


class Classify(Kind):
    """A sequence classifier's per-class logits (text, or image + text)."""

    request_types = ("classify",)
    family = SEQUENCE_CLASSIFIER
    default_metrics = ("class_logits", "sample_f1", "class_accuracy", "class_loss", "mia_loss")
    primary_metric = "sample_f1"
    accuracy_metric = "class_accuracy"
    paired_preconditions = True

    #: class-level forgetting (STEU's figures), then patient-level (Forget-MI's quantities)
    columns = (*CLASS_LEVEL, *PATIENT_LEVEL)
    sections = SECTIONS

    def headline(self, record: Any) -> tuple[tuple[str, str, str], ...]:
        """Class-level columns where the scenario forgets classes, else patient-level."""
        classes = getattr(record, "classes", None)
        return CLASS_LEVEL if classes is not None and classes.forget else PATIENT_LEVEL

    def privacy(self, record: Any) -> str | None:
        """The LOSS attack's AUC at class level; a patient-level scenario has no AUC column."""
        return "MIA AUC LOSS" if self.headline(record) is CLASS_LEVEL else None

    def axes(self, record: Any) -> tuple[str, str]:
        """Forget-class F1 against the other classes' (class level); else the forget
        split's macro F1 against the test split's (patient level)."""
        if self.headline(record) is CLASS_LEVEL:
            return "forget-class F1", "retain avg F1"
        return "forget macro F1", "test macro F1"

    def asks(self, instance: Instance, needs: frozenset[str]) -> Requests:
        return {"classify": [ClassifyRequest(instance.prompt, instance.image)]}

    def sample(self, instance: Instance, answers: Requests, needs: frozenset[str]) -> Sample:
        return Sample(instance, classification=answers["classify"][0])

    def row_labels(self, task: Task, instances: Sequence[Instance]) -> dict[str, list[Any]]:
        return {GOLD_LABEL: [list(i.labels) for i in instances]}

    def record(self, task: Task) -> dict[str, Any]:
        return {"classes": {"names": list(task.classes), "multi_label": task.multi_label,
                            "forget": list(task.forget_classes)}}
