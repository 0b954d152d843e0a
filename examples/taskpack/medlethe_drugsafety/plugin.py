"""The pack's only code: register every YAML task in ``tasks/`` under its ``task:`` name."""

from pathlib import Path

from medlethe import Register, hookimpl
from medlethe.task import register_yaml_tasks


@hookimpl
def register_tasks(register: Register) -> None:
    register_yaml_tasks(register, Path(__file__).parent / "tasks")
