"""Recovery of every built-in method under the built-in attacks, over training seeds.

    python bench/attacks.py [--seeds 0,1,2] [--scenario synthclinic/patient-10] [--model tiny]

For each training seed: ``medlethe run`` with every built-in method and
``--attacks quantize-8bit,quantize-4bit,relearn``; then, per method and attack, the recovery
ratio on the forget split's primary score (mean over seeds, each seed's value with its
95 % interval). Writes ``bench/attacks.json`` and prints a markdown table (docs/findings.md).
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

ATTACKS = ("quantize-8bit", "quantize-4bit", "relearn")
OUT = Path(__file__).with_name("attacks.json")


def one_seed(model: str, scenario: str, seed: int, out: Path) -> dict[str, Any]:
    """method -> attack -> (value, low, high) of the recovery ratio on the main task."""
    from medlethe.run import run_pipeline
    from medlethe.training.pipeline import load_scenario, train_config

    task = load_scenario(scenario)
    done = run_pipeline(model, scenario, output=out, train_config=train_config(
        model, {"seed": seed}, task), attacks=list(ATTACKS), progress=False, echo=False)
    found: dict[str, Any] = {}
    for label, run in done.runs.items():
        attack = run.results.model.provenance.get("attack")
        if not attack:
            continue
        m = next((m for m in run.results.metrics if m.metric == "recovery_ratio"
                  and m.task == scenario and m.subset is None), None)
        if m is not None:
            method = label.rsplit("+", 1)[0]
            found.setdefault(method, {})[attack["name"]] = (
                m.value, m.ci.low if m.ci else None, m.ci.high if m.ci else None)
    return {"recovery": found, "failures": done.summary["failures"]}


def table(per_seed: dict[str, Any]) -> str:
    seeds = sorted(per_seed)
    methods = sorted({m for s in seeds for m in per_seed[s]["recovery"]})
    lines = ["| method | " + " | ".join(ATTACKS) + " |", "|---|" + "---|" * len(ATTACKS)]
    for method in methods:
        cells = []
        for attack in ATTACKS:
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
    args = ap.parse_args()
    per_seed: dict[str, Any] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            per_seed[str(seed)] = one_seed(args.model, args.scenario, seed,
                                           Path(tmp) / f"seed{seed}")
            print(f"seed {seed}: done ({time.perf_counter() - started:.0f} s)", flush=True)
    record = {"model": args.model, "scenario": args.scenario, "attacks": ATTACKS,
              "seconds": round(time.perf_counter() - started), "seeds": per_seed}
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    print(table(per_seed))


if __name__ == "__main__":
    main()
