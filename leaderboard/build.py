"""``medlethe leaderboard build``: a static site from validated results files.

The site is plain HTML (Jinja2, autoescaped) with inline CSS, inline SVG and one small inline
script for sorting: nothing is fetched from the internet, and every link is relative, so it
works from ``file://`` and from any static host. Pages: ``index.html`` (scenarios and
rejected submissions), one page per scenario and version group (sortable table, forget-vs-
utility scatter with the Pareto front, collateral heatmap) and one page per run (full
provenance and the command that reproduces it). Runs whose task or metric versions differ
land on different pages: they are never ranked together.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medlethe import Registry, Row, find_kind
from medlethe.leaderboard.ranking import RULE, rank
from medlethe.leaderboard.validate import (
    SWEEP_FILE,
    Known,
    Submission,
    SubmissionError,
    metric_key,
    validate_submission,
)
from medlethe.metrics import Verdicts
from medlethe.report import (
    Point,
    all_columns,
    attacked,
    cell,
    collateral_matrix,
    find,
    hidden,
    inline_figure,
    page_environment,
    task_for,
    tradeoff_figure,
)
from medlethe.results import MetricResult, Results, atomic_write_text, comparability
from medlethe.results import digest as _digest


def column_key(header: str) -> str:
    """A column's key: its header in lower case, runs of other characters as ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", header.lower()).strip("_")


def columns() -> list[tuple[str, str, Row]]:
    """(column key, header, row) of every registered kind's headline columns."""
    return [(column_key(r.label), r.label, r) for r in all_columns()]


def _main_kind(entries: Sequence[Entry]) -> tuple[Any, Any]:
    """The kind of the first run's main task (``None`` where no kind is installed), and
    the task's record."""
    tasks = list(entries[0].results.tasks.values())
    return (find_kind(tasks[0].output_type), tasks[0]) if tasks else (None, None)


def axes(entries: Sequence[Entry], keys: set[str]) -> tuple[str, str]:
    """The keys of the trade-off plot's x (forgetting) and y (utility) columns, as the
    kind of the first run's main task gives them (``Kind.axes``); where no kind is
    installed, the first two columns with values."""
    kind, task = _main_kind(entries)
    found = tuple(map(column_key, kind.axes(task))) if kind is not None else ()
    if len(found) == 2 and set(found) <= keys:
        return found[0], found[1]
    first = [k for k, _, _ in columns() if k in keys] + ["", ""]
    return first[0], first[1]


def privacy_key(entries: Sequence[Entry], keys: set[str]) -> str | None:
    """The key of the column that breaks ranking ties (``Kind.privacy``), if shown."""
    kind, task = _main_kind(entries)
    header = kind.privacy(task) if kind is not None else None
    return column_key(header) if header and column_key(header) in keys else None


#: general utility on lm-eval tasks (medlethe.lmeval): the first task's first metric, MU
UTILITY_COLUMNS = [("lmeval_score", "lm-eval score"), ("lmeval_mu", "MU lm-eval")]


@dataclass
class Entry:
    """One ranked run: a results file of an accepted submission."""

    label: str
    submission: str
    path: Path
    results: Results
    by: str = ""
    submitted: str = ""
    page: str = ""
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class BuildReport:
    index: Path
    pages: list[Path]
    accepted: list[Submission]
    rejected: list[tuple[str, str]]  # (source, reason)


def _scenario(res: Results) -> str:
    return str(res.model.provenance.get("scenario") or next(iter(res.tasks)))


def group_runs(runs: Sequence[Entry]) -> dict[tuple[str, str], list[Entry]]:
    """Runs ranked together: same scenario and :func:`comparability`, and the same version
    of every metric they share (a metric whose version differs between runs splits the
    group)."""
    by_tasks: dict[tuple[str, str], list[Entry]] = {}
    for e in runs:
        by_tasks.setdefault((_scenario(e.results), _digest(comparability(e.results))),
                            []).append(e)
    groups: dict[tuple[str, str], list[Entry]] = {}
    for (scenario, tasks), entries in by_tasks.items():
        seen: dict[str, set[str]] = {}
        for e in entries:
            for m in e.results.metrics:
                seen.setdefault(metric_key(m), set()).add(m.metric_version)
        split = sorted(k for k, v in seen.items() if len(v) > 1)
        for e in entries:
            mine = sorted(
                {(metric_key(m), m.metric_version) for m in e.results.metrics
                 if metric_key(m) in split}
            )
            groups.setdefault(group_key(scenario, tasks, mine), []).append(e)
    return groups


