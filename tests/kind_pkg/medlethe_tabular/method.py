"""GradDiff for the MLP: ascend the loss on the forgotten patients' visits, descend it on
the retained ones, on medlethe's shared loop."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from medlethe import Batch, LossMethod, MethodParams


class Params(MethodParams):
    epochs: float = Field(10.0, gt=0, description="passes over the forget set")
    learning_rate: float = Field(5e-3, gt=0, description="AdamW peak learning rate")


class TabularGradDiff(LossMethod):
    """GradDiff on the MLP: ascent on the forgotten visits, descent on the retained."""

    Params = Params
    output_types = frozenset({"tabular"})

    def loss(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        loss = -model(**forget.inputs(), labels=forget.labels).loss
        if retain.index:
            loss = loss + model(**retain.inputs(), labels=retain.labels).loss
        return loss
