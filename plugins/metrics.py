"""Built-in metrics, registered lazily by import path."""

from __future__ import annotations

from medlethe import Register, hookimpl

_ANSWER = "medlethe.metrics.answer"


@hookimpl
def register_metrics(register: Register) -> None:
    register("exact_match", f"{_ANSWER}:ExactMatch", description="normalised exact match")
    register("rouge_l_recall", f"{_ANSWER}:RougeLRecall", description="ROUGE-L recall")
    register("rouge_l_f1", f"{_ANSWER}:RougeLF1", description="ROUGE-L F1")
    register("accuracy", f"{_ANSWER}:Accuracy", description="multiple-choice accuracy")
    register(
        "acc_norm", f"{_ANSWER}:AccNorm", description="lm-eval acc_norm: by option characters"
    )
    register(
        "accuracy_per_token",
        f"{_ANSWER}:AccuracyPerToken",
        description="MC accuracy by mean per-token log-likelihood",
    )
    register("probability", f"{_ANSWER}:Probability", description="exp(-mean token NLL)")
    register("mean_nll", f"{_ANSWER}:MeanNLL", description="mean token NLL of the gold answer")
    register(
        "truth_ratio",
        f"{_ANSWER}:TruthRatio",
        description="TOFU: geometric-mean P~(perturbed) / P~(gold)",
    )
    register(
        "exact_memorisation",
        f"{_ANSWER}:ExactMemorisation",
        description="share of gold tokens that are the teacher-forced argmax",
    )
    register(
        "extraction_strength",
        f"{_ANSWER}:ExtractionStrength",
        description="1 - k/|y|, k where the argmax suffix match starts",
    )
    register(
        "token_entropy",
        f"{_ANSWER}:TokenEntropy",
        description="normalised unigram entropy of the generated answer",
    )
    register(
        "semantic_similarity",
        "medlethe.metrics.semantic:SemanticSimilarity",
        description="cosine of MiniLM sentence embeddings (answer vs gold)",
    )
    for name, cls, text in (
        ("terminology_leakage", "TerminologyLeakage", "AMNESIA LS: share of gold terms named"),
        ("disease_term_leakage", "DiseaseTermLeakage", "answer names a term of its disease"),
        ("identifier_leakage", "IdentifierLeakage", "answer contains a forget-set identifier"),
        ("paraphrase_leakage", "ParaphraseLeakage", "synonym- and embedding-aware leakage"),
    ):
        register(name, f"medlethe.metrics.leakage:{cls}", description=text)
    for attack, cls, text in (
        ("mia_loss", "LossAttack", "MIA score: -mean NLL"),
        ("mia_zlib", "ZlibAttack", "MIA score: -NLL / zlib length"),
        ("mia_min_k", "MinKAttack", "MIA score: mean of lowest 40 % log-probs"),
        ("mia_min_k_pp", "MinKPlusPlusAttack", "MIA score: Min-K over z-scored log-probs"),
    ):
        register(attack, f"medlethe.metrics.privacy:{cls}", description=text)
    _cls = "medlethe.metrics.classification"
    for name, cls, text in (
        ("class_logits", "ClassLogits", "a classifier's per-class logits (kept per row)"),
        ("class_loss", "ClassLoss", "training loss of the gold labels (BCE or CE)"),
        ("class_accuracy", "ClassAccuracy", "predicted class set equals the gold set"),
        ("sample_f1", "SampleF1", "F1 of a row's predicted class set (samples F1)"),
    ):
        register(name, f"{_cls}:{cls}", description=text)
    for name, cls, text in (
        ("f1", "F1", "F1 per class and macro F1 (classification)"),
        ("auroc", "AUROC", "one-vs-rest ROC-AUC per class and macro (classification)"),
        ("forget_class_f1", "ForgetClassF1", "STEU: F1 of the forgotten class"),
        ("retain_avg_f1", "RetainAverageF1", "STEU: mean F1 of the other classes"),
        ("logit_distance", "LogitDistance", "1 - cosine of logits to the oracle's"),
        ("mia_svc", "SVCMembership", "Forget-MI: share of forget rows an SVC calls members"),
        ("mia_svc_balanced", "BalancedSVCMembership",
         "mia_svc with members and non-members weighted equally"),
    ):
        register(name, f"{_cls}:{cls}", description=text, run_metric=True)
    # run metrics: computed from stored values by `medlethe evaluate` (no reference),
    # `medlethe run` and `medlethe compare`
    _runs = "medlethe.metrics"
    for name, target, text in (
        ("mia_auc_loss", "privacy:LossAUC", "LOSS attack AUC, forget vs holdout"),
        ("mia_auc_zlib", "privacy:ZlibAUC", "ZLib attack AUC, forget vs holdout"),
        ("mia_auc_min_k", "privacy:MinKAUC", "Min-K 40 % attack AUC, forget vs holdout"),
        ("mia_auc_min_k_pp", "privacy:MinKPlusPlusAUC", "Min-K++ attack AUC"),
        ("afe", "comparison:AFE", "1 - score_after/score_before on forget (vs target)"),
        ("mu", "comparison:MU", "score_after/score_before per utility split (vs target)"),
        ("ds", "comparison:DS", "1 - MU (vs target)"),
        ("fr", "comparison:FR", "relative accuracy drop on forget (vs target)"),
        ("kpr", "comparison:KPR", "acc_after/acc_before on retain (vs target)"),
        ("terminology_leakage_ratio", "comparison:LeakageRatio", "LS after / LS before"),
        ("forget_quality", "comparison:ForgetQuality", "TOFU KS test of truth ratios vs oracle"),
        ("model_utility_tofu", "comparison:TofuModelUtility", "hmean(prob, ROUGE, TR), retain"),
        ("params_modified", "comparison:ParamsModified", "share of parameters changed"),
        ("mia_auc_reference", "privacy:ReferenceMIA", "Reference attack AUC (vs oracle)"),
        ("privleak", "privacy:PrivLeak", "MUSE PrivLeak, Min-K 40 %, vs the oracle"),
        ("collateral", "hierarchy:Collateral", "score drop per retain disease category"),
        ("hierarchy_score", "hierarchy:HierarchyScore", "retain score by ICD-10-CM distance"),
        ("hierarchy_mu", "hierarchy:HierarchyMU", "retain MU by ICD-10-CM distance"),
    ):
        register(name, f"{_runs}.{target}", description=text, run_metric=True)
