"""Pieces shared by fine-tuning and unlearning: batching, schedule, checkpoints, finishing.

A run writes into ``OUT.partial``; a checkpoint (model, optimizer, scheduler, step) is saved
every few steps under ``OUT.partial/checkpoint``; the finished folder is renamed to ``OUT``
so that a folder without ``.partial`` is always complete.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Encoded = tuple[list[int], list[int]]


def collate(items: Sequence[Encoded], pad: int) -> tuple[Any, Any, Any]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 on padding)."""
    import torch

    width = max(len(ids) for ids, _ in items)
    ids = torch.tensor([i + [pad] * (width - len(i)) for i, _ in items])
    labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in items])
    mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in items])
    return ids, mask, labels


def linear_schedule(opt: Any, total: int, warmup_ratio: float) -> Any:
    """Linear warm-up, then linear decay to zero at ``total`` steps."""
    import torch

    warmup = max(1, int(total * warmup_ratio))

    def factor(s: int) -> float:
        return (s + 1) / warmup if s < warmup else max(0.0, (total - s) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def work_dir(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def save_checkpoint(work: Path, model: Any, opt: Any, sched: Any, step: int) -> None:
    import torch

    path = work / "checkpoint"
    path.mkdir(parents=True, exist_ok=True)
    state = {
        "model": {k: v for k, v in model.state_dict().items()},
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "step": step,
    }
    torch.save(state, path / "state.pt.tmp")
    (path / "state.pt.tmp").replace(path / "state.pt")


def load_checkpoint(work: Path, model: Any, opt: Any, sched: Any) -> int:
    """Restore the last checkpoint into model, optimizer and scheduler; the step, or 0."""
    import torch

    path = work / "checkpoint" / "state.pt"
    if not path.exists():
        return 0
    state = torch.load(path, weights_only=False)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    return int(state["step"])


def finish(work: Path, out: Path, meta_name: str, meta: dict[str, Any]) -> Path:
    """Write the run's metadata, drop the checkpoint, and move ``work`` to ``out``."""
    (work / meta_name).write_text(json.dumps(meta, indent=2, default=str))
    shutil.rmtree(work / "checkpoint", ignore_errors=True)
    if out.exists():
        shutil.rmtree(out)
    work.rename(out)
    return out
