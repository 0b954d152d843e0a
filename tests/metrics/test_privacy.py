"""Membership-inference scores and AUCs against values worked out by hand."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from medlethe.backends import LoglikelihoodResult
from medlethe.compare import ks_p_value, paired_bootstrap
from medlethe.metrics.base import Sample
from medlethe.metrics.privacy import (
    LossAttack,
    MinKAttack,
    MinKPlusPlusAttack,
    ZlibAttack,
    auc,
    auc_with_ci,
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
    # k = 40 % of 5 tokens -> the 2 lowest: -5 and -4
    assert MinKAttack().score(s) == pytest.approx(-4.5)
    pp = sample("x", (-1.0, -2.0, -4.0), dist_mean=(-2.0, -2.0, -2.0), dist_std=(1.0, 2.0, 1.0))
    # z = (1, 0, -2); lowest 40 % of 3 -> ceil(1.2) = 2 values: -2, 0
    assert MinKPlusPlusAttack().score(pp) == pytest.approx(-1.0)
    assert MinKPlusPlusAttack().score(s) is None  # backend gave no vocabulary statistics


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


def test_paired_bootstrap_of_a_ratio() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0])
    value, ci = paired_bootstrap(lambda x, y: float(x.mean() / y.mean()), [a, a * 2], seed=0)
    # the ratio is 0.5 in every resample because the pairs move together
    assert value == pytest.approx(0.5) and ci is not None
    assert ci.low == pytest.approx(0.5) and ci.high == pytest.approx(0.5)


def test_bootstrap_auc_rows_equal_sklearn_with_ties() -> None:
    """The vectorised bootstrap must give exactly the AUC sklearn gives for each resample,
    ties included (scores rounded to one decimal to force many)."""
    from sklearn.metrics import roc_auc_score

    from medlethe.metrics.privacy import _auc_rows

    rng = np.random.default_rng(3)
    members = np.round(rng.normal(0.4, 1, (20, 30)), 1)
    non_members = np.round(rng.normal(0.0, 1, (20, 50)), 1)
    got = _auc_rows(members, non_members)
    y = np.r_[np.ones(30), np.zeros(50)]
    want = [roc_auc_score(y, np.r_[m, h]) for m, h in zip(members, non_members, strict=True)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    value, ci = auc_with_ci(members[0], non_members[0], n_resamples=200)
    assert ci is not None and ci.low <= value <= ci.high and ci.low < ci.high
