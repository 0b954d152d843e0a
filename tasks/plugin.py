"""Registers the built-in task packs: synthclinic (embedded), amnesia, medmcqa and mhqa
scenarios, and YAML tasks under yaml/. Every factory imports its pack only when built."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from medlethe.hookspecs import Register, hookimpl
from medlethe.task.yaml_task import register_yaml_tasks

YAML_DIR = Path(__file__).parent / "yaml"
SYNTHCLINIC_CATEGORIES = (
    "oncology",
    "cardiovascular",
    "infectious",
    "respiratory",
    "endocrine",
    "neurological",
    "mental",
    "digestive",
    "renal",
    "musculoskeletal",
    "hematologic",
)
PATIENT_PERCENTS = (1, 5, 10, 25)
# kept here (not imported) so that listing tasks stays cheap
AMNESIA_PERCENTS = (5, 10, 15, 20, 25)
#: the disease-level categories AMNESIA names; any category slug in the data works
AMNESIA_DISEASES = ("cancer", "infectious-immune", "cardiovascular")
MHQA_SCENARIOS = (
    "topic-anxiety",
    "topic-depression",
    "topic-trauma",
    "topic-ocd",
    "topics-anxiety-depression-trauma",
)


def _synthclinic(scenario: str, form: str) -> Callable[..., Any]:
    def build(**kwargs: Any) -> Any:
        from medlethe.tasks.synthclinic.task import SynthclinicTask

        return SynthclinicTask(scenario, form, **kwargs)  # type: ignore[arg-type]

    return build


def _pack(module: str, cls: str, *args: Any) -> Callable[..., Any]:
    def build(**kwargs: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(f"medlethe.tasks.{module}"), cls)(*args, **kwargs)

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
    scenarios += [f"disease-{c}" for c in SYNTHCLINIC_CATEGORIES]
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
    if YAML_DIR.is_dir():
        register_yaml_tasks(register, YAML_DIR)
