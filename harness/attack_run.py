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
from medlethe.spec import key_value
from medlethe.task.base import Task, fingerprint


@dataclass(frozen=True)
class AttackResult:
    """An attacked model, with what made it."""

    component: Component
    output: AttackOutput
    params: dict[str, Any]
    fingerprint: str
    seconds: float


def variant(entry: str) -> tuple[str, dict[str, Any]]:
    """An entry of ``--attacks``: ``NAME`` or ``NAME[K=V,...]`` -> the attack's name and
    the parameters written in it (values parse as JSON where they can)."""
    m = re.fullmatch(r"\s*([^\[\]\s]+)\s*(?:\[(.*)\])?\s*", entry)
    if m is None:
        raise AttackError(f"attack {entry!r}: write NAME or NAME[KEY=VALUE,...], e.g. "
                          "relearn[steps=5].")
    params: dict[str, Any] = {}
    for item in filter(None, (i.strip() for i in (m.group(2) or "").split(","))):
        pair = key_value(item)
        if pair is None or not pair[0].strip():
            raise AttackError(f"attack {entry!r}: {item!r} is not KEY=VALUE.")
        params[pair[0].strip()] = pair[1].strip() if isinstance(pair[1], str) else pair[1]
    return m.group(1), params


def split_entries(value: str) -> list[str]:
    """``a,b[x=1,y=2],c`` -> the entries, split at the commas outside brackets."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(value + ","):
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            out.append(value[start:i].strip())
            start = i + 1
    return [e for e in out if e]


def build_attack(
    name: str, params: dict[str, Any] | None = None, *, task: Task | None = None,
    registry: Registry | None = None,
) -> tuple[Component, Attack]:
    """The registered attack ``name`` built with ``params`` (validated), and its component;
    with ``task``, an error unless it can attack that task's models."""
    comp = (registry or get_registry()).get("attack", name)
    attack = comp.build_as(Attack, "medlethe.Attack", AttackError, **(params or {}))
    why = attack.unfit(task) if task is not None else None
    if why is not None:
        raise AttackError(f"attack {name!r} cannot attack this run's models: {why}; "
                          "'medlethe attacks' lists the attacks.")
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
                 "meta": out.meta, "prompts": out.prompts}
        atomic_write_text(record, json.dumps(saved, indent=2, default=str))
    return AttackResult(comp, out, resolved, "sha256:" + fp, time.perf_counter() - started)


def _cached(record: Path, name: str) -> AttackOutput | None:
    """The attacked model ``record`` names, where what the attack wrote is intact."""
    if not record.exists():
        return None
    saved = json.loads(record.read_text())
    prompts = saved.get("prompts")
    if prompts is not None and not (isinstance(prompts, dict) and all(
            isinstance(v, str) for v in prompts.values())):
        return None  # written by an older medlethe, in another form: attack again
    out = AttackOutput(Path(saved["path"]), Path(saved["adapter"]) if saved["adapter"] else None,
                       saved["meta"], prompts or None)
    made = out.adapter or out.path
    return out if made.exists() and intact(made, f"{name} attacked model") else None
