"""Metrics that compare runs: forgetting and utility against the target before unlearning,
forget quality and privacy against the oracle, disease-informed analysis.

A run metric declares the reference runs it needs (``needs_runs``: ``"target"``,
``"oracle"``) and gets them by run id. It reads the per-sample values each evaluation wrote
beside its results file (``values_<run id>.json``: numbers and category labels, no text), so
no model is called again. Its results are added to the run's results file with ``against``
naming the reference role; the reference run ids go into ``references``. A metric already
present for the same references and version is not computed again.

Every value carries a bootstrap interval. Ratios between runs use a *paired* bootstrap: the
same question indices are resampled for both runs (they answered the same questions).
"""

from __future__ import annotations

import json
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from medlethe.errors import MedletheError, MissingDependencyError, ResultsError
from medlethe.metrics.base import Direction
from medlethe.metrics.privacy import (
    MEMBERS,
    NON_MEMBERS,
    auc,
    auc_with_ci,
    resistance,
    resistance_bounds,
)
from medlethe.results import io as results_io
from medlethe.results.schema import CI, MetricResult, Results

#: the answer score AFE, MU and the collateral matrix use, per output type
PRIMARY = {
    "generate": "rouge_l_recall",
    "multiple_choice": "accuracy",
    "loglikelihood": "probability",
}
#: the accuracy FR and KPR use (harness choice: exact match for free text)
ACCURACY = {"generate": "exact_match", "multiple_choice": "accuracy"}
#: splits that measure forgetting; every other split measures utility
FORGET_SPLITS = frozenset({"forget", "paraphrase"})
N_RESAMPLES = 1000
LEVEL = 0.95

Values = dict[str, dict[str, dict[str, list[float | None]]]]
Labels = dict[str, dict[str, dict[str, list[Any]]]]


@dataclass
class RunData:
    """A results file with its per-sample values."""

    results: Results
    path: Path
    values: Values
    labels: Labels

    @property
    def run_id(self) -> str:
        return self.results.run_id

    def column(self, task: str, split: str, metric: str) -> list[float | None] | None:
        return self.values.get(task, {}).get(split, {}).get(metric)


