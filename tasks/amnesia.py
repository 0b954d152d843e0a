"""AMNESIA-style patient records: forget patients (random or by disease), free-text QA.

Schema (one row per question; a patient's note and category repeat on each of its rows):

=============  ============  ===============================================
field          type          meaning
=============  ============  ===============================================
patient_id     str or int    the patient (all its questions forget together)
note           str           the case report the model is fine-tuned on
category       str           the disease category (e.g. ``Cancer``)
question       str           a question about this patient
answer         str           the gold answer
type           str           ``factual`` or ``reasoning``
=============  ============  ===============================================

The paper's release id is not known yet, so ``source`` is required: a hub id or a local
JSONL/Parquet file or hub-layout folder (all splits are pooled; medlethe makes its own).
A seeded ``holdout_percent`` of patients is never trained (membership-inference reference);
the rest split as synthclinic does: ``patient-X`` and ``disease-CATEGORY[-X]`` with
same-disease and other-disease retain splits.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medlethe.errors import DatasetError, TaskConfigError
from medlethe.metrics import LexiconSpec
from medlethe.task import (
    GenerationConfig,
    Instance,
    SplitsTask,
    TrainingData,
    TrainingExample,
    fingerprint,
    training_side,
)
from medlethe.tasks import scenarios
from medlethe.tasks.records import Field, load_records

VERSION = "1"
PROMPT = "Question: {question}\nAnswer:"
GENERATION = GenerationConfig(max_new_tokens=48, stop=["\n"])
METRICS = (
    "rouge_l_recall",
    "rouge_l_f1",
    "exact_match",
    "probability",
    "exact_memorisation",
    "extraction_strength",
    "token_entropy",
    "semantic_similarity?",
    "terminology_leakage",
    "disease_term_leakage",
    "mia_loss",
    "mia_zlib",
    "mia_min_k",
    "mia_min_k_pp",
)
FIELDS = (
    Field("patient_id", (str, int)),
    Field("note", (str,)),
    Field("category", (str,)),
    Field("question", (str,)),
    Field("answer", (str,)),
    Field("type", (str,), values=("factual", "reasoning")),
)
#: words in a category name -> the synthclinic category whose ICD-10-CM chapter and curated
#: drug and procedure names give the terminology lexicon
_LEXICON_ALIASES = (
    ("cancer", "oncology"),
    ("oncolog", "oncology"),
    ("neoplas", "oncology"),
    ("cardio", "cardiovascular"),
    ("heart", "cardiovascular"),
    ("infect", "infectious"),
    ("respir", "respiratory"),
    ("pulmon", "respiratory"),
    ("endocrin", "endocrine"),
    ("metabol", "endocrine"),
    ("neuro", "neurological"),
    ("mental", "mental"),
    ("psych", "mental"),
    ("digest", "digestive"),
    ("gastro", "digestive"),
    ("renal", "renal"),
    ("kidney", "renal"),
    ("musculo", "musculoskeletal"),
    ("hemat", "hematologic"),
    ("haemat", "hematologic"),
    ("blood", "hematologic"),
)


@dataclass(frozen=True)
class Patient:
    pid: str
    category: str  # slug of the category name
    label: str  # the category name as in the data
    note: str
    qa: tuple[tuple[str, str, str], ...]  # (question, answer, type)


def group_patients(rows: Sequence[Mapping[str, Any]], origin: str) -> list[Patient]:
    """One :class:`Patient` per ``patient_id``, in first-seen order; a patient whose rows
    disagree on note or category is an error naming the row."""
    first: dict[str, tuple[int, Mapping[str, Any]]] = {}
    qa: dict[str, list[tuple[str, str, str]]] = {}
    for i, row in enumerate(rows, 1):
        pid = str(row["patient_id"])
        if pid not in first:
            first[pid] = (i, row)
            qa[pid] = []
        else:
            j, seen = first[pid]
            for fld in ("note", "category"):
                if row[fld] != seen[fld]:
                    raise DatasetError(
                        f"amnesia: {origin}, row {i}, field {fld!r}: patient {pid} has a "
                        f"different {fld} than on row {j}; a patient has one note and category."
                    )
        qa[pid].append((row["question"], row["answer"], row["type"]))
    return [
        Patient(pid, scenarios.slug(r["category"]), r["category"], r["note"], tuple(qa[pid]))
        for pid, (_, r) in first.items()
    ]


def _rows(patients: Sequence[Patient]) -> list[dict[str, Any]]:
    return [
        {"pid": p.pid, "category": p.category, "question": q, "answer": a, "type": t}
        for p in patients
        for q, a, t in p.qa
    ]


class AmnesiaTask(SplitsTask):
    """One AMNESIA scenario. ``source`` (required): hub id or local file/folder."""

    output_type = "generate"
    metrics = METRICS
    group_by = ("type",)
    row_labels = ("category",)
    # splits are drawn by patient, and a patient's questions are correlated
    sampling_unit = "patient"
    cluster_key = "pid"

    def __init__(
        self,
        scenario: str,
        *,
        source: str | Path | None = None,
        revision: str | None = None,
        holdout_percent: int = 10,
        seed: int = 1234,
    ) -> None:
        if source is None:
            raise TaskConfigError(
                "amnesia: pass the data with --task-args source=HUB_ID_OR_PATH (a hub id, a "
                "hub-layout folder, or a .jsonl/.parquet file in the schema of "
                "medlethe.tasks.amnesia); the paper's release id is not known yet."
            )
        if not 0 < holdout_percent < 100:
            raise TaskConfigError("amnesia: holdout_percent must be in 1..99")
        records = load_records(source, pack="amnesia", fields=FIELDS, revision=revision)
        rows = [r for split in records.values() for r in split]
        patients = group_patients(rows, str(source))
        rng = random.Random(f"{seed}:holdout")
        n_hold = max(1, round(len(patients) * holdout_percent / 100))
        held = {p.pid for p in rng.sample(patients, n_hold)}
        train = [p for p in patients if p.pid not in held]
        self.holdout = [p for p in patients if p.pid in held]
        self.scenario = scenarios.parse_scenario(
            scenario, {p.category for p in train}, pack="amnesia"
        )
        self.train = train
        self.forget, self.retain = scenarios.split_patients(train, self.scenario, seed)
        same, other = scenarios.retain_by_disease(self.forget, self.retain)
        self.name = f"amnesia/{scenario}"
        self.version = VERSION
        self.description = f"AMNESIA {scenario}: free-text QA, ROUGE-L"
        self.config = {
            "scenario": scenario,
            "source": str(source),
            "revision": revision,
            "holdout_percent": holdout_percent,
            "seed": seed,
        }
        self.splits = {
            "forget": _rows(self.forget),
            "retain": _rows(self.retain),
            "retain_same_disease": _rows(same),
            "retain_other_disease": _rows(other),
            "holdout": _rows(self.holdout),
        }
        self._labels = {p.category: p.label for p in patients}

    def instance(self, split: str, index: int, doc: Mapping[str, Any]) -> Instance:
        return Instance(
            self.name,
            split,
            index,
            "generate",
            PROMPT.format(question=doc["question"]),
            doc["answer"],
            generation=GENERATION,
            meta={k: doc[k] for k in ("type", "category", "pid")},
        )

    def provenance(self) -> dict[str, Any]:
        return {
            "config_hash": fingerprint(self.config),
            "prompt_template_hash": fingerprint([PROMPT, GENERATION.model_dump()]),
            "chat_template": None,
        }

    def lexicon_spec(self) -> LexiconSpec:
        """Categories recognised by name (cancer -> oncology, ...) get that ICD-10-CM chapter
        and synthclinic's curated drug and procedure names; others get no lexicon entry."""
        from medlethe.tasks.synthclinic.categories import BY_KEY

        roots: dict[str, tuple[str, ...]] = {}
        terms: dict[str, tuple[str, ...]] = {}
        for key, label in self._labels.items():
            hit = next((c for stem, c in _LEXICON_ALIASES if stem in label.lower()), None)
            if hit is not None:
                cat = BY_KEY[hit]
                roots[key] = (cat.chapter,)
                terms[key] = (*cat.drugs, *cat.procedures, cat.lab.name)
        return LexiconSpec(icd_roots=roots, terms=terms)

    def training_data(self, on: str) -> TrainingData:
        patients = {"train": self.train, "retain": self.retain, "forget": self.forget}
        chosen = training_side(self.name, on, patients)
        return TrainingData(
            texts=[p.note for p in chosen],
            examples=[
                TrainingExample(PROMPT.format(question=q), a) for p in chosen for q, a, _ in p.qa
            ],
        )
