"""Each method's loss at theta = reference (the frozen target), against its formula worked
by hand (spec section 4). The answer tokens are found here from the prompt's own length,
not from the labels, so a loss that also covered prompt tokens would fail."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from medlethe.task import TrainingExample
from medlethe.unlearn import Batch, collate, encode, load_causal_lm
from medlethe.unlearn.pipeline import build_method
from tests.methods.test_builtin import context, examples

MAX_LENGTH = 128


class Setting:
    """The tiny target twice (model and reference), a forget and a retain batch, and the
    per-row answer log-probabilities computed by hand."""

    def __init__(self, tiny_model: Path, out_dir: Path) -> None:
        self.ctx = context(tiny_model, out_dir)
        self.tok, self.model = load_causal_lm(tiny_model)
        _, self.ref = load_causal_lm(tiny_model)
        self.model.eval()
        self.ref.eval()
        self.forget_ex = examples("forget")[:4]
        self.retain_ex = examples("retain")[:4]
        self.forget = self.batch(self.forget_ex)
        self.retain = self.batch(self.retain_ex)

    def batch(self, exs: list[TrainingExample]) -> Batch:
        ids, mask, labels = collate([encode(self.tok, e, MAX_LENGTH) for e in exs],
                                    self.tok.pad_token_id)
        return Batch(ids, mask, labels, list(range(len(exs))))

    def answer_logprobs(self, exs: list[TrainingExample], batch: Batch) -> list[torch.Tensor]:
        """log p of each answer token (answer + EOS), from the prompt's token count."""
        with torch.no_grad():
            logits = self.model(input_ids=batch.input_ids,
                                attention_mask=batch.attention_mask).logits.float()
        out = []
        for row, ex in enumerate(exs):
            start = len(self.tok(ex.prompt).input_ids)
            end = int(batch.attention_mask[row].sum())
            logp = torch.log_softmax(logits[row, start - 1 : end - 1], -1)
            targets = batch.input_ids[row, start:end]
            out.append(logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1))
        return out

    def ce(self, exs: list[TrainingExample], batch: Batch) -> float:
        """Mean token cross-entropy over every answer token of the batch."""
        lps = self.answer_logprobs(exs, batch)
        return float(-torch.cat(lps).mean())

    def loss(self, name: str, **params: Any) -> float:
        _, method = build_method(name, params)
        method.setup(self.model, self.ref, self.tok, self.ctx)
        with torch.no_grad():
            return float(method.loss(self.model, self.ref, self.forget, self.retain))


@pytest.fixture(scope="module")
def setting(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Setting:
    return Setting(tiny_model, tmp_path_factory.mktemp("losses"))


def test_labels_cover_exactly_the_answer_tokens(setting: Setting) -> None:
    for exs, batch in ((setting.forget_ex, setting.forget), (setting.retain_ex, setting.retain)):
        for row, ex in enumerate(exs):
            start = len(setting.tok(ex.prompt).input_ids)
            labelled = (batch.labels[row] != -100).nonzero().flatten().tolist()
            assert labelled == list(range(start, int(batch.attention_mask[row].sum())))


def test_gradient_ascent_and_gradient_difference(setting: Setting) -> None:
    ce_f = setting.ce(setting.forget_ex, setting.forget)
    ce_r = setting.ce(setting.retain_ex, setting.retain)
    assert setting.loss("GradAscent") == pytest.approx(-ce_f, rel=1e-5)
    assert setting.loss("GradDiff", alpha=0.5) == pytest.approx(-ce_f + 0.5 * ce_r, rel=1e-5)


def test_kl_min_retain_term_is_zero_at_the_reference(setting: Setting) -> None:
    ce_f = setting.ce(setting.forget_ex, setting.forget)
    assert setting.loss("KL-Min", alpha=3.0) == pytest.approx(-ce_f, rel=1e-5)


def test_npo_forget_term_is_two_over_beta_log_two_at_the_reference(setting: Setting) -> None:
    ce_r = setting.ce(setting.retain_ex, setting.retain)
    # log sigma(0) = -log 2 -> -(2/beta) mean log sigma(0) = (2/beta) log 2
    for beta in (0.1, 1.0):
        want = 2 / beta * math.log(2) + 0.25 * ce_r
        assert setting.loss("NPO", beta=beta, alpha=0.25) == pytest.approx(want, rel=1e-5)


def test_idkpo_preference_term_is_log_two_at_the_reference(setting: Setting) -> None:
    ce_r = setting.ce(setting.retain_ex, setting.retain)
    assert setting.loss("IdkPO", alpha=1.0) == pytest.approx(math.log(2) + ce_r, rel=1e-5)


def test_simnpo_matches_its_formula_row_by_row(setting: Setting) -> None:
    beta, gamma, lam = 2.5, 0.5, 0.75
    lps = setting.answer_logprobs(setting.forget_ex, setting.forget)
    terms = []
    for lp in lps:
        # -(beta/|y|) log pi(y|x) - gamma, |y| the answer tokens (EOS included)
        margin = -(beta / lp.numel()) * float(lp.sum()) - gamma
        terms.append(math.log(1 / (1 + math.exp(-margin))))
    want = -(2 / beta) * sum(terms) / len(terms) + lam * setting.ce(
        setting.retain_ex, setting.retain)
    got = setting.loss("SimNPO", beta=beta, gamma=gamma, lam=lam)
    assert got == pytest.approx(want, rel=1e-5)


def test_rmu_loss_is_the_forget_distance_alone_at_the_reference(setting: Setting) -> None:
    _, method = build_method("RMU", {"layer": 1, "steering_coeff": 10.0, "alpha": 100.0})
    method.setup(setting.model, setting.ref, setting.tok, setting.ctx)
    with torch.no_grad():
        got = float(method.loss(setting.model, setting.ref, setting.forget, setting.retain))
        h = method.activations(setting.model, setting.forget)
    # positions that predict answer tokens: start-1 .. end-2 of each row
    sq, count = 0.0, 0
    for row, ex in enumerate(setting.forget_ex):
        start = len(setting.tok(ex.prompt).input_ids)
        end = int(setting.forget.attention_mask[row].sum())
        diff = h[row, start - 1 : end - 1] - method.control
        sq += float((diff**2).sum())
        count += (end - start) * h.shape[-1]
    assert got == pytest.approx(sq / count, rel=1e-4)
