"""Registers the built-in unlearning methods (imported only when one is used). Each
method's description is the first line of its docstring (``medlethe methods``)."""

from __future__ import annotations

from medlethe import Register, hookimpl

_BUILTIN = "medlethe.methods.builtin"


@hookimpl
def register_methods(register: Register) -> None:
    register("GradAscent", f"{_BUILTIN}:GradAscent")
    register("GradDiff", f"{_BUILTIN}:GradDiff")
    register("KL-Min", f"{_BUILTIN}:KLMin")
    register("NPO", f"{_BUILTIN}:NPO")
    register("SimNPO", f"{_BUILTIN}:SimNPO")
    register("RMU", f"{_BUILTIN}:RMU")
    register("IdkPO", f"{_BUILTIN}:IdkPO")
    register("Retrain", f"{_BUILTIN}:Retrain")
    # DuoLearn and its ablations: one command runs the whole table
    duo = "medlethe.methods.duolearn"
    register("DuoLearn", f"{duo}:DuoLearn")
    register("DuoLearn/no-projection", f"{duo}:NO_PROJECTION",
             description="DuoLearn without the retain-orthogonal projection")
    register("DuoLearn/no-fisher", f"{duo}:NO_FISHER",
             description="DuoLearn updating every parameter (no Fisher mask)")
    register("DuoLearn/no-token-weights", f"{duo}:NO_TOKEN_WEIGHTS",
             description="DuoLearn with every forget token weighted 1")
    register("DuoLearn/dp", f"{duo}:DP_LORA",
             description="DuoLearn as a DP-LoRA update (Opacus RDP accountant, epsilon 4)")
    # STEU and the baselines of its paper: classifiers of classify tasks
    steu = "medlethe.methods.steu"
    register("STEU", f"{steu}:STEU")
    register("STEU-EmbeddingOnly", f"{steu}:STEUEmbeddingOnly")
    register("DirectSuppression", f"{steu}:DirectSuppression")
    register("ClassGradAscent", f"{steu}:ClassGradAscent")
    # Forget-MI and its baselines: image + text classifiers
    fmi = "medlethe.methods.forget_mi"
    register("ForgetMI", f"{fmi}:ForgetMI")
    register("ForgetMI/release", "medlethe.methods.forget_mi_release:ForgetMIRelease",
             description="Forget-MI as its authors' code runs it (evaluate with "
             "--backend-args head=image)")
    register("RetainFineTune", f"{fmi}:RetainFineTune")
    register("NegGrad+", f"{fmi}:NegGradPlus")
    register("FullGradAscent", f"{fmi}:FullGradAscent")


@hookimpl
def register_attacks(register: Register) -> None:
    attacks = "medlethe.methods.attacks"
    register("quantize-8bit", f"{attacks}:quantize_8bit")
    register("quantize-4bit", f"{attacks}:quantize_4bit")
    register("relearn", f"{attacks}:Relearn")
    register("relearn-forget", f"{attacks}:relearn_forget")
    register("linear-probe", f"{attacks}:LinearProbe")
    register("few-shot", f"{attacks}:FewShot")
    register("paraphrase", f"{attacks}:Paraphrase")
