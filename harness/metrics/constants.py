"""Constants every metric module shares: split roles, the answer scores the run metrics
read, and the bootstrap's settings."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

#: members and non-members of the membership-inference attacks
MEMBERS, NON_MEMBERS = "forget", "holdout"
#: the split pair an attack AUC is reported on
MEMBERSHIP_SPLIT = f"{MEMBERS}~{NON_MEMBERS}"
#: splits that measure forgetting; every other split measures utility (``forget_train``:
#: the forget set's own training questions, where a pack's ``forget`` split is held out)
FORGET_SPLITS = frozenset({"forget", "paraphrase", "forget_train"})
#: the retain splits KPR reads
RETAIN_SPLITS = frozenset({"retain", "retain_train"})
#: per-row labels a kind stores with a run (``Kind.row_labels``): each question's chance
#: level (1 / options), and a classification's gold class indices
CHANCE_LABEL = "chance"
GOLD_LABEL = "gold_labels"
#: the per-document column of an lm-eval utility task's first metric (medlethe.lmeval)
UTILITY_SCORE = "utility_score"


class _PerKind(Mapping[str, str]):
    """A score named by each registered kind (its ``Kind.<attribute>``; kinds that name
    none are left out), plus fixed entries; read when asked, so plugin kinds count."""

    def __init__(self, attribute: str, fixed: dict[str, str] | None = None) -> None:
        self.attribute, self.fixed = attribute, dict(fixed or {})
        #: the table, with the registry it was read from (read again for another one)
        self._read: tuple[object, dict[str, str]] | None = None

    def _table(self) -> dict[str, str]:
        from medlethe.kind import kind_of
        from medlethe.registry import get_registry

        registry = get_registry()
        if self._read is None or self._read[0] is not registry:
            found = {n: getattr(kind_of(n, registry), self.attribute)
                     for n in registry.components["kind"]}
            self._read = (registry, {**{n: v for n, v in found.items() if v}, **self.fixed})
        return self._read[1]

    def __getitem__(self, key: str) -> str:
        return self._table()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


#: the answer score AFE, MU, the collateral matrix, the hierarchy and the preconditions use,
#: per output type (``Kind.primary_metric``; lm-eval utility tasks: their first metric)
PRIMARY: Mapping[str, str] = _PerKind("primary_metric", {"lmeval": UTILITY_SCORE})


def primary_of(record: Any) -> str | None:
    """The primary metric of a task (or its results record), by its kind; ``None``
    where the kind has none or is not installed."""
    return PRIMARY.get(record.output_type)
#: the accuracy FR and KPR use (``Kind.accuracy_metric``; harness choice: exact match for
#: free text)
ACCURACY: Mapping[str, str] = _PerKind("accuracy_metric")
#: Min-K %'s share of tokens (the Min-K paper's and MUSE's 40 %)
MIN_K = 0.4
#: bootstrap resamples and interval level of every aggregate
N_RESAMPLES = 1000
LEVEL = 0.95
#: the sampling unit of a task that declares none: each question on its own
DEFAULT_UNIT = "question"
#: the version of every built-in metric: 2 since intervals resample the task's sampling unit,
#: ROUGE-L stems, the truth ratio is TOFU's geometric form, PrivLeak MUSE's sign and
#: denominator, and Min-K takes floor(k n) tokens
CORE_VERSION = "2"
#: the range of a share, a probability or an AUC
UNIT = (0.0, 1.0)
