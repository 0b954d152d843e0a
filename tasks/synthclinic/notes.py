"""synthclinic-notes: clinical notes labelled with their patients' disease categories, for
class-level unlearning of a sequence classifier (STEU).

Every patient has one primary category (the 11 synthclinic categories, ICD-10-CM chapters)
and, with probability ``comorbidity``, a second one; each of the patient's notes carries the
patient's labels, as note-classification tables built from admission diagnosis codes do.
Class evidence is in the words only: findings, the monitoring lab test, drugs and their
class, procedures, the follow-up clinic and ICD-10-CM descriptions of the category's
chapter. Noise keeps F1 below 1: a note mentions only some of its patient's evidence (a
comorbidity is often not mentioned at all), nursing notes carry little or none, and notes
name terms of other categories in negations and family history. Same config, same bytes.

Scenarios ``forget-class-<category>``: forget every training note labelled with the
category; splits ``forget``, ``retain`` (the other training notes), ``holdout`` (the notes
of patients never trained on, every category: the test set) and ``paraphrase`` (the forget
notes written with other sentence frames).
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from medlethe.errors import TaskConfigError
from medlethe.task import (
    Instance,
    LabelledData,
    LabelledText,
    SplitsTask,
    fingerprint,
    training_side,
)
from medlethe.tasks.synthclinic.categories import BY_KEY, CATEGORIES, Category
from medlethe.tasks.synthclinic.generator import FIRST, LAST, MONTHS, code_pool

NOTES_VERSION = "1"
CLASSES = tuple(c.key for c in CATEGORIES)
SCENARIO_PREFIX = "forget-class-"


@dataclass(frozen=True)
class NotesConfig:
    """Size and seed. The default makes 2,640 training and 528 holdout notes."""

    n_patients: int = 660
    n_holdout: int = 132
    notes_per_patient: int = 4
    comorbidity: float = 0.3
    seed: int = 0


@dataclass(frozen=True)
class Note:
    nid: str
    pid: str
    kind: str
    text: str
    paraphrase: str
    labels: tuple[int, ...]


@dataclass(frozen=True)
class NotesPatient:
    pid: str
    name: str
    mrn: str
    categories: tuple[str, ...]
    notes: tuple[Note, ...]

    @property
    def identifiers(self) -> tuple[str, ...]:
        return (self.name, self.mrn)


@functools.cache
def _codes(cat: Category) -> tuple[tuple[str, str], ...]:
    """Eight ICD-10-CM leaf codes of the category's chapter (the notes' diagnoses)."""
    return tuple(code_pool(cat, 8, 0))


def _evidence(cat: Category, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, phrase) items a note about ``cat`` may mention."""
    _, desc = rng.choice(_codes(cat))
    return [
        ("finding", rng.choice(cat.findings)),
        ("lab", cat.lab.name),
        ("drug", rng.choice(cat.drugs)),
        ("drug_class", cat.drug_class),
        ("procedure", rng.choice(cat.procedures)),
        ("clinic", cat.clinic),
        ("diagnosis", desc.lower()),
    ]


# Two sentence frames per evidence kind: the first writes training notes, the second the
# paraphrase split (same facts, other words).
_FRAMES: dict[str, tuple[str, str]] = {
    "finding": ("Presented with {x}.", "The complaint on arrival: {x}."),
    "lab": ("The {x} was raised.", "Abnormal {x} result noted."),
    "drug": ("Started on {x}.", "Treatment with {x} was begun."),
    "drug_class": ("Plan: {x}.", "Management includes {x}."),
    "procedure": ("Underwent {x}.", "Had {x} during the stay."),
    "clinic": ("Follow-up at {x}.", "Review arranged in {x}."),
    "diagnosis": ("Assessment: {x}.", "Working diagnosis of {x}."),
}
_NEGATIONS = ("No history of {x}.", "Denies {x}.", "Family history of {x}.")
_NURSING = (
    "Observations stable overnight.", "Mobilising with assistance.", "Eating and drinking.",
    "Pain controlled with simple analgesia.", "Slept well.", "Family visited.",
    "Skin intact.", "Bowels opened.",
)
_KINDS = ("admission note", "progress note", "discharge summary", "nursing note")


def _note_text(
    rng: random.Random,
    header: str,
    kind: str,
    items: Sequence[tuple[str, str]],
    distractor: str | None,
    frame: int,
) -> str:
    body = [_FRAMES[k][frame].format(x=x) for k, x in items]
    if kind == "nursing note":
        body += rng.sample(_NURSING, 3)
    if distractor is not None:
        body.append(distractor)
    rng.shuffle(body)
    return " ".join([f"{kind.capitalize()}. {header}", *body])


