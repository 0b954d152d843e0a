"""Summaries of several results files (target, oracle, unlearned models) of one scenario.

A summary holds names, numbers and file names only: never prompts, answers or patient text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from medlethe.metrics.constants import primary_of
from medlethe.metrics.preconditions import Verdicts
from medlethe.report.text import hidden, over_forgets
from medlethe.results.evaluation import EvaluationRun
from medlethe.results.io import atomic_write_text
from medlethe.results.schema import MetricResult, Precondition

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
    runs: Mapping[str, EvaluationRun],
    *,
    scenario: str,
    preconditions: Sequence[Precondition] = (),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Rows of (task, split, subset, metric) with one cell per labelled, written run. A row
    on a split the target did not know says so (``unmet``); its ratios are withheld."""
    labels = list(runs)
    verdicts = Verdicts(preconditions)
    index: dict[tuple[str, str, str | None, str], dict[str, MetricResult]] = {}
    for label, run in runs.items():
        for m in run.results.metrics:
            index.setdefault((m.task, m.split, m.subset, m.metric), {})[label] = m
    rows = []
    for (task, split, subset, metric), cells in index.items():
        withheld = verdicts.withheld(task, split, metric)
        rows.append(
            {
                "task": task,
                "split": split,
                "subset": subset,
                "metric": metric,
                "direction": next(iter(cells.values())).direction,
                "primary": metric in {
                    primary_of(r.results.tasks[task]) for r in runs.values()
                    if task in r.results.tasks
                },
                "cells": {
                label: None if withheld else _cell(cells.get(label)) for label in labels
            },
                "unmet": verdicts.reason(task, split),
                "withheld": withheld,
            }
        )
    found = hidden([(label, run.results) for label, run in runs.items()])
    return {
        "summary_version": SUMMARY_VERSION,
        "scenario": scenario,
        "models": [
            {
                "label": label,
                "role": run.results.model.role,
                "hidden_under": found.get(label, []),
                "over_forgets": over_forgets(run.results),
                "fingerprint": run.results.model.fingerprint,
                "results_file": run.path.name if run.path is not None else None,
                "run_id": run.run_id,
            }
            for label, run in runs.items()
        ],
        "preconditions": [c.model_dump(mode="json") for c in preconditions],
        "rows": rows,
        **(extra or {}),
    }


def write_summary(summary: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """``summary.json`` and a static ``index.html`` (Jinja2, autoescaped) in ``out_dir``."""
    from medlethe.report.pages import page_environment

    env = page_environment()
    json_path = out_dir / "summary.json"
    atomic_write_text(json_path, json.dumps(summary, indent=2) + "\n")
    html = env.get_template("summary.html.jinja").render(s=summary)
    html_path = out_dir / "index.html"
    atomic_write_text(html_path, html)
    return json_path, html_path
