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

Under ``accelerate launch --num_processes N`` (several GPUs, or CPU processes with gloo)
training is data-parallel: every process holds the whole model, takes its contiguous share
of each step's rows (:meth:`Runtime.split`), weights each micro-batch by its share of the
*whole* step, and the gradients are summed across processes once per step
(:meth:`Runtime.sync`), so the step's gradient is the one of the whole batch, as one process
computes it. Only the main process writes (checkpoints, the finished model); the others wait
for it (:meth:`Runtime.wait`). Each step the processes also check that they are at the same
step of the same run, so a process that fell out of step stops the launch with an error
rather than pairing its gradients with another run's. Sharded training (FSDP, DeepSpeed) is
not supported: a model that does not fit one device trains as LoRA, in bf16, with gradient
checkpointing.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
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

#: how long a process waits for the others at a step or a barrier (the main process
#: evaluates while the others wait for the next training run)
WAIT = timedelta(hours=12)


def launched() -> int:
    """How many processes the launch that started this one has (1 outside ``accelerate
    launch`` or torchrun), read from the environment without starting anything."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def processes() -> tuple[int, int]:
    """(this process's rank, the number of processes): (0, 1) outside a launch of several
    processes (``accelerate launch``, torchrun), without starting anything."""
    if launched() <= 1:
        return 0, 1
    from accelerate import PartialState

    # joins the launch's process group, if not yet: gloo where there is no accelerator
    state = PartialState(cpu=not _has_accelerator(), timeout=WAIT)
    return state.process_index, state.num_processes


@contextmanager
def main_first() -> Iterator[None]:
    """Under a launch of several processes the main one runs the block first (building
    what the others then find cached), the others after it; outside a launch, just the
    block."""
    if processes()[1] == 1:
        yield
        return
    from accelerate import PartialState

    with PartialState().main_process_first():
        yield


def _has_accelerator() -> bool:
    import torch

    return bool(torch.accelerator.is_available())


def is_main() -> bool:
    """Whether this is the process that writes and evaluates (always, outside a launch)."""
    return processes()[0] == 0


class Runtime:
    """An accelerate ``Accelerator`` for one training run, and what it placed."""

    def __init__(self, settings: DeviceSettings, *, data_parallel: bool = False,
                 name: str = "this training") -> None:
        """``data_parallel``: the caller takes each step's rows through :meth:`split` (and
        may run in several processes); otherwise a launch with several is refused, naming
        ``name``."""
        from accelerate import Accelerator, DistributedType
        from accelerate.state import AcceleratorState

        self.settings = settings
        k = settings.gradient_accumulation_steps
        #: micro-batches per optimizer step (found by doubling under ``auto``)
        self.parts = 1 if k == "auto" else int(k)
        self.auto = k == "auto"
        wanted = PRECISIONS[settings.precision]
        processes()  # a launch's process group, joined with medlethe's patience (WAIT)
        if AcceleratorState._shared_state and AcceleratorState().mixed_precision != wanted:
            AcceleratorState._reset_state()  # a process may train in several precisions
        try:
            self.accelerator = Accelerator(mixed_precision=wanted, cpu=not _has_accelerator())
        except ValueError as exc:
            raise MedletheError(
                f"precision {settings.precision} cannot run here: {exc} Use precision=fp32 or "
                "bf16 on a CPU, fp16 on a GPU (--train-args)."
            ) from exc
        acc = self.accelerator
        self.rank, self.world = acc.process_index, acc.num_processes
        if acc.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED,
                                    DistributedType.MEGATRON_LM):
            raise MedletheError(
                f"medlethe trains data-parallel (every process holds the model); "
                f"{acc.distributed_type.value} is not supported. Launch without it "
                "(`accelerate launch --multi_gpu`), and fit a large model with "
                "--train-args lora_rank=16,precision=bf16,gradient_checkpointing=true."
            )
        if self.world > 1 and not data_parallel:
            raise MedletheError(
                f"{name} runs in one process (one GPU or the CPU), not across the "
                f"{self.world} processes of `accelerate launch`: run it without accelerate "
                "launch, or with --num_processes 1."
            )

    @property
    def device(self) -> Any:
        return self.accelerator.device

    def describe(self) -> dict[str, Any]:
        """What the results record about where training ran."""
        found = {"micro_batches": self.parts} if self.auto else {}
        return {"device": str(self.device), "processes": self.world,
                **asdict(self.settings), **found}

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, idx: Sequence[int]) -> list[int]:
        """This process's contiguous share of a step's rows (all of them in one process;
        none where there are fewer rows than processes)."""
        if self.world == 1:
            return list(idx)
        shares = micro_batches(idx, self.world)
        return shares[self.rank] if self.rank < len(shares) else []

    def split(self, idx: Sequence[int]) -> list[list[int]]:
        """This process's micro-batches of one optimizer batch's rows."""
        mine = self.shard(idx)
        return micro_batches(mine, self.parts) if mine else []

    def sync(self, params: Sequence[Any], loss: Any, tag: str, step: int) -> Any:
        """After a step's backward passes: the gradients of ``params`` and the step's loss
        summed across processes (each process weighted its rows by their share of the
        whole step, so the sums are the whole step's), after checking that every process
        is at ``step`` of the run named ``tag``. One process: ``loss`` unchanged."""
        import torch

        if self.world == 1:
            return loss
        from accelerate.utils import gather

        here = torch.tensor([zlib.crc32(tag.encode()), step], device=self.device)
        seen = gather(here).view(self.world, 2)
        if not bool((seen == here).all()):
            raise MedletheError(
                f"the {self.world} processes of this launch are out of step ({tag}: steps "
                f"{seen[:, 1].tolist()}); one of them failed or skipped work. Stop the launch "
                "and start it again: finished models are kept and resumed from."
            )
        grads = []
        for p in params:
            if p.grad is None:  # a process without rows this step contributes zeros
                p.grad = torch.zeros_like(p)
            grads.append(p.grad)
        for dtype in dict.fromkeys(g.dtype for g in grads):  # the same order in every process
            same = [g for g in grads if g.dtype == dtype]
            flat = torch.cat([g.reshape(-1) for g in same])
            torch.distributed.all_reduce(flat)
            for g, part in zip(same, flat.split([g.numel() for g in same]), strict=True):
                g.copy_(part.view_as(g))
        total = loss.detach().to(self.device, torch.float32).reshape(1)
        torch.distributed.all_reduce(total)
        return total[0]

    def wait(self) -> None:
        """All processes of the launch wait here (the others for the main one's writes)."""
        self.accelerator.wait_for_everyone()

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
        """Model (autocast where the precision asks) and optimizer (loss scaling), never
        wrapped in DistributedDataParallel: :meth:`sync` sums the gradients instead."""
        acc = self.accelerator
        return acc.prepare_model(model, evaluation_mode=True), acc.prepare_optimizer(optimizer)

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


def accumulate(runtime: Runtime, idx: Sequence[int], loss_of: Callable[[list[int]], Any],
               size: Callable[[int], int] | None = None) -> Any:
    """One optimizer step's gradients over the rows ``idx``, in the runtime's micro-batches
    (this process's share of them): ``loss_of(part)`` is a micro-batch's mean loss over its
    units (``size(row)`` of them in a row, one by default: a language model's loss is a
    mean over answer tokens); each is weighted by its share of all the step's units and
    backpropagated, so the sum is the whole step's mean; the (detached) sum of this
    process's weighted losses is returned (zero where it has no rows)."""
    import torch

    count = size or (lambda row: 1)
    whole = sum(count(i) for i in idx)
    total = torch.zeros((), device=runtime.device)
    for part in runtime.split(idx):
        loss = loss_of(part)
        if len(part) != len(idx):  # the micro-batch's share of the step's mean
            loss = loss * (sum(count(i) for i in part) / whole)
        backward(loss)
        total = total + loss.detach()
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
