"""A third-party unlearning method: train the forget questions on wrong answers."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from medlethe import (
    Batch,
    LossMethod,
    MethodParams,
    TrainingExample,
    UnlearnContext,
    collate,
    encode,
    nll,
)


class ShuffledParams(MethodParams):
    alpha: float = Field(1.0, ge=0, description="weight of the retain term")


class ShuffledAnswers(LossMethod):
    """Random-label baseline: each forget question is trained on another question's answer;
    loss = CE(x_f, y_shuffled) + alpha CE(D_r)."""

    Params = ShuffledParams

    def setup(self, model: Any, ref: Any, tokenizer: Any, ctx: UnlearnContext) -> None:
        n = len(ctx.forget)
        self.pad = tokenizer.pad_token_id
        self.wrong = [
            encode(
                tokenizer,
                TrainingExample(ex.prompt, ctx.forget[(i + 1) % n].answer),
                self.params.max_length,
            )
            for i, ex in enumerate(ctx.forget)
        ]

    def loss(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        ids, mask, labels = collate([self.wrong[i] for i in forget.index], self.pad)
        shuffled = Batch(ids, mask, labels, forget.index)
        return nll(model, shuffled) + self.params.alpha * nll(model, retain)
