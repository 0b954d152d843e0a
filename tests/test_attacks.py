"""Attacks on unlearned models: the contract, the recovery ratio, and a run with attacks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from medlethe import get_registry
from medlethe.attack_run import build_attack
from medlethe.errors import AttackError, MedletheError
from medlethe.metrics.recovery import recovery
from medlethe.report import hidden, markdown
from medlethe.run import check_attacks, run_pipeline
from medlethe.training.finetune import TrainConfig
from medlethe.training.pipeline import load_scenario

SMALL = {"n_patients": 33, "n_holdout": 11}
SMALL_TRAINING = TrainConfig(qa_epochs=48)
TASK = "synthclinic/patient-25"


def test_recovery_ratio_by_hand() -> None:
    # half of the target's lead over the oracle comes back
    assert recovery(0.5, 0.2, 0.9, 0.3) == pytest.approx(0.5)
    assert recovery(0.2, 0.2, 0.9, 0.3) == 0.0  # nothing comes back
    assert recovery(0.9, 0.3, 0.9, 0.3) == pytest.approx(1.0)  # everything does
    assert math.isnan(float(recovery(0.5, 0.2, 0.4, 0.4)))  # no gap to recover


def test_attacks_are_checked_before_any_work() -> None:
    registry = get_registry()
    with pytest.raises(AttackError, match="bits"):
        build_attack("quantize-4bit", {"bits": 3}, registry=registry)
    notes = load_scenario("synthclinic-notes/forget-class-oncology")
    with pytest.raises(MedletheError, match=r"relearn.*not 'synthclinic-notes"):
        check_attacks(["relearn"], {}, notes, registry)
    with pytest.raises(MedletheError, match="--attack-args names attack 'relearn'"):
        check_attacks(["quantize-8bit"], {"relearn": {"steps": 5}}, notes, registry)
    check_attacks(["quantize-8bit", "testplugin/identity"], {}, notes, registry)


def test_attack_variants_and_prompt_attacks_without_a_model(tmp_path: Path) -> None:
    """``NAME[K=V]`` entries parse (commas inside brackets kept); few-shot puts retain
    pairs, never the row's own, before every prompt; paraphrase needs a paraphrase split."""
    from medlethe.attack import AttackContext
    from medlethe.attack_run import split_entries, variant

    assert split_entries("a, relearn[steps=5,on=forget],b") == [
        "a", "relearn[steps=5,on=forget]", "b"]
    assert variant("relearn[steps=5,on=forget]") == ("relearn", {"steps": 5, "on": "forget"})
    assert variant("quantize-4bit") == ("quantize-4bit", {})
    with pytest.raises(AttackError, match="KEY=VALUE"):
        variant("relearn[steps]")
    registry = get_registry()
    with pytest.raises(MedletheError, match="names an attack twice"):
        check_attacks(["relearn", "relearn"], {}, load_scenario(TASK, SMALL), registry)
    task = load_scenario(TASK, SMALL)
    _, attack = build_attack("few-shot", {"shots": 2}, task=task, registry=registry)
    out = attack.attack(AttackContext(model=tmp_path, adapter=None, task=task,
                                      out_dir=tmp_path / "a", seed=3))
    assert out.path == tmp_path and out.prompts is not None
    pairs = {f"{e.prompt}{e.delimiter}{e.answer}"
             for e in task.training_data("retain").examples}
    for split in task.split_names():
        for inst in task.instances(split):
            prompt = out.prompts[inst.prompt]
            *shots, asked = prompt.split("\n\n")
            assert asked == inst.prompt and len(shots) == 2
            assert all(s in pairs and not s.startswith(inst.prompt) for s in shots)
    # a cached record of prompts in another form (an older medlethe's) is attacked again
    from medlethe.attack_run import _cached

    record = tmp_path / "record.json"
    for prompts, kept in (({"forget": {"0": "Q?"}}, False), ({"Q?": "Q, again?"}, True)):
        record.write_text(json.dumps({"path": str(tmp_path), "adapter": None, "meta": {},
                                      "prompts": prompts}))
        assert (_cached(record, "paraphrase") is not None) == kept
    notes = load_scenario("synthclinic-notes/forget-class-oncology")
    with pytest.raises(AttackError, match="not 'synthclinic-notes"):
        build_attack("paraphrase", task=notes, registry=registry)
    from medlethe.evaluator import load_task

    plain, _ = load_task(registry, "drugsafety/withdrawn-guidance", None)  # no paraphrases
    with pytest.raises(AttackError, match="no 'paraphrase' split"):
        build_attack("paraphrase", task=plain, registry=registry)


