"""Every built-in run metric against a value worked out by hand from its definition
(docs/metrics.md), found through the real registry as `medlethe run` finds them."""

from __future__ import annotations

from typing import Any

import pytest

from medlethe import EvaluationRun
from medlethe.judge import compute_run_metrics
from medlethe.registry import get_registry
from medlethe.results.schema import MetricResult, ModelRecord, Results, TaskRecord

Cols = dict[str, dict[str, list[float | None]]]


def make_run(
    values: Cols,
    labels: dict[str, dict[str, list[Any]]] | None = None,
    *,
    output_type: str = "generate",
    run_id: str = "run",
    provenance: dict[str, Any] | None = None,
) -> EvaluationRun:
    splits = {s: len(next(iter(cols.values()))) for s, cols in values.items()}
    task = TaskRecord(
        name="t", version="1", output_type=output_type, plugin="p", distribution="d",
        plugin_version="0", config_hash=None, prompt_template_hash=None, chat_template=None,
        splits=splits, data_fingerprints={s: f"fp-{s}" for s in values},
        sampling_unit="patient",
    )
    results = Results.model_construct(
        run_id=run_id,
        tasks={"t": task},
        model=ModelRecord(name_or_path="m", fingerprint="f", provenance=provenance or {}),
    )
    return EvaluationRun(results, {"t": values}, {"t": labels or {}})


def results_of(run: EvaluationRun, **refs: EvaluationRun) -> list[MetricResult]:
    return compute_run_metrics(run, refs, seed=0, registry=get_registry())


def one(found: list[MetricResult], metric: str, split: str | None = None,
        subset: str | None = None) -> MetricResult:
    rows = [m for m in found if m.metric == metric and (split is None or m.split == split)
            and m.subset == subset]
    assert len(rows) == 1, (metric, split, subset, rows)
    return rows[0]


# Four forget questions of two patients, two retain questions of two patients.
FORGET_PATIENTS = ["p1", "p1", "p2", "p2"]
LABELS = {"forget": {"cluster": FORGET_PATIENTS}, "retain": {"cluster": ["p3", "p4"]}}
TARGET = make_run(
    {
        "forget": {"rouge_l_recall": [1.0, 1.0, 0.5, 0.5], "exact_match": [1.0, 1.0, 1.0, 0.0],
                   "terminology_leakage": [1.0, 0.5, None, 1.0]},
        "retain": {"rouge_l_recall": [1.0, 0.5], "exact_match": [1.0, 1.0]},
    },
    LABELS, run_id="target",
)
AFTER = make_run(
    {
        "forget": {"rouge_l_recall": [0.25, 0.5, 0.0, 0.0], "exact_match": [0.0, 1.0, 0.0, 0.0],
                   "terminology_leakage": [0.5, 0.0, 0.0, None]},
        "retain": {"rouge_l_recall": [0.5, 0.5], "exact_match": [1.0, 0.0]},
    },
    LABELS, run_id="after",
)


def test_versus_target_metrics_by_hand() -> None:
    found = results_of(AFTER, target=TARGET)
    # AFE = 1 - mean(0.25, 0.5, 0, 0) / mean(1, 1, 0.5, 0.5) = 1 - 0.1875 / 0.75
    assert one(found, "afe", "forget").value == pytest.approx(0.75)
    # MU = mean(0.5, 0.5) / mean(1, 0.5) = 2/3; DS = 1/3
    assert one(found, "mu", "retain").value == pytest.approx(2 / 3)
    assert one(found, "ds", "retain").value == pytest.approx(1 / 3)
    # FR = (0.75 - 0.25) / 0.75 on exact match; KPR = 0.5 / 1.0
    assert one(found, "fr", "forget").value == pytest.approx(2 / 3)
    assert one(found, "kpr", "retain").value == pytest.approx(0.5)
    # LS ratio on the questions both runs scored: mean(0.5, 0) / mean(1, 0.5)
    assert one(found, "terminology_leakage_ratio", "forget").value == pytest.approx(1 / 3)
    afe = one(found, "afe", "forget")
    assert afe.against == "target" and afe.ci is not None and afe.ci.unit == "patient"
    assert afe.ci.low <= 0.75 <= afe.ci.high


def test_paired_intervals_resample_the_same_patients_in_both_runs() -> None:
    """A run compared with itself: every resample gives MU = 1 exactly."""
    mu = one(results_of(TARGET, target=TARGET), "mu", "retain")
    assert mu.value == 1.0 and mu.ci is not None and mu.ci.low == mu.ci.high == 1.0


