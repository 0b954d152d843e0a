"""Import optional heavy libraries with an error that prints the exact install command."""

from __future__ import annotations

import importlib
from types import ModuleType

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
