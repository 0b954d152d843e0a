"""``medlethe report RUN_DIR``: a readable summary of a run folder and the collateral heatmap.

Reads the results files a ``medlethe run`` wrote (the ones its ``summary.json`` names, or
every results file in ``RUN_DIR/results``) and prints tables of numbers only: no prompt,
answer or patient text is ever shown.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medlethe.errors import ResultsError
from medlethe.kind import Kind, Row, find_kind, kind_of, rows
from medlethe.metrics.preconditions import Verdicts, explain
from medlethe.results.io import read_results
from medlethe.results.schema import MetricResult, Results


def load_run_dir(run_dir: str | Path) -> list[tuple[str, Results]]:
    """(label, results) of the runs in ``run_dir``, in the order the run wrote them."""
    root = Path(run_dir)
    summary = root / "summary.json"
    results_dir = root / "results" if (root / "results").is_dir() else root
    if summary.exists():
        models = json.loads(summary.read_text(encoding="utf-8"))["models"]
        return [(m["label"], read_results(results_dir / m["results_file"])) for m in models]
    files = sorted(results_dir.glob("results_*.json"))
    if not files:
        raise ResultsError(
            f"{root} holds no summary.json and no results_*.json files; point medlethe report "
            "at the --output folder of medlethe run or evaluate."
        )
    out = []
    for f in files:
        res = read_results(f)
        label = res.method.name if res.method else (res.model.role or res.run_id)
        out.append((label, res))
    return out


def task_for(res: Results, row: Row) -> str | None:
    """The task of ``res`` that holds ``row``: its first task of kind ``row.of_kind``, or
    its main (first) task."""
    first: dict[str, str] = {}
    for name, record in res.tasks.items():
        first.setdefault(record.output_type, name)
    main = next(iter(res.tasks), None)
    return main if row.of_kind is None else first.get(row.of_kind)


def _kinds(runs: Sequence[tuple[str, Results]]) -> list[Kind]:
    """The runs' own kind (of their main task) first, then every other registered kind."""
    from medlethe.registry import get_registry

    registry = get_registry()
    names = list(registry.components["kind"])
    own = next(iter(runs[0][1].tasks.values())).output_type if runs[0][1].tasks else None
    first = [own] if own in names else []
    return [kind_of(n, registry) for n in first + [n for n in names if n != own]]


def sections(runs: Sequence[tuple[str, Results]]) -> list[tuple[str, tuple[Row, ...]]]:
    """(title, rows) of the full report: the kinds' sections, the runs' own kind's first,
    each title once."""
    found: dict[str, tuple[Row, ...]] = {}
    for kind in _kinds(runs) if runs else []:
        for title, body in kind.sections:
            found.setdefault(title, body)
    return list(found.items())


def find(res: Results, task: str | None, row: Row) -> MetricResult | None:
    for m in res.metrics:
        same = (m.metric, m.split, m.subset) == (row.metric, row.split, row.subset)
        if same and m.task in (task, "(model)"):
            return m
    return None


#: metrics whose values are shares, shown as percentages wherever a cell shows them
PERCENT = frozenset({"params_modified"})


def cell(m: MetricResult | None, *, percent: bool | None = None) -> str:
    """A value with its 95 % interval, as text (a share in :data:`PERCENT` as a
    percentage unless ``percent`` says otherwise)."""
    if m is None or m.value is None:
        return "-"
    k = 100.0 if (m.metric in PERCENT if percent is None else percent) else 1.0
    v = m.value * k
    # one format per cell, chosen by its largest number; tiny p-values keep their magnitude
    ci = m.ci if m.ci is not None and m.ci.method != "exact (count)" else None
    big = max([abs(v)] + ([abs(ci.low * k), abs(ci.high * k)] if ci else []))
    fmt = ".1e" if 0 < big < 1e-3 else ".1f" if big >= 10 else ".3f"
    text = f"{v:{fmt}}"
    if ci is not None:
        text += f" [{ci.low * k:{fmt}}, {ci.high * k:{fmt}}]"
    return text


def marked(res: Results, verdicts: Verdicts, row: Row, task: str | None = None) -> str:
    """The cell of ``row`` for one run (read from ``task``, or the task that holds it);
    on a split whose precondition failed, marked with a dagger, and a ratio to the
    target's score withheld (``n/a``)."""
    task = task or task_for(res, row)
    text = cell(find(res, task, row))
    if text == "-" or verdicts.reason(task, row.split) is None:
        return text
    return "n/a †" if verdicts.withheld(task, row.split, row.metric) else f"{text} †"


def unmet_notes(runs: Sequence[tuple[str, Results]]) -> list[str]:
    """One line per failed precondition of the runs' target."""
    checks = next((res.preconditions for _, res in runs if res.preconditions), [])
    return [f"† {explain(c)}" for c in checks if not c.held]


