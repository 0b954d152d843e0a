"""``medlethe sweep``: a 2-scenario, 2-seed plan run by the CLI, killed and resumed, then the
same plan on a local Ray instance (2 CPUs) giving the same numbers; the target of a seed
is trained once for both scenarios; across-seed aggregates and the report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medlethe.leaderboard import SubmissionError, build_site, validate_submission
from medlethe.results.evaluation import EvaluationRun
from medlethe.sweep import Sweep, load_plan
from tests.conftest import ROOT

PLAN = """\
model: tiny
scenarios: [synthclinic/patient-25, synthclinic/disease-oncology]
methods: [GradAscent]
method_args: {GradAscent: {epochs: 2}}
seeds: [0, 1]
task_args: {n_patients: 22, n_holdout: 11}
train_args: {qa_epochs: 3, text_epochs: 1}
splits: [forget, retain, holdout]
"""


def _cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "medlethe", *args], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def _key(row: dict[str, object]) -> tuple[object, ...]:
    return tuple(row[k] for k in ("scenario", "label", "task", "split", "subset", "metric",
                                  "against"))


@pytest.mark.slow
def test_sweep_resumes_and_ray_gives_the_same_numbers(tmp_path: Path) -> None:
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(PLAN)
    out = tmp_path / "sweep"
    env = {**os.environ, "MEDLETHE_CACHE_DIR": os.environ["MEDLETHE_CACHE_DIR"]}
    # Killed once its first evaluation job is recorded ...
    proc = _cli("sweep", str(plan_path), "--output", str(out), env=env)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        records = list((out / "jobs").glob("*.json")) if (out / "jobs").exists() else []
        if records:
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = json.loads(records[0].read_text())
    assert first["status"] == "done" and first["step"] == "reference"
    kept = {label: name for label, name in first["results"].items()}
    # ... and run again: the finished job is kept (same files), the rest runs.
    again = _cli("sweep", str(plan_path), "--output", str(out), env=env)
    log, _ = again.communicate(timeout=900)
    assert again.returncode == 0, log
    assert "resuming: 1 of 8 evaluation job(s) finished before" in log
    assert json.loads(records[0].read_text())["results"] == kept
    plan = load_plan(plan_path)
    sweep = Sweep(plan, out, echo=False)
    # one target per seed for both scenarios, an oracle per scenario and seed
    steps = [(j.step, j.on) for j in sweep.jobs if j.step == "finetune"]
    assert steps.count(("finetune", "train")) == 2 and steps.count(("finetune", "retain")) == 4
    targets = {sweep.finetune_of[(s, 0, "train")] for s in plan.scenarios}
    assert len(targets) == 1
    doc = json.loads((out / "aggregate.json").read_text())
    assert doc["seeds"] == [0, 1] and not doc["failures"]
    rows = {_key(r): r for r in doc["rows"]}
    fr = rows[("synthclinic/patient-25", "GradAscent", "synthclinic/patient-25", "forget",
               None, "rouge_l_recall", None)]
    assert fr["n_seeds"] == 2 and fr["seeds"] == [0, 1] and fr["ci_low"] <= fr["mean"]
    # each seed's value is that seed's results file's value
    seed_runs = {}
    for s in (0, 1):
        folder = out / "runs" / "synthclinic__patient-25" / f"seed-{s}"
        summary = json.loads((folder / "summary.json").read_text())
        name = next(m["results_file"] for m in summary["models"] if m["label"] == "GradAscent")
        seed_runs[s] = EvaluationRun.load(folder / "results" / name)
        assert seed_runs[s].results.model.provenance["train_config"]["seed"] == s
        assert seed_runs[s].results.method.args["seed"] == s  # type: ignore[union-attr]
    values = [next(m.value for m in seed_runs[s].results.metrics if m.subset is None and (
        m.task, m.split, m.metric) == ("synthclinic/patient-25", "forget", "rouge_l_recall"))
        for s in (0, 1)]
    assert fr["per_seed"] == values and fr["mean"] == pytest.approx(sum(values) / 2)  # type: ignore[operator]
    assert doc["analyses"]["question_types"]
    # an installed plugin's analysis (register_analyses) runs beside the built-in ones
    assert ["synthclinic/patient-25", "GradAscent", 2] in doc["analyses"][
        "testplugin/seeds-per-model"]
    html = (out / "index.html").read_text()
    assert "2 seed(s)" in html and "n=2" in html
    assert "Seeds behind each answer score" in html and "Factual vs reasoning" in html
    # the leaderboard: the sweep folder is one submission; its summary page shows the
    # across-seed headline, the scenario pages each run's seed and the mean over seeds
    site = build_site([out], tmp_path / "site")
    assert not site.rejected and len(site.accepted) == 1
    (page,) = (tmp_path / "site").glob("sweep-*.html")
    assert "n=2" in page.read_text() and "2 seed(s): 0, 1" in page.read_text()
    (scen,) = (tmp_path / "site").glob("scenario-synthclinic-patient-25-*.html")
    assert 'id="seeds"' in scen.read_text() and "2 (0, 1)" in scen.read_text()
    bad = tmp_path / "bad" / "sweep_summary.json"
    bad.parent.mkdir()
    bad.write_text((out / "sweep_summary.json").read_text().replace(
        '"GradAscent"', '"<script>x</script>"', 1))
    with pytest.raises(SubmissionError, match="markup"):
        validate_submission(bad.parent)
    report = subprocess.run([sys.executable, "-m", "medlethe", "report", str(out)], cwd=ROOT,
                            env=env, text=True, capture_output=True, check=True).stdout
    assert "| model (2 seeds) |" in report and "synthclinic/disease-oncology" in report

    # The same plan on a local Ray instance: the same numbers (every model is cached, so
    # this measures the executor; threads differ, so floating-point sums may differ in the
    # last digits).
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"MEDLETHE_CACHE_DIR": env["MEDLETHE_CACHE_DIR"]}})
    try:
        Sweep(plan, tmp_path / "ray", echo=False).run("ray")
    finally:
        ray.shutdown()
    other = json.loads((tmp_path / "ray" / "aggregate.json").read_text())
    assert not other["failures"]
    theirs = {_key(r): r for r in other["rows"]}
    assert set(theirs) == set(rows)
    worst = max(abs(a - b) for k, r in rows.items()
                for a, b in zip(r["per_seed"], theirs[k]["per_seed"], strict=True))
    assert worst < 1e-5
