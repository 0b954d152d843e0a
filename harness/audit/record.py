"""The audit record: versioned JSON that names no patient and holds its own content hash,
so that an edit is detectable (``medlethe audit verify RECORD``), and its one-page HTML."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from medlethe.errors import MedletheError
from medlethe.results.io import atomic_write_text

AUDIT_VERSION = 1
RECORD_FILE = "audit.json"
HASH_KEY = "record_sha256"


class AuditError(MedletheError):
    """A request, a model or a record an audit cannot use, or a failed audit."""


def salted(patient: str, salt: bytes) -> str:
    """The patient's key in the record: HMAC-SHA256 of the id under the requester's salt
    (without the salt, the id cannot be confirmed by trying candidates)."""
    return hmac.new(salt, patient.encode("utf-8"), hashlib.sha256).hexdigest()


def content_hash(record: dict[str, Any]) -> str:
    """sha256 of the record's canonical JSON (sorted keys, no spaces), its own hash left
    out."""
    body = {k: v for k, v in record.items() if k != HASH_KEY}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()


def seal(record: dict[str, Any]) -> dict[str, Any]:
    """The record with its content hash."""
    return {**record, HASH_KEY: content_hash(record)}


def verify(path: str | Path) -> dict[str, Any]:
    """The record at ``path`` if its content hash matches; an error naming the file if it
    does not (it was edited after it was written), or if it is not an audit record."""
    path = Path(path)
    if path.is_dir():
        path = path / RECORD_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AuditError(f"{path}: not a readable audit record ({exc}).") from exc
    if not isinstance(record, dict) or "audit_version" not in record or HASH_KEY not in record:
        raise AuditError(f"{path}: not an audit record (no audit_version or {HASH_KEY}).")
    if record[HASH_KEY] != content_hash(record):
        raise AuditError(f"{path}: its content does not match its {HASH_KEY}: the record was "
                         "changed after medlethe wrote it.")
    return dict(record)


def write(record: dict[str, Any], folder: Path) -> Path:
    """``audit.json`` and ``audit.html`` in ``folder``; the JSON's path."""
    from medlethe.report import page_environment

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RECORD_FILE
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
    columns = [*record["tests"], *(f"{t} under {a['label']}" for a in record.get("attacks", [])
                                   for t in record["tests"])]
    html = page_environment().get_template("audit.html.jinja").render(r=record,
                                                                        columns=columns)
    atomic_write_text(folder / "audit.html", html)
    return path
