"""Run a registered method on a scenario's target; results cached by fingerprint."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medlethe.models import cache_root
from medlethe.registry import Component, get_registry
from medlethe.results.io import atomic_write_text
from medlethe.task.base import Task, fingerprint
from medlethe.training.pipeline import FinetuneOutput
from medlethe.unlearn.base import Method, MethodError, UnlearnContext, UnlearnOutput


@dataclass(frozen=True)
class UnlearnResult:
    method: str
    component: Component
    output: UnlearnOutput
    params: dict[str, Any]
    fingerprint: str
    cached: bool
    seconds: float
    meta: dict[str, Any] = field(default_factory=dict)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def build_method(name: str, params: dict[str, Any] | None = None) -> tuple[Component, Method]:
    comp = get_registry().get("method", name)
    method = comp.build(**(params or {}))
    if not isinstance(method, Method):
        raise MethodError(
            f"Method {name!r} of plugin {comp.plugin.name!r}: its factory returned "
            f"{type(method).__name__}, not a medlethe.unlearn.Method."
        )
    return comp, method


def unlearn(
    name: str,
    task: Task,
    target: FinetuneOutput,
    base_model: str,
    *,
    params: dict[str, Any] | None = None,
    progress: bool = True,
) -> UnlearnResult:
    """Unlearn ``task``'s forget set from ``target`` with method ``name``."""
    started = time.perf_counter()
    comp, method = build_method(name, params)
    forget = task.training_data("forget").examples
    retain = task.training_data("retain").examples
    resolved = method.params.model_dump()
    fp = fingerprint(
        [
            target.fingerprint,
            comp.name,
            comp.plugin.distribution,
            comp.plugin.version,
            method.version,
            resolved,
            [(e.prompt, e.answer) for e in forget],
            [(e.prompt, e.answer) for e in retain],
        ]
    )
    root = cache_root() / "unlearn"
    record = root / f"{_slug(name)}-{fp[:20]}.json"
    if record.exists():
        saved = json.loads(record.read_text())
        out = UnlearnOutput(
            Path(saved["path"]),
            Path(saved["adapter"]) if saved["adapter"] else None,
            saved["meta"],
        )
        if out.path.exists() and (out.adapter is None or out.adapter.exists()):
            return UnlearnResult(
                name,
                comp,
                out,
                resolved,
                "sha256:" + fp,
                True,
                time.perf_counter() - started,
                out.meta,
            )
    ctx = UnlearnContext(
        target=target.path,
        base_model=base_model,
        task=task,
        forget=list(forget),
        retain=list(retain),
        out_dir=root / f"{_slug(name)}-{fp[:20]}",
        progress=progress,
        train_config=target.config,
    )
    out = method.unlearn(ctx)
    meta = {**out.meta, "seconds": round(time.perf_counter() - started, 2)}
    atomic_write_text(
        record,
        json.dumps(
            {
                "path": str(out.path),
                "adapter": str(out.adapter) if out.adapter else None,
                "meta": meta,
            },
            indent=2,
            default=str,
        ),
    )
    return UnlearnResult(
        name, comp, out, resolved, "sha256:" + fp, False, time.perf_counter() - started, meta
    )
