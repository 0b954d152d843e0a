"""Unlearning: the method contract, the batch helpers a loss is written with, and the
trainer. A method plugin imports from here (or from ``medlethe``) only."""

from medlethe.training.batch import Encoded, collate, encode
from medlethe.training.device import backward
from medlethe.training.loop import load_causal_lm
from medlethe.unlearn.base import (
    LM_TASKS,
    Batch,
    LossMethod,
    Method,
    MethodError,
    MethodParams,
    NoParams,
    UnlearnContext,
    UnlearnOutput,
    knobs,
)
from medlethe.unlearn.losses import (
    forward,
    kl_to_reference,
    nll,
    sequence_logprob,
    token_logprobs,
)

__all__ = [
    "LM_TASKS",
    "Batch",
    "Encoded",
    "LossMethod",
    "Method",
    "MethodError",
    "MethodParams",
    "NoParams",
    "UnlearnContext",
    "UnlearnOutput",
    "backward",
    "collate",
    "encode",
    "forward",
    "kl_to_reference",
    "knobs",
    "load_causal_lm",
    "nll",
    "sequence_logprob",
    "token_logprobs",
]
