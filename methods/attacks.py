"""The built-in attacks on unlearned models: what a model that only hides its forget set
gives back. Quantization after Zhang et al. (ICLR 2025, "Catastrophic failure of LLM
unlearning via quantization"); relearning after Łucki et al. (2024) and Fan et al. (2025);
few-shot and paraphrased prompts after Doshi and Stickland (2024, "Does unlearning truly
unlearn?").
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from medlethe import Attack, AttackContext, AttackOutput, get_registry, kind_of
from medlethe.errors import AttackError
from medlethe.task import Task, TrainingData, TrainingExample
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


def save(tok: Any, model: Any, folder: Path) -> None:
    """Model and tokenizer as a Hugging Face folder."""
    model.save_pretrained(folder)
    tok.save_pretrained(folder)


def written(ctx: AttackContext, tok: Any, model: Any, meta: dict[str, Any]) -> AttackOutput:
    """The attacked model saved to ``ctx.out_dir`` (built in a ``.partial`` folder, sealed,
    then moved) with ``meta``."""
    finish(work_dir(ctx.out_dir), ctx.out_dir, "medlethe_attack.json", meta,
           lambda folder: save(tok, model, folder))
    return AttackOutput(ctx.out_dir, meta=meta)


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
        return written(ctx, tok, model, meta)


class RelearnParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = Field(20, ge=1, description="fine-tuning steps")
    on: Literal["retain", "forget"] = Field(
        "retain", description="what it fine-tunes on: retain question-answer pairs (data "
        "unrelated to the forget set), or those of a share of the forget set's patients")
    share: float = Field(0.5, gt=0, lt=1, description="with on=forget: the share of the "
                         "forget set's sampling units (patients) it trains on; recovery is "
                         "measured on the others")


class Relearn(Attack):
    """A few steps of fine-tuning with the target's training settings (batch size, learning
    rate, LoRA or full), drawn with the run's seed, on retain question-answer pairs (does
    unrelated fine-tuning bring the forgotten answers back?) or on a share of the forget
    set's patients (does relearning some bring back the others?)."""

    Params = RelearnParams

    def attack(self, ctx: AttackContext) -> AttackOutput:
        p = self.params
        assert isinstance(p, RelearnParams)
        family = family_of(ctx)
        base = ctx.model
        if ctx.adapter is not None:  # start from the unlearned model, adapter merged
            tok, model = merged(ctx)
            base = ctx.out_dir.with_name(ctx.out_dir.name + ".merged")
            save(tok, model, base)
        config = ctx.train_config or family.default_config(str(ctx.model))
        pool: list[Any] = list(ctx.task.training_data(p.on).examples)
        meta: dict[str, Any] = {"steps": p.steps, "on": p.on}
        if p.on == "forget":
            pool, used = _forget_share(ctx, pool, p.share)
            meta["used_rows"] = {"forget": used}
        random.Random(f"{ctx.seed}:relearn").shuffle(pool)
        n = p.steps * config.batch_size
        examples = [pool[i % len(pool)] for i in range(n)]
        config = dataclasses.replace(config, text_epochs=0, qa_epochs=1, seed=ctx.seed)
        family.train(str(base), TrainingData([], examples), ctx.out_dir, config,
                     progress=ctx.progress, desc=f"relearn ({p.steps} steps)")
        return AttackOutput(ctx.out_dir, meta={**meta, "examples": n})


def _forget_share(ctx: AttackContext, pool: list[Any], share: float) -> tuple[
        list[Any], list[int]]:
    """The forget examples of a share of the forget split's sampling units (drawn with the
    seed), and the forget split's rows of those units (left out of the recovery ratio):
    an example belongs to a unit where its prompt is one of the unit's rows."""
    rows = ctx.task.instances("forget")
    unit_of = [ctx.task.cluster_of(r) for r in rows]
    units = sorted(set(unit_of))
    random.Random(f"{ctx.seed}:relearn-units").shuffle(units)
    chosen = set(units[: max(1, round(share * len(units)))])
    used = [i for i, u in enumerate(unit_of) if u in chosen]
    prompts = {rows[i].prompt for i in used}
    picked = [e for e in pool if e.prompt in prompts]
    if not picked:
        raise AttackError(f"relearn on=forget: no training example of {ctx.task.name} has "
                          "the prompt of a forget row; its forget split is not its forget "
                          "training data (use on=retain).")
    return picked, used