def _notes_for(
    rng: random.Random, pid: str, header: str, cats: Sequence[Category], n: int,
    labels: tuple[int, ...],
) -> tuple[Note, ...]:
    notes = []
    for j in range(n):
        kind = _KINDS[j % len(_KINDS)]
        items: list[tuple[str, str]] = []
        for rank, cat in enumerate(cats):
            pool = _evidence(cat, rng)
            if kind == "nursing note":
                count = 1 if rng.random() < 0.4 else 0
            elif rank == 0:
                count = rng.randint(1, 3)
            else:  # a comorbidity is mentioned in half the notes
                count = 1 if rng.random() < 0.5 else 0
            items += rng.sample(pool, count)
        distractor = None
        if rng.random() < 0.3:
            other = rng.choice([c for c in CATEGORIES if c not in cats])
            _, term = rng.choice(_evidence(other, rng))
            distractor = rng.choice(_NEGATIONS).format(x=term)
        state = rng.getstate()
        text = _note_text(rng, header, kind, items, distractor, 0)
        rng.setstate(state)  # the paraphrase shuffles the same way
        para = _note_text(rng, header, kind, items, distractor, 1)
        notes.append(Note(f"{pid}-{j}", pid, kind, text, para, labels))
    return tuple(notes)


def _patients(rng: random.Random, n: int, prefix: str, config: NotesConfig,
              names: Sequence[int], mrns: Sequence[int]) -> list[NotesPatient]:
    start = dt.date(2019, 1, 1)
    out = []
    for i in range(n):
        primary = CATEGORIES[i % len(CATEGORIES)]
        cats = [primary]
        if rng.random() < config.comorbidity:
            cats.append(rng.choice([c for c in CATEGORIES if c is not primary]))
        k = names[i]
        name = (f"{FIRST[k % len(FIRST)]} {chr(ord('A') + (k // len(FIRST)) % 26)}. "
                f"{LAST[k // (len(FIRST) * 26)]}")
        day = start + dt.timedelta(days=rng.randrange(5 * 365))
        header = (f"Patient {name}, MRN {mrns[i]}, seen {day.day} {MONTHS[day.month - 1]} "
                  f"{day.year}.")
        labels = tuple(sorted(CLASSES.index(c.key) for c in cats))
        pid = f"{prefix}{i:05d}"
        notes = _notes_for(rng, pid, header, cats, config.notes_per_patient, labels)
        out.append(NotesPatient(pid, name, str(mrns[i]), tuple(c.key for c in cats), notes))
    return out


@functools.lru_cache(maxsize=8)
def generate_notes(
    config: NotesConfig = NotesConfig(),
) -> tuple[tuple[NotesPatient, ...], tuple[NotesPatient, ...]]:
    """Training patients and holdout patients (never trained on), with their notes."""
    total = config.n_patients + config.n_holdout
    if total > len(FIRST) * 26 * len(LAST):
        raise TaskConfigError(
            f"synthclinic-notes supports at most {len(FIRST) * 26 * len(LAST)} patients"
        )
    rng = random.Random(f"notes:{config.seed}")
    names = rng.sample(range(len(FIRST) * 26 * len(LAST)), total)
    mrns = rng.sample(range(1_000_000, 10_000_000), total)
    train = _patients(rng, config.n_patients, "N", config, names, mrns)
    hold = _patients(rng, config.n_holdout, "M", config, names[config.n_patients:],
                     mrns[config.n_patients:])
    return tuple(train), tuple(hold)


def _row(note: Note, paraphrase: bool = False) -> dict[str, Any]:
    return {"nid": note.nid, "pid": note.pid, "kind": note.kind,
            "text": note.paraphrase if paraphrase else note.text, "labels": list(note.labels)}


def _check_disjoint(
    task: str, train: list[dict[str, Any]], holdout: list[dict[str, Any]]
) -> None:
    from collections import Counter

    from medlethe.errors import TaskConfigError

    shared = sorted({r["pid"] for r in train} & {r["pid"] for r in holdout})
    if shared:
        raise TaskConfigError(
            f"{task}: {len(shared)} patient(s) have records both in training and in the "
            f"held-out/test rows (e.g. {', '.join(shared[:5])}); the holdout must be patients "
            "the models never saw. Put each patient's records on one side (the split column), "
            "or drop the column to let medlethe hold out whole patients."
        )
    twice = sorted(n for n, c in Counter(r["nid"] for r in [*train, *holdout]).items() if c > 1)
    if twice:
        raise TaskConfigError(
            f"{task}: {len(twice)} record id(s) occur more than once (e.g. "
            f"{', '.join(twice[:5])}); each record must be one row. Remove the repeated rows "
            "(mimic-notes: --task-args duplicates=drop drops and counts them)."
        )


