"""Fine-tune targets (all training records) and oracles (retain only), cached by fingerprint."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from medlethe.fingerprint import model_fingerprint
from medlethe.models import cache_root, resolve_base_model
from medlethe.registry import Registry, get_registry
from medlethe.task.base import Task, fingerprint
from medlethe.training.finetune import TrainConfig, train

On = Literal["train", "retain"]


@dataclass(frozen=True)
class FinetuneOutput:
    path: Path
    base: str
    on: str
    fingerprint: str
    cached: bool
    seconds: float
    config: TrainConfig


def default_train_config(model: str) -> TrainConfig:
    """Hyperparameters that make each embedded model learn the demo data."""
    if model == "tiny":
        return TrainConfig()
    return TrainConfig(
        text_epochs=1, qa_epochs=3, batch_size=8, learning_rate=2e-4, lora_rank=16,
        lora_alpha=32, max_length=128, checkpoint_every=50,
    )


def finetune(
    model: str,
    task: Task,
    on: On,
    *,
    config: TrainConfig | None = None,
    progress: bool = True,
) -> FinetuneOutput:
    """The target (``on="train"``) or oracle (``on="retain"``) of ``task`` for ``model``.

    The output folder is named by a fingerprint of the base model, the training data and the
    hyperparameters, so a second call returns the finished model at once, and a killed call
    resumes from its last checkpoint.
    """
    started = time.perf_counter()
    config = config or default_train_config(model)
    base = resolve_base_model(model, task)
    data = task.training_data(on)
    fp = fingerprint(
        [model_fingerprint(base), dataclasses.asdict(data), dataclasses.asdict(config)]
    )
    out = cache_root() / "finetune" / f"{on}-{fp[:20]}"
    cached = (out / "medlethe_finetune.json").exists()
    if not cached:
        label = "target" if on == "train" else "oracle"
        train(base, data, out, config, progress=progress, desc=f"fine-tune {label}")
    return FinetuneOutput(
        out, base, on, "sha256:" + fp, cached, time.perf_counter() - started, config
    )


def load_scenario(
    name: str, task_args: dict[str, Any] | None = None, *, registry: Registry | None = None
) -> Task:
    """The registered task ``name`` (or a YAML file) built with ``task_args``."""
    from medlethe.evaluator import load_task

    task, _ = load_task(registry or get_registry(), name, task_args)
    return task
