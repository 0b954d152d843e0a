"""Fine-tuning targets and oracles on synthclinic, resuming a killed run, the full pipeline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from medlethe.judge import compare_files
from medlethe.report.text import print_report
from medlethe.results import EvaluationRun
from medlethe.results.schema import MetricResult
from medlethe.run import run_pipeline
from medlethe.spec import load_spec
from medlethe.training.finetune import TrainConfig
from medlethe.training.pipeline import finetune, load_scenario
from tests.conftest import ROOT

SMALL = {"n_patients": 33, "n_holdout": 11}
# Few patients means few steps per epoch: more epochs to memorise them.
SMALL_TRAINING = TrainConfig(qa_epochs=48)


@pytest.mark.slow
def test_pipeline_target_remembers_oracle_does_not(tmp_path: Path) -> None:
    out = run_pipeline(
        "tiny", "synthclinic/patient-25", output=tmp_path / "out", task_args=SMALL,
        train_config=SMALL_TRAINING, progress=False, echo=False,
        methods=["GradAscent", "RMU", "testplugin/ShuffledAnswers", "Retrain"],
        method_args={"RMU": {"layer": 99}}, splits=["forget", "retain", "holdout"],
    )
    rows = {
        (r["task"], r["split"], r["subset"], r["metric"]): r["cells"]
        for r in out.summary["rows"]
    }
    forget = rows[("synthclinic/patient-25", "forget", "type=factual", "rouge_l_recall")]
    assert forget["target"]["value"] >= 0.8
    assert forget["oracle"]["value"] <= forget["target"]["value"] - 0.3
    retain = rows[("synthclinic/patient-25", "retain", "type=reasoning", "rouge_l_recall")]
    assert retain["target"]["value"] >= 0.8 and retain["oracle"]["value"] >= 0.8
    assert ("synthclinic/patient-25/mc", "forget", None, "accuracy") in rows
    # No patient text anywhere in the summary, the report or the results files.
    task = load_scenario("synthclinic/patient-25", SMALL)
    names = [d["qid"].split("-")[0] for d in task.docs("forget")]
    patients = {p.pid: p for p in task.data.train}
    texts = [out.summary_path.read_text(), out.html_path.read_text()]
    texts += [run.path.read_text() for run in out.runs.values() if run.path]
    for pid in names:
        p = patients[pid]
        for secret in (p.name, p.mrn, p.admitted):
            assert all(secret not in t for t in texts), secret
    roles = [r.results.model.role for r in out.runs.values()]
    assert roles == ["target", "oracle", "unlearned", "unlearned", "unlearned"]
    # recorded paths never show this machine's folders
    for run in out.runs.values():
        text = run.path.read_text()  # type: ignore[union-attr]
        assert str(Path.home()) not in text and str(tmp_path) not in text
    # Methods: gradient ascent forgets; the third-party method ran through the same path;
    # Retrain is the oracle; failures are reported and did not stop the others.
    assert forget["GradAscent"]["value"] < forget["target"]["value"] - 0.3
    assert forget["testplugin/ShuffledAnswers"] is not None
    assert forget["Retrain"]["value"] == forget["oracle"]["value"]
    failures = {f["method"]: f["error"] for f in out.summary["failures"]}
    assert set(failures) == {"RMU"} and "layer 99" in failures["RMU"]
    ga = out.runs["GradAscent"].results
    assert ga.method is not None and ga.method.name == "GradAscent"
    assert ga.method.args["learning_rate"] == 5e-4 and ga.method.distribution == "medlethe"
    assert ga.model.provenance["unlearn"]["steps"] > 0
    check_comparisons(out.runs, tmp_path / "out")
    provenance = out.runs["oracle"].results.model.provenance
    assert provenance["trained_on"] == "retain" and provenance["train_config"]["qa_epochs"] == 48
    # Every results file records the run's spec; run again from it (here without the
    # methods, on two splits), it reuses both fine-tuned models and every cached response.
    recorded = load_spec(out.runs["target"].path)  # type: ignore[arg-type]
    assert (recorded.model, recorded.scenario, recorded.task_args) == (
        "tiny", "synthclinic/patient-25", SMALL)
    assert recorded.train_args["qa_epochs"] == 48 and "RMU" in (recorded.methods or [])
    again = run_pipeline(recorded, output=tmp_path / "again", progress=False, echo=False,
                         methods=[], splits=["forget", "retain"])
    assert all(r.results.requests.model_calls == 0 for r in again.runs.values())
    assert len(again.runs) == 2
    assert again.summary["timings"]["finetune_target_s"] < 5


def check_comparisons(runs: dict[str, EvaluationRun], out_dir: Path) -> None:
    """Comparison metrics were added to every results file, with intervals."""
    by = {label: r.results for label, r in runs.items()}
    paths = {label: r.path for label, r in runs.items()}
    # each run was written once, complete: the file holds what the pipeline returned
    for run in runs.values():
        assert run.path is not None and EvaluationRun.load(run.path).results == run.results
    task = "synthclinic/patient-25"

    def get(label: str, metric: str, split: str, subset: str | None = None) -> MetricResult:
        return next(
            m for m in by[label].metrics
            if (m.task, m.metric, m.split, m.subset) == (task, metric, split, subset)
            or (m.metric == metric and m.task == "(model)")
        )

    ga = "GradAscent"
    afe = get(ga, "afe", "forget")
    assert afe.value is not None and afe.value > 0.3 and afe.against == "target"
    assert afe.ci is not None and afe.ci.low <= afe.value <= afe.ci.high
    assert get("Retrain", "afe", "forget").value == get("oracle", "afe", "forget").value
    mu = get(ga, "mu", "retain")
    assert mu.value is not None and mu.ci is not None
    assert get(ga, "ds", "retain").value == pytest.approx(1 - mu.value)
    assert get(ga, "params_modified", "(weights)").value > 0.5  # type: ignore[operator]
    assert by[ga].references == {
        "target": by["target"].run_id, "oracle": by["oracle"].run_id
    }
    for metric in ("forget_quality_ks", "fr", "kpr", "model_utility_tofu"):
        assert any(m.metric == metric and m.ci is not None for m in by[ga].metrics), metric
    # a p-value is a point value; the patient is the unit every interval resampled
    assert get(ga, "forget_quality", "forget").ci is None
    assert {m.ci.unit for m in by[ga].metrics if m.ci is not None} <= {"patient", "parameter"}
    for metric in ("mia_auc_reference", "privleak", "mia_auc_min_k_pp"):
        assert get(ga, metric, "forget~holdout").value is not None
    # The target is told apart from never-seen patients better than the oracle is.
    assert get("target", "mia_auc_loss", "forget~holdout").value > get(  # type: ignore[operator]
        "oracle", "mia_auc_loss", "forget~holdout"
    ).value + 0.1
    assert get("target", "terminology_leakage", "forget").value >= 0.8  # type: ignore[operator]
    assert get(ga, "terminology_leakage_ratio", "forget").value < 1  # type: ignore[operator]
    assert any(m.metric == "collateral" and m.subset for m in by[ga].metrics)
    assert any(m.metric == "hierarchy_mu" for m in by[ga].metrics)
    # A third-party run metric goes through the same contract.
    gap = get(ga, "forget_gap", "forget")
    assert gap.plugin == "testplugin" and gap.against == "target" and gap.ci is not None
    exact = [get(label, "exact_match", "forget").value for label in ("target", ga)]
    assert gap.value == pytest.approx(exact[0] - exact[1])  # type: ignore[operator]
    # The oracle judged against itself: identical truth ratios (KS p = 1) and a Reference
    # attack with nothing to go on (AUC 0.5). A second compare computes nothing again.
    before = len(by["oracle"].metrics)
    itself = compare_files(paths["oracle"], {"oracle": paths["oracle"]}).results
    fq = next(m for m in itself.metrics if m.metric == "forget_quality" and m.task == task)
    assert fq.value == pytest.approx(1.0)
    ref = next(m for m in itself.metrics if m.metric == "mia_auc_reference" and m.task == task)
    assert ref.value == pytest.approx(0.5)
    again = compare_files(paths["oracle"], {"oracle": paths["oracle"]}).results
    assert len(again.metrics) == len(
        itself.metrics
    ) > before
    shown = print_report(out_dir)
    titles = [t for t, _, _ in shown["tables"]]
    assert "Forgetting and utility" in titles and "Privacy (forget vs holdout)" in titles
    assert shown["heatmap"] is not None and shown["heatmap"].stat().st_size > 1000


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(path / "model.safetensors")


@pytest.mark.slow
def test_killed_finetune_resumes_to_the_same_weights(tmp_path: Path) -> None:
    args = ["n_patients=22", "n_holdout=11"]
    train_args = "qa_epochs=6,text_epochs=1,checkpoint_every=10"
    env = {**os.environ, "MEDLETHE_CACHE_DIR": str(tmp_path / "killed"), "TQDM_DISABLE": "1"}
    cmd = [
        sys.executable, "-m", "medlethe", "finetune", "--model", "tiny", "--scenario",
        "synthclinic/patient-10", "--on", "retain", "--task-args", ",".join(args),
        "--train-args", train_args,
    ]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    found: list[Path] = []
    while time.time() < deadline and not found and proc.poll() is None:
        found = list((tmp_path / "killed").glob("finetune/*.partial/checkpoint/state.pt"))
        time.sleep(0.05)
    assert found, "no checkpoint was written before the run ended"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = torch.load(found[0], weights_only=False)
    assert state["step"] >= 10
    resumed = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    resumed_path = Path(resumed.stdout.strip().split(": ", 1)[1])
    assert not list((tmp_path / "killed").glob("finetune/*.partial"))

    os.environ["MEDLETHE_CACHE_DIR"] = str(tmp_path / "straight")
    task = load_scenario("synthclinic/patient-10", {"n_patients": 22, "n_holdout": 11})
    config = TrainConfig(qa_epochs=6, text_epochs=1, checkpoint_every=10)
    straight = finetune("tiny", task, "retain", config=config, progress=False)
    assert straight.path.name == resumed_path.name  # same fingerprint
    a, b = weights(resumed_path), weights(straight.path)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    meta = json.loads((resumed_path / "medlethe_finetune.json").read_text())
    assert meta["train_config"]["checkpoint_every"] == 10


def test_finetune_with_lora_merges_into_full_weights(tmp_path: Path) -> None:
    task = load_scenario("synthclinic/patient-10", {"n_patients": 11, "n_holdout": 11})
    config = TrainConfig(qa_epochs=1, text_epochs=0, lora_rank=4)
    out = finetune("tiny", task, "retain", config=config, progress=False)
    base = weights(Path(out.base))
    tuned = weights(out.path)
    assert base.keys() == tuned.keys()  # merged: no adapter tensors left
    changed = [k for k in base if not torch.equal(base[k], tuned[k])]
    assert changed and all("proj" in k for k in changed)


def test_finetune_rejects_unknown_train_args() -> None:
    from tests.conftest import run_cli

    proc = run_cli(
        "finetune", "--model", "tiny", "--scenario", "synthclinic/patient-10", "--on", "train",
        "--train-args", "epochz=3",
    )
    assert proc.returncode == 2 and "epochz" in proc.stderr and "qa_epochs" in proc.stderr


@pytest.mark.parametrize("scenario", ["synthclinic/patient-1"])
def test_task_without_training_data_is_refused(scenario: str) -> None:
    from medlethe.errors import TaskConfigError
    from medlethe.task import ConfigTask
    from tests.conftest import CLINIC

    task = ConfigTask.from_file(CLINIC / "generate.yaml")
    with pytest.raises(TaskConfigError, match="provides no training data"):
        finetune("tiny", task, "train")


@pytest.mark.slow
def test_cli_unlearn_and_run_with_methods(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    small = ["--task-args", "n_patients=11,n_holdout=11"]
    proc = run_cli("unlearn", "--method", "GradDiff", "--scenario", "synthclinic/patient-10",
                   "--params", "epochs=1,lora_rank=2", *small)
    assert proc.returncode == 0, proc.stderr
    assert "GradDiff (done" in proc.stdout and "adapter" in proc.stdout
    again = run_cli("unlearn", "--method", "GradDiff", "--scenario", "synthclinic/patient-10",
                    "--params", "epochs=1,lora_rank=2", *small)
    assert "GradDiff (cached)" in again.stdout
    # -p no:testplugin reaches every stage of run: its run metric (forget_gap) is not computed
    command = (
        "-p", "no:testplugin",
        "run", "--scenario", "synthclinic/patient-10", "--output", str(tmp_path), *small,
        "--methods", "GradDiff,SimNPO", "--method-args", "GradDiff.epochs=1,GradDiff.lora_rank=2",
        "--splits", "forget,retain",
    )
    proc = run_cli(*command)
    assert proc.returncode == 0, proc.stderr
    assert "Forgetting and utility" in proc.stdout
    header = next(line for line in proc.stdout.splitlines() if "oracle" in line)
    assert "target" in header and "GradDiff" in header and "SimNPO" in header
    report = run_cli("report", str(tmp_path))
    assert report.returncode == 0, report.stderr
    assert "AFE" in report.stdout and (tmp_path / "collateral.png").exists()
    summary = json.loads((tmp_path / "summary.json").read_text())
    graddiff = next(m for m in summary["models"] if m["label"] == "GradDiff")
    assert graddiff["role"] == "unlearned"
    files = {m["label"]: tmp_path / "results" / m["results_file"] for m in summary["models"]}
    assert all("forget_gap" not in f.read_text() for f in files.values())
    # ... and of compare: off, nothing to add; on, the plugin's run metric is added
    judged, target = str(files["GradDiff"]), str(files["target"])
    off = run_cli("-p", "no:testplugin", "compare", judged, "--target", target)
    assert off.returncode == 0 and ": 0 comparison results added" in off.stdout, off.stderr
    on = run_cli("compare", judged, "--target", target)
    assert on.returncode == 0 and ": 0 comparison" not in on.stdout, on.stderr
    assert "forget_gap" in files["GradDiff"].read_text()
    # A repeated (or resumed) run replaces its results files, never adds to them.
    again = run_cli(*command)
    assert again.returncode == 0, again.stderr
    assert len(list((tmp_path / "results").glob("results_*.json"))) == 4
    assert len(list((tmp_path / "results").glob("values_*.json"))) == 4
    # A method that fails makes the run exit non-zero; the summary is still written.
    failing = run_cli(
        "run", "--scenario", "synthclinic/patient-10", "--output", str(tmp_path / "fail"),
        *small, "--methods", "RMU", "--method-args", "RMU.layer=99", "--splits", "forget",
    )
    assert failing.returncode == 1, failing.stderr
    assert "1 method(s) failed (RMU)" in failing.stderr
    failed = json.loads((tmp_path / "fail" / "summary.json").read_text())["failures"]
    assert [f["method"] for f in failed] == ["RMU"]
