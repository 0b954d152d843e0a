"""Forget-MI's setting end to end: synthclinic-cxr images and reports, the fusion-tiny
image + text classifier through the hf backend, ForgetMI and its baselines, the SVC
membership attack, and which methods apply to which kind of model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file

from medlethe.registry import get_registry
from medlethe.run import builtin_methods
from medlethe.training.classifier import ClassifierTrainConfig
from medlethe.training.pipeline import load_scenario
from medlethe.unlearn import MethodError
from tests.conftest import scenario_context

SCENARIO = "synthclinic-cxr/patients-10pct"
SMALL = {"n_patients": 120, "n_holdout": 30}


def test_methods_apply_to_their_kind_of_model() -> None:
    registry = get_registry()
    cxr = load_scenario(SCENARIO, SMALL)
    notes = load_scenario("synthclinic-notes/forget-class-renal", {"n_patients": 22,
                                                                   "n_holdout": 11})
    assert builtin_methods(registry, cxr) == [
        "Retrain", "ForgetMI", "RetainFineTune", "NegGrad+", "FullGradAscent"]
    on_notes = builtin_methods(registry, notes)
    assert "STEU" in on_notes and "ForgetMI" not in on_notes
    assert cxr.modalities == ("image", "text")
    inst = cxr.instance("forget", 0, cxr.docs("forget")[0])
    assert inst.image is not None and Path(inst.image).exists()
    assert {r["pid"] for r in cxr.docs("forget")}.isdisjoint(
        {r["pid"] for r in cxr.docs("retain")})


@pytest.mark.slow
def test_forget_mi_pipeline_end_to_end(tmp_path: Path) -> None:
    from medlethe.run import run_pipeline
    from medlethe.unlearn.pipeline import unlearn

    out = run_pipeline(
        "fusion-tiny", SCENARIO, output=tmp_path / "run", task_args=SMALL,
        train_config=ClassifierTrainConfig(epochs=6, learning_rate=1e-3),
        progress=False, echo=False,
    )
    assert out.summary["failures"] == []
    assert list(out.runs) == ["target", "oracle", "Retrain", "ForgetMI", "RetainFineTune",
                              "NegGrad+", "FullGradAscent"]
    for label, run in out.runs.items():
        found = {(m.metric, m.split): m for m in run.results.metrics if m.subset is None}
        for key in (("f1", "forget"), ("f1", "holdout"), ("auroc", "holdout"),
                    ("mia_svc", "forget"), ("mia_svc_balanced", "forget")):
            assert key in found and found[key].value is not None, (label, key)
        for name in ("mia_svc", "mia_svc_balanced"):
            svc = found[(name, "forget")]
            assert 0 <= svc.value <= 1 and svc.ci is not None and svc.ci.unit == "patient"
        assert run.results.requests.classify > 0
    assert out.runs["ForgetMI"].results.model.provenance["unlearn"]["method_info"][
        "first_terms"]["uu"] > 0
    # ForgetMI moved the weights (its cached result); a text-only method refuses the model
    from medlethe.training.pipeline import finetune

    task = load_scenario(SCENARIO, SMALL)
    target = finetune("fusion-tiny", task, "train",
                      config=ClassifierTrainConfig(epochs=6, learning_rate=1e-3),
                      progress=False)
    assert target.cached
    result = unlearn("ForgetMI", task, target, "fusion-tiny", progress=False)
    assert result.cached
    before = load_file(str(target.path / "model.safetensors"))
    after = load_file(str(result.output.path / "model.safetensors"))
    assert any(not (before[k] == after[k]).all() for k in before)
    assert result.meta["params_modified"]["changed"] > 0
    with pytest.raises(MethodError, match=r"STEU.*image"):
        unlearn("STEU", task, target, "fusion-tiny", progress=False)


def test_unlearned_models_are_cached_by_their_images_too() -> None:
    from medlethe.task import LabelledText
    from medlethe.unlearn.pipeline import _key

    text = LabelledText("FINDINGS: Lungs are clear.", (0,))
    assert _key(text) == ("FINDINGS: Lungs are clear.", [0])  # text-only keys unchanged
    a = LabelledText(text.text, (0,), "/cache/cxr/a/P00000-0.png")
    b = LabelledText(text.text, (0,), "/cache/cxr/b/P00000-0.png")
    assert _key(a) != _key(b) != _key(text)


def _forget_loss(task: Any, folder: Path) -> float:
    """Mean cross-entropy of the gold grade on the forget studies (image + report)."""
    import torch

    from medlethe.training.classifier import load_classifier, load_images

    tok, model = load_classifier(folder)
    ex = task.training_data("forget").examples
    enc = tok([e.text for e in ex], truncation=True, max_length=128, padding=True,
              return_tensors="pt")
    pixels = load_images([str(e.image) for e in ex])
    gold = torch.tensor([e.labels[0] for e in ex])
    with torch.no_grad():
        logits = model(**enc, pixel_values=pixels).logits
    return float(torch.nn.functional.cross_entropy(logits, gold))


def _to_noised(method: Any, task: Any, folder: Path, original: Path) -> float:
    """Mean distance of the forget studies' image + text embeddings under ``folder`` to the
    original model's embeddings of their noised copies (what ForgetMI's UU term pulls)."""
    import torch

    from medlethe.methods.forget_mi import embeddings
    from medlethe.methods.forget_mi_losses import distance
    from medlethe.training.classifier import load_classifier, load_images

    tok, model = load_classifier(folder)
    ref = load_classifier(original)[1]
    ex = task.training_data("forget").examples
    enc = tok([e.text for e in ex], truncation=True, max_length=128, padding=True,
              return_tensors="pt")
    with torch.no_grad():
        mine = embeddings(model(**enc, pixel_values=load_images([str(e.image) for e in ex])))
        noised = embeddings(ref(**method._noised(list(range(len(ex))))))
    return float(distance(mine.unimodal, noised.unimodal))


@pytest.mark.slow
@pytest.mark.parametrize("flip", [False, True])
def test_forget_mi_forgets_and_a_flipped_forget_term_does_not(
    flip: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ForgetMI pulls the forget studies' embeddings to the original model's embeddings of
    their noised copies (to under 0.7 of the starting distance) and so raises their loss
    toward the oracle's (past a third of the gap). With its forgetting terms' signs turned
    (UU and MU ascended) the embedding check fails; the loss check alone cannot tell, as
    pushing the embeddings away also wrecks the forget predictions (measured: 0.89 -> 1.04,
    the oracle 1.04)."""
    import medlethe.methods.forget_mi as fmi
    from medlethe.methods.forget_mi_losses import Terms
    from medlethe.registry import get_registry
    from medlethe.training.pipeline import finetune
    from medlethe.unlearn.pipeline import build_method

    monkeypatch.setenv("MEDLETHE_CACHE_DIR", str(tmp_path / "cache"))
    task = load_scenario(SCENARIO, SMALL)
    config = ClassifierTrainConfig(epochs=6, learning_rate=1e-3)
    target = finetune("fusion-tiny", task, "train", config=config, progress=False)
    oracle = finetune("fusion-tiny", task, "retain", config=config, progress=False)
    if flip:
        terms = fmi.forget_mi_terms

        def turned(*args: Any) -> Terms:
            t = terms(*args)
            return Terms(ur=t.ur, uu=-t.uu, mu=-t.mu, mr=t.mr)

        monkeypatch.setattr(fmi, "forget_mi_terms", turned)
    _, method = build_method("ForgetMI", registry=get_registry())
    ctx = scenario_context(task, target, "fusion-tiny", tmp_path / "out")
    before, goal = _forget_loss(task, target.path), _forget_loss(task, oracle.path)
    out = method.unlearn(ctx).path
    after = _forget_loss(task, out)
    assert goal > before + 0.1  # the target knows its forget studies better than the oracle
    start = _to_noised(method, task, target.path, target.path)
    end = _to_noised(method, task, out, target.path)
    assert (end < 0.7 * start) != flip, (start, end)
    if not flip:
        assert after > before + (goal - before) / 3, (before, after, goal)
