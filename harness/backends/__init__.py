"""Model backends: the contract and its request/result types. Implementations load lazily."""

from medlethe.backends.base import (
    Backend,
    ClassifyRequest,
    ClassifyResult,
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    truncate_at_stop,
)

__all__ = [
    "Backend",
    "ClassifyRequest",
    "ClassifyResult",
    "GenerateRequest",
    "GenerateResult",
    "LoglikelihoodRequest",
    "LoglikelihoodResult",
    "truncate_at_stop",
]
