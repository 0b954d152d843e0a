"""The transformers backend: the reference path. Batched, length-sorted, deterministic."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from itertools import groupby
from typing import Any, TypeVar

from medlethe.backends.base import (
    Backend,
    ClassifyRequest,
    ClassifyResult,
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    encode_loglikelihood,
    truncate_at_stop,
)
from medlethe.errors import BackendError
from medlethe.fingerprint import weights_fingerprint
from medlethe.training.batch import left_pad, right_pad

_DTYPES = ("float32", "bfloat16", "float16")
R = TypeVar("R")


def check_device(device: str, who: str) -> None:
    """An error naming the fix for a device this machine does not have (``cuda`` on a CPU
    build of torch or a machine without a GPU; ``cuda:3`` with two GPUs)."""
    if not isinstance(device, str) or device.split(":")[0] not in ("cpu", "cuda", "mps"):
        raise BackendError(f"{who}: device must be cpu, cuda, cuda:N or mps, got {device!r}")
    if device == "cpu":
        return
    import torch

    if device.startswith("cuda"):
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= n:
            build = "a CPU-only build" if torch.version.cuda is None else (
                f"built for CUDA {torch.version.cuda}")
            raise BackendError(
                f"{who}: device {device!r} is not here: torch {torch.__version__} is {build} "
                f"and sees {n} GPU(s). Use device=cpu, or install a CUDA build of torch on a "
                "machine with a GPU."
            )
    elif not torch.backends.mps.is_available():
        raise BackendError(f"{who}: device 'mps' is not available here; use device=cpu.")


class HFBackend(Backend):
    """A Hugging Face causal LM or sequence classifier (hub id or local folder), plus an
    optional PEFT adapter.

    Generation is greedy with left padding; log-likelihoods use right padding; ``classify``
    loads the folder with ``AutoModelForSequenceClassification`` and returns its logits
    (texts truncated to the model's positions; ``head=NAME`` reads the output's
    ``NAME_logits`` instead, e.g. fusion-tiny's image head). Requests are sorted by length
    inside each call so batches waste little padding; results come back in request order.
    """

    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        *,
        batch_size: int | str = 16,
        max_batch_size: int = 64,
        dtype: str = "float32",
        device: str = "auto",
        revision: str | None = None,
        seed: int = 1234,
        share_prefix: bool = True,
        head: str | None = None,
    ) -> None:
        super().__init__()
        if head is not None and not (isinstance(head, str) and head.isidentifier()):
            raise BackendError(f"hf backend: head must be a name such as image, got {head!r}")
        if dtype not in _DTYPES:
            raise BackendError(f"hf backend: dtype {dtype!r} is not one of {', '.join(_DTYPES)}")
        auto = batch_size == "auto"
        if not auto and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                         or batch_size < 1):
            raise BackendError(f"hf backend: batch_size must be a whole number at least 1 or "
                               f"auto, got {batch_size!r}")
        if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int) or (
                max_batch_size < 1):
            raise BackendError("hf backend: max_batch_size must be a whole number at least 1")
        if device == "auto":  # the first GPU where there is one, as training does
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        check_device(device, "hf backend")
        self.model_name = model
        self.adapter = adapter
        self.batch_size = batch_size
        self.max_batch_size = max_batch_size
        #: the batch size in use: batch_size, or with auto the largest that ran without
        #: running out of memory (from max_batch_size, halving, as lm-eval finds it)
        self._bs = max_batch_size if auto else int(batch_size)
        self.dtype = dtype
        self.device = device
        self.revision = revision
        self.seed = seed
        self.share_prefix = share_prefix
        self.head = head

    # -- provenance -----------------------------------------------------------------------
    def fingerprint(self) -> str:
        found = weights_fingerprint(
            self.model_name, self.adapter, self.revision, self.dtype, self.device
        )
        # the shared-context path rounds differently (agreeing within 1e-4)
        found = f"{found}:shared-prefix" if self.share_prefix else found
        return f"{found}:head={self.head}" if self.head else found

    def describe(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            **({"found_batch_size": self._bs} if self.batch_size == "auto" else {}),
            "dtype": self.dtype,
            "device": self.device,
            "revision": self.revision,
            "seed": self.seed,
            "share_prefix": self.share_prefix,
            "head": self.head,
        }

    @property
    def preferred_chunk(self) -> int:
        return self._bs * 4

    # -- loading --------------------------------------------------------------------------
    @functools.cached_property
    def _loaded(self) -> tuple[Any, Any]:
        from transformers import AutoModelForCausalLM

        return self._load(AutoModelForCausalLM)

    @functools.cached_property
    def _classifier(self) -> tuple[Any, Any]:
        from transformers import AutoModelForSequenceClassification

        import medlethe.base_models.fusion  # noqa: F401  (registers fusion-tiny)

        return self._load(AutoModelForSequenceClassification)

    def _load(self, auto: Any) -> tuple[Any, Any]:
        import torch
        from transformers import AutoTokenizer

        torch.manual_seed(self.seed)
        try:
            tok = AutoTokenizer.from_pretrained(self.model_name, revision=self.revision)
            model: Any = auto.from_pretrained(
                self.model_name, revision=self.revision, dtype=getattr(torch, self.dtype)
            )
        except OSError as exc:
            raise BackendError(
                f"hf backend could not load model {self.model_name!r}: {exc}. Give a local "
                "folder with config.json and weights, or a hub id reachable from this machine."
            ) from exc
        if self.adapter:
            from peft import PeftModel

            try:
                model = PeftModel.from_pretrained(model, self.adapter)
            except (OSError, ValueError) as exc:
                raise BackendError(
                    f"hf backend could not load adapter {self.adapter!r}: {exc}"
                ) from exc
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        model.to(self.device).eval()
        return tok, model

    # -- classification -------------------------------------------------------------------
    def _sized(self, run: Callable[[], list[R]]) -> list[R]:
        """``run()`` at the batch size in use; with ``batch_size=auto``, again at half the
        size after an out-of-memory error (accelerate's find_executable_batch_size)."""
        if self.batch_size != "auto":
            return run()
        from accelerate.utils import find_executable_batch_size

        def halve() -> int:
            return self._bs // 2

        def attempt(size: int) -> list[R]:
            self._bs = size
            return run()

        sized = find_executable_batch_size(attempt, starting_batch_size=self._bs,
                                           reduce_batch_size_fn=halve)
        return sized()

    def classify(self, requests: Sequence[ClassifyRequest]) -> list[ClassifyResult]:
        return self._sized(lambda: self._classify(requests))

    def _classify(self, requests: Sequence[ClassifyRequest]) -> list[ClassifyResult]:
        import torch

        tok, model = self._classifier
        limit = min(self._max_length(model), 512)
        encoded = [tok(r.text, truncation=True, max_length=limit).input_ids for r in requests]
        from medlethe.training.classifier import count_truncated

        count_truncated(tok, [r.text for r in requests], limit, "hf backend (classify)")
        order = sorted(range(len(requests)), key=lambda i: -len(encoded[i]))
        out: list[ClassifyResult | None] = [None] * len(requests)
        pad = tok.pad_token_id
        for start in range(0, len(order), self._bs):
            batch = order[start : start + self._bs]
            ids, mask = right_pad([encoded[i] for i in batch], pad)
            extra: dict[str, Any] = {}
            images = [requests[i].image for i in batch]
            if any(images):
                from medlethe.training.classifier import load_images

                if not all(images):
                    raise BackendError("hf backend: a classify batch mixes texts with and "
                                       "without images; give every request an image or none.")
                extra["pixel_values"] = load_images([str(p) for p in images]).to(self.device)
            with torch.no_grad():
                output = model(input_ids=ids.to(self.device),
                               attention_mask=mask.to(self.device), **extra)
            logits = self._head_logits(output).float()
            for row, i in enumerate(batch):
                out[i] = ClassifyResult(logits=tuple(logits[row].tolist()))
            self.model_calls += len(batch)
        return [r for r in out if r is not None]

    def _head_logits(self, output: Any) -> Any:
        if self.head is None:
            return output.logits
        found = getattr(output, f"{self.head}_logits", None)
        if found is None:
            heads = sorted(k[: -len("_logits")] for k in output if k.endswith("_logits"))
            raise BackendError(
                f"hf backend: the model {self.model_name} has no {self.head!r} head (its "
                f"output has {', '.join(heads) or 'no named heads'}); drop head= from "
                "--backend-args or give one of those."
            )
        return found

    def _max_length(self, model: Any) -> int:
        return int(getattr(model.config, "max_position_embeddings", 2048) or 2048)

    # -- generation -----------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        return self._sized(lambda: self._generate(requests))

    def _generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        import torch

        tok, model = self._loaded
        out: list[GenerateResult | None] = [None] * len(requests)
        encoded = [tok(r.prompt).input_ids for r in requests]
        order = sorted(
            range(len(requests)),
            key=lambda i: (requests[i].max_new_tokens, requests[i].stop, -len(encoded[i])),
        )

        def params(i: int) -> tuple[int, tuple[str, ...]]:
            return requests[i].max_new_tokens, requests[i].stop

        for (max_new, stop), group in groupby(order, key=params):
            idx = list(group)
            limit = self._max_length(model) - max_new
            for start in range(0, len(idx), self._bs):
                batch = idx[start : start + self._bs]
                pad = tok.pad_token_id
                ids, mask = left_pad([encoded[i][-limit:] for i in batch], pad)
                width = ids.shape[1]
                kwargs: dict[str, Any] = {}
                if stop:
                    kwargs = {"stop_strings": list(stop), "tokenizer": tok}
                with torch.no_grad():
                    gen = model.generate(
                        input_ids=ids.to(self.device),
                        attention_mask=mask.to(self.device),
                        max_new_tokens=max_new,
                        do_sample=False,
                        pad_token_id=pad,
                        **kwargs,
                    )
                for row, i in enumerate(batch):
                    new = gen[row, width:].tolist()
                    text = truncate_at_stop(tok.decode(new, skip_special_tokens=True), stop)
                    n = len(tok(text, add_special_tokens=False).input_ids)
                    out[i] = GenerateResult(text=text, n_tokens=n)
                self.model_calls += len(batch)
        return [r for r in out if r is not None]

    # -- log-likelihood -------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        tok, model = self._loaded
        max_len = self._max_length(model)
        pairs = [encode_loglikelihood(tok, r, max_len, "hf") for r in requests]
        run = self._shared_loglikelihood if self.share_prefix else self._plain_loglikelihood
        out = self._sized(lambda: run(model, tok.pad_token_id, pairs))
        self.model_calls += len(requests)
        return out

    def _plain_loglikelihood(
        self, model: Any, pad: int, pairs: Sequence[tuple[list[int], int]]
    ) -> list[LoglikelihoodResult]:
        """One forward pass per request (context + continuation), batched by length. Left
        padding lines every continuation up at the end of its row, so the output layer runs
        only over the last (longest continuation + 1) positions, not the whole prompt."""
        import torch

        order = sorted(range(len(pairs)), key=lambda i: -len(pairs[i][0]))
        out: list[LoglikelihoodResult | None] = [None] * len(pairs)
        dev = self.device
        for start in range(0, len(order), self._bs):
            batch = order[start : start + self._bs]
            ids, mask = left_pad([pairs[i][0] for i in batch], pad)
            keep = max(pairs[i][1] for i in batch) + 1
            inputs = {"input_ids": ids.to(dev), "attention_mask": mask.to(dev),
                      "position_ids": (mask.cumsum(1) - 1).clamp_min(0).to(dev)}
            with torch.no_grad():
                output, kept = _forward_keeping(model, inputs, keep)
                logits = output.logits if kept else output.logits[:, -keep:]
            for row, i in enumerate(batch):
                whole, n = pairs[i]
                out[i] = _scored(logits[row, keep - 1 - n : keep - 1], whole[len(whole) - n :])
        return [r for r in out if r is not None]

    def _shared_loglikelihood(
        self, model: Any, pad: int, pairs: Sequence[tuple[list[int], int]]
    ) -> list[LoglikelihoodResult]:
        """Requests that share a context (the options of a multiple-choice question) run
        that context once: a batch of distinct contexts goes through the model with its
        key/value cache kept and logits only at each context's last position (which
        predict every option's first token); then each continuation of more than one token
        runs over its context's cached state. Same tokens as the plain path; log-probs
        agree to float rounding (tested within 1e-4)."""
        import torch

        groups: dict[tuple[int, ...], list[int]] = {}
        for i, (whole, n) in enumerate(pairs):
            groups.setdefault(tuple(whole[: len(whole) - n]), []).append(i)
        contexts = sorted(groups, key=len, reverse=True)
        out: list[LoglikelihoodResult | None] = [None] * len(pairs)
        dev = self.device
        for start in range(0, len(contexts), self._bs):
            batch = contexts[start : start + self._bs]
            ids, mask = right_pad([list(c) for c in batch], pad)
            last = mask.sum(1) - 1
            keep = torch.unique(last)
            rows = [(b, i) for b, c in enumerate(batch) for i in groups[c]]
            longer = [(b, i) for b, i in rows if pairs[i][1] > 1]
            with torch.no_grad():
                inputs = {"input_ids": ids.to(dev), "attention_mask": mask.to(dev),
                          "use_cache": bool(longer)}
                first, kept = _forward_keeping(model, inputs, keep.to(dev))
                where = torch.searchsorted(keep, last) if kept else last
                at_last = first.logits[torch.arange(len(batch)), where.to(dev)]
                rest: dict[int, Any] = {}
                if longer:
                    which = torch.tensor([b for b, _ in longer])
                    cache = first.past_key_values
                    cache.reorder_cache(which.to(dev))
                    tails = [pairs[i][0][len(pairs[i][0]) - pairs[i][1] : -1] for _, i in longer]
                    tail_ids, tail_mask = right_pad(tails, pad)
                    positions = last[which][:, None] + 1 + torch.arange(tail_ids.shape[1])
                    logits = model(
                        input_ids=tail_ids.to(dev),
                        attention_mask=torch.cat([mask[which], tail_mask], 1).to(dev),
                        position_ids=positions.to(dev), past_key_values=cache, use_cache=False,
                    ).logits
                    rest = {i: logits[row, : len(t)] for row, ((_, i), t) in
                            enumerate(zip(longer, tails, strict=True))}
            for b, i in rows:
                whole, n = pairs[i]
                steps = at_last[b][None]
                if n > 1:
                    steps = torch.cat([steps, rest[i]], 0)
                out[i] = _scored(steps, whole[len(whole) - n :])
        return [r for r in out if r is not None]


def _forward_keeping(model: Any, inputs: dict[str, Any], keep: Any) -> tuple[Any, bool]:
    """``model(**inputs)`` computing logits only where ``keep`` says (a number of last
    positions, or a tensor of positions), and whether it could: a model without
    ``logits_to_keep`` computes them at every position."""
    try:
        return model(**inputs, logits_to_keep=keep), True
    except TypeError:
        return model(**inputs), False


def _scored(logits: Any, cont: Sequence[int]) -> LoglikelihoodResult:
    """A continuation's per-token log-probs, greedy flags and the mean and spread of the
    log-prob distribution at each position, from the logits that predict its tokens."""
    import torch

    lp = torch.log_softmax(logits.float(), dim=-1)
    gold = torch.tensor(list(cont), device=lp.device)
    token_lp = lp.gather(-1, gold[:, None])[:, 0]
    greedy = lp.argmax(-1) == gold
    probs = lp.exp()
    mu = (probs * lp).sum(-1)
    var = (probs * lp * lp).sum(-1) - mu * mu
    return LoglikelihoodResult(
        logprobs=tuple(token_lp.tolist()),
        is_greedy=tuple(bool(g) for g in greedy.tolist()),
        dist_mean=tuple(mu.tolist()),
        dist_std=tuple(var.clamp_min(0).sqrt().tolist()),
    )
