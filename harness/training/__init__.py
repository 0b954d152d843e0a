"""Training: the one loop (``loop``) that fine-tunes targets and oracles (``finetune``,
``pipeline``) and runs every loss-based unlearning method (``medlethe.unlearn.trainer``).

Public: the model families a :class:`medlethe.Kind` names (:class:`Family`, and the built-in
:data:`CAUSAL_LM` and :data:`SEQUENCE_CLASSIFIER`), loaded when first used."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medlethe.training.family import CAUSAL_LM, SEQUENCE_CLASSIFIER, Family

__all__ = ["CAUSAL_LM", "SEQUENCE_CLASSIFIER", "Family"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        value = getattr(importlib.import_module("medlethe.training.family"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'medlethe.training' has no attribute {name!r}")
