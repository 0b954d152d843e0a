"""Membership-inference scores and AUCs against values worked out by hand."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from medlethe.backends import LoglikelihoodResult
from medlethe.metrics import Clusters, bootstrap_of_means
from medlethe.metrics.base import Sample
from medlethe.metrics.comparison import ks_p_value
from medlethe.metrics.privacy import (
    LossAttack,
    MinKAttack,
    MinKPlusPlusAttack,
    ZlibAttack,
    auc,
    auc_with_ci,
    privleak,
    rank_auc,
    resistance,
)
from medlethe.task import Instance


def sample(target: str, logprobs: tuple[float, ...], **dist: tuple[float, ...]) -> Sample:
    inst = Instance("t", "forget", 0, "generate", "Q?", target)
    flags = tuple(False for _ in logprobs)
    return Sample(inst, continuation=LoglikelihoodResult(logprobs, flags, **dist))


def test_attack_scores_by_hand() -> None:
    s = sample("metoprolol", (-1.0, -2.0, -3.0, -4.0, -5.0))
    assert LossAttack().score(s) == pytest.approx(-3.0)
    assert ZlibAttack().score(s) == pytest.approx(-3.0 / len(zlib.compress(b"metoprolol")))
    # k = 40 % of 5 tokens -> floor(2.0) = 2 lowest: -5 and -4
    assert MinKAttack().score(s) == pytest.approx(-4.5)
    # Min-K paper / open-unlearning: max(1, floor(k n)) tokens; 3 tokens at 40 % -> 1
    three = sample("x", (-1.0, -2.0, -4.0))
    assert MinKAttack().score(three) == pytest.approx(-4.0)
    assert MinKAttack().score(sample("x", (-0.5,))) == pytest.approx(-0.5)  # at least 1
    pp = sample("x", (-1.0, -2.0, -4.0), dist_mean=(-2.0, -2.0, -2.0), dist_std=(1.0, 2.0, 1.0))
    # z = (1, 0, -2); lowest floor(0.4 * 3) = 1 value: -2
    assert MinKPlusPlusAttack().score(pp) == pytest.approx(-2.0)
    assert MinKPlusPlusAttack().score(s) is None  # backend gave no vocabulary statistics


def test_min_k_pp_floors_the_variance_as_the_reference_does() -> None:
    """A memorised answer: the gold token's logit 30 above the 999 others of a 1,000-token
    vocabulary. Under the model's own distribution log p has mean mu and variance var
    (worked here in closed form); var is about 8e-8, under the reference's floor of 1e-6 on
    the variance, so sigma = 1e-3 (a floor of 1e-6 on sigma would divide by 2.9e-4)."""
    import math

    from medlethe.backends.hf import _scored

    torch = pytest.importorskip("torch")
    e = math.exp(-30.0)
    lp_top, lp_other = -math.log1p(999 * e), -30.0 - math.log1p(999 * e)
    p_top, p_other = math.exp(lp_top), math.exp(lp_other)
    mu = p_top * lp_top + 999 * p_other * lp_other
    var = p_top * lp_top**2 + 999 * p_other * lp_other**2 - mu**2
    assert 7e-8 < var < 1e-7
    logits = torch.zeros(1, 1000, dtype=torch.float64)
    logits[0, 0] = 30.0
    got = _scored(logits, [0])  # the backend's own statistics (float32: a few % off here)
    assert got.dist_mean[0] == pytest.approx(mu, rel=0.05)
    assert got.dist_std[0] == pytest.approx(math.sqrt(var), rel=0.05)
    one = sample("x", (lp_top,), dist_mean=(mu,), dist_std=(math.sqrt(var),))
    assert MinKPlusPlusAttack().score(one) == pytest.approx((lp_top - mu) / 1e-3, rel=1e-9)
    # where the spread is below the floor, sigma is 1e-3, never the spread itself
    flat = sample("x", (-1e-3,), dist_mean=(-2e-3,), dist_std=(1e-6,))
    assert MinKPlusPlusAttack().score(flat) == pytest.approx(1.0)
    assert MinKPlusPlusAttack.version == "3"


def test_auc_is_half_on_identical_and_one_on_separable_scores() -> None:
    rng = np.random.default_rng(0)
    same = rng.normal(size=200)
    assert auc(same, same) == pytest.approx(0.5)
    value, ci = auc_with_ci(list(rng.normal(size=300)), list(rng.normal(size=300)))
    assert abs(value - 0.5) < 0.06 and ci is not None and ci.low < 0.5 < ci.high
    assert auc([5.0, 6.0, 7.0], [1.0, 2.0, 3.0]) == 1.0
    assert auc([1.0, 2.0], [5.0, 6.0]) == 0.0


def test_mia_resistance_matches_duolearn() -> None:
    assert resistance(0.555) == pytest.approx(0.89)
    assert resistance(0.5) == 1.0 and resistance(1.0) == 0.0 and resistance(0.0) == 0.0


def test_ks_p_value_of_identical_samples_is_one() -> None:
    a = np.array([0.1, 0.4, 0.5, 0.9, 1.3])
    assert ks_p_value(a, a.copy()) == pytest.approx(1.0)
    assert ks_p_value(np.linspace(0, 1, 40), np.linspace(5, 6, 40)) < 1e-10


def test_privleak_is_muses_form_by_hand() -> None:
    """MUSE reports AUC' = 1 - AUC; PrivLeak = (AUC'_u - AUC'_o) / AUC'_o x 100.
    AUC_u = 0.99, AUC_o = 0.55: (0.01 - 0.45) / 0.45 x 100 = -97.78 (under-unlearned is
    negative, as in MUSE's tables; the old form gave +80.0)."""
    assert privleak(0.99, 0.55) == pytest.approx(-97.777, abs=1e-3)
    assert privleak(0.55, 0.55) == 0.0
    assert privleak(0.30, 0.50) == pytest.approx(40.0)  # over-unlearned: positive
    assert np.isnan(privleak(0.7, 1.0))


def test_paired_bootstrap_of_a_ratio() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0])
    value, ci = bootstrap_of_means(lambda x, y: x / y, [a, a * 2], Clusters.of(None, 4), seed=0)
    # the ratio is 0.5 in every resample because the pairs move together
    assert value == pytest.approx(0.5) and ci is not None
    assert ci.low == pytest.approx(0.5) and ci.high == pytest.approx(0.5)


