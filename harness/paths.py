"""Where medlethe writes, and how paths are recorded.

Output folders are checked before any work (a folder under a file, or one that cannot be
written, is a one-line error). Paths recorded in results files never show the user's file
system: a path in the cache becomes ``cache:REL``, one under the working directory a
relative path, one under the home folder ``~/REL``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from medlethe.errors import MedletheError


def cache_root() -> Path:
    """medlethe's cache: ``$MEDLETHE_CACHE_DIR``, else ``~/.cache/medlethe``."""
    root = os.environ.get("MEDLETHE_CACHE_DIR") or Path.home() / ".cache" / "medlethe"
    return Path(root)


def ensure_dir(path: str | Path, what: str) -> Path:
    """Create ``path`` (and its parents) or raise an error that names ``what`` it is for."""
    folder = Path(path)
    blocker = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise MedletheError(
            f"Cannot use {folder} as {what}: {blocker} is a file, not a folder. Choose "
            "another folder."
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MedletheError(f"Cannot create {what} {folder}: {exc.strerror or exc}.") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise MedletheError(f"Cannot write to {what} {folder}: permission denied.")
    return folder


def portable(value: str) -> str:
    """``value`` as recorded in a results file: an absolute path is made relative to the
    cache (``cache:REL``), the working directory, or the home folder (``~/REL``); any other
    (``/data/...``, ``/mnt/...``) becomes ``local:NAME#HASH``, its last part and a hash of the
    whole path, so no results file shows the machine's folders."""
    if not os.path.isabs(value):
        return value
    path = Path(value)
    for root, shown in ((cache_root(), "cache:"), (Path.cwd(), ""), (Path.home(), "~/")):
        try:
            rel = path.resolve().relative_to(root.resolve())
        except (ValueError, OSError):
            continue
        return f"{shown}{rel.as_posix()}" if shown or str(rel) != "." else "."
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:12]
    return f"local:{path.name}#{digest}"


def portable_tree(value: Any) -> Any:
    """:func:`portable` applied to every string in a JSON-like value."""
    if isinstance(value, str):
        return portable(value)
    if isinstance(value, Mapping):
        return {k: portable_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [portable_tree(v) for v in value]
    return value
