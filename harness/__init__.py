"""medlethe: measure how well a language model forgets medical data, and what it still leaks.

Everything a plugin author or a script needs is importable from here (``__all__``);
``medlethe.task``, ``medlethe.metrics``, ``medlethe.unlearn``, ``medlethe.backends`` and
``medlethe.training`` (model families) hold the rest of each contract. Other modules are
internal. ``import medlethe`` is cheap: heavy modules load when a name is first used.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from medlethe._optional import lazy_attributes, optional_import
from medlethe.errors import MedletheError
from medlethe.hookspecs import Named, Register, hookimpl

__version__ = "0.1.0"

# torchao (the quantization attacks; transformers and peft import it where installed) warns
# at import about the CUDA kernels a CPU build lacks, and torch about its Enum registrations
for _noisy in ("torchao", "torch.utils._pytree"):
    logging.getLogger(_noisy).setLevel(logging.ERROR)

if TYPE_CHECKING:
    from medlethe.analysis import Analysis
    from medlethe.attack import Attack, AttackContext, AttackOutput
    from medlethe.backends import Backend
    from medlethe.evaluator import evaluate
    from medlethe.judge import compare
    from medlethe.kind import Kind, Requests, Row, applies, find_kind, kind_of
    from medlethe.metrics import Metric, RunMetric, Sample
    from medlethe.registry import Registry, get_registry
    from medlethe.results.evaluation import EvaluationRun
    from medlethe.run import run_pipeline
    from medlethe.spec import RunSpec
    from medlethe.task import Instance, Task, TrainingData, TrainingExample
    from medlethe.unlearn import (
        Batch,
        LossMethod,
        Method,
        MethodParams,
        UnlearnContext,
        UnlearnOutput,
        collate,
        encode,
        nll,
    )

_LAZY = {
    # running
    "evaluate": "medlethe.evaluator",
    "compare": "medlethe.judge",
    "run_pipeline": "medlethe.run",
    "RunSpec": "medlethe.spec",
    "EvaluationRun": "medlethe.results.evaluation",
    "get_registry": "medlethe.registry",
    "Registry": "medlethe.registry",
    # kinds of task
    "Kind": "medlethe.kind",
    "Requests": "medlethe.kind",
    "kind_of": "medlethe.kind",
    "find_kind": "medlethe.kind",
    "applies": "medlethe.kind",
    "Row": "medlethe.kind",
    # tasks
    "Task": "medlethe.task",
    "Instance": "medlethe.task",
    "TrainingData": "medlethe.task",
    "TrainingExample": "medlethe.task",
    # metrics
    "Metric": "medlethe.metrics",
    "Sample": "medlethe.metrics",
    "RunMetric": "medlethe.metrics",
    # methods
    "Method": "medlethe.unlearn",
    "LossMethod": "medlethe.unlearn",
    "MethodParams": "medlethe.unlearn",
    "UnlearnContext": "medlethe.unlearn",
    "UnlearnOutput": "medlethe.unlearn",
    "Batch": "medlethe.unlearn",
    "encode": "medlethe.unlearn",
    "collate": "medlethe.unlearn",
    "nll": "medlethe.unlearn",
    # backends
    "Backend": "medlethe.backends",
    # sweep analyses
    "Analysis": "medlethe.analysis",
    # attacks on unlearned models
    "Attack": "medlethe.attack",
    "AttackContext": "medlethe.attack",
    "AttackOutput": "medlethe.attack",
}


__getattr__ = lazy_attributes("medlethe", _LAZY, globals())


__all__ = [
    "Analysis",
    "Attack",
    "AttackContext",
    "AttackOutput",
    "Backend",
    "Batch",
    "EvaluationRun",
    "Instance",
    "Kind",
    "LossMethod",
    "MedletheError",
    "Method",
    "MethodParams",
    "Metric",
    "Named",
    "Register",
    "Registry",
    "Requests",
    "Row",
    "RunMetric",
    "RunSpec",
    "Sample",
    "Task",
    "TrainingData",
    "TrainingExample",
    "UnlearnContext",
    "UnlearnOutput",
    "__version__",
    "applies",
    "collate",
    "compare",
    "encode",
    "evaluate",
    "find_kind",
    "get_registry",
    "hookimpl",
    "kind_of",
    "nll",
    "optional_import",
    "run_pipeline",
]
