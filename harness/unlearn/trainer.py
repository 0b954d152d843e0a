"""The trainer of loss-based unlearning methods, on medlethe's one training loop.

Steps: ``ceil(epochs * |forget| / batch_size)``. Forget batches follow a per-epoch shuffle
fixed by the seed; retain batches are drawn by a second seeded stream, so a resumed run
takes exactly the steps of an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from pathlib import Path
from typing import Any

from medlethe.errors import MedletheError
from medlethe.training.device import AdapterOff, DeviceSettings, Runtime, micro_batches
from medlethe.training.loop import (
    LoopConfig,
    add_lora,
    finish,
    train_steps,
    work_dir,
)
from medlethe.training.pipeline import family_of
from medlethe.unlearn.base import Batch, LossMethod, UnlearnContext, UnlearnOutput

META = "medlethe_unlearn.json"


def _order(n: int, steps: int, batch: int, seed: str) -> list[list[int]]:
    if n == 0:  # an empty set never fills a pass: refuse rather than loop forever
        raise ValueError("cannot draw batches from an empty set")
    out: list[list[int]] = []
    epoch = 0
    while len(out) < steps:
        idx = list(range(n))
        random.Random(f"{seed}:{epoch}").shuffle(idx)
        out.extend(idx[i : i + batch] for i in range(0, n, batch))
        epoch += 1
    return out[:steps]


def _check_settings(method: LossMethod, settings: DeviceSettings) -> DeviceSettings:
    """The settings a method runs with. One that computes each step's gradient itself (its
    own ``backward``) cannot take it in micro-batches (``auto`` means one for it), nor scale
    an fp16 loss it does not pass through :func:`medlethe.training.device.backward`, unless
    it says it does."""
    if not _own_gradients(method):
        return settings
    if settings.gradient_accumulation_steps == "auto":
        settings = dataclasses.replace(settings, gradient_accumulation_steps=1)
    if settings.gradient_accumulation_steps != 1:
        raise MedletheError(
            f"{method.name} computes each step's gradient itself, so it cannot split the step "
            "into micro-batches: train the target with gradient_accumulation_steps=1, or lower "
            "the method's batch_size."
        )
    if settings.precision == "fp16":
        raise MedletheError(f"{method.name} computes its gradients itself and cannot scale an "
                            "fp16 loss: use precision=bf16 or fp32 (--train-args).")
    return settings


def _own_gradients(method: LossMethod) -> bool:
    """Whether the method computes each step's gradient itself and does not say that it
    handles micro-batches, fp16 and the processes of a launch (its share of the rows)."""
    own = type(method).backward is not LossMethod.backward
    return own and not getattr(method, "handles_device_settings", False)


def _models(method: LossMethod, ctx: UnlearnContext, family: Any, runtime: Runtime) -> tuple[
        Any, Any, Any, list[Any]]:
    """The target loaded to be unlearned (with LoRA where asked, on the device), its frozen
    reference where the method needs one, and the parameters the method trains."""
    p = method.params
    # a LoRA run keeps its frozen base in the compute dtype (where the family takes one)
    tok, model = family.load(ctx.target, dtype=runtime.settings.dtype if p.lora_rank else None)
    if p.lora_rank:
        model = add_lora(model, p.lora_rank, p.lora_alpha)
    model = runtime.place(model)
    ref = None
    if method.needs_reference:  # under LoRA: the same model, adapter off (no second copy)
        ref = AdapterOff(model) if p.lora_rank else runtime.place_frozen(
            family.load(ctx.target, trainable=False)[1])
    method.setup(model, ref, tok, ctx)
    named = list(method.trainable(model))
    names = {n for n, _ in named}
    for n, param in model.named_parameters():
        param.requires_grad_(n in names)
    return tok, model, ref, [param for _, param in named]


def train_loss_method(method: LossMethod, ctx: UnlearnContext) -> UnlearnOutput:
    import torch

    p = method.params
    started = time.perf_counter()
    settings = _check_settings(method, DeviceSettings.of(ctx.train_config))  # the target's
    runtime = Runtime(settings, data_parallel=not _own_gradients(method),
                      name=f"{method.name} (it computes each step's gradient itself)")
    torch.manual_seed(p.seed)
    task = ctx.task
    family = family_of(ctx.base_model, task)
    tok, model, ref, params = _models(method, ctx, family, runtime)
    forget = [family.encode(tok, ex, p.max_length) for ex in ctx.forget]
    retain = [family.encode(tok, ex, p.max_length) for ex in ctx.retain]
    if not forget:
        raise MedletheError(
            f"{method.name}: the forget set of {task.name} is empty, so there is nothing to "
            "unlearn; check the scenario's task arguments."
        )
    steps = max(1, math.ceil(p.epochs * len(forget) / p.batch_size))
    forget_plan = _order(len(forget), steps, p.batch_size, f"{p.seed}:forget")
    retain_plan = _order(len(retain), steps, p.batch_size, f"{p.seed}:retain") if retain else []

    def batch(data: list[Any], idx: list[int], share: float) -> Batch:
        ids, mask, labels, pixels = runtime.batch(
            family.batch(tok, [data[i] for i in idx], task))
        return Batch(ids, mask, labels, idx, pixels, share=share)

    def grads_at(step: int) -> tuple[Any, dict[str, str]]:
        f_parts = runtime.split(forget_plan[step])
        r_mine = runtime.shard(retain_plan[step]) if retain_plan else []
        r_parts = micro_batches(r_mine, len(f_parts)) if r_mine and f_parts else []
        total = torch.zeros((), device=runtime.device)
        for i, part in enumerate(f_parts):
            share = len(part) / len(forget_plan[step])
            f = batch(forget, part, share)
            r = (batch(retain, r_parts[i], share) if i < len(r_parts)
                 else Batch(None, None, None, [], share=share))
            total = total + method.backward(model, ref, f, r).to(total.device)
        return total, {}

    loop = LoopConfig(
        p.learning_rate, p.weight_decay, p.warmup_ratio, p.max_grad_norm, p.checkpoint_every
    )
    work = work_dir(ctx.out_dir)
    train_steps(model, params, steps, grads_at, loop, work, desc=f"unlearn {method.name}",
                progress=ctx.progress, runtime=runtime)
    def save(folder: Path) -> None:
        model.save_pretrained(folder)
        if not p.lora_rank and tok is not None:  # a family may read no tokenizer
            tok.save_pretrained(folder)

    meta = {
        "method": method.name,
        "method_version": method.version,
        "params": p.model_dump(),
        "steps": steps,
        "n_forget": len(forget),
        "n_retain": len(retain),
        "trainable_parameters": sum(x.numel() for x in params),
        "method_info": method.describe(),
        "runtime": runtime.describe(),
        "seconds": round(time.perf_counter() - started, 2),
    }
    out = finish(work, ctx.out_dir, META, meta, save, runtime)
    if p.lora_rank:
        return UnlearnOutput(path=ctx.target, adapter=out, meta=meta)
    return UnlearnOutput(path=out, meta=meta)
