"""What the three language-model kinds share: a continuation scored after the prompt."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from medlethe import Kind, Row
from medlethe.backends import LoglikelihoodRequest
from medlethe.task import Instance
from medlethe.training import CAUSAL_LM

MC = "multiple_choice"  # rows read from the scenario's multiple-choice form
#: the title of the section of attacked models (``medlethe run --attacks``)
ATTACKS = ("Attacks: recovery ratio on forget (0: nothing comes back; 1: all the target "
           "knew beyond the oracle)")

#: the language-model kinds' headline: answers, forgetting, utility, privacy and leakage,
#: and the multiple-choice form's accuracies
HEADLINE = (
    ("forget ROUGE-L", "rouge_l_recall", "forget"),
    ("retain ROUGE-L", "rouge_l_recall", "retain"),
    ("holdout ROUGE-L", "rouge_l_recall", "holdout"),
    ("AFE", "afe", "forget"),
    ("to oracle", "forget_progress", "forget"),
    ("MU retain", "mu", "retain"),
    ("forget quality", "forget_quality", "forget"),
    ("MIA AUC Min-K", "mia_auc_min_k", "forget~holdout"),
    ("PrivLeak", "privleak", "forget~holdout"),
    ("LS forget", "terminology_leakage", "forget"),
    Row("MC forget acc.", "accuracy", "forget", of_kind=MC),
    Row("MC retain acc.", "accuracy", "retain", of_kind=MC),
    ("recovery", "recovery_ratio", "forget"),
)

#: the full report of a language model's run
SECTIONS = (
    ("Answers (ROUGE-L recall; MC accuracy)", (
        Row("forget", "rouge_l_recall", "forget"),
        Row("paraphrase", "rouge_l_recall", "paraphrase"),
        Row("retain", "rouge_l_recall", "retain"),
        Row("retain same disease", "rouge_l_recall", "retain_same_disease"),
        Row("retain other disease", "rouge_l_recall", "retain_other_disease"),
        Row("holdout", "rouge_l_recall", "holdout"),
        Row("MC forget", "accuracy", "forget", of_kind=MC),
        Row("MC retain", "accuracy", "retain", of_kind=MC),
        Row("truth ratio forget", "truth_ratio", "forget"),
        Row("semantic sim. forget", "semantic_similarity", "forget"),
        Row("token entropy retain", "token_entropy", "retain"),
    )),
    ("Forgetting and utility", (
        Row("AFE", "afe", "forget"),
        Row("FR (MC)", "fr", "forget", of_kind=MC),
        Row("to oracle (1: oracle; > 1 over-forgets)", "forget_progress", "forget"),
        Row("to oracle (MC; FR / oracle FR)", "forget_progress", "forget", of_kind=MC),
        Row("MU retain", "mu", "retain"),
        Row("MU same disease", "mu", "retain_same_disease"),
        Row("MU other disease", "mu", "retain_other_disease"),
        Row("MU holdout", "mu", "holdout"),
        Row("DS retain", "ds", "retain"),
        Row("KPR (MC)", "kpr", "retain", of_kind=MC),
        Row("forget quality (KS p)", "forget_quality", "forget"),
        Row("KS statistic vs oracle", "forget_quality_ks", "forget"),
        Row("model utility (TOFU)", "model_utility_tofu", "retain"),
        Row("% params modified", "params_modified", "(weights)"),
    )),
    ("Privacy (forget vs holdout)", (
        Row("MIA AUC LOSS", "mia_auc_loss", "forget~holdout"),
        Row("MIA AUC ZLib", "mia_auc_zlib", "forget~holdout"),
        Row("MIA AUC Min-K", "mia_auc_min_k", "forget~holdout"),
        Row("MIA AUC Min-K++", "mia_auc_min_k_pp", "forget~holdout"),
        Row("MIA AUC Reference", "mia_auc_reference", "forget~holdout"),
        Row("MIA resistance Min-K", "mia_resistance_min_k", "forget~holdout"),
        Row("PrivLeak", "privleak", "forget~holdout"),
    )),
    ("Leakage (forget split)", (
        Row("terminology LS", "terminology_leakage", "forget"),
        Row("LS after / before", "terminology_leakage_ratio", "forget"),
        Row("names its disease", "disease_term_leakage", "forget"),
        Row("identifiers", "identifier_leakage", "forget"),
        Row("paraphrase-robust", "paraphrase_leakage", "forget"),
    )),
    (ATTACKS, (
        Row("forget", "recovery_ratio", "forget"),
        Row("MC forget", "recovery_ratio", "forget", of_kind=MC),
    )),
    ("Hierarchy preservation (retain MU by ICD-10-CM distance)", tuple(
        Row(d.replace("_", " "), "hierarchy_mu", "retain", subset=f"distance={d}")
        for d in ("same_code", "same_category", "same_block", "same_chapter", "other_chapter")
    )),
)


def continuations(instance: Instance, texts: Iterable[str]) -> list[LoglikelihoodRequest]:
    """One log-likelihood request per text, as a continuation of the instance's prompt."""
    return [LoglikelihoodRequest(instance.prompt, instance.target_delimiter + t)
            for t in texts]


def wrong_answers(instance: Instance, needs: frozenset[str]) -> tuple[str, ...]:
    """The perturbed answers to score, where a metric needs them (the truth ratio)."""
    return instance.perturbed if "perturbed" in needs else ()


class TextKind(Kind):
    """What the language-model kinds share: the requests they may ask of a causal LM, their
    report and headline, and prompts that take the model's chat template."""

    request_types = ("generate", "loglikelihood")
    columns = HEADLINE
    sections = SECTIONS
    family = CAUSAL_LM
    chat_prompts = True

    def privacy(self, record: Any) -> str | None:
        return "MIA AUC Min-K"
