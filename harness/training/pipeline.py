"""Fine-tune targets (all training records) and oracles (retain only), cached by fingerprint."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from medlethe.errors import MedletheError, TaskConfigError
from medlethe.fingerprint import file_fingerprint, model_fingerprint
from medlethe.integrity import intact
from medlethe.models import ENCODER_NAMES, cache_root, resolve_base_model
from medlethe.registry import Registry, get_registry
from medlethe.task.base import LabelledData, Task, TrainingData, fingerprint
from medlethe.training.classifier import ClassifierTrainConfig, train_classifier
from medlethe.training.device import fingerprint_fields
from medlethe.training.finetune import TrainConfig, train

#: the hyperparameters of either kind of model
AnyTrainConfig = TrainConfig | ClassifierTrainConfig

On = Literal["train", "retain"]


@dataclass(frozen=True)
class FinetuneOutput:
    path: Path
    base: str
    on: str
    fingerprint: str
    cached: bool
    seconds: float
    config: AnyTrainConfig


def default_train_config(model: str, task: Task | None = None) -> AnyTrainConfig:
    """Hyperparameters that make each embedded model learn the demo data (a classifier's
    for a ``classify`` task)."""
    if model in ENCODER_NAMES or (task is not None and task.output_type == "classify"):
        if model == "tiny-bert":
            return ClassifierTrainConfig()
        if model == "fusion-tiny":
            return ClassifierTrainConfig(epochs=40)
        return ClassifierTrainConfig(epochs=4, batch_size=16, learning_rate=2e-4)
    if model == "tiny":
        return TrainConfig()
    return TrainConfig(
        text_epochs=1, qa_epochs=3, batch_size=8, learning_rate=2e-4, lora_rank=16,
        lora_alpha=32, max_length=128, checkpoint_every=50,
    )


def train_config(
    model: str, overrides: dict[str, Any] | None = None, task: Task | None = None
) -> AnyTrainConfig:
    """The default configuration of ``model`` (for ``task``) with ``overrides``
    (``--train-args``); an unknown key is an error listing the known ones."""
    config = default_train_config(model, task)
    known = [f.name for f in dataclasses.fields(config)]
    unknown = sorted(set(overrides or {}) - set(known))
    if unknown:
        raise MedletheError(f"unknown --train-args {unknown}; known: {', '.join(known)}")
    return dataclasses.replace(config, **(overrides or {}))


def finetune_fingerprint(
    model: str, task: Task, on: On, config: AnyTrainConfig | None = None
) -> str:
    """What names the model ``finetune`` makes (base model, training data, hyperparameters),
    without training it: two scenarios with the same training data share their target."""
    return "sha256:" + _identity(model, task, on, config)[3]


def _identity(
    model: str, task: Task, on: On, config: AnyTrainConfig | None
) -> tuple[AnyTrainConfig, str, Any, str]:
    """(configuration, base model path, training data, fingerprint) of a fine-tune."""
    config = config or default_train_config(model, task)
    base = resolve_base_model(model, task)
    data = task.training_data(on)
    fp = fingerprint(
        [model_fingerprint(base), _data_key(data),
         fingerprint_fields(dataclasses.asdict(config))]
    )
    return config, base, data, fp


def _data_key(data: TrainingData | LabelledData) -> dict[str, Any]:
    """The training data as fingerprinted: an image by its path and content."""
    raw = dataclasses.asdict(data)
    for ex in raw["examples"]:
        if ex.get("image"):
            ex["image"] = file_fingerprint(ex["image"])
    return raw


def finetune(
    model: str,
    task: Task,
    on: On,
    *,
    config: AnyTrainConfig | None = None,
    progress: bool = True,
) -> FinetuneOutput:
    """The target (``on="train"``) or oracle (``on="retain"``) of ``task`` for ``model``.

    The output folder is named by a fingerprint of the base model, the training data and the
    hyperparameters, so a second call returns the finished model at once, and a killed call
    resumes from its last checkpoint.
    """
    started = time.perf_counter()
    config, base, data, fp = _identity(model, task, on, config)
    classify = isinstance(data, LabelledData)
    if classify != isinstance(config, ClassifierTrainConfig):
        kind = "a classifier" if classify else "a language model"
        raise MedletheError(
            f"{task.name} trains {kind}, but the training configuration is a "
            f"{type(config).__name__}; give --train-args of {kind} (docs/tasks.md)."
        )
    out = cache_root() / "finetune" / f"{on}-{fp[:20]}"
    label = "target" if on == "train" else "oracle"
    cached = (out / "medlethe_finetune.json").exists() and intact(out, label)
    if not cached:
        if isinstance(data, LabelledData):
            assert isinstance(config, ClassifierTrainConfig)
            train_classifier(base, data, out, config, progress=progress,
                             desc=f"fine-tune {label}")
        else:
            assert isinstance(config, TrainConfig)
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
    check_forget_set(task)
    return task


def check_forget_set(task: Task) -> None:
    """Refuse a scenario whose forget set is empty, before any training: there is nothing to
    unlearn, and a loss-based method would never finish an epoch."""
    data = task.training_data("forget")
    n = len(data.examples) + (len(data.texts) if isinstance(data, TrainingData) else 0)
    if n == 0:
        raise TaskConfigError(
            f"{task.name}: the forget set is empty (no training record is to be forgotten), "
            "so there is nothing to unlearn. Check the scenario's task arguments (the forget "
            "class, patients or share) and that the data's training rows contain them."
        )