def _forget(run: object, metric: str) -> dict:  # type: ignore[type-arg]
    return next(m for m in run.results.metrics  # type: ignore[attr-defined]
                if (m.task, m.split, m.metric, m.subset) == (TASK, "forget", metric, None))


@pytest.mark.slow
def test_attacked_models_are_evaluated_and_their_recovery_recorded(tmp_path: Path) -> None:
    out = run_pipeline(
        "tiny", TASK, output=tmp_path / "out", task_args=SMALL, train_config=SMALL_TRAINING,
        progress=False, echo=False, methods=["GradAscent", "Retrain"],
        attacks=["testplugin/identity", "relearn[steps=10]", "quantize-8bit", "relearn-forget",
                 "paraphrase"],
        attack_args={"relearn-forget": {"steps": 10}},
        splits=["forget", "retain", "holdout", "paraphrase"],
    )
    assert out.summary["failures"] == []
    runs = out.runs
    assert list(runs) == [
        "target", "oracle",
        "GradAscent", "GradAscent+testplugin/identity", "GradAscent+relearn[steps=10]",
        "GradAscent+quantize-8bit", "GradAscent+relearn-forget", "GradAscent+paraphrase",
        "Retrain", "Retrain+testplugin/identity", "Retrain+relearn[steps=10]",
        "Retrain+quantize-8bit", "Retrain+relearn-forget", "Retrain+paraphrase",
    ]
    attacked = runs["GradAscent+relearn[steps=10]"].results
    assert attacked.model.role == "attacked"
    assert attacked.model.provenance["variant"] == "GradAscent+relearn[steps=10]"
    record = attacked.model.provenance["attack"]
    assert record["name"] == "relearn" and record["label"] == "relearn[steps=10]"
    assert record["params"]["steps"] == 10
    assert record["of"] == runs["GradAscent"].results.run_id
    assert runs["GradAscent+quantize-8bit"].results.model.provenance["attack"]["meta"][
        "layers_quantized"] > 0
    # relearning on half the forget patients: the ratio is measured on the other half only
    meta = runs["Retrain+relearn-forget"].results.model.provenance["attack"]["meta"]
    used = meta["used_rows"]["forget"]
    n_forget = len(load_scenario(TASK, SMALL).docs("forget"))
    assert 0 < len(used) < n_forget
    assert _forget(runs["Retrain+relearn-forget"], "recovery_ratio").n == n_forget - len(used)
    assert _forget(runs["Retrain+relearn[steps=10]"], "recovery_ratio").n == n_forget
    # the paraphrase attack asks the forget rows in the paraphrase split's words: the same
    # model's answers to those rows, row for row
    for method in ("GradAscent", "Retrain"):
        asked = runs[f"{method}+paraphrase"]
        assert asked.column(TASK, "forget", "rouge_l_recall") == runs[method].column(
            TASK, "paraphrase", "rouge_l_recall")
        assert asked.results.model.provenance["attack"]["prompts_rewritten"] == len(
            {i.prompt for i in load_scenario(TASK, SMALL).instances("forget")})
    # the control brings nothing back, exactly
    for method in ("GradAscent", "Retrain"):
        r = _forget(runs[f"{method}+testplugin/identity"], "recovery_ratio")
        assert r.value == 0.0 and r.ci.low == 0.0 and r.ci.high == 0.0
    # the recorded ratio is the formula on the four runs' forget means
    score = {label: _forget(runs[label], "rouge_l_recall").value
             for label in ("target", "oracle", "GradAscent", "GradAscent+relearn[steps=10]")}
    by_hand = (score["GradAscent+relearn[steps=10]"] - score["GradAscent"]) / (
        score["target"] - score["oracle"])
    assert _forget(runs["GradAscent+relearn[steps=10]"], "recovery_ratio").value == \
        pytest.approx(by_hand)
    # Retrain never saw the forget set: fine-tuning on retain data cannot bring it back,
    # while the collapsed GradAscent model gets back more than Retrain does
    retrain = _forget(runs["Retrain+relearn[steps=10]"], "recovery_ratio")
    assert retrain.ci.high < 0.25, retrain
    assert _forget(runs["GradAscent+relearn[steps=10]"], "recovery_ratio").value > retrain.value
    # "hidden, not forgotten" where an attack brings back over half, surely
    labelled = [(label, run.results) for label, run in runs.items()]
    assert "Retrain" not in hidden(labelled)
    res = runs["GradAscent+relearn[steps=10]"].results
    boosted = res.model_copy(update={"metrics": [
        m.model_copy(update={"value": 0.8, "ci": m.ci.model_copy(update={"low": 0.6})})
        if m.metric == "recovery_ratio" and m.ci is not None else m for m in res.metrics]})
    labelled = [(label, boosted if label == "GradAscent+relearn[steps=10]" else r)
                for label, r in labelled]
    assert "relearn[steps=10]" in hidden(labelled)["GradAscent"]
    assert "| GradAscent (hidden, not forgotten: relearn[steps=10]" in markdown(labelled)
    # the leaderboard shows them as their own table, never as points or ranked methods
    from medlethe.leaderboard.build import build_site

    build_site([tmp_path / "out" / "results"], tmp_path / "site")
    (page,) = (tmp_path / "site").glob("scenario-*.html")
    html = page.read_text()
    assert 'id="attacks"' in html and html.count('id="tradeoff-point-') == 4  # 2 refs + 2
    table = html.split('id="attacks"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr><td") == 2 and "relearn-forget" in table
    # the attacked runs are in the report, and the results hold no model paths of here
    text = json.dumps(out.summary)
    assert "GradAscent+relearn[steps=10]" in text and str(tmp_path) not in runs[
        "Retrain+relearn[steps=10]"].path.read_text()  # type: ignore[union-attr]


def test_a_sweep_refuses_attacks_it_would_not_run() -> None:
    from pydantic import ValidationError

    from medlethe.sweep import Plan

    with pytest.raises(ValidationError, match="a sweep does not run attacks yet"):
        Plan(scenarios=[TASK], attacks=["relearn"])


@pytest.mark.parametrize("multi_label", [True, False])
def test_probe_head_separates_what_the_features_separate(multi_label: bool) -> None:
    """The linear probe's head, fit on features that tell three classes apart, predicts
    them; a class absent from the data keeps its old head row."""
    import numpy as np
    import torch

    from medlethe.methods.attacks import _fit_probe

    rng = np.random.default_rng(0)
    centres = np.eye(4, 8) * 4
    labels = np.repeat([0, 1, 2], 30)  # class 3 never appears
    x = centres[labels] + rng.normal(0, 0.5, (len(labels), 8))
    y = np.eye(4, dtype=int)[labels]
    weight, bias = torch.full((4, 8), 7.0), torch.full((4,), 7.0)
    refit = _fit_probe(x, y, multi_label, 1.0, 0, weight, bias)
    assert refit == [0, 1, 2]
    assert torch.equal(weight[3], torch.full((8,), 7.0)) and bias[3] == 7.0
    logits = torch.as_tensor(x, dtype=torch.float32) @ weight[:3].T + bias[:3]
    assert (logits.argmax(1).numpy() == labels).mean() > 0.95
