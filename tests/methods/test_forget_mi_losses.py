"""Forget-MI's four losses on hand-made embeddings (every expected value worked out by
hand in the comments), and its SVC membership attack on a fixture where members have
lower loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medlethe.methods.forget_mi_losses import (
    Embeddings,
    forget_mi_loss,
    forget_mi_terms,
    normalised,
)
from medlethe.metrics.privacy import svc_membership


def _emb(image: list[list[float]], text: list[list[float]], joint: list[list[float]]) -> Embeddings:
    return Embeddings(torch.tensor(image), torch.tensor(text), torch.tensor(joint))


def test_the_four_terms_and_the_weighted_sum_by_hand() -> None:
    # forget row 1: image (0,0) text (0) vs noised reference image (3,0) text (4):
    #   |(0,0,0) - (3,0,4)| = 5; row 2 identical to its reference: 0 -> UU = 2.5
    forget = _emb([[0, 0], [1, 1]], [[0], [2]], [[0, 0], [1, 0]])
    noised = _emb([[3, 0], [1, 1]], [[4], [2]], [[0, 2], [1, 0]])
    # MU: joint (0,0) vs (0,2) -> 2; (1,0) vs (1,0) -> 0 -> mean 1
    # retain: UR rows (1,2,2) vs (1,2,2) -> 0 and (0,0,0) vs (1,0,0)... see below
    retain = _emb([[1, 2], [0, 0]], [[2], [0]], [[6, 8], [0, 0]])
    retain_ref = _emb([[1, 2], [0, 0]], [[2], [1]], [[0, 0], [0, 0]])
    # UR: row 1 distance 0, row 2 |(0,0,0) - (0,0,1)| = 1 -> 0.5; MR: 10 and 0 -> 5
    terms = forget_mi_terms(forget, noised, retain, retain_ref)
    assert float(terms.uu) == pytest.approx(2.5)
    assert float(terms.mu) == pytest.approx(1.0)
    assert float(terms.ur) == pytest.approx(0.5)
    assert float(terms.mr) == pytest.approx(5.0)
    # paper weights 1, 1, 2, 2 -> 1/6, 1/6, 1/3, 1/3:
    # 0.5/6 + 2.5/6 + 1/3 + 5/3 = 0.5 + 2 = 2.5
    assert float(forget_mi_loss(terms)) == pytest.approx(2.5)
    # the retention ceilings (first values + 1) clamp MR from 5 to 2: 0.5 + 1/3 + 2/3 = 1.5
    ceilings = (torch.tensor(1.5), torch.tensor(2.0))
    assert float(forget_mi_loss(terms, ceilings=ceilings)) == pytest.approx(1.5)
    assert normalised((1, 1, 1, 1)) == (0.25, 0.25, 0.25, 0.25)
    with pytest.raises(ValueError, match="not all 0"):
        normalised((0, 0, 0, 0))


def test_terms_carry_gradients_to_the_unlearned_side_only() -> None:
    forget = _emb([[0.0, 0.0]], [[0.0]], [[0.0, 0.0]])
    forget.image.requires_grad_(True)
    noised = _emb([[3.0, 0.0]], [[4.0]], [[0.0, 2.0]])
    retain = retain_ref = _emb([[1.0, 0.0]], [[0.0]], [[1.0, 0.0]])
    loss = forget_mi_loss(forget_mi_terms(forget, noised, retain, retain_ref))
    loss.backward()
    # d UU / d image = (image - noised image) / 5 = (-0.6, 0); weight 1/6
    assert forget.image.grad is not None
    assert forget.image.grad.tolist()[0] == pytest.approx([-0.1, 0.0])


def test_svc_attack_calls_low_loss_rows_members() -> None:
    rng = np.random.default_rng(0)
    retain = rng.normal(0.2, 0.05, 200)  # members: low loss
    test = rng.normal(1.0, 0.1, 200)  # non-members: high loss
    remembered = rng.normal(0.2, 0.05, 50)
    forgotten = rng.normal(1.0, 0.1, 50)
    assert svc_membership(retain, test, remembered).mean() > 0.95
    assert svc_membership(retain, test, forgotten).mean() < 0.05


def test_balanced_svc_attack_is_not_swayed_by_many_more_members() -> None:
    # overlapping losses, eight members per non-member: the release's unweighted SVC calls
    # nearly every row a member, even rows drawn like the non-members; the balanced one
    # calls fewer than half of those
    rng = np.random.default_rng(0)
    retain = rng.normal(0.5, 0.3, 800)
    test = rng.normal(0.9, 0.3, 100)
    like_test = rng.normal(0.9, 0.3, 200)
    like_retain = rng.normal(0.5, 0.3, 200)
    assert svc_membership(retain, test, like_test).mean() > 0.9
    balanced = svc_membership(retain, test, like_test, balanced=True).mean()
    assert balanced < 0.5
    assert svc_membership(retain, test, like_retain, balanced=True).mean() > balanced + 0.2
