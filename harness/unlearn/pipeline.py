"""Run a registered method on a scenario's target; results cached by fingerprint."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medlethe.base_models import cache_root
from medlethe.chat import ChatFormat
from medlethe.fingerprint import file_fingerprint
from medlethe.integrity import intact
from medlethe.registry import Component, Registry, get_registry
from medlethe.results.io import atomic_write_text
from medlethe.task.base import LabelledText, Task, TrainingExample, fingerprint
from medlethe.training.device import is_main
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


def count_modified(target: Path, out: UnlearnOutput) -> dict[str, Any]:
    """Parameters the unlearning changed: elements that differ from the target's weights,
    or for an adapter all its elements; over the target's parameter count."""
    from safetensors import safe_open

    def tensors(folder: Path) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for f in sorted(folder.glob("*.safetensors")):
            with safe_open(str(f), "pt") as fh:
                found.update({k: fh.get_tensor(k) for k in fh.keys()})  # noqa: SIM118
        return found

    base = tensors(target)
    total = sum(t.numel() for t in base.values())
    if out.adapter is not None:
        changed = sum(t.numel() for t in tensors(out.adapter).values())
        return {"changed": changed, "total": total, "kind": "adapter elements"}
    new = tensors(out.path)
    changed = sum(int((t != base[k]).sum()) for k, t in new.items() if k in base)
    return {"changed": changed, "total": total, "kind": "changed elements"}


def _key(example: TrainingExample | LabelledText) -> tuple[Any, ...]:
    """What an example contributes to the unlearned model's fingerprint (a labelled text's
    image too, where it has one: its path and the hash of its content)."""
    if isinstance(example, LabelledText):
        key = (example.text, list(example.labels))
        return key if example.image is None else (*key, file_fingerprint(example.image))
    return (example.prompt, example.answer)


def build_method(
    name: str, params: dict[str, Any] | None = None, *, registry: Registry | None = None
) -> tuple[Component, Method]:
    """The registered method ``name`` built with ``params`` (validated), and its component."""
    comp = (registry or get_registry()).get("method", name)
    return comp, comp.build_as(Method, "medlethe.Method", MethodError, **(params or {}))


def unlearn(
    name: str,
    task: Task,
    target: FinetuneOutput,
    base_model: str,
    *,
    params: dict[str, Any] | None = None,
    progress: bool = True,
    registry: Registry | None = None,
) -> UnlearnResult:
    """Unlearn ``task``'s forget set from ``target`` with method ``name``."""
    started = time.perf_counter()
    comp, method = build_method(name, params, registry=registry)
    if not method.applies_to(task):
        needs = " with " + " and ".join(sorted(method.modalities)) if method.modalities else ""
        raise MethodError(
            f"method {name!r} unlearns {', '.join(sorted(method.output_types))} tasks{needs}, "
            f"not {task.name!r} ({task.output_type}, {' + '.join(task.modalities)}); "
            "'medlethe methods' lists each method's kind."
        )
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
            [_key(e) for e in forget],
            [_key(e) for e in retain],
        ]
    )
    root = cache_root() / "unlearn"
    record = root / f"{_slug(name)}-{fp[:20]}.json"
    cached = _cached(record, target, name)
    if cached is not None:
        return UnlearnResult(name, comp, cached, resolved, "sha256:" + fp, True,
                             time.perf_counter() - started, cached.meta)
    forget, retain = _as_trained(target, list(forget), list(retain))
    ctx = UnlearnContext(
        target=target.path,
        base_model=base_model,
        task=task,
        forget=forget,
        retain=retain,
        out_dir=root / f"{_slug(name)}-{fp[:20]}",
        progress=progress,
        train_config=target.config,
    )
    out = method.unlearn(ctx)
    meta = {
        **out.meta,
        "seconds": round(time.perf_counter() - started, 2),
        "params_modified": count_modified(target.path, out),
    }
    if is_main():  # under a launch of several processes, the main one records
        saved = {"path": str(out.path), "adapter": str(out.adapter) if out.adapter else None,
                 "meta": meta}
        atomic_write_text(record, json.dumps(saved, indent=2, default=str))
    return UnlearnResult(
        name, comp, out, resolved, "sha256:" + fp, False, time.perf_counter() - started, meta
    )


def _cached(record: Path, target: FinetuneOutput, name: str) -> UnlearnOutput | None:
    """The unlearned model ``record`` names, where it and what the method wrote are
    intact (``None``: unlearn again)."""
    if not record.exists():
        return None
    saved = json.loads(record.read_text())
    out = UnlearnOutput(Path(saved["path"]), Path(saved["adapter"]) if saved["adapter"] else None,
                        saved["meta"])
    made = out.adapter or out.path  # what the method wrote (the target is checked apart)
    if not (made.exists() and out.path.exists() and intact(made, f"{name} model")):
        return None
    if "params_modified" not in out.meta:
        out.meta["params_modified"] = count_modified(target.path, out)
    return out


def _as_trained(target: FinetuneOutput, forget: list[Any], retain: list[Any]) -> tuple[
        list[Any], list[Any]]:
    """The forget and retain examples with their prompts as the target was fine-tuned on
    them (in its chat template where it used one)."""
    chat = ChatFormat.of(target.config)
    if not chat.apply:
        return forget, retain
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(target.path)
    return list(chat.examples(tok, forget)), list(chat.examples(tok, retain))
