"""Patient-level scenarios shared by the patient-record packs (synthclinic, amnesia).

``patient-X``: forget a random X % of the training patients; all of a patient's questions fall
on one side. ``disease-D[-X]``: forget all (or X % of) the patients of disease category D;
retain is reported twice, same-disease and other-disease (AMNESIA's disease-level setting).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from medlethe.errors import TaskConfigError


class HasPatient(Protocol):
    @property
    def pid(self) -> str: ...

    @property
    def category(self) -> str: ...


P = TypeVar("P", bound=HasPatient)

_SCENARIO = re.compile(
    r"^(?:patient-(?P<pct>\d+)|disease-(?P<cat>[a-z][a-z0-9-]*?)(?:-(?P<dpct>\d+))?)$"
)


@dataclass(frozen=True)
class Scenario:
    name: str
    percent: int | None
    category: str | None


def slug(text: str) -> str:
    """``"Infectious/Immune"`` -> ``"infectious-immune"``: category names as scenario names."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def parse_scenario(name: str, categories: Iterable[str], *, pack: str) -> Scenario:
    """Parse ``patient-X`` or ``disease-CATEGORY[-X]``; ``categories`` are the category slugs."""
    cats = sorted(categories)
    m = _SCENARIO.match(name)
    if not m:
        raise TaskConfigError(
            f"{pack} scenario {name!r} is not 'patient-X' (X percent of patients) or "
            f"'disease-CATEGORY[-X]' with CATEGORY one of {', '.join(cats)}."
        )
    if m["cat"] is not None:
        if m["cat"] not in cats:
            raise TaskConfigError(
                f"{pack} scenario {name!r}: unknown category {m['cat']!r}; use one of "
                f"{', '.join(cats)}."
            )
        scenario = Scenario(name, int(m["dpct"]) if m["dpct"] else None, m["cat"])
    else:
        scenario = Scenario(name, int(m["pct"]), None)
    if scenario.percent is not None and not 0 < scenario.percent < 100:
        raise TaskConfigError(f"{pack} scenario {name!r}: percent must be in 1..99")
    return scenario


def split_patients(train: Sequence[P], scenario: Scenario, seed: object) -> tuple[list[P], list[P]]:
    """(forget, retain) training patients; deterministic for ``seed`` and the scenario name.
    A disease scenario names ``p.category`` (a slug)."""
    rng = random.Random(f"{seed}:{scenario.name}")
    pool = list(train)
    if scenario.category is not None:
        pool = [p for p in pool if p.category == scenario.category]
    if scenario.percent is not None:
        k = max(1, round(len(pool) * scenario.percent / 100))
        chosen = {p.pid for p in rng.sample(pool, k)}
    else:
        chosen = {p.pid for p in pool}
    forget = [p for p in train if p.pid in chosen]
    retain = [p for p in train if p.pid not in chosen]
    return forget, retain


def retain_by_disease(forget: Sequence[P], retain: Sequence[P]) -> tuple[list[P], list[P]]:
    """(same-disease, other-disease) retain patients: those sharing a category with some
    forgotten patient, and the rest."""
    forgotten = {p.category for p in forget}
    return [p for p in retain if p.category in forgotten], [
        p for p in retain if p.category not in forgotten
    ]
