"""Registers the built-in task packs: synthclinic (embedded), amnesia, medmcqa and mhqa
scenarios. Every factory imports its pack only when built; the scenario lists come from
the packs' own light modules (the categories table, MHQA's topics), so they cannot drift."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from medlethe import Register, hookimpl
from medlethe.tasks.mhqa import SCENARIOS as MHQA_SCENARIOS
from medlethe.tasks.synthclinic.categories import CATEGORIES

#: synthclinic-cxr's patient-level scenarios (Forget-MI's forget sizes)
CXR_PERCENTS = (3, 6, 10)

#: the synthclinic patient-X scenarios registered by name
PATIENT_PERCENTS = (1, 5, 10, 15, 20, 25)
#: the AMNESIA scenarios registered by name (the paper's)
AMNESIA_PERCENTS = (5, 10, 15, 20, 25)
AMNESIA_DISEASES = ("cancer", "infectious-immune", "cardiovascular")


def _synthclinic(scenario: str, form: str) -> Callable[..., Any]:
    return _pack("synthclinic.task", "SynthclinicTask", scenario, form)


def _pack(module: str, cls: str, *args: Any) -> Callable[..., Any]:
    def task_class() -> Any:
        import importlib

        return getattr(importlib.import_module(f"medlethe.tasks.{module}"), cls)

    def build(**kwargs: Any) -> Any:
        return task_class()(*args, **kwargs)

    # what 'medlethe tasks --args' reads: the class with this scenario's arguments bound
    build.arguments_of = lambda: functools.partial(task_class(), *args)  # type: ignore[attr-defined]
    return build


def _register_packs(register: Register) -> None:
    for scenario in [f"patient-{p}" for p in AMNESIA_PERCENTS] + [
        f"disease-{d}" for d in AMNESIA_DISEASES
    ]:
        register(
            f"amnesia/{scenario}",
            _pack("amnesia", "AmnesiaTask", scenario),
            description=f"AMNESIA {scenario} (needs --task-args source=...): free-text QA",
        )
    register(
        "medmcqa/subject-surgery",
        _pack("medmcqa", "MedMCQATask", "Surgery"),
        description="MedMCQA: forget Surgery; accuracy on validation",
    )
    register(
        "medmcqa/subject",
        _pack("medmcqa", "MedMCQATask"),
        description="MedMCQA: forget any subject (--task-args subject=NAME)",
    )
    register(
        "mimic-notes/forget-class",
        _pack("mimic_notes", "MimicNotesTask"),
        description="MIMIC-style note table: forget a class (--task-args source= forget_class=)",
    )
    register(
        "mimic-cxr/edema",
        _pack("mimic_cxr", "MimicCxrTask"),
        description="MIMIC-CXR edema table (--task-args split_table= images= reports=)",
    )
    for pct in CXR_PERCENTS:
        register(
            f"synthclinic-cxr/patients-{pct}pct",
            _pack("synthclinic.cxr", "SynthclinicCxrTask", f"patients-{pct}pct"),
            description=f"synthclinic-cxr: forget {pct} % of patients (image + report)",
        )
    for c in CATEGORIES:
        register(
            f"synthclinic-notes/forget-class-{c.key}",
            _pack("synthclinic.notes", "SynthclinicNotesTask", f"forget-class-{c.key}"),
            description=f"synthclinic-notes: forget class {c.key} from a note classifier",
        )
    for scenario in MHQA_SCENARIOS:
        register(
            f"mhqa/{scenario}",
            _pack("mhqa", "MHQATask", scenario),
            description=f"MHQA {scenario}: 4-option multiple choice, OCD control",
        )


@hookimpl
def register_tasks(register: Register) -> None:
    _register_packs(register)
    scenarios = [f"patient-{p}" for p in PATIENT_PERCENTS]
    scenarios += [f"disease-{c.key}" for c in CATEGORIES]
    for scenario in scenarios:
        register(
            f"synthclinic/{scenario}",
            _synthclinic(scenario, "qa"),
            description=f"synthclinic {scenario}: free-text QA, ROUGE-L",
        )
        register(
            f"synthclinic/{scenario}/mc",
            _synthclinic(scenario, "mc"),
            description=f"synthclinic {scenario}: 4-option multiple choice",
        )


@hookimpl
def register_analyses(register: Register) -> None:
    for name, cls, text in (
        ("collateral_matrix", "CollateralMatrix",
         "per method: the drop on each disease's retain patients, by disease forgotten"),
        ("forget_size", "ForgetSize", "scores, entropy and leakage against the forget size"),
        ("question_types", "QuestionTypes", "forget drop on factual vs reasoning questions"),
        ("same_vs_other_disease", "SameVsOtherDisease",
         "retain drop on a forgotten patient's disease vs the others"),
    ):
        register(name, f"medlethe.tasks.analyses:{cls}", description=text)
