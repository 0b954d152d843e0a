"""One exception hierarchy for medlethe. Every message names the thing at fault and the fix."""

from __future__ import annotations


class MedletheError(Exception):
    """Base class of every error medlethe raises on purpose."""


class PluginError(MedletheError):
    """A plugin failed to load, misspelt a hook, or two plugins claim one name."""


class UnknownComponentError(MedletheError):
    """A task, method, metric or backend name that no plugin registered."""


class TaskConfigError(MedletheError):
    """A task YAML file (or a task's data) is malformed."""


class DatasetError(MedletheError):
    """A dataset is missing or a row does not have the fields the task needs."""


class MissingDependencyError(MedletheError):
    """An optional library needed by one component is not installed."""


class BackendError(MedletheError):
    """A model backend could not load the model or answer a request."""


class ResultsError(MedletheError):
    """A results file is malformed or has an unknown schema version."""


class AttackError(MedletheError):
    """An attack's parameters are invalid, or the attack failed."""


__all__ = [
    "AttackError",
    "BackendError",
    "DatasetError",
    "MedletheError",
    "MissingDependencyError",
    "PluginError",
    "ResultsError",
    "TaskConfigError",
    "UnknownComponentError",
]
