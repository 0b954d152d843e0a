"""Metrics of ``classify`` tasks (STEU, class-level unlearning of a sequence classifier).

Per sample: the logits themselves (``class_logits``, a vector kept for the run metrics),
the training loss of the gold labels (``class_loss``), whether the prediction is exactly
right (``class_accuracy``), the F1 of the row's predicted class set (``sample_f1``, the
primary score of AFE, MU and the knowledge preconditions); the LOSS membership attack
(``mia_loss``) reads the same loss.

Per split (run metrics over the stored logits and gold labels, each with a cluster-bootstrap
interval): per-class and macro F1 (``f1``), per-class and macro one-vs-rest ROC-AUC
(``auroc``), the F1 of the forgotten class(es) (``forget_class_f1``) and the mean F1 of the
others (``retain_avg_f1``), and, against the oracle, 1 - cosine similarity of the logits
(``logit_distance``).

Definitions (scikit-learn's, checked against it in the tests): a class is predicted when
its logit is above 0 (sigmoid > 0.5) for a multi-label task, when it is the argmax for a
single-label one. F1 per class is 2TP / (2TP + FP + FN), 0 where that is 0/0 (scikit-learn's
``zero_division=0``). Macro F1 is scikit-learn's ``f1_score(average="macro")`` (what
Forget-MI's released evaluation calls): the mean over every class for a multi-label task,
over the classes that are gold *or predicted* in the split for a single-label one (version
3; version 2 averaged over the gold classes only). Macro ROC-AUC runs over the classes with
positives and negatives (a class without either has none). ``forget_class_f1`` on a split
with no row of the forgotten class is withheld (``value`` None, ``withheld`` says why),
never written as 0. Rows without a gold label or logits are left out, counted in each
result's ``excluded`` and warned about.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from medlethe.kind import applies
from medlethe.metrics.base import Metric, Sample
from medlethe.metrics.bootstrap import Clusters, bootstrap_ci, bootstrap_vector
from medlethe.metrics.constants import CORE_VERSION, GOLD_LABEL, UNIT
from medlethe.metrics.runmetric import RunMetric
from medlethe.results.schema import MetricResult

if TYPE_CHECKING:
    from medlethe.results.evaluation import EvaluationRun

#: the vector metric holding each row's logits
LOGITS = "class_logits"
CLASSIFY = frozenset({"classify"})


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1 / (1 + np.exp(-z))
    return out


def probabilities(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    """Per-class probabilities: a sigmoid per class, or a softmax over classes."""
    z = np.asarray(logits, dtype=float)
    if multi_label:
        return _sigmoid(z)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    out: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return out


def predictions(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    """A 0/1 matrix of predicted classes (logit > 0, or the argmax)."""
    z = np.asarray(logits, dtype=float)
    if multi_label:
        return (z > 0).astype(float)
    pred = np.zeros_like(z)
    pred[np.arange(len(z)), z.argmax(axis=-1)] = 1.0
    return pred


def one_hot(labels: Sequence[Sequence[int]], k: int) -> np.ndarray:
    """A 0/1 matrix of gold classes."""
    out = np.zeros((len(labels), k))
    for i, row in enumerate(labels):
        out[i, list(row)] = 1.0
    return out


def loss(logits: Sequence[float], labels: Sequence[int], multi_label: bool) -> float:
    """The training loss of one row: mean binary cross-entropy over classes (multi-label),
    or cross-entropy of the gold class (single-label)."""
    z = np.asarray(logits, dtype=float)
    if multi_label:
        y = one_hot([labels], z.size)[0]
        # log(1 + e^z) - y z, stable for any z
        return float(np.mean(np.logaddexp(0.0, z) - y * z))
    top = float(z.max())
    log_norm = top + math.log(float(np.exp(z - top).sum()))
    return log_norm - float(z[labels[0]])


def f1_per_class(gold: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """F1 of every class (columns), 0 where 2TP + FP + FN is 0."""
    tp = (gold * pred).sum(axis=0)
    denom = gold.sum(axis=0) + pred.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray = np.where(denom > 0, 2 * tp / np.maximum(denom, 1e-12), 0.0)
    return out


def auroc_per_class(gold: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """One-vs-rest ROC-AUC of every class (Mann-Whitney, ties one half); NaN for a class
    without both positives and negatives."""
    from scipy.stats import rankdata

    n = gold.shape[0]
    out = np.full(gold.shape[1], np.nan)
    ranks = rankdata(scores, axis=0)
    pos = gold.sum(axis=0)
    for c in range(gold.shape[1]):
        n1 = pos[c]
        if 0 < n1 < n:
            r = ranks[gold[:, c] > 0, c].sum()
            out[c] = (r - n1 * (n1 + 1) / 2) / (n1 * (n - n1))
    return out


# --- per sample -----------------------------------------------------------------------------


class _Classify(Metric):
    version = CORE_VERSION
    output_types = CLASSIFY

    @staticmethod
    def logits(sample: Sample) -> tuple[float, ...] | None:
        return sample.classification.logits if sample.classification is not None else None

    def predicted(self, sample: Sample) -> tuple[np.ndarray, np.ndarray] | None:
        """The row's 0/1 predicted and gold class vectors (``None`` without logits)."""
        z = self.logits(sample)
        inst = sample.instance
        if z is None or not inst.labels:
            return None
        pred = predictions(np.asarray([z]), inst.multi_label)[0]
        return pred, one_hot([inst.labels], len(z))[0]


