"""The entry point: one kind, its task, backend, method and metrics."""

from __future__ import annotations

import medlethe


@medlethe.hookimpl
def register_kinds(register: medlethe.Register) -> None:
    register("tabular", "medlethe_tabular.kind:Tabular")


@medlethe.hookimpl
def register_tasks(register: medlethe.Register) -> None:
    register("tabular/lab-abnormality", "medlethe_tabular.task:LabAbnormality")


@medlethe.hookimpl
def register_backends(register: medlethe.Register) -> None:
    register("tabular", "medlethe_tabular.backend:MLPBackend")


@medlethe.hookimpl
def register_methods(register: medlethe.Register) -> None:
    register("tabular/GradDiff", "medlethe_tabular.method:TabularGradDiff")


@medlethe.hookimpl
def register_metrics(register: medlethe.Register) -> None:
    register("tabular/accuracy", "medlethe_tabular.metrics:Accuracy")
    register("tabular/nll", "medlethe_tabular.metrics:NLL")
