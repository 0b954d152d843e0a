"""The backend contract: greedy generation and token-level log-likelihoods."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from medlethe.hookspecs import Named


@dataclass(frozen=True)
class GenerateRequest:
    """Greedy continuation of ``prompt``, at most ``max_new_tokens``, cut at any ``stop``."""

    prompt: str
    max_new_tokens: int
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class GenerateResult:
    text: str
    n_tokens: int


@dataclass(frozen=True)
class LoglikelihoodRequest:
    """Score ``continuation`` given ``context`` (the continuation includes any delimiter)."""

    context: str
    continuation: str


@dataclass(frozen=True)
class LoglikelihoodResult:
    """Per continuation token: log p(token | prefix), whether it was the argmax, and the mean
    and standard deviation of log p over the whole vocabulary at that position (the
    statistics Min-K%++ normalises with; ``None`` where a backend cannot give them)."""

    logprobs: tuple[float, ...]
    is_greedy: tuple[bool, ...]
    dist_mean: tuple[float, ...] | None = None
    dist_std: tuple[float, ...] | None = None

    @property
    def total(self) -> float:
        return float(sum(self.logprobs))

    @property
    def mean(self) -> float:
        return self.total / max(len(self.logprobs), 1)

    @property
    def probability(self) -> float:
        """exp(-mean token NLL): the length-normalised probability."""
        return math.exp(self.mean)


@dataclass(frozen=True)
class ClassifyRequest:
    """The per-class logits of a sequence classifier on ``text`` (and, for an image + text
    classifier, the image at path ``image``)."""

    text: str
    image: str | None = None


@dataclass(frozen=True)
class ClassifyResult:
    """One logit per class, in the model's label order (the task's ``classes``)."""

    logits: tuple[float, ...]


def result_to_json(
    result: GenerateResult | LoglikelihoodResult | ClassifyResult,
) -> dict[str, Any]:
    return asdict(result)


def classify_result_from_json(data: dict[str, Any]) -> ClassifyResult:
    return ClassifyResult(logits=tuple(float(v) for v in data["logits"]))


def generate_result_from_json(data: dict[str, Any]) -> GenerateResult:
    return GenerateResult(text=str(data["text"]), n_tokens=int(data["n_tokens"]))


def loglikelihood_result_from_json(data: dict[str, Any]) -> LoglikelihoodResult:
    def tup(key: str) -> tuple[float, ...] | None:
        value = data.get(key)
        return None if value is None else tuple(float(v) for v in value)

    return LoglikelihoodResult(
        logprobs=tuple(float(v) for v in data["logprobs"]),
        is_greedy=tuple(bool(v) for v in data["is_greedy"]),
        dist_mean=tup("dist_mean"),
        dist_std=tup("dist_std"),
    )


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """Cut ``text`` before the earliest occurrence of any stop sequence."""
    cut = len(text)
    for s in stop:
        if s:
            pos = text.find(s)
            if pos != -1:
                cut = min(cut, pos)
    return text[:cut]


def encode_loglikelihood(
    tokenizer: Any, request: LoglikelihoodRequest, max_len: int, backend: str
) -> tuple[list[int], int]:
    """Token ids of context + continuation (left-truncated to ``max_len``) and how many of the
    last ids are the continuation. Every backend scores exactly these tokens."""
    ctx = list(tokenizer(request.context).input_ids)
    if not ctx:
        bos = tokenizer.bos_token_id
        ctx = [bos if bos is not None else tokenizer.eos_token_id]
    cont = list(tokenizer(request.continuation, add_special_tokens=False).input_ids)
    if not cont:
        from medlethe.errors import BackendError

        raise BackendError(
            f"{backend} backend: continuation {request.continuation[:40]!r} encodes to no "
            "tokens; the task's target is empty."
        )
    return (ctx + cont)[-max_len:], len(cont)


class Backend(Named, ABC):
    """Subclass this to run models somewhere new; register it with ``register_backends``.

    A backend is built as ``Backend(model=..., adapter=..., **args)`` and must not load
    weights before the first request, so a run answered entirely from the cache is fast.
    ``model_calls`` counts the requests the model actually computed. It answers the
    request kinds of the models it runs: language models ``generate`` and
    ``loglikelihood``, sequence classifiers ``classify``; a kind it does not override is an
    error naming the backend.
    """

    def __init__(self) -> None:
        self.model_calls = 0

    @abstractmethod
    def fingerprint(self) -> str:
        """A string that changes whenever the model, adapter or numerics change."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """The arguments and settings recorded in the results file."""

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        """Greedy generations, in request order."""
        raise self.unsupported("generate")

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        """Token-level log-likelihoods, in request order."""
        raise self.unsupported("loglikelihood")

    def classify(self, requests: Sequence[ClassifyRequest]) -> list[ClassifyResult]:
        """Per-class logits of a sequence classifier, in request order."""
        raise self.unsupported("classify")

    def unsupported(self, kind: str) -> Exception:
        from medlethe.errors import BackendError

        return BackendError(
            f"backend {self.name!r} does not answer {kind} requests; the 'hf' backend "
            "answers every kind (generate and loglikelihood for causal LMs, classify for "
            "sequence classifiers)."
        )

    @property
    def preferred_chunk(self) -> int:
        """How many requests the cache layer hands over at a time (a few batches)."""
        return 64
