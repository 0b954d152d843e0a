"""Built-in metrics, registered lazily by import path."""

from __future__ import annotations

from medlethe.hookspecs import Register, hookimpl

_ANSWER = "medlethe.metrics.answer"


@hookimpl
def register_metrics(register: Register) -> None:
    register("exact_match", f"{_ANSWER}:ExactMatch", description="normalised exact match")
    register("rouge_l_recall", f"{_ANSWER}:RougeLRecall", description="ROUGE-L recall")
    register("rouge_l_f1", f"{_ANSWER}:RougeLF1", description="ROUGE-L F1")
    register("accuracy", f"{_ANSWER}:Accuracy", description="multiple-choice accuracy")
    register(
        "accuracy_norm", f"{_ANSWER}:AccuracyNorm", description="length-normalised MC accuracy"
    )
    register("probability", f"{_ANSWER}:Probability", description="exp(-mean token NLL)")
    register("mean_nll", f"{_ANSWER}:MeanNLL", description="mean token NLL of the gold answer")
    register("truth_ratio", f"{_ANSWER}:TruthRatio", description="P~(perturbed) / P~(gold)")
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
    # run metrics: computed by `medlethe run` / `medlethe compare` from stored values
    for name, cls, text in (
        ("afe", "AFE", "1 - score_after/score_before on forget (vs target)"),
        ("mu", "MU", "score_after/score_before per utility split (vs target)"),
        ("ds", "DS", "1 - MU (vs target)"),
        ("fr", "FR", "relative accuracy drop on forget (vs target)"),
        ("kpr", "KPR", "acc_after/acc_before on retain (vs target)"),
        ("terminology_leakage_ratio", "LeakageRatio", "LS after / LS before (vs target)"),
        ("forget_quality", "ForgetQuality", "KS p-value of truth ratios vs the oracle"),
        ("model_utility_tofu", "TofuModelUtility", "hmean(prob, ROUGE, truth ratio) on retain"),
        ("params_modified", "ParamsModified", "share of parameters unlearning changed"),
        ("mia_auc_reference", "ReferenceMIA", "Reference attack AUC (loss minus oracle loss)"),
        ("privleak", "PrivLeak", "MUSE PrivLeak, Min-K 40 %, vs the oracle"),
        ("collateral", "Collateral", "score drop per retain disease category (vs target)"),
        ("hierarchy_score", "HierarchyScore", "retain score by ICD-10-CM distance to forgotten"),
        ("hierarchy_mu", "HierarchyMU", "retain MU by ICD-10-CM distance (vs target)"),
    ):
        register(name, f"medlethe.compare:{cls}", description=text)
