"""Unlearning: the method contract, loss helpers and the shared trainer."""

from medlethe.unlearn.base import (
    Batch,
    LossMethod,
    Method,
    MethodError,
    MethodParams,
    NoParams,
    UnlearnContext,
    UnlearnOutput,
)

__all__ = [
    "Batch",
    "LossMethod",
    "Method",
    "MethodError",
    "MethodParams",
    "NoParams",
    "UnlearnContext",
    "UnlearnOutput",
]
