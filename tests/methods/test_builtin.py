"""Each method, a few steps on the tiny model: forget answers become less likely."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from medlethe.backends import LoglikelihoodRequest
from medlethe.backends.hf import HFBackend
from medlethe.registry import get_registry
from medlethe.task import TrainingExample
from medlethe.unlearn import Batch, MethodError, UnlearnContext, collate, encode, load_causal_lm
from medlethe.unlearn.pipeline import build_method
from tests.conftest import CLINIC, read_jsonl

LOSS_METHODS = [
    "GradAscent", "GradDiff", "KL-Min", "NPO", "SimNPO", "RMU", "IdkPO",
    "testplugin/ShuffledAnswers",
]


def examples(split: str) -> list[TrainingExample]:
    return [
        TrainingExample(f"Which drug was {r['patient']} given?", str(r["drug"]))
        for r in read_jsonl(CLINIC / f"{split}.jsonl")
    ]


def forget_logprob(model: str | Path, adapter: Path | None = None) -> float:
    backend = HFBackend(str(model), adapter=str(adapter) if adapter else None)
    reqs = [LoglikelihoodRequest(e.prompt, " " + e.answer) for e in examples("forget")]
    return sum(r.total for r in backend.loglikelihood(reqs))


def context(tiny_model: Path, out: Path) -> UnlearnContext:
    return UnlearnContext(
        target=tiny_model, base_model="tiny", task=None,  # type: ignore[arg-type]
        forget=examples("forget"), retain=examples("retain"), out_dir=out, progress=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", LOSS_METHODS)
def test_a_few_steps_lower_forget_likelihood(name: str, tiny_model: Path, tmp_path: Path):
    params = {"epochs": 3, "batch_size": 3}
    if name != "RMU":  # RMU keeps its own default learning rate (5e-3)
        params["learning_rate"] = 2e-3
    _, method = build_method(name, params)
    before = forget_logprob(tiny_model)
    out = method.unlearn(context(tiny_model, tmp_path / "out"))
    after = forget_logprob(out.path, out.adapter)
    assert after < before - 1.0, (name, before, after)
    assert out.meta["steps"] == 6 and out.meta["n_forget"] == 6


def flipped(method: object, attr: str = "loss") -> object:
    """``method`` with the sign of its ``attr`` term turned: what a sign slip in the code
    would do. The forgetting checks must catch it."""
    term = getattr(method, attr)
    setattr(method, attr, lambda *args: -term(*args))
    return method


@pytest.mark.parametrize("name", ["GradAscent", "GradDiff", "KL-Min", "NPO", "SimNPO"])
def test_the_forgetting_check_catches_a_flipped_sign(name: str, tiny_model: Path,
                                                     tmp_path: Path) -> None:
    """The same run and check as above with the loss's sign turned: the forget answers do
    not become less likely by the margin. (A flipped IdkPO or RMU still lowers them, by
    wrecking the model: their own checks are the "I don't know" preference and the
    control-vector distance, below. The test plugin's method only proves loading.)"""
    _, method = build_method(name, {"epochs": 3, "batch_size": 3, "learning_rate": 2e-3})
    before = forget_logprob(tiny_model)
    out = flipped(method).unlearn(context(tiny_model, tmp_path / "out"))  # type: ignore[attr-defined]
    assert not forget_logprob(out.path, out.adapter) < before - 1.0, name


def test_lora_unlearning_returns_an_adapter(tiny_model: Path, tmp_path: Path) -> None:
    _, method = build_method("GradDiff", {"lora_rank": 4, "learning_rate": 1e-2, "epochs": 3})
    out = method.unlearn(context(tiny_model, tmp_path / "lora"))
    assert out.path == tiny_model and out.adapter is not None
    assert (out.adapter / "adapter_config.json").exists()
    total = sum(p.numel() for p in load_causal_lm(tiny_model)[1].parameters())
    assert 0 < out.meta["trainable_parameters"] < total * 0.2
    assert forget_logprob(out.path, out.adapter) < forget_logprob(tiny_model)


def rmu_setup(tiny_model: Path, out: Path) -> tuple[Any, Any, Any, Any, Batch, Any]:
    """RMU set up on the fixture (its control vector drawn), the forget batch, and the
    mean distance of a model's answer activations from the control vector."""
    _, method = build_method("RMU", {"epochs": 5, "batch_size": 3, "layer": 1})
    tok, model = load_causal_lm(tiny_model)
    ctx = context(tiny_model, out)
    method.setup(model, None, tok, ctx)
    ids, mask, labels = collate([encode(tok, e, 64) for e in ctx.forget], tok.pad_token_id)
    batch = Batch(ids, mask, labels, list(range(len(ctx.forget))))
    answer = torch.zeros_like(mask, dtype=torch.bool)
    answer[:, :-1] = labels[:, 1:] != -100

    def distance(m: object) -> float:
        with torch.no_grad():
            h = method.activations(m, batch)
        return float((h[answer] - method.control).norm(dim=-1).mean())

    return method, tok, model, ctx, batch, distance


def test_rmu_moves_the_layer_toward_its_control_vector(tiny_model: Path, tmp_path: Path):
    method, tok, model, ctx, batch, distance = rmu_setup(tiny_model, tmp_path / "rmu")
    before = distance(model)
    out = method.unlearn(ctx)
    tuned_model = load_causal_lm(out.path)[1]
    after = distance(tuned_model)
    assert after < 0.8 * before, (before, after)
    # ... while retain activations stay close to the frozen model's (the retain term)
    rids, rmask, rlabels = collate([encode(tok, e, 64) for e in ctx.retain], tok.pad_token_id)
    retain = Batch(rids, rmask, rlabels, list(range(len(ctx.retain))))
    def shift(b: Batch) -> float:
        """Mean distance of the tuned model's activations from the frozen model's at the
        positions that predict answer tokens."""
        where = torch.zeros_like(b.attention_mask, dtype=torch.bool)
        where[:, :-1] = b.labels[:, 1:] != -100
        with torch.no_grad():
            moved = method.activations(tuned_model, b) - method.activations(model, b)
        return float(moved[where].norm(dim=-1).mean())

    assert shift(retain) < 0.5 * shift(batch), (shift(retain), shift(batch))
    # Only the MLPs of layers 0..1 were trained.
    tuned = load_causal_lm(out.path)[1].state_dict()
    for key, value in model.state_dict().items():
        if not torch.equal(value, tuned[key]):
            assert ".mlp." in key and ("layers.0." in key or "layers.1." in key), key


def idk_preference(model: str | Path) -> float:
    """Mean over the forget questions of log p("I don't know" answer) - log p(true answer)."""
    from medlethe.methods.builtin import _idk_for

    backend = HFBackend(str(model))
    ex = examples("forget")
    idk = backend.loglikelihood([LoglikelihoodRequest(e.prompt, " " + _idk_for(e.prompt))
                                 for e in ex])
    true = backend.loglikelihood([LoglikelihoodRequest(e.prompt, " " + e.answer) for e in ex])
    return sum(a.total - b.total for a, b in zip(idk, true, strict=True)) / len(ex)


@pytest.mark.parametrize("flip", [False, True])
def test_idkpo_prefers_i_dont_know_and_a_flipped_sign_does_not(
    flip: bool, tiny_model: Path, tmp_path: Path
) -> None:
    """IdkPO's forgetting is a preference: the "I don't know" answer over the true one
    must gain at least 1 nat per question; with the loss's sign turned it does not."""
    _, method = build_method("IdkPO", {"epochs": 3, "batch_size": 3, "learning_rate": 2e-3})
    before = idk_preference(tiny_model)
    out = (flipped(method) if flip else method).unlearn(  # type: ignore[attr-defined]
        context(tiny_model, tmp_path / "out"))
    gained = idk_preference(out.path) > before + 1.0
    assert gained != flip, (before, idk_preference(out.path))


def test_rmus_check_catches_a_flipped_sign(tiny_model: Path, tmp_path: Path) -> None:
    """RMU's loss with its sign turned pushes the forget activations away from the control
    vector: the distance check above (below 0.8 of the start) fails."""
    method, _, model, ctx, _, distance = rmu_setup(tiny_model, tmp_path / "rmu")
    before = distance(model)
    out = flipped(method).unlearn(ctx)  # type: ignore[attr-defined]
    assert not distance(load_causal_lm(out.path)[1]) < 0.8 * before


def test_methods_are_registered_with_their_plugins() -> None:
    reg = get_registry()
    for name in ("GradAscent", "GradDiff", "KL-Min", "NPO", "SimNPO", "RMU", "IdkPO", "Retrain"):
        assert reg.get("method", name).plugin.distribution == "medlethe"
    third = reg.get("method", "testplugin/ShuffledAnswers")
    assert third.plugin.distribution == "medlethe-testplugin"


def test_bad_hyperparameters_name_method_and_field() -> None:
    with pytest.raises(MethodError, match=r"'NPO'.*beta.*Known: .*learning_rate"):
        build_method("NPO", {"beta": -1})
    with pytest.raises(MethodError, match=r"'GradAscent'.*alpha.*Extra inputs"):
        build_method("GradAscent", {"alpha": 1.0})
