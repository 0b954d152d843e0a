"""Supervised fine-tuning of a causal LM: plain texts (notes) first, then QA pairs.

Answers are encoded the way the backends score them: ``tok(prompt)`` then
``tok(delimiter + answer)`` without special tokens, then EOS; the loss covers answer tokens
only. Plain texts are learnt whole. Training checkpoints every ``checkpoint_every`` steps
(model, optimizer, scheduler, step) and resumes from the last checkpoint after a kill; the
data order of each epoch depends only on (seed, phase, epoch), so a resumed run takes
exactly the steps an uninterrupted one would.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from medlethe.task.base import TrainingData, TrainingExample
from medlethe.training.loop import (
    collate,
    finish,
    linear_schedule,
    load_checkpoint,
    save_checkpoint,
    work_dir,
)

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class TrainConfig:
    """Fine-tuning hyperparameters (recorded with every fine-tuned model)."""

    text_epochs: int = 2
    qa_epochs: int = 16
    batch_size: int = 16
    learning_rate: float = 3e-3
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_length: int = 192
    lora_rank: int | None = None
    lora_alpha: int = 16
    seed: int = 0
    checkpoint_every: int = 200


def encode(tok: Any, ex: TrainingExample, max_length: int) -> tuple[list[int], list[int]]:
    """Token ids and labels (-100 on the prompt) of one example; an empty prompt means a
    plain text, learnt whole after BOS."""
    if ex.prompt:
        ctx = tok(ex.prompt).input_ids
        ans = tok(ex.delimiter + ex.answer, add_special_tokens=False).input_ids
    else:
        ctx = tok("").input_ids or [tok.bos_token_id if tok.bos_token_id is not None else 0]
        ans = tok(ex.answer, add_special_tokens=False).input_ids
    ids = ctx + ans + [tok.eos_token_id]
    labels = [-100] * len(ctx) + ans + [tok.eos_token_id]
    return ids[:max_length], labels[:max_length]


def _phases(
    data: TrainingData, config: TrainConfig
) -> list[tuple[str, list[TrainingExample], int]]:
    notes = [TrainingExample("", t) for t in data.texts]
    phases = [("notes", notes, config.text_epochs), ("qa", data.examples, config.qa_epochs)]
    return [(name, exs, epochs) for name, exs, epochs in phases if exs and epochs > 0]


def _plan(
    phases: Sequence[tuple[str, list[TrainingExample], int]], config: TrainConfig
) -> list[tuple[int, list[int]]]:
    """Every optimizer step as (phase index, example indices), fixed by the seed."""
    steps = []
    for p, (name, examples, epochs) in enumerate(phases):
        for epoch in range(epochs):
            order = list(range(len(examples)))
            random.Random(f"{config.seed}:{name}:{epoch}").shuffle(order)
            for start in range(0, len(order), config.batch_size):
                steps.append((p, order[start : start + config.batch_size]))
    return steps


def _load(model_dir: Path, config: TrainConfig) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if config.lora_rank:
        from peft import LoraConfig, get_peft_model

        present = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
        targets = [t for t in LORA_TARGETS if t in present]
        model = get_peft_model(
            model,
            LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, target_modules=targets),
        )
    return tok, model


def train(
    model_dir: str | Path,
    data: TrainingData,
    out_dir: str | Path,
    config: TrainConfig,
    *,
    progress: bool = True,
    desc: str = "fine-tune",
) -> Path:
    """Fine-tune ``model_dir`` on ``data``; save a full model (LoRA merged) to ``out_dir``.

    Work in progress lives in ``out_dir`` + ``.partial``; the final folder appears only
    when training has finished.
    """
    import torch

    out = Path(out_dir)
    work = work_dir(out)
    torch.manual_seed(config.seed)
    tok, model = _load(Path(model_dir), config)
    phases = _phases(data, config)
    encoded = [[encode(tok, ex, config.max_length) for ex in exs] for _, exs, _ in phases]
    plan = _plan(phases, config)
    total = len(plan)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    sched = linear_schedule(opt, total, config.warmup_ratio)
    step = load_checkpoint(work, model, opt, sched)
    model.train()
    with tqdm(total=total, initial=step, desc=desc, unit="step", disable=not progress) as bar:
        while step < total:
            phase, idx = plan[step]
            ids, mask, labels = collate([encoded[phase][i] for i in idx], tok.pad_token_id)
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            bar.set_postfix(phase=phases[phase][0], loss=f"{loss.item():.3f}")
            bar.update()
            if step % config.checkpoint_every == 0 and step < total:
                save_checkpoint(work, model, opt, sched, step)
    if config.lora_rank:
        model = model.merge_and_unload()
    model.eval()
    model.save_pretrained(work)
    tok.save_pretrained(work)
    meta = {
        "train_config": asdict(config),
        "steps": total,
        "n_texts": len(data.texts),
        "n_examples": len(data.examples),
    }
    return finish(work, out, "medlethe_finetune.json", meta)


def total_steps(data: TrainingData, config: TrainConfig) -> int:
    return sum(
        epochs * math.ceil(len(exs) / config.batch_size) for _, exs, epochs in _phases(data, config)
    )