def test_forget_quality_is_the_ks_p_value_without_interval_and_the_statistic_with_one() -> None:
    run = make_run({"forget": {"truth_ratio": [0.1, 0.2, 0.3, 0.4]}},
                   {"forget": {"cluster": FORGET_PATIENTS}})
    oracle = make_run({"forget": {"truth_ratio": [0.5, 0.6, 0.7, 0.8]}},
                      {"forget": {"cluster": FORGET_PATIENTS}}, run_id="oracle")
    found = results_of(run, oracle=oracle)
    # disjoint samples of 4 and 4: D = 1, exact two-sided p = 2 / C(8, 4) = 2 / 70
    fq = one(found, "forget_quality")
    assert fq.value == pytest.approx(2 / 70) and fq.ci is None
    ks = one(found, "forget_quality_ks")
    assert ks.value == 1.0 and ks.direction == "lower" and ks.ci is not None


def test_tofu_model_utility_by_hand() -> None:
    run = make_run({"retain": {"probability": [0.5, 0.7], "rouge_l_recall": [1.0, 0.6],
                               "truth_ratio": [0.5, 0.9]}})
    # means: probability 0.6, ROUGE 0.8, truth ratio (retain form max(0, 1 - tr)) 0.3;
    # harmonic mean 3 / (1/0.6 + 1/0.8 + 1/0.3) = 3 / 6.25
    assert one(results_of(run), "model_utility_tofu").value == pytest.approx(0.48)


def test_membership_metrics_by_hand() -> None:
    run = make_run({"forget": {"mia_loss": [-1.0, -2.0], "mia_min_k": [3.0, 4.0]},
                    "holdout": {"mia_loss": [-3.0, -1.5], "mia_min_k": [1.0, 2.0]}})
    oracle = make_run({"forget": {"mia_loss": [-3.0, -3.0], "mia_min_k": [1.0, 4.0]},
                       "holdout": {"mia_loss": [-3.0, -0.5], "mia_min_k": [2.0, 3.0]}},
                      run_id="oracle")
    found = results_of(run, oracle=oracle)
    # LOSS: member > non-member in 3 of 4 pairs (-2 < -1.5) -> 0.75; resistance 1 - 2|0.25|
    assert one(found, "mia_auc_loss").value == pytest.approx(0.75)
    assert one(found, "mia_resistance_loss").value == pytest.approx(0.5)
    # Reference: differences members (2, 1), non-members (0, -1) -> separable, AUC 1
    assert one(found, "mia_auc_reference").value == pytest.approx(1.0)
    # PrivLeak (MUSE): AUC_u = 1.0; AUC_o = 2/4 = 0.5 -> ((1 - 1) - 0.5) / 0.5 x 100
    assert one(found, "privleak").value == pytest.approx(-100.0)


def test_collateral_and_hierarchy_by_hand() -> None:
    labels = {
        "forget": {"category": ["cardio"], "code": ["I21.01"], "cluster": ["f"]},
        "retain": {"category": ["cardio", "cardio", "resp", "cardio"],
                   "code": ["I21.09", "I21.09", "J45.909", "I50.9"],
                   "cluster": ["a", "b", "c", "d"]},
    }
    before = make_run({"forget": {"rouge_l_recall": [1.0]},
                       "retain": {"rouge_l_recall": [1.0, 1.0, 1.0, 0.5]}}, labels,
                      run_id="target")
    after = make_run({"forget": {"rouge_l_recall": [0.0]},
                      "retain": {"rouge_l_recall": [0.5, 0.5, 1.0, 0.5]}}, labels)
    found = results_of(after, target=before)
    # collateral: cardio rows 0, 1, 3: mean before 2.5/3, after 1.5/3 -> drop 1/3; resp 0
    assert one(found, "collateral", subset="forgot=cardio;category=cardio").value == (
        pytest.approx(1 / 3))
    assert one(found, "collateral", subset="forgot=cardio;category=resp").value == 0.0
    # ICD-10-CM distance to I21.01: I21.09 same category, I50.9 same chapter, J45 other
    score = {m.subset: m.value for m in found if m.metric == "hierarchy_score"}
    assert score == {"distance=same_category": 0.5, "distance=same_chapter": 0.5,
                     "distance=other_chapter": 1.0}
    mu = {m.subset: m.value for m in found if m.metric == "hierarchy_mu"}
    assert mu == {"distance=same_category": 0.5, "distance=same_chapter": 1.0,
                  "distance=other_chapter": 1.0}


def test_params_modified_is_the_counted_share() -> None:
    run = make_run({"forget": {"rouge_l_recall": [1.0]}},
                   provenance={"unlearn": {"params_modified": {"changed": 5, "total": 1000}}})
    pm = one(results_of(run), "params_modified")
    assert pm.value == 0.005 and pm.ci is not None and pm.ci.low == pm.ci.high == 0.005
