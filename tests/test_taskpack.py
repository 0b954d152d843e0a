"""The README's example task pack (examples/taskpack), installed with pip by `make test`:
discovered through its entry point, listed by the CLI, evaluated through the CLI."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest

from medlethe.errors import TaskConfigError
from medlethe.task import load_task_file
from tests.conftest import ROOT, run_cli

PACK = ROOT / "examples" / "taskpack"
TASK = "drugsafety/withdrawn-guidance"


@pytest.fixture(autouse=True)
def _installed() -> None:
    try:
        metadata.distribution("medlethe-taskpack-example")
    except metadata.PackageNotFoundError:
        pytest.fail(
            "the example task pack is not installed: `make test` runs "
            "`pip install -e examples/taskpack` (or run that yourself)"
        )


def test_pack_is_listed_with_its_distribution() -> None:
    proc = run_cli("tasks")
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(TASK))
    assert "drugsafety" in line
    plugins = run_cli("plugins")
    assert "medlethe-taskpack-example" in plugins.stdout and "0.1.0" in plugins.stdout


@pytest.mark.slow
def test_pack_task_runs_through_the_cli(tiny_model: Path, tmp_path: Path) -> None:
    proc = run_cli(
        "evaluate",
        "--model",
        str(tiny_model),
        "--tasks",
        TASK,
        "--output",
        str(tmp_path),
        "--no-cache",
    )
    assert proc.returncode == 0, proc.stderr
    (path,) = tmp_path.glob("results_*.json")
    results = json.loads(path.read_text())
    task = results["tasks"][TASK]
    assert task["distribution"] == "medlethe-taskpack-example"
    assert task["splits"] == {"forget": 4, "retain": 4, "holdout": 2}
    metrics = {(m["split"], m["metric"]) for m in results["metrics"]}
    assert ("forget", "rouge_l_recall") in metrics and ("holdout", "probability") in metrics


def test_included_template_is_rendered_and_a_missing_one_is_named(tmp_path: Path) -> None:
    yaml_path = PACK / "medlethe_drugsafety" / "tasks" / "withdrawn_guidance.yaml"
    task = load_task_file(yaml_path)
    inst = task.instances("forget")[0]
    assert inst.prompt.startswith("Drug-safety question (rosiglitazone): What did")
    assert inst.prompt.endswith("\nAnswer:")  # no trailing newline in the file
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        yaml_path.read_text()
        .replace("prompt.jinja", "missing.jinja")
        .replace("../data/", str(yaml_path.parent.parent / "data") + "/")
    )
    with pytest.raises(TaskConfigError, match=r"included template 'missing.jinja' is not in"):
        load_task_file(broken).instances("forget")
