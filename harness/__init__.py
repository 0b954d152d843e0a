"""medlethe: measure how well a language model forgets medical data, and what it still leaks.

``import medlethe`` is cheap: heavy modules load when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from medlethe.errors import MedletheError
from medlethe.hookspecs import hookimpl

__version__ = "0.1.0"

if TYPE_CHECKING:
    from medlethe.evaluator import evaluate
    from medlethe.registry import get_registry

_LAZY = {"evaluate": "medlethe.evaluator", "get_registry": "medlethe.registry"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'medlethe' has no attribute {name!r}")


__all__ = ["MedletheError", "__version__", "evaluate", "get_registry", "hookimpl"]
