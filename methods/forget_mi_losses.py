"""The four Forget-MI losses (arXiv 2506.23145), as functions of embeddings, for the
``ForgetMI`` method of image + text classifiers.

Read from the authors' released training code (facts, not code): every distance is the
Euclidean distance between two embeddings of the same sample, averaged over the batch.

* **UU** (unimodal unlearning): the unlearned model's concatenated image and text
  embeddings of a forget sample against the *original* model's embeddings of a noised copy
  of it (Gaussian image noise, word swaps and character noise in the report). With noise,
  the distance is minimised: the forget sample is pulled to where the original put noise.
* **MU** (multimodal unlearning): the same on the joint (gated) embedding.
* **UR** (unimodal retention): the unlearned against the original concatenated embeddings of
  a retain sample, minimised.
* **MR** (multimodal retention): the same on the joint embedding.

Weights are normalised to sum 1 (the paper reports 1, 1, 2, 2 for UR, UU, MU, MR). The
retention terms are clamped: their first measured value plus 1 is a ceiling
(``min(L, L_0 + 1)``), as in the authors' code. Where that code differs from the paper's
intent, medlethe follows the intent and says so (docs/methods.md): it takes an optimiser step
per batch (the release accumulates a whole epoch into one step), uses the model's own
trained gate for joint embeddings (the release builds a fresh, untrained gate for every
batch: ``ForgetMI/release`` does that), and its
membership attack reads per-sample losses (the release averages per batch first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: UR, UU, MU, MR as reported in the paper
PAPER_WEIGHTS = (1.0, 1.0, 2.0, 2.0)


def distance(a: Any, b: Any) -> Any:
    """Mean over the batch of the per-row Euclidean distance between two embeddings."""
    return ((a - b) ** 2).sum(dim=-1).sqrt().mean()


def normalised(weights: tuple[float, float, float, float]) -> tuple[float, ...]:
    """Weights scaled to sum 1 (an error for a negative or all-zero set)."""
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"Forget-MI weights must be >= 0 and not all 0, got {weights}")
    total = sum(weights)
    return tuple(w / total for w in weights)


@dataclass(frozen=True)
class Embeddings:
    """One batch's image, text and joint embeddings (rows aligned)."""

    image: Any
    text: Any
    joint: Any

    @property
    def unimodal(self) -> Any:
        import torch

        return torch.cat([self.image, self.text], dim=-1)


@dataclass(frozen=True)
class Terms:
    ur: Any
    uu: Any
    mu: Any
    mr: Any


def forget_mi_terms(
    forget: Embeddings, noised_ref: Embeddings, retain: Embeddings, retain_ref: Embeddings
) -> Terms:
    """The four distances: ``forget`` and ``retain`` from the model being unlearned,
    ``noised_ref`` (the noised forget copies) and ``retain_ref`` from the frozen original."""
    return Terms(
        ur=distance(retain.unimodal, retain_ref.unimodal),
        uu=distance(forget.unimodal, noised_ref.unimodal),
        mu=distance(forget.joint, noised_ref.joint),
        mr=distance(retain.joint, retain_ref.joint),
    )


def forget_mi_loss(
    terms: Terms,
    weights: tuple[float, float, float, float] = PAPER_WEIGHTS,
    ceilings: tuple[Any, Any] | None = None,
) -> Any:
    """a UR + b UU + t MU + g MR with normalised weights; ``ceilings`` (UR_0 + 1,
    MR_0 + 1) clamp the retention terms from above."""
    import torch

    a, b, t, g = normalised(weights)
    ur, mr = terms.ur, terms.mr
    if ceilings is not None:
        ur = torch.minimum(ur, ceilings[0])
        mr = torch.minimum(mr, ceilings[1])
    return a * ur + b * terms.uu + t * terms.mu + g * mr
