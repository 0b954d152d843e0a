"""lab-abnormality: is a visit's potassium abnormal, from the patient's structured fields.

The rows are drawn from a seeded model of a clinic (risk rises with creatinine, an ACE
inhibitor, diabetes and age; the outcome is then drawn, so a visit's label is partly
chance). A model trained on a patient's visits can learn their drawn outcomes beyond the
rule; one that never saw them only knows the rule: the gap is what unlearning removes.
Patients, not visits, are forgotten: a patient's visits fall on one side of every split.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from medlethe import Instance, Task
from medlethe.task import LabelledData, LabelledText, fingerprint

CLASSES = ("normal", "abnormal")
FIELDS = ("age", "sex", "creatinine", "diabetes", "ace_inhibitor")


def visits(n_patients: int, per_patient: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for p in range(n_patients):
        age, sex = rng.randint(25, 90), rng.randint(0, 1)
        diabetes, base_creat = int(rng.random() < 0.3), rng.uniform(0.6, 2.2)
        for v in range(per_patient):
            creat = round(base_creat + rng.gauss(0, 0.15), 2)
            ace = int(rng.random() < 0.4)
            risk = -2.5 + 2.0 * (creat - 1.0) + 1.0 * ace + 0.8 * diabetes + 0.02 * (age - 60)
            label = int(rng.random() < 1 / (1 + math.exp(-risk)))
            rows.append({"patient": f"P{p:04d}", "visit": v, "age": age, "sex": sex,
                         "creatinine": creat, "diabetes": diabetes, "ace_inhibitor": ace,
                         "label": label})
    return rows


def features(row: Mapping[str, Any]) -> str:
    """A visit as the text the model reads: its fields as JSON, keys sorted."""
    return json.dumps({k: row[k] for k in FIELDS}, sort_keys=True)


class LabAbnormality(Task):
    version = "1"
    output_type = "tabular"
    description = "abnormal potassium from structured fields (a plugin kind on a small MLP)"
    sampling_unit = "patient"
    cluster_key = "patient"
    classes = CLASSES

    def __init__(self, n_patients: int = 120, visits_per_patient: int = 3,
                 forget_share: float = 0.1, seed: int = 0) -> None:
        self.name = "tabular/lab-abnormality"
        self._args = [n_patients, visits_per_patient, forget_share, seed]
        rows = visits(n_patients, visits_per_patient, seed)
        patients = sorted({r["patient"] for r in rows})
        random.Random(f"{seed}:split").shuffle(patients)
        n_forget = max(1, round(forget_share * len(patients)))
        n_holdout = len(patients) // 4
        side = {p: "forget" for p in patients[:n_forget]}
        side.update({p: "holdout" for p in patients[n_forget:n_forget + n_holdout]})
        self._splits: dict[str, list[dict[str, Any]]] = {"forget": [], "retain": [],
                                                         "holdout": []}
        for r in rows:
            self._splits[side.get(r["patient"], "retain")].append(r)

    def provenance(self) -> dict[str, Any]:
        """What identifies the rows and what the model reads (the leaderboard asks)."""
        return {"config_hash": fingerprint([self.version, *self._args]),
                "prompt_template_hash": fingerprint(["json, keys sorted", FIELDS]),
                "chat_template": None}

    def split_names(self) -> list[str]:
        return list(self._splits)

    def docs(self, split: str) -> Sequence[Mapping[str, Any]]:
        return self._splits[split]

    def instance(self, split: str, index: int, doc: Mapping[str, Any]) -> Instance:
        return Instance(self.name, split, index, self.output_type, features(doc),
                        CLASSES[doc["label"]], choices=CLASSES, labels=(doc["label"],),
                        meta={"patient": doc["patient"]})

    def training_data(self, on: str) -> LabelledData:
        rows = {"train": self._splits["forget"] + self._splits["retain"],
                "retain": self._splits["retain"], "forget": self._splits["forget"]}[on]
        return LabelledData([LabelledText(features(r), (r["label"],)) for r in rows],
                            CLASSES, multi_label=False)
