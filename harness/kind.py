"""The kind contract: what differs between kinds of task. Read this to write a kind.

A task names its kind in ``output_type`` (``generate``, ``multiple_choice``,
``loglikelihood``, ``classify``, or a plugin's own); the core asks that kind, through the
methods below, and never names one. A kind is registered like a method::

    @medlethe.hookimpl
    def register_kinds(register):
        register("tabular", "my_pack.kind:Tabular")

Evaluating one split, the evaluator asks the kind which backend requests each instance
needs (:meth:`Kind.asks`: lists keyed by a :class:`medlethe.backends.Backend` method,
``generate``, ``loglikelihood``, ``classify`` or one a plugin backend adds), sends each
list to the backend in one call, and hands each instance's answers back, in the order it
asked, to :meth:`Kind.sample`. Training asks the kind's model family
(:class:`medlethe.training.Family`: fine-tuning, loading, encoding, batching). What a kind
stores per row for run metrics, what it adds to the task's results record, its default and
headline metrics and whether its prompts take a chat template are the rest of the
contract. Built-in kinds: ``medlethe/kinds/``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from medlethe.hookspecs import Named

if TYPE_CHECKING:
    from medlethe.metrics.base import Sample
    from medlethe.registry import Registry
    from medlethe.task.base import Instance, Task
    from medlethe.training.family import Family

#: backend requests by the Backend method that answers them (``"generate"``: a list of
#: GenerateRequest, ...); the answers come back in the same shape
Requests = Mapping[str, Sequence[Any]]


@dataclass(frozen=True)
class Row:
    """One number in a report or a leaderboard column: ``label`` (the header), where it
    lives (``metric`` on ``split``, ``subset``), and which of the run's tasks holds it:
    the run's first task of kind ``of_kind``, or its main (first) task when ``None``."""

    label: str
    metric: str
    split: str
    of_kind: str | None = None
    subset: str | None = None


#: a column as a kind gives it: a :class:`Row`, or ``(header, metric, split)``
Column = Row | tuple[str, str, str]


class Kind(Named):
    """Subclass this and register it with ``register_kinds``; the registered name is the
    ``output_type`` its tasks give."""

    #: the Backend methods this kind's requests go to (the request counts of a run)
    request_types: ClassVar[tuple[str, ...]] = ()
    #: the models that answer it and how targets and oracles are trained, loaded and
    #: unlearned (:class:`medlethe.training.Family`); ``None``: evaluation only
    family: ClassVar[Family | None] = None
    #: the metrics a task of this kind computes when it names none (``name?``: optional)
    default_metrics: ClassVar[tuple[str, ...]] = ()
    #: the score that says how well a model knows a split (preconditions, FR/KPR, the
    #: headline); ``None``: the kind has none
    primary_metric: ClassVar[str | None] = None
    #: the share of questions answered right (FR and KPR read it); ``None``: none
    accuracy_metric: ClassVar[str | None] = None
    #: whether prompts are text a chat template may wrap (an instruct language model's)
    chat_prompts: ClassVar[bool] = False
    #: whether "the target knows the forget set" compares it with the oracle row by row
    #: (a paired margin) rather than with chance or a threshold alone
    paired_preconditions: ClassVar[bool] = False

    @abstractmethod
    def asks(self, instance: Instance, needs: frozenset[str]) -> Requests:
        """The requests that answer ``instance``; ``needs`` is what the task's metrics need
        beyond the kind's own answers (``gold``, ``perturbed`` log-likelihoods)."""

    @abstractmethod
    def sample(self, instance: Instance, answers: Requests, needs: frozenset[str]) -> Sample:
        """The :class:`medlethe.metrics.Sample` of ``instance`` from the answers to its
        requests (the same keys and lengths as :meth:`asks` gave for these ``needs``)."""

    def row_labels(self, task: Task, instances: Sequence[Instance]) -> dict[str, list[Any]]:
        """Values stored per row with the run, for run metrics and preconditions (the
        chance level of each question, the gold classes)."""
        return {}

    #: every column this kind's runs may show in the compact report and on the
    #: leaderboard (:data:`Column`); the report shows those its sections lack in a
    #: section of the kind's own
    columns: ClassVar[tuple[Column, ...]] = ()
    #: the full report's sections, (title, rows); a section shows the rows some run has a
    #: value for, the run's own kind's sections first
    sections: ClassVar[tuple[tuple[str, tuple[Row, ...]], ...]] = ()
    #: the task config fields a YAML task of this kind reads (those without a default
    #: must be set); empty: the kind cannot be written as a YAML task
    yaml_fields: ClassVar[tuple[str, ...]] = ()

    def headline(self, record: Any) -> tuple[Column, ...]:
        """The compact report's columns for a run whose task has this ``record`` in the
        results (:class:`medlethe.results.schema.TaskRecord`): all of :attr:`columns` by
        default."""
        return self.columns

    def axes(self, record: Any) -> tuple[str, str]:
        """The headers of the forgetting (x) and utility (y) columns of the trade-off
        plot: the first two of :meth:`headline` by default."""
        first, second = (rows(self.headline(record)) + [Row("", "", "")] * 2)[:2]
        return first.label, second.label

    def privacy(self, record: Any) -> str | None:
        """The header of the membership-inference AUC column (best at 0.5) that breaks the
        leaderboard's ranking ties; ``None``: no tie-breaker."""
        return None

    def record(self, task: Task) -> dict[str, Any]:
        """Fields this kind adds to the task's record in the results (a classifier's
        classes)."""
        return {}


def rows(columns: Sequence[Column]) -> list[Row]:
    """``columns`` as :class:`Row` values (a ``(header, metric, split)`` becomes one)."""
    return [c if isinstance(c, Row) else Row(*c) for c in columns]


class _Typed(Protocol):
    @property
    def output_type(self) -> str: ...


class _Serves(Protocol):
    @property
    def output_types(self) -> frozenset[str]: ...


def applies(component: _Serves, task: _Typed) -> bool:
    """Whether ``component`` (a metric, run metric or method: what declares the
    ``output_types`` it serves) applies to ``task`` (a task or its results record)."""
    return task.output_type in component.output_types


def find_kind(output_type: str, registry: Registry | None = None) -> Kind | None:
    """The registered kind of ``output_type``, or ``None`` where no plugin registers it (an
    lm-eval utility task's, or a results file's from a plugin not installed here)."""
    from medlethe.registry import get_registry

    registry = registry or get_registry()
    return kind_of(output_type, registry) if output_type in registry.components["kind"] else None


def yaml_kinds(registry: Registry | None = None) -> list[str]:
    """The registered kinds a YAML task may have (those that read YAML fields)."""
    from medlethe.registry import get_registry

    registry = registry or get_registry()
    return [n for n in registry.components["kind"] if kind_of(n, registry).yaml_fields]


def kind_of(task: Task | str, registry: Registry) -> Kind:
    """The registered kind of ``task`` (or of that ``output_type``): an unknown one is an
    error naming the registered kinds and the plugin to install."""
    name = task if isinstance(task, str) else task.output_type
    kind: Kind = registry.get("kind", name).build_as(Kind, "medlethe.Kind")
    return kind
