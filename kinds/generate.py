"""Free-text generation: the model answers in its own words (greedy), scored against the
gold answer; the gold and perturbed answers' log-likelihoods where metrics need them."""

from __future__ import annotations

from medlethe import Requests, Sample
from medlethe.backends import GenerateRequest
from medlethe.kinds.text import TextKind, continuations, wrong_answers
from medlethe.task import Instance


class Generate(TextKind):
    """Free text, greedy, scored against the gold answer."""

    yaml_fields = ("doc_to_target", "generation")
    default_metrics = ("rouge_l_recall", "rouge_l_f1", "exact_match", "probability",
                       "token_entropy", "semantic_similarity?")
    primary_metric = "rouge_l_recall"
    accuracy_metric = "exact_match"
    paired_preconditions = True

    def asks(self, instance: Instance, needs: frozenset[str]) -> Requests:
        g = instance.generation
        assert g is not None, f"{instance.task}: a generate instance carries its settings"
        gold = [instance.target] if "gold" in needs else []
        return {"generate": [GenerateRequest(instance.prompt, g.max_new_tokens, tuple(g.stop))],
                "loglikelihood": continuations(
                    instance, [*gold, *wrong_answers(instance, needs)])}

    def sample(self, instance: Instance, answers: Requests, needs: frozenset[str]) -> Sample:
        lls = list(answers["loglikelihood"])
        gold = lls.pop(0) if "gold" in needs else None
        return Sample(instance, generation=answers["generate"][0], continuation=gold,
                      perturbed=tuple(lls))
