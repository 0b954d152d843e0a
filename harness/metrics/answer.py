"""Answer-level metrics every task type gets by default."""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

from medlethe.metrics.base import Direction, Metric, Sample


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


class ExactMatch(Metric):
    """1 if the normalised generation equals the normalised gold answer (case, punctuation
    and whitespace ignored)."""

    name = "exact_match"
    output_types = frozenset({"generate"})

    def score(self, sample: Sample) -> float | None:
        assert sample.generation is not None
        return float(_normalise(sample.generation.text) == _normalise(sample.instance.target))


@functools.lru_cache(maxsize=1)
def _rouge() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


class _RougeL(Metric):
    output_types = frozenset({"generate"})
    field: ClassVar[str]

    def score(self, sample: Sample) -> float | None:
        assert sample.generation is not None
        result = _rouge().score(sample.instance.target, sample.generation.text)["rougeL"]
        return float(getattr(result, self.field))


class RougeLRecall(_RougeL):
    """ROUGE-L recall of the greedy answer against the gold answer (TOFU's choice)."""

    name = "rouge_l_recall"
    field = "recall"


class RougeLF1(_RougeL):
    """ROUGE-L F1 of the greedy answer against the gold answer (MUSE's choice)."""

    name = "rouge_l_f1"
    field = "fmeasure"


class Accuracy(Metric):
    """Multiple choice: 1 if the option with the highest summed log-likelihood is gold."""

    name = "accuracy"
    output_types = frozenset({"multiple_choice"})
    normalise: ClassVar[bool] = False

    def score(self, sample: Sample) -> float | None:
        scores = [c.mean if self.normalise else c.total for c in sample.choices]
        best = max(range(len(scores)), key=scores.__getitem__)
        return float(best == sample.instance.gold)


class AccuracyNorm(Accuracy):
    """Multiple choice, length-normalised: the option with the highest mean per-token
    log-likelihood (harness choice: normalised by tokens, consistent with the truth
    ratio's length-normalised probability)."""

    name = "accuracy_norm"
    normalise = True


class Probability(Metric):
    """exp(-mean token NLL) of the gold answer given the question."""

    name = "probability"
    needs = frozenset({"gold"})

    def score(self, sample: Sample) -> float | None:
        return None if sample.gold is None else sample.gold.probability


class MeanNLL(Metric):
    """Mean token negative log-likelihood of the gold answer (lower means better known)."""

    name = "mean_nll"
    direction: ClassVar[Direction] = "lower"
    needs = frozenset({"gold"})

    def score(self, sample: Sample) -> float | None:
        if sample.gold is None:
            return None
        value = -sample.gold.mean
        return value if math.isfinite(value) else None


FORGET_LIKE_SPLITS = frozenset({"forget", "paraphrase"})


class TruthRatio(Metric):
    """TOFU's truth ratio tr = mean_i P~(perturbed_i) / P~(gold), P~ = exp(mean token
    log-prob) (harness choice: the gold answer stands in for TOFU's paraphrased answer, which
    synthclinic does not have). Per sample the raw tr is kept; a forget-type split
    aggregates mean(min(tr, 1/tr)), any other split mean(max(0, 1 - tr))."""

    name = "truth_ratio"
    needs = frozenset({"gold", "perturbed"})

    def score(self, sample: Sample) -> float | None:
        gold, wrong = sample.gold, sample.wrong
        if gold is None or not wrong:
            return None
        return float(sum(math.exp(w.mean - gold.mean) for w in wrong) / len(wrong))

    def summarise(self, values: Sequence[float], split: str) -> list[float]:
        if split in FORGET_LIKE_SPLITS:
            return [min(v, 1 / v) if v > 0 else 0.0 for v in values]
        return [max(0.0, 1 - v) for v in values]


class ExactMemorisation(Metric):
    """Share of gold-answer tokens whose teacher-forced argmax is the gold token."""

    name = "exact_memorisation"
    needs = frozenset({"gold"})

    def score(self, sample: Sample) -> float | None:
        gold = sample.gold
        if gold is None or not gold.is_greedy:
            return None
        return sum(gold.is_greedy) / len(gold.is_greedy)


class ExtractionStrength(Metric):
    """1 - k/|y|, k the first offset from which every remaining argmax token matches."""

    name = "extraction_strength"
    needs = frozenset({"gold"})

    def score(self, sample: Sample) -> float | None:
        gold = sample.gold
        if gold is None or not gold.is_greedy:
            return None
        n = len(gold.is_greedy)
        k = n
        while k > 0 and gold.is_greedy[k - 1]:
            k -= 1
        return 1 - k / n


_WORD = re.compile(r"\w+|[^\w\s]")


class TokenEntropy(Metric):
    """Entropy of the unigram distribution of the generated tokens / log(number of tokens);
    low values flag collapsed, repetitive output. Harness choice: tokens are words and
    punctuation marks (backend-independent); answers of fewer than 2 tokens are skipped."""

    name = "token_entropy"
    output_types = frozenset({"generate"})

    def score(self, sample: Sample) -> float | None:
        assert sample.generation is not None
        tokens = _WORD.findall(sample.generation.text.lower())
        if len(tokens) < 2:
            return None
        counts = Counter(tokens)
        n = len(tokens)
        entropy = -sum(c / n * math.log(c / n) for c in counts.values())
        return entropy / math.log(n)
