"""The task contract: named splits of rows, each row turned into one scoreable instance."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from medlethe.task.config import GenerationConfig, MetricSpec, OutputType

if TYPE_CHECKING:
    from medlethe.metrics.lexicon import LexiconSpec

T = TypeVar("T")

def metric_specs(names: Sequence[str]) -> list[MetricSpec]:
    """Specs from names; a trailing ``?`` marks a metric as optional."""
    return [MetricSpec(name=n.rstrip("?"), optional=n.endswith("?")) for n in names]


@dataclass(frozen=True)
class Instance:
    """One question of one split, ready for a backend.

    ``prompt`` is the rendered context; ``target`` the gold continuation (for multiple
    choice, the gold option); ``choices`` and ``gold`` are set for multiple choice only.
    For ``classify``, ``prompt`` is the text to classify, ``choices`` the class names (in
    logit order), ``labels`` the gold class indices (one for a single-label task) and
    ``target`` the gold class names joined by ``"; "``.
    ``meta`` carries task-specific, non-textual labels (e.g. ``{"type": "factual"}``) that
    metrics may group by.
    """

    task: str
    split: str
    index: int
    output_type: OutputType
    prompt: str
    target: str
    choices: tuple[str, ...] = ()
    gold: int | None = None
    generation: GenerationConfig | None = None
    target_delimiter: str = " "
    meta: Mapping[str, Any] = field(default_factory=dict)
    #: wrong answers of the same form (truth ratio); multiple choice uses its other options
    perturbed: tuple[str, ...] = ()
    #: ``classify``: the gold class indices
    labels: tuple[int, ...] = ()
    #: ``classify``: a sigmoid per class (several labels may hold) rather than a softmax
    multi_label: bool = False
    #: ``classify`` with images: the path of the image that goes with ``prompt`` (an image +
    #: text classifier reads both)
    image: str | None = None


@dataclass(frozen=True)
class TrainingExample:
    """A supervised example: ``prompt`` is context (no loss), ``answer`` is learnt."""

    prompt: str
    answer: str
    delimiter: str = " "


@dataclass(frozen=True)
class TrainingData:
    """What fine-tuning learns: plain ``texts`` (notes) first, then QA ``examples``."""

    texts: list[str]
    examples: list[TrainingExample]


@dataclass(frozen=True)
class LabelledText:
    """A classification training example: a text and its gold class indices."""

    text: str
    labels: tuple[int, ...]
    #: the path of the image that goes with the text (image + text classifiers)
    image: str | None = None


@dataclass(frozen=True)
class LabelledData:
    """What a classifier learns: labelled texts over ``classes`` (single- or multi-label)."""

    examples: list[LabelledText]
    classes: tuple[str, ...]
    multi_label: bool


def training_side(task: str, on: str, sides: Mapping[str, T]) -> T:
    """``sides[on]`` for :meth:`Task.training_data`, or an error naming the sides there are."""
    if on not in sides:
        from medlethe.errors import TaskConfigError

        raise TaskConfigError(
            f"{task}: training data is {' or '.join(map(repr, sides))}, not {on!r}."
        )
    return sides[on]


def split_docs(task: str, splits: Mapping[str, Sequence[T]], split: str) -> Sequence[T]:
    """``splits[split]`` for :meth:`Task.docs`, or an error naming the splits there are."""
    if split not in splits:
        from medlethe.errors import TaskConfigError

        raise TaskConfigError(f"{task} has no split {split!r}; it has {', '.join(splits)}.")
    return splits[split]


def fingerprint(obj: Any) -> str:
    """A stable sha256 of any JSON-serialisable value."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


