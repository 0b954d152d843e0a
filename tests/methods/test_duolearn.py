"""DuoLearn's components, each checked on its own: the retain-orthogonal projection (a
quadratic toy problem), the Fisher mask (only the budgeted coordinates change), the token
weights (a hand-made answer), and the privacy accountant (against Opacus's own analysis)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from medlethe.methods.duolearn import RetainSubspace, token_weights
from medlethe.training.finetune import TrainConfig
from medlethe.training.pipeline import FinetuneOutput, finetune, load_scenario
from medlethe.unlearn import load_causal_lm
from medlethe.unlearn.pipeline import unlearn
from tests.conftest import scenario_context

SMALL = {"n_patients": 22, "n_holdout": 11}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, FinetuneOutput]:
    cache = tmp_path_factory.mktemp("duo-cache")
    old = os.environ.get("MEDLETHE_CACHE_DIR")
    os.environ["MEDLETHE_CACHE_DIR"] = str(cache)
    try:
        task = load_scenario("synthclinic/patient-10", SMALL)
        target = finetune("tiny", task, "train", config=TrainConfig(qa_epochs=24),
                          progress=False)
    finally:
        if old is None:
            os.environ.pop("MEDLETHE_CACHE_DIR")
        else:
            os.environ["MEDLETHE_CACHE_DIR"] = old
    return task, target


def test_projected_step_leaves_the_retain_loss_unchanged_to_first_order() -> None:
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(20, 8, generator=gen), torch.randn(20, generator=gen)
    theta = torch.randn(8, generator=gen, dtype=torch.float32)

    def retain_loss(t: torch.Tensor) -> float:
        return float(0.5 * ((a @ t - b) ** 2).sum())

    g_r = a.T @ (a @ theta - b)  # the retain gradient at theta
    g_f = torch.randn(8, generator=gen) + 0.5 * g_r  # a forget gradient that fights it
    space = RetainSubspace(rank=4)
    space.add(g_r)
    d = space.project(g_f)
    assert abs(float(g_r @ d)) < 1e-4 * float(g_r.norm() * d.norm())
    for eps in (1e-2, 1e-3):
        # projected: the change is second order in eps; unprojected: first order
        projected = retain_loss(theta - eps * d) - retain_loss(theta)
        plain = retain_loss(theta - eps * g_f) - retain_loss(theta)
        assert abs(projected) < 0.05 * abs(plain)
        assert abs(plain) > 0.5 * eps * abs(float(g_r @ g_f))


@pytest.mark.slow
def test_fisher_mask_changes_only_the_budgeted_coordinates(scenario: Any) -> None:
    task, target = scenario
    out = unlearn("DuoLearn", task, target, "tiny", params={"epochs": 2}, progress=False)
    info = out.meta["method_info"]
    before = load_file(target.path / "model.safetensors")
    after = load_file(out.output.path / "model.safetensors")
    changed = sum(int((after[k] != before[k]).sum()) for k in before)
    total = sum(t.numel() for t in before.values())
    assert info["fisher_selected"] == int(1e-3 * info["fisher_total"])
    assert 0 < changed <= info["fisher_selected"]
    assert out.meta["params_modified"]["changed"] == changed and total == info["fisher_total"]
    everything = unlearn("DuoLearn/no-fisher", task, target, "tiny", params={"epochs": 2},
                         progress=False)
    assert everything.meta["params_modified"]["changed"] > 100 * changed


def test_token_weights_on_a_hand_made_answer(scenario: Any) -> None:
    _, target = scenario
    tok, _ = load_causal_lm(target.path, trainable=False)
    text = " metformin for type 2 diabetes mellitus, given daily"
    weights = token_weights(tok, text, {"metformin"}, {"diabetes mellitus"}, 2.0, 0.5)
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    assert len(weights) == len(enc["input_ids"])
    drug = (text.index("metformin"), text.index("metformin") + len("metformin"))
    disease = (text.index("diabetes"), text.index(","))  # "diabetes mellitus", by hand
    for (start, end), w in zip(enc["offset_mapping"], weights, strict=True):
        expected = (2.0 if start < drug[1] and drug[0] < end
                    else 0.5 if start < disease[1] and disease[0] < end else 1.0)
        assert w == expected, (text[start:end], w)
    assert 2.0 in weights and 0.5 in weights


def test_dp_epsilon_matches_opacus_analysis(scenario: Any) -> None:
    from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

    task, target = scenario
    out = unlearn("DuoLearn/dp", task, target, "tiny", params={"epochs": 2}, progress=False)
    info = out.meta["method_info"]
    orders = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
    rdp = compute_rdp(q=info["dp_sample_rate"], noise_multiplier=info["dp_noise_multiplier"],
                      steps=info["dp_steps"], orders=orders)
    eps, _ = get_privacy_spent(orders=orders, rdp=rdp, delta=info["dp_delta"])
    assert info["dp_epsilon"] == pytest.approx(eps, abs=2e-3)
    assert info["dp_epsilon"] <= 4.0 + 1e-3 and out.output.adapter is not None
    assert Path(out.output.adapter).exists()


def test_dp_path_with_noise_off_equals_the_plain_path(scenario: Any, tmp_path: Path) -> None:
    """DP-DuoLearn with no noise and a clip no gradient reaches takes the same step as the
    plain path: each term the mean over its own batch (a forget batch of 1 and a retain
    batch of 3 answers of one length, where per-sample and per-token means agree). Before
    the fix the DP path divided the retain sum by the forget batch size (3x too large)."""
    from medlethe.registry import get_registry
    from medlethe.training.batch import collate
    from medlethe.training.loop import add_lora
    from medlethe.unlearn.base import Batch
    from medlethe.unlearn.pipeline import build_method

    task, target = scenario

    def grads(dp: bool) -> dict[str, torch.Tensor]:
        params = {"dp": dp, "lora_rank": 8, "fisher_mask": False, "project": False,
                  "token_weights": False, "dp_clip": 1e9}
        _, method = build_method("DuoLearn", params, registry=get_registry())
        tok, model = load_causal_lm(target.path)
        torch.manual_seed(0)
        model = add_lora(model, 8, 16)
        method.setup(model, None, tok, scenario_context(task, target, "tiny", tmp_path))
        if dp:
            method.noise = 0.0
        by_length: dict[int, list[int]] = {}
        for i, (_, labels) in enumerate(method.retain_enc):
            by_length.setdefault(sum(x != -100 for x in labels), []).append(i)
        three = next(v[:3] for v in by_length.values() if len(v) >= 3)

        def batch(enc: list[Any], idx: list[int]) -> Batch:
            ids, mask, labels = collate([enc[i] for i in idx], tok.pad_token_id)
            return Batch(ids, mask, labels, idx)

        method.backward(model, None, batch(method.forget_enc, [0]),
                        batch(method.retain_enc, three))
        return {n: q.grad.clone() for n, q in model.named_parameters() if q.grad is not None}

    plain, private = grads(False), grads(True)
    assert plain.keys() == private.keys() and plain
    for name in plain:
        assert torch.allclose(plain[name], private[name], rtol=1e-4, atol=1e-7), name


def _forget_logprob(task: Any, model: Path) -> float:
    """Mean total log-probability of the forget answers (teacher-forced)."""
    from medlethe.backends import LoglikelihoodRequest
    from medlethe.backends.hf import HFBackend

    ex = task.training_data("forget").examples
    got = HFBackend(str(model)).loglikelihood(
        [LoglikelihoodRequest(e.prompt, e.delimiter + e.answer) for e in ex])
    return sum(r.total for r in got) / len(ex)


@pytest.mark.parametrize("flip", [False, True])
def test_duolearn_forgets_and_a_flipped_forget_term_does_not(
    flip: bool, scenario: Any, tmp_path: Path
) -> None:
    """DuoLearn (Fisher mask, projection, token weights, as registered) lowers the forget
    answers' log-probability by at least 2 nats per answer; with its forgetting term's sign
    turned (descent where DuoLearn ascends) the same check fails."""
    from medlethe.registry import get_registry
    from medlethe.unlearn.pipeline import build_method

    task, target = scenario
    _, method = build_method("DuoLearn", {"epochs": 2}, registry=get_registry())
    if flip:
        term = method.forget_loss
        method.forget_loss = lambda *args: -term(*args)  # type: ignore[method-assign]
    ctx = scenario_context(task, target, "tiny", tmp_path / "out")
    before = _forget_logprob(task, target.path)
    after = _forget_logprob(task, method.unlearn(ctx).path)
    assert (after < before - 2.0) != flip, (before, after)
