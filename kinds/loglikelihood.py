"""Log-likelihood: how probable the model finds the gold answer after the prompt (and the
perturbed answers, where a metric compares them)."""

from __future__ import annotations

from medlethe import Requests, Sample
from medlethe.kinds.text import TextKind, continuations, wrong_answers
from medlethe.task import Instance


class Loglikelihood(TextKind):
    """The gold answer's (and wrong answers') log-likelihood."""

    yaml_fields = ("doc_to_target",)
    default_metrics = ("probability", "mean_nll")
    primary_metric = "probability"

    def asks(self, instance: Instance, needs: frozenset[str]) -> Requests:
        texts = [instance.target, *wrong_answers(instance, needs)]
        return {"loglikelihood": continuations(instance, texts)}

    def sample(self, instance: Instance, answers: Requests, needs: frozenset[str]) -> Sample:
        gold, *wrong = answers["loglikelihood"]
        return Sample(instance, continuation=gold, perturbed=tuple(wrong))
