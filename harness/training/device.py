"""Where and how training runs: the device, the precision, gradient accumulation and
gradient checkpointing, through Hugging Face accelerate.

One :class:`Runtime` serves a fine-tune or an unlearning run: the model is placed on the
accelerator's device (a GPU where there is one, else the CPU), its forward runs under
autocast for ``bf16``/``fp16`` (the weights the optimizer updates stay float32), ``fp16``
scales the loss (:func:`backward`), and a step's batch is split into
``gradient_accumulation_steps`` micro-batches whose gradients add up to the step's (the
optimizer batch, and so the data plan and the numbers, stay those of ``batch_size``);
``auto`` starts with one and doubles the count after an out-of-memory error, redoing the
step (the largest micro-batch that fits, as lm-eval and accelerate find a batch size).
Settings come from the training configuration (``--train-args precision=bf16,...``); an
unlearning run uses its target's. fp32 on a CPU is exactly the loop without accelerate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from medlethe.errors import MedletheError

PRECISIONS = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}
#: the training-configuration fields this module reads, with their defaults (left out of
#: fingerprints at these values, so that models trained before they existed keep theirs)
DEFAULTS: dict[str, Any] = {"precision": "fp32", "gradient_accumulation_steps": 1,
            "gradient_checkpointing": False}


@dataclass(frozen=True)
class DeviceSettings:
    precision: str = "fp32"
    gradient_accumulation_steps: int | str = 1
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise MedletheError(f"training argument precision must be one of "
                                f"{', '.join(PRECISIONS)}, got {self.precision!r} (--train-args).")
        k = self.gradient_accumulation_steps
        if k != "auto" and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise MedletheError("training argument gradient_accumulation_steps must be a whole "
                                f"number at least 1 or auto, got {k!r} (--train-args).")
        if not isinstance(self.gradient_checkpointing, bool):
            raise MedletheError("training argument gradient_checkpointing must be true or "
                                f"false, got {self.gradient_checkpointing!r} (--train-args).")

    @classmethod
    def of(cls, config: Any) -> DeviceSettings:
        """The settings a training configuration carries (the defaults where it has none)."""
        return cls(**{k: getattr(config, k, v) for k, v in DEFAULTS.items()})

    @property
    def dtype(self) -> Any:
        """The compute dtype: float32, bfloat16 or float16."""
        import torch

        return {"fp32": torch.float32, "bf16": torch.bfloat16,
                "fp16": torch.float16}[self.precision]


#: every training-configuration field added after models were first cached, with its default
LATER_FIELDS: dict[str, Any] = {**DEFAULTS, "chat_template": False, "system_instruction": None}


def fingerprint_fields(config: dict[str, Any]) -> dict[str, Any]:
    """A training configuration as fingerprinted: the later fields only where not default."""
    return {k: v for k, v in config.items()
            if k not in LATER_FIELDS or v != LATER_FIELDS[k]}


_CURRENT: list[Runtime] = []


class Runtime:
    """An accelerate ``Accelerator`` for one training run, and what it placed."""

    def __init__(self, settings: DeviceSettings) -> None:
        from accelerate import Accelerator
        from accelerate.state import AcceleratorState

        self.settings = settings
        k = settings.gradient_accumulation_steps
        #: micro-batches per optimizer step (found by doubling under ``auto``)
        self.parts = 1 if k == "auto" else int(k)
        self.auto = k == "auto"
        wanted = PRECISIONS[settings.precision]
        if AcceleratorState._shared_state and AcceleratorState().mixed_precision != wanted:
            AcceleratorState._reset_state()  # a process may train in several precisions
        try:
            self.accelerator = Accelerator(mixed_precision=wanted)
        except ValueError as exc:
            raise MedletheError(
                f"precision {settings.precision} cannot run here: {exc} Use precision=fp32 or "
                "bf16 on a CPU, fp16 on a GPU (--train-args)."
            ) from exc
        if self.accelerator.num_processes > 1:
            raise MedletheError(
                "medlethe's training runs in one process (one GPU or the CPU); a run under "
                f"`accelerate launch` with {self.accelerator.num_processes} processes is not "
                "supported yet. Run `medlethe run` without accelerate launch."
            )

    @property
    def device(self) -> Any:
        return self.accelerator.device

    def describe(self) -> dict[str, Any]:
        """What the results record about where training ran."""
        found = {"micro_batches": self.parts} if self.auto else {}
        return {"device": str(self.device), "processes": self.accelerator.num_processes,
                **asdict(self.settings), **found}

    def split(self, idx: Sequence[int]) -> list[list[int]]:
        """One optimizer batch's rows as this run's micro-batches."""
        return micro_batches(idx, self.parts)

    def fits(self, exc: BaseException) -> bool:
        """After ``exc`` in a step: whether to retry it in twice as many micro-batches (an
        out-of-memory error under ``auto``); the gradients of the failed try are dropped by
        the caller."""
        from accelerate.utils.memory import clear_device_cache, should_reduce_batch_size

        if not (self.auto and should_reduce_batch_size(exc)) or self.parts >= 4096:
            return False
        clear_device_cache(garbage_collection=True)
        self.parts *= 2
        return True

    def place(self, model: Any) -> Any:
        """The model on the device, with gradient checkpointing where asked."""
        if self.settings.gradient_checkpointing:
            if not getattr(model, "supports_gradient_checkpointing", False):
                raise MedletheError(
                    f"{type(model).__name__} does not support gradient checkpointing; drop "
                    "gradient_checkpointing from --train-args."
                )
            model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False})
            if hasattr(model, "enable_input_require_grads"):
                model.enable_input_require_grads()  # LoRA: inputs of frozen layers need grads
        return model.to(self.device)

    def place_frozen(self, model: Any) -> Any:
        """A frozen model (a reference) on the device, in the run's compute dtype."""
        return model.to(self.device, dtype=self.settings.dtype)

    def batch(self, tensors: Sequence[Any]) -> list[Any]:
        """Tensors (or ``None``) moved to the device."""
        return [t.to(self.device) if t is not None else None for t in tensors]

    def prepare(self, model: Any, optimizer: Any) -> tuple[Any, Any]:
        return self.accelerator.prepare(model, optimizer)

    @contextmanager
    def active(self) -> Iterator[Runtime]:
        """Make :func:`backward` use this run's accelerator (loss scaling under fp16)."""
        _CURRENT.append(self)
        try:
            yield self
        finally:
            _CURRENT.pop()


