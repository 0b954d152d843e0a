"""Fingerprints of models, adapters and files, so results say exactly what was measured."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json", ".model", ".txt", ".gguf", ".jinja")


@functools.lru_cache(maxsize=64)
def _hash_dir(path: str, stamp: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for name, _, _ in stamp:
        h.update(name.encode())
        with open(Path(path) / name, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def model_fingerprint(name_or_path: str, revision: str | None = None) -> str:
    """sha256 of a local model or adapter folder's weight, config and tokenizer files;
    ``hub:ID@REVISION`` for a hub id (the hub pins content by revision)."""
    p = Path(name_or_path)
    if p.is_file():
        files = [p]
        root = p.parent
    elif p.is_dir():
        root = p
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in _WEIGHT_SUFFIXES)
        # weights, configs and tokenizer only: medlethe's own run records
        # (medlethe_*.json: hyperparameters, timings) do not change what the model computes
        files = [
            f for f in files
            if "checkpoint" not in f.relative_to(p).parts[0] and not f.name.startswith("medlethe_")
        ]
    else:
        return f"hub:{name_or_path}@{revision or 'main'}"
    stamp = tuple((str(f.relative_to(root)), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return "sha256:" + _hash_dir(str(root), stamp)


def weights_fingerprint(model: str, adapter: str | None, revision: str | None, *extra: str) -> str:
    """Fingerprint of a base model, an optional adapter on it and backend settings that change
    its outputs: the response cache's model key."""
    parts = [model_fingerprint(model, revision)]
    if adapter:
        parts.append(model_fingerprint(adapter))
    return "|".join([*parts, *extra])


@functools.lru_cache(maxsize=8192)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_fingerprint(path: str) -> str:
    """``PATH#sha256`` of a data file (an image): its name and its content, so that a file
    replaced under the same name is another input. A missing file keeps its name only."""
    try:
        st = Path(path).stat()
    except OSError:
        return path
    return f"{path}#{_file_digest(path, st.st_size, st.st_mtime_ns)[:16]}"
