"""STEU and its baselines on real tiny-bert classifiers of synthclinic-notes: the PMI scorer
on a hand-made corpus, the gradient mask (only the chosen embedding rows and the head
change, checked weight by weight), and the whole `medlethe run` of a classification
scenario."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from medlethe.methods.steu import pmi_scores, top_tokens
from medlethe.training.classifier import ClassifierTrainConfig
from medlethe.training.pipeline import finetune, load_scenario
from medlethe.unlearn.pipeline import unlearn
from tests.conftest import scenario_context

SCENARIO = "synthclinic-notes/forget-class-oncology"
SMALL = {"n_patients": 88, "n_holdout": 22, "notes_per_patient": 2}


def test_pmi_ranks_the_tokens_of_the_forget_class_first() -> None:
    # forget texts use tokens 1 and 2 twice each, 3 and 4 once; the corpus adds 3, 4, 5, 6
    forget = [[1, 2, 3], [1, 2, 4]]
    corpus = [*forget, [3, 4, 5], [5, 6, 3]]
    scores = pmi_scores(forget, corpus, skip=set())
    # by hand: p(1|c) = 2/6, p(1) = 2/12 -> (1/3) ln 2; p(3|c) = 1/6, p(3) = 3/12 -> < 0;
    # p(4|c) = 1/6 = p(4) -> 0
    assert scores[1] == pytest.approx(math.log(2) / 3)
    assert scores[2] == pytest.approx(math.log(2) / 3)
    assert scores[3] == pytest.approx((1 / 6) * math.log((1 / 6) / (3 / 12)))
    assert scores[4] == pytest.approx(0.0)
    assert 5 not in scores and 6 not in scores  # never in the forget class
    assert top_tokens(scores, 3) == [1, 2]  # only tokens more frequent in the class
    assert top_tokens(pmi_scores(forget, corpus, skip={1}), 1) == [2]


@pytest.fixture(scope="module")
def small_target(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MEDLETHE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        task = load_scenario(SCENARIO, SMALL)
        target = finetune("tiny-bert", task, "train",
                          config=ClassifierTrainConfig(epochs=2), progress=False)
    return task, target


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def test_steu_changes_only_the_chosen_embedding_rows_and_the_head(
    small_target: tuple[object, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    task, target = small_target
    monkeypatch.setenv("MEDLETHE_CACHE_DIR", str(Path(target.path).parent.parent))
    result = unlearn("STEU", task, target, "tiny-bert",
                     params={"top_k": 20, "epochs": 2.0}, progress=False)
    before, after = _weights(target.path), _weights(result.output.path)
    rows = result.meta["method_info"]["row_ids"]
    assert 0 < len(rows) <= 20
    embedding = "bert.embeddings.word_embeddings.weight"
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {embedding, "classifier.weight", "classifier.bias"}
    moved = (before[embedding] != after[embedding]).any(dim=1).nonzero().flatten().tolist()
    assert set(moved) <= set(rows) and moved  # only chosen rows, and they did move
    hidden = before[embedding].shape[1]
    head = before["classifier.weight"].numel() + before["classifier.bias"].numel()
    counted = result.meta["params_modified"]
    assert counted["changed"] == len(moved) * hidden + head
    total = sum(t.numel() for t in before.values())
    assert counted["total"] == total

    # the ablations: the head alone, the rows alone
    head_only = unlearn("DirectSuppression", task, target, "tiny-bert",
                        params={"epochs": 1.0}, progress=False)
    after = _weights(head_only.output.path)
    assert {k for k in before if not torch.equal(before[k], after[k])} == {
        "classifier.weight", "classifier.bias"}
    rows_only = unlearn("STEU-EmbeddingOnly", task, target, "tiny-bert",
                        params={"top_k": 20, "epochs": 1.0}, progress=False)
    after = _weights(rows_only.output.path)
    assert {k for k in before if not torch.equal(before[k], after[k])} == {embedding}


def test_language_model_methods_refuse_a_classifier(small_target: tuple[object, object]) -> None:
    from medlethe.unlearn import MethodError

    task, target = small_target
    with pytest.raises(MethodError, match=r"GradDiff.*classify"):
        unlearn("GradDiff", task, target, "tiny-bert", progress=False)


@pytest.mark.slow
def test_run_a_classification_scenario_end_to_end(tmp_path: Path) -> None:
    from medlethe.leaderboard import build_site
    from medlethe.run import run_pipeline

    out = run_pipeline(
        "tiny-bert", SCENARIO, output=tmp_path / "run",
        task_args={"n_patients": 220, "n_holdout": 44},
        train_config=ClassifierTrainConfig(epochs=40), progress=False, echo=False,
        attacks=["linear-probe"],
    )
    methods = ["Retrain", "STEU", "STEU-EmbeddingOnly", "DirectSuppression", "ClassGradAscent"]
    assert list(out.runs) == ["target", "oracle", *(
        label for m in methods for label in (m, f"{m}+linear-probe"))]
    assert out.summary["failures"] == []

    def value(label: str, metric: str, split: str) -> float:
        found = [m for m in out.runs[label].results.metrics
                 if (m.metric, m.split, m.subset) == (metric, split, None)]
        assert len(found) == 1 and found[0].value is not None, (label, metric, split)
        return found[0].value

    # the target knows the forget class, the oracle never saw it: the precondition holds
    checks = {c.split: c for c in out.runs["target"].results.preconditions}
    assert checks["forget"].held and checks["forget"].reference == "oracle"
    assert value("target", "forget_class_f1", "forget") > value("oracle", "forget_class_f1",
                                                                 "forget") + 0.2
    # STEU forgets on the training notes and the test set, touching few parameters
    assert value("STEU", "forget_class_f1", "forget") < value("target", "forget_class_f1",
                                                               "forget")
    assert value("STEU", "params_modified", "(weights)") < 0.1
    assert value("ClassGradAscent", "params_modified", "(weights)") > 0.3
    for label in out.runs:
        for metric in ("retain_avg_f1", "auroc", "f1"):
            assert 0 <= value(label, metric, "holdout") <= 1
    assert value("STEU", "logit_distance", "holdout") >= 0
    # a head-only edit hides the class: a probe on its encoder finds it again, and gets
    # back more of it than from Retrain's encoder, which never learnt it
    hidden = "DirectSuppression+linear-probe"
    assert value(hidden, "forget_class_f1", "holdout") > value(
        "DirectSuppression", "forget_class_f1", "holdout")
    assert value(hidden, "recovery_ratio", "forget") > value(
        "Retrain+linear-probe", "recovery_ratio", "forget")

    summary = json.loads(out.summary_path.read_text())
    assert any(r["metric"] == "forget_class_f1" for r in summary["rows"])
    text = out.summary_path.read_text() + out.html_path.read_text()
    for p in load_scenario(SCENARIO, {"n_patients": 220, "n_holdout": 44}).patients[:20]:
        # no patient text in summaries (a record number as a number of its own, not the
        # same digits inside a metric's decimals)
        assert p.name not in text and not re.search(rf"(?<![\d.]){p.mrn}(?!\d)", text)

    site = build_site([tmp_path / "run" / "results"], tmp_path / "site")
    assert not site.rejected, site.rejected
    (page,) = [p for p in site.pages if p.name.startswith("scenario-")]
    assert "forget-class F1" in page.read_text()


def _forget_class_logit(task: Any, folder: Path) -> float:
    """Mean logit of the forgotten class on the forget notes."""
    from medlethe.training.classifier import load_classifier

    tok, model = load_classifier(folder)
    c = task.classes.index(task.forget_classes[0])
    texts = [e.text for e in task.training_data("forget").examples]
    enc = tok(texts, truncation=True, max_length=128, padding=True, return_tensors="pt")
    with torch.no_grad():
        return float(model(**enc).logits[:, c].mean())


@pytest.mark.parametrize("wrong_class", [False, True])
def test_steu_pushes_its_class_down_and_not_when_aimed_at_another(
    wrong_class: bool, small_target: tuple[Any, Any], tmp_path: Path
) -> None:
    """STEU lowers the forgotten class's mean logit on the forget notes by at least 2; the
    same edit aimed at another class (a slip in the class index) does not."""
    from medlethe.registry import get_registry
    from medlethe.unlearn.pipeline import build_method

    task, target = small_target
    _, method = build_method("STEU", {"top_k": 20, "epochs": 2.0}, registry=get_registry())
    if wrong_class:
        setup = method.setup

        def aimed_elsewhere(*args: Any) -> None:
            setup(*args)
            method.forget_index = [(method.forget_index[0] + 1) % len(task.classes)]

        method.setup = aimed_elsewhere  # type: ignore[method-assign]
    ctx = scenario_context(task, target, "tiny-bert", tmp_path / "out")
    before = _forget_class_logit(task, target.path)
    after = _forget_class_logit(task, method.unlearn(ctx).path)
    assert (after < before - 2.0) != wrong_class, (before, after)
