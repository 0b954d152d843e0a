"""medlethe.results.to_frame: one row per metric value, read back from the demo submission."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medlethe.errors import ResultsError
from medlethe.results import to_frame
from medlethe.results.frame import COLUMNS
from tests.conftest import ROOT

DEMO = ROOT / "leaderboard" / "submissions" / "demo-tiny-synthclinic-patient-10"


def test_frame_of_the_demo_submission() -> None:
    files = sorted(DEMO.glob("results_*.json"))
    frame = to_frame(DEMO)
    assert list(frame.columns) == list(COLUMNS)
    raw = [json.loads(f.read_text()) for f in files]
    assert len(frame) == sum(len(r["metrics"]) for r in raw)
    assert set(frame["run_id"]) == {r["run_id"] for r in raw}
    # a value and its interval are the file's, with the run's method and seed beside them
    ga = next(r for r in raw if r["method"] and r["method"]["name"] == "GradAscent")
    m = next(m for m in ga["metrics"] if m["split"] == "forget" and m["subset"] is None
             and m["metric"] == "rouge_l_recall" and m["task"] == "synthclinic/patient-10")
    row = frame[(frame.run_id == ga["run_id"]) & (frame.split == "forget")
                & frame.subset.isna() & (frame.metric == "rouge_l_recall")
                & (frame.task == "synthclinic/patient-10")]
    assert len(row) == 1
    got = row.iloc[0]
    assert got.value == m["value"] and got.ci_low == m["ci"]["low"]
    assert got.method == "GradAscent" and got.role == "unlearned"
    assert got.variant == "GradAscent"  # a run's label: NPO[beta=0.2] for a sweep's variant
    unmet = {(p["task"], p["split"]) for p in ga["preconditions"] if not p["held"]}
    assert bool(got.valid) == (("synthclinic/patient-10", "forget") not in unmet)
    assert set(frame.valid) <= {True, False}
    assert got.seed == ga["model"]["provenance"]["train_config"]["seed"]
    assert json.loads(got.hyperparameters)["learning_rate"] == ga["method"]["args"][
        "learning_rate"]
    # pivot: models as rows, one metric as columns, as a pandas user would
    table = frame[(frame.metric == "rouge_l_recall") & frame.subset.isna()
                  & (frame.task == "synthclinic/patient-10")].pivot_table(
        index="method", columns="split", values="value")
    assert table.loc["target", "forget"] > table.loc["GradAscent", "forget"]
    # a single file and a missing path
    assert len(to_frame(files[0])) == len(raw[0]["metrics"])
    with pytest.raises(ResultsError, match="no such results file"):
        to_frame(Path("nowhere"))
