"""Atomic writing and validated reading of results files."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from medlethe.errors import ResultsError
from medlethe.results.schema import RESULTS_SCHEMA_VERSION, Results


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); outputs get the mode any new file would
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(results: Results, path: Path) -> None:
    atomic_write_text(path, results.model_dump_json(indent=2) + "\n")


def read_results(path: str | Path) -> Results:
    path = Path(path)
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"Cannot read results file {path}: {exc}") from exc
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if version != RESULTS_SCHEMA_VERSION:
        raise ResultsError(
            f"Results file {path} has schema_version {version!r}; this medlethe reads version "
            f"{RESULTS_SCHEMA_VERSION}. Re-run with a matching medlethe version."
        )
    try:
        return Results.model_validate(raw)
    except ValidationError as exc:
        raise ResultsError(f"Results file {path} is malformed: {exc}") from exc


def json_schema() -> dict[str, Any]:
    return Results.model_json_schema()