class ClassLogits(_Classify):
    """The classifier's per-class logits (a vector per row, read by the F1 and AUC run
    metrics; no aggregate row)."""

    vector = True
    direction = "none"

    def score(self, sample: Sample) -> list[float] | None:
        z = self.logits(sample)
        return list(z) if z is not None else None


def sample_loss(sample: Sample) -> float | None:
    """:func:`loss` of a classified sample's gold labels (``None`` without logits or
    labels): ``class_loss``, and minus the LOSS attack's score on a classifier."""
    result, inst = sample.classification, sample.instance
    if result is None or not inst.labels:
        return None
    return loss(result.logits, inst.labels, inst.multi_label)


class ClassLoss(_Classify):
    """The training loss of the gold labels: mean BCE over classes (multi-label) or
    cross-entropy (single-label)."""

    direction = "lower"

    def score(self, sample: Sample) -> float | None:
        return sample_loss(sample)


class SampleF1(_Classify):
    """F1 of one row's predicted class set against its gold set, 2|P & G| / (|P| + |G|)
    (1 when both are empty); its mean is scikit-learn's ``f1_score(average="samples")``."""

    bounds = UNIT

    def score(self, sample: Sample) -> float | None:
        found = self.predicted(sample)
        if found is None:
            return None
        pred, gold = found
        denom = pred.sum() + gold.sum()
        return float(2 * (pred * gold).sum() / denom) if denom else 1.0


class ClassAccuracy(_Classify):
    """1 when the predicted class set equals the gold one (multi-label: scikit-learn's
    subset accuracy), or the argmax is the gold class (single-label)."""

    bounds = UNIT

    def score(self, sample: Sample) -> float | None:
        found = self.predicted(sample)
        return None if found is None else float(np.array_equal(*found))


# --- per split ------------------------------------------------------------------------------


#: (run, task, split) already warned about for rows without gold labels
_WARNED: set[tuple[str, str, str]] = set()


class _SplitTable:
    """One split's gold matrix and logits, from a run (rows without either left out, and
    counted in ``excluded``)."""

    def __init__(self, run: EvaluationRun, task: str, split: str) -> None:
        record = run.results.tasks[task].classes
        assert record is not None
        self.names = list(record.names)
        self.multi_label = record.multi_label
        self.forget = [self.names.index(c) for c in record.forget if c in self.names]
        rows = run.column(task, split, LOGITS) or []
        gold = run.row_labels(task, split, GOLD_LABEL) or []
        keep = np.asarray(
            [z is not None and g is not None for z, g in zip(rows, gold, strict=True)], bool
        )
        kept = [z for z, k in zip(rows, keep, strict=True) if k]
        self.logits = np.asarray(kept, dtype=float).reshape(-1, len(self.names))
        self.gold = one_hot([g for g, k in zip(gold, keep, strict=True) if k], len(self.names))
        self.clusters = run.clusters(task, split).subset(keep) if keep.size else Clusters.of(
            None, 0
        )
        self.excluded = int((~keep).sum())
        if self.excluded and (run.run_id, task, split) not in _WARNED:
            _WARNED.add((run.run_id, task, split))
            print(f"medlethe: warning: {task}:{split}: {self.excluded} of {keep.size} row(s) "
                  "have no gold label (or no logits) and are left out of the classification "
                  "metrics; each result records the count as 'excluded'.", file=sys.stderr)

    def __len__(self) -> int:
        return int(self.gold.shape[0])

    @property
    def present(self) -> np.ndarray:
        """The classes with gold support in the split."""
        out: np.ndarray = np.flatnonzero(self.gold.sum(axis=0) > 0)
        return out


