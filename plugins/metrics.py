"""Built-in metrics, registered lazily by import path (modules of ``medlethe.metrics``)."""

from __future__ import annotations

from medlethe import Register, hookimpl

#: (name, module:class, description) of each per-answer metric, in listing order
PER_ANSWER = (
    ("exact_match", "answer:ExactMatch", "normalised exact match"),
    ("rouge_l_recall", "answer:RougeLRecall", "ROUGE-L recall"),
    ("rouge_l_f1", "answer:RougeLF1", "ROUGE-L F1"),
    ("accuracy", "answer:Accuracy", "multiple-choice accuracy"),
    ("acc_norm", "answer:AccNorm", "lm-eval acc_norm: by option characters"),
    ("accuracy_per_token", "answer:AccuracyPerToken",
     "MC accuracy by mean per-token log-likelihood"),
    ("probability", "answer:Probability", "exp(-mean token NLL)"),
    ("mean_nll", "answer:MeanNLL", "mean token NLL of the gold answer"),
    ("truth_ratio", "answer:TruthRatio", "TOFU: geometric-mean P~(perturbed) / P~(gold)"),
    ("exact_memorisation", "answer:ExactMemorisation",
     "share of gold tokens that are the teacher-forced argmax"),
    ("extraction_strength", "answer:ExtractionStrength",
     "1 - k/|y|, k where the argmax suffix match starts"),
    ("token_entropy", "answer:TokenEntropy", "normalised unigram entropy of the generated answer"),
    ("semantic_similarity", "semantic:SemanticSimilarity",
     "cosine of MiniLM sentence embeddings (answer vs gold)"),
    ("terminology_leakage", "leakage:TerminologyLeakage", "AMNESIA LS: share of gold terms named"),
    ("disease_term_leakage", "leakage:DiseaseTermLeakage", "answer names a term of its disease"),
    ("identifier_leakage", "leakage:IdentifierLeakage", "answer contains a forget-set identifier"),
    ("paraphrase_leakage", "leakage:ParaphraseLeakage", "synonym- and embedding-aware leakage"),
    ("mia_loss", "privacy:LossAttack", "MIA score: -mean NLL"),
    ("mia_zlib", "privacy:ZlibAttack", "MIA score: -NLL / zlib length"),
    ("mia_min_k", "privacy:MinKAttack", "MIA score: mean of lowest 40 % log-probs"),
    ("mia_min_k_pp", "privacy:MinKPlusPlusAttack", "MIA score: Min-K over z-scored log-probs"),
    ('class_logits', 'classification:ClassLogits',
     "a classifier's per-class logits (kept per row)"),
    ("class_loss", "classification:ClassLoss", "training loss of the gold labels (BCE or CE)"),
    ("class_accuracy", "classification:ClassAccuracy", "predicted class set equals the gold set"),
    ('sample_f1', 'classification:SampleF1',
     "F1 of a row's predicted class set (samples F1)"),
)
#: run metrics: computed from stored values by `medlethe evaluate` (no reference),
#: `medlethe run` and `medlethe compare`
PER_RUN = (
    ("f1", "classification:F1", "F1 per class and macro F1 (classification)"),
    ("auroc", "classification:AUROC", "one-vs-rest ROC-AUC per class and macro (classification)"),
    ("forget_class_f1", "classification:ForgetClassF1", "STEU: F1 of the forgotten class"),
    ("retain_avg_f1", "classification:RetainAverageF1", "STEU: mean F1 of the other classes"),
    ('logit_distance', 'classification:LogitDistance',
     "1 - cosine of logits to the oracle's"),
    ("mia_svc", "classification:SVCMembership",
     "Forget-MI: share of forget rows an SVC calls members"),
    ("mia_svc_balanced", "classification:BalancedSVCMembership",
     "mia_svc with members and non-members weighted equally"),
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
    ("recovery_ratio", "recovery:RecoveryRatio",
     "what an attack brings back: (attacked - unlearned) / (target - oracle)"),
    ("forget_progress", "recovery:ForgetProgress",
     "(target - unlearned) / (target - oracle) on forget: 1 at the oracle, > 1 over-forgets"),
)


@hookimpl
def register_metrics(register: Register) -> None:
    for table, run_metric in ((PER_ANSWER, False), (PER_RUN, True)):
        for name, target, text in table:
            register(name, f"medlethe.metrics.{target}", description=text,
                     run_metric=run_metric)
