"""Registers the built-in unlearning methods (imported only when one is used). Each
method's description is the first line of its docstring (``medlethe methods``)."""

from __future__ import annotations

from medlethe.hookspecs import Register, hookimpl

_BUILTIN = "medlethe.methods.builtin"


@hookimpl
def register_methods(register: Register) -> None:
    register("GradAscent", f"{_BUILTIN}:GradAscent")
    register("GradDiff", f"{_BUILTIN}:GradDiff")
    register("KL-Min", f"{_BUILTIN}:KLMin")
    register("NPO", f"{_BUILTIN}:NPO")
    register("SimNPO", f"{_BUILTIN}:SimNPO")
    register("RMU", f"{_BUILTIN}:RMU")
    register("IdkPO", f"{_BUILTIN}:IdkPO")
    register("Retrain", f"{_BUILTIN}:Retrain")
