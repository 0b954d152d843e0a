"""Registers the built-in kinds: the ``output_type`` values of medlethe's own tasks."""

from __future__ import annotations

import medlethe


@medlethe.hookimpl
def register_kinds(register: medlethe.Register) -> None:
    register("generate", "medlethe.kinds.generate:Generate")
    register("multiple_choice", "medlethe.kinds.multiple_choice:MultipleChoice")
    register("loglikelihood", "medlethe.kinds.loglikelihood:Loglikelihood")
    register("classify", "medlethe.kinds.classify:Classify")
