"""Log-likelihood: how probable the model finds the gold answer after the prompt (and the
perturbed answers, where a metric compares them)."""

from __future__ import annotations

from medlethe import Kind, Requests, Sample
from medlethe.kinds.text import HEADLINE, SECTIONS, continuations, wrong_answers
from medlethe.task import Instance
from medlethe.training import CAUSAL_LM


class Loglikelihood(Kind):
    """The gold answer's (and wrong answers') log-likelihood."""

    request_types = ("generate", "loglikelihood")
    columns = HEADLINE
    sections = SECTIONS
    yaml_fields = ("doc_to_target",)
    family = CAUSAL_LM
    default_metrics = ("probability", "mean_nll")
    primary_metric = "probability"
    chat_prompts = True

    def asks(self, instance: Instance, needs: frozenset[str]) -> Requests:
        texts = [instance.target, *wrong_answers(instance, needs)]
        return {"loglikelihood": continuations(instance, texts)}

    def sample(self, instance: Instance, answers: Requests, needs: frozenset[str]) -> Sample:
        gold, *wrong = answers["loglikelihood"]
        return Sample(instance, continuation=gold, perturbed=tuple(wrong))
