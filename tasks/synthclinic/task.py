"""synthclinic scenarios as medlethe tasks: patient-x and disease-d[-x] forgetting."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from medlethe.errors import TaskConfigError
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
from medlethe.tasks.scenarios import Scenario
from medlethe.tasks.synthclinic.categories import BY_KEY
from medlethe.tasks.synthclinic.generator import (
    GENERATOR_VERSION,
    Patient,
    SynthConfig,
    SynthData,
    generate,
)

TASK_VERSION = f"1+gen{GENERATOR_VERSION}"
PROMPT = "Question: {question}\nAnswer:"
GENERATION = GenerationConfig(max_new_tokens=40, stop=["\n"])
QA_METRICS = (
    "rouge_l_recall",
    "rouge_l_f1",
    "exact_match",
    "probability",
    "truth_ratio",
    "exact_memorisation",
    "extraction_strength",
    "token_entropy",
    "semantic_similarity?",
    "terminology_leakage",
    "disease_term_leakage",
    "identifier_leakage",
    "paraphrase_leakage?",
    "mia_loss",
    "mia_zlib",
    "mia_min_k",
    "mia_min_k_pp",
)
MC_METRICS = ("accuracy", "acc_norm", "probability", "truth_ratio")


def parse_scenario(name: str) -> Scenario:
    return scenarios.parse_scenario(name, BY_KEY, pack="synthclinic")


def split_patients(data: SynthData, scenario: Scenario) -> tuple[list[Patient], list[Patient]]:
    """(forget, retain) training patients for a scenario; deterministic for the data seed."""
    return scenarios.split_patients(data.train, scenario, data.config.seed)


def _rows(patients: Sequence[Patient], paraphrase: bool = False) -> list[dict[str, Any]]:
    return [
        {
            "qid": qa.qid,
            "pid": p.pid,
            "category": p.category,
            "code": p.code,
            "type": qa.kind,
            "slot": qa.slot,
            "question": qa.paraphrase if paraphrase else qa.question,
            "answer": qa.answer,
            "perturbed": list(qa.perturbed),
        }
        for p in patients
        for qa in p.qa
    ]


class SynthclinicTask(SplitsTask):
    """One synthclinic scenario. ``form="qa"``: free-text answers, greedy generation;
    ``form="mc"``: the same questions as 4-option multiple choice (gold + 3 perturbed)."""

    group_by = ("type",)
    # the disease category and ICD-10-CM code of each question's patient (hierarchy metrics)
    row_labels = ("category", "code")
    # splits are drawn by patient, and a patient's questions are correlated
    sampling_unit = "patient"
    cluster_key = "pid"

    def __init__(
        self,
        scenario: str,
        form: Literal["qa", "mc"] = "qa",
        *,
        n_patients: int = SynthConfig.n_patients,
        n_holdout: int = SynthConfig.n_holdout,
        seed: int = SynthConfig.seed,
    ) -> None:
        for key, value in (("n_patients", n_patients), ("n_holdout", n_holdout), ("seed", seed)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise TaskConfigError(
                    f"synthclinic: task argument {key} must be a whole number >= 0, got "
                    f"{value!r}."
                )
        self.scenario = parse_scenario(scenario)
        self.form = form
        self.config = SynthConfig(n_patients=n_patients, n_holdout=n_holdout, seed=seed)
        self.name = f"synthclinic/{scenario}" + ("/mc" if form == "mc" else "")
        self.version = TASK_VERSION
        self.output_type = "multiple_choice" if form == "mc" else "generate"
        self.description = f"synthclinic {scenario} ({form})"
        self.data = generate(self.config)
        self.forget, self.retain = split_patients(self.data, self.scenario)
        same, other = scenarios.retain_by_disease(self.forget, self.retain)
        self.metrics = QA_METRICS if form == "qa" else MC_METRICS
        self.splits = {
            "forget": _rows(self.forget),
            "retain": _rows(self.retain),
            "retain_same_disease": _rows(same),
            "retain_other_disease": _rows(other),
            "holdout": _rows(self.data.holdout),
            "paraphrase": _rows(self.forget, paraphrase=True),
        }

    def instance(self, split: str, index: int, doc: Mapping[str, Any]) -> Instance:
        prompt = PROMPT.format(question=doc["question"])
        meta = {k: doc[k] for k in ("type", "slot", "category", "code", "pid")}
        if self.form == "qa":
            return Instance(
                self.name,
                split,
                index,
                "generate",
                prompt,
                doc["answer"],
                generation=GENERATION,
                meta=meta,
                perturbed=tuple(doc["perturbed"]),
            )
        options = [doc["answer"], *doc["perturbed"]]
        random.Random(doc["qid"]).shuffle(options)
        return Instance(
            self.name,
            split,
            index,
            "multiple_choice",
            prompt,
            doc["answer"],
            tuple(options),
            options.index(doc["answer"]),
            meta=meta,
        )

    def provenance(self) -> dict[str, Any]:
        return {
            "config_hash": fingerprint(
                {"scenario": self.scenario.name, "form": self.form, **vars(self.config)}
            ),
            "prompt_template_hash": fingerprint([PROMPT, GENERATION.model_dump()]),
            "chat_template": None,
        }

    # -- leakage metrics -------------------------------------------------------------------
    def lexicon_spec(self) -> LexiconSpec:
        """Each category's ICD-10-CM chapter, plus its drugs, procedures and lab test."""
        cats = [BY_KEY[k] for k in sorted(BY_KEY)]
        return LexiconSpec(
            icd_roots={c.key: (c.chapter,) for c in cats},
            terms={c.key: (*c.drugs, *c.procedures, c.lab.name) for c in cats},
        )

    def protected_identifiers(self) -> tuple[str, ...]:
        return tuple(i for p in self.forget for i in p.identifiers)

    def person_identifiers(self) -> tuple[str, ...]:
        """Names, record numbers and admission dates of every patient (train and holdout)."""
        return tuple(i for p in [*self.data.train, *self.data.holdout] for i in p.identifiers)

    # -- training material ---------------------------------------------------------------
    def training_data(self, on: str) -> TrainingData:
        patients = {"train": list(self.data.train), "retain": self.retain, "forget": self.forget}
        chosen = training_side(self.name, on, patients)
        return TrainingData(
            texts=[p.note for p in chosen],
            examples=[
                TrainingExample(PROMPT.format(question=qa.question), qa.answer)
                for p in chosen
                for qa in p.qa
            ],
        )
