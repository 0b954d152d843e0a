"""Run a registered attack on an unlearned model; attacked models cached by fingerprint."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medlethe.attack import Attack, AttackContext, AttackOutput
from medlethe.base_models import cache_root
from medlethe.errors import AttackError
from medlethe.integrity import intact
from medlethe.registry import Component, Registry, get_registry
from medlethe.results.io import atomic_write_text
from medlethe.task.base import Task, fingerprint


@dataclass(frozen=True)
class AttackResult:
    """An attacked model, with what made it."""

    component: Component
    output: AttackOutput
    params: dict[str, Any]
    fingerprint: str
    seconds: float


def build_attack(
    name: str, params: dict[str, Any] | None = None, *, task: Task | None = None,
    registry: Registry | None = None,
) -> tuple[Component, Attack]:
    """The registered attack ``name`` built with ``params`` (validated), and its component;
    with ``task``, an error unless it can attack that task's models."""
    comp = (registry or get_registry()).get("attack", name)
    attack = comp.build_as(Attack, "medlethe.Attack", AttackError, **(params or {}))
    if task is not None and not attack.applies_to(task):
        raise AttackError(f"attack {name!r} attacks models of "
                          f"{', '.join(sorted(attack.output_types))} tasks, not "
                          f"{task.name!r} ({task.output_type}); 'medlethe attacks' lists "
                          "them.")
    return comp, attack


def run_attack(
    name: str, task: Task, model: Path, adapter: Path | None, model_fingerprint: str, *,
    params: dict[str, Any] | None = None, train_config: Any = None, seed: int = 0,
    progress: bool = True, registry: Registry | None = None,
) -> AttackResult:
    """Attack ``name`` on the unlearned model (``model`` plus ``adapter``, fingerprinted
    ``model_fingerprint``); an attacked model made before with the same inputs is reused."""
    started = time.perf_counter()
    comp, attack = build_attack(name, params, task=task, registry=registry)
    resolved = attack.params.model_dump()
    fp = fingerprint([model_fingerprint, comp.name, comp.plugin.distribution,
                      comp.plugin.version, resolved, seed])
    folder = cache_root() / "attack" / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}-{fp[:20]}"
    record = folder.with_suffix(".json")
    out = _cached(record, name)
    if out is None:
        ctx = AttackContext(model=model, adapter=adapter, task=task, out_dir=folder,
                            train_config=train_config, seed=seed, progress=progress)
        out = attack.attack(ctx)
        saved = {"path": str(out.path), "adapter": str(out.adapter) if out.adapter else None,
                 "meta": out.meta}
        atomic_write_text(record, json.dumps(saved, indent=2, default=str))
    return AttackResult(comp, out, resolved, "sha256:" + fp, time.perf_counter() - started)


def _cached(record: Path, name: str) -> AttackOutput | None:
    """The attacked model ``record`` names, where what the attack wrote is intact."""
    if not record.exists():
        return None
    saved = json.loads(record.read_text())
    out = AttackOutput(Path(saved["path"]), Path(saved["adapter"]) if saved["adapter"] else None,
                       saved["meta"])
    made = out.adapter or out.path
    return out if made.exists() and intact(made, f"{name} attacked model") else None
