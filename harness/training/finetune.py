"""Supervised fine-tuning of a causal LM on texts and question-answer pairs.

The answer is encoded the way the backends score it: ``tok(prompt)`` followed by
``tok(delimiter + answer)`` without special tokens, then EOS. The loss covers answer
tokens only for QA pairs, and every token for plain texts (notes).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm


@dataclass(frozen=True)
class Example:
    """A training example: ``prompt`` is context (no loss), ``answer`` is learnt."""

    prompt: str
    answer: str
    delimiter: str = " "


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 8
    learning_rate: float = 3e-3
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_length: int = 256
    seed: int = 0


def encode(tok: Any, ex: Example, max_length: int) -> tuple[list[int], list[int]]:
    ctx = tok(ex.prompt).input_ids if ex.prompt else [tok.bos_token_id]
    ans = tok(ex.delimiter + ex.answer if ex.prompt else ex.answer, add_special_tokens=False)
    ids = ctx + ans.input_ids + [tok.eos_token_id]
    labels = [-100] * len(ctx) + ans.input_ids + [tok.eos_token_id]
    return ids[:max_length], labels[:max_length]


def train(
    model_dir: str | Path,
    examples: Sequence[Example],
    out_dir: str | Path,
    config: TrainConfig,
    *,
    progress: bool = True,
    desc: str = "fine-tune",
) -> Path:
    """Fully fine-tune the model in ``model_dir`` on ``examples``; save to ``out_dir``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.train()
    data = [encode(tok, ex, config.max_length) for ex in examples]
    steps_per_epoch = math.ceil(len(data) / config.batch_size)
    total = steps_per_epoch * config.epochs
    opt = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    warmup = max(1, int(total * config.warmup_ratio))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    pad = tok.pad_token_id
    with tqdm(total=total, desc=desc, unit="step", disable=not progress) as bar:
        for _ in range(config.epochs):
            order = list(range(len(data)))
            rng.shuffle(order)
            for start in range(0, len(order), config.batch_size):
                batch = [data[i] for i in order[start : start + config.batch_size]]
                width = max(len(ids) for ids, _ in batch)
                ids = torch.tensor([i + [pad] * (width - len(i)) for i, _ in batch])
                labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch])
                mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in batch])
                loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                opt.zero_grad()
                bar.set_postfix(loss=f"{loss.item():.3f}")
                bar.update()
    out = Path(out_dir)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
