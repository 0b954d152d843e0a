"""The shared trainer of loss-based unlearning methods.

Steps: ``ceil(epochs * |forget| / batch_size)``. Forget batches follow a per-epoch shuffle
fixed by the seed; retain batches are drawn by a second seeded stream, so a resumed run
takes exactly the steps of an uninterrupted one.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

from tqdm.auto import tqdm

from medlethe.training.finetune import LORA_TARGETS, encode
from medlethe.training.loop import (
    collate,
    finish,
    linear_schedule,
    load_checkpoint,
    save_checkpoint,
    work_dir,
)
from medlethe.unlearn.base import Batch, LossMethod, UnlearnContext, UnlearnOutput

META = "medlethe_unlearn.json"


def _order(n: int, steps: int, batch: int, seed: str) -> list[list[int]]:
    out: list[list[int]] = []
    epoch = 0
    while len(out) < steps:
        idx = list(range(n))
        random.Random(f"{seed}:{epoch}").shuffle(idx)
        out.extend(idx[i : i + batch] for i in range(0, n, batch))
        epoch += 1
    return out[:steps]


def load_model(path: Any, *, trainable: bool = True) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    if not trainable:
        model.eval().requires_grad_(False)
    return tok, model


def train_loss_method(method: LossMethod, ctx: UnlearnContext) -> UnlearnOutput:
    import torch

    p = method.params
    started = time.perf_counter()
    torch.manual_seed(p.seed)
    tok, model = load_model(ctx.target)
    ref = load_model(ctx.target, trainable=False)[1] if method.needs_reference else None
    if p.lora_rank:
        from peft import LoraConfig, get_peft_model

        present = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
        model = get_peft_model(
            model,
            LoraConfig(
                r=p.lora_rank,
                lora_alpha=p.lora_alpha,
                target_modules=[t for t in LORA_TARGETS if t in present],
            ),
        )
    method.setup(model, ref, tok, ctx)
    named = list(method.trainable(model))
    names = {n for n, _ in named}
    for n, param in model.named_parameters():
        param.requires_grad_(n in names)
    params = [param for _, param in named]
    forget = [encode(tok, ex, p.max_length) for ex in ctx.forget]
    retain = [encode(tok, ex, p.max_length) for ex in ctx.retain]
    steps = max(1, math.ceil(p.epochs * len(forget) / p.batch_size))
    forget_plan = _order(len(forget), steps, p.batch_size, f"{p.seed}:forget")
    retain_plan = _order(len(retain), steps, p.batch_size, f"{p.seed}:retain") if retain else []
    opt = torch.optim.AdamW(params, lr=p.learning_rate, weight_decay=p.weight_decay)
    sched = linear_schedule(opt, steps, p.warmup_ratio)
    work = work_dir(ctx.out_dir)
    step = load_checkpoint(work, model, opt, sched)
    model.train()

    def batch(data: list[tuple[list[int], list[int]]], idx: list[int]) -> Batch:
        ids, mask, labels = collate([data[i] for i in idx], tok.pad_token_id)
        return Batch(ids, mask, labels, idx)

    empty = Batch(None, None, None, [])
    with tqdm(
        total=steps,
        initial=step,
        desc=f"unlearn {method.name}",
        unit="step",
        disable=not ctx.progress,
    ) as bar:
        while step < steps:
            f = batch(forget, forget_plan[step])
            r = batch(retain, retain_plan[step]) if retain_plan else empty
            loss = method.loss(model, ref, f, r)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"method {method.name!r}: loss is {loss.item()} at step {step}"
                )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, p.max_grad_norm)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            bar.set_postfix(loss=f"{loss.item():.3f}")
            bar.update()
            if step % p.checkpoint_every == 0 and step < steps:
                save_checkpoint(work, model, opt, sched, step)
    model.eval()
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
        "seconds": round(time.perf_counter() - started, 2),
    }
    out = finish(work, ctx.out_dir, META, meta)
    if p.lora_rank:
        return UnlearnOutput(path=ctx.target, adapter=out, meta=meta)
    return UnlearnOutput(path=out, meta=meta)