def group_key(scenario: str, data: str, metric_versions: Sequence[Any] = ()) -> tuple[str, str]:
    """The key of a group (and the name of its page): the scenario, the digest of the
    runs' :func:`comparability` and the versions of the metrics that split it."""
    return scenario, _digest([data, list(metric_versions)])


def group_labels(groups: dict[tuple[str, str], list[Entry]]) -> dict[tuple[str, str], str]:
    """Per group, what sets it apart from the other groups of its scenario ("" where the
    scenario has one group): the comparability fields whose values differ, with this
    group's values, or the metric versions."""
    props = {key: comparability(entries[0].results) for key, entries in groups.items()}
    out: dict[tuple[str, str], str] = {}
    for key, mine in props.items():
        theirs = [p for k, p in props.items() if k[0] == key[0] and k != key]
        differ = [f for f in mine if any(t[f] != mine[f] for t in theirs)]
        text = "; ".join(f"{f}: {_shown(mine[f])}" for f in differ)
        out[key] = text or ("metric versions differ" if theirs else "")
    return out


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "(none)"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "none" if value is None else str(value)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def _label(res: Results) -> str:
    """A run's name on the pages: the method's variant (``NPO[beta=0.2]``), else its name,
    else the model's role."""
    variant = res.model.provenance.get("variant")
    if res.method is not None:
        return str(variant or res.method.name)
    return str(res.model.role or "model")


def _metric_cell(m: MetricResult | None, verdicts: Verdicts) -> dict[str, Any]:
    """A table cell; on a split the target did not know, greyed with the reason, and a
    ratio to the target's score withheld (no value, so never ranked or plotted)."""
    if m is None or m.value is None:
        return {"text": "-", "value": None}
    reason = verdicts.reason(m.task, m.split)
    ends = {"low": m.ci.low, "high": m.ci.high} if m.ci is not None else {}
    if reason is None:
        return {"text": cell(m), "value": m.value, "direction": m.direction, **ends}
    if verdicts.withheld(m.task, m.split, m.metric):
        return {"text": "n/a †", "value": None, "unmet": reason}
    return {"text": f"{cell(m)} †", "value": m.value, "direction": m.direction,
            "unmet": reason, **ends}


def _utility_cells(res: Results, verdicts: Verdicts) -> dict[str, dict[str, Any]]:
    """The lm-eval utility columns of a run: its first lm-eval task's first metric (before
    or after unlearning) and MU on it."""
    task = next((n for n in res.tasks if n.startswith("lmeval:")), None)
    if task is None:
        return {}
    ours = [m for m in res.metrics if m.task == task]
    first = next((m for m in ours if m.plugin == "lm-eval" and m.direction != "none"), None)
    mu = next((m for m in ours if m.metric == "mu"), None)
    return {"lmeval_score": _metric_cell(first, verdicts), "lmeval_mu": _metric_cell(mu, verdicts)}


def _tradeoff(entries: Sequence[Entry], x_key: str, y_key: str, axes: tuple[str, str],
              png: Path) -> str:
    """The group's trade-off figure as inline SVG (and a PNG at ``png``): every run whose
    target knew both axes' splits, with intervals; oracle and target as reference lines."""
    points = []
    for e in entries:
        x, y = e.cells[x_key], e.cells[y_key]
        if x["value"] is None or y["value"] is None or "unmet" in x or "unmet" in y:
            continue  # no point where the target did not know what is plotted
        if e.results.model.role == "attacked":
            continue  # an attack's result is a column of its method, not a method
        points.append(Point(e.label, x["value"], y["value"], _interval(x), _interval(y),
                            url=e.page, role=e.results.model.role or "unlearned"))
    fig = tradeoff_figure(points, x_label=axes[0], y_label=axes[1])
    return inline_figure(fig, png)


