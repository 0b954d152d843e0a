"""Knowledge preconditions: did the target know a split before anything was unlearned?

Forgetting numbers (AFE, FR, forget quality, attack AUCs) mean nothing on a split the target
never knew, and utility ratios (MU, KPR) mean nothing when their denominator is at chance.
For every split the target was scored on, the margin of its primary score (ROUGE-L recall,
multiple-choice accuracy, probability) over a reference is estimated with the task's cluster
bootstrap:

* multiple choice: over chance (the mean of 1 / options of the split's questions);
* free text and classification, forgetting splits (``forget``, ``paraphrase``,
  ``forget_train``): over the oracle's score on the same questions (paired), the level of
  a model that never saw them;
* otherwise: over zero.

The precondition holds when the margin's interval lies above zero. Checks are computed for
the target (``medlethe run``, or ``medlethe compare`` of a target against its oracle) and
copied into every run compared against that target.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from medlethe.metrics.bootstrap import bootstrap_of_means
from medlethe.metrics.constants import (
    CHANCE_LABEL,
    FORGET_SPLITS,
    MEMBERS,
    MEMBERSHIP_SPLIT,
    PRIMARY,
)
from medlethe.metrics.runmetric import own_values, paired_values, to_ci
from medlethe.results.schema import Precondition

if TYPE_CHECKING:
    from medlethe.results.evaluation import EvaluationRun



def _difference(a: float | np.ndarray, b: float | np.ndarray) -> float | np.ndarray:
    diff: np.ndarray = np.asarray(a) - np.asarray(b)
    return diff


def _paired(output_type: str) -> bool:
    """Whether a task of this output type is checked against the oracle row by row (its
    kind's ``paired_preconditions``; lm-eval utility tasks are not)."""
    from medlethe.kind import find_kind

    kind = find_kind(output_type)
    return kind is not None and kind.paired_preconditions


def knowledge_checks(
    target: EvaluationRun, oracle: EvaluationRun | None, seed: int
) -> list[Precondition]:
    """One :class:`Precondition` per task and split of ``target`` that has a primary score."""
    out: list[Precondition] = []
    for task, splits in target.values.items():
        output_type = target.output_type(task)
        metric = PRIMARY.get(output_type)
        if metric is None:
            continue
        for split in splits:
            col = own_values(target, task, split, metric)
            if col.values.size == 0:
                continue
            chance = target.row_labels(task, split, CHANCE_LABEL)
            pair = (
                paired_values(target, oracle, task, split, metric)
                if oracle is not None and split in FORGET_SPLITS and _paired(output_type)
                else None
            )
            # a kind that records each question's chance (multiple choice), and lm-eval
            # utility tasks whose documents record theirs
            if chance is not None:
                base = np.asarray([c for c, k in zip(chance, col.kept, strict=True) if k], float)
                arrays, clusters, reference = [col.values, base], col.clusters, "chance"
            elif pair is not None:
                arrays, clusters, reference = [pair.after, pair.before], pair.clusters, "oracle"
            else:
                base = np.zeros_like(col.values)
                arrays, clusters, reference = [col.values, base], col.clusters, "zero"
            margin, interval = bootstrap_of_means(
                _difference, arrays, clusters, seed, method="percentile (margin)"
            )
            out.append(
                Precondition(
                    task=task,
                    split=split,
                    metric=metric,
                    reference=reference,
                    score=float(np.mean(arrays[0])),
                    baseline=float(np.mean(arrays[1])),
                    margin=float(margin),
                    ci=to_ci(interval),
                    held=interval is not None and interval.low > 0,
                    target_run=target.run_id,
                )
            )
    return out


def failed(checks: list[Precondition]) -> dict[tuple[str, str], Precondition]:
    """The failed checks by (task, split); a failed ``forget`` check also covers the
    membership split (forget~holdout)."""
    out = {(c.task, c.split): c for c in checks if not c.held}
    for (task, split), c in list(out.items()):
        if split == MEMBERS:
            out[(task, MEMBERSHIP_SPLIT)] = c
    return out


class Verdicts:
    """Which numbers of a run are not results, from its target's checks: every report
    (summary, console, leaderboard) asks this one place."""

    def __init__(self, checks: Sequence[Precondition]) -> None:
        self.failures = failed(list(checks))

    def reason(self, task: str | None, split: str) -> str | None:
        """Why numbers on ``task:split`` are not results (``None``: they are)."""
        miss = self.failures.get((task or "", split))
        return explain(miss) if miss is not None else None

    def withheld(self, task: str | None, split: str, metric: str) -> bool:
        """A ratio to the target's score on a split the target did not know: not shown."""
        return metric in RATIOS and (task or "", split) in self.failures


def warn(checks: Sequence[Precondition], *, brief: bool = False) -> None:
    """One ``medlethe: warning:`` line per failed check on stderr, then what to try;
    ``brief``: one line naming the splits (a report that explains each follows)."""
    unmet = [c for c in checks if not c.held]
    if not unmet:
        return
    if brief:
        names = ", ".join(f"{c.task}:{c.split}" for c in unmet)
        print(f"medlethe: warning: the target's precondition failed on {names}; the report "
              "marks those numbers with † and says why.", file=sys.stderr)
    else:
        for c in unmet:
            print(f"medlethe: warning: {explain(c)}", file=sys.stderr)
    print(f"medlethe: warning: {ADVICE}", file=sys.stderr)


def explain(c: Precondition) -> str:
    """One line: what failed and why (numbers only, never text of the data)."""
    what = {"chance": "chance", "oracle": "the oracle", "zero": "zero"}[c.reference]
    if c.ci is None:
        return (
            f"{c.task}:{c.split}: whether the target knows this split cannot be checked "
            f"({c.metric} {c.score:.3f} vs {what} {c.baseline:.3f}): the split holds a single "
            "sampling unit (e.g. one patient), and one unit gives no interval; its forgetting "
            "and utility numbers are not results. Forget at least two units"
        )
    interval = f"[{c.ci.low:.3f}, {c.ci.high:.3f}]"
    return (
        f"{c.task}:{c.split}: the target does not know this split ({c.metric} {c.score:.3f} "
        f"vs {what} {c.baseline:.3f}, margin {c.margin:+.3f} {interval}); its forgetting "
        "and utility numbers are not results"
    )


#: ratios to the target's score: never shown where the target did not know the split
RATIOS = frozenset(
    {"afe", "mu", "ds", "fr", "kpr", "terminology_leakage_ratio", "hierarchy_mu", "collateral"}
)

#: what to try when the target does not know what it should forget
ADVICE = (
    "the target must know a split before forgetting it can be measured: train longer "
    "(more epochs through --train-args; an unknown key there lists the model's settings), "
    "or start from a pretrained base model (--model)"
)
