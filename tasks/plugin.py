"""Registers the built-in task packs."""

from __future__ import annotations

from pathlib import Path

from medlethe.hookspecs import Register, hookimpl
from medlethe.task.yaml_task import register_yaml_tasks

YAML_DIR = Path(__file__).parent / "yaml"


@hookimpl
def register_tasks(register: Register) -> None:
    if YAML_DIR.is_dir():
        register_yaml_tasks(register, YAML_DIR)
