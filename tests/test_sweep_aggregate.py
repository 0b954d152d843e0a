"""Across-seed aggregation: the mean, spread and hierarchical interval worked out by hand on
constructed runs (docs/sweeps.md), and plan expansion."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from medlethe.errors import MedletheError
from medlethe.metrics.bootstrap import Clusters, bootstrap_ci
from medlethe.results.evaluation import EvaluationRun
from medlethe.results.schema import CI, MetricResult
from medlethe.sweep.aggregate import EXACT, NORMAL, aggregate_seeds
from medlethe.sweep.plan import Plan, load_plan
from tests.metrics.test_run_metrics import make_run


def _metric(value: float, ci: tuple[float, float] | None = None, against: str | None = None,
            subset: str | None = None) -> MetricResult:
    return MetricResult(
        task="t", split="forget", subset=subset, metric="score", metric_version="1",
        plugin="p", value=value,
        ci=CI(low=ci[0], high=ci[1], level=0.95, method="percentile", n_resamples=1000,
              unit="patient") if ci else None,
        direction="higher", n=1, against=against,
    )


def _with(run: EvaluationRun, metric: MetricResult) -> EvaluationRun:
    return replace(run, results=run.results.model_copy(update={"metrics": [metric]}))


def _seed_run(rows: list[float], patients: list[str], types: list[str] | None = None,
              **kw: object) -> EvaluationRun:
    labels = {"forget": {"cluster": patients, **({"type": types} if types else {})}}
    run = make_run({"forget": {"score": rows}}, labels)
    return _with(run, _metric(float(np.mean(rows)), **kw))  # type: ignore[arg-type]


def test_between_seed_interval_by_hand() -> None:
    """No within-seed variance (every row of a seed equal): the interval is the seed stage
    alone. Two seeds at 0.2 and 0.6: a resample's mean is 0.2, 0.4 or 0.6 with probability
    1/4, 1/2, 1/4, so the 2.5th and 97.5th percentiles are 0.2 and 0.6."""
    runs = {0: _seed_run([0.2] * 4, ["a", "a", "b", "b"]),
            1: _seed_run([0.6] * 4, ["a", "a", "b", "b"])}
    (agg,) = aggregate_seeds(runs)
    assert agg.per_seed == {0: 0.2, 1: 0.6} and agg.n_seeds == 2
    assert agg.mean == pytest.approx(0.4)
    assert agg.sd == pytest.approx(np.std([0.2, 0.6], ddof=1))
    assert (agg.low, agg.high) == (pytest.approx(0.2), pytest.approx(0.6))
    assert agg.method == EXACT.format(unit="patient")


def test_within_seed_stage_resamples_patients() -> None:
    """Three seeds with the same rows: seeds do not differ, so the hierarchical replicate is
    the mean of three independent patient resamples, and its interval is about 1/sqrt(3) as
    wide as one seed's own patient-bootstrap interval."""
    rng = np.random.default_rng(1)
    rows = list(rng.random(60))
    patients = [f"p{i // 3}" for i in range(60)]
    runs = {s: _seed_run(rows, patients) for s in (0, 1, 2)}
    (agg,) = aggregate_seeds(runs, n_resamples=4000)
    one = bootstrap_ci(rows, Clusters.of(patients, 60, "patient"), n_resamples=4000)
    assert one is not None and agg.low is not None and agg.high is not None
    ratio = (agg.high - agg.low) / (one.high - one.low)
    assert ratio == pytest.approx(1 / np.sqrt(3), rel=0.12)
    assert agg.sd == 0.0 and agg.low < agg.mean < agg.high


def test_non_mean_metric_draws_from_each_seed_interval() -> None:
    """A comparison metric (not a mean of rows): within-seed draws are normal with the
    spread of the run's own interval. Identical seeds with interval +-0.196 (se 0.1): the
    hierarchical interval is about +-1.96 * 0.1 / sqrt(2)."""
    runs = {s: _seed_run([0.5, 0.5], ["a", "b"], ci=(0.304, 0.696), against="target")
            for s in (0, 1)}
    (agg,) = aggregate_seeds(runs, n_resamples=8000)
    assert agg.method == NORMAL and agg.against == "target"
    assert agg.low is not None and agg.high is not None
    assert (agg.high - agg.low) / 2 == pytest.approx(1.96 * 0.1 / np.sqrt(2), rel=0.08)


def test_subset_rows_and_single_seed() -> None:
    """A subset's value is the mean of its own rows; one seed gives no interval or sd."""
    run = make_run({"forget": {"score": [1.0, 0.0, 1.0, 1.0]}},
                   {"forget": {"cluster": ["a", "b", "c", "d"],
                               "type": ["factual", "reasoning", "factual", "reasoning"]}})
    run = _with(run, _metric(1.0, subset="type=factual"))
    (agg,) = aggregate_seeds({3: run})
    assert agg.subset == "type=factual" and agg.per_seed == {3: 1.0}
    assert agg.sd is None and agg.low is None
    assert agg.method == EXACT.format(unit="patient")


def test_plan_grid_and_errors(tmp_path: Path) -> None:
    plan = Plan(scenarios=["s"], method_args={"NPO": {"epochs": 2}},
                grid={"NPO": {"beta": [0.1, 0.2]}})
    assert plan.variants(["GradAscent", "NPO"]) == [
        ("GradAscent", "GradAscent", {}),
        ("NPO[beta=0.1]", "NPO", {"epochs": 2, "beta": 0.1}),
        ("NPO[beta=0.2]", "NPO", {"epochs": 2, "beta": 0.2}),
    ]
    bad = tmp_path / "plan.yaml"
    bad.write_text("scenarios: [synthclinic/patient-10]\nseeds: [0, 0]\nmethod: [NPO]\n")
    with pytest.raises(MedletheError) as err:
        load_plan(bad)
    text = str(err.value)
    assert str(bad) in text and "seeds" in text and "repeat" in text and "method" in text