def tables(runs: Sequence[tuple[str, Results]]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) per section, keeping only rows some run has a value for."""
    verdicts = [Verdicts(res.preconditions) for _, res in runs]
    out = []
    every = sections(runs)
    for title, body_rows in every:
        body = []
        for row in body_rows:
            cells = [marked(res, v, row) for (_, res), v in zip(runs, verdicts, strict=True)]
            if any(c != "-" for c in cells):
                body.append([row.label, *cells])
        if body:
            out.append((title, ["", *(label for label, _ in runs)], body))
    general = [
        [row.label, *(marked(res, v, row, task) for (_, res), v in zip(runs, verdicts,
                                                                          strict=True))]
        for task, row in utility_rows(runs)
    ]
    if general:
        out.append(("General utility (lm-eval)", ["", *(label for label, _ in runs)], general))
    shown = {(row.metric, row.split) for _, body_rows in every for row in body_rows}
    own = [row for row in headline(runs) if (row.metric, row.split) not in shown]
    body = [[row.label, *(marked(res, v, row) for (_, res), v in zip(runs, verdicts,
                                                                      strict=True))]
            for row in own]
    if any(c != "-" for line in body for c in line[1:]):  # a kind's scores no section has
        kind = next(iter(runs[0][1].tasks.values())).output_type
        out.insert(0, (f"Scores ({kind})", ["", *(label for label, _ in runs)], body))
    return out


def utility_rows(runs: Sequence[tuple[str, Results]]) -> list[tuple[str, Row]]:
    """(task, row) of each lm-eval utility task the runs carry (a task with lm-eval's
    scores): its first metric (lm-eval's primary score) and MU on it."""
    from medlethe.lmeval import PREFIX

    if not runs:
        return []
    res = runs[0][1]
    out = []
    for name in res.tasks:
        first = next((m for m in res.metrics if m.task == name and m.plugin == "lm-eval"
                      and not m.metric.endswith("_stderr")), None)
        if first is not None:
            short = name.removeprefix(PREFIX)
            out += [(name, Row(f"{short} {first.metric}", first.metric, first.split)),
                    (name, Row(f"MU {short}", "mu", first.split))]
    return out


def headline(runs: Sequence[tuple[str, Results]]) -> list[Row]:
    """The headline columns of these runs' scenario, as its task's kind gives them
    (``Kind.headline``: a language model's, class-level or patient-level classification,
    a plugin kind's own)."""
    tasks = list(runs[0][1].tasks.values()) if runs else []
    kind = find_kind(tasks[0].output_type) if tasks else None
    return rows(kind.headline(tasks[0])) if kind is not None else []


def all_columns() -> list[Row]:
    """Every headline column of every registered kind, each header once, in registration
    order (the leaderboard's columns, kept where a page has values)."""
    from medlethe.registry import get_registry

    registry = get_registry()
    found: dict[str, Row] = {}
    for name in registry.components["kind"]:
        for row in rows(kind_of(name, registry).columns):
            found.setdefault(row.label, row)
    return list(found.values())


#: an attack that brings back more than this share (the interval's low end above
#: ``HIDDEN_LOW``) shows that the method hid what it was to forget
HIDDEN, HIDDEN_LOW = 0.5, 0.25


def attacked(runs: Sequence[tuple[str, Results]]) -> list[tuple[str, str, int]]:
    """Each attacked run among ``runs`` whose model before the attack is among them too:
    that run's label, the attack's name and the attacked run's position in ``runs``."""
    label_of = {res.run_id: label for label, res in runs}
    out = []
    for i, (_, res) in enumerate(runs):
        attack = res.model.provenance.get("attack") or {}
        if attack.get("of") in label_of:
            out.append((label_of[attack["of"]], str(attack.get("label") or attack.get("name")),
                        i))
    return out


def hidden(runs: Sequence[tuple[str, Results]]) -> dict[str, list[str]]:
    """The unlearned runs among ``runs`` that an attack among them recovers (its
    ``recovery_ratio`` on forget above ``HIDDEN``, the interval above ``HIDDEN_LOW``): the
    run's label and the attacks. Such a method hid the forget set; it did not forget it."""
    out: dict[str, list[str]] = {}
    for label, attack, i in attacked(runs):
        if any(m.metric == "recovery_ratio" and m.subset is None and m.value is not None
               and m.value > HIDDEN and m.ci is not None and m.ci.low > HIDDEN_LOW
               for m in runs[i][1].metrics):
            out.setdefault(label, []).append(attack)
    return out


def over_forgets(res: Results) -> bool:
    """Whether the run forgets more than the oracle, which never saw the forget set, beyond
    its interval (``forget_progress`` on the main task's forget split, its interval above
    1): its forget answers are worse than a never-trained model's, which an attacker sees."""
    task = next(iter(res.tasks), None)
    return any(m.metric == "forget_progress" and m.task == task and m.subset is None
               and m.ci is not None and m.ci.low > 1 for m in res.metrics)


def _named(runs: Sequence[tuple[str, Results]]) -> list[tuple[str, Results]]:
    """``runs`` with "hidden, not forgotten" after each label :func:`hidden` finds, and
    "over-forgets" after each that :func:`over_forgets`."""
    found = hidden(runs)
    out = []
    for label, res in runs:
        notes = ([f"hidden, not forgotten: {', '.join(found[label])}"] if label in found
                 else []) + (["over-forgets"] if over_forgets(res) else [])
        out.append((f"{label} ({'; '.join(notes)})" if notes else label, res))
    return out


def markdown(runs: Sequence[tuple[str, Results]]) -> str:
    """A compact table (models as rows, headline metrics with 95 % intervals as columns;
    a column no run has a value for is left out)."""
    heads = headline(runs)
    table = [(label, [marked(res, Verdicts(res.preconditions), r) for r in heads])
             for label, res in _named(runs)]
    keep = [i for i in range(len(heads))
            if not table or any(cells[i] != "-" for _, cells in table)]
    columns = [heads[i] for i in keep]
    lines = [
        "| model | " + " | ".join(r.label for r in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for label, cells in table:
        lines.append(f"| {label} | " + " | ".join(cells[i] for i in keep) + " |")
    return "\n".join(lines)


def collateral_matrix(
    runs: Sequence[tuple[str, Results]],
) -> tuple[list[str], list[str], list[list[float | None]]]:
    """Rows: unlearned runs (label, and what they forgot); columns: retain disease
    categories; cells: the drop of the answer score (the ``collateral`` metric) on each
    run's main task."""
    row_labels: list[str] = []
    cells: list[dict[str, float | None]] = []
    for label, res in runs:
        found = {}
        forgot = ""
        main = next(iter(res.tasks), None)
        for m in res.metrics:
            if m.metric == "collateral" and m.task == main and m.subset:
                parts = dict(p.split("=", 1) for p in m.subset.split(";"))
                forgot = parts.get("forgot", "")
                found[parts["category"]] = m.value
        if found:
            short = forgot if len(forgot) <= 24 else f"{forgot.count('+') + 1} categories"
            row_labels.append(f"{label} (forgot {short})")
            cells.append(found)
    cols = sorted({c for row in cells for c in row})
    return row_labels, cols, [[row.get(c) for c in cols] for row in cells]


def render_heatmap(
    runs: Sequence[tuple[str, Results]], path: Path
) -> Path | None:
    """The collateral matrix as a PNG heatmap; ``None`` without data."""
    from medlethe.report.figures import heatmap

    rows, cols, values = collateral_matrix(runs)
    if not rows:
        return None
    return heatmap(rows, cols, values, path=path, colorbar="score before - after",
                   title="Collateral damage: drop of retain answer score per disease category")


def print_report(
    run_dir: str | Path, *, heatmap: bool = True, as_markdown: bool = False
) -> dict[str, Any]:
    """``medlethe report``: :func:`show_report` of the runs a run folder holds."""
    return show_report(load_run_dir(run_dir), Path(run_dir), heatmap=heatmap,
                       as_markdown=as_markdown)


def show_report(
    runs: Sequence[tuple[str, Results]],
    out_dir: Path,
    *,
    heatmap: bool = True,
    as_markdown: bool = False,
) -> dict[str, Any]:
    """Print the report tables of labelled runs with rich and write
    ``out_dir/collateral.png``; return what was shown (for tests and scripts).
    ``as_markdown``: only the compact headline table."""
    from rich.console import Console
    from rich.table import Table

    if as_markdown:
        text = markdown(runs)
        print(text)
        return {"tables": [], "heatmap": None, "markdown": text}
    console = Console(width=max(120, 28 + 26 * len(runs)))
    shown = tables(_named(runs))
    for title, header, body in shown:
        table = Table(title=title, title_justify="left", show_lines=False)
        for i, h in enumerate(header):
            table.add_column(h, justify="left" if i == 0 else "right", no_wrap=True)
        for r in body:
            table.add_row(*r)
        console.print(table)
    notes = unmet_notes(runs)
    for note in notes:
        console.print(note, style="yellow", highlight=False)
    png = render_heatmap(runs, out_dir / "collateral.png") if heatmap else None
    if png is not None:
        console.print(f"collateral heatmap: {png}")
    return {"tables": shown, "heatmap": png, "unmet": notes}
