"""A forget score placed on the scale from the target (0) to the oracle (1): how far an
unlearned model went (``forget_progress``: 1 at the oracle, above 1 over-forgetting), and
what an attack brings back (``recovery_ratio`` of an attacked model, ``medlethe run
--attacks``, against the model before the attack)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from medlethe.metrics.base import Direction
from medlethe.metrics.bootstrap import bootstrap_of_means
from medlethe.metrics.comparison import VERSION
from medlethe.metrics.constants import PRIMARY
from medlethe.metrics.runmetric import RunMetric, paired_values, present_rows
from medlethe.results.schema import MetricResult

if TYPE_CHECKING:
    from medlethe.results.evaluation import EvaluationRun

#: the references, in the order of :func:`recovery`'s arguments after the attacked run's
ROLES = ("unlearned", "target", "oracle")


def recovery(attacked: float | np.ndarray, unlearned: float | np.ndarray,
             target: float | np.ndarray, oracle: float | np.ndarray) -> np.ndarray:
    """(attacked - unlearned) / (target - oracle): the share of the gap between knowing and
    never having known that the attack closes again (NaN where target and oracle agree)."""
    gap = np.subtract(target, oracle)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap != 0, np.subtract(attacked, unlearned) / np.where(gap != 0, gap, 1),
                        np.nan)


def _used(run: EvaluationRun) -> list[int]:
    """The forget rows an attack trained on (``meta.used_rows.forget`` of its record)."""
    attack = run.results.model.provenance.get("attack") or {}
    return [int(i) for i in ((attack.get("meta") or {}).get("used_rows") or {}).get(
        "forget", [])]


class _OnTheGap(RunMetric):
    """A statistic of the forget split's primary score of ``run`` and the ``roles``' runs,
    on the rows all answered (minus those an attack trained on), with an interval that
    resamples the runs' rows together (by the task's sampling unit)."""

    version = VERSION
    direction: ClassVar[Direction] = "lower"
    roles: ClassVar[tuple[str, ...]]
    #: the statistic of the runs' mean scores (``run``'s first, then the roles' in order)
    of: ClassVar[Callable[..., np.ndarray]]

    def compute(
        self, run: EvaluationRun, refs: Mapping[str, EvaluationRun], seed: int
    ) -> list[MetricResult]:
        out = []
        for task in run.values:
            metric = PRIMARY.get(run.output_type(task), "")
            if any(paired_values(run, refs[r], task, "forget", metric) is None
                   for r in self.roles):
                continue  # (paired_values also checks that all answered the same rows)
            cols = [run.column(task, "forget", metric),
                    *(refs[r].column(task, "forget", metric) for r in self.roles)]
            keep = present_rows(*cols)
            keep[[i for i in _used(run) if i < len(keep)]] = False  # rows the attack saw
            if not keep.any():
                continue
            arrays = [np.asarray([v for v, k in zip(c or [], keep, strict=True) if k],
                                 dtype=float) for c in cols]
            clusters = run.clusters(task, "forget").subset(keep)
            value, ci = bootstrap_of_means(type(self).of, arrays, clusters, seed)
            out.append(self.result(task, "forget", value, ci, int(keep.sum()),
                                   against=self.roles[0],
                                   withheld=None if np.isfinite(value) else
                                   "the target and the oracle score the same: no gap"))
        return out


class RecoveryRatio(_OnTheGap):
    """Recovery ratio on the forget split's primary score: 0 when the attack brings nothing
    back, 1 when it brings back all the target knew beyond the oracle; on the forget rows
    the attack did not train on. Interval: the four runs' rows resampled together (by the
    task's sampling unit)."""

    needs_runs = frozenset(ROLES)
    roles = ROLES
    of = staticmethod(recovery)


def progress(unlearned: float | np.ndarray, target: float | np.ndarray,
             oracle: float | np.ndarray) -> np.ndarray:
    """(target - unlearned) / (target - oracle): 0 at the target's forget score, 1 at the
    oracle's, above 1 past it (FR over the oracle's FR where the score is accuracy)."""
    return recovery(target, unlearned, target, oracle)


class ForgetProgress(_OnTheGap):
    """How far unlearning moved the forget score from the target's toward the oracle's: 1
    reaches the oracle (never having seen the forget set), above 1 forgets more than a
    model that never saw it (over-forgetting, visible to an attacker). Equal to FR / the
    oracle's FR on accuracy. Interval: the three runs' rows resampled together."""

    direction = "none"
    needs_runs = frozenset({"target", "oracle"})
    roles = ("target", "oracle")
    of = staticmethod(progress)
