"""DuoLearn and its ablations beside GradDiff, NPO and the oracle: the table of
docs/methods.md, from the results folder of one ``medlethe run``.

    M=DuoLearn,DuoLearn/no-projection,DuoLearn/no-fisher,DuoLearn/no-token-weights
    medlethe run --model tiny --scenario synthclinic/patient-10 --output OUT \\
        --methods $M,DuoLearn/dp,GradDiff,NPO
    python bench/duolearn.py OUT [--forget forget] [--retain retain]

FR and KPR are read on the multiple-choice task (``--forget``/``--retain`` name the splits:
``forget_train``/``retain_train`` for the MC packs), MIA AUC (Min-K) on forget~holdout where
the task has a holdout split; a number on a split whose precondition failed is marked.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from medlethe.metrics.preconditions import Verdicts
from medlethe.report.text import load_run_dir
from medlethe.results.schema import MetricResult, Results


def find(res: Results, metric: str, split: str, mc: bool) -> MetricResult | None:
    for m in res.metrics:
        is_mc = res.tasks[m.task].output_type == "multiple_choice" if m.task in res.tasks else False
        if m.metric == metric and m.split == split and m.subset is None and is_mc == mc:
            return m
    return None


def cell(res: Results, m: MetricResult | None, percent: bool = True) -> str:
    if m is None or m.value is None:
        return "–"
    k = 100 if percent else 1
    text = f"{m.value * k:.1f}" if percent else f"{m.value:.3f}"
    if m.ci is not None:
        text += (f" [{m.ci.low * k:.1f}, {m.ci.high * k:.1f}]" if percent
                 else f" [{m.ci.low:.3f}, {m.ci.high:.3f}]")
    if Verdicts(res.preconditions).reason(m.task, m.split) is not None:
        text += " †"
    return text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--forget", default="forget")
    ap.add_argument("--retain", default="retain")
    args = ap.parse_args()
    rows = ["| model | FR % (MC) | KPR % (MC) | AFE (free text) | MU retain | MIA AUC Min-K | "
            "params modified % | epsilon |", "|---|---|---|---|---|---|---|---|"]
    for label, res in load_run_dir(args.run_dir):
        info = (res.model.provenance.get("unlearn") or {}).get("method_info") or {}
        pm = next((m for m in res.metrics if m.metric == "params_modified"), None)
        rows.append(" | ".join([
            f"| {label}",
            cell(res, find(res, "fr", args.forget, True)),
            cell(res, find(res, "kpr", args.retain, True)),
            cell(res, find(res, "afe", args.forget, False), percent=False),
            cell(res, find(res, "mu", args.retain, False), percent=False),
            cell(res, find(res, "mia_auc_min_k", "forget~holdout", False), percent=False),
            f"{pm.value * 100:.2f}" if pm is not None and pm.value is not None else "–",
            str(info.get("dp_epsilon", "–")) + " |",
        ]))
    print("\n".join(rows))
    Path(args.run_dir, "duolearn_table.md").write_text("\n".join(rows) + "\n")
    print(json.dumps({"rows": len(rows) - 2}))


if __name__ == "__main__":
    main()
