"""Generation throughput: raw ``vllm.LLM.generate`` vs medlethe's vLLM backend vs medlethe's
transformers backend, on the same synthclinic questions and the same model.

    python bench/throughput.py [--model smollm2-135m] [--n 256] [--max-tokens 32]

Tokens per second = generated tokens / wall seconds of the generation call (engine start and
model loading excluded, one warm-up call first). Prints a Markdown row set for
docs/benchmarks.md and writes bench/throughput.json. Needs vLLM (``make test-vllm`` sets up
``.venv-vllm``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from functools import partial
from pathlib import Path
from typing import Any


def questions(n: int) -> list[str]:
    from medlethe.tasks.synthclinic.task import SynthclinicTask

    task = SynthclinicTask("patient-10")
    found: list[str] = []
    for split in ("forget", "retain", "holdout"):
        found += [i.prompt for i in task.instances(split)]
    return found[:n]


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--memory", type=float, default=0.3, help="gpu_memory_utilization")
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    args = parser.parse_args()
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

    import torch
    from vllm import LLM, SamplingParams

    from medlethe.backends import GenerateRequest
    from medlethe.backends.hf import HFBackend
    from medlethe.backends.vllm import VLLMBackend
    from medlethe.models import resolve_base_model

    model = resolve_base_model(args.model)
    prompts = questions(args.n)
    # Greedy, no stop sequences, the same token limit on every path: each generates the
    # same answers (up to ties), so tokens/s compare like for like.
    reqs = [GenerateRequest(p, args.max_tokens, ()) for p in prompts]
    rows: dict[str, dict[str, float]] = {}

    llm = LLM(
        model=model, gpu_memory_utilization=args.memory, seed=0, dtype="float32", enforce_eager=True
    )
    params = SamplingParams(temperature=0.0, max_tokens=args.max_tokens)
    llm.generate(prompts[:8], params, use_tqdm=False)
    outs, secs = timed(partial(llm.generate, prompts, params, use_tqdm=False))
    n_tok = sum(len(o.outputs[0].token_ids) for o in outs)
    rows["raw vllm.LLM.generate"] = {"tokens": n_tok, "seconds": secs}
    del llm
    import gc

    gc.collect()

    backend = VLLMBackend(model, gpu_memory_utilization=args.memory, dtype="float32")
    backend.generate(reqs[:8])
    res, secs = timed(lambda: backend.generate(reqs))
    rows["medlethe vllm backend"] = {"tokens": sum(r.n_tokens for r in res), "seconds": secs}
    from medlethe.backends.vllm import shutdown_engines

    shutdown_engines()

    hf = HFBackend(model, batch_size=32)
    hf.generate(reqs[:8])
    res, secs = timed(lambda: hf.generate(reqs))
    rows["medlethe hf backend"] = {"tokens": sum(r.n_tokens for r in res), "seconds": secs}

    for row in rows.values():
        row["tokens_per_s"] = row["tokens"] / row["seconds"]
    raw = rows["raw vllm.LLM.generate"]["tokens_per_s"]
    report = {
        "model": args.model,
        "prompts": len(prompts),
        "max_tokens": args.max_tokens,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"| path | tokens | seconds | tokens/s | vs raw vLLM |  ({report['machine']})")
    print("|---|---|---|---|---|")
    for name, row in rows.items():
        print(
            f"| {name} | {row['tokens']:.0f} | {row['seconds']:.1f} | "
            f"{row['tokens_per_s']:.1f} | {row['tokens_per_s'] / raw:.2f} |"
        )


if __name__ == "__main__":
    main()
