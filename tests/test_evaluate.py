"""End to end: a tiny model trained in the test, evaluated through the real backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import medlethe
from medlethe.backends.hf import HFBackend
from medlethe.errors import TaskConfigError, UnknownComponentError
from medlethe.results import json_schema, read_results
from tests.conftest import CLINIC, run_cli

TASKS = [str(CLINIC / "generate.yaml"), str(CLINIC / "multiple_choice.yaml")]


def metric(results: Any, task: str, split: str, name: str) -> Any:
    return next(
        m for m in results.metrics if (m.task, m.split, m.metric) == (task, split, name)
    )


def test_evaluate_generate_and_multiple_choice(tiny_model: Path, tmp_path: Path) -> None:
    out = medlethe.evaluate(str(tiny_model), TASKS, output=tmp_path, progress=False)
    res = out.results
    recall = metric(res, "fixture/drug-recall", "forget", "rouge_l_recall")
    holdout = metric(res, "fixture/drug-recall", "holdout", "rouge_l_recall")
    # Trained facts are recalled; never-seen patients are not.
    assert recall.value >= 0.8 and recall.n == 6
    assert holdout.value < recall.value - 0.3
    assert recall.ci is not None and recall.ci.low <= recall.value <= recall.ci.high
    acc = metric(res, "fixture/drug-choice", "retain", "accuracy")
    assert acc.value >= 0.8 and acc.direction == "higher"
    assert res.tasks["fixture/drug-choice"].splits == {"forget": 6, "retain": 6, "holdout": 6}
    # MC: 4 options x 18; generate: the gold answer's log-likelihood (probability) x 18
    assert res.requests.generate == 18 and res.requests.loglikelihood == 18 * 4 + 18

    raw = json.loads(out.path.read_text())  # type: ignore[union-attr]
    jsonschema.validate(raw, json_schema())
    assert raw["schema_version"] == 1
    assert raw["model"]["fingerprint"].startswith("sha256:")
    assert raw["backend"]["name"] == "hf" and raw["backend"]["plugin"] == "core_backends"
    assert "torch" in raw["environment"]["libraries"]
    task = raw["tasks"]["fixture/drug-recall"]
    assert len(task["prompt_template_hash"]) == 64 and len(task["config_hash"]) == 64
    assert set(task["data_fingerprints"]) == {"forget", "retain", "holdout"}
    # No prompt or answer text in the results file.
    text = out.path.read_text()  # type: ignore[union-attr]
    assert "Ilsa Varen" not in text and "zentorin" not in text
    assert read_results(out.path).run_id == res.run_id  # type: ignore[arg-type]


def test_second_run_is_answered_from_the_cache(tiny_model: Path, tmp_path: Path) -> None:
    first = medlethe.evaluate(str(tiny_model), TASKS, progress=False)
    # 18 generations + 18 gold log-likelihoods + 72 options; the gold answers are also MC
    # options of the same prompts, so 18 of those are answered by the cache already.
    assert first.results.requests.model_calls == 18 + 18 * 4
    assert first.results.requests.cache_hits == 18
    second = medlethe.evaluate(str(tiny_model), TASKS, progress=False)
    assert second.results.requests.model_calls == 0
    assert second.results.requests.cache_hits == 18 + 18 * 5
    values = [(m.metric, m.split, m.value) for m in first.results.metrics]
    assert values == [(m.metric, m.split, m.value) for m in second.results.metrics]


class CrashingBackend(HFBackend):
    """Dies after its first chunk, like a run killed half-way."""

    def __init__(self, *args: Any, crash_after: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crash_after = crash_after

    @property
    def preferred_chunk(self) -> int:
        return 4

    def generate(self, requests):  # type: ignore[no-untyped-def]
        if self.model_calls >= self.crash_after:
            raise KeyboardInterrupt("killed")
        return super().generate(requests)


def test_killed_run_resumes_without_redoing_finished_work(tiny_model: Path) -> None:
    task = [str(CLINIC / "generate.yaml")]
    crashing = CrashingBackend(str(tiny_model), batch_size=2, crash_after=8)
    with pytest.raises(KeyboardInterrupt):
        medlethe.evaluate(str(tiny_model), task, backend=crashing, progress=False)
    # forget: generations in chunks of 4 + 2, then the 6 gold log-likelihoods (probability);
    # retain: the first generation chunk crashes.
    assert crashing.model_calls == 12
    resumed = medlethe.evaluate(str(tiny_model), task, progress=False)
    assert resumed.results.requests.cache_hits == 12
    assert resumed.results.requests.model_calls == 2 * 18 - 12


def test_adapter_changes_the_fingerprint_and_the_cache_key(tiny_model: Path, tmp_path: Path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    peft_model = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(tmp_path / "adapter")
    task = [str(CLINIC / "generate.yaml")]
    base = medlethe.evaluate(str(tiny_model), task, progress=False, splits=["forget"])
    with_adapter = medlethe.evaluate(
        str(tiny_model), task, adapter=str(tmp_path / "adapter"), progress=False,
        splits=["forget"],
    )
    # 6 generations + 6 gold log-likelihoods, none served from the base model's cache
    assert with_adapter.results.requests.model_calls == 12
    assert with_adapter.results.model.adapter_fingerprint is not None
    # A fresh LoRA adapter is the identity (B = 0): same answers as the base model.
    assert [m.value for m in base.results.metrics] == [
        m.value for m in with_adapter.results.metrics
    ]


def test_log_samples_is_opt_in(tiny_model: Path, tmp_path: Path) -> None:
    task = [str(CLINIC / "generate.yaml")]
    plain = medlethe.evaluate(str(tiny_model), task, output=tmp_path / "a", progress=False)
    assert plain.samples_path is None and not list((tmp_path / "a").glob("samples_*"))
    logged = medlethe.evaluate(
        str(tiny_model), task, output=tmp_path / "b", progress=False, log_samples=True
    )
    assert logged.samples_path is not None
    rows = [json.loads(x) for x in logged.samples_path.read_text().splitlines()]
    assert len(rows) == 18 and rows[0]["prompt"] == "Which drug was Ilsa Varen given?"
    assert rows[0]["generation"].strip() == "zentorin"
    assert rows[0]["scores"]["exact_match"] == 1.0
    assert logged.results.samples_file == logged.samples_path.name


def test_unknown_task_and_bad_split(tiny_model: Path) -> None:
    with pytest.raises(UnknownComponentError, match=r"Did you mean 'testplugin/drug-doses'"):
        medlethe.evaluate(str(tiny_model), ["testplugin/drug-dose"], progress=False)
    with pytest.raises(TaskConfigError, match=r"no split\(s\) train"):
        medlethe.evaluate(str(tiny_model), TASKS[:1], splits=["train"], progress=False)


@pytest.mark.slow
def test_cli_runs_plugin_task_and_metric(tiny_model: Path, tmp_path: Path) -> None:
    proc = run_cli(
        "evaluate", "--model", str(tiny_model), "--tasks", "testplugin/drug-doses",
        "--output", str(tmp_path), "--backend-args", "batch_size=3",
    )
    assert proc.returncode == 0, proc.stderr
    assert "answer_words" in proc.stdout and "model calls: 8" in proc.stdout
    results = read_results(next(tmp_path.glob("results_*.json")))
    words = metric(results, "testplugin/drug-doses", "forget", "answer_words")
    assert words.plugin == "testplugin" and words.direction == "lower"
    assert 1.0 <= words.value <= 12.0
    recall = metric(results, "testplugin/drug-doses", "forget", "rouge_l_recall")
    assert recall.value >= 0.8  # the doses of the forget drugs were trained
    record = results.tasks["testplugin/drug-doses"]
    assert record.distribution == "medlethe-testplugin" and record.plugin_version == "0.3.1"
    assert results.backend.args["batch_size"] == 3
    assert results.metric_components["answer_words"].distribution == "medlethe-testplugin"


def test_cli_errors_are_clear(tiny_model: Path, tmp_path: Path) -> None:
    proc = run_cli("evaluate", "--model", str(tiny_model), "--tasks", "testplugin/drug-dose")
    assert proc.returncode == 2 and "Did you mean 'testplugin/drug-doses'" in proc.stderr
    bad = tmp_path / "needs_missing.yaml"
    bad.write_text(
        (CLINIC / "generate.yaml").read_text().replace(
            "generation:", "metrics:\n  - name: needs_missing_lib\ngeneration:"
        ).replace("forget.jsonl", str(CLINIC / "forget.jsonl"))
    )
    proc = run_cli("evaluate", "--model", str(tiny_model), "--tasks", str(bad))
    assert proc.returncode == 2
    assert "needs_missing_lib" in proc.stderr
    assert "pip install medlethe-test-absent-pkg" in proc.stderr
    missing = str(tmp_path / "nope")
    proc = run_cli("evaluate", "--model", missing, "--tasks", str(CLINIC / "generate.yaml"))
    assert proc.returncode == 2 and f"--model {missing}: no such folder" in proc.stderr


def test_scoring_a_split_in_parts_changes_nothing(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # splits are scored SCORE_PART rows at a time (bounded memory); parts of 4 rows over
    # 6-row splits give the same values, aggregates, request counts and logged samples
    # (log-probs to float rounding: other parts batch the requests differently)
    import medlethe.evaluator as evaluator

    def run(folder: str) -> Any:
        return medlethe.evaluate(str(tiny_model), TASKS, output=tmp_path / folder,
                                 progress=False, log_samples=True, cache=False)

    whole = run("whole")
    monkeypatch.setattr(evaluator, "SCORE_PART", 4)
    parts = run("parts")
    assert parts.values == whole.values
    key = [(m.task, m.split, m.subset, m.metric, m.value) for m in whole.results.metrics]
    assert [(m.task, m.split, m.subset, m.metric, m.value) for m in parts.results.metrics] == key
    assert parts.results.requests == whole.results.requests
    assert whole.samples_path is not None and parts.samples_path is not None
    logged = [[json.loads(x) for x in r.samples_path.read_text().splitlines()]
              for r in (whole, parts)]
    assert len(logged[0]) == len(logged[1]) == 36
    for a, b in zip(*logged, strict=True):
        for k in ("choice_logprobs", "logprobs"):
            assert a.pop(k, []) == pytest.approx(b.pop(k, []), abs=1e-4)
        assert a == b