def test_bootstrap_rank_auc_equals_sklearn_with_ties() -> None:
    """The bootstrap's rank AUC must give exactly the AUC sklearn gives, ties included
    (scores rounded to one decimal to force many)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    members = np.round(rng.normal(0.4, 1, (20, 30)), 1)
    non_members = np.round(rng.normal(0.0, 1, (20, 50)), 1)
    y = np.r_[np.ones(30), np.zeros(50)]
    for m, h in zip(members, non_members, strict=True):
        assert rank_auc(m, h) == pytest.approx(roc_auc_score(y, np.r_[m, h]), abs=1e-12)
    value, ci = auc_with_ci(members[0], non_members[0])
    assert ci is not None and ci.low <= value <= ci.high and ci.low < ci.high


def test_auc_interval_resamples_member_clusters() -> None:
    """Members in 6 patients of 10 identical questions each: the patient interval is wider
    than the question interval, which treats the 60 rows as independent."""
    rng = np.random.default_rng(1)
    members = np.repeat(rng.normal(0.5, 1, 6), 10)
    non_members = rng.normal(0.0, 1, 60)
    _, by_question = auc_with_ci(members, non_members)
    _, by_patient = auc_with_ci(
        members, non_members,
        member_clusters=Clusters.of(list(np.repeat(np.arange(6), 10)), 60, "patient"),
        non_member_clusters=Clusters.of(None, 60),
    )
    assert by_question is not None and by_patient is not None
    assert by_patient.unit == "patient"
    assert (by_patient.high - by_patient.low) > 1.5 * (by_question.high - by_question.low)
