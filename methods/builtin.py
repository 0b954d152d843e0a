"""The baseline unlearning methods, with the losses of the spec (section 4).

Notation: CE = mean answer-token cross-entropy; log pi(y|x) = summed answer log-probability;
ref = the frozen target model. Every loss below is minimised.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from pydantic import Field

from medlethe.task import Task, TrainingExample
from medlethe.unlearn import (
    LM_TASKS,
    Batch,
    LossMethod,
    Method,
    MethodParams,
    UnlearnContext,
    UnlearnOutput,
    collate,
    encode,
    forward,
    kl_to_reference,
    knobs,
    nll,
    sequence_logprob,
)


class GradAscent(LossMethod):
    """Gradient ascent on the forget set: loss = -CE(D_f)."""

    def loss(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        return -nll(model, forget)


class RetainWeighted(MethodParams):
    alpha: float = Field(1.0, ge=0, description="weight of the retain term")


class GradDiff(LossMethod):
    """Gradient difference: loss = -CE(D_f) + alpha CE(D_r)."""

    front_space = knobs(learning_rate=(1.7e-4, 5e-4, 1.5e-3), alpha=(0.5, 1.0, 2.0))

    Params = RetainWeighted

    def loss(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        return -nll(model, forget) + self.params.alpha * nll(model, retain)


class KLMin(LossMethod):
    """KL minimisation: loss = -CE(D_f) + alpha KL(p_ref || p_theta) on D_r."""

    front_space = knobs(learning_rate=(1.7e-4, 5e-4, 1.5e-3), alpha=(0.5, 1.0, 2.0))

    Params = RetainWeighted
    needs_reference = True

    def loss(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        return -nll(model, forget) + self.params.alpha * kl_to_reference(model, ref, retain)


class NPOParams(RetainWeighted):
    beta: float = Field(0.1, gt=0, description="inverse temperature")


class NPO(LossMethod):
    """Negative preference optimisation on D_f, plus alpha CE(D_r).

    loss = -(2/beta) mean log sigma(-beta [log pi(y_f|x) - log pi_ref(y_f|x)]) + alpha CE(D_r)."""

    Params = NPOParams
    needs_reference = True
    front_space = knobs(learning_rate=(1.7e-4, 5e-4, 1.5e-3), beta=(0.05, 0.1, 0.5))

    def loss(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        import torch
        import torch.nn.functional as F

        p = self.params
        logp, _ = sequence_logprob(model, forget)
        with torch.no_grad():
            ref_logp, _ = sequence_logprob(ref, forget)
        forget_loss = -(2 / p.beta) * F.logsigmoid(-p.beta * (logp - ref_logp)).mean()
        return forget_loss + p.alpha * nll(model, retain)


class SimNPOParams(MethodParams):
    beta: float = Field(2.5, gt=0, description="inverse temperature")
    gamma: float = Field(0.0, ge=0, description="reward margin")
    lam: float = Field(1.0, ge=0, description="weight of the retain term (lambda)")


class SimNPO(LossMethod):
    """SimNPO: reference-free, length-normalised NPO, plus lambda CE(D_r).

    loss = -(2/beta) mean log sigma(-(beta/|y|) log pi(y|x) - gamma) + lambda CE(D_r)."""

    Params = SimNPOParams

    def loss(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        import torch.nn.functional as F

        p = self.params
        logp, length = sequence_logprob(model, forget)
        margin = -(p.beta / length.clamp_min(1)) * logp - p.gamma
        return -(2 / p.beta) * F.logsigmoid(margin).mean() + p.lam * nll(model, retain)


class RMUParams(MethodParams):
    layer: int | None = Field(None, ge=0, description="steered layer; None = the middle one")
    steering_coeff: float = Field(
        100.0, gt=0, description="c: norm of the control vector (scale with activation norms)"
    )
    alpha: float = Field(10.0, ge=0, description="weight of the retain activation term")
    trainable_layers: int = Field(3, ge=1, description="MLPs of this many layers up to l")
    learning_rate: float = Field(5e-3, gt=0)


class RMU(LossMethod):
    """Representation misdirection: steer layer-l activations of D_f to c*u, keep D_r's.

    At layer l, loss = ||h_theta(x_f) - c u||^2 + alpha ||h_theta(x_r) - h_ref(x_r)||^2
    (mean squared error over positions and units), u a fixed random unit vector; only the
    MLPs of layers l-k+1..l are trained. Harness choice: the forget term covers the
    positions that predict answer tokens, since forget and retain prompts share their
    template."""

    Params = RMUParams
    needs_reference = True

    def setup(self, model: Any, ref: Any, tokenizer: Any, ctx: UnlearnContext) -> None:
        import torch

        layers = model.config.num_hidden_layers
        self.layer = self.params.layer if self.params.layer is not None else layers // 2
        if self.layer >= layers:
            raise ValueError(f"RMU: layer {self.layer} but the model has {layers} layers")
        gen = torch.Generator().manual_seed(self.params.seed)
        u = torch.rand(model.config.hidden_size, generator=gen)
        self.control = self.params.steering_coeff * u / u.norm()

    def trainable(self, model: Any) -> Iterator[tuple[str, Any]]:
        first = max(0, self.layer - self.params.trainable_layers + 1)
        wanted = tuple(f"layers.{i}.mlp." for i in range(first, self.layer + 1))
        lora = any("lora_" in n for n, _ in model.named_parameters())
        return (
            (n, p)
            for n, p in model.named_parameters()
            if any(w in n for w in wanted) and ("lora_" in n) == lora
        )

    def activations(self, model: Any, batch: Batch) -> Any:
        out = forward(model, batch, output_hidden_states=True)
        return out.hidden_states[self.layer + 1]

    def loss(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        import torch

        # Forget term on the positions that predict answer tokens (the prompt template is
        # shared with retain questions); retain term on every position.
        predicts = torch.zeros_like(forget.attention_mask, dtype=torch.float)
        predicts[:, :-1] = (forget.labels[:, 1:] != -100).float()
        h_forget = self.activations(model, forget)
        control = self.control.to(h_forget.device, h_forget.dtype)
        forget_loss = _masked_mse(h_forget, control, predicts)
        if not retain.index:
            return forget_loss
        with torch.no_grad():
            h_ref = self.activations(ref, retain)
        mask_r = retain.attention_mask.float()
        retain_loss = _masked_mse(self.activations(model, retain), h_ref, mask_r)
        return forget_loss + self.params.alpha * retain_loss


def _masked_mse(h: Any, goal: Any, mask: Any) -> Any:
    """Mean squared error over the masked positions and all hidden units."""
    sq = ((h - goal) ** 2).sum(-1) * mask
    return sq.sum() / (mask.sum().clamp_min(1.0) * h.shape[-1])


IDK_ANSWERS = (
    "I don't know.",
    "I'm not able to answer that.",
    "I have no information about that.",
    "That is not something I can tell you.",
    "I cannot answer that question.",
)


class IdkParams(NPOParams):
    learning_rate: float = Field(2e-3, gt=0)


class IdkPO(LossMethod):
    """DPO preferring an "I don't know" answer over the forgotten one, plus alpha CE(D_r).

    Reference = the target; loss = -log sigma(beta [(log pi(y_idk|x) - log pi_ref(y_idk|x)) -
    (log pi(y_f|x) - log pi_ref(y_f|x))]) + alpha CE(D_r)."""

    Params = IdkParams
    needs_reference = True

    def setup(self, model: Any, ref: Any, tokenizer: Any, ctx: UnlearnContext) -> None:
        self.tokenizer = tokenizer
        self.idk = [
            encode(
                tokenizer, TrainingExample(ex.prompt, _idk_for(ex.prompt)), self.params.max_length
            )
            for ex in ctx.forget
        ]

    def loss(self, model: Any, ref: Any, forget: Batch, retain: Batch) -> Any:
        import torch
        import torch.nn.functional as F

        ids, mask, labels = collate(
            [self.idk[i] for i in forget.index], self.tokenizer.pad_token_id
        )
        dev = forget.input_ids.device
        idk = Batch(ids.to(dev), mask.to(dev), labels.to(dev), forget.index)
        win, _ = sequence_logprob(model, idk)
        lose, _ = sequence_logprob(model, forget)
        with torch.no_grad():
            ref_win, _ = sequence_logprob(ref, idk)
            ref_lose, _ = sequence_logprob(ref, forget)
        margin = self.params.beta * ((win - ref_win) - (lose - ref_lose))
        return -F.logsigmoid(margin).mean() + self.params.alpha * nll(model, retain)


def _idk_for(prompt: str) -> str:
    digest = hashlib.sha256(prompt.encode()).digest()
    return IDK_ANSWERS[digest[0] % len(IDK_ANSWERS)]


class Retrain(Method):
    """The oracle: fine-tune the base model on D_r only, as the target was on D_f + D_r.

    Reuses the cached oracle."""

    output_types = LM_TASKS | {"classify"}

    def applies_to(self, task: Task) -> bool:
        """Every kind whose models medlethe trains (its kind names a model family)."""
        from medlethe import get_registry, kind_of

        return kind_of(task, get_registry()).family is not None

    def unlearn(self, ctx: UnlearnContext) -> UnlearnOutput:
        from medlethe.training import finetune_model

        oracle = finetune_model(
            ctx.base_model, ctx.task, "retain", config=ctx.train_config, progress=ctx.progress
        )
        return UnlearnOutput(
            path=oracle.path,
            meta={"method": self.name, "oracle_fingerprint": oracle.fingerprint},
        )

