"""The built-in attacks on unlearned models: what a model that only hides its forget set
gives back. Quantization after Zhang et al. (ICLR 2025, "Catastrophic failure of LLM
unlearning via quantization"); relearning after Łucki et al. (2024) and Fan et al. (2025).
"""

from __future__ import annotations

import dataclasses
import logging
import random
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from medlethe import Attack, AttackContext, AttackOutput, get_registry, kind_of
from medlethe.errors import AttackError
from medlethe.task import TrainingData
from medlethe.training import Family, finish, work_dir

#: output heads kept at full precision (as weight-only quantization leaves them)
HEADS = ("lm_head", "classifier", "score")


def family_of(ctx: AttackContext) -> Family:
    """The family of the attacked model (its task's kind says it)."""
    family = kind_of(ctx.task, get_registry()).family
    if family is None:
        raise AttackError(f"{ctx.task.name}: its kind trains no model family to attack.")
    return family


def merged(ctx: AttackContext) -> tuple[Any, Any]:
    """Tokenizer and model of the unlearned model, its adapter (where it has one) merged."""
    tok, model = family_of(ctx).load(ctx.model, trainable=False)
    if ctx.adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(ctx.adapter)).merge_and_unload()
    return tok, model


class QuantizeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bits: Literal[4, 8] = Field(4, description="bits per weight")
    group_size: int = Field(32, ge=8, description="weights that share a scale at 4 bits "
                            "(8 bits: one scale per output channel)")


class Quantize(Attack):
    """Weight-only round-to-nearest quantization of every linear layer but the output head
    (torchao), saved dequantized so that every backend loads it: its outputs are the
    quantized model's."""

    Params = QuantizeParams
    output_types = frozenset({"generate", "multiple_choice", "loglikelihood", "classify"})

    def attack(self, ctx: AttackContext) -> AttackOutput:
        import torch

        logging.getLogger("torchao").setLevel(logging.ERROR)  # its CUDA kernels, absent here
        from torchao.quantization import Int8WeightOnlyConfig, IntxWeightOnlyConfig, quantize_
        from torchao.quantization.granularity import PerGroup

        p = self.params
        assert isinstance(p, QuantizeParams)
        tok, model = merged(ctx)
        config = Int8WeightOnlyConfig() if p.bits == 8 else IntxWeightOnlyConfig(
            weight_dtype=torch.int4,  # type: ignore[attr-defined]  # torch has it; stubs lag
            granularity=PerGroup(p.group_size))

        def chosen(module: Any, name: str) -> bool:
            return (isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] not in HEADS
                    and (p.bits == 8 or module.in_features % p.group_size == 0))

        quantize_(model, config, filter_fn=chosen)
        layers = 0
        for module in model.modules():
            weight = getattr(module, "weight", None)
            if weight is not None and hasattr(weight, "dequantize"):
                module.weight = torch.nn.Parameter(weight.dequantize().float(),
                                                   requires_grad=False)
                layers += 1
        meta = {"bits": p.bits, "group_size": p.group_size if p.bits == 4 else None,
                "layers_quantized": layers, "library": "torchao"}

        def save(folder: Path) -> None:
            model.save_pretrained(folder)
            tok.save_pretrained(folder)

        finish(work_dir(ctx.out_dir), ctx.out_dir, "medlethe_attack.json", meta, save)
        return AttackOutput(ctx.out_dir, meta=meta)


class RelearnParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = Field(20, ge=1, description="fine-tuning steps")
    on: Literal["retain"] = Field("retain", description="what it fine-tunes on: retain "
                                  "question-answer pairs (data unrelated to the forget set)")


class Relearn(Attack):
    """A few steps of fine-tuning with the target's training settings (batch size, learning
    rate, LoRA or full) on retain question-answer pairs drawn with the run's seed: does
    unrelated fine-tuning bring the forgotten answers back?"""

    Params = RelearnParams

    def attack(self, ctx: AttackContext) -> AttackOutput:
        p = self.params
        assert isinstance(p, RelearnParams)
        family = family_of(ctx)
        base = ctx.model
        if ctx.adapter is not None:  # start from the unlearned model, adapter merged
            tok, model = merged(ctx)
            base = ctx.out_dir.with_name(ctx.out_dir.name + ".merged")
            model.save_pretrained(base)
            tok.save_pretrained(base)
        config = ctx.train_config or family.default_config(str(ctx.model))
        pool: list[Any] = list(ctx.task.training_data(p.on).examples)
        random.Random(f"{ctx.seed}:relearn").shuffle(pool)
        n = p.steps * config.batch_size
        examples = [pool[i % len(pool)] for i in range(n)]
        config = dataclasses.replace(config, text_epochs=0, qa_epochs=1, seed=ctx.seed)
        family.train(str(base), TrainingData([], examples), ctx.out_dir, config,
                     progress=ctx.progress, desc=f"relearn ({p.steps} steps)")
        return AttackOutput(ctx.out_dir, meta={"steps": p.steps, "on": p.on,
                                               "examples": n})


def quantize_8bit(**params: Any) -> Quantize:
    """Weight-only round-to-nearest quantization to 8 bits (per output channel; torchao)."""
    return Quantize(**{"bits": 8, **params})


def quantize_4bit(**params: Any) -> Quantize:
    """Weight-only round-to-nearest quantization to 4 bits (groups of 32; torchao)."""
    return Quantize(**{"bits": 4, **params})
