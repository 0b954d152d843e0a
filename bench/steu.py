"""STEU beside its baselines and the oracle: the table of the README and docs/methods.md,
from the output folders of ``medlethe run`` on a synthclinic-notes scenario.

    for s in 0 1 2; do
      medlethe run --model tiny-bert --scenario synthclinic-notes/forget-class-oncology \\
        --train-args seed=$s --seed $s --output steu/seed$s
    done
    python bench/steu.py steu/seed0 steu/seed1 steu/seed2

With one folder, each cell is the value and its 95 % patient-bootstrap interval; with
several (one per seed), the mean ± the standard deviation across seeds and their range.
``--forget-mi`` prints Forget-MI's quantities instead (synthclinic-cxr runs): forget and
test macro AUROC and F1, the SVC membership share, 1 - cosine to the oracle on retain.
A number on a split whose precondition failed is marked with a dagger.
"""

from __future__ import annotations

import argparse
import statistics

from medlethe.metrics.preconditions import Verdicts
from medlethe.report.text import load_run_dir
from medlethe.results.schema import MetricResult, Results

COLUMNS = (
    ("forget-class F1 (holdout)", "forget_class_f1", "holdout"),
    ("retain avg F1 (holdout)", "retain_avg_f1", "holdout"),
    ("forget-class F1 (forget)", "forget_class_f1", "forget"),
    ("forget-class F1 (paraphrase)", "forget_class_f1", "paraphrase"),
    ("MIA AUC LOSS", "mia_auc_loss", "forget~holdout"),
    ("params modified %", "params_modified", "(weights)"),
)
FORGET_MI_COLUMNS = (
    ("forget macro AUROC", "auroc", "forget"),
    ("forget macro F1", "f1", "forget"),
    ("test macro AUROC", "auroc", "holdout"),
    ("test macro F1", "f1", "holdout"),
    ("MIA SVC share", "mia_svc", "forget"),
    ("MIA SVC balanced", "mia_svc_balanced", "forget"),
    ("MIA AUC LOSS", "mia_auc_loss", "forget~holdout"),
    ("1 - cos vs oracle (retain)", "logit_distance", "retain"),
)


def find(res: Results, metric: str, split: str) -> MetricResult | None:
    return next((m for m in res.metrics
                 if (m.metric, m.split, m.subset) == (metric, split, None)), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="output folders of medlethe run (one per seed)")
    parser.add_argument("--forget-mi", action="store_true", help="Forget-MI's columns")
    args = parser.parse_args()
    columns = FORGET_MI_COLUMNS if args.forget_mi else COLUMNS
    table: dict[str, dict[str, list[tuple[MetricResult, bool]]]] = {}
    for folder in args.runs:
        for label, res in load_run_dir(folder):
            verdicts = Verdicts(res.preconditions)
            for head, metric, split in columns:
                m = find(res, metric, split)
                if m is not None and m.value is not None:
                    unmet = verdicts.reason(m.task, split) is not None
                    table.setdefault(label, {}).setdefault(head, []).append((m, unmet))
    print("| model | " + " | ".join(h for h, _, _ in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for label, cells in table.items():
        out = []
        for head, metric, _ in columns:
            found = cells.get(head, [])
            k = 100.0 if metric == "params_modified" else 1.0
            dagger = " †" if any(u for _, u in found) else ""
            if not found:
                out.append("–")
            elif len(found) == 1:
                m = found[0][0]
                assert m.value is not None
                ci = f" [{m.ci.low * k:.3f}, {m.ci.high * k:.3f}]" if m.ci else ""
                out.append(f"{m.value * k:.3f}{ci}{dagger}")
            else:
                vals = [m.value * k for m, _ in found if m.value is not None]
                out.append(f"{statistics.mean(vals):.3f} ± {statistics.stdev(vals):.3f} "
                           f"({min(vals):.3f}–{max(vals):.3f}){dagger}")
        print(f"| {label} | " + " | ".join(out) + " |")
    print(f"\n{len(args.runs)} run folder(s).")


if __name__ == "__main__":
    main()
