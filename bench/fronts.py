"""The fronts of finished front sweeps as markdown (docs/fronts.md), and the paper bar of
a method on the multiple-choice form (DuoLearn: FR >= 82.7 % with KPR >= 88.5 %).

    medlethe sweep --front DuoLearn --scenario synthclinic/patient-10 --seeds 0,1,2 \\
        --output /tmp/front-duolearn
    python bench/fronts.py /tmp/front-duolearn [--bar 82.7,88.5]
    python bench/fronts.py bench/fronts_duolearn.json   # the fronts and FR/KPR rows kept
    python bench/fronts.py OUT --splits forget_train,retain_train   # the MC packs
    python bench/fronts.py OUT --keep bench/fronts_x.json [--metrics fr,kpr,f1]

Per front: every setting's forgetting, utility and progress toward the oracle on the
report half (mean over seeds, 95 % hierarchical interval), whether it is on the front
(chosen on the validation half) and whether it over-forgets; the hypervolume. Then, where
the scenario has a multiple-choice form, every setting's FR and KPR on it (all rows: every
setting is listed, none is selected) against the bar, and the oracle's FR.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def cell(c: dict[str, Any] | None, scale: float = 1.0, digits: int = 3) -> str:
    if c is None or c.get("value", c.get("mean")) is None:
        return "-"
    v = c.get("value", c.get("mean"))
    lo, hi = c.get("low", c.get("ci_low")), c.get("high", c.get("ci_high"))
    text = f"{v * scale:.{digits}f}"
    return text + (f" [{lo * scale:.{digits}f}, {hi * scale:.{digits}f}]" if lo is not None
                   else "")


def fronts_table(doc: dict[str, Any]) -> list[str]:
    lines = []
    for f in doc.get("fronts", []):
        hv = f["hypervolume"]
        lines += [f"**{f['method']}** on `{f['scenario']}` ({len(f['seeds'])} seeds, "
                  f"{f['runs']} runs): hypervolume {cell(hv)}", "",
                  "| setting | front | forgetting | utility / oracle | to oracle | |",
                  "|---|---|---|---|---|---|"]
        for r in sorted(f["settings"], key=lambda r: -r["forgetting"]["value"]):
            lines.append(f"| {r['label']} | {'yes' if r['on_front'] else ''} | "
                         f"{cell(r['forgetting'])} | {cell(r['utility'])} | "
                         f"{cell(r['progress'])} | "
                         f"{'over-forgets' if r['over_forgets'] else ''} |")
        lines.append("")
    return lines


def bar_table(doc: dict[str, Any], bar: tuple[float, float],
              splits: tuple[str, str] = ("forget", "retain")) -> list[str]:
    rows = doc["rows"]
    mc = sorted({r["task"] for r in rows if r["metric"] == "fr"})
    lines = []
    for task in mc:
        def get(label: str, metric: str, split: str, task: str = task) -> dict[str, Any] | None:
            return next((r for r in rows if (r["label"], r["task"], r["metric"], r["split"],
                         r["subset"]) == (label, task, metric, split, None)), None)

        labels = sorted({r["label"] for r in rows if r["task"] == task} - {"target"})
        lines += [f"FR and KPR on `{task}` (%, mean over seeds, 95 % hierarchical interval; "
                  f"bar: FR >= {bar[0]} on {splits[0]} with KPR >= {bar[1]} on "
                  f"{splits[1]}):", "",
                  "| model | FR % | KPR % | meets the bar |", "|---|---|---|---|"]
        best = None
        for label in labels:
            fr, kpr = get(label, "fr", splits[0]), get(label, "kpr", splits[1])
            if fr is None or kpr is None:
                continue
            meets = fr["mean"] * 100 >= bar[0] and kpr["mean"] * 100 >= bar[1]
            lines.append(f"| {label} | {cell(fr, 100, 1)} | {cell(kpr, 100, 1)} | "
                         f"{'yes' if meets else ''} |")
            if label != "oracle" and kpr["mean"] * 100 >= bar[1] and (
                    best is None or fr["mean"] > best[1]["mean"]):
                best = (label, fr)
        if best:
            lines += ["", f"Highest FR at KPR >= {bar[1]} %: {best[0]}, FR "
                      f"{cell(best[1], 100, 1)} %."]
        lines.append("")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("sweeps", nargs="+", type=Path)
    ap.add_argument("--bar", default="82.7,88.5")
    ap.add_argument("--splits", default="forget,retain", help="FR's and KPR's splits (the "
                    "MC packs' training rows: forget_train,retain_train)")
    ap.add_argument("--keep", type=Path, help="write the sweeps' plans, fronts and the whole-"
                    "split rows of --metrics to this JSON file (what bench/fronts_*.json hold)")
    ap.add_argument("--metrics", default="fr,kpr", help="the rows --keep keeps")
    args = ap.parse_args()
    forget, retain = args.splits.split(",")
    bar = tuple(float(x) for x in args.bar.split(","))
    docs = [json.loads((f if f.is_file() else f / "aggregate.json").read_text())
            for f in args.sweeps]
    if args.keep:
        metrics = set(args.metrics.split(","))
        kept = [{"plan": d["plan"], "seeds": d["seeds"], "fronts": d["fronts"],
                 "rows": [r for r in d["rows"] if r["subset"] is None
                          and r["metric"] in metrics]} for d in docs]
        args.keep.write_text(json.dumps(kept[0] if len(kept) == 1 else kept, indent=1) + "\n")
    for doc in docs:
        print("\n".join(fronts_table(doc) + bar_table(doc, (bar[0], bar[1]),
                                                       (forget, retain))))


if __name__ == "__main__":
    main()
