"""Knowledge preconditions: a target at chance fails them and every report marks its numbers;
a target that memorised its questions passes. Margins are worked by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from medlethe.leaderboard.build import _metric_cell
from medlethe.metrics import CHANCE_LABEL
from medlethe.metrics.preconditions import Verdicts, knowledge_checks
from medlethe.report.summary import build_summary
from medlethe.report.text import show_report
from medlethe.results import EvaluationRun
from medlethe.results.schema import MetricResult
from tests.metrics.test_run_metrics import make_run

N = 40


def mc_run(correct: list[float]) -> EvaluationRun:
    labels = {"forget": {CHANCE_LABEL: [0.25] * N, "cluster": [f"q{i}" for i in range(N)]}}
    return make_run({"forget": {"accuracy": correct}}, labels, output_type="multiple_choice")


def test_target_at_chance_fails_and_a_memorising_one_passes() -> None:
    at_chance = mc_run([1.0 if i % 4 == 0 else 0.0 for i in range(N)])  # 10 of 40 right
    (check,) = knowledge_checks(at_chance, None, seed=0)
    assert (check.split, check.reference) == ("forget", "chance")
    assert check.score == pytest.approx(0.25) and check.baseline == pytest.approx(0.25)
    assert check.margin == pytest.approx(0.0) and not check.held
    assert check.ci is not None and check.ci.low < 0 < check.ci.high
    (memorised,) = knowledge_checks(mc_run([1.0] * N), None, seed=0)
    assert memorised.margin == pytest.approx(0.75) and memorised.held


def test_free_text_forget_is_judged_against_the_oracle() -> None:
    target = make_run({"forget": {"rouge_l_recall": [0.9, 0.8, 1.0, 0.9] * 5}})
    same = make_run({"forget": {"rouge_l_recall": [0.9, 0.8, 1.0, 0.9] * 5}})
    never = make_run({"forget": {"rouge_l_recall": [0.2, 0.1, 0.3, 0.2] * 5}})
    (against_same,) = knowledge_checks(target, same, seed=0)
    assert against_same.reference == "oracle" and against_same.margin == 0 and not against_same.held
    (against_never,) = knowledge_checks(target, never, seed=0)
    assert against_never.margin == pytest.approx(0.7) and against_never.held


def test_reports_mark_numbers_whose_precondition_failed(tmp_path: Path) -> None:
    run = mc_run([1.0 if i % 4 == 0 else 0.0 for i in range(N)])
    checks = knowledge_checks(run, None, seed=0)

    def result(metric: str, value: float) -> MetricResult:
        return MetricResult(task="t", split="forget", metric=metric, metric_version="2",
                            plugin="core_metrics", value=value, ci=None, direction="higher", n=N)

    results = run.results.model_copy(update={
        "metrics": [result("accuracy", 0.25), result("fr", 0.44)], "preconditions": checks,
    })
    run = EvaluationRun(results, run.values, run.labels, tmp_path / "results_x.json")
    summary = build_summary({"target": run}, scenario="t", preconditions=checks)
    rows = {r["metric"]: r for r in summary["rows"]}
    assert "does not know this split" in rows["accuracy"]["unmet"]
    assert rows["accuracy"]["cells"]["target"]["value"] == 0.25
    assert rows["fr"]["withheld"] and rows["fr"]["cells"]["target"] is None  # a ratio: never shown
    shown = show_report([("target", results)], tmp_path, heatmap=False)
    table = {r[0]: r[1] for _, _, body in shown["tables"] for r in body}
    assert table["MC forget"].endswith("†") and table["FR (MC)"] == "n/a †"
    assert len(shown["unmet"]) == 1 and "t:forget" in shown["unmet"][0]
    board = _metric_cell(results.metrics[1], Verdicts(results.preconditions))
    assert board["value"] is None and board["text"] == "n/a †" and "unmet" in board
