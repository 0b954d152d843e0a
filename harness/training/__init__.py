"""Training: the one loop (``loop``) that fine-tunes targets and oracles (``finetune``,
``pipeline``) and runs every loss-based unlearning method (``medlethe.unlearn.trainer``).

Public: the model families a :class:`medlethe.Kind` names (:class:`Family`, and the built-in
:data:`CAUSAL_LM` and :data:`SEQUENCE_CLASSIFIER`), and what a family of a plugin trains
and caches its models with (:func:`fit`, :func:`cached_model`); loaded when first used."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medlethe.models import cached_model
    from medlethe.training.family import CAUSAL_LM, SEQUENCE_CLASSIFIER, Family
    from medlethe.training.loop import fit

__all__ = ["CAUSAL_LM", "SEQUENCE_CLASSIFIER", "Family", "cached_model", "fit"]
_HOME = {"cached_model": "medlethe.models", "fit": "medlethe.training.loop"}


def __getattr__(name: str) -> Any:
    if name in __all__:
        module = _HOME.get(name, "medlethe.training.family")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'medlethe.training' has no attribute {name!r}")
