"""Validate ``medlethe audit`` over training seeds: how often it flags the never-unlearned
target (a sham of zero unlearning steps), the oracle (Retrain: the false-alarm rate) and
each method, on every forget patient of a scenario.

    python bench/audit.py [--seeds 0,1,2] [--scenario synthclinic/patient-10]
        [--methods GradDiff,NPO,...] [--level 0.05] [--attacks A,A[K=V],...] [--out FILE]

Per seed S: the target and oracle of seed S (cached fine-tunes), each method's unlearned
model (cached), one request of every forget patient, and the oracles of the next seeds as
the references (``--references``, default 1: models that never saw the forget set, other
than the one audited as Retrain; 4 or more make the membership test U-LiRA).
Prints, pooled over seeds, the share of patients each model is "not shown forgotten" for,
with a Clopper-Pearson 95 % interval, and each seed's share; writes ``bench/audit.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("audit.json")


def rejected_by(record: dict[str, Any]) -> dict[str, int]:
    """test -> how many of the record's patients it rejects."""
    counts: dict[str, int] = {}
    for row in record["patients"]:
        for test, got in row["tests"].items():
            counts[test] = counts.get(test, 0) + bool(got["rejected"])
    return counts


def main() -> None:
    from scipy.stats import binomtest

    from medlethe.audit import audit
    from medlethe.training.pipeline import finetune, load_scenario, train_config
    from medlethe.unlearn.pipeline import unlearn

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--scenario", default="synthclinic/patient-10")
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--methods", default="GradDiff,NPO,RMU,KL-Min,GradAscent,IdkPO")
    ap.add_argument("--level", type=float, default=0.05)
    ap.add_argument("--membership", default="rank")
    ap.add_argument("--attacks", default="", help="audit each model under these attacks too")
    ap.add_argument("--references", type=int, default=1, help="oracles of other seeds as "
                    "references (4 or more: U-LiRA); seeds beyond --seeds are trained for it")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    from medlethe.attack_run import split_entries

    attacks = split_entries(args.attacks)
    seeds = [int(s) for s in args.seeds.split(",")]
    task = load_scenario(args.scenario)
    made = {s: {on: finetune(args.model, task, on, config=train_config(
        args.model, {"seed": s}, task), progress=False) for on in ("train", "retain")}
        for s in seeds}
    pool = [*seeds[1:], *seeds[:1], *range(max(seeds) + 1, max(seeds) + 1 + args.references)]
    ref_seeds = {s: [r for r in [*pool[i:], *pool[:i]] if r != s][: args.references]
                 for i, s in enumerate(seeds)}
    oracles = {r: made[r]["retain"] if r in made else finetune(
        args.model, task, "retain", config=train_config(args.model, {"seed": r}, task),
        progress=False) for r in sorted({r for rs in ref_seeds.values() for r in rs})}
    pids = sorted({task.cluster_of(i) for i in task.instances("forget")})
    started = time.perf_counter()
    per_seed: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        request = Path(tmp) / "request.txt"
        request.write_text("\n".join(pids) + "\n")
        for s in seeds:
            target, oracle = made[s]["train"], made[s]["retain"]
            refs = [oracles[r] for r in ref_seeds[s]]
            models: dict[str, tuple[Path, Path | None]] = {
                "target (zero steps)": (target.path, None), "Retrain": (oracle.path, None)}
            for name in args.methods.split(","):
                out = unlearn(name, task, target, args.model, progress=False).output
                models[name] = (out.path, out.adapter)
            per_seed[str(s)] = {}
            for label, (path, adapter) in models.items():
                rec = audit(str(path), args.scenario, request, target=str(target.path),
                            adapter=str(adapter) if adapter else None,
                            references=[str(r.path) for r in refs], level=args.level,
                            membership=args.membership, attacks=attacks,
                            salt=b"bench", progress=False)
                per_seed[str(s)][label] = {**rec["counts"], "patients": len(pids),
                                           "tests": rec["tests"],
                                           "rejected_by": rejected_by(rec)}
                print(f"seed {s} {label}: {rec['counts']}", flush=True)
    labels = list(next(iter(per_seed.values())))
    lines = ["| model | not shown forgotten, pooled (95 % CI) | each seed | inconclusive |",
             "|---|---|---|---|"]
    for label in labels:
        flagged = sum(per_seed[str(s)][label]["not shown forgotten"] for s in seeds)
        maybe = sum(per_seed[str(s)][label]["inconclusive"] for s in seeds)
        n = len(pids) * len(seeds)
        ci = binomtest(flagged, n).proportion_ci(method="exact")
        each = ", ".join(f"{per_seed[str(s)][label]['not shown forgotten']}/{len(pids)}"
                         for s in seeds)
        lines.append(f"| {label} | {flagged / n:.1%} [{ci.low:.1%}, {ci.high:.1%}] | {each} | "
                     f"{maybe} |")
    args.out.write_text(json.dumps({"scenario": args.scenario, "seeds": seeds,
                                    "membership": args.membership, "attacks": attacks,
                                    "references": args.references,
                                    "level": args.level, "patients": len(pids),
                                    "seconds": round(time.perf_counter() - started),
                                    "per_seed": per_seed}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
