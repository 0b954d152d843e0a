"""Answer-level metrics every task type gets by default."""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

from medlethe.metrics.base import Direction, Metric, Sample
from medlethe.metrics.constants import CORE_VERSION, FORGET_SPLITS, UNIT


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


class _Core(Metric):
    version = CORE_VERSION


class ExactMatch(_Core):
    """1 if the normalised generation equals the normalised gold answer (case, punctuation
    and whitespace ignored)."""

    bounds = UNIT
    output_types = frozenset({"generate"})

    def score(self, sample: Sample) -> float | None:
        assert sample.generation is not None
        return float(_normalise(sample.generation.text) == _normalise(sample.instance.target))


@functools.lru_cache(maxsize=2)
def _rouge(stemmer: bool) -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=stemmer)


class _RougeL(_Core):
    """ROUGE-L with the Porter stemmer by default (``use_stemmer=True``, as TOFU, MUSE and
    open-unlearning score); ``stemmer=False`` (a metric argument) scores unstemmed."""

    bounds = UNIT
    output_types = frozenset({"generate"})
    field: ClassVar[str]

    def __init__(self, stemmer: bool = True) -> None:
        self.stemmer = stemmer

    def score(self, sample: Sample) -> float | None:
        assert sample.generation is not None
        scorer = _rouge(self.stemmer)
        result = scorer.score(sample.instance.target, sample.generation.text)["rougeL"]
        return float(getattr(result, self.field))


class RougeLRecall(_RougeL):
    """ROUGE-L recall of the greedy answer against the gold answer (TOFU's choice)."""

    field = "recall"


class RougeLF1(_RougeL):
    """ROUGE-L F1 of the greedy answer against the gold answer (MUSE's choice)."""

    field = "fmeasure"


class Accuracy(_Core):
    """Multiple choice: 1 if the option with the highest summed log-likelihood is gold
    (lm-eval's ``acc``)."""

    bounds = UNIT
    output_types = frozenset({"multiple_choice"})

    def option_scores(self, sample: Sample) -> list[float]:
        return [c.total for c in sample.choices]

    def score(self, sample: Sample) -> float | None:
        scores = self.option_scores(sample)
        best = max(range(len(scores)), key=scores.__getitem__)  # first of ties, as np.argmax
        return float(best == sample.instance.gold)


class AccNorm(Accuracy):
    """lm-eval's ``acc_norm``: the option whose summed log-likelihood divided by the
    option's length in characters (lm-eval's ``len(choice)``, the option text without the
    delimiter; bytes for ASCII text) is highest."""

    def option_scores(self, sample: Sample) -> list[float]:
        return [
            c.total / max(1, len(text))
            for c, text in zip(sample.choices, sample.instance.choices, strict=True)
        ]


class AccuracyPerToken(Accuracy):
    """Multiple choice normalised by tokens: the option with the highest mean per-token
    log-likelihood (harness choice, the truth ratio's length normalisation; not lm-eval's
    ``acc_norm``, which normalises by characters)."""

    def option_scores(self, sample: Sample) -> list[float]:
        return [c.mean for c in sample.choices]


class Probability(_Core):
    """exp(-mean token NLL) of the gold answer given the question."""

    bounds = UNIT
    needs = frozenset({"gold"})

    def score(self, sample: Sample) -> float | None:
        return None if sample.gold is None else sample.gold.probability


class MeanNLL(_Core):
    """Mean token negative log-likelihood of the gold answer (lower means better known)."""

    bounds = (0.0, math.inf)
    direction: ClassVar[Direction] = "lower"
    needs = frozenset({"gold"})

    def score(self, sample: Sample) -> float | None:
        if sample.gold is None:
            return None
        value = -sample.gold.mean
        return value if math.isfinite(value) else None


class TruthRatio(_Core):
    """TOFU's truth ratio, computed in log space (TOFU's definition):
    tr = exp(mean_i log P~(perturbed_i) - log P~(gold)), P~ = exp(mean token log-prob), so
    the perturbed answers enter as a geometric mean (harness choice: the gold answer stands
    in for TOFU's paraphrased answer, which synthclinic does not have). Per sample the raw
    tr is kept; a forget-type split aggregates mean(min(tr, 1/tr)), any other split
    mean(max(0, 1 - tr)). open-unlearning divides probabilities instead, with 1e-10 added
    to the denominator: the same number until the probabilities underflow (a collapsed
    model), where it gives 0 and this gives the exact ratio (docs/metrics.md, pinned by a
    test)."""

    needs = frozenset({"gold", "perturbed"})

    def score(self, sample: Sample) -> float | None:
        gold, wrong = sample.gold, sample.wrong
        if gold is None or not wrong:
            return None
        return math.exp(sum(w.mean for w in wrong) / len(wrong) - gold.mean)

    def summarise(self, values: Sequence[float], split: str) -> list[float]:
        if split in FORGET_SPLITS:
            return [min(v, 1 / v) if v > 0 else 0.0 for v in values]
        return [max(0.0, 1 - v) for v in values]


def _greedy(sample: Sample) -> Sequence[bool] | None:
    """Per gold-answer token, whether the teacher-forced argmax is the gold token (``None``
    when the sample has no gold answer tokens)."""
    gold = sample.gold
    return gold.is_greedy if gold is not None and gold.is_greedy else None


class ExactMemorisation(_Core):
    """Share of gold-answer tokens whose teacher-forced argmax is the gold token."""

    bounds = UNIT
    needs = frozenset({"gold"})

    def score(self, sample: Sample) -> float | None:
        greedy = _greedy(sample)
        return None if greedy is None else sum(greedy) / len(greedy)


class ExtractionStrength(_Core):
    """1 - k/|y|, k the first offset from which every remaining argmax token matches: 0
    when not even the last token matches (open-unlearning's loop stops at k = |y| - 1 and
    gives 1/|y| there; docs/metrics.md)."""

    bounds = UNIT
    needs = frozenset({"gold"})

    def score(self, sample: Sample) -> float | None:
        greedy = _greedy(sample)
        if greedy is None:
            return None
        k = n = len(greedy)
        while k > 0 and greedy[k - 1]:
            k -= 1
        return 1 - k / n


_WORD = re.compile(r"\w+|[^\w\s]")


class TokenEntropy(_Core):
    """Entropy of the unigram distribution of the generated tokens / log(number of tokens);
    low values flag collapsed, repetitive output. Harness choice: tokens are words and
    punctuation marks (backend-independent); answers of fewer than 2 tokens are skipped."""

    bounds = UNIT
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