def load_run(path: str | Path) -> RunData:
    path = Path(path)
    results = results_io.read_results(path)
    if results.values_file is None:
        raise ResultsError(
            f"{path} has no per-sample values file, so runs cannot be compared; re-run the "
            "evaluation with medlethe >= 0.1."
        )
    values_path = path.parent / results.values_file
    try:
        raw = json.loads(values_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(
            f"Cannot read {values_path} (the per-sample values of {path.name}): {exc}. "
            "Keep it beside its results file."
        ) from exc
    return RunData(results, path, raw["values"], raw.get("labels", {}))


def find_run(directory: str | Path, run_id: str) -> RunData:
    path = Path(directory) / f"results_{run_id}.json"
    if not path.exists():
        raise ResultsError(
            f"No results file for run {run_id!r} in {directory} (looked for {path})."
        )
    return load_run(path)


# -- bootstrap helpers ---------------------------------------------------------------------
def _ci(stats: Sequence[float], method: str = "percentile (paired)") -> CI | None:
    finite = np.asarray([s for s in stats if math.isfinite(s)], dtype=float)
    if finite.size < len(stats) * 0.9 or finite.size == 0:
        return None
    lo, hi = np.percentile(finite, [(1 - LEVEL) / 2 * 100, (1 + LEVEL) / 2 * 100])
    return CI(low=float(lo), high=float(hi), level=LEVEL, method=method, n_resamples=len(stats))


def paired_bootstrap(
    fn: Callable[..., float], arrays: Sequence[np.ndarray], seed: int
) -> tuple[float, CI | None]:
    """``fn(*arrays)`` and a percentile interval from resampling the shared index."""
    value = fn(*arrays)
    n = len(arrays[0])
    if n < 2:
        return value, None
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(N_RESAMPLES):
        idx = rng.integers(0, n, n)
        stats.append(fn(*(a[idx] for a in arrays)))
    return value, _ci(stats)


def _ratio(a: np.ndarray, b: np.ndarray) -> float:
    mb = float(b.mean())
    return float(a.mean()) / mb if mb > 0 else math.nan


def paired_values(
    run: RunData, ref: RunData, task: str, split: str, metric: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-question values of the two runs on the same questions (pairs with a missing
    value dropped); ``None`` when either run lacks them."""
    a, b = run.column(task, split, metric), ref.column(task, split, metric)
    if a is None or b is None:
        return None
    fa = run.results.tasks[task].data_fingerprints.get(split)
    fb = ref.results.tasks[task].data_fingerprints.get(split)
    if fa != fb or len(a) != len(b):
        raise MedletheError(
            f"Runs {run.path.name} and {ref.path.name} did not answer the same questions on "
            f"{task}:{split} (data fingerprints differ); compare runs of the same task and "
            "task arguments."
        )
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    if not pairs:
        return None
    arr = np.asarray(pairs, dtype=float)
    return arr[:, 0], arr[:, 1]


# -- the contract ----------------------------------------------------------------------------
class RunMetric(ABC):
    """A metric over whole runs. Register it with ``register_metrics`` like any metric;
    ``medlethe run`` and ``medlethe compare`` compute it, never a task's metric list."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    direction: ClassVar[Direction] = "higher"
    #: reference roles this metric needs ("target": the model before unlearning,
    #: "oracle": the model never trained on the forget set)
    needs_runs: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def compute(
        self, run: RunData, refs: Mapping[str, RunData], seed: int
    ) -> list[MetricResult]:
        """Results for every task and split the metric applies to (may be empty)."""

    def result(
        self,
        task: str,
        split: str,
        value: float,
        ci: CI | None,
        n: int,
        *,
        subset: str | None = None,
        against: str | None = None,
        direction: Direction | None = None,
    ) -> MetricResult:
        ok = math.isfinite(value)
        return MetricResult(
            task=task,
            split=split,
            subset=subset,
            metric=self.name,
            metric_version=self.version,
            plugin="core_metrics",
            value=value if ok else None,
            ci=ci if ok else None,
            direction=direction or self.direction,
            n=n,
            against=against,
        )


def _output_type(run: RunData, task: str) -> str:
    return run.results.tasks[task].output_type


class _VersusTarget(RunMetric):
    needs_runs = frozenset({"target"})
    role: ClassVar[str] = "target"
    score_map: ClassVar[Mapping[str, str]] = PRIMARY

    def splits(self, run: RunData, task: str) -> list[str]:
        return [s for s in run.values.get(task, {}) if s not in FORGET_SPLITS]

    def statistic(self, a: np.ndarray, b: np.ndarray) -> float:
        return _ratio(a, b)

    def compute(self, run: RunData, refs: Mapping[str, RunData], seed: int) -> list[MetricResult]:
        ref = refs[self.role]
        out = []
        for task in run.values:
            metric = self.score_map.get(_output_type(run, task))
            if metric is None or task not in ref.values:
                continue
            for split in self.splits(run, task):
                pair = paired_values(run, ref, task, split, metric)
                if pair is None:
                    continue
                value, ci = paired_bootstrap(self.statistic, pair, seed)
                out.append(self.result(task, split, value, ci, len(pair[0]), against=self.role))
        return out


class AFE(_VersusTarget):
    """Answer forgetting effectiveness: 1 - score_after(forget) / score_before(forget),
    the score being ROUGE-L recall (free text) or accuracy (multiple choice)."""

    name = "afe"

    def splits(self, run: RunData, task: str) -> list[str]:
        return [s for s in run.values.get(task, {}) if s in FORGET_SPLITS]

    def statistic(self, a: np.ndarray, b: np.ndarray) -> float:
        return 1 - _ratio(a, b)


class MU(_VersusTarget):
    """Model utility: score_after(split) / score_before(split) on every utility split
    (retain, retain_same_disease, retain_other_disease, holdout, ...)."""

    name = "mu"


class DS(_VersusTarget):
    """Degradation score: 1 - MU."""

    name = "ds"
    direction = "lower"

    def statistic(self, a: np.ndarray, b: np.ndarray) -> float:
        return 1 - _ratio(a, b)


class FR(AFE):
    """Forgetting rate: (acc_before(forget) - acc_after(forget)) / acc_before(forget),
    accuracy being multiple-choice accuracy or exact match for free text."""

    name = "fr"
    score_map = ACCURACY


class KPR(_VersusTarget):
    """Knowledge preservation rate: acc_after(retain) / acc_before(retain)."""

    name = "kpr"
    score_map = ACCURACY

    def splits(self, run: RunData, task: str) -> list[str]:
        return [s for s in run.values.get(task, {}) if s == "retain"]


class LeakageRatio(_VersusTarget):
    """Terminology leakage after / before unlearning on the forget split (LS ratio)."""

    name = "terminology_leakage_ratio"
    direction = "lower"
    score_map: ClassVar[Mapping[str, str]] = {"generate": "terminology_leakage"}

    def splits(self, run: RunData, task: str) -> list[str]:
        return [s for s in run.values.get(task, {}) if s == "forget"]


def ks_p_value(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov p-value (scipy, exact where it can be)."""
    from scipy.stats import ks_2samp

    return float(ks_2samp(a, b).pvalue)


class ForgetQuality(RunMetric):
    """TOFU forget quality: the p-value of the two-sample Kolmogorov-Smirnov test between the
    per-question truth ratios of this model and of the oracle on the forget split (1 when
    indistinguishable). Interval: both samples bootstrapped together."""

    name = "forget_quality"
    needs_runs = frozenset({"oracle"})

    def compute(self, run: RunData, refs: Mapping[str, RunData], seed: int) -> list[MetricResult]:
        out = []
        for task in run.values:
            pair = paired_values(run, refs["oracle"], task, "forget", "truth_ratio")
            if pair is None or task not in refs["oracle"].values:
                continue
            value, ci = paired_bootstrap(ks_p_value, pair, seed)
            out.append(self.result(task, "forget", value, ci, len(pair[0]), against="oracle"))
        return out


def _harmonic(values: Sequence[float]) -> float:
    if any(v <= 0 for v in values):
        return 0.0
    return len(values) / sum(1 / v for v in values)


class TofuModelUtility(RunMetric):
    """TOFU model utility: the harmonic mean of probability, ROUGE-L recall and truth ratio
    (retain form, mean(max(0, 1 - tr))) on the retain split (harness choice: synthclinic has
    no separate real-world split; its holdout is reported by MU)."""

    name = "model_utility_tofu"

    def compute(self, run: RunData, refs: Mapping[str, RunData], seed: int) -> list[MetricResult]:
        out = []
        for task, splits in run.values.items():
            cols = splits.get("retain", {})
            names = ("probability", "rouge_l_recall", "truth_ratio")
            if not all(n in cols for n in names):
                continue
            rows = [
                r for r in zip(*(cols[n] for n in names), strict=True) if None not in r
            ]
            if not rows:
                continue
            arr = np.asarray(rows, dtype=float)
            arr[:, 2] = np.maximum(0.0, 1 - arr[:, 2])

            def hmean(p: np.ndarray, r: np.ndarray, t: np.ndarray) -> float:
                return _harmonic([float(p.mean()), float(r.mean()), float(t.mean())])

            value, ci = paired_bootstrap(hmean, [arr[:, 0], arr[:, 1], arr[:, 2]], seed)
            out.append(self.result(task, "retain", value, ci, len(arr)))
        return out


class ParamsModified(RunMetric):
    """Share of the model's parameters the unlearning changed (for a LoRA adapter: adapter
    parameters / all parameters), as the unlearning step counted it. Exact: its interval
    is the value itself."""

    name = "params_modified"
    direction = "none"

    def compute(self, run: RunData, refs: Mapping[str, RunData], seed: int) -> list[MetricResult]:
        meta = run.results.model.provenance.get("unlearn") or {}
        count = meta.get("params_modified")
        if not isinstance(count, dict):
            return []
        value = count["changed"] / count["total"]
        ci = CI(low=value, high=value, level=LEVEL, method="exact (count)", n_resamples=0)
        return [self.result("(model)", "(weights)", value, ci, int(count["total"]))]


class ReferenceMIA(RunMetric):
    """The Reference attack: score = (- NLL of this model) - (- NLL of the oracle) per
    question; forget-vs-holdout ROC-AUC, and MIA resistance 1 - 2|AUC - 0.5|."""

    name = "mia_auc_reference"
    direction = "none"
    needs_runs = frozenset({"oracle"})

    def compute(self, run: RunData, refs: Mapping[str, RunData], seed: int) -> list[MetricResult]:
        out = []
        for task in run.values:
            diffs = []
            for split in (MEMBERS, NON_MEMBERS):
                pair = paired_values(run, refs["oracle"], task, split, "mia_loss")
                if pair is None:
                    break
                diffs.append(pair[0] - pair[1])
            if len(diffs) != 2:
                continue
            value, interval = auc_with_ci(list(diffs[0]), list(diffs[1]), seed=seed)
            ci = CI(**interval.__dict__) if interval else None
            n = len(diffs[0]) + len(diffs[1])
            split = f"{MEMBERS}~{NON_MEMBERS}"
            out.append(self.result(task, split, value, ci, n, against="oracle"))
            res_ci = None
            if ci is not None:
                lo, hi = resistance_bounds(ci.low, ci.high)
                res_ci = CI(low=lo, high=hi, level=ci.level, method="percentile (mapped)",
                            n_resamples=ci.n_resamples)
            res = self.result(task, split, resistance(value), res_ci, n, against="oracle",
                              direction="higher")
            out.append(res.model_copy(update={"metric": "mia_resistance_reference"}))
        return out


class PrivLeak(RunMetric):
    """MUSE PrivLeak = (AUC_model - AUC_oracle) / AUC_oracle x 100 with the Min-K 40 %
    attack; 0 is ideal, negative means over-unlearning, positive under-unlearning.
    Interval: members and non-members resampled once for both models (paired)."""

    name = "privleak"
    direction = "none"
    needs_runs = frozenset({"oracle"})
    attack: ClassVar[str] = "mia_min_k"

    def compute(self, run: RunData, refs: Mapping[str, RunData], seed: int) -> list[MetricResult]:
        out = []
        for task in run.values:
            m = paired_values(run, refs["oracle"], task, MEMBERS, self.attack)
            h = paired_values(run, refs["oracle"], task, NON_MEMBERS, self.attack)
            if m is None or h is None:
                continue

            def leak(
                idx_m: np.ndarray,
                idx_h: np.ndarray,
                m: tuple[np.ndarray, np.ndarray] = m,
                h: tuple[np.ndarray, np.ndarray] = h,
            ) -> float:
                ao = auc(m[1][idx_m], h[1][idx_h])
                return (auc(m[0][idx_m], h[0][idx_h]) - ao) / ao * 100 if ao > 0 else math.nan

            im, ih = np.arange(len(m[0])), np.arange(len(h[0]))
            value = leak(im, ih)
            rng = np.random.default_rng(seed)
            stats = [
                leak(rng.integers(0, len(im), len(im)), rng.integers(0, len(ih), len(ih)))
                for _ in range(N_RESAMPLES)
            ]
            out.append(
                self.result(task, f"{MEMBERS}~{NON_MEMBERS}", value, _ci(stats),
                            len(im) + len(ih), against="oracle")
            )
        return out


class Collateral(RunMetric):
    """One row of the collateral matrix: per disease category j of the retain split, the
    drop of the answer score (before - after unlearning; higher means more collateral
    damage). The row is the category (or categories) forgotten, recorded in ``subset`` as
    ``forgot=<cats>;category=<j>``."""

    name = "collateral"
    direction = "lower"
    needs_runs = frozenset({"target"})

    def compute(self, run: RunData, refs: Mapping[str, RunData], seed: int) -> list[MetricResult]:
        out = []
        for task in run.values:
            metric = PRIMARY.get(_output_type(run, task))
            labels = run.labels.get(task, {})
            cats = labels.get("retain", {}).get("category")
            forgot = sorted({c for c in labels.get("forget", {}).get("category", []) if c})
            a, b = run.column(task, "retain", metric or ""), refs["target"].column(
                task, "retain", metric or ""
            )
            if not cats or a is None or b is None or not forgot:
                continue
            paired_values(run, refs["target"], task, "retain", metric or "")  # checks alignment
            for cat in sorted({c for c in cats if c}):
                rows = [
                    (x, y) for x, y, c in zip(a, b, cats, strict=True)
                    if c == cat and x is not None and y is not None
                ]
                arr = np.asarray(rows, dtype=float)
                value, ci = paired_bootstrap(
                    lambda x, y: float(y.mean() - x.mean()), [arr[:, 0], arr[:, 1]], seed
                )
                out.append(
                    self.result(task, "retain", value, ci, len(arr), against="target",
                                subset=f"forgot={'+'.join(forgot)};category={cat}")
                )
        return out


DISTANCES = ("same_code", "same_category", "same_block", "same_chapter", "other_chapter")


def icd_distance(code: str, forgotten: Sequence[str]) -> str:
    """How close ``code`` is to the nearest forgotten code in the ICD-10-CM hierarchy."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import simple_icd_10_cm as icd

    best = len(DISTANCES) - 1
    anc = icd.get_ancestors(code) if icd.is_valid_item(code) else []
    block = next((x for x in anc if icd.is_block(x)), None)
    chapter = anc[-1] if anc else None
    for f in forgotten:
        fanc = icd.get_ancestors(f) if icd.is_valid_item(f) else []
        if f == code:
            level = 0
        elif f[:3] == code[:3]:
            level = 1
        elif block is not None and block in fanc:
            level = 2
        elif chapter is not None and fanc and fanc[-1] == chapter:
            level = 3
        else:
            level = 4
        best = min(best, level)
    return DISTANCES[best]


class _Hierarchy(RunMetric):
    def groups(self, run: RunData, task: str) -> dict[str, list[int]]:
        labels = run.labels.get(task, {})
        codes = labels.get("retain", {}).get("code")
        forgotten = sorted({c for c in labels.get("forget", {}).get("code", []) if c})
        if not codes or not forgotten:
            return {}
        cache: dict[str, str] = {}
        out: dict[str, list[int]] = {}
        for i, c in enumerate(codes):
            if c:
                d = cache.setdefault(c, icd_distance(c, forgotten))
                out.setdefault(d, []).append(i)
        return {d: out[d] for d in DISTANCES if d in out}


class HierarchyScore(_Hierarchy):
    """Hierarchy preservation: the retain answer score grouped by ICD-10-CM distance of each
    patient's code to the forgotten codes (same code, category, block, chapter, other)."""

    name = "hierarchy_score"

    def compute(self, run: RunData, refs: Mapping[str, RunData], seed: int) -> list[MetricResult]:
        out = []
        for task in run.values:
            col = run.column(task, "retain", PRIMARY.get(_output_type(run, task), ""))
            if col is None:
                continue
            for dist, idx in self.groups(run, task).items():
                arr = np.asarray([col[i] for i in idx if col[i] is not None], dtype=float)
                value, ci = paired_bootstrap(lambda x: float(x.mean()), [arr], seed)
                out.append(
                    self.result(task, "retain", value, ci, len(arr), subset=f"distance={dist}")
                )
        return out


class HierarchyMU(_Hierarchy):
    """Hierarchy preservation relative to the target: MU (after / before) per distance."""

    name = "hierarchy_mu"
    needs_runs = frozenset({"target"})

    def compute(self, run: RunData, refs: Mapping[str, RunData], seed: int) -> list[MetricResult]:
        out = []
        for task in run.values:
            metric = PRIMARY.get(_output_type(run, task), "")
            a, b = run.column(task, "retain", metric), refs["target"].column(task, "retain", metric)
            if a is None or b is None:
                continue
            paired_values(run, refs["target"], task, "retain", metric)
            for dist, idx in self.groups(run, task).items():
                rows = [(a[i], b[i]) for i in idx if a[i] is not None and b[i] is not None]
                arr = np.asarray(rows, dtype=float)
                value, ci = paired_bootstrap(_ratio, [arr[:, 0], arr[:, 1]], seed)
                out.append(
                    self.result(task, "retain", value, ci, len(arr), subset=f"distance={dist}",
                                against="target")
                )
        return out


# -- running them ----------------------------------------------------------------------------
def run_metrics(disabled_plugins: Sequence[str] = ()) -> list[tuple[str, RunMetric, str]]:
    """(name, instance, plugin name) of every registered run metric."""
    from medlethe.registry import get_registry

    reg = get_registry(disabled_plugins)
    out = []
    for comp in reg.components["metric"].values():
        try:
            obj = comp.load()
        except MissingDependencyError:
            continue  # not loadable here; a task that lists it reports the error
        if isinstance(obj, type) and issubclass(obj, RunMetric):
            out.append((comp.name, comp.build(), comp.plugin.name))
    return out


def compare(
    results_path: str | Path,
    references: Mapping[str, str | Path | RunData],
    *,
    seed: int | None = None,
    disabled_plugins: Sequence[str] = (),
) -> Results:
    """Compute every run metric whose references are given and add the results to the
    results file at ``results_path``. ``references`` maps a role (``target``, ``oracle``)
    to a results file, a run id in the same folder, or loaded run data."""
    run = load_run(results_path)
    refs: dict[str, RunData] = {}
    for role, ref in references.items():
        if isinstance(ref, RunData):
            refs[role] = ref
        elif str(ref).endswith(".json"):
            refs[role] = load_run(ref)
        else:
            refs[role] = find_run(run.path.parent, str(ref))
    res = run.results
    ids = {role: r.run_id for role, r in refs.items()}
    conflict = {r for r, i in ids.items() if res.references.get(r, i) != i}
    if conflict:
        raise MedletheError(
            f"{run.path.name} was already compared with other {', '.join(sorted(conflict))} "
            f"runs ({', '.join(res.references[r] for r in sorted(conflict))}); a results "
            "file holds one comparison per role."
        )
    done = {(m.metric, m.metric_version) for m in res.metrics}
    added: list[MetricResult] = []
    seed = res.seeds.get("bootstrap_seed", 0) if seed is None else seed
    for name, metric, plugin in run_metrics(disabled_plugins):
        if not metric.needs_runs <= refs.keys() or (name, metric.version) in done:
            continue
        found = metric.compute(run, {r: refs[r] for r in metric.needs_runs}, seed)
        added.extend(m.model_copy(update={"metric": m.metric, "plugin": plugin}) for m in found)
    if added or ids.keys() - res.references.keys():
        res = res.model_copy(
            update={"metrics": [*res.metrics, *added], "references": {**res.references, **ids}}
        )
        results_io.write_results(res, run.path)
    return res
