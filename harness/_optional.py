"""Import optional heavy libraries with an error that prints the exact install command."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from medlethe.errors import MissingDependencyError


def optional_import(module: str, *, component: str, install: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``component``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{component} needs the Python package {module!r}, which is not installed "
            f"({exc}). Install it with: {install}"
        ) from exc


def lazy_attributes(
    module: str, homes: Mapping[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """A module ``__getattr__``: each name of ``homes`` is imported from its home module
    when first asked for, and kept in ``namespace`` (the module's ``globals()``)."""

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(homes[name]), name)
        namespace[name] = value
        return value

    return __getattr__
