"""Forgetting and utility against the target before unlearning (AFE, MU, DS, FR, KPR, LS
ratio), TOFU's forget quality against the oracle, TOFU's model utility and the share of
parameters modified. Definitions and sources: ``docs/metrics.md``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from medlethe.metrics.bootstrap import bootstrap, bootstrap_of_means
from medlethe.metrics.constants import (
    ACCURACY,
    CORE_VERSION,
    FORGET_SPLITS,
    LEVEL,
    PRIMARY,
    RETAIN_SPLITS,
    UNIT,
)
from medlethe.metrics.runmetric import RunMetric, paired_values
from medlethe.results.schema import CI, MetricResult

if TYPE_CHECKING:
    from medlethe.results.evaluation import EvaluationRun

VERSION = CORE_VERSION


def ratio(a: float | np.ndarray, b: float | np.ndarray) -> float | np.ndarray:
    """a / b, undefined (NaN) where b is not positive; works on scalars and arrays."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.asarray(b) > 0, np.asarray(a) / np.asarray(b), np.nan)


class _VersusTarget(RunMetric):
    """after/before statistics of an answer score on the same questions."""

    version = VERSION
    needs_runs = frozenset({"target"})
    score_map: ClassVar[Mapping[str, str]] = PRIMARY

    def splits(self, run: EvaluationRun, task: str) -> list[str]:
        return [s for s in run.values.get(task, {}) if s not in FORGET_SPLITS]

    def statistic(self, after: float | np.ndarray, before: float | np.ndarray) -> float:
        """Of the two runs' *mean* scores (scalars, or arrays of resampled means)."""
        return ratio(after, before)  # type: ignore[return-value]

    def compute(
        self, run: EvaluationRun, refs: Mapping[str, EvaluationRun], seed: int
    ) -> list[MetricResult]:
        ref = refs["target"]
        out = []
        for task in run.values:
            metric = self.score_map.get(run.output_type(task))
            if metric is None or task not in ref.values:
                continue
            for split in self.splits(run, task):
                pair = paired_values(run, ref, task, split, metric)
                if pair is None:
                    continue
                value, ci = bootstrap_of_means(
                    self.statistic, [pair.after, pair.before], pair.clusters, seed
                )
                out.append(self.result(task, split, value, ci, len(pair), against="target"))
        return out


class AFE(_VersusTarget):
    """Answer forgetting effectiveness: 1 - score_after(forget) / score_before(forget),
    the score being ROUGE-L recall (free text) or accuracy (multiple choice)."""

    def splits(self, run: EvaluationRun, task: str) -> list[str]:
        return [s for s in run.values.get(task, {}) if s in FORGET_SPLITS]

    def statistic(self, after: float | np.ndarray, before: float | np.ndarray) -> float:
        return 1 - ratio(after, before)  # type: ignore[return-value]


class MU(_VersusTarget):
    """Model utility: score_after(split) / score_before(split) on every utility split
    (retain, retain_same_disease, retain_other_disease, holdout, ...)."""



class DS(_VersusTarget):
    """Degradation score: 1 - MU."""

    direction = "lower"

    def statistic(self, after: float | np.ndarray, before: float | np.ndarray) -> float:
        return 1 - ratio(after, before)  # type: ignore[return-value]


class FR(AFE):
    """Forgetting rate: (acc_before(forget) - acc_after(forget)) / acc_before(forget),
    accuracy being multiple-choice accuracy or exact match for free text."""

    score_map = ACCURACY


class KPR(_VersusTarget):
    """Knowledge preservation rate: acc_after(retain) / acc_before(retain)."""

    score_map = ACCURACY

    def splits(self, run: EvaluationRun, task: str) -> list[str]:
        return [s for s in run.values.get(task, {}) if s in RETAIN_SPLITS]


class LeakageRatio(_VersusTarget):
    """Terminology leakage after / before unlearning on the forget split (LS ratio;
    version 3 with terminology leakage's version 3 echo rule)."""

    version = "3"
    direction = "lower"
    score_map: ClassVar[Mapping[str, str]] = {"generate": "terminology_leakage"}

    def splits(self, run: EvaluationRun, task: str) -> list[str]:
        return [s for s in run.values.get(task, {}) if s == "forget"]


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (scipy)."""
    from scipy.stats import ks_2samp

    return float(ks_2samp(a, b).statistic)


def ks_p_value(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov p-value (scipy, exact where it can be)."""
    from scipy.stats import ks_2samp

    return float(ks_2samp(a, b).pvalue)