class _OnClassify(RunMetric):
    """A run metric over the splits of classification tasks."""

    output_types: ClassVar[frozenset[str]] = CLASSIFY


def classify_splits(run: EvaluationRun, metric: _OnClassify) -> list[tuple[str, str,
                                                                          _SplitTable]]:
    """Every split that has logits of every task of ``run`` that ``metric`` applies to."""
    out = []
    for task, splits in run.values.items():
        record = run.results.tasks.get(task)
        if record is None or not applies(metric, record):
            continue
        for split in splits:
            table = _SplitTable(run, task, split)
            if len(table):
                out.append((task, split, table))
    return out


class _PerClass(_OnClassify):
    """A per-class statistic of a split: one row per class (subset ``class=<name>``) and
    their macro mean (subset ``None``) over the classes :meth:`averaged` names."""

    version = CORE_VERSION
    bounds = UNIT

    def per_class(self, table: _SplitTable) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        raise NotImplementedError

    def averaged(self, table: _SplitTable, gold: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """The classes the macro mean runs over (of a resample): those with gold support
        (a class without a defined value, NaN, is left out)."""
        return table.present

    def compute(
        self, run: EvaluationRun, refs: Mapping[str, EvaluationRun], seed: int
    ) -> list[MetricResult]:
        out: list[MetricResult] = []
        for task, split, table in classify_splits(run, self):
            stat = self.per_class(table)
            k = len(table.names)

            def stats(gold: np.ndarray, logits: np.ndarray, stat: Any = stat,
                      table: _SplitTable = table) -> np.ndarray:
                per = stat(gold, logits)
                kept = per[self.averaged(table, gold, logits)]
                kept = kept[~np.isnan(kept)]  # a resample without a class's rows
                return np.append(per, kept.mean() if kept.size else np.nan)

            values, intervals = bootstrap_vector(stats, [table.gold, table.logits],
                                                 table.clusters, seed)
            n = len(table)
            out.append(self.result(task, split, float(values[k]), intervals[k], n,
                                   excluded=table.excluded))
            for c, name in enumerate(table.names):
                out.append(self.result(task, split, float(values[c]), intervals[c],
                                       int(table.gold[:, c].sum()), subset=f"class={name}",
                                       excluded=table.excluded))
        return out


class F1(_PerClass):
    """F1 per class and macro F1, both scikit-learn's ``f1_score`` (``average=None`` and
    ``average="macro"``): the macro mean runs over every class of a multi-label task and
    over the classes gold or predicted in the split of a single-label one."""

    version = "3"

    def per_class(self, table: _SplitTable) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        ml = table.multi_label
        return lambda gold, logits: f1_per_class(gold, predictions(logits, ml))

    def averaged(self, table: _SplitTable, gold: np.ndarray, logits: np.ndarray) -> np.ndarray:
        if table.multi_label:
            return np.arange(gold.shape[1])
        seen = (gold.sum(axis=0) > 0) | (predictions(logits, False).sum(axis=0) > 0)
        out: np.ndarray = np.flatnonzero(seen)
        return out


class AUROC(_PerClass):
    """One-vs-rest ROC-AUC per class (``roc_auc_score`` of the class's probability) and
    their macro mean over the classes with both positives and negatives."""

    def per_class(self, table: _SplitTable) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        ml = table.multi_label
        return lambda gold, logits: auroc_per_class(gold, probabilities(logits, ml))


class _ForgetRetainF1(_OnClassify):
    """F1 averaged over the forgotten classes, or over the other classes present."""

    version = CORE_VERSION
    bounds = UNIT
    forget_side: ClassVar[bool]

    def compute(
        self, run: EvaluationRun, refs: Mapping[str, EvaluationRun], seed: int
    ) -> list[MetricResult]:
        out: list[MetricResult] = []
        for task, split, table in classify_splits(run, self):
            if not table.forget:
                continue
            chosen = (np.asarray(table.forget) if self.forget_side else
                      np.setdiff1d(table.present, table.forget))
            if self.forget_side and not np.isin(chosen, table.present).any():
                out.append(self.result(task, split, math.nan, None, len(table),
                                       excluded=table.excluded, withheld=NO_FORGET_ROWS))
                continue
            if chosen.size == 0:
                continue
            ml = table.multi_label

            def stat(gold: np.ndarray, logits: np.ndarray, chosen: np.ndarray = chosen,
                     ml: bool = ml) -> np.ndarray:
                return np.asarray([f1_per_class(gold, predictions(logits, ml))[chosen].mean()])

            values, intervals = bootstrap_vector(stat, [table.gold, table.logits],
                                                 table.clusters, seed)
            out.append(self.result(task, split, float(values[0]), intervals[0], len(table),
                                   excluded=table.excluded))
        return out


#: why ``forget_class_f1`` has no value on a split
NO_FORGET_ROWS = "no row of the forgotten class in this split"


class ForgetClassF1(_ForgetRetainF1):
    """STEU's forget-class F1: the F1 of the forgotten class (the mean over them when a
    scenario forgets several); 0 is complete forgetting. On ``holdout`` it is the paper's
    test-set figure. On a split without a row of the forgotten class it has no value
    (withheld, with the reason; version 2 wrote 0)."""

    version = "3"
    direction = "lower"
    forget_side = True


class RetainAverageF1(_ForgetRetainF1):
    """STEU's retain average F1: the mean F1 of the classes not forgotten (those with gold
    support in the split)."""

    forget_side = False


class LogitDistance(_OnClassify):
    """1 - cosine similarity of each row's logits to the oracle's on the same row, averaged
    per split (Forget-MI and STEU compare unlearned and retrained outputs this way); 0 means
    the same outputs as a model never trained on the forget set."""

    version = CORE_VERSION
    direction = "lower"
    needs_runs = frozenset({"oracle"})
    bounds = (0.0, 2.0)

    def compute(
        self, run: EvaluationRun, refs: Mapping[str, EvaluationRun], seed: int
    ) -> list[MetricResult]:
        from medlethe.metrics.runmetric import paired_values

        out: list[MetricResult] = []
        oracle = refs["oracle"]
        for task, split, _ in classify_splits(run, self):
            pair = paired_values(run, oracle, task, split, LOGITS)
            if pair is None:
                continue
            a, b = pair.after, pair.before
            cos = (a * b).sum(axis=1) / np.maximum(
                np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12
            )
            dist = np.clip(1 - cos, 0.0, 2.0)  # rounding can leave 1 - cos a hair below 0
            ci = bootstrap_ci(dist, pair.clusters, seed=seed)
            out.append(self.result(task, split, float(dist.mean()), ci, dist.size,
                                   against="oracle"))
        return out


class SVCMembership(RunMetric):
    """Forget-MI's membership attack: an RBF SVC fit on per-sample ``class_loss`` of
    retain (members) and holdout (non-members) rows, applied to forget rows; the share of
    forget rows called members, with a cluster-bootstrap interval over forget patients (the
    SVC held fixed). The authors' release averages losses per batch before the attack;
    medlethe uses per-sample losses. The oracle's share is the level to reach."""

    version = CORE_VERSION
    direction = "none"
    bounds = UNIT
    loss: ClassVar[str] = "class_loss"
    balanced: ClassVar[bool] = False

    def compute(
        self, run: EvaluationRun, refs: Mapping[str, EvaluationRun], seed: int
    ) -> list[MetricResult]:
        from medlethe.metrics.privacy import svc_membership
        from medlethe.metrics.runmetric import own_values, to_ci

        out: list[MetricResult] = []
        for task in run.values:
            cols = {s: own_values(run, task, s, self.loss) for s in ("retain", "holdout",
                                                                      "forget")}
            if any(c.values.size < 2 for c in cols.values()):
                continue
            called = svc_membership(cols["retain"].values, cols["holdout"].values,
                                    cols["forget"].values, balanced=self.balanced)
            ci = bootstrap_ci(called, cols["forget"].clusters, seed=seed)
            out.append(self.result(task, "forget", float(called.mean()), to_ci(ci),
                                   int(called.size)))
        return out


class BalancedSVCMembership(SVCMembership):
    """:class:`SVCMembership` with members and non-members weighted equally (scikit-learn's
    ``class_weight="balanced"``). The release's unweighted SVC sees several retain rows per
    test row and calls almost every forget row a member whatever the model (medlethe's
    addition; the unweighted share is kept under the paper's name)."""

    balanced = True
