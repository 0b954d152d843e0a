"""STEU (arXiv 2603.19302): Sparse Token Embedding Unlearning of a class from a sequence
classifier, and the paper's baselines on the same loss and loop.

STEU scores every vocabulary token by frequency-weighted pointwise mutual information with
the forget class, ``s(t) = p(t | c) log(p(t | c) / p(t))`` (token counts over the forget
class's training texts against all training texts, with the model's own tokenizer; the
token's contribution to KL(p(. | c) || p(.))), and makes only the top-k rows of the input
embedding matrix trainable (a gradient mask on the matrix: every other row, and every
encoder layer, keeps its value exactly), plus the classification head. The loss pushes the
forgotten class down on forget texts (binary cross-entropy of its logit against 0 for a
multi-label model; -log(1 - p_c) for a single-label one) and distils the frozen original
model's outputs on the other classes for retain texts (binary cross-entropy to its
sigmoids, or KL between the softmaxes over the other classes), weighted by
``distill_weight``. The paper's exact weights are not in our material: this formulation is
a **harness choice**, documented in docs/methods.md.

Baselines: ``STEU-EmbeddingOnly`` (the same rows, no head: the paper's ablation),
``DirectSuppression`` (the same loss, the head alone), ``ClassGradAscent`` (gradient ascent
on the forget texts' training loss, top encoder layers and head). ``Retrain`` is the oracle.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from medlethe.task import Task
from medlethe.unlearn import (
    Batch,
    LossMethod,
    MethodError,
    MethodParams,
    UnlearnContext,
    knobs,
)

CLASSIFY = frozenset({"classify"})
#: the names classification heads go by in transformers (BERT/RoBERTa, decoder classifiers)
HEAD_PREFIXES = ("classifier.", "score.")


def class_level_text(task: Task) -> bool:
    """STEU's setting: a text classifier and a scenario that forgets whole classes."""
    return (task.output_type == "classify" and tuple(task.modalities) == ("text",)
            and bool(task.forget_classes))


def pmi_scores(
    forget: Sequence[Sequence[int]], corpus: Sequence[Sequence[int]], skip: set[int]
) -> dict[int, float]:
    """Frequency-weighted PMI of every token seen in ``forget`` (token-id lists) against
    ``corpus`` (every text, forget included): p(t|c) log(p(t|c) / p(t)). Tokens in
    ``skip`` (special tokens) are left out."""
    in_class = Counter(t for ids in forget for t in ids if t not in skip)
    overall = Counter(t for ids in corpus for t in ids if t not in skip)
    n_class, n_all = sum(in_class.values()), sum(overall.values())
    out = {}
    for t, count in in_class.items():
        p_c = count / n_class
        p = overall[t] / n_all
        out[t] = p_c * math.log(p_c / p)
    return out


def top_tokens(scores: dict[int, float], k: int) -> list[int]:
    """The ``k`` best-scoring tokens with a positive score (ties: lower id first)."""
    ranked = sorted((t for t, s in scores.items() if s > 0), key=lambda t: (-scores[t], t))
    return ranked[:k]


def head_parameters(model: Any) -> Iterator[tuple[str, Any]]:
    found = [(n, p) for n, p in model.named_parameters() if n.startswith(HEAD_PREFIXES)]
    if not found:
        raise MethodError(
            f"{type(model).__name__} has no classification head named "
            f"{' or '.join(p.rstrip('.') for p in HEAD_PREFIXES)}; STEU needs a "
            "transformers *ForSequenceClassification model."
        )
    return iter(found)


class ClassForgetParams(MethodParams):
    """Hyperparameters of the class-forgetting loss."""

    epochs: float = Field(5.0, gt=0, description="passes over the forget texts")
    batch_size: int = Field(16, ge=1, description="forget (and retain) texts per step")
    learning_rate: float = Field(1e-2, gt=0, description="AdamW peak learning rate")
    weight_decay: float = Field(
        0.0, ge=0, le=0, description="must be 0: decay would move every masked row"
    )
    max_length: int = Field(128, ge=8, description="tokens per text at most")
    distill_weight: float = Field(
        1.0, ge=0, description="weight of the distillation to the original on retain texts"
    )


class STEUParams(ClassForgetParams):
    top_k: int = Field(256, ge=1, description="embedding rows made trainable (PMI top-k)")


