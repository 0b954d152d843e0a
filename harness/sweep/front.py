"""Fronts, not points: each method's trade-off between forgetting and utility over its
settings, selected on validation rows and reported on the others.

For one scenario, one seed and one setting of a method, on the main task's primary score:

    progress   = (target(forget) - method(forget)) / (target(forget) - oracle(forget))
    forgetting = 1 - |1 - progress|, clipped to [0, 1]   (1 at the oracle's forget score)
    utility    = mean over retain and holdout of method(split) / oracle(split)

so the oracle (retraining without the forget set) is the ideal point (1, 1), and a setting
that forgets past the oracle loses forgetting as one that forgets too little does.

**Selection without peeking.** The sampling units (patients) of every split are halved
once per scenario (drawn with a fixed seed): settings are compared, and the front chosen,
on the *validation* half (means over seeds); the front's numbers are then reported on the
*report* half, with a hierarchical bootstrap (seeds drawn with replacement, then each
seed's units within each split; the same draws for every setting). The hypervolume is the
area of [0, 1]^2 the reported front dominates (1: a setting as good as retraining), with
its interval from the same draws. A setting over-forgets where its progress's interval
lies above 1, or its forget score's below the rows' chance level (multiple choice).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from medlethe.metrics.bootstrap import percentile_interval
from medlethe.metrics.constants import CHANCE_LABEL, N_RESAMPLES, PRIMARY
from medlethe.results.evaluation import CLUSTER_LABEL, EvaluationRun
from medlethe.sweep.plan import FRONT_ROLES

#: the splits utility averages, where the task has them
UTILITY_SPLITS = FRONT_ROLES[1:]
HALVES = ("validation", "report")


def pareto(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both coordinates (higher is better on
    both; at least as good on one and better on the other), in order of the first."""
    out = [i for i, (x, y) in enumerate(points) if not any(
        (a >= x and b >= y) and (a > x or b > y) for a, b in points)]
    return sorted(out, key=lambda i: points[i][0])


def hypervolume(points: Sequence[tuple[float, float]]) -> float:
    """The area of the unit square dominated by ``points`` (each clipped into it), with
    (0, 0) as the reference point and (1, 1) the ideal."""
    clipped = sorted(((min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)) for x, y in points),
                     reverse=True)
    area, best_y = 0.0, 0.0
    for i, (x, y) in enumerate(clipped):
        best_y = max(best_y, y)
        nxt = clipped[i + 1][0] if i + 1 < len(clipped) else 0.0
        area += (x - nxt) * best_y
    return area


