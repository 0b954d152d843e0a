"""The regression fixture of issue 34 (bench/regression.json): the metric values of three
whole runs, recorded before the task kinds moved out of the core. This test reruns the
quickest of them (Forget-MI on synthclinic-cxr/patients-6pct, training seed 0) from an empty
cache and asks for every value to be equal. Trained weights depend on the CPU's arithmetic,
so it runs where the fixture was recorded (same CPU, torch and threads); `python
bench/regression.py check` reruns all three."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import regression


@pytest.mark.slow
def test_forget_mi_gives_the_recorded_values(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    fixture = json.loads(regression.FIXTURE.read_text(encoding="utf-8"))
    if fixture.get("machine") != regression.machine():
        pytest.skip(f"the fixture was recorded on {fixture.get('machine')}, this is "
                    f"{regression.machine()}: weights differ across CPUs")
    monkeypatch.setenv("MEDLETHE_CACHE_DIR", str(tmp_path))  # trained from scratch
    found = regression.values("forget-mi")
    assert sum(len(v) for v in found.values()) > 300
    # every recorded value unchanged; a metric added since (forget_progress) is no change
    assert regression.differences(fixture["forget-mi"], found, 0.0, "forget-mi",
                                  added=False) == []
    assert regression.differences({"a": 1.0}, {"a": 1.0, "b": 2.0}, 0.0, added=False) == []
    assert regression.differences({"a": 1.0}, {"a": 1.5}, 0.0, added=False) == ["/a: 1.0 -> 1.5"]