class NotesClassificationTask(SplitsTask):
    """Class-level forgetting on labelled notes: the base of synthclinic-notes and of the
    MIMIC-style loader (:mod:`medlethe.tasks.mimic_notes`). Subclasses fill ``splits``
    (rows with ``text``, ``labels`` (class indices), ``pid`` and optionally ``image``, a
    path) through :meth:`_divide`, and set ``classes``, ``multi_label`` and either
    ``forget_classes`` (class-level forgetting) or ``forget_pids`` (patient-level)."""

    output_type = "classify"
    sampling_unit = "patient"
    cluster_key = "pid"
    group_by: tuple[str, ...] = ("kind",)
    #: patient-level scenarios: the patients whose rows are forgotten
    forget_pids: frozenset[str] = frozenset()
    splits: dict[str, list[dict[str, Any]]]
    _train: list[dict[str, Any]]

    def _divide(
        self, train: list[dict[str, Any]], holdout: list[dict[str, Any]],
        **more: list[dict[str, Any]],
    ) -> None:
        """The splits: training rows into ``forget`` and ``retain``, then ``holdout`` and
        any further split (``paraphrase``). A patient on both sides (trained and held out)
        or a record id given twice is refused: the membership attacks read the holdout as
        never trained, and a repeated record would count twice."""
        _check_disjoint(self.name, train, holdout)
        self._train = train
        self.splits = {
            "forget": [r for r in train if self._forgets(r)],
            "retain": [r for r in train if not self._forgets(r)],
            "holdout": holdout,
            **more,
        }

    def instance(self, split: str, index: int, doc: Mapping[str, Any]) -> Instance:
        labels = tuple(int(i) for i in doc["labels"])
        meta = {"pid": doc["pid"]}
        if doc.get("kind"):
            meta["kind"] = doc["kind"]
        return Instance(
            self.name, split, index, "classify", doc["text"],
            "; ".join(self.classes[i] for i in labels), choices=self.classes,
            labels=labels, multi_label=self.multi_label, meta=meta, image=doc.get("image"),
        )

    def _forgets(self, row: Mapping[str, Any]) -> bool:
        if self.forget_pids:
            return row["pid"] in self.forget_pids
        wanted = {self.classes.index(c) for c in self.forget_classes}
        return bool(wanted & set(row["labels"]))

    def training_data(self, on: str) -> LabelledData:
        rows = {"train": self._train, "retain": self.splits["retain"],
                "forget": self.splits["forget"]}
        chosen = training_side(self.name, on, rows)
        return LabelledData(
            [LabelledText(r["text"], tuple(int(i) for i in r["labels"]), r.get("image"))
             for r in chosen],
            self.classes, self.multi_label,
        )


class SynthclinicNotesTask(NotesClassificationTask):
    """synthclinic-notes ``forget-class-<category>``: forget every note of one category."""

    def __init__(
        self,
        scenario: str,
        *,
        n_patients: int = NotesConfig.n_patients,
        n_holdout: int = NotesConfig.n_holdout,
        notes_per_patient: int = NotesConfig.notes_per_patient,
        multi_label: bool = True,
        seed: int = NotesConfig.seed,
    ) -> None:
        for key, value in (("n_patients", n_patients), ("n_holdout", n_holdout),
                           ("notes_per_patient", notes_per_patient), ("seed", seed)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1 - (
                key == "seed"
            ):
                raise TaskConfigError(
                    f"synthclinic-notes: task argument {key} must be a whole number "
                    f"{'>= 0' if key == 'seed' else '>= 1'}, got {value!r}."
                )
        if not isinstance(multi_label, bool):
            raise TaskConfigError(
                f"synthclinic-notes: task argument multi_label must be true or false, got "
                f"{multi_label!r}."
            )
        category = scenario.removeprefix(SCENARIO_PREFIX)
        if not scenario.startswith(SCENARIO_PREFIX) or category not in BY_KEY:
            raise TaskConfigError(
                f"synthclinic-notes: unknown scenario {scenario!r}; use forget-class-<c> "
                f"with c one of {', '.join(CLASSES)}."
            )
        self.scenario = scenario
        self.config = NotesConfig(n_patients, n_holdout, notes_per_patient, seed=seed)
        self.name = f"synthclinic-notes/{scenario}"
        self.version = f"1+notes{NOTES_VERSION}"
        self.description = f"synthclinic-notes {scenario}: note classification"
        self.classes = CLASSES
        self.multi_label = multi_label
        self.forget_classes = (category,)
        train, hold = generate_notes(self.config)
        self.patients = (*train, *hold)

        def rows(
            patients: Sequence[NotesPatient], paraphrase: bool = False
        ) -> list[dict[str, Any]]:
            out = []
            for p in patients:
                for n in p.notes:
                    row = _row(n, paraphrase)
                    if not multi_label:  # the primary category only
                        row["labels"] = [CLASSES.index(p.categories[0])]
                    out.append(row)
            return out

        self._divide(rows(train), rows(hold))
        forget_ids = {r["nid"] for r in self.splits["forget"]}
        self.splits["paraphrase"] = [r for r in rows(train, paraphrase=True)
                                      if r["nid"] in forget_ids]

    def provenance(self) -> dict[str, Any]:
        return {
            "config_hash": fingerprint({"scenario": self.scenario, "multi_label":
                                        self.multi_label, **vars(self.config)}),
            "prompt_template_hash": fingerprint(_FRAMES),
            "chat_template": None,
        }

    def person_identifiers(self) -> tuple[str, ...]:
        """Names and record numbers of every patient (train and holdout)."""
        return tuple(i for p in self.patients for i in p.identifiers)
