"""The trainer of loss-based unlearning methods, on medlethe's one training loop.

Steps: ``ceil(epochs * |forget| / batch_size)``. Forget batches follow a per-epoch shuffle
fixed by the seed; retain batches are drawn by a second seeded stream, so a resumed run
takes exactly the steps of an uninterrupted one.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

from medlethe.errors import MedletheError
from medlethe.training.batch import collate, encode
from medlethe.training.classifier import collate_texts, encode_text, load_classifier
from medlethe.training.loop import (
    LoopConfig,
    add_lora,
    finish,
    load_causal_lm,
    train_steps,
    work_dir,
)
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


def train_loss_method(method: LossMethod, ctx: UnlearnContext) -> UnlearnOutput:
    import torch

    p = method.params
    started = time.perf_counter()
    torch.manual_seed(p.seed)
    task = ctx.task
    classify = getattr(task, "output_type", None) == "classify"
    load = load_classifier if classify else load_causal_lm
    tok, model = load(ctx.target)
    ref = load(ctx.target, trainable=False)[1] if method.needs_reference else None
    if p.lora_rank:
        model = add_lora(model, p.lora_rank, p.lora_alpha)
    method.setup(model, ref, tok, ctx)
    named = list(method.trainable(model))
    names = {n for n, _ in named}
    for n, param in model.named_parameters():
        param.requires_grad_(n in names)
    params = [param for _, param in named]
    encode_one: Any = encode_text if classify else encode
    forget = [encode_one(tok, ex, p.max_length) for ex in ctx.forget]
    retain = [encode_one(tok, ex, p.max_length) for ex in ctx.retain]
    if not forget:
        raise MedletheError(
            f"{method.name}: the forget set of {task.name} is empty, so there is nothing to "
            "unlearn; check the scenario's task arguments."
        )
    steps = max(1, math.ceil(p.epochs * len(forget) / p.batch_size))
    forget_plan = _order(len(forget), steps, p.batch_size, f"{p.seed}:forget")
    retain_plan = _order(len(retain), steps, p.batch_size, f"{p.seed}:retain") if retain else []

    def batch(data: list[Any], idx: list[int]) -> Batch:
        items = [data[i] for i in idx]
        if classify:
            ids, mask, labels, pixels = collate_texts(items, tok.pad_token_id,
                                                      len(task.classes), task.multi_label)
            return Batch(ids, mask, labels, idx, pixels)
        ids, mask, labels = collate(items, tok.pad_token_id)
        return Batch(ids, mask, labels, idx)

    empty = Batch(None, None, None, [])

    def grads_at(step: int) -> tuple[Any, dict[str, str]]:
        f = batch(forget, forget_plan[step])
        r = batch(retain, retain_plan[step]) if retain_plan else empty
        return method.backward(model, ref, f, r), {}

    loop = LoopConfig(
        p.learning_rate, p.weight_decay, p.warmup_ratio, p.max_grad_norm, p.checkpoint_every
    )
    work = work_dir(ctx.out_dir)
    train_steps(model, params, steps, grads_at, loop, work, desc=f"unlearn {method.name}",
                progress=ctx.progress)
    model.save_pretrained(work)
    if not p.lora_rank:
        tok.save_pretrained(work)
    meta = {
        "method": method.name,
        "method_version": method.version,
        "params": p.model_dump(),
        "steps": steps,
        "n_forget": len(forget),
        "n_retain": len(retain),
        "trainable_parameters": sum(x.numel() for x in params),
        "method_info": method.describe(),
        "seconds": round(time.perf_counter() - started, 2),
    }
    out = finish(work, ctx.out_dir, META, meta)
    if p.lora_rank:
        return UnlearnOutput(path=ctx.target, adapter=out, meta=meta)
    return UnlearnOutput(path=out, meta=meta)