def _interval(cell: dict[str, Any]) -> tuple[float, float] | None:
    return (cell["low"], cell["high"]) if "low" in cell and "high" in cell else None


def _heatmap(runs: Sequence[tuple[str, Results]]) -> dict[str, Any] | None:
    rows, cols, values = collateral_matrix(runs)
    if not rows:
        return None
    top = max([abs(v) for r in values for v in r if v is not None] + [0.05])
    cells = [
        [
            None
            if v is None
            else {"text": f"{v:.2f}", "alpha": round(min(1.0, max(0.0, v) / top), 2)}
            for v in r
        ]
        for r in values
    ]
    return {"rows": rows, "cols": cols, "cells": cells}


def training_seed(res: Results) -> int | None:
    seed = (res.model.provenance.get("train_config") or {}).get("seed")
    return seed if isinstance(seed, int) else None


def _configuration(res: Results) -> str:
    """What a run measured, but for its seeds (training, unlearning and the backend's, which
    a sweep sets alike): runs with the same configuration and other seeds are one number's
    seeds."""
    prov = dict(res.model.provenance)
    train = {k: v for k, v in (prov.get("train_config") or {}).items() if k != "seed"}
    method = None
    if res.method is not None:
        method = [res.method.name, res.method.distribution,
                  {k: v for k, v in res.method.args.items() if k != "seed"}]
    backend = {k: v for k, v in res.backend.args.items() if k != "seed"}
    return _digest([res.model.role, prov.get("base_model"), prov.get("task_args"), train,
                    method, res.backend.name, backend,
                    sorted((n, t.version, t.config_hash) for n, t in res.tasks.items())])


def attacks_table(entries: Sequence[Entry]) -> dict[str, Any] | None:
    """The group's attacked runs as one table: a row per attacked method (its label), a
    column per attack, each cell the recovery ratio with its interval and whether it shows
    the method hid what it was to forget (``medlethe.report.hidden``)."""
    runs = [(e.label, e.results) for e in entries]
    found = hidden(runs)
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for label, attack, i in attacked(runs):
        e = entries[i]
        task = next(iter(e.results.tasks), None)
        m = next((m for m in e.results.metrics if m.metric == "recovery_ratio"
                  and m.task == task and m.subset is None), None)
        cells.setdefault(label, {})[attack] = {
            "text": cell(m) if m is not None else "-", "page": e.page,
            "value": m.value if m is not None else None}
    if not cells:
        return None
    attacks = sorted({a for row in cells.values() for a in row})
    return {"attacks": attacks, "rows": [
        {"label": label, "hidden": found.get(label, []), "cells": row}
        for label, row in cells.items()]}


def across_seeds(entries: Sequence[Entry], columns: Sequence[tuple[str, str]]) -> list[
    dict[str, Any]
]:
    """Per configuration run under several training seeds: the mean of each column over the
    seeds (one run per seed, the last submitted), the between-seed standard deviation and
    range, and the number of seeds. The hierarchical interval (seeds and patients resampled)
    needs per-sample values, which submissions do not carry: a sweep's report has it."""
    import statistics

    groups: dict[str, dict[int, Entry]] = {}
    for e in entries:
        seed = training_seed(e.results)
        if seed is not None:
            groups.setdefault(_configuration(e.results), {})[seed] = e
    out = []
    for by_seed in groups.values():
        if len(by_seed) < 2:
            continue
        first = next(iter(by_seed.values()))
        cells: dict[str, dict[str, Any]] = {}
        for key, _ in columns:
            vals = [e.cells[key]["value"] for e in by_seed.values()]
            unmet = any("unmet" in e.cells[key] for e in by_seed.values())
            if any(v is None for v in vals):
                cells[key] = {"text": "-", "value": None}
                continue
            mean = statistics.fmean(vals)
            sd = statistics.stdev(vals)
            mark = " †" if unmet else ""
            cells[key] = {"value": mean, "text": f"{mean:.3f} ± {sd:.3f}{mark}",
                          "title": f"range {min(vals):.3f} to {max(vals):.3f}"}
        out.append({"label": first.label, "seeds": sorted(by_seed), "cells": cells})
    return out


