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