class ClassForgetLoss(LossMethod):
    """Forget-class logit down on forget texts, distillation of the other classes on
    retain texts (the loss STEU and direct suppression share)."""

    output_types = CLASSIFY
    needs_reference = True
    Params: ClassVar[type[BaseModel]] = ClassForgetParams

    def applies_to(self, task: Task) -> bool:
        return class_level_text(task)
    forget_index: list[int]
    multi_label: bool

    def setup(self, model: Any, ref: Any, tokenizer: Any, ctx: UnlearnContext) -> None:
        task = ctx.task
        missing = [c for c in task.forget_classes if c not in task.classes]
        if not task.forget_classes or missing:
            raise MethodError(
                f"{self.name}: task {task.name!r} names no forget class among its classes "
                f"({', '.join(missing) or 'none given'})."
            )
        self.forget_index = [task.classes.index(c) for c in task.forget_classes]
        self.multi_label = task.multi_label

    def loss(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        import torch
        import torch.nn.functional as F

        c = self.forget_index
        z = model(**forget.inputs()).logits
        if self.multi_label:
            down = F.binary_cross_entropy_with_logits(z[:, c], torch.zeros_like(z[:, c]))
        else:
            p_c = torch.softmax(z, dim=-1)[:, c].sum(-1)
            down = -torch.log1p(-p_c.clamp(max=1 - 1e-6)).mean()
        if retain.input_ids is None or self.params.distill_weight == 0:
            return down
        keep = [j for j in range(z.shape[-1]) if j not in c]
        zr = model(**retain.inputs()).logits
        with torch.no_grad():
            zt = ref(**retain.inputs()).logits
        if self.multi_label:
            keep_up = F.binary_cross_entropy_with_logits(zr[:, keep], torch.sigmoid(zt[:, keep]))
        else:
            keep_up = F.kl_div(torch.log_softmax(zr[:, keep], -1),
                               torch.log_softmax(zt[:, keep], -1), log_target=True,
                               reduction="batchmean")
        return down + self.params.distill_weight * keep_up


class STEU(ClassForgetLoss):
    """STEU: the top-k PMI token embedding rows of the forget class and the head."""

    front_space = knobs(top_k=(64, 256, 1024), learning_rate=(3.3e-3, 1e-2, 3e-2))

    Params = STEUParams
    #: train the classification head beside the embedding rows
    train_head: ClassVar[bool] = True

    def setup(self, model: Any, ref: Any, tokenizer: Any, ctx: UnlearnContext) -> None:
        import torch

        super().setup(model, ref, tokenizer, ctx)
        limit = self.params.max_length

        def ids(text: str) -> list[int]:
            return list(tokenizer(text, truncation=True, max_length=limit).input_ids)

        forget = [ids(e.text) for e in ctx.forget]
        corpus = forget + [ids(e.text) for e in ctx.retain]
        scores = pmi_scores(forget, corpus, set(tokenizer.all_special_ids))
        self.rows = top_tokens(scores, self.params.top_k)
        weight = model.get_input_embeddings().weight
        mask = torch.zeros(weight.shape[0], 1, device=weight.device, dtype=weight.dtype)
        mask[self.rows] = 1.0
        weight.register_hook(lambda grad: grad * mask)

    def trainable(self, model: Any) -> Iterator[tuple[str, Any]]:
        weight = model.get_input_embeddings().weight
        name = next(n for n, p in model.named_parameters() if p is weight)
        yield name, weight
        if self.train_head:
            yield from head_parameters(model)

    def describe(self) -> dict[str, Any]:
        return {"embedding_rows": len(self.rows), "row_ids": self.rows,
                "train_head": self.train_head}


class STEUEmbeddingOnly(STEU):
    """STEU's ablation: the top-k PMI embedding rows alone, the head frozen."""

    train_head = False


class DirectSuppression(ClassForgetLoss):
    """Direct suppression: STEU's loss on the classification head alone."""

    def trainable(self, model: Any) -> Iterator[tuple[str, Any]]:
        return head_parameters(model)


class GradAscentParams(MethodParams):
    epochs: float = Field(2.0, gt=0, description="passes over the forget texts")
    batch_size: int = Field(16, ge=1)
    learning_rate: float = Field(1e-4, gt=0)
    max_length: int = Field(128, ge=8, description="tokens per text at most")
    top_layers: int = Field(2, ge=1, description="encoder layers trained, from the top")


_LAYER = re.compile(r"\.layers?\.(\d+)\.")


class ClassGradAscent(LossMethod):
    """Gradient ascent on the forget texts' training loss (all their labels), training the
    top encoder layers, the pooler and the head."""

    output_types = CLASSIFY
    Params = GradAscentParams

    def applies_to(self, task: Task) -> bool:
        return class_level_text(task)

    def trainable(self, model: Any) -> Iterator[tuple[str, Any]]:
        named = list(model.named_parameters())
        layers = [int(m.group(1)) for n, _ in named if (m := _LAYER.search(n))]
        if not layers:
            raise MethodError(f"{self.name}: found no numbered encoder layers in "
                              f"{type(model).__name__}.")
        first = max(layers) + 1 - self.params.top_layers
        for n, p in named:
            m = _LAYER.search(n)
            if (m and int(m.group(1)) >= first) or ".pooler." in n or n.startswith(
                HEAD_PREFIXES
            ):
                yield n, p

    def loss(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        out = model(**forget.inputs(), labels=forget.labels)
        return -out.loss
