"""Generation throughput: raw ``vllm.LLM.generate`` vs medlethe's vLLM backend vs medlethe's
transformers backend, on the same synthclinic questions and the same model.

    python bench/throughput.py [--model smollm2-135m] [--n 256] [--max-tokens 32]

Tokens per second = generated tokens / wall seconds of the generation call (engine start and
model loading excluded, one warm-up call first); each path runs in a fresh process, the paths
take turns for ``--rounds`` rounds and the median round is reported. Prints a Markdown row set for
docs/benchmarks.md and writes bench/throughput.json. Needs vLLM (``make test-vllm`` sets up
``.venv-vllm``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
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


PATHS = ("raw vllm.LLM.generate", "medlethe vllm backend", "medlethe hf backend")


def measure(path: str, args: argparse.Namespace) -> dict[str, Any]:
    """One path, in this process: a warm-up call, then the timed call on all prompts.
    Tokens are counted the same way on every path: the answer text re-tokenised."""
    from medlethe.backends import GenerateRequest
    from medlethe.base_models import resolve_base_model

    model = resolve_base_model(args.model)
    prompts = questions(args.n)
    # Greedy, no stop sequences, the same token limit on every path: each generates the
    # same answers (up to ties), so tokens/s compare like for like.
    reqs = [GenerateRequest(p, args.max_tokens, ()) for p in prompts]
    if path == PATHS[0]:
        from vllm import LLM, SamplingParams

        llm = LLM(
            model=model,
            gpu_memory_utilization=args.memory,
            kv_cache_memory_bytes=args.kv_bytes,
            seed=1234,
            dtype="float32",
            enforce_eager=True,
        )
        params = SamplingParams(temperature=0.0, max_tokens=args.max_tokens)
        llm.generate(prompts[:8], params, use_tqdm=False)
        outs, secs = timed(partial(llm.generate, prompts, params, use_tqdm=False))
        tok = llm.get_tokenizer()
        texts = [o.outputs[0].text for o in outs]
    else:
        if path == PATHS[1]:
            from medlethe.backends.vllm import VLLMBackend

            backend: Any = VLLMBackend(
                model, gpu_memory_utilization=args.memory, kv_cache_memory_bytes=args.kv_bytes
            )
        else:
            from medlethe.backends.hf import HFBackend

            backend = HFBackend(model, batch_size=args.hf_batch, device=args.device)
        backend.generate(reqs[:8])
        res, secs = timed(partial(backend.generate, reqs))
        texts = [r.text for r in res]
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model)
    tokens = sum(len(tok(t, add_special_tokens=False).input_ids) for t in texts)
    return {"tokens": tokens, "seconds": secs, "tokens_per_s": tokens / secs, "texts": texts}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--memory", type=float, default=0.3, help="gpu_memory_utilization")
    parser.add_argument(
        "--kv-bytes", type=int, default=2 << 30, help="kv_cache_memory_bytes, the same on both"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all paths; median kept")
    parser.add_argument("--hf-batch", type=int, default=32, help="hf backend batch size")
    parser.add_argument("--device", default="cpu", help="the hf backend's device (cpu, cuda)")
    parser.add_argument("--out", default=str(Path(__file__).with_suffix(".json")))
    parser.add_argument("--only", choices=PATHS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    if args.only:  # child process: print one JSON line
        print("MEASURED " + json.dumps(measure(args.only, args)), flush=True)
        return

    import torch

    # Each path in its own process: an engine that is not fully torn down (threads, memory)
    # would otherwise slow the next path down. The paths take turns for --rounds rounds, so
    # a slow spell of a shared machine hits all of them; the median round is reported.
    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in PATHS}
    for _ in range(args.rounds):
        for path in PATHS:
            proc = subprocess.run(
                [sys.executable, __file__, *sys.argv[1:], "--only", path],
                capture_output=True,
                text=True,
                check=False,
            )
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("MEASURED ")), None)
            if line is None:
                sys.exit(f"{path} failed:\n{proc.stderr[-3000:]}")
            runs[path].append(json.loads(line[len("MEASURED ") :]))
    rows: dict[str, dict[str, Any]] = {}
    for path, measured in runs.items():
        ordered = sorted(measured, key=lambda m: m["seconds"])
        row = dict(ordered[len(ordered) // 2])
        row["seconds_all_rounds"] = [round(m["seconds"], 2) for m in measured]
        row["tokens_per_s_range"] = [
            round(ordered[-1]["tokens_per_s"], 1),
            round(ordered[0]["tokens_per_s"], 1),
        ]
        rows[path] = row
    reference = rows[PATHS[0]].pop("texts")
    for row in rows.values():
        texts = row.pop("texts", reference)
        row["answers_differing_from_raw"] = sum(
            a.strip() != b.strip() for a, b in zip(texts, reference, strict=True)
        )
    raw = rows[PATHS[0]]["tokens_per_s"]
    hf = rows[PATHS[2]]["tokens_per_s"]
    report = {
        "model": args.model,
        "prompts": args.n,
        "max_tokens": args.max_tokens,
        "rounds": args.rounds,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"({report['machine']})")
    print(f"median of {args.rounds} rounds (tokens/s range over rounds in brackets)")
    print("| path | tokens | seconds | tokens/s | vs raw vLLM | vs hf | answers differing |")
    print("|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        lo, hi = row["tokens_per_s_range"]
        print(
            f"| {name} | {row['tokens']:.0f} | {row['seconds']:.1f} | "
            f"{row['tokens_per_s']:.1f} [{lo:.0f}, {hi:.0f}] | {row['tokens_per_s'] / raw:.2f} | "
            f"{row['tokens_per_s'] / hf:.1f}x | {row['answers_differing_from_raw']} |"
        )


if __name__ == "__main__":
    main()