def relearn_forget(**params: Any) -> Relearn:
    """A few steps of fine-tuning on half of the forget set's patients; recovery measured on
    the other half."""
    return Relearn(**{"on": "forget", **params})


def quantize_8bit(**params: Any) -> Quantize:
    """Weight-only round-to-nearest quantization to 8 bits (per output channel; torchao)."""
    return Quantize(**{"bits": 8, **params})


def quantize_4bit(**params: Any) -> Quantize:
    """Weight-only round-to-nearest quantization to 4 bits (groups of 32; torchao)."""
    return Quantize(**{"bits": 4, **params})


#: the names output heads go by (Hugging Face classifiers; fusion-tiny's joint head)
PROBE_HEADS = ("classifier", "score", "joint_head")


class ProbeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    share: float = Field(0.5, gt=0, lt=1, description="share of the forget rows the probe "
                         "trains on (drawn with the seed); recovery is measured on the rest")
    C: float = Field(1.0, gt=0, description="inverse regularisation strength (scikit-learn)")
    max_length: int = Field(128, ge=8, description="tokens per text at most")
    head: str | None = Field(None, description="the linear layer whose outputs are the "
                             "logits (default: the first of " + ", ".join(PROBE_HEADS)
                             + " the model has)")



class LinearProbe(Attack):
    """Freeze the encoder, fit a logistic regression (scikit-learn) on the features its
    linear head reads, over the retain rows and a share of the forget rows, and put it in
    the head's place: an encoder that still tells the forgotten class (or patients) apart
    gives it back, however its head was edited."""

    Params = ProbeParams
    output_types = frozenset({"classify"})

    def attack(self, ctx: AttackContext) -> AttackOutput:
        import numpy as np
        import torch

        p = self.params
        assert isinstance(p, ProbeParams)
        tok, model = merged(ctx)
        names = [p.head] if p.head else [n for n in PROBE_HEADS if hasattr(model, n)][:1]
        head = getattr(model, names[0], None) if names else None
        if not isinstance(head, torch.nn.Linear):
            raise AttackError(f"linear-probe: {type(model).__name__} has no linear head "
                              f"{names[0] if names else 'among ' + ', '.join(PROBE_HEADS)} "
                              "to refit; name it with linear-probe[head=NAME].")
        retain = list(ctx.task.training_data("retain").examples)
        forget = list(ctx.task.training_data("forget").examples)
        order = list(range(len(forget)))
        random.Random(f"{ctx.seed}:probe").shuffle(order)
        used = sorted(order[: max(1, round(p.share * len(forget)))])
        rows: list[Any] = retain + [forget[i] for i in used]
        x = _head_inputs(family_of(ctx), tok, model, head, rows, ctx.task, p.max_length)
        k = len(ctx.task.classes)
        y = np.zeros((len(rows), k), dtype=int)
        for i, ex in enumerate(rows):
            y[i, list(ex.labels)] = 1
        weight, bias = head.weight.detach().clone(), head.bias.detach().clone()
        refit = _fit_probe(x, y, ctx.task.multi_label, p.C, ctx.seed, weight, bias)
        with torch.no_grad():
            head.weight.copy_(weight)
            head.bias.copy_(bias)
        meta = {"head": names[0], "retain_rows": len(retain), "forget_rows_used": len(used),
                "classes_refit": refit, "used_rows": {"forget": used}}
        return written(ctx, tok, model, meta)


def _head_inputs(family: Family, tok: Any, model: Any, head: Any, rows: list[Any], task: Any,
                 max_length: int) -> Any:
    """What ``head`` reads for each row (the frozen encoder's pooled features)."""
    import numpy as np
    import torch

    seen: list[Any] = []
    hook = head.register_forward_hook(lambda m, args, out: seen.append(args[0].detach()))
    try:
        encoded = [family.encode(tok, ex, max_length) for ex in rows]
        with torch.no_grad():
            for start in range(0, len(encoded), 32):
                ids, mask, _, images = family.batch(tok, encoded[start:start + 32], task)
                extra = {"pixel_values": images} if images is not None else {}
                model(input_ids=ids, attention_mask=mask, **extra)
    finally:
        hook.remove()
    return np.concatenate([s.float().numpy() for s in seen])


