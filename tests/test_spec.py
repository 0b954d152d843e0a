"""The run spec: one typed record of a run, built by the CLI, taken by the Python API,
expanded from a sweep plan, recorded in results and read back by ``--spec``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medlethe.cli import _run_spec, build_parser
from medlethe.errors import MedletheError
from medlethe.spec import RunSpec, load_spec, run_spec
from medlethe.sweep.jobs import Settings
from medlethe.sweep.plan import Plan
from medlethe.task.base import fingerprint


def _run_parser():  # type: ignore[no-untyped-def]
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return parser, sub.choices["run"]  # type: ignore[attr-defined]


def test_run_help_lists_every_spec_field_with_its_description() -> None:
    _, run = _run_parser()
    flags = {a.dest: a for a in run._actions if a.option_strings[:1] != ["--no-cache"]}
    for name, field in RunSpec.model_fields.items():
        if name == "spec_version":
            continue
        assert name in flags, f"medlethe run has no flag for the spec's {name}"
        assert flags[name].help.startswith(field.description), name
    assert all(a.help for a in run._actions), "every flag of medlethe run has help"


def test_flags_replace_the_fields_of_a_spec_file(tmp_path: Path) -> None:
    spec = RunSpec(model="tiny-bert", scenario="synthclinic-notes/forget-class-oncology",
                   methods=["STEU"], method_args={"STEU": {"budget": 0.1}}, seed=3)
    path = tmp_path / "spec.json"
    path.write_text(spec.model_dump_json(), encoding="utf-8")
    parser, _ = _run_parser()
    args = parser.parse_args(["run", "--spec", str(path), "--limit", "4", "--log-samples",
                              "--method-args", "STEU.budget=0.2", "--no-cache"])
    built, scenarios = _run_spec(args)
    assert scenarios == ["synthclinic-notes/forget-class-oncology"]
    assert (built.model, built.seed, built.methods) == ("tiny-bert", 3, ["STEU"])
    assert (built.limit, built.log_samples, built.cache) == (4, True, False)
    assert built.method_args == {"STEU": {"budget": 0.2}}
    # other methods than the spec's keep only the hyperparameters of those still run
    assert run_spec(spec, methods=[]).method_args == {}
    assert run_spec(spec, methods=["STEU", "Retrain"]).method_args == {"STEU": {"budget": 0.1}}
    # without --spec, the defaults; several scenarios make a sweep
    args = parser.parse_args(["run", "--scenario", "a/x,b/y", "--backend-args", "batch_size=8"])
    built, scenarios = _run_spec(args)
    assert scenarios == ["a/x", "b/y"] and built.backend_args == {"batch_size": 8}
    assert built.model == "tiny" and built.limit is None


def test_bad_specs_name_the_file_and_the_fields(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": "tiny", "epochs": 3}), encoding="utf-8")
    with pytest.raises(MedletheError, match=r"bad\.json: epochs: Extra inputs.*Fields: "):
        load_spec(bad)
    results = tmp_path / "results_x.json"
    results.write_text(json.dumps({"run_id": "x", "metrics": [], "model": {"provenance": {}}}),
                       encoding="utf-8")
    with pytest.raises(MedletheError, match="records no run spec"):
        load_spec(results)
    with pytest.raises(MedletheError, match="limit"):
        run_spec("tiny", limit=0)
    # lm-eval utility settings are checked when the spec is made, before any training
    with pytest.raises(MedletheError, match="unknown --utility-args"):
        run_spec("tiny", utility_tasks=["lmeval:pubmedqa"], utility_args={"shots": 5})
    with pytest.raises(MedletheError, match="without --utility-tasks"):
        Plan(scenarios=["synthclinic/patient-10"], utility_args={"limit": 5})


def test_a_plan_expands_into_the_run_specs_of_its_jobs() -> None:
    plan = Plan(model="tiny", scenarios=["synthclinic/patient-10", "synthclinic/patient-25"],
                seeds=[0, 1], task_args={"n_patients": 33}, train_args={"qa_epochs": 4},
                splits=["forget", "retain"], limit=5)
    settings = Settings(plan.spec())
    job = settings.spec_for("synthclinic/patient-25", 1)
    assert (job.scenario, job.seed, job.limit) == ("synthclinic/patient-25", 1, 5)
    assert (job.task_args, job.train_args) == ({"n_patients": 33}, {"qa_epochs": 4})
    # a plan without the newer fields keeps the job ids it had before the spec existed
    old = Plan(model="tiny", scenarios=["synthclinic/patient-10"], task_args={"n": 1})
    assert Settings(old.spec()).identity() == fingerprint(
        ["tiny", "hf", {}, {"n": 1}, {}, None])
    assert Settings(plan.spec()).identity() != Settings(
        plan.model_copy(update={"limit": None}).spec()).identity()