class ForgetQuality(RunMetric):
    """TOFU forget quality: the p-value of the two-sample Kolmogorov-Smirnov test between the
    per-question truth ratios of this model and of the oracle on the forget split (1 when
    indistinguishable). A p-value has no sampling interval: it is reported as a point value,
    and the KS statistic (``forget_quality_ks``, lower is better) carries the interval
    (clusters resampled in both runs together)."""

    bounds = UNIT
    version = VERSION
    needs_runs = frozenset({"oracle"})
    also_reports = ("forget_quality_ks",)

    def compute(
        self, run: EvaluationRun, refs: Mapping[str, EvaluationRun], seed: int
    ) -> list[MetricResult]:
        out = []
        for task in run.values:
            if task not in refs["oracle"].values:
                continue
            pair = paired_values(run, refs["oracle"], task, "forget", "truth_ratio")
            if pair is None:
                continue
            p = ks_p_value(pair.after, pair.before)
            out.append(self.result(task, "forget", p, None, len(pair), against="oracle"))
            stat, ci = bootstrap(ks_statistic, [pair.after, pair.before], pair.clusters, seed)
            out.append(
                self.result(task, "forget", stat, ci, len(pair), against="oracle",
                            direction="lower", metric=self.also_reports[0])
            )
        return out


def harmonic_mean(values: Sequence[float | np.ndarray]) -> float | np.ndarray:
    """The harmonic mean, 0 where any value is 0 or below (TOFU's convention)."""
    arrs = [np.asarray(v, dtype=float) for v in values]
    positive = np.logical_and.reduce([a > 0 for a in arrs])
    with np.errstate(divide="ignore", invalid="ignore"):
        h = len(arrs) / sum(1 / a for a in arrs)
    return np.where(positive, h, 0.0)


class TofuModelUtility(RunMetric):
    """TOFU model utility: the harmonic mean of probability, ROUGE-L recall and truth ratio
    (retain form, mean(max(0, 1 - tr))) on the retain split (harness choice: TOFU also
    averages its real-authors and world-facts splits, which medlethe's packs do not have;
    their holdout is reported by MU)."""

    bounds = UNIT
    version = VERSION
    COLUMNS: ClassVar[tuple[str, ...]] = ("probability", "rouge_l_recall", "truth_ratio")

    def compute(
        self, run: EvaluationRun, refs: Mapping[str, EvaluationRun], seed: int
    ) -> list[MetricResult]:
        out = []
        for task, splits in run.values.items():
            cols = splits.get("retain", {})
            if not all(n in cols for n in self.COLUMNS):
                continue
            keep = np.asarray([None not in r for r in zip(*(cols[n] for n in self.COLUMNS),
                                                          strict=True)])
            if not keep.any():
                continue
            arr = np.asarray([cols[n] for n in self.COLUMNS], dtype=object)[:, keep]
            prob, rouge, tr = (np.asarray(a, dtype=float) for a in arr)
            clusters = run.clusters(task, "retain").subset(keep)

            def hmean(p: float | np.ndarray, r: float | np.ndarray,
                      t: float | np.ndarray) -> float | np.ndarray:
                return harmonic_mean([p, r, t])

            value, ci = bootstrap_of_means(
                hmean, [prob, rouge, np.maximum(0.0, 1 - tr)], clusters, seed
            )
            out.append(self.result(task, "retain", value, ci, int(keep.sum())))
        return out


class ParamsModified(RunMetric):
    """Share of the model's parameters the unlearning changed (for a LoRA adapter: adapter
    parameters / all parameters), as the unlearning step counted it. Exact: its interval
    is the value itself."""

    bounds = UNIT
    version = VERSION
    direction = "none"

    def compute(
        self, run: EvaluationRun, refs: Mapping[str, EvaluationRun], seed: int
    ) -> list[MetricResult]:
        meta = run.results.model.provenance.get("unlearn") or {}
        count = meta.get("params_modified")
        if not isinstance(count, dict):
            return []
        value = count["changed"] / count["total"]
        ci = CI(low=value, high=value, level=LEVEL, method="exact (count)", n_resamples=0,
                unit="parameter")
        return [self.result("(model)", "(weights)", value, ci, int(count["total"]))]


__all__ = [
    "AFE", "DS", "FR", "KPR", "MU", "ForgetQuality", "LeakageRatio", "ParamsModified",
    "TofuModelUtility", "harmonic_mean", "ks_p_value", "ks_statistic", "ratio",
]