def reproduce_command(res: Results) -> str:
    return shlex.join(res.command)


def _provenance(res: Results) -> dict[str, Any]:
    data = res.model_dump(mode="json", exclude={"metrics"})
    return data


def _privacy(res: Results) -> dict[str, Any] | None:
    """The differential-privacy settings and epsilon a method recorded, if any."""
    info = (res.model.provenance.get("unlearn") or {}).get("method_info") or {}
    return info if "dp_epsilon" in info else None


def _env() -> Any:
    # the sweep page's body is the sweep report's own (medlethe.report's templates)
    return page_environment("medlethe.leaderboard")


def inside(out: Path, name: str) -> Path:
    """``out / name``, refusing any name that would leave ``out`` (submitted values name
    pages; a crafted one must not write elsewhere)."""
    path = (out / name).resolve()
    if not path.is_relative_to(out.resolve()):
        raise SubmissionError(f"refusing to write {name!r} outside the site folder {out}")
    return path


def _sweep_page(env: Any, out: Path, page: str, name: str, summary: dict[str, Any]) -> dict[
    str, Any
]:
    """A sweep summary's page: across-seed headline per scenario (hierarchical intervals,
    number of seeds), each front method's front and hypervolume, the collateral matrices
    and forget-size curves (inline SVG, PNG beside), factual vs reasoning and same vs other
    disease."""
    from medlethe.sweep import page_context

    context = page_context(
        model=summary["model"], seeds=summary["seeds"], failures=int(summary.get("failures", 0)),
        tables=summary["headline"], analyses=summary["analyses"],
        folder=inside(out, f"figures/{page.removesuffix('.html')}"), base=out.resolve(),
        fronts=summary.get("fronts", []),
    )
    html = env.get_template("sweep_page.html.jinja").render(
        name=name, scenarios=summary["scenarios"], methods=summary.get("methods"),
        backend=summary.get("backend", "hf"), **context,
    )
    atomic_write_text(inside(out, page), html)
    return {"name": name, "page": page, "model": summary["model"],
            "seeds": len(summary["seeds"]), "scenarios": len(summary["scenarios"])}


def build_site(
    inputs: Sequence[str | Path], out: str | Path, registry: Registry | None = None
) -> BuildReport:
    """Validate each input (a results file, or a folder: each sub-folder holding results
    files is one submission) and write the site to ``out``. Rejected submissions are listed
    with their reasons and leave the rest of the build untouched."""
    out = Path(out)
    accepted, rejected = _validate_all(_sources(inputs), Known(registry))
    groups = group_runs(
        [
            Entry(_label(res), sub.source.name, path, res, sub.by, sub.submitted)
            for sub in accepted
            for path, res in sub.runs
        ]
    )
    env = _env()
    pages: list[Path] = []
    scenarios = []
    labels = group_labels(groups)
    fronts = group_fronts(accepted, groups)
    for (scenario, digest), entries in sorted(groups.items()):
        scenarios.append(_scenario_pages(env, out, scenario, digest, entries, pages,
                                         labels[(scenario, digest)],
                                         fronts.get((scenario, digest), [])))
    for (scenario, digest), alone in sorted(fronts.items()):
        if (scenario, digest) not in groups:
            scenarios.append(_fronts_page(env, out, scenario, digest, alone, pages))
    sweep_pages = []
    for sub in accepted:
        for path, summary in sub.sweeps:
            name, page = _sweep_name(sub, path)
            sweep_pages.append(_sweep_page(env, out, page, name, summary))
            pages.append(out / page)
    index = out / "index.html"
    atomic_write_text(
        index,
        env.get_template("index.html.jinja").render(
            scenarios=scenarios, rejected=rejected, sweeps=sweep_pages, rule=RULE,
            submissions=accepted),
    )
    return BuildReport(index, pages, accepted, rejected)


