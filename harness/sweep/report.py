"""What a sweep writes when its jobs are done: one summary per scenario and seed (as
``medlethe run`` writes), the across-seed aggregate (``aggregate.json``) with the task
packs' analyses (``register_analyses``: AMNESIA's collateral matrix, forget-size curves,
...) and ``index.html``.

Numbers and names only: no prompt, answer or patient text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medlethe.analysis import ordered_labels
from medlethe.results.comparability import comparability
from medlethe.results.evaluation import EvaluationRun
from medlethe.results.io import atomic_write_text

if TYPE_CHECKING:
    from medlethe.sweep.driver import Sweep, SweepOutput

AGGREGATE_VERSION = 1
#: the compact record of a sweep a leaderboard submission carries (numbers and names only)
SUMMARY_FILE = "sweep_summary.json"
SWEEP_SUMMARY_VERSION = 1
def analyses(rows: Sequence[Mapping[str, Any]], disabled: Sequence[str] = ()) -> dict[
        str, Any]:
    """Every registered analysis (``register_analyses``) of a sweep's rows, by name."""
    from medlethe.registry import get_registry

    registry = get_registry(tuple(disabled))
    return {name: comp.build().compute(rows) for name, comp in
            registry.components["analysis"].items()}


def _seed_summaries(sweep: Sweep, runs: Mapping[tuple[str, int], Mapping[str, EvaluationRun]],
                    failures: Sequence[Mapping[str, Any]]) -> None:
    from medlethe.report.summary import build_summary, write_summary

    for (scenario, seed), by_label in runs.items():
        if "target" not in by_label:
            continue
        ordered = {k: by_label[k] for k in ordered_labels(by_label)}
        summary = build_summary(
            ordered, scenario=scenario, preconditions=by_label["target"].results.preconditions,
            extra={"model": sweep.plan.model, "seed": seed, "failures": [
                f for f in failures if f["scenario"] == scenario and f["seed"] == seed]},
        )
        write_summary(summary, sweep.seed_dir(scenario, seed))
        EvaluationRun.prune(sweep.seed_dir(scenario, seed) / "results")


def finish(
    sweep: Sweep,
    runs: Mapping[tuple[str, int], Mapping[str, EvaluationRun]],
    failures: list[dict[str, Any]],
) -> SweepOutput:
    from medlethe.sweep.aggregate import aggregate_sweep
    from medlethe.sweep.driver import SweepOutput

    _seed_summaries(sweep, runs, failures)
    rows = aggregate_sweep(runs)
    preconditions = {
        f"{scenario}|{seed}": [
            p.model_dump(mode="json") for p in by["target"].results.preconditions
        ]
        for (scenario, seed), by in runs.items() if "target" in by
    }
    from medlethe.sweep.front import method_fronts

    by_scenario: dict[str, dict[int, Mapping[str, EvaluationRun]]] = {}
    data: dict[str, dict[str, Any]] = {}  # per scenario, what its runs share
    for (scenario, seed), by_label in runs.items():
        by_scenario.setdefault(scenario, {})[seed] = by_label
        if scenario not in data and by_label:
            data[scenario] = comparability(next(iter(by_label.values())).results)
    fronts = [f for scenario, by_seed in by_scenario.items()
              for f in method_fronts(by_seed, scenario, splits=sweep.plan.front_splits)
              if f["method"] in sweep.plan.front] if sweep.plan.front else []
    doc = {
        "aggregate_version": AGGREGATE_VERSION,
        "plan": sweep.plan.model_dump(mode="json"),
        "seeds": sweep.plan.seeds,
        "failures": failures,
        "preconditions": preconditions,
        "analyses": analyses(rows, sweep.settings.disabled),
        "fronts": fronts,
        "comparability": data,
        "rows": rows,
    }
    path = sweep.out / "aggregate.json"
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
    from medlethe.sweep.html import headline_tables, write_html

    tables = headline_tables(doc)
    atomic_write_text(sweep.out / SUMMARY_FILE,
                      json.dumps(sweep_summary(doc, tables), indent=1) + "\n")

    html = write_html(doc, sweep.out, tables)
    sweep.say(f"\naggregate: {path}\nreport:    {html}")
    return SweepOutput(sweep.out, {k: dict(v) for k, v in runs.items()}, failures, path, html)


def sweep_summary(doc: Mapping[str, Any], tables: Sequence[Mapping[str, Any]]) -> dict[
    str, Any
]:
    """What the leaderboard shows of a sweep: its plan (names), the across-seed headline of
    every scenario and the analyses. Small enough to submit where the results files of
    hundreds of runs would not be."""
    from medlethe.sweep.html import TEXT_KEYS

    plan = doc["plan"]
    return {
        "sweep_summary_version": SWEEP_SUMMARY_VERSION,
        "model": plan["model"],
        "scenarios": plan["scenarios"],
        "methods": plan["methods"],
        "seeds": doc["seeds"],
        "backend": plan["backend"],
        "task_args": plan["task_args"],
        "train_args": plan["train_args"],
        "failures": len(doc["failures"]),
        "headline": [
            {**t, "rows": [{"label": r["label"], "cells": [
                {k: v for k, v in c.items() if k not in TEXT_KEYS} for c in r["cells"]]}
                for r in t["rows"]]}
            for t in tables
        ],
        "analyses": doc["analyses"],
        "fronts": doc.get("fronts", []),
        # per scenario, what its runs share (data, task versions and arguments): the
        # leaderboard shows the fronts beside runs that share it
        "comparability": doc.get("comparability", {}),
    }


def load_aggregate(folder: str | Path) -> dict[str, Any]:
    from medlethe.errors import ResultsError

    path = Path(folder) / "aggregate.json"
    try:
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{path}: not a sweep's aggregate ({exc}); run 'medlethe sweep' "
                           "first.") from exc
    return doc
