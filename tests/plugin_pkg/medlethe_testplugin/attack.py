"""An attack that changes nothing: its recovery ratio must be exactly 0."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from medlethe import Attack, AttackContext, AttackOutput


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    note: str = Field("none", description="a parameter, recorded with the attacked run")


class Identity(Attack):
    """Return the unlearned model as it is (a control: nothing can come back)."""

    Params = Params
    output_types = frozenset({"generate", "multiple_choice", "loglikelihood", "classify"})

    def attack(self, ctx: AttackContext) -> AttackOutput:
        return AttackOutput(ctx.model, ctx.adapter, meta={"changed": 0})