def halves(units: Sequence[Any], scenario: str) -> dict[str, np.ndarray]:
    """Each row's half, by its sampling unit: a boolean mask per half (units drawn once
    per scenario, so every seed and setting shares them)."""
    distinct = sorted({str(u) for u in units})
    random.Random(f"front:{scenario}").shuffle(distinct)
    picked = set(distinct[: len(distinct) // 2])
    first = np.asarray([str(u) in picked for u in units])
    return {"validation": first, "report": ~first}


@dataclass
class _Split:
    """One split of one seed, on one half: per run (label), its per-unit sums and counts."""

    sums: dict[str, np.ndarray]
    counts: np.ndarray
    chance: float | None

    def means(self, weights: np.ndarray | None) -> dict[str, np.ndarray]:
        """Each run's mean: over the rows (``weights`` None), or per draw of units."""
        if weights is None:
            return {k: np.asarray([v.sum() / self.counts.sum()]) for k, v in self.sums.items()}
        denom = weights @ self.counts
        return {k: (weights @ v) / denom for k, v in self.sums.items()}


def _split(by_label: Mapping[str, EvaluationRun], task: str, split: str, metric: str,
           mask: np.ndarray) -> _Split | None:
    cols = {k: r.column(task, split, metric) for k, r in by_label.items()}
    if any(c is None for c in cols.values()):
        return None
    arrays = {k: np.asarray([np.nan if v is None else float(v) for v in c], dtype=float)
              for k, c in cols.items() if c is not None}
    keep = mask.copy() & np.all([np.isfinite(a) for a in arrays.values()], axis=0)
    if not keep.any():
        return None
    clusters = by_label["target"].clusters(task, split).subset(keep)
    ids = clusters.ids
    sums = {k: np.bincount(ids, weights=a[keep]) for k, a in arrays.items()}
    chance = by_label["target"].row_labels(task, split, CHANCE_LABEL)
    return _Split(sums, np.bincount(ids).astype(float),
                  float(np.mean(np.asarray(chance, dtype=float)[keep])) if chance else None)


def _stats(parts: Mapping[str, _Split], label: str, draws: Mapping[str, np.ndarray] | None
           ) -> dict[str, np.ndarray]:
    """progress, forgetting, utility and the forget score of ``label`` (arrays: one value,
    or one per draw)."""
    f = parts["forget"].means(draws["forget"] if draws else None)
    with np.errstate(divide="ignore", invalid="ignore"):
        progress = (f["target"] - f[label]) / (f["target"] - f["oracle"])
        utils = []
        for split in UTILITY_SPLITS:
            if split in parts:
                u = parts[split].means(draws[split] if draws else None)
                utils.append(u[label] / u["oracle"])
    return {"progress": progress,
            "forgetting": np.clip(1 - np.abs(1 - progress), 0, 1),
            "utility": np.mean(utils, axis=0) if utils else np.full_like(progress, np.nan),
            "forget": f[label]}


def method_fronts(runs: Mapping[int, Mapping[str, EvaluationRun]], scenario: str, *,
                  seed: int = 0, n_resamples: int = N_RESAMPLES,
                  splits: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Every method's front on ``scenario`` from its runs (seed -> label -> run; labels
    ``target``, ``oracle`` and the settings, ``NAME`` or ``NAME[k=v,...]``). ``splits``
    reads a role (``forget``, ``retain``, ``holdout``) on another split, e.g. a
    multiple-choice pack's training rows: ``{"forget": "forget_train", ...}``."""
    seeds = sorted(s for s, by in runs.items() if {"target", "oracle"} <= set(by))
    if not seeds:
        return []
    first = runs[seeds[0]]["target"]
    task = scenario if scenario in first.values else next(iter(first.values))
    metric = PRIMARY.get(first.output_type(task), "")
    name = {r: r for r in FRONT_ROLES} | dict(splits or {})
    roles = ["forget", *(r for r in UTILITY_SPLITS if name[r] in first.values[task])]
    mask = {r: halves(first.row_labels(task, name[r], CLUSTER_LABEL) or
                      list(range(len(first.clusters(task, name[r])))), scenario)
            for r in roles}
    labels = sorted({k for s in seeds for k in runs[s]} - {"target", "oracle"})
    complete = [k for k in labels if all(k in runs[s] for s in seeds)]
    parts = {(s, h): {r: _split(runs[s], task, name[r], metric, mask[r][h]) for r in roles}
             for s in seeds for h in HALVES}
    if any(parts[(s, h)]["forget"] is None for s in seeds for h in HALVES):
        return []
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(seeds), size=(n_resamples, len(seeds)))
    draws = {s: {sp: rng.multinomial(len(p.counts), np.full(len(p.counts), 1 / len(p.counts)),
                                     size=n_resamples) for sp, p in parts[(s, "report")].items()
                 if p is not None} for s in seeds}

    def of(label: str, half: str, resampled: bool) -> dict[str, np.ndarray]:
        per_seed = [_stats({k: v for k, v in parts[(s, half)].items() if v is not None},
                           label, draws[s] if resampled else None) for s in seeds]
        if not resampled:
            return {k: np.asarray([np.mean([p[k][0] for p in per_seed])]) for k in per_seed[0]}
        rows = np.arange(n_resamples)[:, None]
        return {k: np.stack([p[k] for p in per_seed])[pick.T, rows.T].mean(axis=0)
                for k in per_seed[0]}

    chance = {s: parts[(s, "report")]["forget"].chance for s in seeds}  # type: ignore[union-attr]
    out = []
    for method in sorted({k.split("[", 1)[0] for k in complete}):
        mine = [k for k in complete if k.split("[", 1)[0] == method]
        chosen = {k: of(k, "validation", False) for k in mine}
        on = [mine[i] for i in pareto([(float(chosen[k]["forgetting"][0]),
                                        float(chosen[k]["utility"][0])) for k in mine])]
        reported = {k: (of(k, "report", False), of(k, "report", True)) for k in mine}
        settings = []
        for k in mine:
            point, boot = reported[k]
            row: dict[str, Any] = {"label": k, "on_front": k in on,
                   "validation": {x: float(chosen[k][x][0]) for x in ("forgetting", "utility")}}
            for x in ("forgetting", "utility", "progress", "forget"):
                ci = percentile_interval(boot[x], "", "")
                row[x] = {"value": float(point[x][0]),
                          "low": ci.low if ci else None, "high": ci.high if ci else None}
            below = [c for c in chance.values() if c is not None]
            row["over_forgets"] = bool(
                (row["progress"]["low"] is not None and row["progress"]["low"] > 1)
                or (below and row["forget"]["high"] is not None
                    and row["forget"]["high"] < float(np.mean(below))))
            settings.append(row)
        hv_draws = [hypervolume([(float(reported[k][1]["forgetting"][b]),
                                  float(reported[k][1]["utility"][b])) for k in on])
                    for b in range(n_resamples)]
        ci = percentile_interval(hv_draws, "", "")
        out.append({
            "scenario": scenario, "task": task, "metric": metric, "method": method,
            "seeds": seeds, "runs": len(mine) * len(seeds), "settings": settings,
            "front": on, "selected_on": "validation", "reported_on": "report",
            "splits": {r: name[r] for r in roles},
            "hypervolume": {"value": hypervolume([
                (reported[k][0]["forgetting"][0], reported[k][0]["utility"][0]) for k in on]),
                "low": ci.low if ci else None, "high": ci.high if ci else None},
            "incomplete": sorted(k for k in labels if k.split("[", 1)[0] == method
                                 and k not in complete),
        })
    return out


def _ci(cell: Mapping[str, Any]) -> str:
    if cell["value"] is None or not np.isfinite(cell["value"]):
        return "-"
    lo, hi = cell.get("low"), cell.get("high")
    return f"{cell['value']:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if lo is not None else "")


def front_sections(fronts: Sequence[Mapping[str, Any]], folder: Any, base: Any) -> list[
        dict[str, Any]]:
    """The sweep page's sections of its fronts: per scenario a figure and a table (every
    setting: on the front or not, its reported numbers, over-forgetting; each method's
    hypervolume)."""
    from pathlib import Path

    from medlethe.report.figures import fronts_figure, inline_figure

    out: list[dict[str, Any]] = []
    for scenario in dict.fromkeys(f["scenario"] for f in fronts):
        mine = [dict(f) for f in fronts if f["scenario"] == scenario]
        png = Path(folder) / f"front-{re.sub(r'[^A-Za-z0-9_.-]+', '_', scenario)}.png"
        svg = inline_figure(fronts_figure(mine), png)
        out.append({"title": f"Fronts: {scenario}", "svg": svg,
                    "png": str(png.relative_to(base))})
        ranked = sorted(mine, key=lambda f: -(f["hypervolume"]["value"] or 0))
        out.append({"title": f"Hypervolume: {scenario} (1: a setting as good as the oracle)",
                    "header": ["method", "hypervolume [95 % CI]", "settings on the front",
                               "seeds", "runs"], "sortable": True,
                    "rows": [[f["method"], _ci(f["hypervolume"]), len(f["front"]),
                              len(f["seeds"]), f["runs"]] for f in ranked]})
        rows = []
        for f in mine:
            for r in f["settings"]:
                rows.append([f["method"], r["label"], "front" if r["on_front"] else "",
                             _ci(r["forgetting"]), _ci(r["utility"]), _ci(r["progress"]),
                             "over-forgets" if r["over_forgets"] else ""])
        out.append({"title": f"Fronts: {scenario}, chosen on validation rows, reported on "
                    "the others", "header": ["method", "setting", "", "forgetting",
                                             "utility / oracle", "to oracle (1: oracle)",
                                             ""], "rows": rows, "sortable": True})
    return out
