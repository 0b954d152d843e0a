"""Supervised fine-tuning of a causal LM: plain texts (notes) first, then QA pairs.

Answers are encoded the way the backends score them (:mod:`medlethe.training.batch`); the
loss covers answer tokens only, plain texts are learnt whole. The steps run through the one
training loop (:func:`medlethe.training.loop.fit`: checkpoints, resume, progress);
the data order of each epoch depends only on (seed, phase, epoch).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from medlethe.chat import ChatFormat
from medlethe.errors import MedletheError
from medlethe.task.base import TrainingData, TrainingExample
from medlethe.training.batch import collate, encode
from medlethe.training.device import DeviceSettings, Runtime
from medlethe.training.loop import add_lora, fit, load_causal_lm

#: fine-tuning clips gradients at this norm (not a TrainConfig field, so that fingerprints
#: of models fine-tuned before it was named stay valid)
MAX_GRAD_NORM = 1.0


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
    #: device settings (medlethe.training.device): float32, bf16 or fp16 compute; the
    #: optimizer batch split into this many micro-batches; activations recomputed
    precision: str = "fp32"
    gradient_accumulation_steps: int = 1
    gradient_checkpointing: bool = False
    #: wrap prompts in the model's chat template (medlethe.chat), here and wherever the
    #: model and its unlearnings are evaluated; a system turn first where given
    chat_template: bool = False
    system_instruction: str | None = None

    @property
    def max_grad_norm(self) -> float:
        """Gradients are clipped at :data:`MAX_GRAD_NORM` (not a field, so that
        fingerprints of models fine-tuned before it was named stay valid)."""
        return MAX_GRAD_NORM

    def __post_init__(self) -> None:
        DeviceSettings.of(self)  # checks the device settings
        if not isinstance(self.chat_template, bool) or not (
                self.system_instruction is None or isinstance(self.system_instruction, str)):
            raise MedletheError("training arguments: chat_template must be true or false and "
                                "system_instruction a text (--train-args).")
        for name, kind, low, low_open in _LIMITS:
            value = getattr(self, name)
            if value is None and name == "lora_rank":
                continue
            ok_type = not isinstance(value, bool) and isinstance(
                value, int if kind == "a whole number" else (int, float)
            )
            if not ok_type or not (value > low if low_open else value >= low):
                bound = f"greater than {low:g}" if low_open else f"at least {low:g}"
                raise MedletheError(
                    f"training argument {name} must be {kind} {bound}, got {value!r} "
                    "(--train-args)."
                )
        if not self.warmup_ratio < 1:
            raise MedletheError(f"training argument warmup_ratio must be below 1, got "
                                f"{self.warmup_ratio!r} (--train-args).")


#: (field, kind, lower limit, limit excluded) of every TrainConfig field
_LIMITS = (
    ("text_epochs", "a whole number", 0, False),
    ("qa_epochs", "a whole number", 0, False),
    ("batch_size", "a whole number", 1, False),
    ("learning_rate", "a number", 0, True),
    ("warmup_ratio", "a number", 0, False),
    ("weight_decay", "a number", 0, False),
    ("max_length", "a whole number", 8, False),
    ("lora_rank", "a whole number", 1, False),
    ("lora_alpha", "a whole number", 1, False),
    ("seed", "a whole number", 0, False),
    ("checkpoint_every", "a whole number", 1, False),
)


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

    settings = DeviceSettings.of(config)
    torch.manual_seed(config.seed)
    # a LoRA run keeps its frozen base in the compute dtype; a full fine-tune trains float32
    tok, model = load_causal_lm(model_dir,
                                dtype=settings.dtype if config.lora_rank else None)
    if config.lora_rank:
        model = add_lora(model, config.lora_rank, config.lora_alpha)
    data = TrainingData(data.texts, ChatFormat.of(config).examples(tok, data.examples))
    phases = _phases(data, config)
    # every example of every phase, numbered in one sequence: a step's rows index it
    start = [sum(len(exs) for _, exs, _ in phases[:p]) for p in range(len(phases))]
    encoded = [encode(tok, ex, config.max_length) for _, exs, _ in phases for ex in exs]
    steps = _plan(phases, config)
    plan = [[start[p] + i for i in idx] for p, idx in steps]

    def loss_of(part: list[int], runtime: Runtime) -> Any:
        ids, mask, labels = runtime.batch(collate([encoded[i] for i in part], tok.pad_token_id))
        return model(input_ids=ids, attention_mask=mask, labels=labels).loss

    def tokens(i: int) -> int:  # the answer tokens the loss averages over
        return sum(label != -100 for label in encoded[i][1][1:])

    def save(folder: Path) -> None:
        trained = model.merge_and_unload() if config.lora_rank else model
        trained.save_pretrained(folder)
        tok.save_pretrained(folder)

    meta = {"train_config": asdict(config), "n_texts": len(data.texts),
            "n_examples": len(data.examples)}
    return fit(model, plan, loss_of, config, out_dir, save, desc=desc,
               progress=progress, meta=meta, size=tokens,
               phase=lambda step: phases[steps[step][0]][0])

