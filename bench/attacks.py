"""Recovery of every built-in method under the built-in attacks, over training seeds.

    python bench/attacks.py [--seeds 0,1,2] [--scenario synthclinic/patient-10] [--model tiny]
        [--methods M,...] [--attacks A,A[K=V],...] [--train-args K=V,...] [--out FILE]

For each training seed: ``medlethe run`` with the methods (default: every built-in one that
applies) and the attacks (default: those below for the language-model kinds); then, per
method and attack, the recovery ratio on the forget split's primary score (mean over
seeds, each seed's value with its 95 % interval). Writes ``bench/attacks.json`` (or
``--out``) and prints a markdown table (docs/attacks.md). Fine-tunes, unlearned and
attacked models are cached, so a rerun with more attacks trains only what is new.
Trained weights depend on the CPU: the numbers hold for the machine that made them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

ATTACKS = ("quantize-8bit", "quantize-4bit", "relearn[steps=5]", "relearn",
           "relearn[steps=50]", "relearn-forget", "few-shot", "paraphrase")
OUT = Path(__file__).with_name("attacks.json")


def one_seed(model: str, scenario: str, seed: int, out: Path, attacks: list[str],
             methods: list[str] | None, train_args: dict[str, Any]) -> dict[str, Any]:
    """method -> attack -> (value, low, high) of the recovery ratio on the main task."""
    from medlethe.run import run_pipeline
    from medlethe.training.pipeline import load_scenario, train_config

    task = load_scenario(scenario)
    done = run_pipeline(model, scenario, output=out, train_config=train_config(
        model, {**train_args, "seed": seed}, task), attacks=attacks, methods=methods,
        progress=False, echo=False)
    found: dict[str, Any] = {}
    for label, run in done.runs.items():
        attack = run.results.model.provenance.get("attack")
        if not attack:
            continue
        m = next((m for m in run.results.metrics if m.metric == "recovery_ratio"
                  and m.task == scenario and m.subset is None), None)
        if m is not None:
            method = label.rsplit("+", 1)[0]
            found.setdefault(method, {})[attack.get("label") or attack["name"]] = (
                m.value, m.ci.low if m.ci else None, m.ci.high if m.ci else None)
    return {"recovery": found, "failures": done.summary["failures"]}


def table(per_seed: dict[str, Any], attacks: list[str]) -> str:
    seeds = sorted(per_seed)
    methods = sorted({m for s in seeds for m in per_seed[s]["recovery"]})
    lines = ["| method | " + " | ".join(attacks) + " |", "|---|" + "---|" * len(attacks)]
    for method in methods:
        cells = []
        for attack in attacks:
            vals = [per_seed[s]["recovery"].get(method, {}).get(attack) for s in seeds]
            got = [v for v in vals if v is not None and v[0] is not None]
            if not got:
                cells.append("-")
                continue
            mean = statistics.fmean(v[0] for v in got)
            each = "; ".join(f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]" if v[1] is not None
                             else f"{v[0]:.2f}" for v in got)
            cells.append(f"**{mean:.2f}** ({each})")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--scenario", default="synthclinic/patient-10")
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--methods", default=None, help="comma-separated (default: every "
                    "built-in method that applies)")
    ap.add_argument("--attacks", default=",".join(ATTACKS))
    ap.add_argument("--train-args", default="", help="K=V,... over the family's defaults")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    from medlethe.attack_run import split_entries

    attacks = split_entries(args.attacks)
    methods = args.methods.split(",") if args.methods else None
    train_args = {k: json.loads(v) for k, v in (
        kv.split("=", 1) for kv in args.train_args.split(",") if kv)}
    per_seed: dict[str, Any] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            per_seed[str(seed)] = one_seed(args.model, args.scenario, seed,
                                           Path(tmp) / f"seed{seed}", attacks, methods,
                                           train_args)
            print(f"seed {seed}: done ({time.perf_counter() - started:.0f} s)", flush=True)
            record = {"model": args.model, "scenario": args.scenario, "attacks": attacks,
                      "methods": methods, "train_args": train_args,
                      "seconds": round(time.perf_counter() - started), "seeds": per_seed}
            args.out.write_text(json.dumps(record, indent=1) + "\n")  # each seed kept
    print(table(per_seed, attacks))


if __name__ == "__main__":
    main()
