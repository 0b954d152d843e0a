"""Summaries of several results files (target, oracle, unlearned models) of one scenario.

A summary holds names, numbers and file names only: never prompts, answers or patient text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medlethe.metrics.constants import PRIMARY
from medlethe.results.io import atomic_write_text
from medlethe.results.schema import MetricResult, Results

SUMMARY_VERSION = 1


def _cell(m: MetricResult | None) -> dict[str, Any] | None:
    if m is None or m.value is None:
        return None
    return {
        "value": m.value,
        "ci_low": m.ci.low if m.ci else None,
        "ci_high": m.ci.high if m.ci else None,
        "n": m.n,
        "direction": m.direction,
    }


def build_summary(
    runs: Sequence[tuple[str, Results, Path]], *, scenario: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Rows of (task, split, subset, metric) with one cell per labelled run."""
    labels = [label for label, _, _ in runs]
    index: dict[tuple[str, str, str | None, str], dict[str, MetricResult]] = {}
    for label, res, _ in runs:
        for m in res.metrics:
            index.setdefault((m.task, m.split, m.subset, m.metric), {})[label] = m
    rows = []
    for (task, split, subset, metric), cells in index.items():
        rows.append(
            {
                "task": task,
                "split": split,
                "subset": subset,
                "metric": metric,
                "direction": next(iter(cells.values())).direction,
                "primary": any(
                    PRIMARY.get(r.tasks[task].output_type) == metric for _, r, _ in runs
                    if task in r.tasks
                ),
                "cells": {label: _cell(cells.get(label)) for label in labels},
            }
        )
    return {
        "summary_version": SUMMARY_VERSION,
        "scenario": scenario,
        "models": [
            {
                "label": label,
                "role": res.model.role,
                "fingerprint": res.model.fingerprint,
                "results_file": path.name,
                "run_id": res.run_id,
            }
            for label, res, path in runs
        ],
        "rows": rows,
        **(extra or {}),
    }


def format_table(summary: dict[str, Any], *, primary_only: bool = True) -> str:
    labels = [m["label"] for m in summary["models"]]
    header = ["task", "split", "subset", "metric", *labels]
    body = []
    for row in summary["rows"]:
        if primary_only and not row["primary"]:
            continue
        cells = []
        for label in labels:
            c = row["cells"][label]
            if c is None:
                cells.append("-")
            elif c["ci_low"] is None:
                cells.append(f"{c['value']:.3f}")
            else:
                cells.append(f"{c['value']:.3f} [{c['ci_low']:.2f},{c['ci_high']:.2f}]")
        body.append([row["task"], row["split"], row["subset"] or "all", row["metric"], *cells])
    widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(len(header))]

    def fmt(r: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()

    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, body)])


def write_summary(summary: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """``summary.json`` and a static ``index.html`` (Jinja2, autoescaped) in ``out_dir``."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("medlethe.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "jinja"]),
        undefined=jinja2.StrictUndefined,
    )
    json_path = out_dir / "summary.json"
    atomic_write_text(json_path, json.dumps(summary, indent=2) + "\n")
    html = env.get_template("summary.html.jinja").render(s=summary)
    html_path = out_dir / "index.html"
    atomic_write_text(html_path, html)
    return json_path, html_path
