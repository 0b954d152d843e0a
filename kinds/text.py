"""What the three language-model kinds share: a continuation scored after the prompt."""

from __future__ import annotations

from collections.abc import Iterable

from medlethe.backends import LoglikelihoodRequest
from medlethe.task import Instance


def continuations(instance: Instance, texts: Iterable[str]) -> list[LoglikelihoodRequest]:
    """One log-likelihood request per text, as a continuation of the instance's prompt."""
    return [LoglikelihoodRequest(instance.prompt, instance.target_delimiter + t)
            for t in texts]


def wrong_answers(instance: Instance, needs: frozenset[str]) -> tuple[str, ...]:
    """The perturbed answers to score, where a metric needs them (the truth ratio)."""
    return instance.perturbed if "perturbed" in needs else ()
