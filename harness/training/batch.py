"""Encoding examples the way the backends score them, and batching them for training.

An answer is encoded as ``tok(prompt)`` then ``tok(delimiter + answer)`` without special
tokens, then EOS; the labels cover answer tokens only (-100 on the prompt). A plain text
(an empty prompt) is learnt whole after BOS.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from medlethe.task.base import TrainingExample

#: token ids and labels of one example
Encoded = tuple[list[int], list[int]]


def encode(tok: Any, ex: TrainingExample, max_length: int) -> Encoded:
    """Token ids and labels (-100 on the prompt) of one example, cut at ``max_length``."""
    if ex.prompt:
        ctx = tok(ex.prompt).input_ids
        ans = tok(ex.delimiter + ex.answer, add_special_tokens=False).input_ids
    else:
        ctx = tok("").input_ids or [tok.bos_token_id if tok.bos_token_id is not None else 0]
        ans = tok(ex.answer, add_special_tokens=False).input_ids
    ids = ctx + ans + [tok.eos_token_id]
    labels = [-100] * len(ctx) + ans + [tok.eos_token_id]
    return ids[:max_length], labels[:max_length]


def right_pad(seqs: Sequence[Sequence[int]], pad: int) -> tuple[Any, Any]:
    """Token id lists padded on the right with ``pad`` to the longest, and the attention
    mask (1 on tokens, 0 on padding), as two tensors."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.tensor([[*s, *[pad] * (width - len(s))] for s in seqs])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
    return ids, mask


def left_pad(seqs: Sequence[Sequence[int]], pad: int) -> tuple[Any, Any]:
    """As :func:`right_pad`, padding on the left (every sequence ends in the last column)."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.tensor([[*[pad] * (width - len(s)), *s] for s in seqs])
    mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs])
    return ids, mask


def collate(items: Sequence[Encoded], pad: int) -> tuple[Any, Any, Any]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 on padding)."""
    ids, mask = right_pad([i for i, _ in items], pad)
    labels, _ = right_pad([lab for _, lab in items], -100)
    return ids, mask, labels
