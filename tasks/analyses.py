"""The built-in packs' sweep analyses (AMNESIA's and synthclinic's scenario families):
the disease-by-disease collateral matrix, the forget-size curves, factual vs reasoning
questions, and same- vs other-disease retain patients. Registered by ``plugin.py`` through
``register_analyses``; they read scenario names of these packs only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from medlethe import Analysis
from medlethe.report import heatmap_figure, inline_figure, pyplot
from medlethe.sweep import Rows, model_labels, row_index, seed_difference, seed_values

_DISEASE = re.compile(r"/disease-(?P<cat>[a-z][a-z0-9-]*)$")
_PATIENT = re.compile(r"/patient-(?P<pct>\d+)$")
#: the answer score of free-text scenarios
SCORE = "rouge_l_recall"
REFERENCES = ("target", "oracle")


def _fmt(cell: dict[str, Any] | None) -> str:
    return "-" if cell is None else f"{cell['mean']:.3f}"


def _unlearned(rows: Rows) -> list[tuple[str, str]]:
    """(scenario, method label) of every unlearned model, scenarios sorted."""
    return [(scenario, label)
            for scenario in sorted({r["scenario"] for r in rows})
            for label in model_labels([r for r in rows if r["scenario"] == scenario])
            if label not in REFERENCES]


class CollateralMatrix(Analysis):
    """AMNESIA's disease matrix from the sweep's ``.../disease-C`` scenarios: per method,
    row = the category forgotten, column = a category's retain patients, cell = the drop of
    their answer score (the ``collateral`` metric, mean over seeds, with its interval); the
    diagonal is the forget set's own drop (target minus unlearned, same seeds)."""

    title = "Collateral matrix"

    def compute(self, rows: Rows) -> dict[str, Any] | None:
        idx = row_index(rows)
        scenarios = sorted({r["scenario"] for r in rows if _DISEASE.search(r["scenario"])})
        if len(scenarios) < 2:
            return None
        cats = sorted(_DISEASE.search(s)["cat"] for s in scenarios)  # type: ignore[index]
        methods = [x for x in model_labels(rows) if x not in REFERENCES]
        out: dict[str, Any] = {"categories": cats, "scenarios": scenarios, "methods": {}}
        for label in methods:
            cells: list[list[dict[str, Any] | None]] = []
            for scenario in scenarios:
                forgot = _DISEASE.search(scenario)["cat"]  # type: ignore[index]
                line: list[dict[str, Any] | None] = []
                for cat in cats:
                    if cat == forgot:
                        line.append(seed_difference(
                            idx.get((scenario, "target", scenario, "forget", None, SCORE)),
                            idx.get((scenario, label, scenario, "forget", None, SCORE)),
                        ))
                        continue
                    found = next((r for r in rows if r["scenario"] == scenario
                                  and r["label"] == label and r["metric"] == "collateral"
                                  and r["task"] == scenario and r["subset"]
                                  and r["subset"].endswith(f";category={cat}")), None)
                    line.append(seed_values(found))
                cells.append(line)
            out["methods"][label] = cells
        return out

    def sections(self, value: Any, folder: Path, base: Path) -> list[dict[str, Any]]:
        out = []
        for i, label in enumerate(value["methods"]):
            png = folder / f"collateral_{i}.png"
            out.append({"title": f"{self.title}: {label}",
                        "png": png.relative_to(base).as_posix(),
                        "svg": inline_figure(_matrix(value, label), png)})
        return out


def _matrix(matrix: dict[str, Any], label: str) -> Any:
    cats = matrix["categories"]
    values = [[None if c is None else c["mean"] for c in line]
              for line in matrix["methods"][label]]
    return heatmap_figure([f"forgot {c}" for c in cats], cats, values,
                          title=f"{label}: drop of the answer score (diagonal: forget set)",
                          colorbar="target - unlearned", bold_diagonal=True)


class ForgetSize(Analysis):
    """Curves over the sweep's ``.../patient-X`` scenarios: per model label and X, the
    answer score on forget and retain, token entropy of the answers on forget and retain (a
    model that collapses into repetition has low entropy) and terminology leakage on
    forget."""

    title = "Forget-size curves"
    SERIES: ClassVar[dict[str, tuple[str, str]]] = {
        "forget answer score": ("forget", SCORE),
        "retain answer score": ("retain", SCORE),
        "forget token entropy": ("forget", "token_entropy"),
        "retain token entropy": ("retain", "token_entropy"),
        "forget terminology leakage": ("forget", "terminology_leakage"),
    }

    def compute(self, rows: Rows) -> dict[str, Any] | None:
        idx = row_index(rows)
        found = {int(_PATIENT.search(r["scenario"])["pct"]): r["scenario"]  # type: ignore[index]
                 for r in rows if _PATIENT.search(r["scenario"])}
        if len(found) < 2:
            return None
        percents = sorted(found)
        out: dict[str, Any] = {"percents": percents, "series": {}}
        for name, (split, metric) in self.SERIES.items():
            out["series"][name] = {
                label: [seed_values(idx.get((found[p], label, found[p], split, None, metric)))
                        for p in percents]
                for label in model_labels(rows)
            }
        return out

    def sections(self, value: Any, folder: Path, base: Path) -> list[dict[str, Any]]:
        png = folder / "forget_size.png"
        return [{"title": self.title, "png": png.relative_to(base).as_posix(),
                 "svg": inline_figure(_curves(value), png)}]


