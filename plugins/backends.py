"""Built-in model backends. The factory strings keep torch out of start-up."""

from __future__ import annotations

from medlethe import Register, hookimpl


@hookimpl
def register_backends(register: Register) -> None:
    register(
        "hf",
        "medlethe.backends.hf:HFBackend",
        description="transformers (+ PEFT adapter); the reference path",
    )
    register(
        "vllm",
        "medlethe.backends.vllm:VLLMBackend",
        description="vLLM: batched, LoRA adapters on one engine per base model",
    )
