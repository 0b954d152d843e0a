"""What the three language-model kinds share: a continuation scored after the prompt."""

from __future__ import annotations

from collections.abc import Iterable

from medlethe.backends import LoglikelihoodRequest
from medlethe.task import Instance

#: the language-model kinds' headline: answers, forgetting, utility, privacy and leakage
HEADLINE = (
    ("forget ROUGE-L", "rouge_l_recall", "forget"),
    ("retain ROUGE-L", "rouge_l_recall", "retain"),
    ("holdout ROUGE-L", "rouge_l_recall", "holdout"),
    ("AFE", "afe", "forget"),
    ("MU retain", "mu", "retain"),
    ("forget quality", "forget_quality", "forget"),
    ("MIA AUC Min-K", "mia_auc_min_k", "forget~holdout"),
    ("PrivLeak", "privleak", "forget~holdout"),
    ("LS forget", "terminology_leakage", "forget"),
)


def continuations(instance: Instance, texts: Iterable[str]) -> list[LoglikelihoodRequest]:
    """One log-likelihood request per text, as a continuation of the instance's prompt."""
    return [LoglikelihoodRequest(instance.prompt, instance.target_delimiter + t)
            for t in texts]


def wrong_answers(instance: Instance, needs: frozenset[str]) -> tuple[str, ...]:
    """The perturbed answers to score, where a metric needs them (the truth ratio)."""
    return instance.perturbed if "perturbed" in needs else ()
