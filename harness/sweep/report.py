"""What a sweep writes when its jobs are done: one summary per scenario and seed (as
``medlethe run`` writes), the across-seed aggregate (``aggregate.json``), AMNESIA's analyses
(collateral matrix, forget-size curves, factual vs reasoning) and ``index.html``.

Numbers and names only: no prompt, answer or patient text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medlethe.results.evaluation import EvaluationRun
from medlethe.results.io import atomic_write_text

if TYPE_CHECKING:
    from medlethe.sweep.driver import Sweep, SweepOutput

AGGREGATE_VERSION = 1
#: the compact record of a sweep a leaderboard submission carries (numbers and names only)
SUMMARY_FILE = "sweep_summary.json"
SWEEP_SUMMARY_VERSION = 1
_DISEASE = re.compile(r"/disease-(?P<cat>[a-z][a-z0-9-]*)$")
_PATIENT = re.compile(r"/patient-(?P<pct>\d+)$")
#: the answer score of free-text scenarios
SCORE = "rouge_l_recall"


def _values(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {k: row[k] for k in ("mean", "sd", "min", "max", "ci_low", "ci_high", "n_seeds",
                                "per_seed")}


def _index(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[Any, ...], Mapping[str, Any]]:
    return {(r["scenario"], r["label"], r["task"], r["split"], r["subset"], r["metric"]): r
            for r in rows}


def ordered_labels(labels: Iterable[str]) -> list[str]:
    """Model labels in first-seen order, target and oracle first."""
    seen = list(dict.fromkeys(labels))
    return [x for x in ("target", "oracle") if x in seen] + [
        x for x in seen if x not in ("target", "oracle")]


def _labels(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return ordered_labels(r["label"] for r in rows)


def _diff(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``a - b`` per seed (the seeds both have), mean and range: a drop from the target."""
    if a is None or b is None:
        return None
    pa = dict(zip(a["seeds"], a["per_seed"], strict=True))
    pb = dict(zip(b["seeds"], b["per_seed"], strict=True))
    both = sorted(set(pa) & set(pb))
    if not both:
        return None
    d = [pa[s] - pb[s] for s in both]
    return {"mean": sum(d) / len(d), "min": min(d), "max": max(d), "n_seeds": len(d),
            "seeds": both, "per_seed": d}


def collateral_matrix(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """AMNESIA's disease matrix from the sweep's ``.../disease-C`` scenarios: per method,
    row = the category forgotten, column = a category's retain patients, cell = the drop of
    their answer score (the ``collateral`` metric, mean over seeds, with its interval); the
    diagonal is the forget set's own drop (target minus unlearned, same seeds)."""
    idx = _index(rows)
    scenarios = sorted({r["scenario"] for r in rows if _DISEASE.search(r["scenario"])})
    if len(scenarios) < 2:
        return None
    cats = sorted(_DISEASE.search(s)["cat"] for s in scenarios)  # type: ignore[index]
    methods = [x for x in _labels(rows) if x not in ("target", "oracle")]
    out: dict[str, Any] = {"categories": cats, "scenarios": scenarios, "methods": {}}
    for label in methods:
        cells: list[list[dict[str, Any] | None]] = []
        for scenario in scenarios:
            forgot = _DISEASE.search(scenario)["cat"]  # type: ignore[index]
            line: list[dict[str, Any] | None] = []
            for cat in cats:
                if cat == forgot:
                    line.append(_diff(
                        idx.get((scenario, "target", scenario, "forget", None, SCORE)),
                        idx.get((scenario, label, scenario, "forget", None, SCORE)),
                    ))
                    continue
                found = next((r for r in rows if r["scenario"] == scenario
                              and r["label"] == label and r["metric"] == "collateral"
                              and r["task"] == scenario and r["subset"]
                              and r["subset"].endswith(f";category={cat}")), None)
                line.append(_values(found))
            cells.append(line)
        out["methods"][label] = cells
    return out


def forget_size(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Curves over the sweep's ``.../patient-X`` scenarios: per model label and X, the answer
    score on forget and retain, token entropy of the answers on forget and retain (a model
    that collapses into repetition has low entropy) and terminology leakage on forget."""
    idx = _index(rows)
    found = {int(_PATIENT.search(r["scenario"])["pct"]): r["scenario"]  # type: ignore[index]
             for r in rows if _PATIENT.search(r["scenario"])}
    if len(found) < 2:
        return None
    series = {
        "forget answer score": ("forget", SCORE),
        "retain answer score": ("retain", SCORE),
        "forget token entropy": ("forget", "token_entropy"),
        "retain token entropy": ("retain", "token_entropy"),
        "forget terminology leakage": ("forget", "terminology_leakage"),
    }
    percents = sorted(found)
    out: dict[str, Any] = {"percents": percents, "series": {}}
    for name, (split, metric) in series.items():
        out["series"][name] = {
            label: [_values(idx.get((found[p], label, found[p], split, None, metric)))
                    for p in percents]
            for label in _labels(rows)
        }
    return out


def _unlearned(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(scenario, method label) of every unlearned model, scenarios sorted."""
    return [(scenario, label)
            for scenario in sorted({r["scenario"] for r in rows})
            for label in _labels([r for r in rows if r["scenario"] == scenario])
            if label not in ("target", "oracle")]


def question_types(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per scenario and method: the forget set's drop (target minus unlearned) on factual
    and on reasoning questions, and the unlearned model's score on each."""
    idx = _index(rows)
    out = []
    for scenario, label in _unlearned(rows):
        item: dict[str, Any] = {"scenario": scenario, "label": label}
        for t in ("factual", "reasoning"):
            sub = f"type={t}"
            after = idx.get((scenario, label, scenario, "forget", sub, SCORE))
            before = idx.get((scenario, "target", scenario, "forget", sub, SCORE))
            oracle = idx.get((scenario, "oracle", scenario, "forget", sub, SCORE))
            item[t] = {"after": _values(after), "drop": _diff(before, after),
                       "oracle": _values(oracle)}
        if item["factual"]["after"] is not None:
            out.append(item)
    return out


def same_vs_other(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per scenario and method with both retain splits: the drop of the answer score on
    retain patients of a forgotten patient's disease and on the others."""
    idx = _index(rows)
    out = []
    for scenario, label in _unlearned(rows):
        item: dict[str, Any] = {"scenario": scenario, "label": label}
        for split in ("retain_same_disease", "retain_other_disease"):
            item[split] = _diff(
                idx.get((scenario, "target", scenario, split, None, SCORE)),
                idx.get((scenario, label, scenario, split, None, SCORE)),
            )
        if item["retain_same_disease"] and item["retain_other_disease"]:
            item["gap"] = _diff(item["retain_same_disease"], item["retain_other_disease"])
            out.append(item)
    return out


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
    doc = {
        "aggregate_version": AGGREGATE_VERSION,
        "plan": sweep.plan.model_dump(mode="json"),
        "seeds": sweep.plan.seeds,
        "failures": failures,
        "preconditions": preconditions,
        "analyses": {
            "collateral_matrix": collateral_matrix(rows),
            "forget_size": forget_size(rows),
            "question_types": question_types(rows),
            "same_vs_other_disease": same_vs_other(rows),
        },
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
