"""Membership inference: per-sample attack scores and the forget-vs-holdout ROC-AUC.

Each attack metric scores one sample so that *higher means more member-like*. Members are
the forget split (trained on), non-members the holdout split (never trained on). AUC 0.5
means an attacker cannot tell them apart; MIA resistance = 1 - 2|AUC - 0.5|.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from medlethe.metrics.base import Direction, Metric, Sample
from medlethe.metrics.bootstrap import Clusters, Interval, bootstrap_two_samples
from medlethe.metrics.comparison import VERSION
from medlethe.metrics.constants import MEMBERS, MEMBERSHIP_SPLIT, MIN_K, NON_MEMBERS, UNIT
from medlethe.metrics.runmetric import Paired, RunMetric, own_values, paired_values
from medlethe.results.schema import MetricResult

if TYPE_CHECKING:
    from medlethe.results.evaluation import EvaluationRun


class _Attack(Metric):
    version = VERSION
    direction: ClassVar[Direction] = "none"
    needs = frozenset({"gold"})


class LossAttack(_Attack):
    """LOSS attack: minus the mean token NLL of the gold answer (for a classifier, minus the
    training loss of the gold labels)."""

    output_types = frozenset({"generate", "multiple_choice", "loglikelihood", "classify"})

    def score(self, sample: Sample) -> float | None:
        if sample.classification is not None:
            from medlethe.metrics.classification import sample_loss

            value = sample_loss(sample)
            return None if value is None else -value
        gold = sample.gold
        return None if gold is None else gold.mean


class ZlibAttack(_Attack):
    """ZLib attack: minus (mean token NLL / zlib-compressed length in bytes of the answer)."""

    def score(self, sample: Sample) -> float | None:
        gold = sample.gold
        if gold is None:
            return None
        size = len(zlib.compress(sample.instance.target.encode("utf-8")))
        return gold.mean / size


def lowest_mean(values: np.ndarray, k: float) -> float:
    """The mean of the lowest max(1, floor(k n)) of n values (the Min-K % paper's and
    open-unlearning's count)."""
    n = max(1, int(np.floor(len(values) * k)))
    return float(np.sort(values)[:n].mean())


class MinKAttack(_Attack):
    """Min-K %: the mean of the lowest k % token log-probs of the answer (k = 0.4;
    max(1, floor(k n)) tokens)."""

    def __init__(self, k: float = MIN_K) -> None:
        self.k = k

    def score(self, sample: Sample) -> float | None:
        gold = sample.gold
        if gold is None or not gold.logprobs:
            return None
        return lowest_mean(np.asarray(gold.logprobs), self.k)


#: Min-K %++'s floor on the per-position *variance* of log p (the reference implementation's:
#: sigma = sqrt(max(var, 1e-6)) >= 1e-3)
MIN_KPP_VAR_FLOOR = 1e-6


class MinKPlusPlusAttack(MinKAttack):
    """Min-K %++: Min-K over log-probs z-normalised by the mean and standard deviation of
    log p over the vocabulary at each position (needs a backend that gives them); the
    variance is floored at 1e-6 as in the reference implementation (version 3: the
    standard deviation was floored at 1e-6, which on a peaked distribution gave z-scores up
    to 1000 times larger)."""

    version = "3"

    def score(self, sample: Sample) -> float | None:
        gold = sample.gold
        if gold is None or gold.dist_mean is None or gold.dist_std is None:
            return None
        lp = np.asarray(gold.logprobs)
        var = np.square(np.asarray(gold.dist_std, dtype=float))
        z = (lp - np.asarray(gold.dist_mean)) / np.sqrt(np.maximum(var, MIN_KPP_VAR_FLOOR))
        return lowest_mean(z, self.k)


def auc(members: ArrayLike, non_members: ArrayLike) -> float:
    """ROC-AUC of members (label 1) against non-members (scikit-learn); NaN when either
    side is empty."""
    from sklearn.metrics import roc_auc_score

    m, h = np.asarray(members, dtype=float), np.asarray(non_members, dtype=float)
    if m.size == 0 or h.size == 0:
        return float("nan")
    y = np.r_[np.ones(len(m)), np.zeros(len(h))]
    return float(roc_auc_score(y, np.r_[m, h]))


def rank_auc(members: np.ndarray, non_members: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney U statistic over average ranks (ties count one half):
    the value ``roc_auc_score`` gives, without its per-call checks, for bootstrap loops."""
    from scipy.stats import rankdata

    n1, n0 = members.size, non_members.size
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(np.concatenate([members, non_members]))
    return float((ranks[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auc_with_ci(
    members: ArrayLike,
    non_members: ArrayLike,
    *,
    member_clusters: Clusters | None = None,
    non_member_clusters: Clusters | None = None,
    seed: int = 0,
) -> tuple[float, Interval | None]:
    """ROC-AUC and a percentile bootstrap interval, member and non-member clusters
    resampled separately (each row its own cluster when none are given)."""
    m = np.asarray(members, dtype=float)
    h = np.asarray(non_members, dtype=float)
    cm = member_clusters or Clusters.of(None, m.size)
    ch = non_member_clusters or Clusters.of(None, h.size)
    _, ci = bootstrap_two_samples(lambda i, j: rank_auc(m[i], h[j]), cm, ch, seed)
    return auc(m, h), ci


def resistance(a: float) -> float:
    return 1 - 2 * abs(a - 0.5)


def resistance_bounds(low: float, high: float) -> tuple[float, float]:
    """The interval of MIA resistance from an AUC interval (1 when it straddles 0.5)."""
    lo, hi = sorted((resistance(low), resistance(high)))
    return lo, 1.0 if low <= 0.5 <= high else hi


class _AUCMetric(RunMetric):
    """Shared output of the membership AUCs: ``mia_auc_<attack>`` and
    ``mia_resistance_<attack>`` = 1 - 2|AUC - 0.5| on the forget~holdout pair."""

    bounds = UNIT
    version = VERSION
    direction = "none"
    #: names the second result: mia_resistance_<label>
    label: ClassVar[str]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "label" in cls.__dict__:
            cls.also_reports = (f"mia_resistance_{cls.label}",)

    def pair_results(
        self, task: str, value: float, ci: Interval | None, n: int, against: str | None
    ) -> list[MetricResult]:
        res_ci = None
        if ci is not None:
            lo, hi = resistance_bounds(ci.low, ci.high)
            res_ci = Interval(lo, hi, ci.level, "percentile (mapped)", ci.n_resamples, ci.unit)
        return [
            self.result(task, MEMBERSHIP_SPLIT, value, ci, n, against=against),
            self.result(task, MEMBERSHIP_SPLIT, resistance(value), res_ci, n, against=against,
                        direction="higher", metric=self.also_reports[0]),
        ]


class MembershipAUC(_AUCMetric):
    """The ROC-AUC of one attack's per-question scores, forget (members) against holdout
    (non-members), computed from the run alone."""

    #: the registered answer metric whose per-question scores are attacked
    attack: ClassVar[str]

    def compute(
        self, run: EvaluationRun, refs: Mapping[str, EvaluationRun], seed: int
    ) -> list[MetricResult]:
        out = []
        for task in run.values:
            m = own_values(run, task, MEMBERS, self.attack)
            h = own_values(run, task, NON_MEMBERS, self.attack)
            if m.values.size == 0 or h.values.size == 0:
                continue
            value, ci = auc_with_ci(m.values, h.values, member_clusters=m.clusters,
                                    non_member_clusters=h.clusters, seed=seed)
            out.extend(self.pair_results(task, value, ci, m.values.size + h.values.size, None))
        return out


class LossAUC(MembershipAUC):
    """MIA AUC of the LOSS attack."""

    attack = "mia_loss"
    label = "loss"


class ZlibAUC(MembershipAUC):
    """MIA AUC of the ZLib attack."""

    attack = "mia_zlib"
    label = "zlib"


class MinKAUC(MembershipAUC):
    """MIA AUC of the Min-K % attack."""

    attack = "mia_min_k"
    label = "min_k"


class MinKPlusPlusAUC(MembershipAUC):
    """MIA AUC of the Min-K %++ attack (version 3: the reference's variance floor)."""

    version = MinKPlusPlusAttack.version
    attack = "mia_min_k_pp"
    label = "min_k_pp"


def _against_oracle(
    run: EvaluationRun, oracle: EvaluationRun, attack: str
) -> Iterator[tuple[str, Paired, Paired]]:
    """Per task, the attack's scores of members and of non-members, each paired with the
    oracle's on the same rows (tasks without them are skipped)."""
    for task in run.values:
        m = paired_values(run, oracle, task, MEMBERS, attack)
        h = paired_values(run, oracle, task, NON_MEMBERS, attack)
        if m is not None and h is not None:
            yield task, m, h


class ReferenceMIA(_AUCMetric):
    """The Reference attack: score = (- NLL of this model) - (- NLL of the oracle) per
    question; forget-vs-holdout ROC-AUC, and MIA resistance 1 - 2|AUC - 0.5|."""

    needs_runs = frozenset({"oracle"})
    label = "reference"

    def compute(
        self, run: EvaluationRun, refs: Mapping[str, EvaluationRun], seed: int
    ) -> list[MetricResult]:
        out = []
        for task, m, h in _against_oracle(run, refs["oracle"], LossAUC.attack):
            value, ci = auc_with_ci(
                m.after - m.before, h.after - h.before,
                member_clusters=m.clusters, non_member_clusters=h.clusters, seed=seed,
            )
            out.extend(self.pair_results(task, value, ci, len(m) + len(h), "oracle"))
        return out


def privleak(auc_model: float, auc_oracle: float) -> float:
    """MUSE's PrivLeak in percent: (AUC'_model - AUC'_oracle) / AUC'_oracle x 100 with
    AUC' = 1 - AUC (MUSE reports 1 - AUC; open-unlearning reproduces it this way). An
    under-unlearned model (members easier to spot than for the oracle) is negative. Where
    the oracle's AUC is 1 there is no denominator: NaN (withheld), where open-unlearning
    divides by a tiny constant and reports a huge number."""
    ref = 1 - auc_oracle
    return ((1 - auc_model) - ref) / ref * 100 if ref > 0 else float("nan")


class PrivLeak(RunMetric):
    """MUSE PrivLeak with the Min-K 40 % attack against the oracle; 0 is ideal, strongly
    negative means under-unlearning (the target), positive over-unlearning. Interval:
    member and non-member clusters resampled once for both models (paired)."""

    version = VERSION
    direction = "none"
    needs_runs = frozenset({"oracle"})
    attack: ClassVar[str] = MinKAUC.attack

    def compute(
        self, run: EvaluationRun, refs: Mapping[str, EvaluationRun], seed: int
    ) -> list[MetricResult]:
        out = []
        for task, m, h in _against_oracle(run, refs["oracle"], self.attack):

            def leak(i: np.ndarray, j: np.ndarray, m: Paired = m, h: Paired = h) -> float:
                return privleak(rank_auc(m.after[i], h.after[j]),
                                rank_auc(m.before[i], h.before[j]))

            _, ci = bootstrap_two_samples(leak, m.clusters, h.clusters, seed,
                                          method="percentile (paired, stratified)")
            value = privleak(auc(m.after, h.after), auc(m.before, h.before))
            out.append(self.result(task, MEMBERSHIP_SPLIT, value, ci, len(m) + len(h),
                                   against="oracle"))
        return out


def svc_membership(
    retain: ArrayLike, test: ArrayLike, forget: ArrayLike, *, balanced: bool = False
) -> np.ndarray:
    """Forget-MI's membership attack: an RBF SVC (C = 3, gamma "auto", as the authors'
    release) fit on per-sample features of retain rows (members, 1) and test rows
    (non-members, 0), then applied to forget rows; the 0/1 predictions for the forget rows
    (their mean is the share called members). Features are per-sample losses here (one
    column) or any per-sample vectors (rows). ``balanced`` weighs each class by the inverse
    of its size (scikit-learn's ``class_weight="balanced"``): retain is usually several
    times the test set, and the unweighted SVC then calls nearly everything a member."""
    from sklearn.svm import SVC

    def rows(x: ArrayLike) -> np.ndarray:
        a = np.asarray(x, dtype=float)
        return a.reshape(-1, 1) if a.ndim == 1 else a

    r, t, f = rows(retain), rows(test), rows(forget)
    clf = SVC(C=3, kernel="rbf", gamma="auto", class_weight="balanced" if balanced else None)
    clf.fit(np.vstack([r, t]), np.r_[np.ones(len(r)), np.zeros(len(t))])
    out: np.ndarray = clf.predict(f).astype(float)
    return out