def _curves(curves: dict[str, Any]) -> Any:
    plt = pyplot()
    names = list(curves["series"])
    x = curves["percents"]
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.0))
    for ax, name in zip(axes, names, strict=True):
        for label, points in curves["series"][name].items():
            ys = [p["mean"] if p else float("nan") for p in points]
            lo = [p["ci_low"] if p and p["ci_low"] is not None else y for p, y in zip(
                points, ys, strict=True)]
            hi = [p["ci_high"] if p and p["ci_high"] is not None else y for p, y in zip(
                points, ys, strict=True)]
            line = ax.plot(x, ys, marker="o", markersize=3, label=label, linewidth=1)[0]
            ax.fill_between(x, lo, hi, alpha=0.12, color=line.get_color())
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("forget set (% of patients)", fontsize=7)
        ax.tick_params(labelsize=7)
    axes[-1].legend(fontsize=6, loc="best")
    fig.tight_layout()
    return fig


class QuestionTypes(Analysis):
    """Per scenario and method: the forget set's drop (target minus unlearned) on factual
    and on reasoning questions, and the unlearned model's score on each."""

    title = "Factual vs reasoning questions (forget split, answer score)"

    def compute(self, rows: Rows) -> list[dict[str, Any]]:
        idx = row_index(rows)
        out = []
        for scenario, label in _unlearned(rows):
            item: dict[str, Any] = {"scenario": scenario, "label": label}
            for t in ("factual", "reasoning"):
                sub = f"type={t}"
                after = idx.get((scenario, label, scenario, "forget", sub, SCORE))
                before = idx.get((scenario, "target", scenario, "forget", sub, SCORE))
                oracle = idx.get((scenario, "oracle", scenario, "forget", sub, SCORE))
                item[t] = {"after": seed_values(after), "drop": seed_difference(before, after),
                           "oracle": seed_values(oracle)}
            if item["factual"]["after"] is not None:
                out.append(item)
        return out

    def sections(self, value: Any, folder: Path, base: Path) -> list[dict[str, Any]]:
        header = ["scenario", "model", "factual after", "factual drop", "reasoning after",
                  "reasoning drop", "oracle factual", "oracle reasoning"]
        rows = [[it["scenario"], it["label"],
                 *(_fmt(it[t][k]) for t in ("factual", "reasoning") for k in ("after", "drop")),
                 _fmt(it["factual"]["oracle"]), _fmt(it["reasoning"]["oracle"])]
                for it in value]
        return [{"title": self.title, "header": header, "rows": rows}] if rows else []


class SameVsOtherDisease(Analysis):
    """Per scenario and method with both retain splits: the drop of the answer score on
    retain patients of a forgotten patient's disease and on the others."""

    title = "Same-disease vs other-disease retain (drop of the answer score)"

    def compute(self, rows: Rows) -> list[dict[str, Any]]:
        idx = row_index(rows)
        out = []
        for scenario, label in _unlearned(rows):
            item: dict[str, Any] = {"scenario": scenario, "label": label}
            for split in ("retain_same_disease", "retain_other_disease"):
                item[split] = seed_difference(
                    idx.get((scenario, "target", scenario, split, None, SCORE)),
                    idx.get((scenario, label, scenario, split, None, SCORE)),
                )
            if item["retain_same_disease"] and item["retain_other_disease"]:
                item["gap"] = seed_difference(item["retain_same_disease"],
                                              item["retain_other_disease"])
                out.append(item)
        return out

    def sections(self, value: Any, folder: Path, base: Path) -> list[dict[str, Any]]:
        header = ["scenario", "model", "same disease", "other disease",
                  "gap (same - other), seed range"]
        rows = [[it["scenario"], it["label"], _fmt(it["retain_same_disease"]),
                 _fmt(it["retain_other_disease"]),
                 f"{it['gap']['mean']:.3f} ({it['gap']['min']:.3f} to {it['gap']['max']:.3f})"]
                for it in value]
        return [{"title": self.title, "header": header, "rows": rows}] if rows else []
