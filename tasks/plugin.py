"""Registers the built-in task packs: synthclinic scenarios (and YAML tasks under yaml/)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from medlethe.hookspecs import Register, hookimpl
from medlethe.task.yaml_task import register_yaml_tasks

YAML_DIR = Path(__file__).parent / "yaml"
SYNTHCLINIC_CATEGORIES = (
    "oncology", "cardiovascular", "infectious", "respiratory", "endocrine", "neurological",
    "mental", "digestive", "renal", "musculoskeletal", "hematologic",
)
PATIENT_PERCENTS = (1, 5, 10, 25)


def _synthclinic(scenario: str, form: str) -> Callable[..., Any]:
    def build(**kwargs: Any) -> Any:
        from medlethe.tasks.synthclinic.task import SynthclinicTask

        return SynthclinicTask(scenario, form, **kwargs)  # type: ignore[arg-type]

    return build


@hookimpl
def register_tasks(register: Register) -> None:
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
