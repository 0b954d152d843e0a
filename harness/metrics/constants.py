"""Constants every metric module shares: split roles, the answer scores the run metrics
read, and the bootstrap's settings."""

from __future__ import annotations

#: members and non-members of the membership-inference attacks
MEMBERS, NON_MEMBERS = "forget", "holdout"
#: the split pair an attack AUC is reported on
MEMBERSHIP_SPLIT = f"{MEMBERS}~{NON_MEMBERS}"
#: splits that measure forgetting; every other split measures utility (``forget_train``:
#: the forget set's own training questions, where a pack's ``forget`` split is held out)
FORGET_SPLITS = frozenset({"forget", "paraphrase", "forget_train"})
#: the retain splits KPR reads
RETAIN_SPLITS = frozenset({"retain", "retain_train"})
#: the per-document column of an lm-eval utility task's first metric (medlethe.utility)
UTILITY_SCORE = "utility_score"
#: the answer score AFE, MU, the collateral matrix and the hierarchy use, per output type
PRIMARY = {
    "generate": "rouge_l_recall",
    "multiple_choice": "accuracy",
    "loglikelihood": "probability",
    "classify": "sample_f1",
    "lmeval": UTILITY_SCORE,
}
#: the accuracy FR and KPR use (harness choice: exact match for free text)
ACCURACY = {
    "generate": "exact_match",
    "multiple_choice": "accuracy",
    "classify": "class_accuracy",
}
#: Min-K %'s share of tokens (the Min-K paper's and MUSE's 40 %)
MIN_K = 0.4
#: bootstrap resamples and interval level of every aggregate
N_RESAMPLES = 1000
LEVEL = 0.95
#: the sampling unit of a task that declares none: each question on its own
DEFAULT_UNIT = "question"
#: the version of every built-in metric: 2 since intervals resample the task's sampling unit,
#: ROUGE-L stems, the truth ratio is TOFU's geometric form, PrivLeak MUSE's sign and
#: denominator, and Min-K takes floor(k n) tokens
CORE_VERSION = "2"
#: the range of a share, a probability or an AUC
UNIT = (0.0, 1.0)
