"""Fine-tune targets (all training records) and oracles (retain only), cached by fingerprint."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from medlethe.base_models import cache_root, resolve_base_model
from medlethe.errors import MedletheError, TaskConfigError
from medlethe.fingerprint import file_fingerprint, model_fingerprint
from medlethe.integrity import intact
from medlethe.kind import kind_of
from medlethe.registry import Registry, get_registry
from medlethe.task.base import LabelledData, Task, TrainingData, fingerprint
from medlethe.training.classifier import ClassifierTrainConfig
from medlethe.training.device import fingerprint_fields
from medlethe.training.family import CAUSAL_LM, Family, family_of_model
from medlethe.training.finetune import TrainConfig

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


def family_of(model: str, task: Task | None = None) -> Family:
    """The model family that trains ``task``'s kind (without a task: the family of an
    embedded ``model``, else causal LMs)."""
    if task is not None:
        family = kind_of(task, get_registry()).family
        if family is None:
            raise MedletheError(
                f"{task.name}: its kind {task.output_type!r} names no model family, so no "
                "target can be fine-tuned for it; evaluate a model you trained instead "
                "(medlethe evaluate).")
        return family
    return family_of_model(model) or CAUSAL_LM


def default_train_config(model: str, task: Task | None = None) -> AnyTrainConfig:
    """Hyperparameters that make each embedded model learn the demo data (its family's, for
    ``task``'s kind)."""
    config: AnyTrainConfig = family_of(model, task).default_config(model)
    return config


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
    family = family_of(model, task)
    if not isinstance(config, family.config_type):
        raise MedletheError(
            f"{task.name} trains a {family.title}, but the training configuration is a "
            f"{type(config).__name__}; give --train-args of a {family.title} (docs/tasks.md)."
        )
    out = cache_root() / "finetune" / f"{on}-{fp[:20]}"
    label = "target" if on == "train" else "oracle"
    cached = (out / "medlethe_finetune.json").exists() and intact(out, label)
    if not cached:
        family.train(base, data, out, config, progress=progress, desc=f"fine-tune {label}")
    return FinetuneOutput(
        out, base, on, "sha256:" + fp, cached, time.perf_counter() - started, config
    )


#: the public name of :func:`finetune` (``medlethe.training.finetune`` is a module)
finetune_model = finetune


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
