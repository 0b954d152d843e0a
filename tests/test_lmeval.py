"""lm-eval tasks as utility benchmarks inside a run (--utility-tasks): a local lm-eval task
config over local rows (lm-eval's include_path), evaluated through lm-eval's own API on the
target, the oracle and an unlearned `tiny` model; lm-eval's numbers stored as they are;
MU on them; the leaderboard accepts the files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medlethe.errors import MedletheError
from medlethe.leaderboard import build_site, validate_submission
from medlethe.lmeval import UtilitySpec, parse_utility_tasks, utility_spec
from medlethe.run import run_pipeline
from medlethe.training.finetune import TrainConfig
from medlethe.training.pipeline import finetune, load_scenario

SMALL = {"n_patients": 22, "n_holdout": 11}
TRAINING = TrainConfig(qa_epochs=24, text_epochs=1)
TASK = """\
task: local_mcq
dataset_path: json
dataset_kwargs:
  data_files:
    test: {rows}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: gold
metric_list:
  - metric: acc
    higher_is_better: true
  - metric: acc_norm
    higher_is_better: true
metadata:
  version: 2.0
"""


def _task(folder: Path) -> Path:
    """An lm-eval task over the scenario's retain questions as 4-option multiple choice (the
    same prompt as synthclinic's), so the target knows it above chance."""
    import random

    folder.mkdir()
    docs = load_scenario("synthclinic/patient-25", SMALL).docs("retain")[:32]
    rows = []
    for d in docs:
        choices = [d["answer"], *d["perturbed"]]
        random.Random(d["qid"]).shuffle(choices)
        rows.append({"question": d["question"], "choices": choices,
                     "gold": choices.index(d["answer"])})
    path = folder / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "local_mcq.yaml").write_text(TASK.format(rows=path))
    return folder


@pytest.mark.slow
def test_lmeval_utility_inside_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    lm_eval = pytest.importorskip("lm_eval", reason="pip install 'medlethe[lm-eval]'")
    from lm_eval.tasks import TaskManager

    from medlethe.report.text import tables

    tasks = _task(tmp_path / "lmeval_tasks")
    spec = UtilitySpec(("local_mcq",), include_path=str(tasks))
    monkeypatch.chdir(tmp_path)  # outside any git repository, as a user's folder may be
    out = run_pipeline(
        "tiny", "synthclinic/patient-25", output=tmp_path / "out",
        task_args=SMALL, train_config=TRAINING, progress=False, echo=False,
        methods=["GradAscent"], splits=["forget", "retain"], utility=spec,
    )
    assert "not a git repository" not in capfd.readouterr().err  # lm-eval's git call
    (general,) = [t for t in tables([(k, r.results) for k, r in out.runs.items()])
                  if t[0] == "General utility (lm-eval)"]
    assert [row[0] for row in general[2]] == ["local_mcq acc", "MU local_mcq"]
    assert general[1] == ["", "target", "oracle", "GradAscent"]
    assert set(out.runs) == {"target", "oracle", "GradAscent"}
    by = {label: run.results for label, run in out.runs.items()}
    for res in by.values():
        record = res.tasks["lmeval:local_mcq"]
        assert record.version == "2.0" and record.args["num_fewshot"] == 0
        assert record.splits == {"test": 32} and record.distribution == "lm_eval"
        names = {m.metric for m in res.metrics if m.task == "lmeval:local_mcq"}
        assert {"acc", "acc_stderr", "acc_norm", "acc_norm_stderr"} <= names
    # the stored numbers are lm-eval's own on the same model (the cached target folder)
    target = finetune("tiny", load_scenario("synthclinic/patient-25", SMALL), "train",
                      config=TRAINING, progress=False)
    assert target.cached
    own = lm_eval.simple_evaluate(
        model="hf", model_args={"pretrained": str(target.path), "dtype": "float32",
                                "device": "cpu"},
        tasks=["local_mcq"], task_manager=TaskManager(include_path=str(tasks)), batch_size=8)
    acc = {m.metric: m for m in by["target"].metrics if m.task == "lmeval:local_mcq"}
    assert acc["acc"].value == pytest.approx(own["results"]["local_mcq"]["acc,none"])
    assert acc["acc_stderr"].value == pytest.approx(
        own["results"]["local_mcq"]["acc_stderr,none"])
    assert acc["acc"].ci is not None and acc["acc"].ci.unit == "document"
    # the target knew the task (its accuracy above chance, 1/4 per document), so MU means
    # something and is shown
    (check,) = [c for c in by["target"].preconditions if c.task == "lmeval:local_mcq"]
    assert check.reference == "chance" and check.baseline == pytest.approx(0.25)
    assert check.held, check
    # MU on general utility: the unlearned model's acc over the target's, same documents
    mu = next(m for m in by["GradAscent"].metrics
              if m.task == "lmeval:local_mcq" and m.metric == "mu")
    after = next(m.value for m in by["GradAscent"].metrics
                 if m.task == "lmeval:local_mcq" and m.metric == "acc")
    assert mu.against == "target" and mu.split == "test"
    assert mu.value == pytest.approx(after / acc["acc"].value)  # type: ignore[operator]
    # the leaderboard takes these files (lm-eval's tasks and metrics are lm-eval's)
    assert len(validate_submission(tmp_path / "out" / "results").runs) == 3
    site = build_site([tmp_path / "out" / "results"], tmp_path / "site")
    assert not site.rejected
    (page,) = (tmp_path / "site").glob("scenario-*.html")
    html = page.read_text()
    assert "MU lm-eval" in html and "lm-eval score" in html
    assert f"{mu.value:.3f}" in html


def test_utility_arguments_are_checked() -> None:
    assert parse_utility_tasks(["lmeval:a,b", "lmeval:c"]) == ("a", "b", "c")
    with pytest.raises(MedletheError, match="lmeval:TASK"):
        parse_utility_tasks(["pubmedqa"])
    with pytest.raises(MedletheError, match="unknown --utility-args"):
        utility_spec(["lmeval:a"], {"fewshot": 3})
    with pytest.raises(MedletheError, match="without --utility-tasks"):
        utility_spec(None, {"limit": 3})
    assert utility_spec(["lmeval:a"], {"limit": 5}) == UtilitySpec(("a",), limit=5)
