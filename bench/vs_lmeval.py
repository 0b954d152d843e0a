"""medlethe's hf backend against lm-eval's hf model on the same 4-option multiple-choice
log-likelihood requests.

    .venv-lmeval/bin/python bench/vs_lmeval.py [--rows medmcqa.jsonl] [--n 60] [--rounds 2]

From one set of rows (MedMCQA's layout: question, opa..opd, cop; ``--rows`` reads a local
copy of the real data, otherwise clinical questions are made from ICD-10-CM titles) it
writes the same task twice, as a medlethe YAML task and as an lm-eval task config (same
prompt ``Question: ...\\nA. ...\\nAnswer:``, same options, target delimiter " "). Each path
runs in a fresh process: it loads the model (float32, batch size 16, ``--device``), builds its
requests through its own task code, warms up on 8 requests, then times the scoring call
alone (``lm.loglikelihood`` for lm-eval; the cached-backend call that ``medlethe evaluate``
makes, with no response cache, for medlethe). Paths take turns for ``--rounds`` rounds; the
median is reported, with each path's whole process time beside it. The per-option
log-probs of every path are checked against lm-eval's (largest difference printed) and
the accuracies compared question by question. Needs lm-eval (``pip install
'medlethe[lmeval]'``, after ``torch==2.13.0``); prints Markdown for docs/benchmarks.md and
writes bench/vs_lmeval.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PATHS = {
    "lm-eval hf": "lmeval",
    "medlethe hf, shared context (default)": "shared",
    "medlethe hf, one pass per option": "plain",
    "medlethe vllm": "vllm",
}
DEFAULT_PATHS = "lmeval,shared,plain"
PROMPT = "Question: {{question}}\nA. {{opa}}\nB. {{opb}}\nC. {{opc}}\nD. {{opd}}\nAnswer:"


def make_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Clinical vignettes whose options are ICD-10-CM titles (MedMCQA's layout)."""
    import simple_icd_10_cm as icd

    rng = random.Random(seed)
    titles = [icd.get_description(c) for c in icd.get_all_codes(with_dots=True)
              if icd.is_leaf(c) and len(icd.get_description(c).split()) <= 10]
    rows = []
    for i in range(n):
        options = rng.sample(titles, 4)
        gold = rng.randrange(4)
        findings = ", ".join(t.lower() for t in rng.sample(titles, rng.randint(1, 3)))
        question = (f"A {rng.randint(18, 90)}-year-old {rng.choice(['man', 'woman'])} with a "
                    f"history of {findings} presents to the clinic. Which diagnosis is the "
                    "most likely?")
        rows.append({"id": f"q{i}", "question": question, "opa": options[0],
                     "opb": options[1], "opc": options[2], "opd": options[3], "cop": gold})
    return rows


def write_tasks(rows: list[dict[str, Any]], folder: Path) -> tuple[Path, Path]:
    data = folder / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    medlethe_yaml = folder / "medlethe_task.yaml"
    medlethe_yaml.write_text(
        "schema_version: 1\ntask: bench/mcq\nversion: \"1.0\"\n"
        "description: 4-option multiple choice (speed bench)\noutput_type: multiple_choice\n"
        f"dataset:\n  path: json\n  data_files:\n    test: {data}\n"
        "splits:\n  test: {source: test}\n"
        f"doc_to_text: {json.dumps(PROMPT)}\n"
        "doc_to_choice: \"[opa, opb, opc, opd]\"\ndoc_to_gold: \"cop\"\n"
    )
    lm_dir = folder / "lmeval_tasks"
    lm_dir.mkdir(exist_ok=True)
    (lm_dir / "bench_mcq.yaml").write_text(
        "task: bench_mcq\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data}\n"
        "test_split: test\noutput_type: multiple_choice\n"
        f"doc_to_text: {json.dumps(PROMPT)}\n"
        "doc_to_choice: \"{{[opa, opb, opc, opd]}}\"\ndoc_to_target: cop\n"
        "target_delimiter: \" \"\nmetric_list:\n  - metric: acc\n"
    )
    return medlethe_yaml, lm_dir


