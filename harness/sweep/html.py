"""A sweep's ``index.html`` (Jinja2, autoescaped) and its figures: the headline metrics of
every scenario across seeds, the collateral matrix and the forget-size curves (PNG files
beside the page and the same figures inline as SVG)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from medlethe.analysis import ordered_labels
from medlethe.results.io import atomic_write_text


def _columns() -> list[tuple[str, str, str]]:
    """(heading, metric, split) of the across-seed headline: the registered kinds' headline
    columns (``Kind.columns``), each shown where a scenario has values."""
    from medlethe.report import all_columns

    return [(r.label, r.metric, r.split) for r in all_columns() if r.subset is None]


def _fmt(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A cell: the numbers (mean, interval, spread, seeds) and their text."""
    if row is None:
        return None
    ci = (f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
          if row.get("ci_low") is not None else "")
    sd = f"sd {row['sd']:.3f}, " if row.get("sd") is not None else ""
    numbers = {k: row[k] for k in ("mean", "ci_low", "ci_high", "sd", "min", "max",
                                   "per_seed")}
    return {**numbers, "n": row["n_seeds"], "value": f"{row['mean']:.3f}", "ci": ci,
            "title": f"{sd}range {row['min']:.3f} to {row['max']:.3f}; per seed "
                     + ", ".join(f"{v:.3f}" for v in row["per_seed"])}


#: the text keys of a cell (left out of a sweep's summary: numbers only)
TEXT_KEYS = ("value", "ci", "title")


def headline_tables(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per scenario: model labels as rows, the headline metrics (mean over seeds, hierarchical
    interval, number of seeds) as columns; columns with no value are left out."""
    rows = doc["rows"]
    unmet = {(key.split("|")[0], p["task"], p["split"])
             for key, checks in doc.get("preconditions", {}).items()
             for p in checks if not p["held"]}
    columns = _columns()
    tables = []
    for scenario in dict.fromkeys(r["scenario"] for r in rows):
        mine = [r for r in rows if r["scenario"] == scenario]
        idx = {(r["label"], r["split"], r["metric"]): r for r in mine
               if r["subset"] is None and r["task"] in (scenario, "(model)")}
        labels = ordered_labels(r["label"] for r in mine)
        cols = [c for c in columns if any((lab, c[2], c[1]) in idx for lab in labels)]
        tables.append({
            "scenario": scenario,
            "columns": [c[0] for c in cols],
            "unmet": sorted({s for (sc, t, s) in unmet if sc == scenario and t == scenario}),
            "rows": [{"label": lab, "cells": [
                {**(_fmt(idx.get((lab, c[2], c[1]))) or {}),
                 "unmet": (scenario, scenario, c[2]) in unmet}
                for c in cols]} for lab in labels],
        })
    return tables


def markdown(doc: Mapping[str, Any], scenario: str | None = None) -> str:
    """The across-seed headline of one scenario (the first by default) in Markdown: mean over
    seeds [hierarchical 95 % interval], with the number of seeds in the header."""
    tables = headline_tables(doc)
    table = next((t for t in tables if scenario in (None, t["scenario"])), None)
    if table is None:
        return ""
    n = max((c.get("n", 0) for r in table["rows"] for c in r["cells"]), default=0)
    lines = [f"| model ({n} seeds) | " + " | ".join(table["columns"]) + " |",
             "|---|" + "---|" * len(table["columns"])]
    for r in table["rows"]:
        cells = [f"{c['value']} {c['ci']}".strip() + (" †" if c.get("unmet") else "")
                 if c.get("value") else "-" for c in r["cells"]]
        lines.append(f"| {r['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sections(analyses: Mapping[str, Any], folder: Path, base: Path) -> list[dict[str, Any]]:
    """The sweep page's sections of each registered analysis with a value (figures written
    into ``folder``, linked relative to ``base``; tables as text)."""
    from medlethe.registry import get_registry

    registry = get_registry()
    out: list[dict[str, Any]] = []
    for name, value in analyses.items():
        comp = registry.components["analysis"].get(name)
        if comp is not None and value:
            out += comp.build().sections(value, folder, base)
    return out


def page_context(
    *, model: str, seeds: Sequence[int], failures: int, tables: Sequence[Mapping[str, Any]],
    analyses: Mapping[str, Any], folder: Path, base: Path,
    fronts: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """What ``sweep_body.html.jinja`` shows (the sweep's own page and the leaderboard's)."""
    from medlethe.sweep.front import front_sections

    return {
        "model": model, "seeds": list(seeds), "failures": failures,
        "tables": [with_text(t) for t in tables],
        "sections": front_sections(fronts, folder, base) + sections(analyses, folder, base),
    }


def with_text(table: Mapping[str, Any]) -> dict[str, Any]:
    """A headline table whose cells have their text (a sweep summary keeps numbers only)."""
    rows = []
    for r in table["rows"]:
        cells = []
        for c in r["cells"]:
            if c.get("mean") is None:
                cells.append({"unmet": c.get("unmet", False)})
                continue
            shown = _fmt({**c, "n_seeds": c["n"]}) or {}
            cells.append({**shown, "unmet": c.get("unmet", False)})
        rows.append({"label": r["label"], "cells": cells})
    return {**table, "rows": rows}


def write_html(
    doc: Mapping[str, Any], out: Path, tables: Sequence[Mapping[str, Any]] | None = None
) -> Path:
    """``index.html`` of a sweep; ``tables``: its :func:`headline_tables`, if made already."""
    from medlethe.report import page_environment

    env = page_environment()
    context = page_context(
        model=doc["plan"]["model"], seeds=doc["seeds"], failures=len(doc["failures"]),
        tables=headline_tables(doc) if tables is None else tables,
        analyses=doc["analyses"], folder=out / "figures",
        base=out, fronts=doc.get("fronts", []),
    )
    html = env.get_template("sweep.html.jinja").render(d=doc, **context)
    path = out / "index.html"
    atomic_write_text(path, html)
    return path
