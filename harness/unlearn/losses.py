"""Loss building blocks over :class:`Batch` (answer tokens are those with a label)."""

from __future__ import annotations

from typing import Any

from medlethe.unlearn.base import Batch


def forward(model: Any, batch: Batch, **kwargs: Any) -> Any:
    return model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, **kwargs)


def token_logprobs(logits: Any, batch: Batch) -> tuple[Any, Any]:
    """Per-position log-prob of each label token and the mask of labelled positions
    (both shaped [batch, length-1])."""
    import torch

    labels = batch.labels[:, 1:]
    mask = labels != -100
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    picked = logp.gather(-1, labels.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    return picked * mask, mask


def nll(model: Any, batch: Batch) -> Any:
    """Mean token cross-entropy of the answers (CE in the spec)."""
    return forward(model, batch, labels=batch.labels).loss


def sequence_logprob(model: Any, batch: Batch) -> tuple[Any, Any]:
    """Summed answer log-probability log pi(y|x) per row, and answer lengths |y|."""
    logits = forward(model, batch).logits
    picked, mask = token_logprobs(logits, batch)
    return picked.sum(-1), mask.sum(-1)


def kl_to_reference(model: Any, ref: Any, batch: Batch) -> Any:
    """KL(p_ref || p_theta) per answer token, averaged over answer tokens."""
    import torch

    logits = forward(model, batch).logits[:, :-1].float()
    with torch.no_grad():
        ref_logits = forward(ref, batch).logits[:, :-1].float()
    mask = (batch.labels[:, 1:] != -100).float()
    logp = torch.log_softmax(logits, -1)
    ref_logp = torch.log_softmax(ref_logits, -1)
    kl = (ref_logp.exp() * (ref_logp - logp)).sum(-1)
    return (kl * mask).sum() / mask.sum().clamp_min(1.0)
