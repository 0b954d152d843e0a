"""Membership inference: per-sample attack scores and the forget-vs-holdout ROC-AUC.

Each attack metric scores one sample so that *higher means more member-like*. Members are
the forget split (trained on), non-members the holdout split (never trained on). AUC 0.5
means an attacker cannot tell them apart; MIA resistance = 1 - 2|AUC - 0.5|.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from medlethe.metrics.base import Direction, Interval, Metric, Sample

MEMBERS, NON_MEMBERS = "forget", "holdout"


class _Attack(Metric):
    direction: ClassVar[Direction] = "none"
    needs = frozenset({"gold"})
    #: marks metrics whose forget and holdout values feed the AUC
    membership_score: ClassVar[bool] = True


class LossAttack(_Attack):
    """LOSS attack: minus the mean token NLL of the gold answer."""

    name = "mia_loss"

    def score(self, sample: Sample) -> float | None:
        gold = sample.gold
        return None if gold is None else gold.mean


class ZlibAttack(_Attack):
    """ZLib attack: minus (mean token NLL / zlib-compressed length in bytes of the answer)."""

    name = "mia_zlib"

    def score(self, sample: Sample) -> float | None:
        gold = sample.gold
        if gold is None:
            return None
        size = len(zlib.compress(sample.instance.target.encode("utf-8")))
        return gold.mean / size


def _lowest_mean(values: np.ndarray, k: float) -> float:
    n = max(1, int(np.ceil(len(values) * k)))
    return float(np.sort(values)[:n].mean())


class MinKAttack(_Attack):
    """Min-K %: the mean of the lowest k % token log-probs of the answer (k = 0.4)."""

    name = "mia_min_k"

    def __init__(self, k: float = 0.4) -> None:
        self.k = k

    def score(self, sample: Sample) -> float | None:
        gold = sample.gold
        if gold is None or not gold.logprobs:
            return None
        return _lowest_mean(np.asarray(gold.logprobs), self.k)


class MinKPlusPlusAttack(MinKAttack):
    """Min-K %++: Min-K over log-probs z-normalised by the mean and standard deviation of
    log p over the vocabulary at each position (needs a backend that gives them)."""

    name = "mia_min_k_pp"

    def score(self, sample: Sample) -> float | None:
        gold = sample.gold
        if gold is None or gold.dist_mean is None or gold.dist_std is None:
            return None
        lp = np.asarray(gold.logprobs)
        z = (lp - np.asarray(gold.dist_mean)) / np.maximum(np.asarray(gold.dist_std), 1e-6)
        return _lowest_mean(z, self.k)


def auc(members: ArrayLike, non_members: ArrayLike) -> float:
    from sklearn.metrics import roc_auc_score

    m, h = np.asarray(members, dtype=float), np.asarray(non_members, dtype=float)
    y = np.r_[np.ones(len(m)), np.zeros(len(h))]
    return float(roc_auc_score(y, np.r_[m, h]))


def _auc_rows(members: Any, non_members: Any) -> Any:
    """ROC-AUC of each row pair at once, as the Mann-Whitney U statistic over average ranks
    (ties count one half): the value ``roc_auc_score`` gives, without its per-call checks,
    which made 1000 bootstrap resamples take seconds."""
    from scipy.stats import rankdata

    n1, n0 = members.shape[1], non_members.shape[1]
    ranks = rankdata(np.concatenate([members, non_members], axis=1), axis=1)
    return (ranks[:, :n1].sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)


def auc_with_ci(
    members: Sequence[float],
    non_members: Sequence[float],
    *,
    seed: int = 0,
    n_resamples: int = 1000,
    level: float = 0.95,
) -> tuple[float, Interval | None]:
    """ROC-AUC and a percentile bootstrap interval (members and non-members resampled
    separately)."""
    m = np.asarray(members, dtype=float)
    h = np.asarray(non_members, dtype=float)
    value = auc(m, h)
    if len(m) < 2 or len(h) < 2:
        return value, None
    rng = np.random.default_rng(seed)
    draws = [
        (rng.integers(0, len(m), len(m)), rng.integers(0, len(h), len(h)))
        for _ in range(n_resamples)
    ]
    stats = _auc_rows(np.stack([m[i] for i, _ in draws]), np.stack([h[j] for _, j in draws]))
    lo, hi = np.percentile(stats, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return value, Interval(float(lo), float(hi), level, "percentile", n_resamples)


def resistance(a: float) -> float:
    return 1 - 2 * abs(a - 0.5)


def resistance_bounds(low: float, high: float) -> tuple[float, float]:
    """The interval of MIA resistance from an AUC interval (1 when it straddles 0.5)."""
    lo, hi = sorted((resistance(low), resistance(high)))
    return lo, 1.0 if low <= 0.5 <= high else hi


def membership_pairs(
    values: Mapping[str, Mapping[str, Sequence[float | None]]], attacks: Sequence[str]
) -> dict[str, tuple[list[float], list[float]]]:
    """For each attack with forget and holdout values: (member scores, non-member scores)."""
    out = {}
    if MEMBERS in values and NON_MEMBERS in values:
        for name in attacks:
            mem = [v for v in values[MEMBERS].get(name, []) if v is not None]
            non = [v for v in values[NON_MEMBERS].get(name, []) if v is not None]
            if mem and non:
                out[name] = (mem, non)
    return out