class Task(ABC):
    """Subclass this for tasks written in Python; YAML tasks use :class:`ConfigTask`.

    A task knows its name, version and output type, the names of its splits, how to read a
    split's rows, and how to turn one row into an :class:`Instance`.
    """

    name: str
    version: str
    output_type: OutputType
    description: str = ""
    #: ``Instance.meta`` keys whose values get their own metric rows (e.g. ``("type",)``).
    group_by: tuple[str, ...] = ()
    #: further ``Instance.meta`` keys kept per row in the run's values file, for run metrics
    #: that read them (the hierarchy metrics read ``category`` and ``code``)
    row_labels: tuple[str, ...] = ()
    #: what the bootstrap resamples: the unit the splits were drawn by ("patient" when a
    #: patient's questions all fall on one side), named in every interval
    sampling_unit: str = "question"
    #: the ``Instance.meta`` key naming each instance's unit (``None``: each question alone)
    cluster_key: str | None = None
    #: ``classify`` tasks: the class names in logit order, whether several may hold, and
    #: the classes a scenario forgets (recorded in the results; the F1 metrics read them)
    classes: tuple[str, ...] = ()
    multi_label: bool = False
    forget_classes: tuple[str, ...] = ()
    #: what each instance gives the model: text, or ``("image", "text")`` (``Instance.image``)
    modalities: tuple[str, ...] = ("text",)

    @abstractmethod
    def split_names(self) -> list[str]:
        """The split names this task evaluates (``forget``, ``retain``, ...)."""

    @abstractmethod
    def docs(self, split: str) -> Sequence[Mapping[str, Any]]:
        """The rows of one split."""

    @abstractmethod
    def instance(self, split: str, index: int, doc: Mapping[str, Any]) -> Instance:
        """Turn one row into a scoreable instance."""

    def metric_specs(self) -> list[MetricSpec]:
        """The metrics to compute: by default, those of the task's kind."""
        from medlethe.kind import kind_of
        from medlethe.registry import get_registry

        return metric_specs(kind_of(self, get_registry()).default_metrics)

    def instances(self, split: str, limit: int | None = None) -> list[Instance]:
        rows = self.docs(split)
        if limit is not None:
            rows = rows[:limit]
        return [self.instance(split, i, doc) for i, doc in enumerate(rows)]

    def label_keys(self) -> tuple[str, ...]:
        """The ``Instance.meta`` keys stored per row: ``group_by``, then ``row_labels``."""
        return tuple(dict.fromkeys((*self.group_by, *self.row_labels)))

    def cluster_of(self, instance: Instance) -> str:
        """The sampling unit ``instance`` belongs to; instances of one unit are resampled
        together by every bootstrap."""
        if self.cluster_key is not None and self.cluster_key in instance.meta:
            return str(instance.meta[self.cluster_key])
        return f"{instance.split}:{instance.index}"

    def skipped_rows(self) -> dict[str, list[int]]:
        """Row numbers (from 1) per split left out as invalid by the last ``instances``
        calls (tasks that opt in to skipping); recorded in the results file."""
        return {}

    def provenance(self) -> dict[str, Any]:
        """Hashes that identify exactly what was asked: config and prompt templates."""
        return {"config_hash": None, "prompt_template_hash": None, "chat_template": None}

    def data_fingerprint(self, split: str) -> str:
        """A hash of the split's rows; a row's ``image`` counts by its path and content."""
        from medlethe.fingerprint import file_fingerprint

        return fingerprint([
            dict(d, image=file_fingerprint(d["image"])) if isinstance(d.get("image"), str)
            else d for d in self.docs(split)
        ])

    def training_data(self, on: str) -> TrainingData | LabelledData:
        """Training material: ``on="train"`` (the target's), ``"retain"`` (the oracle's) or
        ``"forget"`` (what unlearning removes): :class:`TrainingData` for a language
        model, :class:`LabelledData` for a ``classify`` task."""
        from medlethe.errors import TaskConfigError

        raise TaskConfigError(
            f"Task {self.name!r} provides no training data, so targets and oracles cannot be "
            "fine-tuned on it; use a task pack that implements Task.training_data()."
        )

    def lexicon_spec(self) -> LexiconSpec | None:
        """The medical-term lexicon of the leakage metrics (hook for task packs): ICD-10-CM
        roots and declared drug, procedure and lab names per disease group. ``None`` (the
        default) skips the terminology metrics for this task."""
        return None

    def protected_identifiers(self) -> tuple[str, ...]:
        """Names, record numbers and dates of the forget set's people, for the identifier
        leakage metric. Empty (the default) skips it."""
        return ()

    def person_identifiers(self) -> tuple[str, ...]:
        """Identifiers of every person behind the task's data (forget, retain and holdout):
        a leaderboard submission containing one is refused. Defaults to
        :meth:`protected_identifiers`."""
        return self.protected_identifiers()

    def tokenizer_corpus(self) -> list[str]:
        """Text to train a from-scratch tokenizer on (the ``tiny`` model)."""
        data = self.training_data("train")
        if isinstance(data, LabelledData):
            return [e.text for e in data.examples]
        return data.texts + [e.prompt + e.delimiter + e.answer for e in data.examples]


class SplitsTask(Task):
    """A Python task whose splits are rows held in memory: fill ``splits`` (the name of a
    split to its rows, in the order to report them; empty splits are left out) and, where
    the kind's default metrics are not the ones, ``metrics`` (names; ``?`` marks optional)."""

    splits: dict[str, list[dict[str, Any]]]
    metrics: Sequence[str] = ()

    def split_names(self) -> list[str]:
        return [name for name, rows in self.splits.items() if rows]

    def docs(self, split: str) -> Sequence[Mapping[str, Any]]:
        return split_docs(self.name, self.splits, split)

    def metric_specs(self) -> list[MetricSpec]:
        return metric_specs(self.metrics) if self.metrics else super().metric_specs()
