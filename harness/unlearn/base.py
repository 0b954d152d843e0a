"""The unlearning-method contract.

A method receives the target model, the forget and retain data (and builds the frozen
reference model when it needs one) and returns an unlearned model: full weights or a PEFT
adapter. Most methods are a loss: subclass :class:`LossMethod`, declare typed
hyperparameters, and write ``loss``; the shared trainer does the rest (data loaders,
optimizer and schedule, full or LoRA training, seeds, progress, checkpoints, resume).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from medlethe.errors import MedletheError
from medlethe.hookspecs import Named
from medlethe.kind import applies
from medlethe.task.base import Task

#: the output types of language-model tasks (a method for them trains a causal LM)
LM_TASKS = frozenset({"generate", "multiple_choice", "loglikelihood"})


class MethodError(MedletheError):
    """A method's hyperparameters are invalid, or the method failed."""


class NoParams(BaseModel):
    """Hyperparameters of a method that takes none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MethodParams(BaseModel):
    """Hyperparameters every loss-based method shares. Subclass to add your own; every
    field needs a default and a description (``medlethe methods --params NAME`` lists them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: float = Field(5.0, gt=0, description="passes over the forget set")
    batch_size: int = Field(8, ge=1, description="forget (and retain) examples per step")
    learning_rate: float = Field(5e-4, gt=0, description="AdamW peak learning rate")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="share of steps warming up")
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    lora_rank: int | None = Field(None, ge=1, description="train a LoRA adapter of this rank")
    lora_alpha: int = Field(16, ge=1)
    max_length: int = Field(192, ge=8, description="tokens per example at most")
    seed: int = 0
    checkpoint_every: int = Field(50, ge=1, description="steps between checkpoints")


@dataclass(frozen=True)
class UnlearnContext:
    """Everything a method may use. ``target`` is a full model folder."""

    target: Path
    base_model: str
    task: Task
    #: ``medlethe.task.TrainingExample`` s (QA) for a language model,
    #: ``medlethe.task.LabelledText`` s for a ``classify`` task
    forget: list[Any]
    retain: list[Any]
    out_dir: Path
    progress: bool = True
    #: the fine-tuning configuration the target was trained with (Retrain reuses it)
    train_config: Any = None


@dataclass(frozen=True)
class UnlearnOutput:
    """The unlearned model: ``path`` is a full model folder; where ``adapter`` is set, the
    model is ``path`` (the target) plus that PEFT adapter."""

    path: Path
    adapter: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Batch:
    """Right-padded token ids, attention mask and labels (-100 on prompt and padding);
    ``index`` gives each row's position in the forget or retain list. For a ``classify``
    task, ``labels`` are a 0/1 float matrix of gold classes (multi-label) or the gold class
    indices (single-label), as transformers' classification losses take them."""

    input_ids: Any
    attention_mask: Any
    labels: Any
    index: list[int]
    #: image + text classifiers: the images, (batch, 1, H, W) floats in [0, 1]
    pixel_values: Any = None
    #: this batch's share of the optimizer step (1 unless the step is taken in micro-batches,
    #: ``gradient_accumulation_steps``): a loss backpropagated is scaled by it
    share: float = 1.0

    def inputs(self) -> dict[str, Any]:
        """The model inputs of the batch (ids, mask, and images where there are any)."""
        out = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        if self.pixel_values is not None:
            out["pixel_values"] = self.pixel_values
        return out


def knobs(**values: Sequence[Any]) -> Mapping[str, tuple[Any, ...]]:
    """A method's :attr:`Method.front_space`: ``knobs(learning_rate=(1e-4, 5e-4),
    alpha=(0.5, 1, 2))`` (read-only)."""
    return MappingProxyType({k: tuple(v) for k, v in values.items()})


class Method(Named, ABC):
    """Subclass this (or :class:`LossMethod`) and register it with ``register_methods``."""

    version: ClassVar[str] = "1"
    Params: ClassVar[type[BaseModel]] = NoParams
    #: the task output types the method can unlearn: language-model tasks by default;
    #: ``frozenset({"classify"})`` for a method of sequence classifiers
    output_types: ClassVar[frozenset[str]] = LM_TASKS
    #: input modalities the method needs beyond text (``{"image"}``: image + text models)
    modalities: ClassVar[frozenset[str]] = frozenset()
    #: the settings a front sweeps (``medlethe sweep --front``): hyperparameter -> values.
    #: Default: the learning rate at a third of, at and at three times its default, and
    #: likewise the epochs at half, once and twice, where the method has them.
    front_space: ClassVar[Mapping[str, tuple[Any, ...]] | None] = None
    params: Any

    @classmethod
    def search_space(cls) -> dict[str, list[Any]]:
        """The settings its front sweeps: :attr:`front_space`, or the default above."""
        if cls.front_space is not None:
            return {k: list(v) for k, v in cls.front_space.items()}
        fields, out = cls.Params.model_fields, {}
        for name, factors in (("learning_rate", (1 / 3, 1, 3)), ("epochs", (0.5, 1, 2))):
            default = fields[name].default if name in fields else None
            if isinstance(default, int | float) and not isinstance(default, bool):
                out[name] = [type(default)(float(f"{default * f:.2g}")) for f in factors]
        return out

    def applies_to(self, task: Task) -> bool:
        """Whether the method can unlearn ``task``'s kind of model."""
        return applies(self, task) and self.modalities <= set(task.modalities)

    def __init__(self, **params: Any) -> None:
        try:
            self.params = self.Params(**params)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            known = ", ".join(self.Params.model_fields)
            raise MethodError(
                f"invalid hyperparameters ({problems}). Known: {known}."
            ) from exc

    @abstractmethod
    def unlearn(self, ctx: UnlearnContext) -> UnlearnOutput:
        """Produce the unlearned model under ``ctx.out_dir``."""


class LossMethod(Method):
    """A method defined by its loss on a forget batch and a retain batch."""

    Params: ClassVar[type[BaseModel]] = MethodParams
    #: build a frozen copy of the target, passed to ``loss`` as ``ref``
    needs_reference: ClassVar[bool] = False

    def setup(self, model: Any, ref: Any, tokenizer: Any, ctx: UnlearnContext) -> None:
        """Called once before training (prepare extra data, random vectors...)."""

    def trainable(self, model: Any) -> Iterator[tuple[str, Any]]:
        """The parameters to train; all of them by default (all adapter ones with LoRA)."""
        return ((n, p) for n, p in model.named_parameters() if p.requires_grad)

    @abstractmethod
    def loss(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        """The scalar loss to minimise for one step."""

    def describe(self) -> dict[str, Any]:
        """What the method wants recorded after training (selected parameters, privacy
        spent, ...): stored under ``method_info`` in the unlearned model's provenance."""
        return {}

    def backward(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        """Compute one step's gradients and return its (detached) loss: the loss times
        ``forget.share``, through :func:`medlethe.training.device.backward`, by default.
        Override to shape gradients (projections, masks, per-sample clipping); the shared
        loop then clips the total norm and takes the optimizer step. An override that
        handles micro-batches, fp16 and the processes of a launch itself (it sees only
        its process's rows; its gradients are summed across processes) sets
        ``handles_device_settings = True``."""
        from medlethe.training.device import backward

        loss = self.loss(model, ref, forget, retain)
        if forget.share != 1.0:
            loss = loss * forget.share
        backward(loss)
        return loss.detach()

    def unlearn(self, ctx: UnlearnContext) -> UnlearnOutput:
        from medlethe.unlearn.trainer import train_loss_method

        return train_loss_method(self, ctx)
