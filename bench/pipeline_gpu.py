"""The whole pipeline of one scenario on one model, timed stage by stage, with the peak GPU
memory and the fine-tuning throughput, and an estimate for a larger model at AMNESIA's size
(issue 33; `bench/gpu.sh` runs it).

    python bench/pipeline_gpu.py --model /models/Llama-3.2-1B-Instruct \\
        --train-args lora_rank=16,precision=bf16,chat_template=true \\
        --backend vllm --backend-args gpu_memory_utilization=0.5 --out pipeline.json

The estimate scales the measured fine-tuning seconds per token by the parameter count
(compute per token grows about linearly with it) and by the tokens of AMNESIA's size
(``--scale-patients``, default 8,820 patients against the scenario's): a planning number,
not a measurement, and labelled so.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from medlethe.cli import _kv


def _tokens(model: str, scenario: str, task_args: dict[str, Any], config: Any) -> int:
    """Tokens one fine-tune of the target reads (its examples times their epochs)."""
    from transformers import AutoTokenizer

    from medlethe.base_models import resolve_base_model
    from medlethe.training.pipeline import load_scenario

    task = load_scenario(scenario, task_args)
    tok = AutoTokenizer.from_pretrained(resolve_base_model(model, task))
    data = task.training_data("train")
    qa = sum(len(tok(f"{e.prompt} {e.answer}").input_ids) for e in data.examples)
    notes = sum(len(tok(t).input_ids) for t in data.texts)
    return int(qa * getattr(config, "qa_epochs", 1) + notes * getattr(config, "text_epochs", 0))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--scenario", default="synthclinic/patient-10")
    ap.add_argument("--task-args", type=_kv, default={})
    ap.add_argument("--train-args", type=_kv, default={})
    ap.add_argument("--methods", help="comma-separated (default: every built-in one)")
    ap.add_argument("--backend", default="hf")
    ap.add_argument("--backend-args", type=_kv, default={})
    ap.add_argument("--estimate-params", type=float, default=8.0e9,
                    help="parameters of the model to estimate for (Llama-3-8B)")
    ap.add_argument("--scale-patients", type=int, default=8820)
    ap.add_argument("--out", required=True)
    ap.add_argument("--keep-cache", action="store_true",
                    help="reuse cached models (default: an empty cache, so every stage runs)")
    args = ap.parse_args()
    import os

    if not args.keep_cache:
        os.environ["MEDLETHE_CACHE_DIR"] = tempfile.mkdtemp(prefix="medlethe-bench-")

    import torch

    from medlethe.run import run_pipeline
    from medlethe.training.pipeline import load_scenario, train_config

    task = load_scenario(args.scenario, args.task_args)
    config = train_config(args.model, args.train_args, task)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = run_pipeline(
            args.model, args.scenario, output=Path(tmp) / "run", task_args=args.task_args,
            methods=args.methods.split(",") if args.methods else None, train_config=config,
            backend=args.backend, backend_args=args.backend_args, echo=False,
        )
        timings = dict(out.summary["timings"])
        failures = out.summary["failures"]
    params = None
    try:
        from transformers import AutoConfig, AutoModelForCausalLM

        from medlethe.base_models import resolve_base_model

        with torch.device("meta"):
            meta = AutoModelForCausalLM.from_config(
                AutoConfig.from_pretrained(resolve_base_model(args.model, task)))
        params = sum(p.numel() for p in meta.parameters())
    except Exception:
        params = None
    tokens = _tokens(args.model, args.scenario, args.task_args, config)
    n_patients = int(args.task_args.get("n_patients", getattr(task, "n_patients", 0)) or 0)
    report: dict[str, Any] = {
        "model": args.model, "scenario": args.scenario, "train_args": args.train_args,
        "backend": args.backend, "backend_args": args.backend_args,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "wall_s": round(time.perf_counter() - started, 1), "timings_s": timings,
        "failures": failures, "parameters": params, "target_tokens": tokens,
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if cuda else None,
    }
    ft = timings.get("finetune_target_s")
    if ft and tokens:
        report["finetune_tokens_per_s"] = round(tokens / ft, 1)
        if params and n_patients:
            factor = (args.estimate_params / params) * (args.scale_patients / n_patients)
            report["estimate"] = {
                "what": "fine-tune of the target, scaled by parameters and patients "
                        "(not measured)",
                "params": args.estimate_params, "patients": args.scale_patients,
                "finetune_target_hours": round(ft * factor / 3600, 2),
            }
    Path(args.out).write_text(json.dumps(report, indent=2))
    rows = [f"| {k} | {v:.1f} |" for k, v in timings.items()]
    print("| stage | seconds |\n|---|---|\n" + "\n".join(rows))
    print(json.dumps({k: v for k, v in report.items() if k != "timings_s"}, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