def measure(path: str, model: str, folder: Path, batch_size: int, device: str) -> dict[str, Any]:
    """One path in this process; returns the scoring seconds and the per-option log-probs."""
    if path == "lmeval":
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager, get_task_dict

        lm = HFLM(pretrained=model, batch_size=batch_size, dtype="float32", device=device)
        task = get_task_dict(["bench_mcq"], TaskManager(include_path=str(folder / "lmeval_tasks")))
        t = task["bench_mcq"]
        t.build_all_requests(limit=None, rank=0, world_size=1)
        reqs = [inst for inst in t.instances]
        lm.loglikelihood(reqs[:8])
        start = time.perf_counter()
        out = lm.loglikelihood(reqs)
        seconds = time.perf_counter() - start
        keyed = sorted(zip(reqs, out, strict=True), key=lambda p: (p[0].doc_id, p[0].idx))
        return {"seconds": seconds, "logprobs": [float(r[0]) for _, r in keyed],
                "requests": len(reqs)}
    from medlethe.backends import LoglikelihoodRequest
    from medlethe.backends.hf import HFBackend
    from medlethe.cache import CachedBackend
    from medlethe.task.yaml_task import ConfigTask

    task = ConfigTask.from_file(folder / "medlethe_task.yaml")
    reqs = [LoglikelihoodRequest(i.prompt, i.target_delimiter + c)
            for i in task.instances("test") for c in i.choices]
    backend: Any
    if path == "vllm":
        from medlethe.backends.vllm import VLLMBackend

        backend = VLLMBackend(model)
    else:
        backend = HFBackend(model, batch_size=batch_size, share_prefix=path == "shared",
                            device=device)
    runner = CachedBackend(backend, None, progress=False)
    runner.loglikelihood(reqs[:8])
    start = time.perf_counter()
    found = runner.loglikelihood(reqs)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "logprobs": [sum(r.logprobs) for r in found],
            "requests": len(reqs)}


def child(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    result = measure(args.child, args.model, Path(args.folder), args.batch_size, args.device)
    Path(args.out).write_text(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m", help="a medlethe model name or a folder")
    ap.add_argument("--rows", help="MedMCQA-layout jsonl (question, opa..opd, cop)")
    ap.add_argument("--n", type=int, default=60, help="questions")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--paths", default=DEFAULT_PATHS, help=f"of {', '.join(PATHS.values())}")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (hf paths and lm-eval)")
    ap.add_argument("--json", default=str(Path(__file__).with_name("vs_lmeval.json")))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    from medlethe.base_models import resolve_base_model

    model = resolve_base_model(args.model)
    if args.rows:
        rows = [json.loads(line) for line in Path(args.rows).read_text().splitlines()
                if line.strip()][: args.n]
    else:
        rows = make_rows(args.n)
    folder = Path(tempfile.mkdtemp(prefix="medlethe-vs-lmeval-"))
    write_tasks(rows, folder)
    chosen = [p for p in args.paths.split(",") if p]
    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in chosen}
    for r in range(args.rounds):
        for p in chosen if r % 2 == 0 else reversed(chosen):
            out = folder / f"{p}-{r}.json"
            start = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--child", p, "--model", model,
                            "--folder", str(folder), "--out", str(out), "--batch-size",
                            str(args.batch_size), "--threads", str(args.threads), "--device",
                            args.device], check=True)
            found = json.loads(out.read_text())
            found["process"] = time.perf_counter() - start
            runs[p].append(found)
            print(f"round {r + 1} {p}: scoring {found['seconds']:.1f} s, process "
                  f"{found['process']:.1f} s", file=sys.stderr)
    gold = [int(row["cop"]) for row in rows]
    ref = runs.get("lmeval", next(iter(runs.values())))[0]["logprobs"]

    def accuracy(lps: list[float]) -> list[bool]:
        return [max(range(4), key=lambda k: lps[4 * q + k]) == gold[q] for q in range(len(gold))]

    base = statistics.median(r["seconds"] for r in runs["lmeval"]) if "lmeval" in runs else None
    table = []
    for p in chosen:
        med = statistics.median(r["seconds"] for r in runs[p])
        lps = runs[p][0]["logprobs"]
        table.append({
            "path": next(k for k, v in PATHS.items() if v == p), "scoring_s": round(med, 2),
            "process_s": round(statistics.median(r["process"] for r in runs[p]), 1),
            "speed_vs_lmeval": round(base / med, 2) if base else None,
            "max_abs_logprob_diff": max(abs(a - b) for a, b in zip(lps, ref, strict=True)),
            "same_answer_questions": sum(a == b for a, b in zip(accuracy(lps), accuracy(ref),
                                                                 strict=True)),
            "accuracy": sum(accuracy(lps)) / len(gold),
        })
    meta = {"model": args.model, "questions": len(rows), "requests": runs[chosen[0]][0][
        "requests"], "rows": args.rows or "ICD-10-CM vignettes", "rounds": args.rounds,
        "batch_size": args.batch_size, "threads": args.threads, "device": args.device,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
    Path(args.json).write_text(
        json.dumps({"meta": meta, "paths": table}, indent=2) + "\n")
    print(f"{meta['questions']} questions, {meta['requests']} requests, {meta['model']}, "
          f"batch {args.batch_size}, {args.threads} threads, median of {args.rounds} rounds")
    print("| path | scoring s | process s | x lm-eval | max abs log-prob diff | same answers "
          "| accuracy |")
    print("|---|---|---|---|---|---|---|")
    for t in table:
        x = f"{t['speed_vs_lmeval']:.2f}x" if t["speed_vs_lmeval"] else "-"
        print(f"| {t['path']} | {t['scoring_s']:.1f} | {t['process_s']:.1f} | {x} | "
              f"{t['max_abs_logprob_diff']:.1e} | {t['same_answer_questions']}/{len(gold)} | "
              f"{t['accuracy']:.3f} |")


if __name__ == "__main__":
    main()
