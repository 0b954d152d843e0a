"""Markdown tables for docs/findings.md from a findings sweep's aggregate.json.

    python bench/findings_tables.py findings-out > findings-tables.md

Every number is a mean over the sweep's seeds; intervals are the sweep's hierarchical
bootstrap intervals, ranges are the per-seed minimum and maximum.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

SCORE = "rouge_l_recall"


def _rows(doc: dict[str, Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {(r["scenario"], r["label"], r["split"], r["subset"], r["metric"]): r
            for r in doc["rows"] if r["task"] == r["scenario"] and r["against"] is None}


def _ci(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    if r.get("ci_low") is None:
        return f"{r['mean']:.3f}"
    return f"{r['mean']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"


def _range(d: dict[str, Any] | None) -> str:
    if not d:
        return "-"
    return f"{d['mean']:+.3f} ({d['min']:+.3f} to {d['max']:+.3f})"


def _header(*cols: str) -> list[str]:
    return ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]


def _pct(scenario: str) -> int:
    m = re.search(r"patient-(\d+)$", scenario)
    return int(m.group(1)) if m else -1


def same_vs_other(doc: dict[str, Any]) -> str:
    items = doc["analyses"]["same_vs_other_disease"]
    lines = _header("scenario", "method", "drop, same disease", "drop, other disease",
                    "gap (same - other), seed range", "seeds with gap > 0")
    for it in sorted(items, key=lambda x: (_pct(x["scenario"]), x["label"])):
        gap = it["gap"]
        pos = sum(1 for g in gap["per_seed"] if g > 0)
        same, other = it["retain_same_disease"], it["retain_other_disease"]
        lines.append(f"| {it['scenario'].split('/')[-1]} | {it['label']} | {_range(same)} | "
                     f"{_range(other)} | {_range(gap)} | {pos} of {gap['n_seeds']} |")
    return "\n".join(lines)


def curves(doc: dict[str, Any]) -> str:
    c = doc["analyses"]["forget_size"]
    if not c:
        return "(no forget-size scenarios)"
    out = []
    for name in ("retain token entropy", "forget token entropy", "retain answer score",
                 "forget answer score", "forget terminology leakage"):
        series = c["series"][name]
        lines = [f"**{name}**", "", *_header("model", *(f"{p} %" for p in c["percents"]))]
        for label, points in series.items():
            lines.append(f"| {label} | " + " | ".join(_ci(p) for p in points) + " |")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def question_types(doc: dict[str, Any]) -> str:
    items = doc["analyses"]["question_types"]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for it in items:
        kind = "patient-X" if "/patient-" in it["scenario"] else "disease-C"
        groups.setdefault((kind, it["label"]), []).append(it)
    lines = _header("scenarios", "method", "factual: after", "factual: drop",
                    "reasoning: after", "reasoning: drop", "oracle factual", "oracle reasoning",
                    "scenario-seeds with reasoning after > factual after")
    for (kind, label), its in sorted(groups.items()):
        def mean(t: str, part: str, its: list[dict[str, Any]] = its) -> float:
            vals = [it[t][part]["mean"] for it in its if it[t][part]]
            return sum(vals) / len(vals) if vals else float("nan")
        wins = total = 0
        for it in its:
            fa, ra = it["factual"]["after"], it["reasoning"]["after"]
            if fa and ra:
                for f, r in zip(fa["per_seed"], ra["per_seed"], strict=False):
                    total += 1
                    wins += r > f
        lines.append(f"| {kind} ({len(its)}) | {label} | {mean('factual', 'after'):.3f} | "
                     f"{mean('factual', 'drop'):.3f} | {mean('reasoning', 'after'):.3f} | "
                     f"{mean('reasoning', 'drop'):.3f} | {mean('factual', 'oracle'):.3f} | "
                     f"{mean('reasoning', 'oracle'):.3f} | {wins} of {total} |")
    return "\n".join(lines)


def matrix(doc: dict[str, Any]) -> str:
    m = doc["analyses"]["collateral_matrix"]
    if not m:
        return "(no disease scenarios)"
    lines = _header("method", "mean drop on the forgotten disease (diagonal)",
                    "mean drop on other diseases (off-diagonal)", "largest off-diagonal cell",
                    "off-diagonal cells with interval above 0")
    cats = m["categories"]
    for label, cells in m["methods"].items():
        diag, off, above, n_off = [], [], 0, 0
        worst = (-1e9, "")
        for i, row in enumerate(cells):
            for j, c in enumerate(row):
                if c is None:
                    continue
                if i == j:
                    diag.append(c["mean"])
                else:
                    off.append(c["mean"])
                    n_off += 1
                    above += bool(c.get("ci_low") is not None and c["ci_low"] > 0)
                    if c["mean"] > worst[0]:
                        worst = (c["mean"], f"forgot {cats[i]}, {cats[j]} retain")
        lines.append(f"| {label} | {sum(diag) / len(diag):.3f} | {sum(off) / len(off):.3f} | "
                     f"{worst[0]:.3f} ({worst[1]}) | {above} of {n_off} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("sweep", help="the findings sweep's output folder")
    args = p.parse_args()
    doc = json.loads((Path(args.sweep) / "aggregate.json").read_text())
    print(f"seeds: {doc['seeds']}; failures: {len(doc['failures'])}\n")
    for title, text in (("Same vs other disease", same_vs_other(doc)),
                        ("Forget-size curves", curves(doc)),
                        ("Factual vs reasoning", question_types(doc)),
                        ("Collateral matrix", matrix(doc))):
        print(f"### {title}\n\n{text}\n")


if __name__ == "__main__":
    main()