def _sweep_name(sub: Submission, path: Path) -> tuple[str, str]:
    """A submitted sweep summary's name and the name of its page."""
    name = sub.source.name if sub.source.is_dir() else path.parent.name
    return name, f"sweep-{_slug(name)}-{_digest(str(path))}.html"


def group_fronts(accepted: Sequence[Submission], groups: dict[tuple[str, str], list[Entry]]
                 ) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Each submitted sweep's fronts, by the page they go on: the group of runs on the same
    data, task versions and arguments (:func:`comparability`, which the sweep summary
    records per scenario, or else the sweep's own submitted runs carry), or a page of their
    own where no such runs are submitted. Each front names its sweep and the sweep's page;
    a method traced by two sweeps of one page is labelled with its sweep."""
    by_data: dict[tuple[str, str], tuple[str, str]] = {}
    for key, entries in sorted(groups.items(), key=lambda kv: -len(kv[1])):  # largest first
        by_data.setdefault((key[0], _digest(comparability(entries[0].results))), key)
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for sub in accepted:
        for path, summary in sub.sweeps:
            name, page = _sweep_name(sub, path)
            for f in summary.get("fronts", []):
                scenario = f["scenario"]
                data = (summary.get("comparability") or {}).get(scenario) or next(
                    (comparability(res) for p, res in sub.runs if _scenario(res) == scenario
                     and p.is_relative_to(path.parent)), None)
                if data is None:  # an older summary, without its runs: on its own page only
                    continue
                tasks = _digest(data)
                key = by_data.get((scenario, tasks), group_key(scenario, tasks))
                out.setdefault(key, []).append({**f, "sweep": name, "sweep_page": page,
                                                "versions": data["task versions"]})
    for fronts in out.values():
        twice = Counter(f["method"] for f in fronts)
        for f in fronts:
            if twice[f["method"]] > 1:
                f["method"] = f"{f['method']} ({f['sweep']})"
    return out


def _sources(inputs: Sequence[str | Path]) -> list[Path]:
    """The submissions among ``inputs``: a results file each, and in a folder each sweep
    folder (its summary at the top, with all its runs) and each other folder that holds
    results files."""
    sources: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            sweeps = sorted({p.parent for p in item.rglob(SWEEP_FILE)})
            folders = sorted({p.parent for p in item.rglob("results_*.json")
                              if not any(p.is_relative_to(w) for w in sweeps)})
            sources += sorted([*sweeps, *folders]) or [item]
        else:
            sources.append(item)
    return sources


def _validate_all(sources: Sequence[Path], known: Known) -> tuple[
        list[Submission], list[tuple[str, str]]]:
    """The accepted submissions, and each rejected one with its reason (a run id that two
    submissions bring is rejected in the second)."""
    accepted: list[Submission] = []
    rejected: list[tuple[str, str]] = []
    owner: dict[str, Path] = {}  # run id -> the submission that brought it
    for src in sources:
        try:
            sub = validate_submission(src, known=known)
            for path, res in sub.runs:
                other = owner.get(res.run_id)
                if other is not None:
                    raise SubmissionError(
                        f"run id {res.run_id} of {path} is also in {other}: one run, one "
                        "page; remove the copy."
                    )
            owner.update({res.run_id: path for path, res in sub.runs})
            accepted.append(sub)
        except SubmissionError as exc:
            rejected.append((str(src), str(exc)))
    return accepted, rejected


def _figures(out: Path, page: str) -> Path:
    """The folder of a page's figure files."""
    return inside(out, f"figures/{page.removesuffix('.html')}")


def _fronts_context(out: Path, page: str, fronts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A scenario page's fronts: their figure and tables, and the sweeps that traced them."""
    from medlethe.sweep import front_sections

    return {"sections": front_sections(fronts, _figures(out, page), out.resolve()),
            "front_sweeps": sorted({(f["sweep"], f["sweep_page"]) for f in fronts})}


def _fronts_page(env: Any, out: Path, scenario: str, digest: str,
                 fronts: Sequence[dict[str, Any]], pages: list[Path]) -> dict[str, Any]:
    """A scenario page for data whose runs no submission brings: the sweeps' fronts alone."""
    page = f"scenario-{_slug(scenario)}-{digest}.html"
    group = "fronts of sweep summaries, no runs submitted"
    versions = sorted({tuple(v.rsplit(" v", 1)) for f in fronts for v in f["versions"]})
    atomic_write_text(inside(out, page), env.get_template("scenario.html.jinja").render(
        scenario=scenario, group=group, versions=versions, entries=[], seeds=[],
        attacks=None, heatmap=None, rule=RULE, **_fronts_context(out, page, fronts)))
    pages.append(out / page)
    return {"name": scenario, "page": page, "runs": 0, "versions": versions,
            "group": group, "leader": None,
            "fronts": len(fronts), "headline": ("", ""), "methods": len(fronts),
            "submissions": len({f["sweep"] for f in fronts})}


def _scenario_pages(env: Any, out: Path, scenario: str, digest: str, entries: list[Entry],
                    pages: list[Path], group: str = "",
                    fronts: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """One comparable group's page (with the :func:`group_fronts` of its sweeps) and its
    runs' pages (appended to ``pages``); the index's line for it."""
    page = f"scenario-{_slug(scenario)}-{digest}.html"
    kind_columns = columns()
    verdicts = [Verdicts(e.results.preconditions) for e in entries]
    for e, v in zip(entries, verdicts, strict=True):
        e.page = f"runs/{e.results.run_id}.html"
        e.cells = {
            key: _metric_cell(find(e.results, task_for(e.results, r), r), v)
            for key, _, r in kind_columns
        }
        e.cells.update(_utility_cells(e.results, v))
    shown = [
        (key, head)
        for key, head in [(k, h) for k, h, _ in kind_columns] + UTILITY_COLUMNS
        if any(e.cells.get(key, {}).get("value") is not None for e in entries)
    ]
    for e in entries:
        for key, _ in shown:
            e.cells.setdefault(key, {"text": "-", "value": None})
    x_key, y_key = axes(entries, {k for k, _ in shown})
    privacy = privacy_key(entries, {k for k, _ in shown})
    ranking = rank(entries, x_key, y_key, privacy)
    labels = (dict(shown).get(x_key, x_key), dict(shown).get(y_key, y_key))
    versions = sorted({(n, t.version) for e in entries for n, t in e.results.tasks.items()})
    context = {
        "scenario": scenario,
        "group": group,
        "versions": versions,
        "entries": entries,
        "columns": shown,
        "axes": labels,
        "tradeoff": _tradeoff(entries, x_key, y_key, labels,
                              _figures(out, page) / "tradeoff.png"),
        **_fronts_context(out, page, fronts),
        "heatmap": _heatmap([(e.label, e.results) for e in entries]),
        "seeds": across_seeds(entries, shown),
        "attacks": attacks_table(entries),
        "ranking": ranking,
        "rule": RULE,
    }
    atomic_write_text(inside(out, page), env.get_template("scenario.html.jinja").render(
        **context))
    pages.append(out / page)
    for e, v in zip(entries, verdicts, strict=True):
        run_ctx = {
            "entry": e,
            "scenario": scenario,
            "back": f"../{page}",
            "command": reproduce_command(e.results),
            "provenance": _provenance(e.results),
            "privacy": _privacy(e.results),
            "metrics": [
                {**m.model_dump(mode="json"), **_metric_cell(m, v)}
                for m in e.results.metrics
            ],
        }
        target = inside(out, e.page)
        atomic_write_text(target, env.get_template("run.html.jinja").render(**run_ctx))
        pages.append(target)
    leader = ranking[0] if ranking and ranking[0].rank == 1 else None
    return {"name": scenario, "page": page, "runs": len(entries), "versions": versions,
            "group": group, "leader": leader, "fronts": len(fronts),
            "headline": labels,
            "methods": len({e.label for e in entries if e.results.model.role == "unlearned"}),
            "submissions": len({e.submission for e in entries})}