def backward(loss: Any) -> None:
    """``loss.backward()``, through the running accelerator (which scales an fp16 loss):
    call this, not ``loss.backward()``, in a method's own ``backward``."""
    if _CURRENT:
        _CURRENT[-1].accelerator.backward(loss)
    else:
        loss.backward()


def accumulate(runtime: Runtime, idx: Sequence[int], loss_of: Callable[[list[int]], Any]) -> Any:
    """One optimizer step's gradients over the rows ``idx``, in the runtime's micro-batches:
    ``loss_of(part)`` is a micro-batch's mean loss; each is weighted by its share of the
    rows and backpropagated; the step's (detached) loss is returned."""
    parts = runtime.split(idx)
    total = None
    for part in parts:
        loss = loss_of(part)
        if len(parts) > 1:  # each micro-batch's share of the step's mean
            loss = loss * (len(part) / len(idx))
        backward(loss)
        total = loss.detach() if total is None else total + loss.detach()
    return total


def micro_batches(idx: Sequence[int], parts: int) -> list[list[int]]:
    """``idx`` split into at most ``parts`` runs of near-equal length (none empty)."""
    parts = max(1, min(parts, len(idx)))
    size, extra = divmod(len(idx), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (i < extra)
        out.append(list(idx[start:end]))
        start = end
    return out


class AdapterOff:
    """The frozen reference of a LoRA run without a second copy: the model being trained
    with its adapter switched off (the target, since a new adapter starts at zero)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import torch

        with torch.no_grad(), self.model.disable_adapter():
            return self.model(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)