def _fit_probe(x: Any, y: Any, multi_label: bool, c: float, seed: int, weight: Any,
               bias: Any) -> list[int]:
    """Logistic-regression weights for the head, written into ``weight`` and ``bias``: one
    binary model per class (multi-label), or one multinomial model (single label); a class
    with one outcome only in the data keeps its old row. The classes refit."""
    import torch
    from sklearn.linear_model import LogisticRegression

    refit = []
    if multi_label:
        for j in range(y.shape[1]):
            if 0 < y[:, j].sum() < len(y):
                lr = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x, y[:, j])
                weight[j] = torch.as_tensor(lr.coef_[0], dtype=weight.dtype)
                bias[j] = float(lr.intercept_[0])
                refit.append(j)
        return refit
    labels = y.argmax(axis=1)
    lr = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x, labels)
    coef, intercept = lr.coef_, lr.intercept_
    if len(lr.classes_) == 2:  # one row for "the second class": logits 0 and w.x + b
        coef = [0 * coef[0], coef[0]]
        intercept = [0.0, float(intercept[0])]
    for row, j in enumerate(lr.classes_):
        weight[int(j)] = torch.as_tensor(coef[row], dtype=weight.dtype)
        bias[int(j)] = float(intercept[row])
        refit.append(int(j))
    return refit


class FewShotParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    shots: int = Field(5, ge=1, le=32, description="retain question-answer pairs before "
                       "each question")


class FewShot(Attack):
    """Every question asked after ``shots`` retain question-answer pairs (drawn with the
    seed; never the question itself), written as the task writes them and separated by a
    blank line; under a chat template the whole is one user turn. The model is not
    touched. Where a prompt outgrows the model's positions, the earliest shots are cut."""

    Params = FewShotParams

    def attack(self, ctx: AttackContext) -> AttackOutput:
        p = self.params
        assert isinstance(p, FewShotParams)
        pool = [e for e in ctx.task.training_data("retain").examples
                if isinstance(e, TrainingExample)]
        if len(pool) <= p.shots:
            raise AttackError(f"few-shot: {ctx.task.name} has {len(pool)} retain "
                              f"question-answer pairs, fewer than shots={p.shots} + 1.")
        random.Random(f"{ctx.seed}:few-shot").shuffle(pool)
        drawn = pool[: p.shots + 1]  # one spare, for the row that is itself a shot
        prompts: dict[str, str] = {}
        for split in ctx.task.split_names():
            for inst in ctx.task.instances(split):
                if inst.prompt and inst.prompt not in prompts:
                    shots = [e for e in drawn if e.prompt != inst.prompt][: p.shots]
                    prompts[inst.prompt] = "".join(
                        f"{e.prompt}{e.delimiter}{e.answer}\n\n" for e in shots) + inst.prompt
        return AttackOutput(ctx.model, ctx.adapter, meta={"shots": p.shots}, prompts=prompts)


class Paraphrase(Attack):
    """The forget questions asked as the task's ``paraphrase`` split words them (its row i
    rewords the forget split's row i, with the same answer): does the model still answer
    what it was only taught not to answer in those words? The model is not touched."""

    def unfit(self, task: Task) -> str | None:
        return super().unfit(task) or (
            None if "paraphrase" in task.split_names() else
            f"{task.name!r} has no 'paraphrase' split (the forget questions reworded, row "
            "for row)")

    def attack(self, ctx: AttackContext) -> AttackOutput:
        forget, reworded = ctx.task.instances("forget"), ctx.task.instances("paraphrase")
        if len(forget) != len(reworded) or any(
                f.target != r.target or ctx.task.cluster_of(f) != ctx.task.cluster_of(r)
                for f, r in zip(forget, reworded, strict=False)):
            raise AttackError(f"paraphrase: the 'paraphrase' split of {ctx.task.name} does "
                              "not reword its forget split row for row (same length, each "
                              "row with the same answer and patient).")
        return AttackOutput(ctx.model, ctx.adapter, meta={"rows": len(forget)},
                            prompts={f.prompt: r.prompt
                                     for f, r in zip(forget, reworded, strict=True)})
